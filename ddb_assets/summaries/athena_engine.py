"""Materialize a summary in Athena, swapped in atomically through the Glue Data Catalog.

1. CTAS the SELECT into a staging table ``<name>__staging_<run>`` whose data lands in a
   fresh, versioned location ``<root>/<name>/<run_id>/`` (Parquet, zstd). Athena writes the
   data; nothing flows through this process.
2. Read the row count and a preview from the staging table.
3. Swap: one Glue ``update_table`` points the real table at the staging table's
   StorageDescriptor (``create_table`` on the first run), then the staging table's catalog
   entry is deleted (its data is now the real table's).

Why a Glue pointer swap rather than a view swap: ``update_table`` is a single atomic catalog
write, so a query planned before it reads the complete old version and one planned after
reads the complete new one; the table stays a real Glue table that Spark, Redshift Spectrum
or any Hive-metastore client can read (Athena views are Presto-only), and the column types
in the catalog are the ones Athena produced. Old versions stay in S3 (queries already
running keep reading them; expire them with an S3 lifecycle rule on ``<root>/<name>/``).

If the CTAS fails, the real table is untouched, the staging entry is removed and the error
carries Athena's state-change reason.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from ddb_assets import table_names
from ddb_assets.athena.client import AthenaQueryError, SqlRunner, check_athena_sql
from ddb_assets.sql.identifiers import qualified, validate_catalog_name
from ddb_assets.sql.lineage import LineageError, column_lineage
from ddb_assets.sql.literals import sql_literal
from ddb_assets.summaries.result import PREVIEW_ROWS, SummaryResult, markdown_table
from ddb_assets.summaries.spec import SummaryError, SummarySpec

# TableInput keys that update_table/create_table accept (get_table returns more).
_TABLE_INPUT_KEYS = (
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "TableType",
    "Parameters",
)


def staging_table_name(name: str, run_id: str) -> str:
    suffix = re.sub(r"[^a-z0-9_]+", "_", run_id.lower()).strip("_") or "run"
    return validate_catalog_name(table_names.staging(name, suffix)[:255], what="staging table")


def ctas_sql(spec: SummarySpec, database: str, staging: str, location: str) -> str:
    props = [
        "format = 'PARQUET'",
        "write_compression = 'ZSTD'",
        f"external_location = {sql_literal(location)}",
    ]
    if spec.partitioned_by:
        cols = ", ".join(sql_literal(c) for c in spec.partitioned_by)
        props.append(f"partitioned_by = ARRAY[{cols}]")
    return f"CREATE TABLE {qualified(database, staging)}\nWITH ({', '.join(props)})\nAS\n{spec.sql}"


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "EntityNotFoundException"


def _get_table(glue: Any, database: str, name: str) -> dict | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise


def _delete_table_quietly(glue: Any, database: str, name: str) -> None:
    try:
        glue.delete_table(DatabaseName=database, Name=name)
    except ClientError as exc:
        if not _not_found(exc):
            raise


def _upstream_schema(glue: Any, database: str, deps: tuple[str, ...]) -> dict:
    out: dict[str, dict[str, str]] = {}
    for dep in deps:
        table = _get_table(glue, database, dep)
        if table is None:
            continue
        cols = table.get("StorageDescriptor", {}).get("Columns", []) + table.get(
            "PartitionKeys", []
        )
        out[dep] = {c["Name"]: c.get("Type", "varchar") for c in cols}
    return out


def _run(runner: SqlRunner, sql: str, spec: SummarySpec, what: str):
    try:
        return runner.execute(sql)
    except AthenaQueryError as exc:
        reason = exc.reason or str(exc)
        raise SummaryError(
            f"{spec.path.name}: {what} failed in Athena (query {exc.query_id}, state "
            f"{exc.state}): {reason}"
        ) from exc


def materialize_athena(
    runner: SqlRunner,
    glue_client: Any,
    spec: SummarySpec,
    database: str,
    s3_location_root: str,
    run_id: str,
) -> SummaryResult:
    """CTAS into a versioned location, then atomically swap the Glue table (see module doc).

    ``run_id`` must be unique per attempt (a CTAS refuses a non-empty location).
    """
    database = validate_catalog_name(database, what="database")
    name = validate_catalog_name(spec.name, what="summary name")
    if not re.fullmatch(r"[A-Za-z0-9_.=-]+", run_id or ""):
        raise SummaryError(
            f"run_id {run_id!r} cannot be part of an S3 location; use letters, "
            "digits, '-', '_', '.' or '='"
        )
    if not s3_location_root.startswith("s3://"):
        raise SummaryError(f"s3_location_root {s3_location_root!r} must start with s3://")
    if spec.partitioned_by:
        raise SummaryError(
            f"{spec.path.name}: partitioned_by is not supported for Athena materialization yet "
            "(a partitioned table cannot be swapped atomically with one catalog write); "
            "remove the header line"
        )
    location = f"{s3_location_root.rstrip('/')}/{name}/{run_id}/"
    staging = staging_table_name(name, run_id)

    statements: list[str] = []
    query_ids: list[str] = []
    bytes_scanned = 0
    elapsed_ms = 0

    def account(result) -> None:
        nonlocal bytes_scanned, elapsed_ms
        if result.query_id:
            query_ids.append(result.query_id)
        bytes_scanned += result.bytes_scanned or 0
        elapsed_ms += result.elapsed_ms or 0

    # A crashed earlier attempt with this run_id may have left a staging entry behind.
    _delete_table_quietly(glue_client, database, staging)
    ctas = ctas_sql(spec, database, staging, location)
    check_athena_sql(ctas)
    statements.append(ctas)
    try:
        account(_run(runner, ctas, spec, f"CREATE TABLE {database}.{staging} AS SELECT"))

        count_sql = f"SELECT COUNT(*) AS row_count FROM {qualified(database, staging)}"
        preview_sql = f"SELECT * FROM {qualified(database, staging)} LIMIT {PREVIEW_ROWS}"
        statements += [count_sql, preview_sql]
        counted = _run(runner, count_sql, spec, "counting rows")
        account(counted)
        row_count = int(counted.rows[0][0]) if counted.rows else 0
        previewed = _run(runner, preview_sql, spec, "reading the preview")
        account(previewed)

        staged = _get_table(glue_client, database, staging)
        if staged is None:
            raise SummaryError(
                f"{spec.path.name}: Athena reported success but the staging "
                f"table {database}.{staging} is not in the Glue catalog"
            )
        table_input = {k: staged[k] for k in _TABLE_INPUT_KEYS if k in staged}
        table_input["Name"] = name
        table_input["TableType"] = "EXTERNAL_TABLE"
        if spec.description:
            table_input["Description"] = spec.description[:2048]
        params = dict(table_input.get("Parameters") or {})
        params.update(
            {
                "ddb_assets.summary": name,
                "ddb_assets.run_id": run_id,
                "ddb_assets.source_file": spec.path.name,
            }
        )
        if spec.owners:
            params["ddb_assets.owners"] = ",".join(spec.owners)
        table_input["Parameters"] = params
    except BaseException:
        _delete_table_quietly(glue_client, database, staging)
        raise

    # The swap: one catalog write. Then forget the staging entry (its data is now ours).
    if _get_table(glue_client, database, name) is None:
        glue_client.create_table(DatabaseName=database, TableInput=table_input)
    else:
        glue_client.update_table(DatabaseName=database, TableInput=table_input)
    _delete_table_quietly(glue_client, database, staging)

    sd = table_input.get("StorageDescriptor", {})
    columns = [(c["Name"], c.get("Type", "")) for c in sd.get("Columns", [])]
    try:
        lineage = column_lineage(
            spec.sql, _upstream_schema(glue_client, database, spec.deps), database=database
        )
    except LineageError:
        lineage = {}
    preview_cols = previewed.columns or [c for c, _ in columns]
    return SummaryResult(
        table_name=f"{database}.{name}",
        row_count=row_count,
        columns=columns,
        column_lineage=lineage,
        sql=";\n".join(statements),
        query_ids=query_ids,
        bytes_scanned=bytes_scanned,
        elapsed_ms=elapsed_ms,
        preview=markdown_table(preview_cols, previewed.rows),
        location=location,
        engine="athena",
    )


__all__ = ["materialize_athena", "ctas_sql", "staging_table_name"]
