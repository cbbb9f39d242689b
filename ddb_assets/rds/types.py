"""RDS export types: the source (MySQL / MariaDB) type, the Parquet type the export wrote,
and the column type both engines give the typed table, exactly.

The mapping is AWS's ("Data conversion when exporting to an Amazon S3 bucket", MySQL and
MariaDB): integers as INT32 (TINYINT, SMALLINT, MEDIUMINT, INT, YEAR and the unsigned
TINYINT / SMALLINT) or INT64 (BIGINT, INT UNSIGNED, MEDIUMINT UNSIGNED); BIGINT UNSIGNED as
DECIMAL(20,0); DECIMAL / NUMERIC(p,s) as DECIMAL(p,s) up to precision 38 and as a string
beyond (Parquet stops at 38); FLOAT and DOUBLE as DOUBLE; DATETIME and TIMESTAMP as
TIMESTAMP (microseconds); DATE and TIME as strings; CHAR, VARCHAR, the TEXT types, ENUM, SET
and JSON as UTF-8 strings; BIT, BINARY, VARBINARY, the BLOB types and the spatial types as
bytes. NULLs stay NULLs.

The typed column follows the Parquet type (what the files hold: Athena reads them as they
are), with one refinement both engines apply in the same way: a DATE column, exported as
text, becomes a SQL ``date`` (MySQL's zero date ``0000-00-00`` has no SQL value and reads
as NULL, which its description says). Every column's description says what its source type
became (:func:`describe`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ddb_assets.tables.types import TypeSpec, parse_type

DECIMAL_MAX = 38

# source type (lower case, no arguments) -> the Parquet type AWS documents for it
_INT32 = {"tinyint", "smallint", "mediumint", "int", "integer", "year"}
_INT64 = {"bigint"}
_STRINGS = {
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "json",
    "time",
    "date",
}
_BYTES = {
    "bit",
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
}
_TIMESTAMPS = {"datetime", "timestamp"}
_FLOATS = {"float", "double", "real", "double precision"}
_DECIMALS = {"decimal", "numeric", "dec", "fixed"}


class TypeMappingError(ValueError):
    """A column whose exported Parquet type does not fit its source type."""


@dataclass(frozen=True)
class SourceColumn:
    """A column as export_tables_info describes it (``originalTypeMappings``)."""

    name: str
    original_type: str  # e.g. "bigint unsigned", "decimal", "enum"
    expected_exported_type: str | None = None  # e.g. "int64", "binary (UTF8)"
    precision: int | None = None  # originalNumPrecision
    scale: int | None = None  # originalNumScale, when RDS gives it
    char_max_length: int | None = None


def base_type(original: str) -> tuple[str, bool]:
    """``("bigint", True)`` from ``"BIGINT(20) UNSIGNED"``: the name and whether unsigned."""
    text = re.sub(r"\(.*?\)", "", original.strip().lower())
    unsigned = "unsigned" in text.split()
    words = [w for w in text.split() if w not in ("unsigned", "signed", "zerofill")]
    name = " ".join(words) or text
    return name, unsigned


def documented_parquet(original: str, precision: int | None = None) -> str:
    """The Parquet type AWS documents for a MySQL / MariaDB source type (for messages and
    for checking the export's files)."""
    name, unsigned = base_type(original)
    if name in _INT64:
        return "FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)" if unsigned else "INT64"
    if name in ("int", "integer", "mediumint"):
        return "INT64" if unsigned else "INT32"
    if name in _INT32:
        return "INT32"
    if name in _DECIMALS:
        if precision is not None and precision > DECIMAL_MAX:
            return "BYTE_ARRAY STRING"
        return "DECIMAL(p,s)"
    if name in _FLOATS:
        return "DOUBLE"
    if name in _TIMESTAMPS:
        return "INT64 TIMESTAMP_MICROS"
    if name in _STRINGS:
        return "BYTE_ARRAY STRING"
    if name in _BYTES:
        return "BYTE_ARRAY"
    if name in ("bool", "boolean"):  # MySQL's BOOL is TINYINT(1)
        return "INT32"
    return "unknown"


def sql_type_of_arrow(arrow_type, source: SourceColumn | None) -> TypeSpec:
    """The typed column's type for a Parquet column (as pyarrow reads it) and its source."""
    import pyarrow as pa

    src = base_type(source.original_type)[0] if source else None
    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return parse_type("boolean")
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            return parse_type("decimal(20,0)")
        if t.bit_width <= 32 and not pa.types.is_uint32(t):
            return parse_type("int")
        return parse_type("bigint")
    if pa.types.is_decimal(t):
        if t.precision > DECIMAL_MAX:
            raise TypeMappingError(f"DECIMAL({t.precision},{t.scale}) exceeds Parquet's 38 digits")
        return parse_type(f"decimal({t.precision},{t.scale})")
    if pa.types.is_floating(t):
        return parse_type("double")
    if pa.types.is_timestamp(t):
        return parse_type("timestamp")
    if pa.types.is_date(t):
        return parse_type("date")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return parse_type("date" if src == "date" else "string")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        # CHAR is written as bytes without the STRING annotation (AWS's table): UTF-8 text
        if src in _STRINGS:
            return parse_type("date" if src == "date" else "string")
        return parse_type("binary")
    if pa.types.is_null(t):  # a column with no value at all: the source type decides
        return _from_source(source)
    raise TypeMappingError(f"Parquet type {t} is not one RDS export writes")


def _from_source(source: SourceColumn | None) -> TypeSpec:
    if source is None:
        return parse_type("string")
    name, unsigned = base_type(source.original_type)
    # information_schema's DATA_TYPE carries no UNSIGNED: the exported type and the
    # precision tell (BIGINT UNSIGNED has 20 digits and a fixed-length decimal; INT
    # UNSIGNED and MEDIUMINT UNSIGNED are INT64).
    exported = (source.expected_exported_type or "").lower()
    if name in _INT64:
        wide = unsigned or exported.startswith("fixed") or (source.precision or 0) >= 20
        return parse_type("decimal(20,0)" if wide else "bigint")
    if name in ("int", "integer", "mediumint") and (unsigned or exported == "int64"):
        return parse_type("bigint")
    if name in _INT32 or name in ("bool", "boolean"):
        return parse_type("int")
    if name in _DECIMALS and source.precision and source.precision <= DECIMAL_MAX:
        return parse_type(f"decimal({source.precision},{source.scale or 0})")
    if name in _FLOATS:
        return parse_type("double")
    if name in _TIMESTAMPS:
        return parse_type("timestamp")
    if name == "date":
        return parse_type("date")
    if name in _BYTES:
        return parse_type("binary")
    return parse_type("string")


def describe(source: SourceColumn | None, parquet: str, sql: TypeSpec) -> str:
    """A column description that says what the source type became."""
    if source is None:
        return f"exported as {parquet}; typed {sql.canonical()} (no source type in the export's metadata)"
    name, _ = base_type(source.original_type)
    said = source.original_type.upper()
    if name == "bigint" and sql.canonical() == "decimal(20,0)" and "UNSIGNED" not in said:
        said += " UNSIGNED"
    elif name in ("int", "mediumint") and sql.name == "bigint" and "UNSIGNED" not in said:
        said += " UNSIGNED"
    note = ""
    if name == "date":
        note = "; MySQL's zero date 0000-00-00 reads as NULL"
    elif name == "time":
        note = "; kept as text HH:MM:SS[.ffffff] (no SQL TIME type in Athena tables)"
    elif name == "json":
        note = "; the JSON document as text (json_extract works on it)"
    elif name in ("enum", "set"):
        note = "; the value's text" + (" (members comma-separated)" if name == "set" else "")
    elif name == "bit":
        note = "; the bits as big-endian bytes"
    elif name in _DECIMALS and source.precision and source.precision > DECIMAL_MAX:
        note = f"; precision {source.precision} exceeds Parquet's 38 digits, so RDS wrote text"
    elif name in _TIMESTAMPS:
        note = "; the UTC time RDS wrote, microseconds (Athena reads milliseconds)"
    elif name == "bigint" and sql.name == "decimal":
        note = "; unsigned 64-bit integers need 20 digits"
    elif name == "char":
        note = "; RDS writes CHAR as bytes, read as UTF-8 text"
    return f"MySQL {said} -> Parquet {parquet} -> {sql.canonical()}{note}"


def parquet_spelling(arrow_type) -> str:
    """How a Parquet column's type is said in descriptions (``INT64``, ``DECIMAL(20,0)``)."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return f"TIMESTAMP({t.unit}{', UTC' if t.tz else ''})"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BYTE_ARRAY"
    if pa.types.is_integer(t):
        return f"INT{max(32, t.bit_width)}"
    return str(t).upper()
