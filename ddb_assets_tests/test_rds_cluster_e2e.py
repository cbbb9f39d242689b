"""An Aurora MySQL cluster as an RDS source, end to end on the local stack: the cluster's own
MariaDB server (its instances share it), automated and manual DB cluster snapshots on the
stack clock, StartExportTask from a ``cluster-snapshot:`` ARN writing RDS's layout, the
request asset, rds_export_sensor and the load run on the DuckDB engine.

The instance's drivers come from test_rds_e2e.py (``_run_day``, ``_sensor_and_loads``) and
rds_stack.py (``point_env_at``); this module adds the cluster's stack and config."""

from __future__ import annotations

import datetime as dt
import io
import json

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from ddb_assets.assets.rds import build_rds_request_asset
from ddb_assets.config import parse_config
from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.setup import create_cluster, create_export_key, create_export_role
from ddb_assets.rds.exports import ExportRequest, request_export
from ddb_assets.rds.snapshots import SnapshotNotReadyError, automated_snapshot_for
from ddb_assets.resources import resources_for
from ddb_assets.sensors_rds import evaluate_rds_tick
from ddb_assets_tests.rds_stack import point_env_at
from ddb_assets_tests.test_rds_e2e import _run_day, _sensor_and_loads

pytestmark = [pytest.mark.integration, pytest.mark.mariadb, pytest.mark.duckdb]

BUCKET = "aurora-exports"
CLUSTER = "shop-cluster"
TODAY = dt.datetime.now(dt.timezone.utc).date()
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.3, rds=True) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        s.role_arn = create_export_role(s.client("iam"), BUCKET)  # type: ignore[attr-defined]
        s.key_arn = create_export_key(s.client("kms"))  # type: ignore[attr-defined]
        create_cluster(s.client("rds"), CLUSTER, db_name="shop", backup_retention_days=35)
        yield s


@pytest.fixture
def env(stack, monkeypatch):
    yield point_env_at(stack, monkeypatch)
    stack.reset_clock()
    stack.rds.configure(snapshot_seconds=0.0)


def _cfg(stack, tmp_path, tables, **extra):
    return parse_config(
        {
            "warehouse": str(tmp_path / "w.duckdb"),
            "summaries_dir": None,
            "defaults": {"athena": {"database": "aurora"}},
            "rds": [
                {
                    "name": "shop",
                    "cluster": CLUSTER,
                    "db_engine": "aurora-mysql",
                    "tables": tables,
                    "s3_bucket": BUCKET,
                    "iam_role_arn": stack.role_arn,
                    "kms_key_arn": stack.key_arn,
                    "schedule": {"timezone": "UTC"},
                    "retention_days": 35,
                    "partitions_start": (TODAY - dt.timedelta(days=30)).isoformat(),
                    **extra,
                }
            ],
        }
    )


def _sql(env, *statements, params=()):
    with env.rds.connect_cluster(CLUSTER) as conn, conn.cursor() as cur:
        for st in statements:
            cur.execute(st, params or None)


def _at(day, hour=3, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=UTC)


def _failure_text(res) -> str:
    (failure,) = [e for e in res.all_events if e.is_step_failure]
    return failure.step_failure_data.user_failure_data.description


# --------------------------------------------------------------------------------------
# The local stack's clusters
# --------------------------------------------------------------------------------------


