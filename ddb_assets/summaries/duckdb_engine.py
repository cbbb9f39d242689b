"""Materialize a summary in the local DuckDB warehouse.

The DuckDB schema is named like the Athena database, so with the search path set to it
both ``tablename`` and ``<database>.tablename`` resolve as they do in Athena.
``CREATE OR REPLACE TABLE`` runs inside one transaction: readers see the old table until
the commit, and a failure rolls back to the old table.

Summary SQL is user SQL, so it runs on a connection DuckDB itself sandboxes
(:func:`sandbox_connect`): external access off (no files, URLs, ``ATTACH``, ``COPY``,
``INSTALL``/``LOAD`` of anything not built in), extension auto-install and auto-load off,
and the configuration locked (no ``SET``/``RESET``, so the sandbox cannot be lifted). The
only directory left readable is the warehouse's own snapshot folder, which the typed
tables' views read. :func:`materialize_duckdb` refuses any other connection. Table
functions in FROM and the functions that read settings are refused earlier still, when the
summary files are loaded (:mod:`ddb_assets.summaries.spec`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import duckdb
import sqlglot

from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.sql.lineage import LineageError, column_lineage
from ddb_assets.sql.literals import path_literal, sql_literal
from ddb_assets.sql.transpile import TranspileError, athena_to_duckdb
from ddb_assets.summaries.result import PREVIEW_ROWS, SummaryResult, markdown_table
from ddb_assets.summaries.spec import SummaryError, SummarySpec
from ddb_assets.tables.transactions import rollback_quietly

# Fixed when the database instance starts: a sandboxed connection never shares an instance
# with an ordinary one (DuckDB refuses a second connection with another configuration).
_SANDBOX_START = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def sandbox_connect(
    database: str | os.PathLike = ":memory:", *, readable: Sequence[str | os.PathLike] = ()
):
    """A DuckDB connection to ``database`` for user SQL: it can read and write the
    database's tables and read the Parquet files under the database's snapshot folder (and
    ``readable``), nothing else. Session zone UTC (Athena's), ICU loaded (built in)."""
    from ddb_assets.tables.duckdb import snapshot_root

    con = duckdb.connect(str(database), config=dict(_SANDBOX_START))
    try:
        con.execute("LOAD icu")
        con.execute("SET TimeZone = 'UTC'")
        dirs = [snapshot_root(con), *readable]
        listed = ", ".join(path_literal(os.path.join(os.path.abspath(d), "")) for d in dirs)
        con.execute(f"SET allowed_directories = [{listed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _require_sandbox(con: Any) -> None:
    external, locked, zone = con.execute(
        "SELECT current_setting('enable_external_access'), "
        "current_setting('lock_configuration'), current_setting('TimeZone')"
    ).fetchone()
    if external or not locked or zone != "UTC":
        raise SummaryError(
            "summaries run only on a sandboxed DuckDB connection (external access off, "
            "configuration locked, zone UTC): open it with "
            "ddb_assets.summaries.duckdb_engine.sandbox_connect(<warehouse file>)"
        )


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

    ``con`` is a connection from :func:`sandbox_connect` (anything else is refused). Its
    search path is ``<schema>`` while the statement runs, restored afterwards.
    """
    _require_sandbox(con)
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
    started = time.monotonic()
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    con.execute(f"SET search_path = {sql_literal(schema)}")
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
            rollback_quietly(con)  # a failed COMMIT already ended it; keep its error
            if isinstance(exc, duckdb.PermissionException):
                raise SummaryError(
                    f"{spec.path.name}: refused by the DuckDB sandbox (summaries read the "
                    f"warehouse's tables only: no files, URLs or extensions); {schema}.{name} "
                    f"is unchanged: {str(exc).splitlines()[0]}"
                ) from exc
            raise SummaryError(
                f"{spec.path.name}: building {schema}.{name} on DuckDB failed "
                f"(the previous table is unchanged): {exc}"
            ) from exc
    finally:
        con.execute(f"SET search_path = {sql_literal(old_path)}")
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
