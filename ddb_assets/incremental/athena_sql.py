"""Athena (production) SQL for the change history: Iceberg tables, the per-window statements,
attribute discovery, schema evolution, the re-seed's net change and the comparison with a
full export. SQL generation only; :mod:`ddb_assets.incremental.athena_chain` runs it.

Layout per table ``T`` in database ``D`` (the same columns as the DuckDB engine):

* ``D.T__increments``: the raw incremental exports, one ``line string`` column (text, a field
  delimiter JSON lines cannot contain), partition ``window_label`` = the window's export
  ``data/`` folder only;
* ``D.T__full_exports``: the raw full exports the chain reads (seeds, re-seeds, comparison
  exports), the same shape, partition ``export_id`` = that export's ``data/`` folder;
* ``D.T_changes``: Iceberg, ``PARTITIONED BY (change_date)``: a query for one day reads one day;
* ``D.T_current``: Iceberg, maintained with ``MERGE INTO`` (deletes included);
* ``D.T__chain``: Iceberg ledger, one row per seed / window / gap; each row also carries the
  column plan in force after it (``plan``: key attributes, cumulative attribute statistics,
  columns), so the plan commits with the step that made it.

Athena has no multi-statement transaction, so applying a step is a sequence of statements
each of which is safe to repeat after a crash (every Iceberg statement is one atomic commit):

1. ``ALTER TABLE T__increments ADD IF NOT EXISTS PARTITION``;
2. schema evolution (``ALTER TABLE ADD COLUMNS`` / ``DROP COLUMN`` + ``UPDATE``), decided by
   comparing the new plan with the ledger's (committed) plan and with the catalog, so a
   repeated run re-does exactly what is not committed yet;
3. ``INSERT INTO T_changes ... WHERE NOT EXISTS`` (rows of this window): inserted once; the
   operation of a NEW_IMAGE record is decided against current *before* the MERGE, and a
   retry never re-decides it;
4. ``MERGE INTO T_current`` from those change rows: sets every key the window touches to its
   NewImage or deletes it, whatever the previous state, so repeating it is harmless;
5. the ledger row (``INSERT ... WHERE NOT EXISTS``) comes last and is what marks the step
   applied; a window is only applied when its From is the ledger's last To.

DDL (HiveQL) backticks every identifier with :func:`ddb_assets.sql.identifiers.hive_ident`
(``_ddb_key``, a column named after an attribute ``date`` or ``1st``: HiveQL reads none of them
bare); DML (Trino) double-quotes them with :func:`~ddb_assets.sql.identifiers.quote_ident`; values from
data only reach SQL through :func:`~ddb_assets.sql.literals.sql_literal`. Every
statement is checked with sqlglot's athena dialect by the runner (``check_athena_sql``).

Timestamps: ``write_ts`` is ``from_unixtime_nanos(WriteTimestampMicros * 1000)`` cast to
``timestamp(6)`` (``from_unixtime`` would round to milliseconds); Iceberg's ``timestamp`` is
``timestamp(6)``, so every timestamp written is cast to that precision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ddb_assets import table_names
from ddb_assets.incremental.model import SOURCE_INCREMENTAL
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.sql.identifiers import (
    hive_ident,
    hive_qualified,
    qualified,
    quote_ident,
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

_FIXED = [
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


def _ddl_col(name: str) -> str:
    """A column name in HiveQL DDL: a valid catalog name, backticked."""
    return hive_ident(validate_catalog_name(name, "column"))


def _ddl_cols(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{_ddl_col(c)} {t}" for c, t in columns)


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
    changes = _ddl_cols(
        list(_FIXED) + [(c, p.type.hive()) for c, _, p in change_columns(plans, key_attributes)]
    )
    current = _ddl_cols([(p.column, p.type.hive()) for p in plans] + list(CURRENT_META))
    if n.export_format == "ION":
        inc_cols = athena_ion.hive_columns(athena_ion.INCREMENTAL_IMAGES, with_item_map=False)
        full_cols = athena_ion.hive_columns(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
        inc_fmt = athena_ion.hive_row_format(athena_ion.INCREMENTAL_IMAGES, with_item_map=False)
        full_fmt = athena_ion.hive_row_format(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
    else:
        inc_cols = full_cols = f"{_ddl_col('line')} string"
        inc_fmt = full_fmt = _RAW_FORMAT
    return [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {n.ddl(table_names.INCREMENTS)} ({inc_cols}) "
        f"PARTITIONED BY ({_ddl_col('window_label')} string) {inc_fmt} LOCATION {sql_literal(base + '/increments/')}",
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {n.ddl(table_names.FULL_EXPORTS)} ({full_cols}) "
        f"PARTITIONED BY ({_ddl_col('export_id')} string) {full_fmt} LOCATION {sql_literal(base + '/full_exports/')}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CHANGES)} ({changes}) PARTITIONED BY ({_ddl_col('change_date')}) "
        f"LOCATION {sql_literal(base + '/changes/')} {_ICEBERG}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CURRENT)} ({current}) "
        f"LOCATION {sql_literal(base + '/current/')} {_ICEBERG}",
        f"CREATE TABLE IF NOT EXISTS {n.ddl(table_names.CHAIN)} ({_ddl_cols(LEDGER)}) "
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
        f"ALTER TABLE {n.ddl(raw_suffix)} ADD IF NOT EXISTS PARTITION ({_ddl_col(key)} = {sql_literal(value)}) "
        f"LOCATION {sql_literal(data_s3_uri.rstrip('/') + '/')}"
    )


# --- item images -----------------------------------------------------------------------

_ITEM = "json_extract(line, '$.Item')"


def _map(json_sql: str) -> str:
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


def _with_fits(plans: Sequence[ColumnPlan], query: str, maps: dict[str, str]) -> tuple[str, dict]:
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


def _records_from_lines(lines_sql: str) -> str:
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
        f"SELECT {_map('x')} AS item FROM ({_records_from_lines(window_lines_sql(n, window))}) "
        f"CROSS JOIN UNNEST(ARRAY[keys_json, new_json, old_json]) AS u(x) WHERE x IS NOT NULL"
    )


def export_items_sql(n: Names, export_id: str) -> str:
    return f"SELECT {_map(_ITEM)} AS item FROM ({export_lines_sql(n, export_id)})"


# --- change rows, MERGE, ledger ------------------------------------------------------------


def _change_select(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    source: str,
    generation: int,
    window_from: datetime,
    window_to: datetime,
    export_arn: str | None,
    view_type: str,
    tz: str,
    only: set[str] | None = None,
) -> str:
    cols = [c for c in change_columns(plans, key_attributes) if only is None or c[0] in only]
    roots = {"Keys": "keys", "NewImage": "new_map", "OldImage": "old_map"}
    inner = (
        f"SELECT ts, from_unixtime_nanos(ts * 1000) AS wts, {key_text_sql(key_attributes, _map('keys_json'))} "
        f"AS item_key, json_format(new_json) AS new_image, json_format(old_json) AS old_image, "
        f"{_map('keys_json')} AS keys, {_map('new_json')} AS new_map, {_map('old_json')} AS old_map "
        f"FROM ({records_sql})"
    )
    inner, fits = _with_fits(
        [p for _, _, p in cols],
        inner,
        {"keys": "keys_fits", "new_map": "new_fits", "old_map": "old_fits"},
    )
    typed = [
        f"{typed_sql(p, roots[root], fits[roots[root]])} AS {quote_ident(c)}" for c, root, p in cols
    ]
    op_new_image = (
        f"WHEN {sql_literal(view_type)} = 'NEW_IMAGE' AND item_key IN (SELECT _ddb_key FROM {n.current}) "
        "THEN 'MODIFY' "
    )
    arn = sql_literal(export_arn) if export_arn else "CAST(NULL AS varchar)"
    return (
        f"SELECT {change_date_sql('wts', tz)} AS change_date, "
        f"CAST(wts AS {TS}) AS write_ts, ts AS write_micros, "
        f"CASE WHEN new_image IS NULL THEN 'REMOVE' WHEN old_image IS NOT NULL THEN 'MODIFY' {op_new_image}"
        f"ELSE 'INSERT' END AS operation, {sql_literal(source)} AS source, {int(generation)} AS generation, "
        f"CAST({ts_literal(window_from)} AS {TS}) AS window_from, CAST({ts_literal(window_to)} AS {TS}) AS window_to, "
        f"{arn} AS export_arn, item_key, new_image, old_image"
        + "".join(", " + t for t in typed)
        + f" FROM ({inner})"
    )


def change_date_sql(wts: str, tz: str) -> str:
    """The local date (in ``tz``) of ``wts``, a ``timestamp(9) with time zone``. Cast to a date
    directly: Trino ROUNDS when it lowers a timestamp's precision, so a write at
    23:59:59.9995 cast to ``timestamp`` (milliseconds) first would land on the next day."""
    return f"CAST({wts} AT TIME ZONE {sql_literal(tz)} AS date)"


def _step_where(generation: int, window_from: datetime, source: str) -> str:
    return (
        f"generation = {int(generation)} AND window_from = CAST({ts_literal(window_from)} AS {TS}) "
        f"AND source = {sql_literal(source)}"
    )


def insert_changes_sql(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    source: str,
    generation: int,
    window_from: datetime,
    window_to: datetime,
    export_arn: str | None,
    view_type: str = "NEW_AND_OLD_IMAGES",
    tz: str = "UTC",
    only: set[str] | None = None,
) -> str:
    """The step's change rows, inserted once (nothing when the step's rows are there);
    ``only``: the typed columns to fill (all by default; the others stay NULL)."""
    names = [c for c, _ in _FIXED] + [
        c for c, _, _ in change_columns(plans, key_attributes) if only is None or c in only
    ]
    select = _change_select(
        n,
        plans,
        key_attributes,
        records_sql,
        source=source,
        generation=generation,
        window_from=window_from,
        window_to=window_to,
        export_arn=export_arn,
        view_type=view_type,
        tz=tz,
        only=only,
    )
    return (
        f"INSERT INTO {n.changes} ({', '.join(quote_ident(c) for c in names)}) SELECT * FROM ({select}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.changes} WHERE {_step_where(generation, window_from, source)})"
    )


def insert_changes_statements(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    budget: int = STATEMENT_BUDGET,
    **step,
) -> list[str]:
    """:func:`insert_changes_sql` kept under ``budget`` bytes (Athena refuses query text over
    262,144 bytes): one INSERT with as many typed columns as fit, then ``UPDATE``s of this
    step's rows that derive the other typed columns from the stored raw images. The INSERT
    happens once (``WHERE NOT EXISTS``); each UPDATE recomputes its columns from the raw
    images, so every statement can be repeated after a crash."""
    full = insert_changes_sql(n, plans, key_attributes, records_sql, **step)
    if len(full.encode("utf-8")) <= budget:
        return [full]
    cols = change_columns(plans, key_attributes)
    base = len(insert_changes_sql(n, plans, key_attributes, records_sql, only=set(), **step))
    # the INSERT's share of each typed column: its name, its expression, its fit check entry
    size, chosen = base + 12_000, set()  # the fits maps' fixed part
    for c, root, p in cols:
        roots = {"Keys": "keys", "NewImage": "new_map", "OldImage": "old_map"}
        piece = len(typed_sql(p, roots[root], "f")) + 2 * len(quote_ident(c)) + 60
        if size + piece > budget:
            break
        chosen.add(c)
        size += piece
    rest = [col for col in cols if col[0] not in chosen]
    where = _step_where(step["generation"], step["window_from"], step["source"])
    return [
        insert_changes_sql(n, plans, key_attributes, records_sql, only=chosen, **step),
        *rederive_statements(n.changes, rest, budget, where=where),
    ]


def merge_sql(
    n: Names, plans: Sequence[ColumnPlan], *, generation: int, window_from: datetime, source: str
) -> str:
    """Apply one step's change rows to the current table (deletes included)."""
    sets = [f"{quote_ident(p.column)} = s.{quote_ident('new_' + p.column)}" for p in plans]
    sets += [
        "_ddb_item = s.new_image",
        "_ddb_write_ts = s.write_ts",
        "_ddb_window_to = s.window_to",
    ]
    ins_cols = [quote_ident(p.column) for p in plans] + [c for c, _ in CURRENT_META]
    ins_vals = [f"s.{quote_ident('new_' + p.column)}" for p in plans] + [
        "s.item_key",
        "s.new_image",
        "s.write_ts",
        "s.window_to",
    ]
    return (
        f"MERGE INTO {n.current} AS t USING (SELECT * FROM {n.changes} WHERE "
        f"{_step_where(generation, window_from, source)}) AS s ON t._ddb_key = s.item_key "
        f"WHEN MATCHED AND s.operation = 'REMOVE' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s.operation <> 'REMOVE' THEN INSERT ({', '.join(ins_cols)}) "
        f"VALUES ({', '.join(ins_vals)})"
    )


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    kind: str
    generation: int
    window_from: datetime | None
    window_to: datetime
    export_arn: str | None
    records: int
    note: str | None
    plan: str


