"""Requesting and describing RDS snapshot exports (StartExportTask, DescribeExportTasks).

Idempotent by construction: each source and day has one deterministic
``ExportTaskIdentifier`` (:func:`ddb_assets.rds.naming.export_task_identifier`). A request
first describes that identifier: an export that exists (STARTING, IN_PROGRESS or COMPLETE)
is reused, so a retried, duplicated or overlapping run never starts a second one; a
re-export happens only on purpose (a new generation: a retry of a FAILED export, or
``force``). AWS's refusals become :class:`ExportError` with the fix in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from ddb_assets.rds.naming import export_root

# DescribeExportTasks' statuses (RDS API reference, ExportTask.Status).
STARTING, IN_PROGRESS, COMPLETE = "STARTING", "IN_PROGRESS", "COMPLETE"
FAILED, CANCELED, CANCELING = "FAILED", "CANCELED", "CANCELING"
RUNNING = frozenset({STARTING, IN_PROGRESS, CANCELING})
REUSABLE = frozenset({STARTING, IN_PROGRESS, COMPLETE})
# AWS: "You can have up to five concurrent DB snapshot export tasks in progress per account."
AWS_CONCURRENT_EXPORTS = 5


class ExportError(RuntimeError):
    """An export could not be requested, or did not succeed. ``code`` is AWS's error code
    (or ours); ``retryable`` says whether asking again later can help."""

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class ExportLimitError(ExportError):
    """Too many exports are running in the account."""


class ExportAccessError(ExportError):
    """The export's IAM role or KMS key is missing or not allowed."""


class ExportFailedError(ExportError):
    """The export ended FAILED or CANCELED (AWS's FailureCause in the message)."""


@dataclass(frozen=True)
class RdsExport:
    identifier: str
    status: str
    source_arn: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str | None = None
    export_only: tuple[str, ...] = ()
    snapshot_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    percent_progress: int | None = None
    extracted_gb: int | None = None
    failure_cause: str | None = None
    warning: str | None = None
    iam_role_arn: str | None = None
    kms_key_id: str | None = None

    @classmethod
    def from_api(cls, d: dict) -> RdsExport:
        return cls(
            identifier=d["ExportTaskIdentifier"],
            status=d.get("Status", STARTING),
            source_arn=d.get("SourceArn"),
            s3_bucket=d.get("S3Bucket"),
            s3_prefix=d.get("S3Prefix"),
            export_only=tuple(d.get("ExportOnly") or ()),
            snapshot_time=d.get("SnapshotTime"),
            start_time=d.get("TaskStartTime"),
            end_time=d.get("TaskEndTime"),
            percent_progress=d.get("PercentProgress"),
            extracted_gb=d.get("TotalExtractedDataInGB"),
            failure_cause=d.get("FailureCause"),
            warning=d.get("WarningMessage"),
            iam_role_arn=d.get("IamRoleArn"),
            kms_key_id=d.get("KmsKeyId"),
        )

    @property
    def root_key(self) -> str:
        """Key prefix of the export's files: ``<S3Prefix>/<ExportTaskIdentifier>/``."""
        return export_root(self.s3_prefix, self.identifier)

    @property
    def root_uri(self) -> str:
        return f"s3://{self.s3_bucket}/{self.root_key}"


@dataclass(frozen=True)
class ExportRequest:
    identifier: str  # ExportTaskIdentifier
    s3_bucket: str
    s3_prefix: str
    iam_role_arn: str
    kms_key_arn: str
    export_only: tuple[str, ...]
    source: str  # the configured source name, for messages
    max_concurrent: int = AWS_CONCURRENT_EXPORTS


@dataclass(frozen=True)
class RequestOutcome:
    export: RdsExport
    reused: bool
    snapshot_arn: str | None = None
    calls: list[str] = field(default_factory=list)


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return err.get("Code", ""), err.get("Message", "")


def describe_export_task(rds, identifier: str) -> RdsExport | None:
    """The export task ``identifier``, or None when RDS has none by that name."""
    try:
        tasks = rds.describe_export_tasks(ExportTaskIdentifier=identifier).get("ExportTasks", [])
    except ClientError as exc:
        code, msg = _error(exc)
        if code in ("ExportTaskNotFound", "ExportTaskNotFoundFault"):
            return None
        raise ExportError(
            f"DescribeExportTasks({identifier}) failed: {code}: {msg}",
            code=code,
            retryable=code in ("Throttling", "ThrottlingException"),
        ) from exc
    for t in tasks:
        if t.get("ExportTaskIdentifier") == identifier:
            return RdsExport.from_api(t)
    return None


