"""An Aurora MySQL cluster as an RDS source, against botocore's Stubber: the exact cluster
calls (DescribeDBClusterSnapshots / CreateDBClusterSnapshot with DBClusterIdentifier), the
cluster snapshot of day D, and the errors that name the fix for a cluster. The end-to-end
run on the local stack is in test_rds_cluster_e2e.py."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import Stubber

from ddb_assets.config import ConfigError, parse_config
from ddb_assets.rds.exports import ExportError, ExportRequest, request_export
from ddb_assets.rds.snapshots import (
    SnapshotError,
    SnapshotNotReadyError,
    automated_snapshot_for,
    manual_snapshot_for,
)

pytestmark = pytest.mark.unit

UTC = dt.timezone.utc
ROLE = "arn:aws:iam::123456789012:role/rds-export"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
ARN = "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:"
AUTO = {"DBClusterIdentifier": "shop-cluster", "SnapshotType": "automated"}
MANUAL = {"DBClusterIdentifier": "shop-cluster", "SnapshotType": "manual"}


@pytest.fixture
def rds():
    client = boto3.client("rds", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _snap(ident, created, status="available", kind="automated"):
    return {
        "DBClusterSnapshotIdentifier": ident,
        "DBClusterSnapshotArn": ARN + ident,
        "DBClusterIdentifier": "shop-cluster",
        "SnapshotType": kind,
        "Status": status,
        "SnapshotCreateTime": created,
        "PercentProgress": 100 if status == "available" else 30,
        "Engine": "aurora-mysql",
    }


def _auto(stub, times, status="available"):
    stub.add_response(
        "describe_db_cluster_snapshots",
        {
            "DBClusterSnapshots": [
                _snap(f"rds:shop-cluster-{t:%Y-%m-%d-%H-%M}", t, status) for t in times
            ]
        },
        AUTO,
    )


def test_the_cluster_snapshot_of_day_d_comes_from_describe_db_cluster_snapshots(rds):
    client, stub = rds
    times = [dt.datetime(2024, 1, d, 18, 30, tzinfo=UTC) for d in (1, 2, 3)]
    _auto(stub, times)
    s = automated_snapshot_for(
        client, "shop-cluster", dt.date(2024, 1, 3), "Asia/Tokyo", cluster=True
    )
    assert s.identifier == "rds:shop-cluster-2024-01-02-18-30"
    assert s.arn == ARN + "rds:shop-cluster-2024-01-02-18-30"
    assert s.engine == "aurora-mysql"


def test_cluster_errors_name_the_fix(rds):
    client, stub = rds
    # no cluster snapshot at all, and the cluster exists: Aurora cannot turn backups off
    _auto(stub, [])
    stub.add_response(
        "describe_db_clusters",
        {"DBClusters": [{"DBClusterIdentifier": "shop-cluster"}]},
        {"DBClusterIdentifier": "shop-cluster"},
    )
    with pytest.raises(SnapshotError) as exc:
        automated_snapshot_for(client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True)
    msg = str(exc.value)
    assert "no automated cluster snapshot yet" in msg and "cannot be turned off" in msg
    assert "backups are off" not in msg and "\n" not in msg
    # no such cluster: the config's cluster: is wrong (perhaps an instance's identifier)
    _auto(stub, [])
    stub.add_client_error(
        "describe_db_clusters",
        service_error_code="DBClusterNotFoundFault",
        http_status_code=404,
        expected_params={"DBClusterIdentifier": "shop-cluster"},
    )
    with pytest.raises(SnapshotError, match="no Aurora DB cluster 'shop-cluster'.*fix cluster:"):
        automated_snapshot_for(client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True)
    # D older than the retention period: the cluster's own modify command
    _auto(stub, [dt.datetime(2024, 1, 5, 3, tzinfo=UTC)])
    with pytest.raises(SnapshotError, match="modify-db-cluster --db-cluster-identifier"):
        automated_snapshot_for(client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True)
    # a gap inside the kept days: a stopped cluster, not "backups off"
    _auto(stub, [dt.datetime(2024, 1, d, 3, tzinfo=UTC) for d in (2, 4)])
    with pytest.raises(SnapshotError, match="cluster was stopped then.*snapshot: manual"):
        automated_snapshot_for(client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True)
    # still creating: retryable
    _auto(stub, [dt.datetime(2024, 1, 3, 3, tzinfo=UTC)], status="creating")
    with pytest.raises(SnapshotNotReadyError, match="is creating, 30% done") as nr:
        automated_snapshot_for(client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True)
    assert nr.value.retryable


def test_an_aurora_member_instance_configured_as_instance_names_its_cluster(rds):
    client, stub = rds
    stub.add_response(
        "describe_db_snapshots",
        {"DBSnapshots": []},
        {"DBInstanceIdentifier": "shop-writer", "SnapshotType": "automated"},
    )
    stub.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": "shop-writer", "DBClusterIdentifier": "shop"}]},
        {"DBInstanceIdentifier": "shop-writer"},
    )
    with pytest.raises(SnapshotError, match="member of Aurora cluster 'shop'.*write cluster: shop"):
        automated_snapshot_for(client, "shop-writer", dt.date(2024, 1, 3), "UTC")


def test_manual_cluster_snapshot_is_created_with_create_db_cluster_snapshot(rds):
    client, stub = rds
    now = dt.datetime(2024, 1, 4, 5, 0, tzinfo=UTC)
    want = "shop-cluster-ddb-assets-20240103"
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": []}, MANUAL)
    stub.add_response(
        "create_db_cluster_snapshot",
        {},
        {"DBClusterSnapshotIdentifier": want, "DBClusterIdentifier": "shop-cluster"},
    )
    stub.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [_snap(want, now, "available", "manual")]},
        MANUAL,
    )
    got = manual_snapshot_for(
        client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True, now=now
    )
    assert got.arn == ARN + want and got.snapshot_type == "manual"
    # created by a concurrent run a moment ago: AWS's cluster fault code is tolerated
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": []}, MANUAL)
    stub.add_client_error(
        "create_db_cluster_snapshot", service_error_code="DBClusterSnapshotAlreadyExistsFault"
    )
    stub.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [_snap(want, now, "creating", "manual")]},
        MANUAL,
    )
    with pytest.raises(SnapshotNotReadyError):
        manual_snapshot_for(
            client, "shop-cluster", dt.date(2024, 1, 3), "UTC", cluster=True, now=now
        )


def test_a_missing_cluster_snapshot_at_export_time_is_named(rds):
    client, stub = rds
    ident = "shop-cluster-20240103"
    stub.add_client_error(
        "describe_export_tasks",
        service_error_code="ExportTaskNotFound",
        http_status_code=404,
        expected_params={"ExportTaskIdentifier": ident},
    )
    stub.add_response("describe_export_tasks", {"ExportTasks": []}, None)
    stub.add_client_error(
        "start_export_task",
        service_error_code="DBClusterSnapshotNotFoundFault",
        service_message="DBClusterSnapshot x not found.",
        http_status_code=404,
    )
    req = ExportRequest(ident, "exports", "rds/shop", ROLE, KEY, ("shop.orders",), "shop")
    from ddb_assets.rds.snapshots import Snapshot

    snap = Snapshot("x", ARN + "x", "available", "automated", None)
    with pytest.raises(ExportError, match=f"snapshot {ARN}x not found"):
        request_export(client, req, lambda: snap)


BASE = {
    "name": "shop",
    "cluster": "shop-cluster",
    "db_engine": "aurora-mysql",
    "tables": ["shop.orders"],
    "s3_bucket": "exports",
    "iam_role_arn": ROLE,
    "kms_key_arn": KEY,
}


def test_cluster_config_and_its_one_line_errors():
    src = parse_config({"rds": [BASE]}).rds[0]
    assert src.is_cluster and src.identifier == "shop-cluster"
    with pytest.raises(ConfigError, match="set db_engine: aurora-mysql"):
        parse_config({"rds": [{**BASE, "db_engine": "mysql"}]})
    aurora_instance = {**BASE, "instance": "shop-writer"}
    aurora_instance.pop("cluster")
    with pytest.raises(ConfigError, match="write cluster: <the DB cluster identifier>") as exc:
        parse_config({"rds": [aurora_instance]})
    (line,) = [x for x in str(exc.value).splitlines() if "rds.0" in x]  # one line per problem
    assert "instance: shop-writer" in line


def test_the_commented_aurora_example_is_a_valid_cluster_source():
    """examples/rds.yaml shows the cluster form in a comment: it must stay valid config."""
    from pathlib import Path

    import yaml

    path = Path(__file__).parent.parent / "ddb_assets" / "examples" / "rds.yaml"
    text = path.read_text()
    raw = yaml.safe_load(text)
    comment = text.split("# An Aurora MySQL cluster", 1)[1].splitlines()
    block = "\n".join(line[1:] for line in comment if line.startswith(("#  - ", "#    ")))
    raw["rds"] += yaml.safe_load(block)
    src = parse_config(raw).rds[-1]
    assert src.is_cluster and src.identifier == "shop-aurora"
