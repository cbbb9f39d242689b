"""The table asset on the local stack, with its export corrupted in S3 after it completed:
the engine refuses before anything is visible, the asset check reports the refusal, the
error names the export, file and numbers (or the S3 key of a missing file)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from boto3.dynamodb.types import TypeSerializer

from ddb_assets.assets.keys import table_key
from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.runner import _execute, _failure_text, run_chain
from ddb_assets_tests.ddb_tables import create_pitr_table

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.duckdb]

TZ = ZoneInfo("Asia/Tokyo")
NAME = "orders_fault"


@pytest.fixture
def loaded(local_env, tmp_path):
    """One day exported and loaded; returns (stack, cfg, defs, instance, day, warehouse)."""
    stack = local_env
    stack.client("s3").create_bucket(Bucket="fault-bucket")
    ddb, ser = stack.client("dynamodb"), TypeSerializer()
    today = datetime.now(TZ).date()
    day = today - timedelta(days=1)
    stack.set_now(datetime.combine(day - timedelta(days=1), time(9), TZ))
    create_pitr_table(ddb, NAME)
    stack.set_now(datetime.combine(day, time(12), TZ))
    for i in range(5):
        ddb.put_item(TableName=NAME, Item={"pk": ser.serialize(f"k{i}"), "n": ser.serialize(i)})
    stack.reset_clock()
    wh = tmp_path / "wh.duckdb"
    cfg = parse_config(
        {
            "warehouse": str(wh),
            "summaries_dir": None,
            "defaults": {"athena": {"database": "flt"}},
            "tables": [
                {
                    "name": NAME,
                    "s3_bucket": "fault-bucket",
                    "partitions_start": (today - timedelta(days=10)).isoformat(),
                    "verify_checksums": False,  # the engine's own checks must catch it
                }
            ],
        }
    )
    defs = build_definitions(cfg, env="local")
    with dg.instance_for_test() as instance:
        run_chain(
            defs,
            cfg,
            instance,
            table=NAME,
            partitions=[day.isoformat()],
            poll_seconds=0.3,
            log=lambda *_: None,
        )
        yield stack, cfg, defs, instance, day, wh


def _state(wh):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return (
            sorted(con.execute(f'SELECT pk, n FROM "flt"."{NAME}"').fetchall()),
            sorted(r[0] for r in con.execute(f'SELECT file FROM "flt"."{NAME}__files"').fetchall()),
        )
    finally:
        con.close()


def _data_keys(s3, instance, day):
    rec = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["dynamodb", NAME, "export"]), asset_partitions=[day.isoformat()]
        ),
        limit=1,
    ).records[0]
    uri = rec.asset_materialization.metadata["manifest_uri"].value
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    summary = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    lines = s3.get_object(Bucket=bucket, Key=summary["manifestFilesS3Key"])["Body"].read()
    return bucket, [json.loads(x)["dataFileS3Key"] for x in lines.splitlines() if x.strip()]


def _reload(defs, instance, day):
    return _execute(defs, instance, [table_key(defs_table(defs))], partition_key=day.isoformat())


def defs_table(_defs):
    from ddb_assets.config import TableConfig

    return TableConfig(name=NAME, s3_bucket="fault-bucket")


def _bump_manifests(s3, instance, day, key, by):
    """Make both manifests count ``by`` more items in data file ``key`` (as if DynamoDB
    itself had written the repeated line)."""
    rec = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["dynamodb", NAME, "export"]), asset_partitions=[day.isoformat()]
        ),
        limit=1,
    ).records[0]
    bucket, _, skey = (
        rec.asset_materialization.metadata["manifest_uri"]
        .value.removeprefix("s3://")
        .partition("/")
    )
    summary = json.loads(s3.get_object(Bucket=bucket, Key=skey)["Body"].read())
    summary["itemCount"] += by
    s3.put_object(Bucket=bucket, Key=skey, Body=json.dumps(summary).encode())
    fkey = summary["manifestFilesS3Key"]
    rows = [
        json.loads(x)
        for x in s3.get_object(Bucket=bucket, Key=fkey)["Body"].read().splitlines()
        if x.strip()
    ]
    for r in rows:
        if r["dataFileS3Key"] == key:
            r["itemCount"] += by
    s3.put_object(
        Bucket=bucket, Key=fkey, Body="".join(json.dumps(r) + "\n" for r in rows).encode()
    )


@pytest.mark.parametrize("manifest_agrees", [False, True])
def test_a_duplicated_item_fails_a_check_before_anything_is_visible(loaded, manifest_agrees):
    stack, cfg, defs, instance, day, wh = loaded
    before = _state(wh)
    assert len(before[0]) == 5
    s3 = stack.client("s3")
    bucket, keys = _data_keys(s3, instance, day)
    key = next(k for k in keys if s3.head_object(Bucket=bucket, Key=k)["ContentLength"] > 40)
    body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    first = body.splitlines(True)[0]
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body + first))
    if manifest_agrees:
        _bump_manifests(s3, instance, day, key, 1)
    res = _reload(defs, instance, day)
    assert not res.success
    text = _failure_text(res)
    assert "arn:aws:dynamodb" in text and key.rsplit("/", 1)[-1] in text, text
    check = "unique_primary_keys" if manifest_agrees else "row_count_matches_export"
    if manifest_agrees:
        assert "repeat a primary key" in text and "line " in text, text
    else:
        assert "6 rows" in text and "itemCount 5" in text and "6 items, manifest says 5" in text
    evals = [e for e in res.get_asset_check_evaluations() if e.check_name == check]
    assert evals and not evals[0].passed
    assert _state(wh) == before


def test_a_missing_data_file_names_its_key_with_checksums_off(loaded):
    stack, cfg, defs, instance, day, wh = loaded
    before = _state(wh)
    s3 = stack.client("s3")
    bucket, keys = _data_keys(s3, instance, day)
    s3.delete_object(Bucket=bucket, Key=keys[0])
    res = _reload(defs, instance, day)
    assert not res.success
    text = _failure_text(res)
    assert f"s3://{bucket}/{keys[0]} does not exist" in text, text
    assert _state(wh) == before
