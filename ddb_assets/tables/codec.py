"""Value codecs: DynamoDB-typed JSON -> plain JSON text, and ION export -> DynamoDB JSON.

* :func:`plain_json` renders a DynamoDB attribute value (``{"M": {...}}``) as plain JSON:
  S -> string, N -> JSON number with its exact digits (never through float), BOOL, NULL,
  B -> base64 string, SS/BS -> array of strings, NS -> array of numbers, M -> object,
  L -> array. Used for M and L columns and for the text of conflicted attributes.
* :func:`plain_json_many` is the same for a batch, with orjson (the Arrow UDF the DuckDB
  load calls for M / L values its SQL rendering does not cover).
* :func:`ion_lines_to_dynamodb_json` reads an ION export stream (``$ion_1_0 {Item:{...}}``
  per line: N as Ion decimal, B as blob, sets as ``$dynamodb_SS::`` / ``$dynamodb_NS::`` /
  ``$dynamodb_BS::`` annotated lists) with amazon.ion into DYNAMODB_JSON lines, exactly
  (numbers in DynamoDB's canonical digits, blobs become base64). It is the reference for the DuckDB
  load's compiled reader (``ddb_ion``, :mod:`ddb_assets.tables.duckdb.ion`), which must write
  the same bytes, and it reads the change history's ION records.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from io import BufferedIOBase
from typing import IO

from orjson import Fragment as _Fragment

_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _number(text: str) -> str:
    """The exact digits as a JSON number; DynamoDB text JSON cannot express as a string."""
    if _JSON_NUMBER.match(text):
        return text
    try:
        d = Decimal(text)
    except Exception:
        return _dumps(text)
    exponent = d.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or Infinity: no JSON number spells it
        return _dumps(text)
    s = format(d, "f") if abs(exponent) < 50 else str(d)
    return s if _JSON_NUMBER.match(s) else _dumps(text)


def _plain(value: dict) -> str:
    if len(value) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {value!r}")
    ((tag, v),) = value.items()
    if tag == "S":
        return _dumps(v)
    if tag == "N":
        return _number(v)
    if tag == "BOOL":
        return "true" if v else "false"
    if tag == "NULL":
        return "null"
    if tag == "B":
        return _dumps(v)
    if tag in ("SS", "BS"):
        return _dumps(list(v))
    if tag == "NS":
        return "[" + ",".join(_number(x) for x in v) + "]"
    if tag == "M":
        return "{" + ",".join(_dumps(k) + ":" + _plain(x) for k, x in v.items()) + "}"
    if tag == "L":
        return "[" + ",".join(_plain(x) for x in v) + "]"
    raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def plain_json(wrapper_json: str | None) -> str | None:
    """Plain JSON text of one DynamoDB-typed attribute value given as JSON text."""
    if wrapper_json is None:
        return None
    return _plain(json.loads(wrapper_json))


def _fast_value(w: dict):
    """A DynamoDB value as a Python value orjson can write, numbers as raw JSON fragments."""
    if len(w) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {w!r}")
    for tag, v in w.items():
        if tag == "S" or tag == "B" or tag == "BOOL" or tag == "SS" or tag == "BS":
            return v
        if tag == "N":
            return _Fragment(v if _JSON_NUMBER.match(v) else _number(v))
        if tag == "M":
            return {k: _fast_value(x) for k, x in v.items()}
        if tag == "L":
            return [_fast_value(x) for x in v]
        if tag == "NULL":
            return None
        if tag == "NS":
            return [_Fragment(x if _JSON_NUMBER.match(x) else _number(x)) for x in v]
        raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def plain_json_many(wrapper_texts: Iterable[str | None]) -> list[str | None]:
    """:func:`plain_json` for a batch (orjson; the garbage collector paused for the batch)."""
    import gc

    import orjson

    loads, dumps = orjson.loads, orjson.dumps
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [None if t is None else dumps(_fast_value(loads(t))).decode() for t in wrapper_texts]
    finally:
        if enabled:
            gc.enable()


def json_number(text: str | None) -> str | None:
    """The exact digits of a DynamoDB number as JSON text (a JSON number when possible)."""
    return None if text is None else _number(text)


def value_text(wrapper_json: str | None) -> str | None:
    """The exact text of any attribute value (conflict columns): S as is, N digits, BOOL
    ``true``/``false``, B base64, NULL -> None, sets / M / L -> plain JSON."""
    if wrapper_json is None:
        return None
    value = json.loads(wrapper_json)
    ((tag, v),) = value.items()
    if tag in ("S", "N", "B"):
        return v
    if tag == "NULL":
        return None
    if tag == "BOOL":
        return "true" if v else "false"
    return _plain(value)


# --- ION -------------------------------------------------------------------------------


def _ion_value(x) -> dict:
    from amazon.ion.core import IonType
    from amazon.ion.simple_types import IonPyNull

    t = getattr(x, "ion_type", None)
    if isinstance(x, IonPyNull):  # typed nulls (null.string, ...) too
        return {"NULL": True}
    annotations = [getattr(a, "text", a) for a in (getattr(x, "ion_annotations", None) or ())]
    if t == IonType.NULL or x is None or (t is not None and getattr(x, "is_null", False)):
        return {"NULL": True}
    if t is None:  # plain Python values (when the loader gives them)
        if isinstance(x, bool):
            return {"BOOL": x}
        if isinstance(x, (int, Decimal)):
            return {"N": _decimal_text(Decimal(x))}
        if isinstance(x, (bytes, bytearray)):
            return {"B": base64.b64encode(bytes(x)).decode("ascii")}
        if isinstance(x, str):
            return {"S": x}
        if isinstance(x, dict):
            return {"M": {k: _ion_value(v) for k, v in x.items()}}
        if isinstance(x, list):
            return {"L": [_ion_value(v) for v in x]}
        raise ValueError(f"unsupported value in ION export: {x!r}")
    if t == IonType.BOOL:
        return {"BOOL": bool(x)}
    if t in (IonType.DECIMAL, IonType.INT):
        return {"N": str(x) if t == IonType.INT else _decimal_text(Decimal(x))}
    if t == IonType.FLOAT:
        if not math.isfinite(float(x)):
            raise ValueError(f"the float {float(x)} in an ION export is not a DynamoDB number")
        return {"N": _decimal_text(Decimal(repr(float(x))))}
    if t == IonType.SYMBOL:
        return {"S": x.text if hasattr(x, "text") else str(x)}
    if t == IonType.STRING:
        return {"S": str(x)}
    if t in (IonType.BLOB, IonType.CLOB):
        return {"B": base64.b64encode(bytes(x)).decode("ascii")}
    if t in (IonType.LIST, IonType.SEXP):
        if "$dynamodb_SS" in annotations:
            return {"SS": [_set_element(v, "SS") for v in x]}
        if "$dynamodb_NS" in annotations:
            return {"NS": [_set_element(v, "NS") for v in x]}
        if "$dynamodb_BS" in annotations:
            return {"BS": [_set_element(v, "BS") for v in x]}
        return {"L": [_ion_value(v) for v in x]}
    if t == IonType.STRUCT:
        return {"M": {k: _ion_value(v) for k, v in x.items()}}
    raise ValueError(f"unsupported Ion type {t} in ION export")


def _set_element(v, tag: str) -> str:
    """One element of a ``$dynamodb_SS`` / ``_NS`` / ``_BS`` list, refused unless it has the
    set's type (as the compiled reader, ``ddb_ion``, refuses it)."""
    from amazon.ion.core import IonType

    t = getattr(v, "ion_type", None)
    if getattr(v, "is_null", False) or v is None:
        t = None
    if tag == "SS" and t in (IonType.STRING, IonType.SYMBOL):
        return v.text if t == IonType.SYMBOL else str(v)
    if tag == "NS" and t == IonType.INT:
        return str(int(v))
    if tag == "NS" and t == IonType.DECIMAL:
        return _decimal_text(Decimal(v))
    if tag == "BS" and t in (IonType.BLOB, IonType.CLOB):
        return base64.b64encode(bytes(v)).decode("ascii")
    kind = {"SS": "a string", "NS": "an int or decimal", "BS": "a blob"}[tag]
    raise ValueError(f"$dynamodb_{tag} holds a value that is not {kind}: {v!r}")


