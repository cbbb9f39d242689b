"""Value codecs: DynamoDB-typed JSON -> plain JSON text, and ION export -> DynamoDB JSON.

* :func:`plain_json` renders a DynamoDB attribute value (``{"M": {...}}``) as plain JSON:
  S -> string, N -> JSON number with its exact digits (never through float), BOOL, NULL,
  B -> base64 string, SS/BS -> array of strings, NS -> array of numbers, M -> object,
  L -> array. Used for M and L columns and for the text of conflicted attributes.
* :func:`plain_json_many` is the same for a batch, with orjson (the Arrow UDF the DuckDB
  load calls for M / L values its SQL rendering does not cover).
* :func:`ion_to_dynamodb_json` streams an ION export file (``$ion_1_0 {Item:{...}}`` per
  line: N as Ion decimal, B as blob, sets as ``$dynamodb_SS::`` / ``$dynamodb_NS::`` /
  ``$dynamodb_BS::`` annotated lists) into DYNAMODB_JSON lines, exactly (decimals keep their
  digits, blobs become base64), so both formats share one typed-load path. Lines are read by
  a hand-written reader for the subset of Ion text DynamoDB writes
  (:func:`fast_ion_line_to_dynamodb_json`, several times amazon.ion's speed); a file with
  anything outside it is read again with amazon.ion.
"""

from __future__ import annotations

import base64
import gzip
import json
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
    if t == IonType.SYMBOL:
        return {"S": x.text if hasattr(x, "text") else str(x)}
    if t == IonType.STRING:
        return {"S": str(x)}
    if t in (IonType.BLOB, IonType.CLOB):
        return {"B": base64.b64encode(bytes(x)).decode("ascii")}
    if t in (IonType.LIST, IonType.SEXP):
        if "$dynamodb_SS" in annotations:
            return {"SS": [str(v) for v in x]}
        if "$dynamodb_NS" in annotations:
            return {
                "NS": [
                    _decimal_text(Decimal(v))
                    if not isinstance(v, int) or isinstance(v, bool)
                    else str(v)
                    for v in x
                ]
            }
        if "$dynamodb_BS" in annotations:
            return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in x]}
        return {"L": [_ion_value(v) for v in x]}
    if t == IonType.STRUCT:
        return {"M": {k: _ion_value(v) for k, v in x.items()}}
    raise ValueError(f"unsupported Ion type {t} in ION export")


def _decimal_text(d: Decimal) -> str:
    return str(d)


def ion_lines_to_dynamodb_json(fp: IO[bytes] | BufferedIOBase) -> Iterator[str]:
    """Yield one DYNAMODB_JSON line (``{"Item":{...}}``) per value of an ION export stream."""
    from amazon.ion import simpleion

    for top in simpleion.load(fp, single_value=False, parse_eagerly=False):
        item = top["Item"]
        yield '{"Item":' + _dumps({k: _ion_value(v) for k, v in item.items()}) + "}\n"


# A hand-written reader for the Ion text DynamoDB writes (one top-level value per line:
# structs, lists, strings, symbols, decimals, ints, blobs, booleans, null, and the
# $dynamodb_SS / _NS / _BS annotations). Anything outside that subset raises
# _IonUnsupported and the file is read again with amazon.ion, so the result never depends
# on which reader ran (the tests compare both on the same lines).


class _IonUnsupported(ValueError):
    pass


_ION_TOKEN = re.compile(
    r"""
  "(?:[^"\\\n]|\\.)*"
| (?:[A-Za-z_$][A-Za-z0-9_$]*|'(?:[^'\\\n]|\\.)*')::
| '(?:[^'\\\n]|\\.)*'
| \{\{[A-Za-z0-9+/=\ \t\r\n]*\}\}
| -?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[dDeE][+-]?[0-9]+)?(?![A-Za-z0-9_.$])
| [A-Za-z_$][A-Za-z0-9_$]*(?![A-Za-z0-9_$.])
| [{}\[\],:]
| [ \t\r\n]+
| .
""",
    re.VERBOSE | re.DOTALL,
).findall
_ION_ESCAPE = re.compile(
    r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abtnfrv?0'\"/\\]|\r\n|\r|\n)"
)
_ION_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "v": "\v",
    "?": "?",
    "0": "\0",
    "'": "'",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "\n": "",
    "\r": "",
    "\r\n": "",
}


def _ion_unescape_one(m) -> str:
    e = m.group(1)
    if e[0] in "xuU" and len(e) > 1:
        c = int(e[1:], 16)
        if 0xD800 <= c <= 0xDFFF:
            raise _IonUnsupported("surrogate escape")
        return chr(c)
    return _ION_SIMPLE_ESCAPES[e]


def _ion_unquote(quoted: str) -> str:
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    out = _ION_ESCAPE.sub(_ion_unescape_one, body)
    if "\\" in _ION_ESCAPE.sub("", body):
        raise _IonUnsupported("unknown escape")
    return out


def _ion_number(text: str) -> str:
    text = text.replace("_", "")
    if "e" in text or "E" in text:
        return repr(float(text))
    if "." in text or "d" in text or "D" in text:
        return str(Decimal(text.replace("d", "E").replace("D", "E")))
    return str(int(text))


