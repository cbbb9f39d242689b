"""Requesting and describing DynamoDB point-in-time exports (no Dagster here).

Partition ``D`` of a table is the table as of the end of day ``D`` in the table's time
zone: ``ExportTime`` = midnight that starts ``D + 1``. Each table and partition has a
deterministic S3 prefix and ClientToken, so a retried or duplicated request never starts
a second export (see :func:`request_export`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from ddb_assets.dynamodb.manifest import EXPORT_ARN, parse_manifest_summary

FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
_PARTITION_TAIL = re.compile(r"(?:^|/)(?P<table>[a-z_][a-z0-9_]*)/(?P<day>\d{4}-\d{2}-\d{2})$")


class ExportError(RuntimeError):
    """An export could not be requested or did not succeed.

    ``code`` is AWS's error or failure code; ``retryable`` says whether asking again can help.
    """

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class PitrDisabledError(ExportError):
    pass


class ExportTimeOutsideWindowError(ExportError):
    pass


class TableNotFoundError(ExportError):
    pass


class ExportThrottledError(ExportError):
    pass


class ExportConflictError(ExportError):
    pass


class ExportFailedError(ExportError):
    pass


# ---------------------------------------------------------------------------------------
# Partitions, prefixes, tokens


def partition_export_time(partition: date, tz: str) -> datetime:
    """End of day ``partition`` in ``tz`` (the instant day ``partition + 1`` starts), in UTC."""
    next_day = partition + timedelta(days=1)
    local = datetime(next_day.year, next_day.month, next_day.day, tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def partition_prefix(base_prefix: str, table: str, partition: date) -> str:
    """``<base>/<table>/<YYYY-MM-DD>``: where every export of this partition is written."""
    base = base_prefix.strip("/")
    tail = f"{table}/{partition.isoformat()}"
    return f"{base}/{tail}" if base else tail


def partition_of_prefix(s3_prefix: str | None) -> tuple[str, date] | None:
    """Inverse of :func:`partition_prefix`: ``(table, day)`` or None for foreign prefixes."""
    if not s3_prefix:
        return None
    m = _PARTITION_TAIL.search(s3_prefix.strip("/"))
    if not m:
        return None
    return m.group("table"), date.fromisoformat(m.group("day"))


def client_token(*parts: object) -> str:
    """A deterministic ClientToken (hex, 40 characters) from the request's identity."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:40]


def export_id_of(arn: str) -> str:
    m = EXPORT_ARN.match(arn)
    if not m:
        raise ValueError(f"not a DynamoDB export ARN: {arn!r}")
    return m.group("export_id")


def export_started_at(arn: str) -> datetime:
    """When an export started, read from its ExportId (epoch milliseconds, then a dash)."""
    ms = int(export_id_of(arn).split("-")[0])
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


# ---------------------------------------------------------------------------------------
# Describing


@dataclass(frozen=True)
class ExportDescription:
    arn: str
    status: str  # IN_PROGRESS | COMPLETED | FAILED
    table_arn: str | None = None
    export_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    s3_bucket: str | None = None
    s3_prefix: str | None = None
    manifest_key: str | None = None  # manifest-summary.json
    item_count: int | None = None
    billed_size_bytes: int | None = None
    export_format: str | None = None
    export_type: str = FULL_EXPORT
    client_token: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None

    @classmethod
    def from_api(cls, d: dict) -> ExportDescription:
        return cls(
            arn=d["ExportArn"],
            status=d.get("ExportStatus", "IN_PROGRESS"),
            table_arn=d.get("TableArn"),
            export_time=_utc(d.get("ExportTime")),
            start_time=_utc(d.get("StartTime")),
            end_time=_utc(d.get("EndTime")),
            s3_bucket=d.get("S3Bucket"),
            s3_prefix=d.get("S3Prefix"),
            manifest_key=d.get("ExportManifest"),
            item_count=d.get("ItemCount"),
            billed_size_bytes=d.get("BilledSizeBytes"),
            export_format=d.get("ExportFormat"),
            export_type=d.get("ExportType") or FULL_EXPORT,
            client_token=d.get("ClientToken"),
            failure_code=d.get("FailureCode"),
            failure_message=d.get("FailureMessage"),
        )

    @property
    def manifest_uri(self) -> str | None:
        if self.s3_bucket and self.manifest_key:
            return f"s3://{self.s3_bucket}/{self.manifest_key}"
        return None


def _utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        )
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def describe_export(ddb, arn: str) -> ExportDescription:
    try:
        return ExportDescription.from_api(ddb.describe_export(ExportArn=arn)["ExportDescription"])
    except ClientError as exc:
        raise _translate(exc, table=None) from exc


