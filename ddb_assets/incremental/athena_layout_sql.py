"""Athena change-history tables and item images: names, DDL, raw lines and discovery.

Holds the statement budget and fixed column lists, ``Names`` (the raw, change, current and
ledger tables of one source table), the DDL that creates them and adds raw-export partitions,
the SQL that reads a window's or an export's raw lines as item images (key text, typed values,
the ``fits`` checks) and the attribute-discovery query over them. Part of the Athena SQL
described in ``ddb_assets.incremental.athena_sql``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ddb_assets import table_names
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.sql.identifiers import (
    hive_ident,
    hive_qualified,
    qualified,
    validate_catalog_name,
)
from ddb_assets.sql.literals import sql_literal, timestamp_literal
from ddb_assets.tables import athena_ion
from ddb_assets.tables.athena_engine import discovery_sql, fits_sql, value_sql
from ddb_assets.tables.plan import ROLE_VALUE, ColumnPlan

# Athena refuses query text over 262,144 bytes; statements that grow with the number of
# columns are kept below this.
STATEMENT_BUDGET = 240_000
TS = "timestamp(6)"  # Iceberg's timestamp

FIXED_COLUMNS = [
    ("change_date", "date"),
    ("write_ts", "timestamp"),
    ("write_micros", "bigint"),
    ("operation", "string"),
    ("source", "string"),
    ("generation", "int"),
    ("window_from", "timestamp"),
    ("window_to", "timestamp"),
    ("export_arn", "string"),
    ("item_key", "string"),
    ("new_image", "string"),
    ("old_image", "string"),
]
CURRENT_META = [
    ("_ddb_key", "string"),
    ("_ddb_item", "string"),
    ("_ddb_write_ts", "timestamp"),
    ("_ddb_window_to", "timestamp"),
]
LEDGER = [
    ("seq", "int"),
    ("kind", "string"),
    ("generation", "int"),
    ("window_from", "timestamp"),
    ("window_to", "timestamp"),
    ("export_arn", "string"),
    ("records", "bigint"),
    ("note", "string"),
    ("applied_at", "timestamp"),
    ("plan", "string"),
]
_ICEBERG = (
    "TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'PARQUET', 'write_compression' = 'ZSTD')"
)
_RAW_FORMAT = "ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\u0001'"


@dataclass(frozen=True)
class Names:
    """The chain's tables in one database (bare for DDL, quoted for DML)."""

    database: str
    table: str
    export_format: str = "DYNAMODB_JSON"  # the raw tables' format (ION: Athena's Ion SerDe)

    def __post_init__(self):
        validate_catalog_name(self.database, "database")
        validate_catalog_name(self.table, "table")
        if self.export_format not in ("DYNAMODB_JSON", "ION"):
            raise ValueError(f"unknown export_format {self.export_format!r}")

    def ddl(self, suffix: str) -> str:
        """The table's name in HiveQL DDL (backticked)."""
        return hive_qualified(self.database, self.table + suffix)

    def q(self, suffix: str) -> str:
        return qualified(self.database, self.table + suffix)

    @property
    def changes(self) -> str:
        return self.q(table_names.CHANGES)

    @property
    def current(self) -> str:
        return self.q(table_names.CURRENT)

    @property
    def ledger(self) -> str:
        return self.q(table_names.CHAIN)

    @property
    def increments(self) -> str:
        return self.q(table_names.INCREMENTS)

    @property
    def full_exports(self) -> str:
        return self.q(table_names.FULL_EXPORTS)


def ts_literal(t: datetime) -> str:
    return timestamp_literal(utc(t))


def ddl_col(name: str) -> str:
    """A column name in HiveQL DDL: a valid catalog name, backticked."""
    return hive_ident(validate_catalog_name(name, "column"))


