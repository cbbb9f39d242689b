"""RDS export requests against botocore's Stubber (the exact API calls and AWS's fault
codes): idempotent identifiers, reuse of an export, the snapshot of day D, and every error
that must name its fix. Plus the ``rds:`` config's one-line errors."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ddb_assets.config import ConfigError, parse_config
from ddb_assets.rds import naming
from ddb_assets.rds.exports import (
    ExportAccessError,
    ExportFailedError,
    ExportLimitError,
    ExportRequest,
    request_export,
)
from ddb_assets.rds.snapshots import (
    Snapshot,
    SnapshotError,
    SnapshotNotReadyError,
    automated_snapshot_for,
)

pytestmark = pytest.mark.unit

ROLE = "arn:aws:iam::123456789012:role/rds-export"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
SNAP = "arn:aws:rds:us-east-1:123456789012:snapshot:rds:shop-db-2024-01-02-03-00"
UTC = dt.timezone.utc


def _req(identifier="shop-db-20240102", **kw):
    return ExportRequest(
        identifier=identifier,
        s3_bucket="exports",
        s3_prefix="rds-exports/shop",
        iam_role_arn=ROLE,
        kms_key_arn=KEY,
        export_only=("shop.orders",),
        source="shop",
        **kw,
    )


def _task(identifier, status, **kw):
    return {
        "ExportTaskIdentifier": identifier,
        "SourceArn": SNAP,
        "S3Bucket": "exports",
        "S3Prefix": "rds-exports/shop",
        "Status": status,
        **kw,
    }


def _not_found(stub, identifier):
    stub.add_client_error(
        "describe_export_tasks",
        service_error_code="ExportTaskNotFound",
        http_status_code=404,
        expected_params={"ExportTaskIdentifier": identifier},
    )


def _snapshot():
    return Snapshot("rds:shop-db-2024-01-02-03-00", SNAP, "available", "automated", None)


@pytest.fixture
def rds():
    client = boto3.client("rds", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_identifier_is_deterministic_and_within_aws_limits():
    day = dt.date(2024, 1, 2)
    assert naming.export_task_identifier("shop-db", day) == "shop-db-20240102"
    assert naming.export_task_identifier("shop-db", day, 1) == "shop-db-20240102-r1"
    forced = naming.export_task_identifier("shop-db", day, "force:run-a")
    assert forced == naming.export_task_identifier("shop-db", day, "force:run-a")
    assert forced != naming.export_task_identifier("shop-db", day, "force:run-b")
    long = naming.export_task_identifier("a" * 63, day, 2)
    assert len(long) <= 60 and long.endswith("-20240102-r2") and "--" not in long
    assert long != naming.export_task_identifier("a" * 62 + "b", day, 2)
    for ident in (forced, long):
        assert naming.day_of_export_id("a" * 63 if ident is long else "shop-db", ident) == day
    assert naming.day_of_export_id("other-db", "shop-db-20240102") is None


def test_existing_export_is_reused_without_touching_snapshots(rds):
    client, stub = rds
    stub.add_response(
        "describe_export_tasks",
        {"ExportTasks": [_task("shop-db-20240102", "IN_PROGRESS", PercentProgress=40)]},
        {"ExportTaskIdentifier": "shop-db-20240102"},
    )
    out = request_export(client, _req(), lambda: pytest.fail("no snapshot lookup"))
    assert out.reused and out.export.status == "IN_PROGRESS" and out.export.percent_progress == 40


def test_new_export_starts_with_the_documented_parameters(rds):
    client, stub = rds
    _not_found(stub, "shop-db-20240102")
    stub.add_response("describe_export_tasks", {"ExportTasks": []}, {"Filters": ANY})
    stub.add_response(
        "start_export_task",
        _task("shop-db-20240102", "STARTING", PercentProgress=0),
        {
            "ExportTaskIdentifier": "shop-db-20240102",
            "SourceArn": SNAP,
            "S3BucketName": "exports",
            "IamRoleArn": ROLE,
            "KmsKeyId": KEY,
            "S3Prefix": "rds-exports/shop",
            "ExportOnly": ["shop.orders"],
        },
    )
    out = request_export(client, _req(), _snapshot)
    assert not out.reused and out.export.status == "STARTING"
    assert out.export.root_uri == "s3://exports/rds-exports/shop/shop-db-20240102/"


def test_a_concurrent_start_is_reused(rds):
    client, stub = rds
    _not_found(stub, "shop-db-20240102")
    stub.add_response("describe_export_tasks", {"ExportTasks": []}, {"Filters": ANY})
    stub.add_client_error("start_export_task", service_error_code="ExportTaskAlreadyExists")
    stub.add_response(
        "describe_export_tasks",
        {"ExportTasks": [_task("shop-db-20240102", "STARTING")]},
        {"ExportTaskIdentifier": "shop-db-20240102"},
    )
    assert request_export(client, _req(), _snapshot).reused


@pytest.mark.parametrize(
    "code, error, words",
    [
        ("IamRoleNotFound", ExportAccessError, ["does not exist", "export.rds.amazonaws.com"]),
        ("IamRoleMissingPermissions", ExportAccessError, ["s3:PutObject*", "arn:aws:s3:::exports"]),
        ("KMSKeyNotAccessibleFault", ExportAccessError, ["kms:CreateGrant", "kms_key_arn"]),
        ("ExportTaskLimitReached", ExportLimitError, ["limit of concurrent export tasks"]),
        ("InvalidExportSourceState", Exception, ["wait until it is available"]),
    ],
)
def test_aws_refusals_name_the_fix(rds, code, error, words):
    client, stub = rds
    _not_found(stub, "shop-db-20240102")
    stub.add_response("describe_export_tasks", {"ExportTasks": []}, {"Filters": ANY})
    stub.add_client_error("start_export_task", service_error_code=code, service_message="no")
    with pytest.raises(error) as exc:
        request_export(client, _req(), _snapshot)
    for w in words:
        assert w in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_concurrent_limit_is_checked_before_starting(rds):
    client, stub = rds
    _not_found(stub, "shop-db-20240102")
    running = [_task(f"other-{i}", "IN_PROGRESS") for i in range(2)]
    stub.add_response("describe_export_tasks", {"ExportTasks": running}, {"Filters": ANY})
    with pytest.raises(ExportLimitError, match="2 export task.*limit is 2") as exc:
        request_export(client, _req(max_concurrent=2), _snapshot)
    assert exc.value.retryable


def test_failed_or_canceled_export_reports_aws_cause(rds):
    client, stub = rds
    cause = "The S3 bucket exports isn't valid. Either it isn't located in the current AWS Region or it doesn't exist."
    stub.add_response(
        "describe_export_tasks",
        {"ExportTasks": [_task("shop-db-20240102", "FAILED", FailureCause=cause)]},
        {"ExportTaskIdentifier": "shop-db-20240102"},
    )
    with pytest.raises(ExportFailedError, match="is FAILED: The S3 bucket exports isn't valid"):
        request_export(client, _req(), _snapshot)


def _snaps(stub, snaps):
    stub.add_response(
        "describe_db_snapshots",
        {
            "DBSnapshots": [
                {
                    "DBSnapshotIdentifier": f"rds:shop-db-{t:%Y-%m-%d-%H-%M}",
                    "DBSnapshotArn": f"arn:aws:rds:us-east-1:123456789012:snapshot:rds:shop-db-{t:%Y-%m-%d-%H-%M}",
                    "SnapshotType": "automated",
                    "Status": status,
                    "SnapshotCreateTime": t,
                    "PercentProgress": 100 if status == "available" else 40,
                }
                for t, status in snaps
            ]
        },
        {"DBInstanceIdentifier": "shop-db", "SnapshotType": "automated"},
    )


def test_the_automated_snapshot_of_day_d_in_the_sources_time_zone(rds):
    client, stub = rds
    # 2024-01-02 18:30 UTC is 2024-01-03 03:30 in Tokyo: day 3's snapshot there
    _snaps(
        stub,
        [
            (dt.datetime(2024, 1, 1, 18, 30, tzinfo=UTC), "available"),
            (dt.datetime(2024, 1, 2, 18, 30, tzinfo=UTC), "available"),
        ],
    )
    s = automated_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "Asia/Tokyo")
    assert s.identifier == "rds:shop-db-2024-01-02-18-30"


def test_snapshot_errors_name_the_fix(rds):
    client, stub = rds
    _snaps(stub, [])
    # nothing at all: the instance is looked up once (it exists: backups are off)
    stub.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": "shop-db"}]},
        {"DBInstanceIdentifier": "shop-db"},
    )
    with pytest.raises(SnapshotError, match="automated backups are off.*backup-retention-period"):
        automated_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "UTC")
    _snaps(stub, [(dt.datetime(2024, 1, 5, 3, tzinfo=UTC), "available")])
    with pytest.raises(SnapshotError, match="oldest kept is from 2024-01-05.*retention period"):
        automated_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "UTC")
    _snaps(stub, [(dt.datetime(2024, 1, 3, 3, tzinfo=UTC), "creating")])
    with pytest.raises(SnapshotNotReadyError, match="is creating, 40% done") as exc:
        automated_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "UTC")
    assert exc.value.retryable


BASE = {
    "name": "shop",
    "instance": "shop-db",
    "tables": ["shop.orders"],
    "s3_bucket": "exports",
    "iam_role_arn": ROLE,
    "kms_key_arn": KEY,
}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"db_engine": "postgres"}, "PostgreSQL sources are not supported yet"),
        ({"iam_role_arn": "rds-export"}, "is not an IAM role ARN"),
        ({"kms_key_arn": "alias/x"}, "is not a KMS key ARN"),
        ({"tables": ["orders"]}, "must be written database.table"),
        ({"instance": "shop--db"}, "is not an RDS identifier"),
        ({"cluster": "c1"}, "give exactly one of instance"),
        ({"name": "Shop"}, "not a valid Athena/Glue name"),
        ({"s3_prefix": "a/../b"}, "has a '..' segment"),
        (
            {"tables": ["shop.orders", {"source": "shop.items", "name": "shop_orders"}]},
            "both become",
        ),
    ],
)
def test_rds_config_errors_are_one_line_with_the_fix(change, words):
    with pytest.raises(ConfigError) as exc:
        parse_config({"rds": [{**BASE, **change}]})
    lines = str(exc.value).splitlines()
    assert len(lines) == 2 and words in lines[1], lines


def test_rds_tables_share_the_naming_rules_with_dynamodb_tables():
    with pytest.raises(
        ConfigError, match="would become table 'shop_orders'.*already the typed table"
    ):
        parse_config(
            {
                "tables": [{"name": "shop_orders", "s3_bucket": "exports"}],
                "rds": [{**BASE, "tables": ["shop.Orders"]}],
            }
        )
    cfg = parse_config({"rds": [{**BASE, "tables": ["shop.OrderItems", "shop.select"]}]})
    assert [t.name for t in cfg.rds_tables()] == ["shop_orderitems", "shop_select"]
    assert cfg.typed_table_names() == {"shop_orderitems", "shop_select"}


def test_manual_snapshot_is_taken_for_yesterday_only(rds):
    from ddb_assets.rds.snapshots import manual_snapshot_for

    client, stub = rds
    now = dt.datetime(2024, 1, 4, 5, 0, tzinfo=UTC)
    listing = {"DBInstanceIdentifier": "shop-db", "SnapshotType": "manual"}
    stub.add_response("describe_db_snapshots", {"DBSnapshots": []}, listing)
    with pytest.raises(SnapshotError, match="would hold 2024-01-04's data, not 2024-01-01's"):
        manual_snapshot_for(client, "shop-db", dt.date(2024, 1, 1), "UTC", now=now)
    stub.add_response("describe_db_snapshots", {"DBSnapshots": []}, listing)
    stub.add_response(
        "create_db_snapshot",
        {},
        {"DBSnapshotIdentifier": "shop-db-ddb-assets-20240103", "DBInstanceIdentifier": "shop-db"},
    )
    snap = {
        "DBSnapshotIdentifier": "shop-db-ddb-assets-20240103",
        "DBSnapshotArn": "arn:aws:rds:us-east-1:123456789012:snapshot:shop-db-ddb-assets-20240103",
        "SnapshotType": "manual",
        "Status": "creating",
        "PercentProgress": 10,
    }
    stub.add_response("describe_db_snapshots", {"DBSnapshots": [snap]}, listing)
    with pytest.raises(SnapshotNotReadyError, match="is creating, 10% done"):
        manual_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "UTC", now=now)
    stub.add_response(
        "describe_db_snapshots", {"DBSnapshots": [{**snap, "Status": "available"}]}, listing
    )
    got = manual_snapshot_for(client, "shop-db", dt.date(2024, 1, 3), "UTC", now=now)
    assert got.identifier == "shop-db-ddb-assets-20240103"


def test_a_refused_call_fails_at_once_naming_the_call_and_the_fix(rds):
    """AccessDenied is not retried (waiting grants no permission): one line naming the call."""
    client, stub = rds
    stub.add_client_error(
        "describe_export_tasks",
        service_error_code="AccessDenied",
        service_message="not authorized to perform: rds:DescribeExportTasks",
        http_status_code=403,
    )
    with pytest.raises(ExportAccessError) as err:
        request_export(client, _req(), lambda: pytest.fail("no snapshot lookup"))
    text = str(err.value)
    assert "DescribeExportTasks was refused (AccessDenied" in text and "ddb-assets infra" in text
    assert not err.value.retryable
