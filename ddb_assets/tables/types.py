"""Column types: the override model, a small type grammar, and exact number shapes.

Types are written in the Hive/Athena DDL spelling that a data engineer puts in YAML
(``string``, ``timestamp``, ``date``, ``bigint``, ``int``, ``double``, ``boolean``,
``binary``, ``json``, ``decimal(p,s)``, ``array<T>``, ``struct<name:T,...>``) and rendered
for DuckDB (``DECIMAL(38,2)``, ``VARCHAR[]``, ``STRUCT("a" VARCHAR)``), for Athena SQL casts
(``array(varchar)``, ``row("a" varchar)``) and for the Glue catalog (``array<string>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ddb_assets.sql.identifiers import hive_ident, quote_ident

DECIMAL_PRECISION = 38
DYNAMODB_TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")


@dataclass(frozen=True)
class ColumnOverride:
    """Per-attribute configuration: a target ``type``, a ``rename``, or ``drop``."""

    type: str | None = None
    rename: str | None = None
    drop: bool = False


class InvalidTypeError(ValueError):
    """A type in the configuration cannot be understood."""


_SIMPLE = {
    "string": "string",
    "varchar": "string",
    "text": "string",
    "timestamp": "timestamp",
    "date": "date",
    "bigint": "bigint",
    "long": "bigint",
    "int": "int",
    "integer": "int",
    "double": "double",
    "boolean": "boolean",
    "bool": "boolean",
    "binary": "binary",
    "varbinary": "binary",
    "json": "json",
}
_DUCKDB = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "binary": "BLOB",
    "json": "JSON",
}
_ATHENA = {
    "string": "varchar",
    "timestamp": "timestamp",
    "date": "date",
    "bigint": "bigint",
    "int": "integer",
    "double": "double",
    "boolean": "boolean",
    "binary": "varbinary",
    "json": "varchar",
}
_GLUE = {
    "string": "string",
    "timestamp": "timestamp",
    "date": "date",
    "bigint": "bigint",
    "int": "int",
    "double": "double",
    "boolean": "boolean",
    "binary": "binary",
    "json": "string",
}


@dataclass(frozen=True)
class TypeSpec:
    """A parsed column type. ``name`` is one of the simple names, ``decimal``, ``array``
    or ``struct``."""

    name: str
    precision: int | None = None
    scale: int | None = None
    element: TypeSpec | None = None
    fields: tuple[tuple[str, TypeSpec], ...] = field(default=())

    def canonical(self) -> str:
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.name == "array":
            assert self.element is not None
            return f"array<{self.element.canonical()}>"
        if self.name == "struct":
            return "struct<" + ",".join(f"{n}:{t.canonical()}" for n, t in self.fields) + ">"
        return self.name

    def duckdb(self) -> str:
        if self.name == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        if self.name == "array":
            assert self.element is not None
            return f"{self.element.duckdb()}[]"
        if self.name == "struct":
            return (
                "STRUCT("
                + ", ".join(f"{quote_ident(n)} {t.duckdb()}" for n, t in self.fields)
                + ")"
            )
        return _DUCKDB[self.name]

    def athena(self) -> str:
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.name == "array":
            assert self.element is not None
            return f"array({self.element.athena()})"
        if self.name == "struct":
            return (
                "row(" + ", ".join(f"{quote_ident(n)} {t.athena()}" for n, t in self.fields) + ")"
            )
        return _ATHENA[self.name]

    def glue(self) -> str:
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.name == "array":
            assert self.element is not None
            return f"array<{self.element.glue()}>"
        if self.name == "struct":
            return "struct<" + ",".join(f"{n}:{t.glue()}" for n, t in self.fields) + ">"
        return _GLUE[self.name]

    def hive(self) -> str:
        """The type as HiveQL DDL writes it (struct field names backticked); :meth:`glue` is
        the same type as Glue's API stores it."""
        if self.name == "array":
            assert self.element is not None
            return f"array<{self.element.hive()}>"
        if self.name == "struct":
            return "struct<" + ",".join(f"{hive_ident(n)}:{t.hive()}" for n, t in self.fields) + ">"
        return self.glue()

    def __str__(self) -> str:
        return self.canonical()


STRING = TypeSpec("string")
JSON = TypeSpec("json")
BOOLEAN = TypeSpec("boolean")
BINARY = TypeSpec("binary")


def decimal_type(scale: int, precision: int = DECIMAL_PRECISION) -> TypeSpec:
    return TypeSpec("decimal", precision=precision, scale=scale)


