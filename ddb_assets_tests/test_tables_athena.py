"""Athena engine: the snapshot load on Trino (Glue catalog and S3 on moto), and refusals before any side effect."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import boto3
import pytest
import sqlglot
from moto import mock_aws

from ddb_assets.athena.client import RecordingSqlRunner
from ddb_assets.tables import ColumnOverride, load_snapshot_athena
from ddb_assets.tables.athena_engine import sql_literal
from ddb_assets_tests.athena_emulator import AthenaEmulator

DATA = "s3://bucket/exports/orders/AWSDynamoDB/01700000000000-abcdef/data/"
TYPED = "s3://bucket/typed/orders/"


def _put(s3, data_uri: str, items: list[dict]) -> None:
    """An export's data file (DynamoDB JSON lines, gzip) under ``data_uri``, and a manifest
    beside data/ that the raw table must never read."""
    bucket, prefix = data_uri[len("s3://") :].split("/", 1)
    body = "".join(json.dumps({"Item": it}) + "\n" for it in items).encode()
    s3.put_object(Bucket=bucket, Key=prefix + "part-0.json.gz", Body=gzip.compress(body))
    s3.put_object(Bucket=bucket, Key=prefix.replace("/data/", "/manifest-summary.json"), Body=b"{}")


DAY1 = [
    {
        "pk": {"S": "a"},
        "qty": {"N": "1234.56"},
        "tiny": {"N": "1E-130"},
        "O'Brien": {"S": "x"},
        "mixed": {"N": "1"},
        "tags": {"SS": ["x"]},
        "m": {"M": {"k": {"S": "v"}}},
        "when": {"S": "2024-01-01T00:00:00Z"},
    },
    {
        "pk": {"S": "b"},
        "qty": {"N": "1.5"},
        "mixed": {"N": "2"},
        "tags": {"SS": ["y", "z"]},
        "when": {"S": "2024-01-02T00:00:00Z"},
    },
    {
        "pk": {"S": "c"},
        "qty": {"N": "12"},
        "mixed": {"S": "three"},
        "when": {"S": "2024-01-03T00:00:00Z"},
    },
]
DAY2 = [{"pk": {"S": k}, "qty": {"S": f"{k}-many"}, "fresh": {"BOOL": True}} for k in "abc"]
DATA2 = DATA.replace("abcdef", "bcdefa")


@pytest.mark.trino
@mock_aws
def test_register_ctas_swap_and_view():
    glue = boto3.client("glue", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    s3.create_bucket(Bucket="bucket")
    _put(s3, DATA, DAY1)
    _put(s3, DATA2, DAY2)
    runner = AthenaEmulator(glue, s3, database="analytics")
    res = load_snapshot_athena(
        runner,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=dt.date(2024, 1, 1),
        data_s3_uri=DATA,
        typed_s3_uri=TYPED,
        export_format="DYNAMODB_JSON",
        overrides={"when": ColumnOverride(type="timestamp")},
        run_id="run-1",
    )
    # raw export registered through Glue, pointing at data/ only
    raw = glue.get_partition(
        DatabaseName="analytics", TableName="orders__export", PartitionValues=["2024-01-01"]
    )
    assert raw["Partition"]["StorageDescriptor"]["Location"] == DATA
    assert glue.get_table(DatabaseName="analytics", Name="orders__export")["Table"][
        "StorageDescriptor"
    ]["Columns"] == [{"Name": "line", "Type": "string"}]
    # every statement parsed as Athena SQL (the runner checks) and is one of the planned steps
    assert [s.split()[0] for s in runner.statements] == ["WITH", "CREATE", "SELECT", "CREATE"]
    for s in runner.statements:
        assert sqlglot.parse_one(s, read="athena") is not None
    ctas = runner.statements[1]
    assert (
        "external_location = 's3://bucket/typed/orders/snapshot_date=2024-01-01/run_id=run-1/'"
        in ctas
    )
    assert "'O''Brien'" in ctas and "'$.Item'" in ctas
    assert "decimal(38,2)" in ctas and "from_iso8601_timestamp" in ctas
    # typed partition swapped in via Glue at the per-run location, mapping stored with it
    part = glue.get_partition(
        DatabaseName="analytics", TableName="orders__snapshots", PartitionValues=["2024-01-01"]
    )["Partition"]
    assert part["StorageDescriptor"]["Location"] == res.typed_location
    mapping = json.loads(part["Parameters"]["ddb_assets.columns"])
    assert {m["column"]: m["attribute"] for m in mapping}["o_brien"] == "O'Brien"
    cols = {
        c["Name"]: c["Type"]
        for c in glue.get_table(DatabaseName="analytics", Name="orders__snapshots")["Table"][
            "StorageDescriptor"
        ]["Columns"]
    }
    assert (
        cols["qty"] == "decimal(38,2)"
        and cols["tags"] == "array<string>"
        and cols["when_"] == "timestamp"
    )
    assert (
        cols["mixed"] == "string"
        and cols["mixed__type"] == "string"
        and cols["tiny__raw"] == "string"
    )
    # CTAS catalog entry dropped; view over the latest snapshot
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="analytics", Name="orders__ctas_run_1")
    assert runner.statements[3].startswith('CREATE OR REPLACE VIEW "analytics"."orders" AS SELECT')
    assert "DATE '2024-01-01'" in runner.statements[3]
    assert res.row_count == 3 and [u.attribute for u in res.unfit_numbers] == ["tiny"]
    got = runner.execute(
        'SELECT pk, qty, tiny, tiny__raw, mixed, mixed__type FROM "analytics"."orders" ORDER BY pk'
    )
    assert got.rows == [
        ("a", Decimal("1234.56"), None, "1E-130", "1", "N"),
        ("b", Decimal("1.50"), None, None, "2", "N"),
        ("c", Decimal("12.00"), None, None, "three", "S"),
    ]
    assert {c.attribute for c in res.conflicts} == {"mixed"}

    # day 2: a new attribute, qty changes type; re-run of day 2 swaps the location
    runner2 = AthenaEmulator(glue, s3, database="analytics")
    r2 = load_snapshot_athena(
        runner2,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=dt.date(2024, 1, 2),
        data_s3_uri=DATA2,
        typed_s3_uri=TYPED,
        export_format="DYNAMODB_JSON",
        overrides={},
        run_id="run-2",
    )
    kinds = {(c.kind, c.column) for c in r2.schema_changes}
    assert (
        ("added", "fresh") in kinds
        and ("type_changed", "qty") in kinds
        and ("removed", "tags") in kinds
    )
    cols = {
        c["Name"]: c["Type"]
        for c in glue.get_table(DatabaseName="analytics", Name="orders__snapshots")["Table"][
            "StorageDescriptor"
        ]["Columns"]
    }
    assert (
        cols["qty"] == "decimal(38,2)"
        and cols["qty__v2"] == "string"
        and cols["fresh"] == "boolean"
    )
    assert '"qty__v2" AS "qty"' in runner2.statements[-1]
    runner3 = AthenaEmulator(glue, s3, database="analytics")
    load_snapshot_athena(
        runner3,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=dt.date(2024, 1, 2),
        data_s3_uri=DATA2,
        typed_s3_uri=TYPED,
        export_format="DYNAMODB_JSON",
        run_id="run-3",
    )
    parts = glue.get_partitions(DatabaseName="analytics", TableName="orders__snapshots")[
        "Partitions"
    ]
    locs = {p["Values"][0]: p["StorageDescriptor"]["Location"] for p in parts}
    assert len(parts) == 2 and locs["2024-01-02"].endswith("run_id=run-3/")


@mock_aws
def test_bad_inputs_are_refused_before_any_side_effect():
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    runner = RecordingSqlRunner()
    with pytest.raises(ValueError, match="export_format"):
        load_snapshot_athena(
            runner,
            glue,
            database="analytics",
            table="orders",
            snapshot_date=dt.date(2024, 1, 1),
            data_s3_uri=DATA,
            typed_s3_uri=TYPED,
            export_format="CSV",
            run_id="r",
        )
    with pytest.raises(ValueError, match="data/"):
        load_snapshot_athena(
            runner,
            glue,
            database="analytics",
            table="orders",
            snapshot_date=dt.date(2024, 1, 1),
            data_s3_uri="s3://bucket/exports/orders/",
            typed_s3_uri=TYPED,
            run_id="r",
        )
    with pytest.raises(ValueError):
        load_snapshot_athena(
            runner,
            glue,
            database="analytics",
            table="Orders; DROP",
            snapshot_date=dt.date(2024, 1, 1),
            data_s3_uri=DATA,
            typed_s3_uri=TYPED,
            run_id="r",
        )
    assert runner.statements == []
    assert glue.get_tables(DatabaseName="analytics")["TableList"] == []


def test_sql_literal_escapes_and_refuses_control_characters():
    assert sql_literal("O'Brien") == "'O''Brien'"
    with pytest.raises(ValueError):
        sql_literal("a\nb")
