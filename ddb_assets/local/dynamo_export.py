"""The local DynamoDB point-in-time export job and the AWS rules it shares with the API.

Holds ``ExportJob`` (one ExportTableToPointInTime request: it snapshots the table's state at
the export time, or its changes over an incremental window, from the ``WriteHistory`` and writes
the AWS layout -- data files, ``manifest-files.json``, ``manifest-summary.json`` and their
``.md5`` files -- to S3 through the local stack's own S3 API), plus what the export API handlers
in ``fidelity_exports`` share with it: DynamoDB's error type, ARN patterns, export window limits,
the manifest time format and DynamoDB's item-size rule. Part of the moto fidelity layer
described in ``ddb_assets.local.fidelity``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import JsonRESTError

from ddb_assets.local.clock import as_utc, to_micros
from ddb_assets.local.history import Image, key_of
from ddb_assets.local.ion_text import dynamodb_numbers, ion_line

if TYPE_CHECKING:
    from ddb_assets.local.fidelity_state import FidelityState

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
IDEMPOTENCY_WINDOW = timedelta(hours=8)
MIN_INCREMENTAL = timedelta(minutes=15)
MAX_INCREMENTAL = timedelta(hours=24)
EXPORT_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/export/\d{14}-[0-9a-f]{8}$"
)
TABLE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):(\d{12}):table/([A-Za-z0-9_.-]{3,255})$"
)


def ddb_error(code: str, message: str) -> JsonRESTError:
    return JsonRESTError(ERROR_PREFIX + code, message)


def iso_ms(dt: datetime) -> str:
    """Manifest time format: ``2022-11-12T04:30:50.456Z``."""
    dt = as_utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _attr_size(attr: dict[str, Any]) -> int:
    ((tag, value),) = attr.items()
    if tag == "S":
        return len(value.encode("utf-8"))
    if tag == "N":
        return (len(value.lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if tag == "B":
        return len(base64.b64decode(value))
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(v.encode("utf-8")) for v in value)
    if tag == "NS":
        return sum(_attr_size({"N": v}) for v in value)
    if tag == "BS":
        return sum(len(base64.b64decode(v)) for v in value)
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + _attr_size(v) for k, v in value.items())
    if tag == "L":
        return 3 + sum(1 + _attr_size(v) for v in value)
    return 0


def item_size(image: Image) -> int:
    """DynamoDB's item size rules, approximately (names + values)."""
    return sum(len(k.encode("utf-8")) + _attr_size(v) for k, v in image.items())


def data_file_name() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").lower()[:26]