def _opt(value: str | None, sql_type: str = "varchar") -> str:
    return sql_literal(value) if value is not None else f"CAST(NULL AS {sql_type})"


def ledger_insert_sql(n: Names, entries: Sequence[LedgerEntry], *, unless: str) -> str:
    """Append ledger rows in one commit, unless a row matching ``unless`` is there."""
    rows = []
    for e in entries:
        wf = (
            f"CAST({ts_literal(e.window_from)} AS {TS})" if e.window_from else f"CAST(NULL AS {TS})"
        )
        rows.append(
            f"({int(e.seq)}, {sql_literal(e.kind)}, {int(e.generation)}, {wf}, "
            f"CAST({ts_literal(e.window_to)} AS {TS}), {_opt(e.export_arn)}, CAST({int(e.records)} AS bigint), "
            f"{_opt(e.note)}, CAST(current_timestamp AT TIME ZONE 'UTC' AS {TS}), {sql_literal(e.plan)})"
        )
    names = ", ".join(c for c, _ in LEDGER)
    return (
        f"INSERT INTO {n.ledger} ({names}) SELECT * FROM (VALUES {', '.join(rows)}) AS v({names}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.ledger} WHERE {unless})"
    )


def window_applied_where(generation: int, window: Window) -> str:
    return (
        f"kind = 'window' AND generation = {int(generation)} AND "
        f"window_from = CAST({ts_literal(window.start)} AS {TS})"
    )


