"""Athena engine: the blocking checks are decided on the CTAS output before the Glue swap;
a failure leaves the partition, the latest view and the previous files as they were."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from ddb_assets.athena.client import QueryResult, RecordingSqlRunner
from ddb_assets.tables import load_snapshot_athena
from ddb_assets.tables.checks import Expectation, ExpectedFile, SnapshotCheckError

pytestmark = [pytest.mark.fault, pytest.mark.unit]

DATA = "s3://bucket/exports/orders/AWSDynamoDB/{}/data/"
TYPED = "s3://bucket/typed/orders/"
DISCOVERY = [("pk", "S", 3, 0, None, None, 0), ("qty", "N", 3, 3, 2, 0, 0)]
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/01700000000000-abcdef"


def responder(rows=3, duplicates=0, per_path=()):
    def respond(sql):
        if sql.startswith("WITH items AS"):
            cols = ["attribute", "tag", "items", "numbers", "max_int_digits", "max_scale", "unfit"]
            return QueryResult(columns=cols, rows=DISCOVERY, bytes_scanned=10)
        if sql.startswith("SELECT count(*)"):
            extra = (duplicates,) if "count(DISTINCT" in sql else ()
            return QueryResult(rows=[(rows,) + extra])
        if sql.startswith('SELECT "$path"'):
            return QueryResult(rows=list(per_path))
        if "HAVING count(*) > 1" in sql:
            return QueryResult(rows=[("k1", 2)])
        return None

    return respond


def load(glue, runner, export_id, expect, day=dt.date(2024, 1, 1), run_id="run-1"):
    return load_snapshot_athena(
        runner,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=day,
        data_s3_uri=DATA.format(export_id),
        typed_s3_uri=TYPED,
        run_id=run_id,
        expect=expect,
    )


def _state(glue):
    tables = sorted(t["Name"] for t in glue.get_tables(DatabaseName="analytics")["TableList"])
    if "orders__snapshots" not in tables:
        return tables, []
    parts = glue.get_partitions(DatabaseName="analytics", TableName="orders__snapshots")
    return tables, sorted(
        (p["Values"][0], p["StorageDescriptor"]["Location"]) for p in parts["Partitions"]
    )


def _expect(count, files=(), keys=("pk",)):
    return Expectation(export=ARN, item_count=count, files=tuple(files), key_attributes=keys)


@mock_aws
def test_item_count_mismatch_is_decided_before_the_glue_swap():
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    good = load(glue, RecordingSqlRunner(responder()), "e1", _expect(3))
    before = _state(glue)
    assert before[1] == [("2024-01-01", good.typed_location)]

    key = "exports/orders/AWSDynamoDB/e2/data/part-1.json.gz"
    runner = RecordingSqlRunner(responder(rows=2, per_path=[(f"s3://bucket/{key}", 2)]))
    files = [ExpectedFile(key, 3), ExpectedFile(key.replace("-1", "-0"), 0)]
    with pytest.raises(SnapshotCheckError) as info:
        load(glue, runner, "e2", _expect(3, files), run_id="run-2")
    msg = str(info.value)
    assert ARN in msg and "2 rows" in msg and "itemCount 3" in msg
    assert f"{key}: 2 items, manifest says 3" in msg
    # nothing swapped: the same partition location, no CTAS entry left, no view statement
    assert _state(glue) == before
    assert not any(s.startswith("CREATE OR REPLACE VIEW") for s in runner.statements)


@mock_aws
def test_duplicate_keys_are_refused_before_the_swap():
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    runner = RecordingSqlRunner(responder(rows=3, duplicates=1))
    with pytest.raises(SnapshotCheckError, match=r"1 row\(s\) repeat a primary key \(pk\)") as info:
        load(glue, runner, "e1", _expect(3))
    assert info.value.check == "unique_primary_keys" and "pk='k1'" in str(info.value)
    tables, parts = _state(glue)
    assert tables == ["orders__export"] and parts == []
    assert not any(s.startswith("CREATE OR REPLACE VIEW") for s in runner.statements)
