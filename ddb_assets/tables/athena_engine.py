"""Typed snapshots in Athena: the data never flows through this process.

Steps of :func:`load_snapshot_athena` (each SQL statement goes through a ``SqlRunner``,
which checks it parses as Athena SQL; catalog changes go through the Glue API):

1. Register the raw export: Glue table ``<table>__export`` (one ``line string`` column,
   text input, a field delimiter that valid JSON lines cannot contain) partitioned by
   ``snapshot_date``; the partition's location is the export's ``data/`` folder only.
2. Discover, with one Athena query over every row, each attribute, its DynamoDB types with
   counts, and the shape of its numbers (no sampling).
3. Plan the columns (:mod:`ddb_assets.tables.plan`; names stay stable across snapshots via
   the mapping stored in each partition's parameters).
4. CTAS the typed snapshot into Parquet (zstd) at a unique per-run location
   ``<typed_s3_uri>/snapshot_date=<d>/run_id=<run_id>/``; decide the blocking checks on
   it (row count against the manifest's itemCount, naming the files whose count differs;
   repeated primary keys), then drop the CTAS catalog entry. A failed check raises
   :class:`~ddb_assets.tables.checks.SnapshotCheckError` before any catalog change; a failed
   CTAS or check also removes the run's own folder (:mod:`ddb_assets.athena.run_files`).
5. Point partition ``snapshot_date=<d>`` of ``<table>__snapshots`` at that location through
   Glue (create or update: an atomic swap; readers see the old or the new files, never a
   mix); new columns are added to the table schema; a column whose type changes gets a new
   physical column (``<col>__v2``) so old Parquet files keep being read with their type.
6. ``CREATE OR REPLACE VIEW <table>`` over the latest snapshot, with its column names.

Why Hive-style Parquet partitions and not Iceberg: the swap is one Glue call, a failed run
leaves the previous partition untouched (its files are never overwritten), and no table
maintenance (snapshot expiry, orphan files) is needed for a daily full snapshot.

ION exports are registered with Athena's Ion SerDe and read as the same DynamoDB JSON lines
(:mod:`ddb_assets.tables.athena_ion`), so steps 2-6 are the same statements over a subquery
instead of the raw table. M and L attributes are stored as JSON text of their DynamoDB-typed
form (``{"city":{"S":"Tokyo"}}``): Athena SQL has no recursion to untype nested values; ask
for a ``struct<...>`` override to get typed fields.

The SQL (discovery, number fits, typed values, CTAS) is in :mod:`ddb_assets.tables.athena_typed_sql`
(re-exported here); this module runs it, decides the checks and manages the Glue catalog.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ddb_assets import table_names
from ddb_assets.athena.run_files import remove_refused_output
from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.sql.literals import (
    date_literal,
    sql_literal,  # noqa: F401 - re-exported (callers import it from here)
)
from ddb_assets.tables import athena_ion
from ddb_assets.tables.athena_typed_sql import (  # noqa: F401 - re-exported
    COLUMNS_PARAMETER,
    PARQUET_SERDE,
    RAW_SERDE,
    UnsupportedOnAthena,
    ctas_sql,
    discovery_sql,
    fits_sql,
    stats_from_rows,
    value_sql,
)
from ddb_assets.tables.checks import Expectation, require_row_count, require_unique_keys
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_RAW,
    SnapshotResult,
    UnfitNumbers,
    diff_columns,
    plan_columns,
)
from ddb_assets.tables.types import (
    ColumnOverride,
    parse_type,
)


def _decide_checks(run, database, ctas_table, raw, snapshot_date, plans, expect, source) -> list:
    """Row count, non-null counts of raw number columns and repeated primary keys of the
    CTAS output; raises SnapshotCheckError (naming the files whose item count differs from
    manifest-files.json) before anything is made visible. Returns the counts."""
    raw_plans = [p for p in plans if p.role == ROLE_RAW]
    key_cols = [
        quote_ident(p.physical)
        for a in (expect.key_attributes if expect else ())
        for p in plans
        if p.attribute == a and p.role != ROLE_RAW
    ]
    selects = ["count(*)"] + [f"count({quote_ident(p.physical)})" for p in raw_plans]
    keyed = bool(key_cols) and len(key_cols) == len(expect.key_attributes)
    if keyed:
        selects.append(f"count(*) - count(DISTINCT ({', '.join(key_cols)}))")
    rows = run(f"SELECT {', '.join(selects)} FROM {qualified(database, ctas_table)}").rows
    counts = list(rows[0]) if rows else [0] * len(selects)
    row_count = int(counts[0] or 0)
    if expect is not None and expect.item_count is not None and row_count != expect.item_count:
        per_file = run(
            f'SELECT "$path", count(*) FROM {source or qualified(database, raw)} '
            f"WHERE {quote_ident(PARTITION_COLUMN)} = {date_literal(snapshot_date)} GROUP BY 1"
        ).rows
        by_key = {str(path).split("://", 1)[-1].split("/", 1)[-1]: int(n) for path, n in per_file}
        require_row_count(expect, row_count, {f.name: by_key.get(f.name, 0) for f in expect.files})
    if keyed and int(counts[-1] or 0):
        examples = run(
            f"SELECT {', '.join(key_cols)}, count(*) FROM {qualified(database, ctas_table)} "
            f"GROUP BY {', '.join(key_cols)} HAVING count(*) > 1 LIMIT 5"
        ).rows
        require_unique_keys(expect, int(counts[-1]), [tuple(r) for r in examples])
    return counts[: 1 + len(raw_plans)]


def _glue_upsert_table(glue, database: str, table_input: dict) -> None:
    try:
        glue.get_table(DatabaseName=database, Name=table_input["Name"])
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    else:
        glue.update_table(DatabaseName=database, TableInput=table_input)


def _glue_upsert_partition(
    glue, database: str, table: str, values: list[str], partition_input: dict
) -> None:
    try:
        glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=values)
    except glue.exceptions.EntityNotFoundException:
        glue.create_partition(
            DatabaseName=database, TableName=table, PartitionInput=partition_input
        )
    else:
        glue.update_partition(
            DatabaseName=database,
            TableName=table,
            PartitionValueList=values,
            PartitionInput=partition_input,
        )


def _all_partitions(glue, database: str, table: str) -> list[dict]:
    out: list[dict] = []
    try:
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=table
        ):
            out.extend(page["Partitions"])
    except glue.exceptions.EntityNotFoundException:
        return []
    return out


def register_raw_export(
    glue,
    *,
    database: str,
    table: str,
    snapshot_date: dt.date,
    data_s3_uri: str,
    export_format: str = "DYNAMODB_JSON",
) -> str:
    """Glue table ``<table>__export`` with partition ``snapshot_date`` at the ``data/`` folder:
    text lines for DYNAMODB_JSON, Athena's Ion SerDe for ION (:mod:`.athena_ion`). The
    partition carries its own storage descriptor, so a table whose format changed keeps
    reading each day's export with that day's SerDe."""
    if not re.match(r"^s3://[^/]+/(.+/)?data/?$", data_s3_uri):
        raise ValueError(
            f"data_s3_uri must be the export's data/ folder (s3://.../data/), got {data_s3_uri!r}"
        )
    location = data_s3_uri.rstrip("/") + "/"
    raw = table_names.export(table)
    if export_format == "ION":
        sd = athena_ion.storage_descriptor(location, athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
        classification = "ion"
    else:
        serde = {
            "SerializationLibrary": RAW_SERDE,
            "Parameters": {"field.delim": "\u0001", "serialization.format": "\u0001"},
        }
        sd = {
            "Columns": [{"Name": "line", "Type": "string"}],
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": serde,
        }
        classification = "dynamodb_json"
    _glue_upsert_table(
        glue,
        database,
        {
            "Name": raw,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": classification, "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": PARTITION_COLUMN, "Type": "date"}],
            "StorageDescriptor": dict(sd, Location=location.rsplit("/data/", 1)[0] + "/"),
        },
    )
    values = [snapshot_date.isoformat()]
    _glue_upsert_partition(
        glue,
        database,
        raw,
        values,
        {"Values": values, "StorageDescriptor": dict(sd, Location=location)},
    )
    return raw


def load_snapshot_athena(
    runner,
    glue,
    *,
    database: str,
    table: str,
    snapshot_date: dt.date,
    data_s3_uri: str,
    typed_s3_uri: str,
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    run_id: str,
    expect: Expectation | None = None,
    s3: Callable[[], Any] | None = None,
) -> SnapshotResult:
    """Type one export into partition ``snapshot_date`` of ``<table>__snapshots``.

    ``expect`` (the manifest's item counts and the table's key attributes) is checked on the
    CTAS output before any catalog change: a failed check raises
    :class:`~ddb_assets.tables.checks.SnapshotCheckError` and leaves the partition, the
    latest view and the previous snapshot's files exactly as they were. ``s3`` makes an S3
    client (called only then): a refused run's per-run folder is emptied with it."""
    validate_catalog_name(database, "database")
    validate_catalog_name(table, "table")
    if export_format not in ("DYNAMODB_JSON", "ION"):
        raise ValueError(f"unknown export_format {export_format!r}")
    if not re.match(r"^[A-Za-z0-9_-]{1,64}$", run_id or ""):
        raise ValueError(f"run_id {run_id!r} must be 1-64 letters, digits, '-' or '_'")
    query_ids: list[str] = []
    scanned = 0

    def run(sql: str):
        nonlocal scanned
        res = runner.execute(sql)
        if res.query_id:
            query_ids.append(res.query_id)
        scanned += res.bytes_scanned or 0
        return res

    raw = register_raw_export(
        glue,
        database=database,
        table=table,
        snapshot_date=snapshot_date,
        data_s3_uri=data_s3_uri,
        export_format=export_format,
    )
    source = None
    if export_format == "ION":
        source = athena_ion.snapshot_source_sql(qualified(database, raw), PARTITION_COLUMN)
    stats = stats_from_rows(run(discovery_sql(database, raw, snapshot_date, source)).rows)

    snapshots = table_names.snapshots(table)
    parts = _all_partitions(glue, database, snapshots)
    parts.sort(key=lambda p: p["Values"][0])
    history: dict[str, str] = {}
    by_column: dict[str, tuple[str, str]] = {}  # column -> (physical, type), latest wins
    snapshot_cols: dict[str, list[dict]] = {}
    for part in parts:
        cols = json.loads(part.get("Parameters", {}).get(COLUMNS_PARAMETER, "[]"))
        snapshot_cols[part["Values"][0]] = cols
        for c in cols:
            if c["role"] == "value":
                history[c["attribute"]] = c["column"]
            by_column[c["column"]] = (c["physical"], c["type"])
    try:
        table_cols = glue.get_table(DatabaseName=database, Name=snapshots)["Table"][
            "StorageDescriptor"
        ]["Columns"]
    except glue.exceptions.EntityNotFoundException:
        table_cols = []
    physical_types = {c["Name"]: c["Type"] for c in table_cols}
    previous_types = {col: parse_type(t) for col, (_, t) in by_column.items()}
    plans, conflicts = plan_columns(
        stats, overrides, history=history, previous_types=previous_types
    )
    for p in plans:
        prev = by_column.get(p.column)
        if prev is not None and prev[1] == p.type.canonical():
            p.physical = prev[0]
            continue
        name, n = p.column, 1
        while name in physical_types:
            n += 1
            name = f"{p.column}__v{n}"
        physical_types[name] = p.type.glue()
        table_cols.append({"Name": name, "Type": p.type.glue(), "Comment": p.attribute[:255]})
        p.physical = name

    location = f"{typed_s3_uri.rstrip('/')}/{PARTITION_COLUMN}={snapshot_date.isoformat()}/run_id={run_id}/"
    ctas_table = table_names.ctas(table, re.sub(r"[^a-z0-9_]", "_", run_id.lower()))
    try:
        run(ctas_sql(database, ctas_table, raw, snapshot_date, plans, location, source))
        # The blocking checks, on the CTAS output, before any catalog change.
        counts = _decide_checks(
            run, database, ctas_table, raw, snapshot_date, plans, expect, source
        )
    except Exception as exc:
        # Refused (a failed statement or check): the run's own folder goes, unless a
        # partition already points there (a retried step of a run that had swapped it in).
        if location not in {p["StorageDescriptor"].get("Location") for p in parts}:
            left = remove_refused_output(s3, location)
            if left:
                exc.add_note(left)
        raise
    finally:  # the one-off CTAS catalog entry goes either way
        try:
            glue.delete_table(DatabaseName=database, Name=ctas_table)
        except glue.exceptions.EntityNotFoundException:
            pass

    sd = {
        "Columns": table_cols,
        "Location": typed_s3_uri.rstrip("/") + "/",
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {}},
    }
    _glue_upsert_table(
        glue,
        database,
        {
            "Name": snapshots,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": PARTITION_COLUMN, "Type": "date"}],
            "StorageDescriptor": sd,
        },
    )
    values = [snapshot_date.isoformat()]
    mapping = [p.as_dict() for p in plans]
    _glue_upsert_partition(
        glue,
        database,
        snapshots,
        values,
        {
            "Values": values,
            "StorageDescriptor": dict(sd, Location=location),
            "Parameters": {
                COLUMNS_PARAMETER: json.dumps(mapping, ensure_ascii=False),
                "run_id": run_id,
            },
        },
    )
    snapshot_cols[values[0]] = mapping

    raw_plans = [p for p in plans if p.role == ROLE_RAW]
    unfit = [
        UnfitNumbers(p.attribute, p.column[: -len("__raw")], p.column, int(c or 0))
        for p, c in zip(raw_plans, counts[1:])
    ]

    latest = max(snapshot_cols)
    view_cols = ", ".join(
        [
            f"{quote_ident(c['physical'])} AS {quote_ident(c['column'])}"
            for c in snapshot_cols[latest]
        ]
        + [quote_ident(PARTITION_COLUMN)]
    )
    run(
        f"CREATE OR REPLACE VIEW {qualified(database, table)} AS SELECT {view_cols} "
        f"FROM {qualified(database, snapshots)} WHERE {quote_ident(PARTITION_COLUMN)} = {date_literal(dt.date.fromisoformat(latest))}"
    )

    prev_dates = [d for d in snapshot_cols if d < values[0]]
    changes = []
    prev_date = None
    if prev_dates:
        prev_date = dt.date.fromisoformat(max(prev_dates))
        old = {c["column"]: (c["type"], c["attribute"]) for c in snapshot_cols[max(prev_dates)]}
        changes = diff_columns(old, {p.column: (p.type.canonical(), p.attribute) for p in plans})
    return SnapshotResult(
        engine="athena",
        snapshot_date=snapshot_date,
        row_count=int(counts[0] or 0),
        columns=[p.info() for p in plans],
        name_map={p.column: p.attribute for p in plans},
        conflicts=conflicts,
        unfit_numbers=unfit,
        schema_changes=changes,
        previous_snapshot_date=prev_date,
        view_name=qualified(database, table),
        physical_table_name=qualified(database, snapshots),
        latest_snapshot_date=dt.date.fromisoformat(latest),
        typed_location=location,
        query_ids=query_ids,
        bytes_scanned=scanned,
    )
