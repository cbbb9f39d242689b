"""An exported RDS table registered for Athena through Glue: no data passes through here.

The export's Parquet files are already what Athena reads, so a day is a catalog change:

1. A transient Glue table ``T__ctas_<run>`` over the day's batch folders; Athena counts
   its rows, and the count must equal what the export states (footers, and
   export_tables_info's statistics when given). A failure raises
   :class:`~ddb_assets.tables.checks.SnapshotCheckError` before any lasting catalog change.
2. Glue table ``T__export`` (the raw export, Parquet, the MySQL column names lower-cased as
   Athena reads them), partitioned by ``snapshot_date`` and ``export_batch`` (RDS's
   batch folder: each Glue partition's location holds its ``part-*.parquet`` files
   directly). The day's partitions are replaced (created, updated, and partitions of an
   earlier export of the day that this one lacks removed); the column mapping and each
   column's description are stored in the partition's parameters.
3. Views ``T__snapshots`` (every day) and ``T`` (the latest day) with the typed columns, the
   same names, types and values as the DuckDB engine's (DATE text becomes ``date``, the zero
   date NULL).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from ddb_assets import table_names
from ddb_assets.rds.plan import ZERO_DATE, RdsColumn, RdsLoadResult, TableExport, plan_columns
from ddb_assets.rds.plan import require_row_count as _require_rows
from ddb_assets.sql.identifiers import qualified, quote_ident
from ddb_assets.sql.literals import date_literal, sql_literal
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import diff_columns
from ddb_assets.tables.types import parse_type

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PART_COLUMN = "export_batch"
COLUMNS_PARAMETER = "ddb_assets.rds_columns"


def physical(c: RdsColumn) -> str:
    """The raw table's column for a source column: its name as Athena reads Parquet
    (case-insensitive, catalog names are lower case)."""
    return c.source.lower()


def value_sql(c: RdsColumn) -> str:
    """The typed value of one raw column (Athena / Trino), as :func:`.duckdb_load.value_sql`."""
    src = quote_ident(physical(c))
    if c.decodes_utf8:
        src = f"from_utf8({src})"
    if c.converts_date:
        return f"CASE WHEN {src} = {sql_literal(ZERO_DATE)} THEN NULL ELSE CAST({src} AS date) END"
    return f"CAST({src} AS {c.type.athena()})"


def _sd(columns: list[dict], location: str) -> dict:
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {}},
    }


def _glue_columns(plans: list[RdsColumn]) -> list[dict]:
    return [
        {"Name": physical(c), "Type": c.stored.glue(), "Comment": c.description[:255]}
        for c in plans
    ]


def _partitions(glue, database: str, table: str) -> list[dict]:
    out: list[dict] = []
    try:
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=table
        ):
            out.extend(page["Partitions"])
    except glue.exceptions.EntityNotFoundException:
        return []
    return out


def _mapping(plans: list[RdsColumn]) -> list[dict]:
    return [
        {
            "column": c.column,
            "source": c.source,
            "type": c.type.canonical(),
            "stored": c.stored.canonical(),
            "parquet": c.parquet,
            "source_type": c.source_type,
        }
        for c in plans
    ]


def _from_mapping(m: dict) -> RdsColumn:
    return RdsColumn(
        column=m["column"],
        source=m["source"],
        type=parse_type(m["type"]),
        parquet=m.get("parquet", ""),
        stored=parse_type(m["stored"]),
        description="",
        source_type=m.get("source_type"),
    )


def _staging_name(table: str, run_id: str) -> str:
    run = re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_")[:40] or "run"
    return table_names.ctas(table, run)


def register_rds_snapshot_athena(
    runner,
    glue,
    *,
    database: str,
    table: str,
    snapshot_date: dt.date,
    export: TableExport,
    batches: tuple[int, ...],
    run_id: str,
) -> RdsLoadResult:
    """Register ``export`` as day ``snapshot_date`` of ``database.table`` (see the module)."""
    raw = table_names.export(table)
    day = snapshot_date.isoformat()
    existing = _partitions(glue, database, raw)
    by_day: dict[str, list[dict]] = {}
    for p in existing:
        by_day.setdefault(p["Values"][0], []).append(p)
    history: dict[str, str] = {}
    for d in sorted(by_day):
        for m in json.loads(by_day[d][0].get("Parameters", {}).get(COLUMNS_PARAMETER, "[]")):
            history[m["source"]] = m["column"]
    plans = plan_columns(export, history)
    columns = _glue_columns(plans)
    folder = export.folder_uri.rstrip("/") + "/"
    query_ids: list[str] = []
    scanned = 0

    # 1. count what Athena reads, before anything lasting changes
    staging = _staging_name(table, run_id)
    staging_input = {
        "Name": staging,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": PART_COLUMN, "Type": "int"}],
        "StorageDescriptor": _sd(columns, folder),
    }
    glue.create_table(DatabaseName=database, TableInput=staging_input)
    try:
        if batches:
            glue.batch_create_partition(
                DatabaseName=database,
                TableName=staging,
                PartitionInputList=[
                    {"Values": [str(i)], "StorageDescriptor": _sd(columns, f"{folder}{i}/")}
                    for i in batches
                ],
            )
        res = runner.execute(f"SELECT count(*) FROM {qualified(database, staging)}")
        rows = int(res.rows[0][0])
        query_ids.append(getattr(res, "query_id", "") or "")
        scanned += int(getattr(res, "bytes_scanned", 0) or 0)
    finally:
        glue.delete_table(DatabaseName=database, Name=staging)
    _require_rows(export, rows, f"Athena's read of {folder}")

    # 2. the raw table and the day's partitions (a swap per partition; stale ones removed)
    known = {}
    try:
        t = glue.get_table(DatabaseName=database, Name=raw)["Table"]
        known = {c["Name"]: c for c in t["StorageDescriptor"]["Columns"]}
    except glue.exceptions.EntityNotFoundException:
        t = None
    for c in columns:
        known[c["Name"]] = c  # the newest type of a column wins at table level
    table_input = {
        "Name": raw,
        "TableType": "EXTERNAL_TABLE",
        "Description": f"RDS export of {export.target}, one partition per day and batch folder",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [
            {"Name": PARTITION_COLUMN, "Type": "date"},
            {"Name": PART_COLUMN, "Type": "int"},
        ],
        "StorageDescriptor": _sd(list(known.values()), folder.rsplit("/", 3)[0] + "/"),
    }
    if t is None:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    else:
        glue.update_table(DatabaseName=database, TableInput=table_input)
    params = {
        COLUMNS_PARAMETER: json.dumps(_mapping(plans), ensure_ascii=False),
        "export_id": export.export_id,
        "run_id": run_id,
    }
    old = {p["Values"][1]: p for p in by_day.get(day, [])}
    for i in batches or (0,):
        values = [day, str(i)]
        location = f"{folder}{i}/" if batches else folder
        part = {"Values": values, "StorageDescriptor": _sd(columns, location), "Parameters": params}
        if str(i) in old:
            glue.update_partition(
                DatabaseName=database, TableName=raw, PartitionValueList=values, PartitionInput=part
            )
        else:
            glue.create_partition(DatabaseName=database, TableName=raw, PartitionInput=part)
    stale = [v for v in old if int(v) not in (batches or (0,))]
    if stale:
        glue.batch_delete_partition(
            DatabaseName=database,
            TableName=raw,
            PartitionsToDelete=[{"Values": [day, v]} for v in stale],
        )
    by_day[day] = [{"Values": [day, "0"], "Parameters": params}]

    # 3. the views
    mappings = {
        d: [_from_mapping(m) for m in json.loads(ps[0]["Parameters"][COLUMNS_PARAMETER])]
        for d, ps in by_day.items()
    }
    mappings[day] = plans
    latest = max(mappings)
    union: dict[str, RdsColumn] = {}
    for d in sorted(mappings):
        for col in mappings[d]:
            union[col.column] = col
    date_col = quote_ident(PARTITION_COLUMN)
    every = ", ".join(
        [date_col] + [f"{value_sql(c)} AS {quote_ident(n)}" for n, c in union.items()]
    )
    runner.execute(
        f"CREATE OR REPLACE VIEW {qualified(database, table_names.snapshots(table))} AS "
        f"SELECT {every} FROM {qualified(database, raw)}"
    )
    newest = ", ".join(
        [f"{value_sql(c)} AS {quote_ident(c.column)}" for c in mappings[latest]] + [date_col]
    )
    runner.execute(
        f"CREATE OR REPLACE VIEW {qualified(database, table)} AS SELECT {newest} "
        f"FROM {qualified(database, raw)} "
        f"WHERE {date_col} = {date_literal(dt.date.fromisoformat(latest))}"
    )
    prev = [d for d in mappings if d < day]
    changes = []
    if prev:
        before = mappings[max(prev)]
        changes = diff_columns(
            {c.column: (c.type.canonical(), c.source) for c in before},
            {c.column: (c.type.canonical(), c.source) for c in plans},
        )
    return RdsLoadResult(
        engine="athena",
        snapshot_date=snapshot_date,
        row_count=rows,
        columns=plans,
        schema_changes=changes,
        previous_snapshot_date=dt.date.fromisoformat(max(prev)) if prev else None,
        latest_snapshot_date=dt.date.fromisoformat(latest),
        view_name=qualified(database, table),
        uri=folder,
        query_ids=[q for q in query_ids if q],
        bytes_scanned=scanned,
    )
