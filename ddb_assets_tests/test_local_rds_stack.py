"""The local RDS stack: a real MariaDB server per DB instance, frozen snapshots, and
StartExportTask writing RDS's documented layout through the local S3.

Everything goes through boto3 against the stack's endpoint and PyMySQL against the instance's
endpoint, as a user of AWS would. See ddb_assets/local/rds/CONTRACT.md.
"""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.setup import create_export_key, create_export_role, create_instance

pytestmark = [pytest.mark.integration, pytest.mark.mariadb]

BUCKET = "rds-exports"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PART_RE = re.compile(r"^part-\d{5}-[0-9a-f-]{36}-c000\.gz\.parquet$")


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.3, rds=True) as s:
        s3 = s.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s.role_arn = create_export_role(s.client("iam"), BUCKET)  # type: ignore[attr-defined]
        s.key_arn = create_export_key(s.client("kms"))  # type: ignore[attr-defined]
        create_instance(s.client("rds"), "shop-db", db_name="shop")
        with s.rds.connect("shop-db") as conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT, "
                "placed DATETIME(6))"
            )
            cur.execute("CREATE TABLE empty_t (id INT PRIMARY KEY)")
            cur.execute("CREATE DATABASE crm")
            cur.execute("CREATE TABLE crm.customers (id INT PRIMARY KEY, name TEXT)")
            cur.execute("INSERT INTO crm.customers VALUES (1, 'Ada'), (2, 'Grace')")
        yield s


@pytest.fixture
def aws(stack):
    yield stack
    stack.reset_clock()
    stack.rds.configure(export_seconds=0.3, snapshot_seconds=0.0, rows_per_file=100_000)


def _put_orders(aws, rows):
    with aws.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", rows)


def _snapshot_arn(aws, snapshot_id: str) -> str:
    snaps = aws.client("rds").describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)
    return snaps["DBSnapshots"][0]["DBSnapshotArn"]


def _export(aws, ident: str, snapshot_id: str, **extra) -> dict:
    rds = aws.client("rds")
    rds.start_export_task(
        ExportTaskIdentifier=ident,
        SourceArn=_snapshot_arn(aws, snapshot_id),
        S3BucketName=BUCKET,
        IamRoleArn=aws.role_arn,
        KmsKeyId=aws.key_arn,
        **extra,
    )
    assert aws.rds.wait_for_export(ident, timeout=60) == "COMPLETE"
    return rds.describe_export_tasks(ExportTaskIdentifier=ident)["ExportTasks"][0]


def _objects(aws, prefix: str) -> dict[str, bytes]:
    s3 = aws.client("s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
    return out


def _rows(objects: dict[str, bytes], table_prefix: str) -> list[dict]:
    rows: list[dict] = []
    for key, body in sorted(objects.items()):
        if key.startswith(table_prefix) and key.endswith(".gz.parquet"):
            rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


# -- the server ----------------------------------------------------------------------------


def test_instance_endpoint_is_the_mariadb_server_and_takes_the_master_user(aws):
    rds = aws.client("rds")
    inst = rds.describe_db_instances(DBInstanceIdentifier="shop-db")["DBInstances"][0]
    assert inst["Engine"] == "mariadb"
    assert inst["Endpoint"]["Address"] == "127.0.0.1"
    srv = aws.rds.server("shop-db")
    assert inst["Endpoint"]["Port"] == srv.endpoint.port
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1",
        port=inst["Endpoint"]["Port"],
        user="admin",
        password="local-password",
        database="shop",
    )
    with conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE(), CURRENT_USER()")
        assert cur.fetchone()[0] == "shop"
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(
            host="127.0.0.1", port=inst["Endpoint"]["Port"], user="admin", password="wrong"
        )


# -- snapshots -----------------------------------------------------------------------------