def test_a_cluster_has_one_server_that_its_instances_share(env):
    rds = env.client("rds")
    servers_before = len(env._rds_state.servers)
    rds.create_db_instance(
        DBInstanceIdentifier="shop-cluster-reader",
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
    )
    assert len(env._rds_state.servers) == servers_before  # no second server
    cluster = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    port = env.rds.cluster_server(CLUSTER).endpoint.port
    assert (cluster["Endpoint"], cluster["ReaderEndpoint"], cluster["Port"]) == (
        "127.0.0.1",
        "127.0.0.1",
        port,
    )
    assert {m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]} >= {
        "shop-cluster-writer",
        "shop-cluster-reader",
    }
    for ident in ("shop-cluster-writer", "shop-cluster-reader"):
        ep = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]["Endpoint"]
        assert (ep["Address"], ep["Port"]) == ("127.0.0.1", port)
    # what the writer writes, the reader endpoint (the same volume) reads
    _sql(env, "CREATE TABLE shared_t (id INT PRIMARY KEY)", "INSERT INTO shared_t VALUES (7)")
    c = env.rds.cluster(CLUSTER)
    with (
        env.rds.cluster_server(CLUSTER).connect(
            c.master_username, c.master_password, "shop"
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT id FROM shared_t")
        assert cur.fetchall() == ((7,),)
    # a member instance has no snapshot of its own: AWS's answer
    with pytest.raises(ClientError, match="CreateDBClusterSnapshot API instead") as err:
        rds.create_db_snapshot(
            DBSnapshotIdentifier="nope", DBInstanceIdentifier="shop-cluster-reader"
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    rds.delete_db_instance(DBInstanceIdentifier="shop-cluster-reader", SkipFinalSnapshot=True)


def test_aurora_backups_cannot_be_turned_off_and_retention_prunes(env):
    rds = env.client("rds")
    for bad in (0, 36):
        with pytest.raises(ClientError, match="cannot be turned off"):
            rds.modify_db_cluster(DBClusterIdentifier=CLUSTER, BackupRetentionPeriod=bad)
    with pytest.raises(ClientError, match="1 to 35 days"):
        create_cluster(rds, "no-backups", backup_retention_days=0, writer=None)
    assert not [
        c
        for c in rds.describe_db_clusters()["DBClusters"]
        if c["DBClusterIdentifier"] == "no-backups"
    ]

    create_cluster(rds, "short-cluster", backup_retention_days=2, writer=None)
    # moto's instant "automated" snapshot taken at creation (holding nothing) is gone
    listed = rds.describe_db_cluster_snapshots(DBClusterIdentifier="short-cluster")
    assert listed["DBClusterSnapshots"] == []
    now = env.now()
    ids = [
        env.rds.take_automated_cluster_snapshot("short-cluster", at=now - dt.timedelta(days=n))
        for n in (1, 0)
    ]
    assert ids[1] == f"rds:short-cluster-{now:%Y-%m-%d-%H-%M}"
    snaps = rds.describe_db_cluster_snapshots(
        DBClusterIdentifier="short-cluster", SnapshotType="automated"
    )["DBClusterSnapshots"]
    assert sorted(s["DBClusterSnapshotIdentifier"] for s in snaps) == sorted(ids)
    assert {s["SnapshotCreateTime"].replace(second=0, microsecond=0) for s in snaps} == {
        (now - dt.timedelta(days=n)).replace(second=0, microsecond=0) for n in (1, 0)
    }
    with pytest.raises(ClientError, match="Only manual snapshots may be deleted"):
        rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=ids[0])
    env.set_now(now + dt.timedelta(days=1, hours=1))  # the older one is now past 2 days
    left = rds.describe_db_cluster_snapshots(DBClusterIdentifier="short-cluster")
    assert [s["DBClusterSnapshotIdentifier"] for s in left["DBClusterSnapshots"]] == [ids[1]]
    env.reset_clock()
    rds.delete_db_cluster(DBClusterIdentifier="short-cluster", SkipFinalSnapshot=True)
    gone = rds.describe_db_cluster_snapshots(DBClusterIdentifier="short-cluster")
    assert gone["DBClusterSnapshots"] == []  # automated backups go with the cluster


def test_manual_cluster_snapshot_is_frozen_and_exports_with_the_documented_layout(env):
    rds, s3 = env.client("rds"), env.client("s3")
    _sql(env, "CREATE TABLE frozen_t (id INT PRIMARY KEY, v VARCHAR(10))")
    _sql(env, "INSERT INTO frozen_t VALUES (1, 'before')")
    snap = rds.create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier="frozen-snap", DBClusterIdentifier=CLUSTER
    )["DBClusterSnapshot"]
    _sql(env, "INSERT INTO frozen_t VALUES (2, 'after')")
    assert snap["SnapshotType"] == "manual" and snap["Status"] == "available"
    arn = snap["DBClusterSnapshotArn"]
    assert arn.endswith(":cluster-snapshot:frozen-snap")
    task = rds.start_export_task(
        ExportTaskIdentifier="frozen-export",
        SourceArn=arn,
        S3BucketName=BUCKET,
        IamRoleArn=env.role_arn,
        KmsKeyId=env.key_arn,
        S3Prefix="manual",
        ExportOnly=["shop.frozen_t"],
    )
    assert (task["Status"], task["SourceType"]) == ("STARTING", "SNAPSHOT")
    assert env.rds.wait_for_export("frozen-export") == "COMPLETE"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="manual/")["Contents"]]
    assert "manual/frozen-export/export_info_frozen-export.json" in keys
    assert "manual/frozen-export/export_tables_info_frozen-export_from_1_to_1.json" in keys
    (part,) = [k for k in keys if k.endswith(".gz.parquet")]
    assert part.startswith("manual/frozen-export/shop/shop.frozen_t/1/part-00000-")
    body = s3.get_object(Bucket=BUCKET, Key=part)["Body"].read()
    assert pq.read_table(io.BytesIO(body)).to_pylist() == [{"id": 1, "v": "before"}]
    info = json.loads(
        s3.get_object(Bucket=BUCKET, Key="manual/frozen-export/export_info_frozen-export.json")[
            "Body"
        ].read()
    )
    assert info["sourceArn"] == arn and info["status"] == "COMPLETE"
    assert info["snapshotTime"].startswith(f"{snap['SnapshotCreateTime']:%Y-%m-%dT%H:%M:%S}")
    by_arn = rds.describe_export_tasks(Filters=[{"Name": "source-arn", "Values": [arn]}])
    assert [t["ExportTaskIdentifier"] for t in by_arn["ExportTasks"]] == ["frozen-export"]
    assert rds.describe_export_tasks(SourceArn=arn)["ExportTasks"][0]["SourceArn"] == arn
    with pytest.raises(ClientError) as err:
        rds.start_export_task(
            ExportTaskIdentifier="no-such-export",
            SourceArn=arn + "-missing",
            S3BucketName=BUCKET,
            IamRoleArn=env.role_arn,
            KmsKeyId=env.key_arn,
        )
    assert err.value.response["Error"]["Code"] == "DBClusterSnapshotNotFoundFault"