def running_exports(rds) -> list[RdsExport]:
    """Exports of the account still STARTING or IN_PROGRESS (they count against the limit)."""
    out: list[RdsExport] = []
    marker = None
    while True:
        kwargs: dict = {"Filters": [{"Name": "status", "Values": ["starting", "in_progress"]}]}
        if marker:
            kwargs["Marker"] = marker
        try:
            page = rds.describe_export_tasks(**kwargs)
        except ClientError as exc:
            code, msg = _error(exc)
            raise ExportError(f"DescribeExportTasks failed: {code}: {msg}", code=code) from exc
        out.extend(
            RdsExport.from_api(t)
            for t in page.get("ExportTasks", [])
            if t.get("Status") in (STARTING, IN_PROGRESS)
        )
        marker = page.get("Marker")
        if not marker:
            return out


def _translate(exc: ClientError, req: ExportRequest, snapshot_arn: str) -> ExportError:
    code, msg = _error(exc)
    where = f"export {req.identifier} of {req.source}"
    if code in ("IamRoleNotFound", "IamRoleNotFoundFault"):
        return ExportAccessError(
            f"{where}: the IAM role {req.iam_role_arn} does not exist ({msg}). Create it with a "
            "trust policy for export.rds.amazonaws.com (see `ddb-assets infra`), or fix "
            "iam_role_arn",
            code=code,
        )
    if code in ("IamRoleMissingPermissions", "IamRoleMissingPermissionsFault"):
        return ExportAccessError(
            f"{where}: the IAM role {req.iam_role_arn} may not write the export ({msg}). Allow "
            f"it s3:PutObject*, s3:GetObject*, s3:ListBucket, s3:DeleteObject* and "
            f"s3:GetBucketLocation on arn:aws:s3:::{req.s3_bucket} and its objects, and let "
            "export.rds.amazonaws.com assume it",
            code=code,
        )
    if code in ("KMSKeyNotAccessibleFault", "KMSKeyNotAccessible"):
        return ExportAccessError(
            f"{where}: the KMS key {req.kms_key_arn} cannot be used ({msg}). The key must be a "
            "customer managed key in the snapshot's region whose key policy lets the caller "
            "and the export role use kms:CreateGrant and kms:DescribeKey; fix kms_key_arn or "
            "the key policy",
            code=code,
        )
    if code in ("InvalidS3BucketFault", "InvalidS3Bucket"):
        return ExportAccessError(
            f"{where}: bucket {req.s3_bucket!r} cannot take the export ({msg}); it must exist "
            "in the snapshot's region and the export role must reach it",
            code=code,
        )
    if code in ("InvalidExportOnly", "InvalidExportOnlyFault"):
        return ExportError(
            f"{where}: RDS refused ExportOnly {list(req.export_only)} ({msg}); list existing "
            "database.table names under the source's tables",
            code=code,
        )
    if code in ("InvalidExportSourceState", "InvalidExportSourceStateFault"):
        return ExportError(
            f"{where}: snapshot {snapshot_arn} cannot be exported now ({msg}); wait until it "
            "is available, or check that its engine version supports export to S3",
            code=code,
            retryable=True,
        )
    if code in ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"):
        return ExportError(f"{where}: snapshot {snapshot_arn} not found ({msg})", code=code)
    if "limit" in (code + msg).lower() or "quota" in (code + msg).lower():
        return ExportLimitError(
            f"{where}: the account's limit of concurrent export tasks "
            f"({AWS_CONCURRENT_EXPORTS} in progress per account) is reached ({msg}); the "
            "request retries once one finishes",
            code=code,
            retryable=True,
        )
    return ExportError(
        f"{where}: StartExportTask failed: {code}: {msg}",
        code=code,
        retryable=code in ("Throttling", "ThrottlingException", "InternalFailure"),
    )


ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)


