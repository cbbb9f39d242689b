"""Hive type strings (as HiveQL DDL and Glue write them) in Trino's spelling, for the Athena
front's Iceberg DDL, which it runs through Trino's Iceberg connector."""

from __future__ import annotations

import re


class HiveTypeError(ValueError):
    """A type the front cannot translate; the message starts with Athena's error name."""


_TYPE_TOKEN = re.compile(r"`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[<>(),:]")
_SCALAR_TO_TRINO = {
    "string": "varchar",
    "binary": "varbinary",
    "int": "integer",
    "integer": "integer",
    "float": "real",
    "double": "double",
    "bigint": "bigint",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp(6)",  # Iceberg's timestamp
    "tinyint": "tinyint",
    "smallint": "smallint",
}


def hive_to_trino(text: str) -> str:
    """``array<struct<a:decimal(38,2)>>`` -> ``array(row("a" decimal(38,2)))``."""
    tokens = _TYPE_TOKEN.findall(text)
    pos = 0

    def nxt() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise HiveTypeError(f"SYNTAX_ERROR: unexpected end of type {text!r}")
        pos += 1
        return tokens[pos - 1]

    def typ() -> str:
        name = nxt().lower()
        if name == "array":
            nxt()
            inner = typ()
            nxt()
            return f"array({inner})"
        if name == "map":
            nxt()
            k = typ()
            nxt()
            v = typ()
            nxt()
            return f"map({k}, {v})"
        if name == "struct":
            nxt()
            fields = []
            while True:
                fname = nxt().strip("`")
                nxt()
                fields.append(f'"{fname}" {typ()}')
                if nxt() == ">":
                    break
            return "row(" + ", ".join(fields) + ")"
        if name == "decimal":
            if pos < len(tokens) and tokens[pos] == "(":
                nxt()
                p = nxt()
                s = "0"
                if nxt() == ",":
                    s = nxt()
                    nxt()
                return f"decimal({p},{s})"
            return "decimal(10,0)"
        if name not in _SCALAR_TO_TRINO:
            raise HiveTypeError(f"NOT_SUPPORTED: Unknown type {name!r} in {text!r}")
        return _SCALAR_TO_TRINO[name]

    out = typ()
    if pos != len(tokens):
        raise HiveTypeError(f"SYNTAX_ERROR: trailing text in type {text!r}")
    return out