def test_snapshot_is_frozen_at_its_time(aws):
    rds = aws.client("rds")
    _put_orders(aws, [(1, "tuna", 2, "2024-05-01 10:00:00")])
    rds.create_db_snapshot(DBInstanceIdentifier="shop-db", DBSnapshotIdentifier="frozen-1")
    _put_orders(aws, [(2, "salmon", 1, "2024-05-01 11:00:00")])
    with aws.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("UPDATE orders SET qty = 99 WHERE id = 1")
        cur.execute("DROP TABLE crm.customers")
        cur.execute("CREATE TABLE crm.customers (id INT PRIMARY KEY, name TEXT)")
    out = _export(aws, "frozen-export", "frozen-1")
    objs = _objects(aws, "frozen-export/")
    assert _rows(objs, "frozen-export/shop/shop.orders/") == [
        {"id": 1, "item": "tuna", "qty": 2, "placed": datetime(2024, 5, 1, 10, tzinfo=timezone.utc)}
    ]
    customers = _rows(objs, "frozen-export/crm/crm.customers/")
    assert sorted(r["name"] for r in customers) == ["Ada", "Grace"]
    assert out["SnapshotTime"] <= out["TaskStartTime"]
    with aws.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO crm.customers VALUES (1, 'Ada'), (2, 'Grace')")
        cur.execute("DELETE FROM orders")


def test_automated_snapshot_of_a_day_and_creating_status(aws):
    rds = aws.client("rds")
    aws.rds.configure(snapshot_seconds=0.5)
    day = datetime(2024, 6, 3, 19, 5, tzinfo=timezone.utc)
    aws.set_now(day)  # the backup window of 2024-06-03 on the stack clock
    sid = aws.rds.take_automated_snapshot("shop-db")
    assert sid == "rds:shop-db-2024-06-03-19-05"
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier=sid)["DBSnapshots"][0]
    assert snap["SnapshotType"] == "automated"
    assert snap["Status"] == "creating"
    assert day <= snap["SnapshotCreateTime"] < day + timedelta(seconds=5)
    with pytest.raises(rds.exceptions.ClientError) as err:
        rds.start_export_task(
            ExportTaskIdentifier="too-early",
            SourceArn=snap["DBSnapshotArn"],
            S3BucketName=BUCKET,
            IamRoleArn=aws.role_arn,
            KmsKeyId=aws.key_arn,
        )
    assert err.value.response["Error"]["Code"] == "InvalidExportSourceState"
    time.sleep(0.6)
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier=sid)["DBSnapshots"][0]
    assert snap["Status"] == "available"
    listed = rds.describe_db_snapshots(DBInstanceIdentifier="shop-db", SnapshotType="automated")
    assert sid in {s["DBSnapshotIdentifier"] for s in listed["DBSnapshots"]}


# -- the export's layout -------------------------------------------------------------------