def recent_exports(ddb, table_arn: str, since: datetime) -> Iterator[tuple[str, str]]:
    """``(ExportArn, ExportStatus)`` of the table's exports started at or after ``since``.

    ListExports returns a table's exports in reverse order of ExportArn, and the ExportId
    starts with the start time in epoch milliseconds, so the walk stops at the first
    older export: the cost is O(recent exports), not O(history).
    """
    token = None
    while True:
        kwargs = {"TableArn": table_arn, "MaxResults": 25}
        if token:
            kwargs["NextToken"] = token
        page = _call(lambda: ddb.list_exports(**kwargs), table=None)  # noqa: B023 (called at once)
        for s in page.get("ExportSummaries", []):
            try:
                started = export_started_at(s["ExportArn"])
            except ValueError:
                continue
            if started < since:
                return
            yield s["ExportArn"], s.get("ExportStatus", "IN_PROGRESS")
        token = page.get("NextToken")
        if not token:
            return


# ---------------------------------------------------------------------------------------
# Requesting


@dataclass(frozen=True)
class ExportRequest:
    table_name: str  # the DynamoDB table
    partition: date
    export_time: datetime
    s3_bucket: str
    s3_prefix: str
    export_format: str = "DYNAMODB_JSON"
    client_token: str = ""

    @classmethod
    def for_partition(
        cls,
        *,
        table_name: str,
        sql_name: str,
        partition: date,
        tz: str,
        s3_bucket: str,
        base_prefix: str,
        export_format: str,
        generation: int | str = 0,
    ) -> ExportRequest:
        prefix = partition_prefix(base_prefix, sql_name, partition)
        export_time = partition_export_time(partition, tz)
        token = client_token(
            table_name, partition.isoformat(), export_format, s3_bucket, prefix, generation
        )
        return cls(
            table_name=table_name,
            partition=partition,
            export_time=export_time,
            s3_bucket=s3_bucket,
            s3_prefix=prefix,
            export_format=export_format,
            client_token=token,
        )


@dataclass(frozen=True)
class RequestOutcome:
    export: ExportDescription
    reused: bool  # True when an existing export answers this request


_PITR_FIX = (
    "enable point-in-time recovery: aws dynamodb update-continuous-backups --table-name {t} "
    "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true "
    "(exports can then cover times from that moment on)"
)


def _throttle_advice(operation: str | None, code: str) -> str:
    """What to change when ``operation`` was throttled: the advice depends on the call."""
    if operation == "ExportTableToPointInTime" and code == "LimitExceededException":
        return (
            "DynamoDB limits how many exports run at once per account: lower the table's "
            "max_concurrent_exports in the config, or retry when running exports finish"
        )
    if operation == "ExportTableToPointInTime":
        return (
            "DynamoDB throttled the export requests themselves: request fewer partitions at "
            "once (a smaller backfill), or retry later"
        )
    call = operation or "a DynamoDB control-plane read"
    return (
        f"DynamoDB throttled {call}, a control-plane read made by the export sensor and the "
        "loads (exports are not affected): raise sensor.interval_seconds or "
        "sensor.reconcile_minutes in the config so fewer reads are made per second, or "
        "retry later"
    )