def ddl_cols(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{ddl_col(c)} {t}" for c, t in columns)


def change_columns(
    plans: Sequence[ColumnPlan], key_attributes: Sequence[str]
) -> list[tuple[str, str, ColumnPlan]]:
    """(column, image root, plan) of the change table's typed columns: key_, new_, old_."""
    out = [
        ("key_" + p.column, "Keys", p)
        for p in plans
        if p.attribute in key_attributes and p.role == ROLE_VALUE
    ]
    out += [("new_" + p.column, "NewImage", p) for p in plans]
    out += [("old_" + p.column, "OldImage", p) for p in plans]
    return out


def ddl_statements(
    database: str,
    table: str,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    location: str,
    export_format: str = "DYNAMODB_JSON",
) -> list[str]:
    """CREATE statements for the raw, change, current and ledger tables (IF NOT EXISTS); the
    raw tables read ``export_format`` (ION: Athena's Ion SerDe, :mod:`ddb_assets.tables.athena_ion`)."""
    n = Names(database, table, export_format)
    base = location.rstrip("/")
    changes = ddl_cols(
        list(FIXED_COLUMNS)
        + [(c, p.type.hive()) for c, _, p in change_columns(plans, key_attributes)]
    )
    current = ddl_cols([(p.column, p.type.hive()) for p in plans] + list(CURRENT_META))
    if n.export_format == "ION":
        inc_cols = athena_ion.hive_columns(athena_ion.INCREMENTAL_IMAGES, with_item_map=False)
        full_cols = athena_ion.hive_columns(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
        inc_fmt = athena_ion.hive_row_format(athena_ion.INCREMENTAL_IMAGES, with_item_map=False)
        full_fmt = athena_ion.hive_row_format(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
    else:
        inc_cols = full_cols = f"{ddl_col('line')} string"
        inc_fmt = full_fmt = _RAW_FORMAT
    return [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {n.ddl(table_names.INCREMENTS)} ({inc_cols}) "
        f"PARTITIONED BY ({ddl_col('window_label')} string) {inc_fmt} LOCATION {sql_literal(base + '/increments/')}",
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {n.ddl(table_names.FULL_EXPORTS)} ({full_cols}) "
        f"PARTITIONED BY ({ddl_col('export_id')} string) {full_fmt} LOCATION {sql_literal(base + '/full_exports/')}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CHANGES)} ({changes}) PARTITIONED BY ({ddl_col('change_date')}) "
        f"LOCATION {sql_literal(base + '/changes/')} {_ICEBERG}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CURRENT)} ({current}) "
        f"LOCATION {sql_literal(base + '/current/')} {_ICEBERG}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CHAIN)} ({ddl_cols(LEDGER)}) "
        f"LOCATION {sql_literal(base + '/chain/')} {_ICEBERG}",
    ]


def add_partition_sql(
    database: str, table: str, raw_suffix: str, key: str, value: str, data_s3_uri: str
) -> str:
    """Register one export's ``data/`` folder as a partition of a raw table (idempotent)."""
    n = Names(database, table)
    if raw_suffix not in (table_names.INCREMENTS, table_names.FULL_EXPORTS):
        raise ValueError(f"not a raw table of the chain: {raw_suffix!r}")
    if not data_s3_uri.rstrip("/").endswith("/data"):
        raise ValueError(f"{data_s3_uri!r} must be an export's data/ folder")
    return (
        f"ALTER TABLE {n.ddl(raw_suffix)} ADD IF NOT EXISTS PARTITION ({ddl_col(key)} = {sql_literal(value)}) "
        f"LOCATION {sql_literal(data_s3_uri.rstrip('/') + '/')}"
    )


# --- item images -----------------------------------------------------------------------

ITEM_JSON = "json_extract(line, '$.Item')"


def json_map_sql(json_sql: str) -> str:
    return f"CAST({json_sql} AS map(varchar, json))"


def key_text_sql(key_attributes: Sequence[str], image_map: str) -> str:
    """The item key as canonical JSON text (``{"pk":{"S":"a"},"sk":{"N":"1"}}``, attributes in
    sorted order, as the DuckDB engine writes it), built from a ``map(varchar, json)`` image.
    Built explicitly so its text is the DuckDB engine's byte for byte (Trino's
    ``json_parse`` orders object keys too, but formats nested values its own way)."""
    parts = []
    for i, a in enumerate(sorted(key_attributes)):
        head = ("{" if i == 0 else ",") + json.dumps(a, ensure_ascii=False) + ":"
        parts.append(
            f"{sql_literal(head)} || json_format(element_at({image_map}, {sql_literal(a)}))"
        )
    if not parts:
        raise ValueError("a chain needs the table's key attributes")
    return "(" + " || ".join(parts) + " || '}')"


def typed_sql(p: ColumnPlan, image_map: str, fits: str | None = None) -> str:
    """One typed column from a ``map(varchar, json)`` image (the snapshot table's value SQL)."""
    return value_sql(p, f"element_at({image_map}, {sql_literal(p.attribute)})", fits)


def with_fits(plans: Sequence[ColumnPlan], query: str, maps: dict[str, str]) -> tuple[str, dict]:
    """``query`` with one :func:`~ddb_assets.tables.athena_engine.fits_sql` column per image
    map column in ``maps`` (map column -> fits column), and which fits column each map has
    (``None`` when no attribute needs a fit check)."""
    extra = []
    out: dict[str, str | None] = {}
    for m, name in maps.items():
        f = fits_sql(plans, m)
        out[m] = name if f else None
        if f:
            extra.append(f"{f} AS {name}")
    if not extra:
        return query, out
    return f"SELECT *, {', '.join(extra)} FROM ({query})", out


def window_lines_sql(n: Names, window: Window) -> str:
    line = "line"
    if n.export_format == "ION":  # the record's DynamoDB JSON line from its Ion images
        line = f'{athena_ion.ion_line_sql(athena_ion.INCREMENTAL_IMAGES)} AS "line"'
    return f"SELECT {line} FROM {n.increments} WHERE window_label = {sql_literal(window.label)}"


def window_lines_per_file_sql(n: Names, window: Window) -> str:
    """(S3 path, lines) of each of the window's data files."""
    return (
        f'SELECT "$path", count(*) FROM {n.increments} '
        f"WHERE window_label = {sql_literal(window.label)} GROUP BY 1"
    )


def export_lines_sql(n: Names, export_id: str) -> str:
    line = "line"
    if n.export_format == "ION":
        line = f'{athena_ion.checked_line_sql(athena_ion.SNAPSHOT_IMAGES)} AS "line"'
    return f"SELECT {line} FROM {n.full_exports} WHERE export_id = {sql_literal(export_id)}"


def records_from_lines(lines_sql: str) -> str:
    """(ts, keys_json, new_json, old_json) of incremental export lines."""
    return (
        "SELECT CAST(CAST(json_extract_scalar(line, '$.Metadata.WriteTimestampMicros.N') "
        "AS decimal(38,0)) AS bigint) AS ts, "
        f"json_extract(line, '$.Keys') AS keys_json, json_extract(line, '$.NewImage') AS new_json, "
        f"json_extract(line, '$.OldImage') AS old_json FROM ({lines_sql})"
    )


# --- discovery: the snapshot loader's statistics query over other items -------------------

_ITEMS_END = "\n), entries AS ("


def discovery_over(items_sql: str) -> str:
    """:func:`ddb_assets.tables.athena_engine.discovery_sql` (attribute, tag, counts, number
    shapes: the snapshot table's statistics) over ``items_sql``, a query of one
    ``item map(varchar, json)`` column; rows for :func:`~ddb_assets.tables.athena_engine.stats_from_rows`."""
    import datetime as _dt

    base = discovery_sql("d", "t", _dt.date(2000, 1, 1))
    head, sep, rest = base.partition(_ITEMS_END)
    if not sep or not head.startswith("WITH items AS ("):
        raise RuntimeError("athena_engine.discovery_sql changed shape: adapt discovery_over")
    return f"WITH items AS (\n  {items_sql}{sep}{rest}"


def window_items_sql(n: Names, window: Window) -> str:
    """Every image of a window (keys, new and old image) as one item each, as the DuckDB engine
    feeds its discovery."""
    return (
        f"SELECT {json_map_sql('x')} AS item FROM ({records_from_lines(window_lines_sql(n, window))}) "
        f"CROSS JOIN UNNEST(ARRAY[keys_json, new_json, old_json]) AS u(x) WHERE x IS NOT NULL"
    )


def export_items_sql(n: Names, export_id: str) -> str:
    return f"SELECT {json_map_sql(ITEM_JSON)} AS item FROM ({export_lines_sql(n, export_id)})"
