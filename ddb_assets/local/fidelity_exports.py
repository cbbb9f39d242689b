"""Replacements for moto's ExportTableToPointInTime, DescribeExport and ListExports.

Holds the three API handlers that validate requests the way AWS does (ARNs, export type and
format, the point-in-time recovery window, incremental window limits, ClientToken idempotency
over eight hours), start an ``ExportJob`` and describe or page through the jobs of the installed
``FidelityState``. Part of the moto fidelity layer described in ``ddb_assets.local.fidelity``.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

from ddb_assets.local.clock import as_utc, to_micros
from ddb_assets.local.dynamo_export import (
    EXPORT_ARN_RE,
    IDEMPOTENCY_WINDOW,
    MAX_INCREMENTAL,
    MIN_INCREMENTAL,
    TABLE_ARN_RE,
    ExportJob,
    ddb_error,
    iso_ms,
)
from ddb_assets.local.fidelity_state import FidelityState, current_state


def _fingerprint(body: dict[str, Any]) -> dict[str, Any]:
    fp = {k: v for k, v in body.items() if k != "ClientToken"}
    for k in ("ExportTime",):
        if k in fp and fp[k] is not None:
            fp[k] = to_micros(as_utc(fp[k]))
    spec = fp.get("IncrementalExportSpecification")
    if isinstance(spec, dict):
        fp["IncrementalExportSpecification"] = {
            k: (to_micros(as_utc(v)) if k in ("ExportFromTime", "ExportToTime") else v)
            for k, v in spec.items()
        }
    fp.setdefault("ExportFormat", "DYNAMODB_JSON")
    fp.setdefault("ExportType", "FULL_EXPORT")
    fp.setdefault("S3SseAlgorithm", "AES256")
    return fp


def _validation(message: str) -> JsonRESTError:
    return ddb_error("ValidationException", message)


def export_table_to_point_in_time(self):
    st = current_state()
    body = self.body
    account, region = self.current_account, self.region

    table_arn = body.get("TableArn")
    if not table_arn or not TABLE_ARN_RE.match(table_arn):
        raise _validation(f"Invalid TableArn: {table_arn!r} is not a valid DynamoDB table ARN")
    bucket = body.get("S3Bucket")
    if not bucket:
        raise _validation(
            "1 validation error detected: Value at 's3Bucket' failed to satisfy constraint: "
            "Member must not be null"
        )
    prefix = body.get("S3Prefix")
    if prefix is not None and prefix == "":
        raise _validation("S3Prefix must not be empty")
    fmt = body.get("ExportFormat", "DYNAMODB_JSON")
    if fmt not in ("DYNAMODB_JSON", "ION"):
        raise _validation(
            f"1 validation error detected: Value '{fmt}' at 'exportFormat' failed to satisfy "
            "constraint: Member must satisfy enum value set: [ION, DYNAMODB_JSON]"
        )
    export_type = body.get("ExportType", "FULL_EXPORT")
    if export_type not in ("FULL_EXPORT", "INCREMENTAL_EXPORT"):
        raise _validation(
            f"1 validation error detected: Value '{export_type}' at 'exportType' failed to "
            "satisfy constraint: Member must satisfy enum value set: [FULL_EXPORT, INCREMENTAL_EXPORT]"
        )
    sse = body.get("S3SseAlgorithm") or "AES256"
    if sse not in ("AES256", "KMS"):
        raise _validation(
            f"1 validation error detected: Value '{sse}' at 's3SseAlgorithm' failed to satisfy "
            "constraint: Member must satisfy enum value set: [KMS, AES256]"
        )
    token = body.get("ClientToken")
    if token == "":
        raise _validation("ClientToken must not be empty")
    token = token or str(uuid.uuid4())

    with st.lock:
        now = st.clock.now()
        fingerprint = _fingerprint(body)
        existing = st.tokens.get((account, region, token))
        if existing is not None:
            anchor = existing.end_time or now
            if now - anchor <= IDEMPOTENCY_WINDOW:
                if existing.fingerprint == fingerprint:
                    return ActionResult({"ExportDescription": existing.description()})
                raise ddb_error(
                    "ExportConflictException",
                    f"Duplicate request detected: ClientToken {token} was already used with different "
                    "parameters within the idempotency window",
                )

        table_name = TABLE_ARN_RE.match(table_arn).group(3)
        backend = self.dynamodb_backend
        table = backend.tables.get(table_name)
        if table is None or table.table_arn != table_arn:
            raise ddb_error("TableNotFoundException", f"Table not found: {table_arn}")
        window = st.pitr_window(table)
        if window is None:
            raise ddb_error(
                "PointInTimeRecoveryUnavailableException",
                f"Point in time recovery is not enabled for table '{table_name}'",
            )
        earliest, latest = window

        export_time = from_time = to_time = view = None
        if export_type == "FULL_EXPORT":
            export_time = (
                as_utc(body["ExportTime"])
                if body.get("ExportTime") is not None
                else min(now, latest)
            )
            if export_time < earliest or export_time > latest:
                raise ddb_error(
                    "InvalidExportTimeException",
                    f"ExportTime {iso_ms(export_time)} is outside of the point in time recovery window "
                    f"[{iso_ms(earliest)}, {iso_ms(latest)}]",
                )
        else:
            spec = body.get("IncrementalExportSpecification") or {}
            if spec.get("ExportFromTime") is None:
                raise _validation(
                    "IncrementalExportSpecification.ExportFromTime is required for INCREMENTAL_EXPORT"
                )
            from_time = as_utc(spec["ExportFromTime"])
            to_time = (
                as_utc(spec["ExportToTime"]) if spec.get("ExportToTime") is not None else latest
            )
            view = spec.get("ExportViewType") or "NEW_AND_OLD_IMAGES"
            if view not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
                raise _validation(
                    f"1 validation error detected: Value '{view}' at "
                    "'incrementalExportSpecification.exportViewType' failed to satisfy constraint: "
                    "Member must satisfy enum value set: [NEW_AND_OLD_IMAGES, NEW_IMAGE]"
                )
            if from_time >= to_time:
                raise ddb_error(
                    "InvalidExportTimeException",
                    "Incremental export period from time should not be greater or equal to "
                    "incremental export period to time",
                )
            if not (MIN_INCREMENTAL <= to_time - from_time <= MAX_INCREMENTAL):
                raise ddb_error(
                    "InvalidExportTimeException",
                    "Difference between export period from time and export period to time should be "
                    "at least 15 minutes and at most 24 hours",
                )
            if from_time < earliest or to_time > latest:
                raise ddb_error(
                    "InvalidExportTimeException",
                    f"Incremental export period [{iso_ms(from_time)}, {iso_ms(to_time)}) is outside of the point "
                    f"in time recovery window [{iso_ms(earliest)}, {iso_ms(latest)}]",
                )

        export_id = f"{to_micros(now) // 1000:014d}-{secrets.token_hex(4)}"
        job = ExportJob(
            state=st,
            arn=f"{table_arn}/export/{export_id}",
            export_id=export_id,
            account=account,
            region=region,
            table_arn=table_arn,
            table_id=st.table_id(table),
            table_name=table_name,
            key_names=st.key_names(table),
            client_token=token,
            fingerprint=fingerprint,
            bucket=bucket,
            bucket_owner=body.get("S3BucketOwner"),
            prefix=prefix,
            sse_algorithm=sse,
            sse_kms_key_id=body.get("S3SseKmsKeyId"),
            export_format=fmt,
            export_type=export_type,
            export_type_given="ExportType" in body,
            start_time=now,
            export_time=export_time,
            from_time=from_time,
            to_time=to_time,
            view_type=view,
            injected_failure=st.take_failure(),
        )
        st.exports[job.arn] = job
        st.tokens[(account, region, token)] = job
        job.start()
        return ActionResult({"ExportDescription": job.description()})


def describe_export(self):
    st = current_state()
    arn = self.body.get("ExportArn") or ""
    if not EXPORT_ARN_RE.match(arn):
        raise _validation(f"Invalid Export ARN: {arn}")
    job = st.exports.get(arn)
    if job is None or job.account != self.current_account:
        raise ddb_error("ExportNotFoundException", f"Export not found: {arn}")
    return ActionResult({"ExportDescription": job.description()})


def list_exports(self):
    st = current_state()
    body = self.body
    account, region = self.current_account, self.region
    max_results = body.get("MaxResults") or 25
    if not 1 <= int(max_results) <= 25:
        raise _validation(
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: "
            "Member must have value between 1 and 25"
        )
    table_arn = body.get("TableArn")
    offset = 0
    if body.get("NextToken"):
        try:
            decoded = json.loads(base64.urlsafe_b64decode(body["NextToken"].encode()).decode())
            offset = int(decoded["offset"])
            if decoded.get("table") != table_arn:
                raise ValueError("token for another filter")
        except Exception:  # noqa: BLE001
            raise _validation("Invalid NextToken for ListExports") from None

    backend = self.dynamodb_backend
    live_ids = {FidelityState.table_id(t) for t in list(backend.tables.values())}
    jobs = [
        j
        for j in list(st.exports.values())
        if j.account == account
        and j.region == region
        and j.table_id in live_ids
        and (table_arn is None or j.table_arn == table_arn)
    ]
    jobs.sort(key=lambda j: (j.start_time, j.export_id), reverse=True)  # newest first, as AWS
    page = jobs[offset : offset + int(max_results)]
    response: dict[str, Any] = {"ExportSummaries": [j.summary() for j in page]}
    if offset + int(max_results) < len(jobs):
        token = json.dumps({"offset": offset + int(max_results), "table": table_arn})
        response["NextToken"] = base64.urlsafe_b64encode(token.encode()).decode()
    return ActionResult(response)
