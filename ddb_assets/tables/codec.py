"""Value codecs: DynamoDB-typed JSON -> plain JSON text, and ION export -> DynamoDB JSON.

* :func:`plain_json` renders a DynamoDB attribute value (``{"M": {...}}``) as plain JSON:
  S -> string, N -> JSON number with its exact digits (never through float), BOOL, NULL,
  B -> base64 string, SS/BS -> array of strings, NS -> array of numbers, M -> object,
  L -> array. Used for M and L columns and for the text of conflicted attributes.
* :func:`ion_to_dynamodb_json` streams an ION export file (``$ion_1_0 {Item:{...}}`` per
  line: N as Ion decimal, B as blob, sets as ``$dynamodb_SS::`` / ``$dynamodb_NS::`` /
  ``$dynamodb_BS::`` annotated lists) into DYNAMODB_JSON lines, exactly (decimals keep their
  digits, blobs become base64), so both formats share one typed-load path.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from decimal import Decimal
from typing import IO, Iterable, Iterator

try:
    from orjson import Fragment as _Fragment
except ImportError:  # pragma: no cover - orjson is a dependency
    _Fragment = None

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
    s = format(d, "f") if abs(d.as_tuple().exponent) < 50 else str(d)
    return s if _JSON_NUMBER.match(s) else _dumps(text)


def _plain(value: dict) -> str:
    if len(value) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {value!r}")
    (tag, v), = value.items()
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
    (tag, v), = value.items()
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

    t = getattr(x, "ion_type", None)
    annotations = [getattr(a, "text", a) for a in (getattr(x, "ion_annotations", None) or ())]
    if t == IonType.NULL or x is None or (t is not None and getattr(x, "is_null", False)):
        return {"NULL": True}
    if t is None:  # plain Python values (when the loader gives them)
        if isinstance(x, bool):
            return {"BOOL": x}
        if isinstance(x, (int, Decimal)):
            return {"N": str(x)}
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
        return {"N": repr(float(x))}
    if t in (IonType.STRING, IonType.SYMBOL):
        return {"S": str(x)}
    if t in (IonType.BLOB, IonType.CLOB):
        return {"B": base64.b64encode(bytes(x)).decode("ascii")}
    if t in (IonType.LIST, IonType.SEXP):
        if "$dynamodb_SS" in annotations:
            return {"SS": [str(v) for v in x]}
        if "$dynamodb_NS" in annotations:
            return {"NS": [_decimal_text(Decimal(v)) if not isinstance(v, int) or isinstance(v, bool)
                           else str(v) for v in x]}
        if "$dynamodb_BS" in annotations:
            return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in x]}
        return {"L": [_ion_value(v) for v in x]}
    if t == IonType.STRUCT:
        return {"M": {k: _ion_value(v) for k, v in x.items()}}
    raise ValueError(f"unsupported Ion type {t} in ION export")


def _decimal_text(d: Decimal) -> str:
    return str(d)


def ion_lines_to_dynamodb_json(fp: IO[bytes]) -> Iterator[str]:
    """Yield one DYNAMODB_JSON line (``{"Item":{...}}``) per value of an ION export stream."""
    from amazon.ion import simpleion

    for top in simpleion.load(fp, single_value=False, parse_eagerly=False):
        item = top["Item"]
        yield '{"Item":' + _dumps({k: _ion_value(v) for k, v in item.items()}) + "}\n"


def ion_to_dynamodb_json(src: str, dst: str) -> int:
    """Transcode one gzip ION export file into a gzip DYNAMODB_JSON file; returns items."""
    n = 0
    with gzip.open(src, "rb") as fin, gzip.open(dst, "wt", encoding="utf-8", compresslevel=1) as fout:
        buf: list[str] = []
        for line in ion_lines_to_dynamodb_json(fin):
            buf.append(line)
            n += 1
            if len(buf) >= 4096:
                fout.write("".join(buf))
                buf.clear()
        fout.write("".join(buf))
    return n


def _ion_decimal(text: str) -> str:
    sign, digits, exp = Decimal(text).as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite number: {text!r}")
    return ("-" if sign else "") + "".join(map(str, digits)) + f"d{exp}"


def _ion_text(value: dict) -> str:
    (tag, v), = value.items()
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