def test_export_layout_and_metadata_files(aws):
    _put_orders(aws, [(i, f"item{i}", i, "2024-05-02 00:00:00") for i in range(1, 6)])
    aws.rds.configure(rows_per_file=2)
    aws.client("rds").create_db_snapshot(
        DBInstanceIdentifier="shop-db", DBSnapshotIdentifier="layout-1"
    )
    task = _export(aws, "layout-export", "layout-1", S3Prefix="daily/2024-05-02")
    base = "daily/2024-05-02/layout-export"
    objs = _objects(aws, base + "/")
    keys = set(objs)
    assert f"{base}/export_info_layout-export.json" in keys
    assert f"{base}/export_tables_info_layout-export_from_1_to_3.json" in keys
    parts = sorted(k for k in keys if k.startswith(f"{base}/shop/shop.orders/1/part-"))
    assert [k.rsplit("/", 1)[1][:10] for k in parts] == ["part-00000", "part-00001", "part-00002"]
    assert all(PART_RE.match(k.rsplit("/", 1)[1]) for k in parts)
    for table in ("shop/shop.orders", "shop/shop.empty_t", "crm/crm.customers"):
        assert f"{base}/{table}/1/_SUCCESS" in keys
    # an empty table gets no data file
    assert not [k for k in keys if k.startswith(f"{base}/shop/shop.empty_t/1/part-")]
    assert len(_rows(objs, f"{base}/shop/shop.orders/")) == 5

    info = json.loads(objs[f"{base}/export_info_layout-export.json"])
    assert list(info) == [
        "exportTaskIdentifier",
        "sourceArn",
        "exportOnly",
        "snapshotTime",
        "taskStartTime",
        "taskEndTime",
        "s3Bucket",
        "s3Prefix",
        "exportedFilesPath",
        "iamRoleArn",
        "kmsKeyId",
        "status",
        "percentProgress",
        "totalExportedDataInGB",
    ]
    assert info["exportTaskIdentifier"] == "layout-export"
    assert info["sourceArn"] == task["SourceArn"]
    assert info["exportedFilesPath"] == base
    assert info["status"] == "COMPLETE" and info["percentProgress"] == 100
    for k in ("snapshotTime", "taskStartTime", "taskEndTime"):
        assert TIME_RE.match(info[k]), info[k]
    assert info["taskEndTime"] == task["TaskEndTime"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    tables = json.loads(objs[f"{base}/export_tables_info_layout-export_from_1_to_3.json"])
    by_target = {t["target"]: t for t in tables["perTableStatus"]}
    assert set(by_target) == {"shop.orders", "shop.empty_t", "crm.customers"}
    orders = by_target["shop.orders"]
    assert orders["status"] == "COMPLETE"
    assert set(orders) == {"tableStatistics", "schemaMetadata", "status", "sizeGB", "target"}
    stats = orders["tableStatistics"]
    assert TIME_RE.match(stats["extractionStartTime"]) and TIME_RE.match(stats["extractionEndTime"])
    assert stats["partitioningInfo"] == {"numberOfPartitions": 3, "numberOfCompletedPartitions": 3}
    cols = orders["schemaMetadata"]["originalTypeMappings"]
    assert [c["columnName"] for c in cols] == ["id", "item", "qty", "placed"]
    assert cols[1] == {
        "columnName": "item",
        "originalType": "varchar",
        "expectedExportedType": "binary",
        "originalCharMaxLength": 40,
        "originalNumPrecision": 0,
        "originalDateTimePrecision": 0,
    }
    assert orders["sizeGB"] > 0
    with aws.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM orders")


def test_export_only_selects_databases_and_tables(aws):
    aws.client("rds").create_db_snapshot(
        DBInstanceIdentifier="shop-db", DBSnapshotIdentifier="only-1"
    )
    task = _export(aws, "only-export", "only-1", ExportOnly=["crm", "shop.empty_t", "nosuchdb"])
    assert task["ExportOnly"] == ["crm", "shop.empty_t", "nosuchdb"]
    objs = _objects(aws, "only-export/")
    folders = {k.split("/")[2] for k in objs if k.count("/") >= 3}
    assert folders == {"crm.customers", "shop.empty_t"}
    warning = json.loads(task["WarningMessage"])
    assert warning["general"] == [{"reason": "DATABASE_NOT_FOUND", "target": "nosuchdb"}]


def test_deleted_instance_keeps_its_final_snapshot(aws):
    rds = aws.client("rds")
    create_instance(rds, "gone-db", db_name="old")
    with aws.rds.connect("gone-db") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1), (2), (3)")
    auto = aws.rds.take_automated_snapshot("gone-db")
    rds.delete_db_instance(DBInstanceIdentifier="gone-db", FinalDBSnapshotIdentifier="gone-final")
    ids = {s["DBSnapshotIdentifier"]: s for s in rds.describe_db_snapshots()["DBSnapshots"]}
    assert auto not in ids  # automated backups go with the instance
    final = ids["gone-final"]
    assert (final["SnapshotType"], final["Status"]) == ("manual", "available")
    _export(aws, "gone-export", "gone-final")
    assert len(_rows(_objects(aws, "gone-export/"), "gone-export/old/old.t/")) == 3
