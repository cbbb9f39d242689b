"""The local RDS export API's phases, idempotent identifiers and every fault AWS documents:
the codes and HTTP statuses of botocore's RDS model, FAILED with a FailureCause, CANCELED,
skipped tables, the account's concurrent-export limit, and automated backups turned off."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.control import LocalRdsError
from ddb_assets.local.rds.setup import (
    EXPORT_ROLE_TRUST,
    create_export_key,
    create_export_role,
    create_instance,
)

pytestmark = [pytest.mark.integration, pytest.mark.mariadb]

BUCKET = "rds-faults"


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2, rds=True) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        s.role_arn = create_export_role(s.client("iam"), BUCKET)  # type: ignore[attr-defined]
        s.key_arn = create_export_key(s.client("kms"))  # type: ignore[attr-defined]
        rds = s.client("rds")
        create_instance(rds, "faults-db", db_name="app")
        with s.rds.connect("faults-db") as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE good (id INT PRIMARY KEY, v TEXT)")
            cur.execute("INSERT INTO good VALUES (1, 'x'), (2, 'y')")
            cur.execute("CREATE TABLE spaced (id INT PRIMARY KEY, `unit price` INT)")
            cur.execute("CREATE TABLE commas (id INT PRIMARY KEY, `a,b` INT)")
        rds.create_db_snapshot(DBInstanceIdentifier="faults-db", DBSnapshotIdentifier="base")
        s.snap_arn = rds.describe_db_snapshots(DBSnapshotIdentifier="base")["DBSnapshots"][0][  # type: ignore[attr-defined]
            "DBSnapshotArn"
        ]
        yield s


@pytest.fixture
def aws(stack):
    yield stack
    stack.reset_clock()
    stack.rds.configure(export_seconds=0.2, snapshot_seconds=0.0, max_concurrent_exports=5)


def _start(aws, ident: str, **overrides):
    params = {
        "ExportTaskIdentifier": ident,
        "SourceArn": aws.snap_arn,
        "S3BucketName": BUCKET,
        "IamRoleArn": aws.role_arn,
        "KmsKeyId": aws.key_arn,
    }
    params.update(overrides)
    return aws.client("rds").start_export_task(**params)


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def test_phases_starting_in_progress_complete(aws):
    aws.rds.configure(export_seconds=3.0)  # STARTING for 0.75 s, IN_PROGRESS until 3 s
    rds = aws.client("rds")
    first = _start(aws, "phases")
    assert (first["Status"], first["PercentProgress"]) == ("STARTING", 0)
    assert "TaskEndTime" not in first
    s3 = aws.client("s3")
    seen: list[tuple[str, int]] = []
    info_before_complete = []
    while True:
        task = rds.describe_export_tasks(ExportTaskIdentifier="phases")["ExportTasks"][0]
        seen.append((task["Status"], task["PercentProgress"]))
        if task["Status"] not in ("STARTING", "IN_PROGRESS"):
            break
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="phases/export_info")
        info_before_complete.append(listed.get("KeyCount", 0))
        time.sleep(0.1)
    assert set(info_before_complete) == {0}  # metadata only once COMPLETE
    statuses = ["STARTING"] + [s for s, _ in seen]
    assert statuses[-1] == "COMPLETE"
    assert "IN_PROGRESS" in statuses
    assert statuses == sorted(statuses, key=["STARTING", "IN_PROGRESS", "COMPLETE"].index)
    progress = [p for s, p in seen if s == "IN_PROGRESS"]
    assert progress == sorted(progress) and progress[-1] > progress[0]
    assert seen[-1][1] == 100
    assert task["TaskEndTime"] >= task["TaskStartTime"] + timedelta(seconds=3)
    # nothing of the metadata before COMPLETE: export_info is the last object written
    keys = [
        o["Key"]
        for o in aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="phases/")["Contents"]
    ]
    assert "phases/export_info_phases.json" in keys


def test_identifier_is_idempotent_and_never_reused(aws):
    rds = aws.client("rds")
    _start(aws, "once")
    with pytest.raises(ClientError) as err:
        _start(aws, "once")  # same parameters, still running
    assert _error(err) == ("ExportTaskAlreadyExists", 400)
    assert "once" in str(err.value)
    assert aws.rds.wait_for_export("once") == "COMPLETE"
    with pytest.raises(ClientError) as err:
        _start(aws, "once", S3Prefix="elsewhere")  # finished, other parameters
    assert _error(err) == ("ExportTaskAlreadyExists", 400)
    tasks = rds.describe_export_tasks(ExportTaskIdentifier="once")["ExportTasks"]
    assert len(tasks) == 1 and tasks[0]["S3Prefix"] == ""


@pytest.mark.parametrize(
    ("overrides", "code", "status"),
    [
        ({"SourceArn": "arn:aws:rds:us-east-1:123456789012:snapshot:nope"}, "DBSnapshotNotFound", 404),
        ({"IamRoleArn": "arn:aws:iam::123456789012:role/missing"}, "IamRoleNotFound", 404),
        ({"KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"},
         "KMSKeyNotAccessibleFault", 400),
        ({"KmsKeyId": "alias/no-such-alias"}, "KMSKeyNotAccessibleFault", 400),
        ({"ExportOnly": ["app.good.extra"]}, "InvalidExportOnly", 400),
        ({"ExportOnly": ["app-db"]}, "InvalidExportOnly", 400),
        ({"S3Prefix": "a:b"}, "InvalidParameterValue", 400),
    ],
    ids=["snapshot", "role", "kms-arn", "kms-alias", "export-only-depth", "export-only-chars", "prefix"],
)  # fmt: skip
def test_start_faults(aws, overrides, code, status):
    with pytest.raises(ClientError) as err:
        _start(aws, f"fault-{code}-{len(str(overrides))}", **overrides)
    assert _error(err) == (code, status)
    assert (
        aws.client("rds").describe_export_tasks(
            Filters=[
                {
                    "Name": "export-task-identifier",
                    "Values": [f"fault-{code}-{len(str(overrides))}"],
                }
            ]
        )["ExportTasks"]
        == []
    )


def test_kms_alias_works_and_disabled_key_does_not(aws):
    kms = aws.client("kms")
    _start(aws, "by-alias", KmsKeyId="alias/rds-export")
    assert aws.rds.wait_for_export("by-alias") == "COMPLETE"
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as err:
        _start(aws, "disabled-key", KmsKeyId=key)
    assert _error(err) == ("KMSKeyNotAccessibleFault", 400)


def test_role_missing_trust_or_s3_permissions(aws):
    iam = aws.client("iam")
    untrusted = iam.create_role(
        RoleName="not-for-rds",
        AssumeRolePolicyDocument=json.dumps(
            {**EXPORT_ROLE_TRUST, "Statement": [{**EXPORT_ROLE_TRUST["Statement"][0],
                                                  "Principal": {"Service": "lambda.amazonaws.com"}}]}
        ),
    )["Role"]["Arn"]  # fmt: skip
    with pytest.raises(ClientError) as err:
        _start(aws, "untrusted", IamRoleArn=untrusted)
    assert _error(err) == ("IamRoleMissingPermissions", 400)
    other_bucket = create_export_role(iam, "some-other-bucket", name="wrong-bucket-role")
    with pytest.raises(ClientError) as err:
        _start(aws, "wrong-bucket", IamRoleArn=other_bucket)
    assert _error(err) == ("IamRoleMissingPermissions", 400)
    assert BUCKET in err.value.response["Error"]["Message"]


def test_snapshot_still_creating(aws):
    rds = aws.client("rds")
    aws.rds.configure(snapshot_seconds=30)
    rds.create_db_snapshot(DBInstanceIdentifier="faults-db", DBSnapshotIdentifier="slow")
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier="slow")["DBSnapshots"][0]
    assert arn["Status"] == "creating"
    with pytest.raises(ClientError) as err:
        _start(aws, "too-soon", SourceArn=arn["DBSnapshotArn"])
    assert _error(err) == ("InvalidExportSourceState", 400)
    rds.delete_db_snapshot(DBSnapshotIdentifier="slow")


def test_concurrent_export_limit(aws):
    aws.rds.configure(export_seconds=30, max_concurrent_exports=5)
    rds = aws.client("rds")
    for i in range(5):
        _start(aws, f"busy-{i}")
    with pytest.raises(ClientError) as err:
        _start(aws, "busy-5")
    assert _error(err) == ("ExportTaskLimitReached", 400)
    canceled = rds.cancel_export_task(ExportTaskIdentifier="busy-0")
    assert canceled["Status"] == "CANCELING"
    assert aws.rds.wait_for_export("busy-0", timeout=30) == "CANCELED"
    _start(aws, "busy-5")  # a slot is free again
    for i in range(1, 6):
        rds.cancel_export_task(ExportTaskIdentifier=f"busy-{i}")
    for i in range(1, 6):
        assert aws.rds.wait_for_export(f"busy-{i}", timeout=30) == "CANCELED"


def test_cancel_keeps_written_files_and_writes_no_metadata(aws):
    aws.rds.configure(export_seconds=30)
    rds = aws.client("rds")
    _start(aws, "to-cancel")
    job = aws.rds.export_task("to-cancel")
    deadline = time.monotonic() + 20
    while len(job.tables) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    out = rds.cancel_export_task(ExportTaskIdentifier="to-cancel")
    assert out["Status"] == "CANCELING"
    assert aws.rds.wait_for_export("to-cancel", timeout=30) == "CANCELED"
    task = rds.describe_export_tasks(ExportTaskIdentifier="to-cancel")["ExportTasks"][0]
    assert task["Status"] == "CANCELED" and "TaskEndTime" in task
    keys = {
        o["Key"]
        for o in aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="to-cancel/")["Contents"]
    }
    assert "to-cancel/app/app.good/1/_SUCCESS" in keys
    assert not [k for k in keys if "export_info" in k or "export_tables_info" in k]
    with pytest.raises(ClientError) as err:
        rds.cancel_export_task(ExportTaskIdentifier="to-cancel")
    assert _error(err) == ("InvalidExportTaskStateFault", 400)
    with pytest.raises(ClientError) as err:
        rds.cancel_export_task(ExportTaskIdentifier="never-started")
    assert _error(err) == ("ExportTaskNotFound", 404)


def test_injected_failure_and_missing_bucket(aws):
    rds = aws.client("rds")
    aws.rds.fail_next_export(
        "The RDS export failed to write the export task's metadata because it can't assume the IAM role x."
    )
    _start(aws, "injected")
    assert aws.rds.wait_for_export("injected") == "FAILED"
    task = rds.describe_export_tasks(ExportTaskIdentifier="injected")["ExportTasks"][0]
    assert task["FailureCause"].startswith("The RDS export failed to write")
    assert task["PercentProgress"] == 0 and "TaskEndTime" in task
    role = create_export_role(aws.client("iam"), "gone-bucket", name="gone-bucket-role")
    _start(aws, "no-bucket", S3BucketName="gone-bucket", IamRoleArn=role)
    assert aws.rds.wait_for_export("no-bucket") == "FAILED"
    task = rds.describe_export_tasks(ExportTaskIdentifier="no-bucket")["ExportTasks"][0]
    assert task["FailureCause"] == (
        "The S3 bucket gone-bucket isn't valid. Either it isn't located in the current AWS "
        "Region or it doesn't exist. Review your S3 bucket name and retry the export."
    )


def test_tables_with_unsupported_column_names_are_skipped(aws):
    _start(aws, "skips")
    assert aws.rds.wait_for_export("skips") == "COMPLETE"
    task = aws.client("rds").describe_export_tasks(ExportTaskIdentifier="skips")["ExportTasks"][0]
    warning = json.loads(task["WarningMessage"])
    assert sorted(t["target"] for t in warning["skippedTables"]) == ["app.commas", "app.spaced"]
    s3 = aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="skips/")["Contents"]}
    assert not [k for k in keys if "/app.spaced/" in k or "/app.commas/" in k]
    body = s3.get_object(Bucket=BUCKET, Key="skips/export_tables_info_skips_from_1_to_3.json")
    statuses = {t["target"]: t for t in json.loads(body["Body"].read())["perTableStatus"]}
    assert statuses["app.good"]["status"] == "COMPLETE"
    for target in ("app.spaced", "app.commas"):
        assert statuses[target]["status"] == "SKIPPED"
        assert "does not support" in statuses[target]["warningMessage"]


def test_describe_filters_and_paging(aws):
    rds = aws.client("rds")
    aws.rds.configure(export_seconds=0.05)
    for i in range(23):  # one at a time: at most five may run at once
        _start(aws, f"page-{i:02d}", S3Prefix="paged", ExportOnly=["app.good"])
        assert aws.rds.wait_for_export(f"page-{i:02d}") == "COMPLETE"
    seen, marker = [], None
    while True:
        kw = {"MaxRecords": 20, "Filters": [{"Name": "s3-bucket", "Values": [BUCKET]}]}
        if marker:
            kw["Marker"] = marker
        page = rds.describe_export_tasks(**kw)
        assert len(page["ExportTasks"]) <= 20
        seen.extend(t["ExportTaskIdentifier"] for t in page["ExportTasks"])
        marker = page.get("Marker")
        if not marker:
            break
    assert len(seen) == len(set(seen))
    assert {f"page-{i:02d}" for i in range(23)} <= set(seen)
    by_source = rds.describe_export_tasks(SourceArn=aws.snap_arn)["ExportTasks"]
    assert {f"page-{i:02d}" for i in range(23)} <= {t["ExportTaskIdentifier"] for t in by_source}
    assert rds.describe_export_tasks(SourceArn=aws.snap_arn + "x")["ExportTasks"] == []
    done = rds.describe_export_tasks(Filters=[{"Name": "status", "Values": ["complete"]}])
    assert all(t["Status"] == "COMPLETE" for t in done["ExportTasks"])
    with pytest.raises(ClientError) as err:
        rds.describe_export_tasks(ExportTaskIdentifier="no-such-task")
    assert _error(err) == ("ExportTaskNotFound", 404)
    unchecked = aws.client("rds", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as err:
        unchecked.describe_export_tasks(MaxRecords=5)
    assert _error(err)[0] == "InvalidParameterValue"


def test_backups_off_and_retention(aws):
    rds = aws.client("rds")
    create_instance(rds, "nobackup-db", db_name="app", backup_retention_days=0)
    with pytest.raises(LocalRdsError) as refused:
        aws.rds.take_automated_snapshot("nobackup-db")
    assert refused.value.code == "InvalidDBInstanceState"
    assert "BackupRetentionPeriod is 0" in str(refused.value)
    listed = rds.describe_db_snapshots(DBInstanceIdentifier="nobackup-db")["DBSnapshots"]
    assert listed == []

    day1 = datetime(2024, 3, 1, 18, 0, tzinfo=timezone.utc)
    rds.modify_db_instance(
        DBInstanceIdentifier="faults-db", BackupRetentionPeriod=2, ApplyImmediately=True
    )
    aws.set_now(day1)
    first = aws.rds.take_automated_snapshot("faults-db")
    aws.set_now(day1 + timedelta(days=1))
    second = aws.rds.take_automated_snapshot("faults-db")
    aws.set_now(day1 + timedelta(days=2, hours=1))  # the first is now older than 2 days
    ids = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(
        DBInstanceIdentifier="faults-db", SnapshotType="automated")["DBSnapshots"]}  # fmt: skip
    assert ids == {second} and first != second
    rds.modify_db_instance(
        DBInstanceIdentifier="faults-db", BackupRetentionPeriod=0, ApplyImmediately=True
    )
    assert (
        rds.describe_db_snapshots(DBInstanceIdentifier="faults-db", SnapshotType="automated")[
            "DBSnapshots"
        ]
        == []
    )
    assert "base" in {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]}
    rds.modify_db_instance(
        DBInstanceIdentifier="faults-db", BackupRetentionPeriod=7, ApplyImmediately=True
    )
