"""MySQL / MariaDB column types → the Parquet types RDS snapshot export documents.

Source: "Data conversion when exporting to an Amazon S3 bucket" (MySQL and MariaDB table), see
CONTRACT.md. Values arrive from :func:`catalog.select_rows` as MariaDB's own text (or bytes for
binary, BIT and spatial types) and are converted here without passing through floats, so
decimals and 64-bit integers stay exact.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ddb_assets.local.rds.catalog import Column

# Characters that make RDS skip a whole table when they appear in a column name (documented).
UNSUPPORTED_COLUMN_CHARS = frozenset(",;{}()\n\t= ")

_BINARY_TYPES = frozenset(
    {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"}
)
_SPATIAL_TYPES = frozenset(
    {
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    }
)
_STRING_TYPES = frozenset(
    {"varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"}
)
# CHAR is listed without a logical type annotation (plain BYTE_ARRAY) in AWS's table.
_RAW_TEXT_TYPES = frozenset({"char"})


@dataclass(frozen=True)
class Mapping:
    """How one column is exported: the Arrow type written and the names RDS reports."""

    arrow: pa.DataType
    exported_type: str  # schemaMetadata.originalTypeMappings[].expectedExportedType
    convert: Any  # text|bytes -> python value for ``arrow``


def _int(text: Any) -> int:
    return int(text)


def _decimal(text: Any) -> Decimal:
    return Decimal(text)


def _float(text: Any) -> float:
    return float(text)


def _str(text: Any) -> str:
    return text if isinstance(text, str) else bytes(text).decode("utf-8")


def _utf8_bytes(text: Any) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _bytes(value: Any) -> bytes:
    return bytes(value) if not isinstance(value, str) else value.encode("utf-8")


def _timestamp(text: Any) -> datetime | None:
    """MariaDB's DATETIME/TIMESTAMP text (session time zone +00:00) as a UTC instant.

    Zero dates ('0000-00-00 00:00:00', or any zero month/day) have no instant: they are
    exported as NULL (RDS does not document them; see CONTRACT.md).
    """
    s = _str(text)
    date_part, _, time_part = s.partition(" ")
    y, m, d = (int(x) for x in date_part.split("-"))
    if y == 0 or m == 0 or d == 0:
        return None
    hms, _, frac = (time_part or "00:00:00").partition(".")
    hh, mm, ss = (int(x) for x in hms.split(":"))
    micros = int((frac + "000000")[:6]) if frac else 0
    return datetime(y, m, d, hh, mm, ss, micros, tzinfo=timezone.utc)


def mapping(col: Column) -> Mapping:
    """The documented Parquet type for a column (ValueError for a type RDS does not list)."""
    t = col.data_type
    unsigned = col.unsigned
    if t == "bigint":
        if unsigned:
            # FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)
            return Mapping(pa.decimal128(20, 0), "fixed_len_byte_array", _decimal)
        return Mapping(pa.int64(), "int64", _int)
    if t in ("int", "mediumint"):
        if unsigned:
            return Mapping(pa.int64(), "int64", _int)
        return Mapping(pa.int32(), "int32", _int)
    if t == "smallint":
        return Mapping(pa.int32(), "int32", _int)  # signed and unsigned: plain INT32
    if t == "tinyint":
        if unsigned:
            return Mapping(pa.int16(), "int32", _int)  # INT32 annotated INT(16, true)
        return Mapping(pa.int32(), "int32", _int)
    if t in ("decimal", "numeric"):
        p = col.numeric_precision or 10
        s = col.numeric_scale or 0
        if p > 38:  # "Parquet doesn't support Decimal precision greater than 38": UTF8 string
            return Mapping(pa.string(), "binary", _str)
        if p <= 9:
            exported = "int32"
        elif p <= 18:
            exported = "int64"
        else:
            exported = "fixed_len_byte_array"
        return Mapping(pa.decimal128(p, s), exported, _decimal)
    if t in ("double", "float", "real"):
        return Mapping(pa.float64(), "double", _float)
    if t in ("datetime", "timestamp"):
        return Mapping(pa.timestamp("us", tz="UTC"), "int64", _timestamp)
    if t in ("date", "time"):
        return Mapping(pa.string(), "binary", _str)  # converted to a UTF8 string
    if t == "year":
        return Mapping(pa.int32(), "int32", _int)
    if t in _STRING_TYPES:
        return Mapping(pa.string(), "binary", _str)
    if t in _RAW_TEXT_TYPES:
        return Mapping(pa.binary(), "binary", _utf8_bytes)
    if t in _BINARY_TYPES or t in _SPATIAL_TYPES:
        return Mapping(pa.binary(), "binary", _bytes)
    raise ValueError(f"column {col.name!r}: MySQL type {col.column_type!r} is not in RDS's table")


def skip_reason(columns: tuple[Column, ...] | list[Column]) -> str | None:
    """Why RDS would skip a table, or None. (Documented: unsupported column-name characters.)"""
    for c in columns:
        bad = sorted(ch for ch in set(c.name) if ch in UNSUPPORTED_COLUMN_CHARS)
        if bad:
            shown = ", ".join(repr(ch) for ch in bad)
            return f"column {c.name!r} contains characters RDS export does not support ({shown})"
    return None


def type_mappings(columns: tuple[Column, ...] | list[Column]) -> list[dict[str, Any]]:
    """``schemaMetadata.originalTypeMappings`` for a table."""
    out = []
    for c in columns:
        m = mapping(c)
        out.append(
            {
                "columnName": c.name,
                "originalType": c.data_type,
                "expectedExportedType": m.exported_type,
                "originalCharMaxLength": int(c.char_max_length or 0),
                "originalNumPrecision": int(c.numeric_precision or 0),
                "originalDateTimePrecision": int(c.datetime_precision or 0),
            }
        )
    return out


def arrow_schema(columns: tuple[Column, ...] | list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, mapping(c).arrow, nullable=True) for c in columns])


def to_table(columns: tuple[Column, ...] | list[Column], rows: list[tuple]) -> pa.Table:
    maps = [mapping(c) for c in columns]
    arrays = []
    for i, (c, m) in enumerate(zip(columns, maps)):
        values = [None if r[i] is None else m.convert(r[i]) for r in rows]
        arrays.append(pa.array(values, type=m.arrow))
        del c
    return pa.Table.from_arrays(arrays, schema=arrow_schema(columns))


def parquet_bytes(table: pa.Table) -> bytes:
    """A gzip-compressed Parquet file (``.gz.parquet``) with decimals stored as integers when
    their precision allows (INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY above)."""
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression="gzip",
        store_decimal_as_integer=True,
        coerce_timestamps="us",
        allow_truncated_timestamps=False,
        store_schema=False,  # RDS writes no Arrow schema: readers see the Parquet types only
    )
    return buf.getvalue()