def _translate(exc: ClientError, *, table: str | None) -> ExportError:
    err = exc.response.get("Error", {})
    code = err.get("Code", "")
    msg = err.get("Message", str(exc))
    t = table or "<table>"
    if code in ("TableNotFoundException", "ResourceNotFoundException"):
        return TableNotFoundError(
            f"DynamoDB table {t!r} not found ({code}: {msg}); check dynamodb_table in the "
            "config and the region/account of your credentials",
            code=code,
        )
    if code == "PointInTimeRecoveryUnavailableException":
        return PitrDisabledError(f"{code}: {msg}. Fix: " + _PITR_FIX.format(t=t), code=code)
    if code == "InvalidExportTimeException":
        return ExportTimeOutsideWindowError(
            f"{code}: {msg}. The requested time is outside the table's point-in-time "
            "recovery window: this partition is not exportable",
            code=code,
        )
    if code in (
        "LimitExceededException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    ):
        return ExportThrottledError(
            f"{code}: {msg}. {_throttle_advice(getattr(exc, 'operation_name', None), code)}",
            code=code,
            retryable=True,
        )
    if code == "ExportConflictException":
        return ExportConflictError(
            f"{code}: {msg}. DynamoDB saw this request's ClientToken within the last 8 hours "
            "with other parameters, or a conflicting write to the S3 location; if the "
            "partition's settings changed on purpose, re-export it with force: true",
            code=code,
            retryable=True,
        )
    if code == "ExportNotFoundException":
        return ExportError(f"{code}: {msg}", code=code)
    return ExportError(f"{code or type(exc).__name__}: {msg}", code=code or None)


def _call(
    fn: Callable,
    *,
    table: str | None,
    attempts: int = 6,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
):
    """Call ``fn`` with capped exponential backoff on throttling, translating errors."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except ClientError as exc:
            err = _translate(exc, table=table)
            if isinstance(err, ExportThrottledError) and attempt < attempts:
                sleep(min(base_delay * 2 ** (attempt - 1), 30.0))
                continue
            if isinstance(err, ExportThrottledError):
                raise ExportThrottledError(
                    f"{err} (gave up after {attempts} attempts with backoff)",
                    code=err.code,
                    retryable=True,
                ) from exc
            raise err from exc
    raise AssertionError("unreachable")


def check_pitr_window(
    ddb, table_name: str, export_time: datetime, now: datetime | None = None
) -> tuple[datetime | None, datetime]:
    """Raise unless PITR is on and ``export_time`` lies inside its window."""
    desc = _call(lambda: ddb.describe_continuous_backups(TableName=table_name), table=table_name)
    pitr = desc["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise PitrDisabledError(
            f"point-in-time recovery is {pitr.get('PointInTimeRecoveryStatus', 'DISABLED')} on "
            f"{table_name!r}, and exports need it. Fix: " + _PITR_FIX.format(t=table_name),
            code="PointInTimeRecoveryUnavailableException",
        )
    earliest = _utc(pitr.get("EarliestRestorableDateTime"))
    latest = _utc(pitr.get("LatestRestorableDateTime")) or (now or datetime.now(timezone.utc))
    if export_time > (now or datetime.now(timezone.utc)):
        raise ExportTimeOutsideWindowError(
            f"the export time {export_time.isoformat()} is in the future: the partition's day "
            "has not ended yet; request it after that time",
            code="InvalidExportTimeException",
            retryable=True,
        )
    if earliest is not None and export_time < earliest:
        raise ExportTimeOutsideWindowError(
            f"the export time {export_time.isoformat()} is before the earliest restorable "
            f"time {earliest.isoformat()} of {table_name!r} (PITR keeps at most 35 days, and "
            "nothing from before it was enabled): this partition is not exportable",
            code="InvalidExportTimeException",
        )
    return earliest, latest


def find_completed_export(
    s3, bucket: str, prefix: str, export_time: datetime, export_format: str
) -> str | None:
    """The manifest-summary key of a finished export already under ``prefix``, if any.

    This catches repeats that the ClientToken can no longer (tokens are remembered for
    8 hours by DynamoDB).
    """
    kwargs = {"Bucket": bucket, "Prefix": f"{prefix.rstrip('/')}/AWSDynamoDB/"}
    found: list[tuple[datetime, str]] = []
    while True:
        try:
            page = s3.list_objects_v2(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return None
            raise
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest-summary.json"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
                try:
                    summary = parse_manifest_summary(body)
                except Exception:
                    continue
                if (
                    summary.export_time == export_time
                    and summary.output_format == export_format
                    and summary.export_type == FULL_EXPORT
                ):
                    found.append((summary.start_time, summary.export_arn))
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    if not found:
        return None
    return max(found)[1]


def count_in_progress(
    ddb, table_arn: str, now: datetime | None = None, lookback: timedelta = timedelta(hours=24)
) -> int:
    since = (now or datetime.now(timezone.utc)) - lookback
    return sum(1 for _, status in recent_exports(ddb, table_arn, since) if status == "IN_PROGRESS")


def request_export(
    ddb,
    s3,
    req: ExportRequest,
    *,
    force: bool = False,
    max_concurrent: int | None = None,
    wait_for_slot_seconds: float = 1800,
    poll_seconds: float = 15,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> RequestOutcome:
    """Ask DynamoDB for the partition's export, or return the one that already answers it.

    Idempotent: unless ``force``, an export already completed under the partition's prefix
    is reused, and the deterministic ClientToken makes DynamoDB return the in-flight one.
    ``max_concurrent`` caps this table's exports in progress: the call waits for a slot.
    """
    table = req.table_name
    desc = _call(lambda: ddb.describe_table(TableName=table), table=table)
    table_arn = desc["Table"]["TableArn"]
    check_pitr_window(ddb, table, req.export_time, now=now())

    if not force:
        arn = find_completed_export(
            s3, req.s3_bucket, req.s3_prefix, req.export_time, req.export_format
        )
        if arn:
            return RequestOutcome(describe_export(ddb, arn), reused=True)

    if max_concurrent is not None:
        deadline = time.monotonic() + wait_for_slot_seconds
        while count_in_progress(ddb, table_arn, now=now()) >= max_concurrent:
            if time.monotonic() > deadline:
                raise ExportThrottledError(
                    f"{table!r} still has {max_concurrent} exports in progress after "
                    f"{wait_for_slot_seconds:.0f} s; raise max_concurrent_exports or retry later",
                    code="ConcurrencyCap",
                    retryable=True,
                )
            sleep(poll_seconds)

    params = dict(
        TableArn=table_arn,
        ExportTime=req.export_time,
        ClientToken=req.client_token,
        S3Bucket=req.s3_bucket,
        S3Prefix=req.s3_prefix,
        ExportFormat=req.export_format,
        ExportType=FULL_EXPORT,
    )
    resp = _call(lambda: ddb.export_table_to_point_in_time(**params), table=table, sleep=sleep)
    # Within 8 hours DynamoDB answers a repeated ClientToken with the export it started.
    return RequestOutcome(ExportDescription.from_api(resp["ExportDescription"]), reused=False)
