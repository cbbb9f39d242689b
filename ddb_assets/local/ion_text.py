"""DynamoDB JSON (wire form) to Amazon Ion text, as DynamoDB's ION export writes it.

Mapping (DynamoDB developer guide, "Amazon Ion" export format): S -> string, N -> decimal,
B -> blob, BOOL -> bool, NULL -> null, M -> struct, L -> list, SS/NS/BS -> list annotated
``$dynamodb_SS`` / ``$dynamodb_NS`` / ``$dynamodb_BS``. Each line is ``$ion_1_0 {...}``.

Numbers are written exactly, normalised like the documented example (``103.``, ``6d2`` for
600, ``1.5``, ``1d-130``).
"""

from __future__ import annotations

import base64
import decimal
import re
from typing import Any

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = {"null", "true", "false", "nan"}
_CTX = decimal.Context(prec=100)


def _escape(text: str, quote: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch == quote:
            out.append("\\" + quote)
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # lone surrogate: not encodable, escape it
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def ion_string(text: str) -> str:
    return '"' + _escape(text, '"') + '"'


def ion_field_name(name: str) -> str:
    if _IDENT.match(name) and name not in _RESERVED:
        return name
    return "'" + _escape(name, "'") + "'"


def ion_decimal(number: str) -> str:
    """Exact Ion decimal text for a DynamoDB number string."""
    value = decimal.Decimal(number.strip())
    if not value.is_finite():
        raise ValueError(f"not a DynamoDB number: {number!r}")
    sign, digits, exp = value.normalize(_CTX).as_tuple()
    coeff = "".join(str(d) for d in digits) or "0"
    neg = "-" if sign and coeff != "0" else ""
    exp = int(exp)
    if exp == 0:
        return f"{neg}{coeff}."
    if exp > 0:
        return f"{neg}{coeff}d{exp}"
    if -exp < len(coeff):
        return f"{neg}{coeff[:exp]}.{coeff[exp:]}"
    if -exp - len(coeff) < 6:
        return f"{neg}0.{'0' * (-exp - len(coeff))}{coeff}"
    return f"{neg}{coeff}d{exp}"


def dynamodb_number(number: str) -> str:
    """A number as DynamoDB stores and returns it ("leading and trailing zeroes are trimmed",
    Developer Guide, Number data type): plain digits without exponent, ``-0`` -> ``0``,
    ``1.50`` -> ``1.5``, ``6E+2`` -> ``600``. The DYNAMODB_JSON export writes this text."""
    value = decimal.Decimal(number.strip())
    if not value.is_finite():
        raise ValueError(f"not a DynamoDB number: {number!r}")
    if not value:
        return "0"
    return format(value.normalize(_CTX), "f")


def _canonical_attr(attr: dict[str, Any]) -> dict[str, Any]:
    ((tag, value),) = attr.items()
    if tag == "N":
        return {"N": dynamodb_number(value)}
    if tag == "NS":
        return {"NS": [dynamodb_number(v) for v in value]}
    if tag == "M":
        return {"M": {k: _canonical_attr(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_canonical_attr(v) for v in value]}
    return attr


def dynamodb_numbers(record: dict[str, Any]) -> dict[str, Any]:
    """An export record (``Item``, or ``Metadata`` / ``Keys`` / ``NewImage`` / ``OldImage``,
    each a map of attributes) with every N and NS member in :func:`dynamodb_number` text."""
    return {
        part: {name: _canonical_attr(attr) for name, attr in attrs.items()}
        for part, attrs in record.items()
    }


def _b64(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def ion_value(attr: dict[str, Any]) -> str:
    """One DynamoDB attribute value (``{"S": "x"}`` etc., B as base64 text) as Ion text."""
    ((tag, value),) = attr.items()
    if tag == "S":
        return ion_string(value)
    if tag == "N":
        return ion_decimal(value)
    if tag == "B":
        return "{{" + _b64(value) + "}}"
    if tag == "BOOL":
        return "true" if value else "false"
    if tag == "NULL":
        return "null"
    if tag == "M":
        return ion_struct(value)
    if tag == "L":
        return "[" + ",".join(ion_value(v) for v in value) + "]"
    if tag == "SS":
        return "$dynamodb_SS::[" + ",".join(ion_string(v) for v in value) + "]"
    if tag == "NS":
        return "$dynamodb_NS::[" + ",".join(ion_decimal(v) for v in value) + "]"
    if tag == "BS":
        return "$dynamodb_BS::[" + ",".join("{{" + _b64(v) + "}}" for v in value) + "]"
    raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def ion_struct(attrs: dict[str, dict[str, Any]]) -> str:
    return "{" + ",".join(f"{ion_field_name(k)}:{ion_value(v)}" for k, v in attrs.items()) + "}"


def ion_line(record: dict[str, Any]) -> str:
    """A whole export line: ``{"Item": {...}}`` or an incremental record, as ``$ion_1_0 {...}``.

    Top-level members map to structs of attributes, except ``Metadata.WriteTimestampMicros``
    which (like every DynamoDB number) becomes an Ion decimal.
    """
    parts = []
    for key, value in record.items():
        if key == "Metadata":
            inner = ",".join(f"{ion_field_name(k)}:{ion_value(v)}" for k, v in value.items())
            parts.append(f"{key}:{{{inner}}}")
        else:
            parts.append(f"{ion_field_name(key)}:{ion_struct(value)}")
    return "$ion_1_0 {" + ",".join(parts) + "}"