# --------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------


def test_two_days_of_a_cluster_each_day_shows_its_rows_and_requests_are_idempotent(env, tmp_path):
    days = [TODAY - dt.timedelta(days=n) for n in (5, 4)]
    _sql(env, "CREATE TABLE menu_items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2))")
    for i, day in enumerate(days):
        with env.rds.connect_cluster(CLUSTER) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO menu_items VALUES (%s, %s, %s)", (i, f"item of {day}", f"{i}.25")
            )
        env.rds.take_automated_cluster_snapshot(CLUSTER, at=_at(day))
    cfg = _cfg(env, tmp_path, [{"source": "shop.menu_items", "name": "menu_items"}])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    rds = env.client("rds")
    with dg.instance_for_test() as instance:
        for day in days:
            res = _run_day(cfg, instance, resources, day)
            md = res.asset_materializations_for_node("rds__shop__export_request")[0].metadata
            assert md["snapshot_arn"].value.endswith(
                f":cluster-snapshot:rds:{CLUSTER}-{day:%Y-%m-%d}-03-00"
            )
        again = _run_day(cfg, instance, resources, days[1])  # a retried run, a second click
        md = again.asset_materializations_for_node("rds__shop__export_request")[0].metadata
        assert md["reused"].value is True
        assert md["export_id"].value == f"{CLUSTER}-{days[1]:%Y%m%d}"
        tasks = rds.describe_export_tasks(Filters=[{"Name": "s3-bucket", "Values": [BUCKET]}])
        ours = sorted(
            t["ExportTaskIdentifier"]
            for t in tasks["ExportTasks"]
            if t["ExportTaskIdentifier"].startswith(f"{CLUSTER}-")
        )
        assert ours == [f"{CLUSTER}-{d:%Y%m%d}" for d in days]  # one export per day, no more
        loads, last = _sensor_and_loads(cfg, instance, resources, rds, want_loads=2, days=days)
        assert loads == 2
        # the next tick sees the loads done and reports the exports (with their snapshot)
        for ev in evaluate_rds_tick(instance, last.cursor, cfg, rds).events:
            instance.report_runless_asset_event(ev)
        mat = instance.fetch_materializations(
            dg.AssetKey(["rds", "shop", "export"]), limit=1
        ).records[0]
        assert ":cluster-snapshot:" in mat.asset_materialization.metadata["snapshot_arn"].value
    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    per_day = con.execute(
        "SELECT snapshot_date, count(*), max(name) FROM aurora.menu_items__snapshots "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [(d, i + 1, f"item of {d}") for i, d in enumerate(days)]
    assert con.execute("SELECT sum(price) FROM aurora.menu_items").fetchone()[0] == 1.5


def test_manual_cluster_snapshot_is_taken_for_yesterday_when_asked(env, tmp_path):
    day = TODAY - dt.timedelta(days=1)  # the newest whole day (UTC)
    _sql(env, "CREATE TABLE specials (id INT PRIMARY KEY, fish VARCHAR(20))")
    _sql(env, "INSERT INTO specials VALUES (1, 'kinmedai'), (2, 'nodoguro')")
    cfg = _cfg(env, tmp_path, ["shop.specials"], snapshot="manual")
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    rds = env.client("rds")
    want = f"{CLUSTER}-ddb-assets-{day:%Y%m%d}"
    with dg.instance_for_test() as instance:
        res = _run_day(cfg, instance, resources, day)
        md = res.asset_materializations_for_node("rds__shop__export_request")[0].metadata
        assert md["snapshot_arn"].value.endswith(f":cluster-snapshot:{want}")
        snap = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=want)[
            "DBClusterSnapshots"
        ][0]
        assert (snap["SnapshotType"], snap["DBClusterIdentifier"]) == ("manual", CLUSTER)
        _sql(env, "INSERT INTO specials VALUES (3, 'too late')")  # after the snapshot
        loads, _ = _sensor_and_loads(cfg, instance, resources, rds, want_loads=1, days=[day])
        assert loads == 1
        # a past day has no manual snapshot and a snapshot now would not hold its data
        old = dg.materialize(
            [build_rds_request_asset(cfg, cfg.rds[0])],
            partition_key=(day - dt.timedelta(days=7)).isoformat(),  # no export of it yet
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert not old.success and "use snapshot: automated for past days" in _failure_text(old)
    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    rows = con.execute("SELECT id, fish FROM aurora.shop_specials ORDER BY id").fetchall()
    assert rows == [(1, "kinmedai"), (2, "nodoguro")]


def test_cluster_with_no_snapshot_for_the_day_fails_the_request_with_the_fix(env, tmp_path):
    gap = TODAY - dt.timedelta(days=11)
    for d in (gap - dt.timedelta(days=1), gap + dt.timedelta(days=1)):
        env.rds.take_automated_cluster_snapshot(CLUSTER, at=_at(d, 5, 30))
    cfg = _cfg(env, tmp_path, ["shop.menu_items"])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            [build_rds_request_asset(cfg, cfg.rds[0])],
            partition_key=gap.isoformat(),
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    assert not res.success
    text = _failure_text(res)
    assert f"RDS cluster '{CLUSTER}' has no automated snapshot taken on {gap}" in text
    assert "cluster was stopped then" in text and "snapshot: manual" in text
    assert "\n" not in text
    tasks = env.client("rds").describe_export_tasks(
        Filters=[{"Name": "export-task-identifier", "Values": [f"{CLUSTER}-{gap:%Y%m%d}"]}]
    )
    assert tasks["ExportTasks"] == []  # nothing was started


def test_a_cluster_snapshot_still_creating_is_retryable_and_starts_nothing(env):
    day = TODAY - dt.timedelta(days=13)
    env.rds.configure(snapshot_seconds=60.0)
    env.rds.take_automated_cluster_snapshot(CLUSTER, at=_at(day, 4))
    rds = env.client("rds")
    with pytest.raises(SnapshotNotReadyError, match="is creating, 0% done") as exc:
        automated_snapshot_for(rds, CLUSTER, day, "UTC", cluster=True)
    assert exc.value.retryable
    ident = f"{CLUSTER}-{day:%Y%m%d}"
    req = ExportRequest(
        ident, BUCKET, "rds-exports/shop", env.role_arn, env.key_arn, ("shop.menu_items",), "shop"
    )
    with pytest.raises(SnapshotNotReadyError):
        request_export(
            rds, req, lambda: automated_snapshot_for(rds, CLUSTER, day, "UTC", cluster=True)
        )
    with pytest.raises(ClientError) as err:  # the stack refuses it as AWS would, too
        snap = rds.describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=f"rds:{CLUSTER}-{day:%Y-%m-%d}-04-00"
        )["DBClusterSnapshots"][0]
        rds.start_export_task(
            ExportTaskIdentifier=ident,
            SourceArn=snap["DBClusterSnapshotArn"],
            S3BucketName=BUCKET,
            IamRoleArn=env.role_arn,
            KmsKeyId=env.key_arn,
        )
    assert err.value.response["Error"]["Code"] == "InvalidExportSourceState"
    assert (
        rds.describe_export_tasks(Filters=[{"Name": "export-task-identifier", "Values": [ident]}])[
            "ExportTasks"
        ]
        == []
    )