def _ion_blob(text: str) -> str:
    return base64.b64encode(base64.b64decode("".join(text[2:-2].split()), validate=True)).decode(
        "ascii"
    )


def _ion_tokens(line: str) -> list:
    """Tokens of one line as strings (whitespace dropped); the parser tells them apart by
    their first character, and rejects any stray character."""
    return [t for t in _ION_TOKEN(line) if not t.isspace()]


_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$")
_NUM_START = frozenset("-0123456789")


def _ion_parse_value(toks: list, i: int):
    t = toks[i]
    c = t[0]
    if c == '"':
        return {"S": _ion_unquote(t)}, i + 1
    if c in _NUM_START:
        return {"N": _ion_number(t)}, i + 1
    if t == "{":
        fields = {}
        i += 1
        while toks[i] != "}":
            k = toks[i]
            if k[0] in _ID_START and not k.endswith("::"):
                key = k
            elif (k[0] == '"' or k[0] == "'") and not k.endswith("::"):
                key = _ion_unquote(k)
            else:
                raise _IonUnsupported(f"field name {k!r}")
            if toks[i + 1] != ":":
                raise _IonUnsupported("expected ':'")
            if key in fields:
                raise _IonUnsupported(f"repeated field {key!r}")
            fields[key], i = _ion_parse_value(toks, i + 2)
            if toks[i] == ",":
                i += 1
            elif toks[i] != "}":
                raise _IonUnsupported("expected ',' or '}'")
        return {"M": fields}, i + 1
    if t == "[":
        items, i = _ion_list(toks, i)
        return {"L": items}, i
    if t.endswith("::") and len(t) > 2:
        ann = t[:-2]
        if toks[i + 1] != "[":
            raise _IonUnsupported(f"annotation {ann!r}")
        items, j = _ion_list(toks, i + 1)
        if ann == "$dynamodb_SS" and all("S" in v for v in items):
            return {"SS": [v["S"] for v in items]}, j
        if ann == "$dynamodb_NS" and all("N" in v for v in items):
            return {"NS": [v["N"] for v in items]}, j
        if ann == "$dynamodb_BS" and all("B" in v for v in items):
            return {"BS": [v["B"] for v in items]}, j
        raise _IonUnsupported(f"annotation {ann!r}")
    if c in _ID_START:
        if t == "true" or t == "false":
            return {"BOOL": t == "true"}, i + 1
        if t == "null":
            return {"NULL": True}, i + 1
        if t in ("nan",) or c == "$":
            raise _IonUnsupported(f"symbol {t!r}")
        return {"S": t}, i + 1
    if c == "'":
        return {"S": _ion_unquote(t)}, i + 1
    if t.startswith("{{"):
        return {"B": _ion_blob(t)}, i + 1
    raise _IonUnsupported(f"unexpected {t!r}")


def _ion_list(toks: list, i: int):
    items = []
    i += 1
    while toks[i] != "]":
        v, i = _ion_parse_value(toks, i)
        items.append(v)
        if toks[i] == ",":
            i += 1
        elif toks[i] != "]":
            raise _IonUnsupported("expected ',' or ']'")
    return items, i + 1


def fast_ion_line_to_dynamodb_json(line: str) -> str | None:
    """One DYNAMODB_JSON line for one ION export line (None for a blank line); raises
    ValueError for text outside the subset DynamoDB writes."""
    import orjson

    try:
        toks = _ion_tokens(line)
        if not toks:
            return None
        i = 1 if toks[0] == "$ion_1_0" else 0
        if i == len(toks):
            return None
        value, i = _ion_parse_value(toks, i)
        if (
            i != len(toks)
            or "M" not in value
            or set(value["M"]) != {"Item"}
            or "M" not in value["M"]["Item"]
        ):
            raise _IonUnsupported("not one {Item:{...}} value on the line")
    except IndexError:
        raise _IonUnsupported("incomplete value on the line") from None
    return '{"Item":' + orjson.dumps(value["M"]["Item"]["M"]).decode() + "}\n"


def ion_to_dynamodb_json(src: str, dst: str) -> int:
    """Transcode one gzip ION export file into a gzip DYNAMODB_JSON file; returns items.

    Lines are read with :func:`fast_ion_line_to_dynamodb_json`; if any line is outside
    its subset, the whole file is transcoded again with amazon.ion."""
    try:
        return _write_lines(dst, _fast_lines(src))
    except _IonUnsupported:
        pass

    def slow():
        with gzip.open(src, "rb") as fin:
            yield from ion_lines_to_dynamodb_json(fin)

    return _write_lines(dst, slow())


def _fast_lines(src: str) -> Iterator[str]:
    with gzip.open(src, "rt", encoding="utf-8") as fin:
        for line in fin:
            out = fast_ion_line_to_dynamodb_json(line)
            if out is not None:
                yield out


def _write_lines(dst: str, lines: Iterable[str]) -> int:
    n = 0
    with gzip.open(dst, "wt", encoding="utf-8", compresslevel=1) as fout:
        buf: list[str] = []
        for line in lines:
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