def seed_applied_where(generation: int) -> str:
    return f"kind = 'seed' AND generation = {int(generation)}"


def ledger_select_sql(n: Names) -> str:
    return f"SELECT {', '.join(c for c, _ in LEDGER if c != 'applied_at')} FROM {n.ledger} ORDER BY seq"


def window_statements(
    database: str,
    table: str,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    *,
    generation: int,
    window: Window,
    export_arn: str,
    view_type: str = "NEW_AND_OLD_IMAGES",
    tz: str = "UTC",
    export_format: str = "DYNAMODB_JSON",
) -> list[str]:
    """The change rows and the MERGE of one window, once its raw partition is registered
    (:func:`add_partition_sql`: discovery reads it first) and its columns exist; the ledger
    row (:func:`ledger_insert_sql`) follows them. See the module docs for why each is safe
    to repeat."""
    n = Names(database, table, export_format)
    return [
        *insert_changes_statements(
            n,
            plans,
            key_attributes,
            _records_from_lines(window_lines_sql(n, window)),
            source=SOURCE_INCREMENTAL,
            generation=generation,
            window_from=window.start,
            window_to=window.end,
            export_arn=export_arn,
            view_type=view_type,
            tz=tz,
        ),
        merge_sql(
            n, plans, generation=generation, window_from=window.start, source=SOURCE_INCREMENTAL
        ),
    ]