def test_the_sample_seeds_a_cluster_source_as_a_cluster(env):
    """``ddb-assets dev`` / the demo seed a configured cluster source as an Aurora cluster
    (not an instance of the cluster's name), with its automated cluster snapshot."""
    from ddb_assets.local.rds_sample import MENUS, seed_sample_rds

    src = parse_config(
        {
            "rds": [
                {
                    "name": "sample",
                    "cluster": "sample-aurora",
                    "db_engine": "aurora-mysql",
                    "tables": ["shop.menu_items"],
                    "s3_bucket": "sample-rds-exports",
                    "iam_role_arn": env.role_arn,
                    "kms_key_arn": env.key_arn,
                    "schedule": {"timezone": "UTC"},
                }
            ]
        }
    ).rds[0]
    lines: list[str] = []
    arns = seed_sample_rds(env, src, log=lines.append, day=TODAY - dt.timedelta(days=1))
    rds = env.client("rds")
    assert rds.describe_db_clusters(DBClusterIdentifier="sample-aurora")["DBClusters"]
    assert not [
        i
        for i in rds.describe_db_instances()["DBInstances"]
        if i["DBInstanceIdentifier"] == "sample-aurora"
    ]
    (snap,) = rds.describe_db_cluster_snapshots(
        DBClusterIdentifier="sample-aurora", SnapshotType="automated"
    )["DBClusterSnapshots"]
    assert snap["DBClusterSnapshotIdentifier"].startswith(
        f"rds:sample-aurora-{TODAY - dt.timedelta(days=1):%Y-%m-%d}"
    )
    with env.rds.connect_cluster("sample-aurora", "shop") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM menu_items")
        assert cur.fetchone()[0] == len(MENUS)
    assert lines[-1].startswith("Aurora cluster sample-aurora") and set(arns) == {
        "iam_role_arn",
        "kms_key_arn",
    }
