"""Materialize a summary in the local DuckDB warehouse.

The DuckDB schema is named like the Athena database, so with the search path set to it
both ``tablename`` and ``<database>.tablename`` resolve as they do in Athena.
``CREATE OR REPLACE TABLE`` runs inside one transaction: readers see the old table until
the commit, and a failure rolls back to the old table.
"""

from __future__ import annotations

import time
from typing import Any

import sqlglot

from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.sql.lineage import LineageError, column_lineage
from ddb_assets.sql.literals import sql_literal
from ddb_assets.sql.transpile import TranspileError, athena_to_duckdb
from ddb_assets.summaries.result import PREVIEW_ROWS, SummaryResult, markdown_table
from ddb_assets.summaries.spec import SummaryError, SummarySpec


def _athena_type(duckdb_type: str) -> str:
    try:
        return sqlglot.exp.DataType.build(duckdb_type, dialect="duckdb").sql("athena")
    except Exception:  # an exotic type only loses precision in lineage typing
        return "varchar"


def _table_columns(con: Any, schema: str, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def upstream_schema(con: Any, schema: str, tables: list[str] | tuple[str, ...]) -> dict:
    """``{table: {column: athena_type}}`` for the given tables of ``schema``."""
    out: dict[str, dict[str, str]] = {}
    for t in tables:
        cols = _table_columns(con, schema, t)
        if cols:
            out[t] = {c: _athena_type(ty) for c, ty in cols}
    return out


def materialize_duckdb(con: Any, spec: SummarySpec, schema: str) -> SummaryResult:
    """Build ``"<schema>"."<spec.name>"`` from the summary's SELECT, atomically.

    ``con`` is a DuckDB connection. Its TimeZone is UTC (Athena's session zone) and its
    search path ``<schema>`` while the statement runs; both are restored afterwards.
    """
    schema = validate_catalog_name(schema, what="schema")
    name = validate_catalog_name(spec.name, what="summary name")
    target = qualified(schema, name)
    upstream = upstream_schema(con, schema, spec.deps)
    try:
        select_sql = athena_to_duckdb(spec.sql, schema=upstream)
    except TranspileError as exc:
        raise SummaryError(f"{spec.path.name}: {exc}") from exc
    statement = f"CREATE OR REPLACE TABLE {target} AS\n{select_sql}"

    old_path = con.execute("SELECT current_setting('search_path')").fetchone()[0]
    old_tz = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    started = time.monotonic()
    con.execute("LOAD icu")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    con.execute(f"SET search_path = {sql_literal(schema)}")
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(statement)
            row_count = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
            cur = con.execute(f"SELECT * FROM {target} LIMIT {PREVIEW_ROWS}")
            preview_cols = [d[0] for d in cur.description]
            preview_rows = cur.fetchall()
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            raise SummaryError(
                f"{spec.path.name}: building {schema}.{name} on DuckDB failed "
                f"(the previous table is unchanged): {exc}"
            ) from exc
    finally:
        con.execute(f"SET search_path = {sql_literal(old_path)}")
        con.execute(f"SET TimeZone = {sql_literal(old_tz)}")
    elapsed_ms = int((time.monotonic() - started) * 1000)

    try:
        lineage = column_lineage(spec.sql, upstream, database=spec.database or schema)
    except LineageError:
        lineage = {}
    return SummaryResult(
        table_name=f"{schema}.{name}",
        row_count=int(row_count),
        columns=_table_columns(con, schema, name),
        column_lineage=lineage,
        sql=statement,
        query_ids=[],
        bytes_scanned=None,
        elapsed_ms=elapsed_ms,
        preview=markdown_table(preview_cols, preview_rows),
        location=None,
        engine="duckdb",
    )