def array_of(t: TypeSpec) -> TypeSpec:
    return TypeSpec("array", element=t)


_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_type(text: str) -> TypeSpec:
    """Parse a configured type such as ``decimal(12,2)`` or ``struct<a:string>``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidTypeError(f"column type {text!r} is empty")
    tokens: list[str] = []
    pos = 0
    src = text.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise InvalidTypeError(f"cannot read column type {text!r} at {src[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    result, i = _parse(tokens, 0, text)
    if i != len(tokens):
        raise InvalidTypeError(f"unexpected {' '.join(tokens[i:])!r} in column type {text!r}")
    return result


def _expect(tokens: list[str], i: int, tok: str, text: str) -> int:
    if i >= len(tokens) or tokens[i] != tok:
        raise InvalidTypeError(f"expected {tok!r} in column type {text!r}")
    return i + 1


def _parse(tokens: list[str], i: int, text: str) -> tuple[TypeSpec, int]:
    if i >= len(tokens):
        raise InvalidTypeError(f"column type {text!r} ends too early")
    word = tokens[i].lower()
    i += 1
    if word in ("decimal", "numeric"):
        precision, scale = DECIMAL_PRECISION, 0
        if i < len(tokens) and tokens[i] == "(":
            precision = int(tokens[i + 1])
            i += 2
            if tokens[i] == ",":
                scale = int(tokens[i + 1])
                i += 2
            i = _expect(tokens, i, ")", text)
        if not (1 <= precision <= DECIMAL_PRECISION and 0 <= scale <= precision):
            raise InvalidTypeError(
                f"decimal({precision},{scale}) in {text!r}: need 1 <= p <= 38, 0 <= s <= p"
            )
        return decimal_type(scale, precision), i
    if word == "array":
        i = _expect(tokens, i, "<", text)
        element, i = _parse(tokens, i, text)
        i = _expect(tokens, i, ">", text)
        return array_of(element), i
    if word == "struct":
        i = _expect(tokens, i, "<", text)
        fields: list[tuple[str, TypeSpec]] = []
        while True:
            name = tokens[i] if i < len(tokens) else ""
            if not _FIELD_NAME.match(name):
                raise InvalidTypeError(f"bad struct field name {name!r} in {text!r}")
            i = _expect(tokens, i + 1, ":", text)
            ftype, i = _parse(tokens, i, text)
            fields.append((name, ftype))
            if i < len(tokens) and tokens[i] == ",":
                i += 1
                continue
            break
        i = _expect(tokens, i, ">", text)
        return TypeSpec("struct", fields=tuple(fields)), i
    if word in _SIMPLE:
        return TypeSpec(_SIMPLE[word]), i
    raise InvalidTypeError(
        f"unknown column type {word!r} in {text!r}; use one of string, timestamp, date, bigint, "
        "int, double, boolean, binary, json, decimal(p,s), array<T>, struct<name:T,...>"
    )


# --- exact number shapes --------------------------------------------------------------


def number_shape(text: str) -> tuple[int, int]:
    """(integer digits, fractional digits) a DynamoDB number needs, exactly.

    ``"123.4500"`` -> (3, 2); ``"1E-130"`` -> (0, 130); ``"-0"`` -> (0, 0).
    Mirrors the SQL in :mod:`ddb_assets.tables.duckdb` and ``athena_engine``.
    """
    try:
        d = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if d == 0:
        return 0, 0
    sign, digits, exp = d.normalize().as_tuple()
    if not isinstance(exp, int):  # "n", "N" or "F": NaN, sNaN or Infinity
        raise ValueError(f"not a finite number: {text!r}")
    n = len(digits)
    point = n + exp  # digits before the decimal point
    return max(point, 0), max(-exp, 0) if exp < 0 else 0


def fits_decimal(text: str, scale: int, precision: int = DECIMAL_PRECISION) -> bool:
    """Whether ``text`` is represented exactly by DECIMAL(precision, scale)."""
    intd, frac = number_shape(text)
    return frac <= scale and intd <= precision - scale


def choose_scale(max_int_digits: int | None, max_scale: int | None) -> int:
    """Scale for a DECIMAL(38, s) column from the widest values that fit alone.

    All values fit when ``max_int + max_scale <= 38``; otherwise the integer digits win
    (s = 38 - max_int) and values with more fractional digits are kept as exact text.
    """
    mi, ms = max_int_digits or 0, max_scale or 0
    if mi + ms <= DECIMAL_PRECISION:
        return ms
    return DECIMAL_PRECISION - mi