@dataclass
class ExportJob:
    state: FidelityState
    arn: str
    export_id: str
    account: str
    region: str
    table_arn: str
    table_id: str
    table_name: str
    key_names: list[str]
    client_token: str
    fingerprint: dict[str, Any]
    bucket: str
    bucket_owner: str | None
    prefix: str | None
    sse_algorithm: str
    sse_kms_key_id: str | None
    export_format: str
    export_type: str
    export_type_given: bool
    start_time: datetime
    export_time: datetime | None
    from_time: datetime | None = None
    to_time: datetime | None = None
    view_type: str | None = None
    injected_failure: tuple[str, str] | None = None
    # results
    end_time: datetime | None = None
    item_count: int = 0
    billed_size_bytes: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    _outcome: str | None = None
    _deadline: float = 0.0
    _requested_mono: float = field(default_factory=time.monotonic)
    _thread: threading.Thread | None = None

    # -- layout -------------------------------------------------------------------------
    @property
    def base_key(self) -> str:
        if self.prefix:
            sep = "" if self.prefix.endswith("/") else "/"
            return f"{self.prefix}{sep}AWSDynamoDB/{self.export_id}"
        return f"AWSDynamoDB/{self.export_id}"

    @property
    def manifest_summary_key(self) -> str:
        return f"{self.base_key}/manifest-summary.json"

    @property
    def status(self) -> str:
        if self._outcome is None or time.monotonic() < self._deadline:
            return "IN_PROGRESS"
        return self._outcome

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job is terminal (for tests / benchmarks run in-process)."""
        limit = None if timeout is None else time.monotonic() + timeout
        while self.status == "IN_PROGRESS":
            if limit is not None and time.monotonic() > limit:
                break
            time.sleep(0.02)
        return self.status

    # -- API shapes ---------------------------------------------------------------------
    def description(self) -> dict[str, Any]:
        status = self.status
        d: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": status,
            "StartTime": self.start_time,
            "TableArn": self.table_arn,
            "TableId": self.table_id,
            "ClientToken": self.client_token,
            "S3Bucket": self.bucket,
            "S3SseAlgorithm": self.sse_algorithm,
            "ExportFormat": self.export_format,
        }
        if self.export_time is not None:
            d["ExportTime"] = self.export_time
        if self.bucket_owner:
            d["S3BucketOwner"] = self.bucket_owner
        if self.prefix is not None:
            d["S3Prefix"] = self.prefix
        if self.sse_kms_key_id:
            d["S3SseKmsKeyId"] = self.sse_kms_key_id
        if self.export_type_given:
            d["ExportType"] = self.export_type
        if self.export_type == "INCREMENTAL_EXPORT":
            d["IncrementalExportSpecification"] = {
                "ExportFromTime": self.from_time,
                "ExportToTime": self.to_time,
                "ExportViewType": self.view_type,
            }
        if status != "IN_PROGRESS":
            d["EndTime"] = self.end_time
        if status == "COMPLETED":
            d["ExportManifest"] = self.manifest_summary_key
            d["ItemCount"] = self.item_count
            d["BilledSizeBytes"] = self.billed_size_bytes
        if status == "FAILED":
            d["FailureCode"] = self.failure_code
            d["FailureMessage"] = self.failure_message
        return d

    def summary(self) -> dict[str, Any]:
        return {"ExportArn": self.arn, "ExportStatus": self.status, "ExportType": self.export_type}

    # -- the work -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"ddb-export-{self.export_id}", daemon=True
        )
        self._thread.start()

    def _duration(self) -> float:
        return max(self.state.export_seconds, time.monotonic() - self._requested_mono)

    def _finish(
        self,
        outcome: str,
        code: str | None = None,
        message: str | None = None,
        duration: float | None = None,
    ) -> None:
        duration = self._duration() if duration is None else duration
        self.end_time = self.start_time + timedelta(seconds=duration)
        self.failure_code, self.failure_message = code, message
        self._deadline = self._requested_mono + duration
        self._outcome = outcome  # set last: status reads it without a lock

    def _run(self) -> None:
        try:
            if self.injected_failure is not None:
                self._finish("FAILED", *self.injected_failure)
                return
            s3 = self.state.s3_client(self.region)
            from botocore.exceptions import ClientError

            try:
                s3.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                    self._finish(
                        "FAILED",
                        "S3NoSuchBucket",
                        f"The specified bucket does not exist (Service: Amazon S3; Status Code: 404; "
                        f"Error Code: NoSuchBucket; Bucket: {self.bucket})",
                    )
                    return
                raise
            self._write(s3)
        except Exception as exc:  # noqa: BLE001 - an export never crashes the server
            self._finish("FAILED", "UNKNOWN", f"{type(exc).__name__}: {exc}")

    def _put(self, s3, key: str, body: bytes) -> None:
        extra = {"ServerSideEncryption": "AES256"} if self.sse_algorithm == "AES256" else {}
        s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def _records(self) -> list[dict[str, Any]]:
        st = self.state
        if self.export_type == "FULL_EXPORT":
            assert self.export_time is not None  # CreateExport validated it
            images = st.table_state_at(
                self.account, self.region, self.table_name, self.table_id, self.export_time
            )
            return [{"Item": image} for image in images]
        assert self.from_time is not None and self.to_time is not None  # CreateExport validated
        changes = st.history.changes(
            self.table_id, to_micros(self.from_time), to_micros(self.to_time)
        )
        records = []
        for ch in sorted(changes, key=lambda c: c.write_micros):
            either = ch.new or ch.old
            assert either is not None  # a net change has an image before or after it
            rec: dict[str, Any] = {
                "Metadata": {"WriteTimestampMicros": {"N": str(ch.write_micros)}},
                "Keys": key_of(either, self.key_names),
            }
            if ch.new is not None:
                rec["NewImage"] = ch.new
            if self.view_type == "NEW_AND_OLD_IMAGES" and ch.old is not None:
                rec["OldImage"] = ch.old
            records.append(rec)
        return records

    def _write(self, s3) -> None:
        self._put(s3, f"{self.base_key}/_started", b"")
        records = self._records()
        ion = self.export_format == "ION"
        ext = ".ion.gz" if ion else ".json.gz"
        per_file = max(1, int(self.state.items_per_file))
        chunks = [records[i : i + per_file] for i in range(0, len(records), per_file)] or [[]]
        manifest_lines = []
        for chunk in chunks:
            text = "".join(
                (
                    ion_line(r)
                    if ion
                    else json.dumps(dynamodb_numbers(r), ensure_ascii=False, separators=(",", ":"))
                )
                + "\n"
                for r in chunk
            )
            body = gzip.compress(text.encode("utf-8"), mtime=0)
            key = f"{self.base_key}/data/{data_file_name()}{ext}"
            etag = self._upload_multipart(s3, key, body)
            manifest_lines.append(
                json.dumps(
                    {
                        "itemCount": len(chunk),
                        "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode("ascii"),
                        "etag": etag,
                        "dataFileS3Key": key,
                    },
                    separators=(",", ":"),
                )
            )
        self.item_count = len(records)
        if self.export_type == "FULL_EXPORT":
            self.billed_size_bytes = sum(item_size(r["Item"]) for r in records)
        else:
            self.billed_size_bytes = sum(
                item_size(r.get("NewImage") or {}) + item_size(r.get("OldImage") or {})
                for r in records
            )
        files_body = ("\n".join(manifest_lines) + "\n").encode("utf-8")
        files_key = f"{self.base_key}/manifest-files.json"
        self._put(s3, files_key, files_body)
        self._put(s3, f"{self.base_key}/manifest-files.md5", b64md5(files_body))

        duration = self._duration()
        end_time = self.start_time + timedelta(seconds=duration)
        summary: dict[str, Any] = {
            "version": "2023-08-01" if self.export_type == "INCREMENTAL_EXPORT" else "2020-06-30",
            "exportArn": self.arn,
            "startTime": iso_ms(self.start_time),
            "endTime": iso_ms(end_time),
            "tableArn": self.table_arn,
            "tableId": self.table_id,
        }
        if self.export_type == "INCREMENTAL_EXPORT":
            assert self.from_time is not None and self.to_time is not None  # CreateExport validated
            summary["exportFromTime"] = iso_ms(self.from_time)
            summary["exportToTime"] = iso_ms(self.to_time)
            summary["exportTime"] = iso_ms(self.to_time)
        else:
            assert self.export_time is not None  # CreateExport validated it
            summary["exportTime"] = iso_ms(self.export_time)
        summary.update(
            {
                "s3Bucket": self.bucket,
                "s3Prefix": self.prefix,
                "s3SseAlgorithm": self.sse_algorithm,
                "s3SseKmsKeyId": self.sse_kms_key_id,
                "manifestFilesS3Key": files_key,
                "billedSizeBytes": self.billed_size_bytes,
                "itemCount": self.item_count,
                "outputFormat": self.export_format,
            }
        )
        if self.export_type == "INCREMENTAL_EXPORT":
            summary["outputView"] = self.view_type
            summary["exportType"] = self.export_type
        summary_body = json.dumps(summary, separators=(",", ":")).encode("utf-8")
        self._put(s3, self.manifest_summary_key, summary_body)
        self._put(s3, f"{self.base_key}/manifest-summary.md5", b64md5(summary_body))
        self._finish("COMPLETED", duration=duration)

    def _upload_multipart(self, s3, key: str, body: bytes) -> str:
        """One-part multipart upload, as DynamoDB does (so the ETag ends in ``-1``)."""
        extra = {"ServerSideEncryption": "AES256"} if self.sse_algorithm == "AES256" else {}
        up = s3.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
        part = s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=body
        )
        done = s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        return done["ETag"].strip('"')


def b64md5(body: bytes) -> bytes:
    return base64.b64encode(hashlib.md5(body).digest())
