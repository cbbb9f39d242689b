"""Test helper: an RDS snapshot export written in the documented layout (pyarrow), as
``ddb_assets/local/rds/CONTRACT.md`` describes it, for tests that do not need MariaDB:

    <prefix>/<id>/export_info_<id>.json
    <prefix>/<id>/export_tables_info_<id>_from_1_to_<n>.json
    <prefix>/<id>/<db>/<db.table>/1/part-00000-<uuid>-c000.gz.parquet, 1/_SUCCESS
"""

from __future__ import annotations

import io
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq


def column(name: str, original: str, exported: str, precision: int = 0) -> dict:
    return {
        "columnName": name,
        "originalType": original,
        "expectedExportedType": exported,
        "originalCharMaxLength": 0,
        "originalNumPrecision": precision,
        "originalDateTimePrecision": 0,
    }


def write_export(
    s3,
    bucket: str,
    prefix: str,
    export_id: str,
    tables: dict[str, tuple[pa.Table | None, list[dict]]],
    *,
    skipped: dict[str, str] | None = None,
    rows_per_file: int = 2,
    success: bool = True,
) -> str:
    """Write an export; ``tables``: target -> (rows, originalTypeMappings). Returns its root key."""
    root = f"{prefix.strip('/')}/{export_id}/" if prefix else f"{export_id}/"
    statuses = []
    for target, (table, mappings) in tables.items():
        db = target.split(".", 1)[0]
        folder = f"{root}{db}/{target}/1/"
        n_files = 0
        if table is not None and table.num_rows:
            for i, start in enumerate(range(0, table.num_rows, rows_per_file)):
                buf = io.BytesIO()
                pq.write_table(
                    table.slice(start, rows_per_file),
                    buf,
                    compression="gzip",
                    store_schema=False,
                )
                key = f"{folder}part-{i:05d}-{uuid.uuid4()}-c000.gz.parquet"
                s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
                n_files += 1
        if success:
            s3.put_object(Bucket=bucket, Key=f"{folder}_SUCCESS", Body=b"")
        statuses.append(
            {
                "tableStatistics": {
                    "extractionStartTime": "2024-01-02T03:04:05.123Z",
                    "extractionEndTime": "2024-01-02T03:04:06.123Z",
                    "partitioningInfo": {
                        "numberOfPartitions": max(n_files, 1),
                        "numberOfCompletedPartitions": max(n_files, 1),
                    },
                },
                "schemaMetadata": {"originalTypeMappings": mappings},
                "status": "COMPLETE",
                "sizeGB": 1e-06,
                "target": target,
            }
        )
    for target, why in (skipped or {}).items():
        statuses.append({"warningMessage": why, "status": "SKIPPED", "target": target})
    s3.put_object(
        Bucket=bucket,
        Key=f"{root}export_tables_info_{export_id}_from_1_to_{len(statuses)}.json",
        Body=json.dumps({"perTableStatus": statuses}).encode(),
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"{root}export_info_{export_id}.json",
        Body=json.dumps(
            {"exportTaskIdentifier": export_id, "status": "COMPLETE", "percentProgress": 100}
        ).encode(),
    )
    return root