def _decimal_text(d: Decimal) -> str:
    """DynamoDB's canonical text of a number, as its DYNAMODB_JSON export writes it: plain
    digits, never an exponent (``6d2`` -> ``600``, ``1d-130`` -> ``0.000...01``), no leading
    zeros but the one before the point, no trailing fractional zeros (``1.50`` -> ``1.5``),
    and zero unsigned (``-0.00`` -> ``0``). The Athena engine's ION statements spell it the
    same (``ddb_assets.tables.athena_ion.decimal_text_sql``), as does the compiled reader."""
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"{d} is not a DynamoDB number")
    coeff = "".join(map(str, digits)).lstrip("0")
    if not coeff:
        return "0"
    if exp < 0:
        kept = coeff.rstrip("0")
        cut = min(len(coeff) - len(kept), -exp)
        coeff, exp = coeff[: len(coeff) - cut], exp + cut
    neg = "-" if sign else ""
    if exp >= 0:
        return neg + coeff + "0" * exp
    point = len(coeff) + exp
    if point > 0:
        return neg + coeff[:point] + "." + coeff[point:]
    return neg + "0." + "0" * -point + coeff


def ion_lines_to_dynamodb_json(fp: IO[bytes] | BufferedIOBase) -> Iterator[str]:
    """Yield one DYNAMODB_JSON line (``{"Item":{...}}``) per value of an ION export stream."""
    from amazon.ion import simpleion

    for top in simpleion.load(fp, single_value=False, parse_eagerly=False):
        item = top["Item"]
        yield '{"Item":' + _dumps({k: _ion_value(v) for k, v in item.items()}) + "}\n"


def _ion_decimal(text: str) -> str:
    sign, digits, exp = Decimal(text).as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite number: {text!r}")
    return ("-" if sign else "") + "".join(map(str, digits)) + f"d{exp}"


def _ion_text(value: dict) -> str:
    ((tag, v),) = value.items()
    if tag == "S":
        return _dumps(v)
    if tag == "N":
        return _ion_decimal(v)
    if tag == "BOOL":
        return "true" if v else "false"
    if tag == "NULL":
        return "null"
    if tag == "B":
        return "{{" + v + "}}"
    if tag == "SS":
        return "$dynamodb_SS::[" + ",".join(_dumps(x) for x in v) + "]"
    if tag == "NS":
        return "$dynamodb_NS::[" + ",".join(_ion_decimal(x) for x in v) + "]"
    if tag == "BS":
        return "$dynamodb_BS::[" + ",".join("{{" + x + "}}" for x in v) + "]"
    if tag == "M":
        return "{" + ",".join(_dumps(k) + ":" + _ion_text(x) for k, x in v.items()) + "}"
    if tag == "L":
        return "[" + ",".join(_ion_text(x) for x in v) + "]"
    raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def item_to_ion_line(item: dict) -> str:
    """One ION export line for a DynamoDB-typed item, as DynamoDB writes it (for tests and
    benchmarks): ``$ion_1_0 {Item:{...}}``."""
    return "$ion_1_0 {Item:" + _ion_text({"M": item}) + "}"