def access_denied(exc: BaseException, source: str) -> ExportAccessError | None:
    """The one-line error for a call the deployment's credentials may not make (refused at
    once: waiting does not grant a permission), or None when ``exc`` is something else."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__  # a ClientError our own error types wrapped
    if cause is None:
        return None
    code, msg = _error(cause)
    if code not in ACCESS_DENIED_CODES:
        return None
    return ExportAccessError(
        f"rds source {source}: {cause.operation_name} was refused ({code}: {msg}); give the "
        "deployment's role that permission (`ddb-assets infra` writes the policy the chain "
        "needs, `ddb-assets doctor` checks it)",
        code=code,
    )


def request_export(
    rds, req: ExportRequest, pick_snapshot: Callable[[], object], *, force: bool = False
) -> RequestOutcome:
    """Start (or reuse) the export ``req.identifier``; a refused call (AccessDenied) is an
    :class:`ExportAccessError` naming the call, never retried."""
    try:
        return _request_export(rds, req, pick_snapshot, force=force)
    except Exception as exc:
        denied = access_denied(exc, req.source)
        if denied is None:
            raise
        raise denied from exc


def _request_export(
    rds, req: ExportRequest, pick_snapshot: Callable[[], object], *, force: bool = False
) -> RequestOutcome:
    """Start (or reuse) the export ``req.identifier``.

    An export of that identifier that exists and did not fail is reused (``force`` means the
    caller chose a new identifier already). A FAILED or CANCELED one is reported as
    :class:`ExportFailedError` with AWS's cause: a retry uses the next generation.
    ``pick_snapshot`` is called only when an export must start (no snapshot call otherwise).
    """
    existing = describe_export_task(rds, req.identifier)
    if existing is not None:
        if existing.status in REUSABLE:
            return RequestOutcome(existing, reused=True, snapshot_arn=existing.source_arn)
        raise ExportFailedError(
            f"export {req.identifier} of {req.source} is {existing.status}: "
            f"{existing.failure_cause or 'no cause given'}; a retry starts a new export "
            "(the sensor does this up to max_export_retries), or re-export with force",
            code=existing.status,
        )
    snapshot = pick_snapshot()
    snapshot_arn = snapshot.arn  # type: ignore[attr-defined]
    running = running_exports(rds)
    if len(running) >= req.max_concurrent:
        raise ExportLimitError(
            f"export {req.identifier} of {req.source} not started: {len(running)} export "
            f"task(s) are in progress ({', '.join(sorted(e.identifier for e in running)[:5])}) "
            f"and the limit is {req.max_concurrent} (AWS allows {AWS_CONCURRENT_EXPORTS} per "
            "account); the request retries once one finishes",
            code="ExportTaskLimit",
            retryable=True,
        )
    kwargs = {
        "ExportTaskIdentifier": req.identifier,
        "SourceArn": snapshot_arn,
        "S3BucketName": req.s3_bucket,
        "IamRoleArn": req.iam_role_arn,
        "KmsKeyId": req.kms_key_arn,
        "S3Prefix": req.s3_prefix,
    }
    if req.export_only:
        kwargs["ExportOnly"] = list(req.export_only)
    try:
        started = rds.start_export_task(**kwargs)
    except ClientError as exc:
        code, _ = _error(exc)
        if code in ("ExportTaskAlreadyExists", "ExportTaskAlreadyExistsFault"):
            again = describe_export_task(rds, req.identifier)
            if again is not None:  # a concurrent run started it a moment ago
                return RequestOutcome(again, reused=True, snapshot_arn=again.source_arn)
        raise _translate(exc, req, snapshot_arn) from exc
    return RequestOutcome(RdsExport.from_api(started), reused=False, snapshot_arn=snapshot_arn)


def describe_many(rds, identifiers: Iterable[str]) -> dict[str, RdsExport | None]:
    """One DescribeExportTasks call per identifier (the sensor's O(pending) cost)."""
    return {i: describe_export_task(rds, i) for i in identifiers}


def require_complete(e: RdsExport | None, identifier: str) -> RdsExport:
    if e is None:
        raise ExportError(f"export task {identifier} does not exist", code="ExportTaskNotFound")
    if e.status != COMPLETE:
        cause = f": {e.failure_cause}" if e.failure_cause else ""
        raise ExportFailedError(
            f"export {identifier} is {e.status}{cause}, not COMPLETE", code=e.status
        )
    return e


def utc_now() -> datetime:
    return datetime.now(UTC)
