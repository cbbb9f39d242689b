"""An exported RDS table as a DuckDB snapshot, in the layout the DynamoDB tables use
(:mod:`ddb_assets.tables.duckdb.storage`): one folder of Parquet files per snapshot next to
the warehouse, the metadata tables ``T__columns`` / ``T__loads`` / ``T__files`` and the views
``T__snapshots`` (every day) and ``T`` (the latest day).

One transaction per load. The typed file is written, then the blocking check (rows equal
what the export states) is decided, then the metadata and views switch and COMMIT; a failure
before that rolls back and removes the new file, so the latest view, the file list and the
previous snapshot's files stay exactly as they were. Files replaced by the load are removed
after the COMMIT; files of loads that died earlier are swept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence

from ddb_assets import table_names
from ddb_assets.rds.plan import ZERO_DATE, RdsColumn, RdsLoadResult, TableExport, plan_columns
from ddb_assets.rds.plan import require_row_count as _require_rows
from ddb_assets.sql.identifiers import qualified, quote_ident
from ddb_assets.sql.literals import sql_literal
from ddb_assets.tables import faults, orphans
from ddb_assets.tables.duckdb.storage import (
    FILES_DDL,
    LOADS_DDL,
    META_DDL,
    SnapshotWriter,
    changed_columns,
    read_files_sql,
    record_snapshot,
    remove_files,
    snapshot_root,
    sweep_dead_loads,
    table_exists,
)
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.transactions import rollback_quietly


def value_sql(c: RdsColumn) -> str:
    """The typed value of one exported column (DuckDB): the Parquet value as it is, cast to
    the column's type; a DATE exported as text becomes a DATE (the zero date NULL)."""
    src = quote_ident(c.source)
    if c.decodes_utf8:  # CHAR, written as bytes: UTF-8 text (an invalid byte fails the load)
        src = f"decode({src})"
    if c.converts_date:
        return f"CASE WHEN {src} = {sql_literal(ZERO_DATE)} THEN NULL ELSE CAST({src} AS DATE) END"
    if c.utc and c.type.name == "timestamp":  # the UTC wall clock, whatever the session's zone
        return f"timezone({sql_literal('UTC')}, {src})"
    return f"CAST({src} AS {c.type.duckdb()})"


def history_of(con, schema: str, table: str) -> dict[str, str]:
    """source column -> column name, from the table's earlier snapshots."""
    if not table_exists(con, schema, table_names.columns(table)):
        return {}
    rows = con.execute(
        f"SELECT attribute, column_name FROM {qualified(schema, table_names.columns(table))} "
        "ORDER BY load_seq, ordinal"
    ).fetchall()
    return {a: c for a, c in rows}


def load_rds_snapshot_duckdb(
    con,
    *,
    schema: str,
    table: str,
    snapshot_date: dt.date,
    export: TableExport,
    local_files: Sequence[str],
) -> RdsLoadResult:
    """Load ``export`` (its files already downloaded to ``local_files``) as the
    ``snapshot_date`` snapshot of ``schema.table`` (replacing that day exactly)."""
    meta = qualified(schema, table_names.columns(table))
    loads = qualified(schema, table_names.loads(table))
    files_tbl = qualified(schema, table_names.files(table))
    snapshots = qualified(schema, table_names.snapshots(table))
    view = qualified(schema, table)
    root = snapshot_root(con)
    plans = plan_columns(export, history_of(con, schema, table))
    writer: SnapshotWriter | None = None
    running = contextlib.ExitStack()
    with running:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            con.execute(META_DDL.format(meta=meta))
            con.execute(LOADS_DDL.format(loads=loads))
            con.execute(FILES_DDL.format(files=files_tbl))
            last_seq, prev_date = con.execute(
                f"SELECT max(load_seq), max(snapshot_date) FILTER (WHERE snapshot_date < ?) "
                f"FROM {loads}",
                [snapshot_date],
            ).fetchone()
            load_seq = 1 + (last_seq or 0)
            writer = SnapshotWriter(root, schema, table, snapshot_date, load_seq)
            running.enter_context(orphans.running(writer.prefix))
            cols = [f"CAST($d AS DATE) AS {quote_ident(PARTITION_COLUMN)}"] + [
                f"{value_sql(c)} AS {quote_ident(c.column)}" for c in plans
            ]
            if local_files:
                source = read_files_sql(list(local_files))
            else:  # an empty table has no file; its typed (empty) file carries the columns
                nulls = [
                    f"CAST(NULL AS {c.stored.duckdb()}) AS {quote_ident(c.source)}" for c in plans
                ]
                source = f"(SELECT {', '.join(nulls) or 'NULL AS none'} WHERE false)"
            select = f"SELECT {', '.join(cols)} FROM {source}"
            rows = writer.copy(con, select, {"d": snapshot_date})
            _require_rows(export, rows, f"the DuckDB snapshot {schema}.{table} [{snapshot_date}]")

            replaced = [
                r[0]
                for r in con.execute(
                    f"SELECT file FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date]
                ).fetchall()
            ]
            con.execute(f"DELETE FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date])
            con.execute(f"DELETE FROM {meta} WHERE snapshot_date = ?", [snapshot_date])
            con.execute(f"DELETE FROM {loads} WHERE snapshot_date = ?", [snapshot_date])
            for i, c in enumerate(plans):
                t = c.type.canonical()
                con.execute(
                    f"INSERT INTO {meta} VALUES (?, ?, ?, ?, ?, ?, ?, 'value', ?, NULL, ?, ?)",
                    [
                        snapshot_date,
                        i,
                        c.column,
                        c.column,
                        t,
                        t,
                        c.source,
                        [c.source_type or c.parquet],
                        load_seq,
                        rows,
                    ],
                )
            latest = record_snapshot(
                con,
                root,
                snapshots=snapshots,
                view=view,
                meta=meta,
                files_tbl=files_tbl,
                loads=loads,
                snapshot_date=snapshot_date,
                load_seq=load_seq,
                rows=rows,
                written=writer.written,
            )
            changes = changed_columns(
                con, meta, prev_date, {c.column: (c.type.canonical(), c.source) for c in plans}
            )
            faults.point("before_commit")
            con.execute("COMMIT")
        except BaseException:
            rollback_quietly(con)
            if writer is not None:
                writer.discard()
            raise
    faults.point("after_commit")
    remove_files(root, replaced)
    sweep_dead_loads(con, root, schema, table, files_tbl)
    return RdsLoadResult(
        engine="duckdb",
        snapshot_date=snapshot_date,
        row_count=int(rows),
        columns=plans,
        schema_changes=changes,
        previous_snapshot_date=prev_date,
        latest_snapshot_date=latest,
        view_name=view,
        uri=None,
    )
