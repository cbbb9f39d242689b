"""Requesting the chain's exports idempotently: the seed (a full export) and each window.

Every export of a chain has a deterministic S3 prefix and ClientToken derived from the table,
the chain generation and the window (or seed time)::

    <s3_prefix>/<table>/incremental/g<generation>/seed/<time>/AWSDynamoDB/<ExportId>/...
    <s3_prefix>/<table>/incremental/g<generation>/windows/<from>_<to>/AWSDynamoDB/<ExportId>/...
    <s3_prefix>/<table>/incremental/g<generation>/check/<time>/AWSDynamoDB/<ExportId>/...

so a repeated request returns the export DynamoDB already started (ClientToken, 8 hours) or
the one already COMPLETED under the prefix (read from its manifest in S3). Nothing here
needs a cursor: S3 and DynamoDB are the record of what was requested.

``check`` exports are full exports at the chain's position (the last applied window's To),
for the ``matches_full_export`` check of the current table.

Retries (:func:`ensure_with_retries`): attempt ``n > 0`` of an export has its own ClientToken
(the same prefix: every export writes under its own ExportId, and a COMPLETED one is found
by its manifest whichever attempt made it). The attempts are walked in order on every call:
while DynamoDB remembers the tokens (8 hours) a FAILED attempt answers its token again, so
the number of exports started per window is bounded by ``1 + max_export_retries`` with no
state kept anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from ddb_assets.dynamodb.exports import (
    FULL_EXPORT,
    INCREMENTAL_EXPORT,
    ExportDescription,
    ExportFailedError,
    ExportTimeOutsideWindowError,
    _call,
    client_token,
    describe_export,
    export_started_at,
    recent_exports,
)
from ddb_assets.dynamodb.manifest import ManifestSummary, parse_manifest_summary
from ddb_assets.incremental.windows import PitrStatus, Window, _stamp, utc


def chain_prefix(base_prefix: str, table: str, generation: int) -> str:
    base = base_prefix.strip("/")
    tail = f"{table}/incremental/g{int(generation)}"
    return f"{base}/{tail}" if base else tail


@dataclass(frozen=True)
class ChainExportRequest:
    """One export of the chain: the seed (FULL_EXPORT at ``export_time``) or a window."""

    table_name: str  # DynamoDB table
    sql_name: str
    generation: int
    s3_bucket: str
    s3_prefix: str  # this export's own prefix
    export_format: str
    client_token: str
    window: Window | None = None  # incremental
    export_time: datetime | None = None  # seed / check
    view_type: str = "NEW_AND_OLD_IMAGES"
    purpose: str = ""  # "check" for the comparison export
    attempt: int = 0  # > 0: a retry after a FAILED export (own ClientToken)

    @property
    def kind(self) -> str:
        return "window" if self.window is not None else (self.purpose or "seed")

    @property
    def label(self) -> str:
        if self.window is not None:
            return self.window.label
        assert self.export_time is not None  # seed and check requests always carry one
        return f"{self.kind} {_stamp(self.export_time)}"

    def retry(self, attempt: int) -> ChainExportRequest:
        """The same export, attempt ``attempt``: same prefix, its own ClientToken."""
        if attempt == self.attempt:
            return self
        base = self.client_token if self.attempt == 0 else None
        if base is None:
            raise ValueError("retry() is derived from attempt 0")
        token = base if attempt == 0 else client_token(base, "attempt", attempt)
        return replace(self, client_token=token, attempt=attempt)

    @classmethod
    def for_window(
        cls,
        *,
        table_name: str,
        sql_name: str,
        generation: int,
        window: Window,
        s3_bucket: str,
        base_prefix: str,
        export_format: str,
        view_type: str,
    ) -> ChainExportRequest:
        prefix = f"{chain_prefix(base_prefix, sql_name, generation)}/windows/{window.label}"
        token = client_token(
            "incremental",
            table_name,
            generation,
            window.start.isoformat(),
            window.end.isoformat(),
            view_type,
            export_format,
            s3_bucket,
            prefix,
        )
        return cls(
            table_name,
            sql_name,
            generation,
            s3_bucket,
            prefix,
            export_format,
            token,
            window=window,
            view_type=view_type,
        )

    @classmethod
    def for_seed(
        cls,
        *,
        table_name: str,
        sql_name: str,
        generation: int,
        export_time: datetime,
        s3_bucket: str,
        base_prefix: str,
        export_format: str,
    ) -> ChainExportRequest:
        """The full export the chain starts from."""
        return cls._full(
            "seed",
            table_name,
            sql_name,
            generation,
            export_time,
            s3_bucket,
            base_prefix,
            export_format,
        )

    @classmethod
    def for_check(
        cls,
        *,
        table_name: str,
        sql_name: str,
        generation: int,
        export_time: datetime,
        s3_bucket: str,
        base_prefix: str,
        export_format: str,
    ) -> ChainExportRequest:
        """The full export at ``export_time`` the current table is compared with."""
        return cls._full(
            "check",
            table_name,
            sql_name,
            generation,
            export_time,
            s3_bucket,
            base_prefix,
            export_format,
        )

    @classmethod
    def _full(
        cls,
        kind: str,
        table_name: str,
        sql_name: str,
        generation: int,
        export_time: datetime,
        s3_bucket: str,
        base_prefix: str,
        export_format: str,
    ) -> ChainExportRequest:
        prefix = f"{chain_prefix(base_prefix, sql_name, generation)}/{kind}/{_stamp(export_time)}"
        token = client_token(
            kind,
            table_name,
            generation,
            utc(export_time).isoformat(),
            export_format,
            s3_bucket,
            prefix,
        )
        return cls(
            table_name,
            sql_name,
            generation,
            s3_bucket,
            prefix,
            export_format,
            token,
            export_time=utc(export_time),
            purpose="check" if kind == "check" else "",
        )


def _summaries_under(s3, bucket: str, prefix: str) -> list[ManifestSummary]:
    kwargs = {"Bucket": bucket, "Prefix": prefix.rstrip("/") + "/"}
    out: list[ManifestSummary] = []
    while True:
        try:
            page = s3.list_objects_v2(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return out
            raise
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest-summary.json"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
                try:
                    out.append(parse_manifest_summary(body))
                except Exception:  # noqa: BLE001 - a foreign or partial file is not ours
                    continue
        if not page.get("IsTruncated"):
            return out
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def find_completed(s3, req: ChainExportRequest) -> ManifestSummary | None:
    """The manifest of a COMPLETED export that answers ``req``, if one is in S3."""
    matches = []
    for m in _summaries_under(s3, req.s3_bucket, req.s3_prefix):
        if m.output_format != req.export_format:
            continue
        if req.window is not None:
            if (
                m.export_type == INCREMENTAL_EXPORT
                and m.export_from_time == req.window.start
                and m.export_to_time == req.window.end
                and (m.output_view or req.view_type) == req.view_type
            ):
                matches.append(m)
        elif m.export_type == FULL_EXPORT and m.export_time == req.export_time:
            matches.append(m)
    return max(matches, key=lambda m: m.start_time) if matches else None


def find_seed_exports(
    ddb,
    s3,
    table_arn: str,
    bucket: str,
    base_prefix: str,
    sql_name: str,
    generation: int,
    lookback: timedelta = timedelta(days=2),
    now: datetime | None = None,
) -> list[ExportDescription]:
    """Seed exports already requested for ``generation`` (any seed time), oldest first:
    COMPLETED ones from their manifests in S3, in-flight ones from ListExports. A restart
    that would pick a later seed time therefore reuses the seed already under way."""
    from datetime import timezone

    seed_root = f"{chain_prefix(base_prefix, sql_name, generation)}/seed/"
    found: dict[str, ExportDescription] = {}
    for m in _summaries_under(s3, bucket, seed_root):
        if m.export_type == FULL_EXPORT:
            found[m.export_arn] = ExportDescription(
                arn=m.export_arn,
                status="COMPLETED",
                table_arn=m.table_arn,
                export_time=m.export_time,
                start_time=m.start_time,
                end_time=m.end_time,
                s3_bucket=m.s3_bucket,
                s3_prefix=m.s3_prefix,
                manifest_key=m.manifest_summary_key,
                item_count=m.item_count,
                export_format=m.output_format,
            )
    since = (now or datetime.now(timezone.utc)) - lookback
    for arn, status in recent_exports(ddb, table_arn, since):
        if arn in found or status == "FAILED":
            continue
        d = describe_export(ddb, arn)
        if (
            d.s3_bucket == bucket
            and (d.s3_prefix or "").startswith(seed_root)
            and d.export_type == FULL_EXPORT
        ):
            found[arn] = d
    return sorted(found.values(), key=lambda d: (export_started_at(d.arn), d.arn))


@dataclass(frozen=True)
class ChainExport:
    """Where one chain export stands: ``status`` is IN_PROGRESS, COMPLETED or FAILED."""

    request: ChainExportRequest
    arn: str
    status: str
    manifest_key: str | None = None  # manifest-summary.json, once COMPLETED
    reused: bool = False
    failure: str | None = None  # "FailureCode: FailureMessage" when FAILED
    failure_code: str | None = None
    failure_message: str | None = None


def ensure_export(
    ddb, s3, req: ChainExportRequest, *, table_arn: str, pitr: PitrStatus | None = None
) -> ChainExport:
    """Return the export answering ``req``: COMPLETED in S3, or DynamoDB's (new or the one
    the ClientToken already started). Refuses a window ending after LatestRestorableDateTime."""
    done = find_completed(s3, req)
    if done is not None:
        return ChainExport(
            req, done.export_arn, "COMPLETED", done.manifest_summary_key, reused=True
        )
    if (
        pitr is not None
        and req.window is not None
        and pitr.latest is not None
        and req.window.end > pitr.latest
    ):
        raise ExportTimeOutsideWindowError(
            f"window {req.window.label} ends after the latest restorable time "
            f"{pitr.latest.isoformat()}: not requested yet",
            code="InvalidExportTimeException",
            retryable=True,
        )
    params: dict[str, object] = dict(
        TableArn=table_arn,
        ClientToken=req.client_token,
        S3Bucket=req.s3_bucket,
        S3Prefix=req.s3_prefix,
        ExportFormat=req.export_format,
    )
    if req.window is not None:
        params.update(
            ExportType=INCREMENTAL_EXPORT,
            IncrementalExportSpecification={
                "ExportFromTime": req.window.start,
                "ExportToTime": req.window.end,
                "ExportViewType": req.view_type,
            },
        )
    else:
        params.update(ExportType=FULL_EXPORT, ExportTime=req.export_time)
    resp = _call(lambda: ddb.export_table_to_point_in_time(**params), table=req.table_name)
    d = ExportDescription.from_api(resp["ExportDescription"])
    return _from_description(req, d)


def refresh(ddb, export: ChainExport) -> ChainExport:
    """DescribeExport once (for an export that was IN_PROGRESS)."""
    if export.status != "IN_PROGRESS":
        return export
    return _from_description(export.request, describe_export(ddb, export.arn), reused=export.reused)


def _from_description(
    req: ChainExportRequest, d: ExportDescription, reused: bool = False
) -> ChainExport:
    failed = d.status == "FAILED"
    failure = f"{d.failure_code}: {d.failure_message}" if failed else None
    return ChainExport(
        req,
        d.arn,
        d.status,
        d.manifest_key if d.status == "COMPLETED" else None,
        reused=reused,
        failure=failure,
        failure_code=d.failure_code if failed else None,
        failure_message=d.failure_message if failed else None,
    )


class ChainExportFailedError(ExportFailedError):
    """Every attempt of a chain export FAILED: ``attempts`` holds them, the last one's
    FailureCode / FailureMessage are in ``code`` / ``failure_message``."""

    def __init__(self, attempts: list[ChainExport]):
        last = attempts[-1]
        self.attempts = attempts
        self.failure_message = last.failure_message
        arns = ", ".join(a.arn for a in attempts)
        super().__init__(
            f"{last.request.table_name}: {last.request.kind} export {last.request.label} FAILED "
            f"{len(attempts)} time(s) (max_export_retries = {len(attempts) - 1}); last FailureCode "
            f"{last.failure_code}, FailureMessage: {last.failure_message} (exports: {arns})",
            code=last.failure_code,
        )


def ensure_with_retries(
    ddb,
    s3,
    req: ChainExportRequest,
    *,
    max_retries: int,
    table_arn: str,
    pitr: PitrStatus | None = None,
) -> tuple[ChainExport, list[ChainExport]]:
    """:func:`ensure_export`, retrying a FAILED export with a new ClientToken (attempt 1, 2,
    ...) up to ``max_retries`` times. Returns the export that answers (COMPLETED,
    IN_PROGRESS, or the last FAILED one when every attempt failed) and the FAILED attempts
    before it. Callers raise :class:`ChainExportFailedError` when the answer is FAILED."""
    failed: list[ChainExport] = []
    for attempt in range(max_retries + 1):
        e = ensure_export(ddb, s3, req.retry(attempt), table_arn=table_arn, pitr=pitr)
        if e.status != "FAILED":
            return e, failed
        failed.append(e)
    if not failed:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
    return failed[-1], failed[:-1]


def describe_as_json(e: ChainExport) -> str:
    return json.dumps(
        {
            "arn": e.arn,
            "status": e.status,
            "kind": e.request.kind,
            "window": e.request.window.label if e.request.window else None,
        }
    )