# --- seed, re-seed -----------------------------------------------------------------------------


def seed_current_sql(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    export_id: str,
    seed_time: datetime,
) -> str:
    """Fill the (empty) current table from a full export (nothing when it has rows)."""
    cols = [quote_ident(p.column) for p in plans] + [quote_ident(c) for c, _ in CURRENT_META]
    items, fits = _with_fits(
        plans,
        f"SELECT {_ITEM} AS item_json, {_map(_ITEM)} AS item FROM ({export_lines_sql(n, export_id)})",
        {"item": "fits"},
    )
    vals = [typed_sql(p, "item", fits["item"]) for p in plans] + [
        key_text_sql(key_attributes, "item"),
        "json_format(item_json)",
        f"CAST(NULL AS {TS})",
        f"CAST({ts_literal(seed_time)} AS {TS})",
    ]
    return (
        f"INSERT INTO {n.current} ({', '.join(cols)}) SELECT {', '.join(vals)} FROM ({items}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.current})"
    )


def net_change_sql(
    n: Names, key_attributes: Sequence[str], export_id: str, seed_time: datetime
) -> str:
    """(ts, keys_json, new_json, old_json) of every item whose image differs between the
    current table and a fresh full export (FULL OUTER JOIN on the key; images compared as
    canonical JSON: ``json_parse`` orders object keys), write time = the seed time."""
    micros = int(utc(seed_time).timestamp()) * 1_000_000 + utc(seed_time).microsecond
    return (
        f"SELECT CAST({micros} AS bigint) AS ts, json_parse(coalesce(c.k, s.k)) AS keys_json, s.item_json AS new_json, "
        f"json_parse(c.item) AS old_json FROM (SELECT _ddb_key AS k, _ddb_item AS item FROM {n.current}) AS c "
        f"FULL OUTER JOIN (SELECT {key_text_sql(key_attributes, 'item')} AS k, item_json FROM ("
        f"SELECT {_ITEM} AS item_json, {_map(_ITEM)} AS item "
        f"FROM ({export_lines_sql(n, export_id)}))) AS s ON c.k = s.k "
        f"WHERE c.k IS NULL OR s.k IS NULL "
        f"OR json_format(json_parse(c.item)) <> json_format(json_parse(json_format(s.item_json)))"
    )


