"""Athena (production) SQL for the change history: Iceberg tables and the per-window MERGE.

Layout per table ``T`` in database ``D`` (the same columns as the DuckDB engine):

* ``D.T__increments``: the raw incremental exports, one ``line string`` column (text, a field
  delimiter JSON lines cannot contain), partition ``window_label`` = the window's export
  ``data/`` folder only;
* ``D.T_changes``: Iceberg, ``PARTITIONED BY (change_date)``: a query for one day reads one day;
* ``D.T_current``: Iceberg, maintained with ``MERGE INTO`` (deletes included);
* ``D.T__chain``: Iceberg ledger, one row per seed / window / gap.

Applying a window is four statements (:func:`window_statements`): delete that window's
change rows, insert them, MERGE them into current, append the ledger row. Athena has no
multi-statement transaction, so each step is idempotent for the window being applied: the
DELETE+INSERT pair rewrites exactly that window; the MERGE sets every key the window touches
to its NewImage (or deletes it) whatever the previous state, so repeating it after a crash is
harmless; the ledger row comes last and is what marks the window applied (a window is only
ever applied when its From is the ledger's last To, so an older window is never replayed).

DDL names are validated safe names (``[a-z_][a-z0-9_]*``) written bare, as Athena's Hive DDL
wants; DML quotes identifiers with :func:`ddb_assets.sql.identifiers.quote_ident`. Every
statement is checked with sqlglot's athena dialect by the runner (``check_athena_sql``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from ddb_assets.incremental.windows import Window, utc
from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.tables.athena_engine import sql_literal
from ddb_assets.tables.changes import value_sql_athena
from ddb_assets.tables.plan import ROLE_VALUE, ColumnPlan

_FIXED = [("change_date", "date"), ("write_ts", "timestamp"), ("write_micros", "bigint"),
          ("operation", "string"), ("source", "string"), ("generation", "int"),
          ("window_from", "timestamp"), ("window_to", "timestamp"), ("export_arn", "string"),
          ("item_key", "string"), ("new_image", "string"), ("old_image", "string")]


def _ts(t: datetime) -> str:
    return "TIMESTAMP '" + utc(t).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"


def _bare(name: str) -> str:
    return validate_catalog_name(name, "column")


def change_columns(plans: Sequence[ColumnPlan], key_attributes: Sequence[str]) -> list[tuple[str, str, ColumnPlan]]:
    out = [("key_" + p.column, "Keys", p) for p in plans if p.attribute in key_attributes and p.role == ROLE_VALUE]
    out += [("new_" + p.column, "NewImage", p) for p in plans]
    out += [("old_" + p.column, "OldImage", p) for p in plans]
    return out


def ddl_statements(database: str, table: str, plans: Sequence[ColumnPlan], key_attributes: Sequence[str],
                   location: str) -> list[str]:
    """CREATE statements for the raw, change, current and ledger tables (IF NOT EXISTS)."""
    validate_catalog_name(database, "database")
    validate_catalog_name(table, "table")
    base = location.rstrip("/")
    changes = ", ".join([f"{n} {t}" for n, t in _FIXED]
                        + [f"{_bare(c)} {p.type.glue()}" for c, _, p in change_columns(plans, key_attributes)])
    current = ", ".join([f"{_bare(p.column)} {p.type.glue()}" for p in plans]
                        + ["_ddb_key string", "_ddb_item string", "_ddb_write_ts timestamp",
                           "_ddb_window_to timestamp"])
    iceberg = "TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'PARQUET', 'write_compression' = 'ZSTD')"
    return [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table}__increments (line string) "
        f"PARTITIONED BY (window_label string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\u0001' "
        f"LOCATION {sql_literal(base + '/increments/')}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table}_changes ({changes}) PARTITIONED BY (change_date) "
        f"LOCATION {sql_literal(base + '/changes/')} {iceberg}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table}_current ({current}) "
        f"LOCATION {sql_literal(base + '/current/')} {iceberg}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table}__chain (seq int, kind string, generation int, "
        f"window_from timestamp, window_to timestamp, export_arn string, records bigint, note string, "
        f"applied_at timestamp) LOCATION {sql_literal(base + '/chain/')} {iceberg}",
    ]


def window_statements(database: str, table: str, plans: Sequence[ColumnPlan], key_attributes: Sequence[str], *,
                      generation: int, window: Window, export_arn: str, data_s3_uri: str, seq: int,
                      view_type: str = "NEW_AND_OLD_IMAGES", tz: str = "UTC") -> list[str]:
    """The statements that apply one window (see the module docs for why they are safe to repeat)."""
    changes, current = qualified(database, table + "_changes"), qualified(database, table + "_current")
    raw, ledger = qualified(database, table + "__increments"), qualified(database, table + "__chain")
    label = sql_literal(window.label)
    cols = change_columns(plans, key_attributes)
    roots = {"Keys": "keys", "NewImage": "new_map", "OldImage": "old_map"}
    typed = [f"{value_sql_athena(p, f'element_at({roots[root]}, {sql_literal(p.attribute)})')} AS {quote_ident(c)}"
             for c, root, p in cols]
    ts = "from_unixtime(CAST(ts AS double) / 1e6)"
    where_window = f"generation = {int(generation)} AND window_from = {_ts(window.start)} AND source = 'incremental'"
    op_new_image = (f"WHEN {sql_literal(view_type)} = 'NEW_IMAGE' AND item_key IN (SELECT _ddb_key FROM {current}) "
                    "THEN 'MODIFY' ")
    select = (
        f"SELECT CAST(CAST({ts} AT TIME ZONE {sql_literal(tz)} AS timestamp) AS date) AS change_date, "
        f"CAST({ts} AS timestamp) AS write_ts, ts AS write_micros, "
        f"CASE WHEN new_image IS NULL THEN 'REMOVE' WHEN old_image IS NOT NULL THEN 'MODIFY' {op_new_image}"
        f"ELSE 'INSERT' END AS operation, 'incremental' AS source, {int(generation)} AS generation, "
        f"{_ts(window.start)} AS window_from, {_ts(window.end)} AS window_to, {sql_literal(export_arn)} AS export_arn, "
        f"item_key, new_image, old_image" + "".join(", " + t for t in typed) + " FROM ("
        f"SELECT CAST(json_extract_scalar(line, '$.Metadata.WriteTimestampMicros.N') AS bigint) AS ts, "
        f"json_format(json_extract(line, '$.Keys')) AS item_key, "
        f"json_format(json_extract(line, '$.NewImage')) AS new_image, "
        f"json_format(json_extract(line, '$.OldImage')) AS old_image, "
        f"CAST(json_extract(line, '$.Keys') AS map(varchar, json)) AS keys, "
        f"CAST(json_extract(line, '$.NewImage') AS map(varchar, json)) AS new_map, "
        f"CAST(json_extract(line, '$.OldImage') AS map(varchar, json)) AS old_map "
        f"FROM {raw} WHERE window_label = {label})")
    names = [n for n, _ in _FIXED] + [c for c, _, _ in cols]
    sets = [f"{quote_ident(p.column)} = s.{quote_ident('new_' + p.column)}" for p in plans]
    sets += ["_ddb_item = s.new_image", "_ddb_write_ts = s.write_ts", "_ddb_window_to = s.window_to"]
    ins_cols = [quote_ident(p.column) for p in plans] + ["_ddb_key", "_ddb_item", "_ddb_write_ts", "_ddb_window_to"]
    ins_vals = [f"s.{quote_ident('new_' + p.column)}" for p in plans] + [
        "s.item_key", "s.new_image", "s.write_ts", "s.window_to"]
    validate_catalog_name(database, "database")
    validate_catalog_name(table, "table")
    return [
        f"ALTER TABLE {database}.{table}__increments ADD IF NOT EXISTS PARTITION (window_label = {label}) "
        f"LOCATION {sql_literal(data_s3_uri.rstrip('/') + '/')}",
        f"DELETE FROM {changes} WHERE {where_window}",
        f"INSERT INTO {changes} ({', '.join(quote_ident(n) for n in names)}) {select}",
        f"MERGE INTO {current} AS t USING (SELECT * FROM {changes} WHERE {where_window}) AS s "
        f"ON t._ddb_key = s.item_key "
        f"WHEN MATCHED AND s.operation = 'REMOVE' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s.operation <> 'REMOVE' THEN INSERT ({', '.join(ins_cols)}) "
        f"VALUES ({', '.join(ins_vals)})",
        f"INSERT INTO {ledger} VALUES ({int(seq)}, 'window', {int(generation)}, {_ts(window.start)}, "
        f"{_ts(window.end)}, {sql_literal(export_arn)}, CAST(NULL AS bigint), CAST(NULL AS varchar), "
        f"current_timestamp)",
    ]


def applied_sql(database: str, table: str, generation: int, window: Window) -> str:
    """Is this window already in the ledger? (one row: a count)."""
    return (f"SELECT count(*) FROM {qualified(database, table + '__chain')} WHERE kind = 'window' AND "
            f"generation = {int(generation)} AND window_from = {_ts(window.start)}")


def apply_window_athena(runner, database: str, table: str, plans: Sequence[ColumnPlan],
                        key_attributes: Sequence[str], *, generation: int, window: Window, export_arn: str,
                        data_s3_uri: str, seq: int, view_type: str = "NEW_AND_OLD_IMAGES",
                        tz: str = "UTC") -> list[str]:
    """Run the window's statements unless the ledger already has it; returns the query ids."""
    rows = runner.execute(applied_sql(database, table, generation, window)).rows
    if rows and int(rows[0][0] or 0) > 0:
        return []
    ids = []
    for sql in window_statements(database, table, plans, key_attributes, generation=generation, window=window,
                                 export_arn=export_arn, data_s3_uri=data_s3_uri, seq=seq, view_type=view_type,
                                 tz=tz):
        ids.append(runner.execute(sql).query_id)
    return ids