def net_change_items_sql(
    n: Names, key_attributes: Sequence[str], export_id: str, seed_time: datetime
) -> str:
    """The re-seed's discovery input: every image of the net change plus the seed's items (as
    the DuckDB engine discovers over both)."""
    return (
        f"SELECT {_map('x')} AS item FROM ({net_change_sql(n, key_attributes, export_id, seed_time)}) "
        f"CROSS JOIN UNNEST(ARRAY[keys_json, new_json, old_json]) AS u(x) WHERE x IS NOT NULL "
        f"UNION ALL {export_items_sql(n, export_id)}"
    )


# --- schema evolution ----------------------------------------------------------------------


def add_columns_sql(
    database: str, table_suffix_name: str, columns: Sequence[tuple[str, str]]
) -> str:
    validate_catalog_name(database, "database")
    validate_catalog_name(table_suffix_name, "table")
    return f"ALTER TABLE {hive_qualified(database, table_suffix_name)} ADD COLUMNS ({_ddl_cols(columns)})"


def drop_column_sql(database: str, table_suffix_name: str, column: str) -> str:
    validate_catalog_name(database, "database")
    validate_catalog_name(table_suffix_name, "table")
    return (
        f"ALTER TABLE {hive_qualified(database, table_suffix_name)} DROP COLUMN {_ddl_col(column)}"
    )


# The raw JSON each typed column is re-derived from when its type changes.
RAW_SOURCES = {
    "Keys": "item_key",
    "NewImage": "new_image",
    "OldImage": "old_image",
    "Item": "_ddb_item",
}


MAX_PARTITIONS = 100  # Athena writes at most 100 partitions per statement


def partition_batches(column: str, values: Sequence, size: int = MAX_PARTITIONS) -> list[str]:
    """WHERE conditions that split ``values`` of a date partition column into ranges of at
    most ``size`` distinct values each (for statements that rewrite every partition)."""
    ordered = sorted(set(values))
    out = []
    for i in range(0, len(ordered), size):
        lo, hi = ordered[i], ordered[i + size - 1 if i + size - 1 < len(ordered) else -1]
        out.append(
            f"{quote_ident(column)} BETWEEN DATE '{lo.isoformat()}' AND DATE '{hi.isoformat()}'"
        )
    return out


def change_dates_sql(n: Names) -> str:
    return f"SELECT DISTINCT change_date FROM {n.changes}"


def _rederive_set(c: str, root: str, p: ColumnPlan) -> str:
    return f"{quote_ident(c)} = {typed_sql(p, _map('json_parse(' + RAW_SOURCES[root] + ')'))}"


def rederive_sql(
    qualified_table: str, columns: Sequence[tuple[str, str, ColumnPlan]], where: str = ""
) -> str:
    """``UPDATE`` that recomputes typed columns from the stored raw images; ``columns`` are
    (column, root in :data:`RAW_SOURCES`, plan)."""
    sql = f"UPDATE {qualified_table} SET {', '.join(_rederive_set(*c) for c in columns)}"
    return sql + (f" WHERE {where}" if where else "")


def rederive_statements(
    qualified_table: str,
    columns: Sequence[tuple[str, str, ColumnPlan]],
    budget: int = STATEMENT_BUDGET,
    where: str = "",
) -> list[str]:
    """:func:`rederive_sql` split into as few ``UPDATE`` statements as keep each under
    ``budget`` bytes (Athena refuses query text over 262,144 bytes). Each recomputes its
    columns from the raw images, so any of them can be repeated after a crash."""
    head = f"UPDATE {qualified_table} SET "
    tail = f" WHERE {where}" if where else ""
    budget -= len(tail.encode("utf-8"))
    out: list[str] = []
    sets: list[str] = []
    size = len(head)
    for c in columns:
        piece = _rederive_set(*c)
        n = len(piece.encode("utf-8")) + 2
        if sets and size + n > budget:
            out.append(head + ", ".join(sets) + tail)
            sets, size = [], len(head)
        sets.append(piece)
        size += n
    if sets:
        out.append(head + ", ".join(sets) + tail)
    return out


def count_sql(qualified_table: str, where: str = "") -> str:
    return f"SELECT count(*) FROM {qualified_table}" + (f" WHERE {where}" if where else "")


def operations_sql(n: Names, generation: int, window_from: datetime, source: str) -> str:
    return (
        f"SELECT operation, count(*) FROM {n.changes} WHERE {_step_where(generation, window_from, source)} "
        f"GROUP BY operation"
    )
