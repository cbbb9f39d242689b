"""Patches that make moto's DynamoDB behave like AWS for point-in-time exports.

How it hooks into moto (all inside the process that runs ``ThreadedMotoServer``):

* moto's server builds a fresh ``moto.dynamodb.responses.DynamoHandler`` per request and
  calls ``call_action``, which looks the action's snake_case method up on the class. We
  replace some of those methods on the class (``install``) and put the originals back
  (``uninstall``). Nothing else in moto is modified; moto's own ``TableExport`` is never
  used while the patches are installed.
* ``call_action`` is wrapped to inject throttling errors (``throttle_next``).
* Write actions (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems and the
  PartiQL writes) run the original handler under one lock, then read the affected items back
  from moto's backend and append (stack-clock timestamp, full new image or None) to the
  ``WriteHistory``. Failed/rolled-back writes raise before anything is recorded.
* UpdateContinuousBackups / DescribeContinuousBackups: EarliestRestorableDateTime is the
  stack-clock time PITR was enabled; LatestRestorableDateTime is now minus ``pitr_lag``.
* ExportTableToPointInTime / DescribeExport / ListExports are replaced entirely. An export
  job thread writes the AWS layout to S3 *through the S3 API of the same server* (boto3
  against our own endpoint), so ETags, multipart ``-1`` ETags and missing buckets are real.
  The job only turns COMPLETED/FAILED after every object is written and ``export_seconds``
  have passed.
* CreateTable/DescribeTable gain a ``TableId`` (a UUID kept on moto's Table object).
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, overload

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler

from ddb_assets.local.clock import StackClock, as_utc, to_micros
from ddb_assets.local.history import Image, WriteHistory, key_of, to_wire
from ddb_assets.local.ion_text import dynamodb_numbers, ion_line

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


def _data_file_name() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").lower()[:26]


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


@dataclass
class _Injection:
    operation: str
    code: str
    message: str
    remaining: int


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
            key = f"{self.base_key}/data/{_data_file_name()}{ext}"
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
        self._put(s3, f"{self.base_key}/manifest-files.md5", _b64md5(files_body))

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
        self._put(s3, f"{self.base_key}/manifest-summary.md5", _b64md5(summary_body))
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


def _b64md5(body: bytes) -> bytes:
    return base64.b64encode(hashlib.md5(body).digest())


class FidelityState:
    """Everything the patched handlers share. One instance is installed at a time."""

    def __init__(
        self,
        *,
        endpoint: str,
        export_seconds: float = 2.0,
        items_per_file: int = 10_000,
        pitr_lag_seconds: float = 0.0,
        clock: StackClock | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.export_seconds = float(export_seconds)
        self.items_per_file = int(items_per_file)
        self.pitr_lag = timedelta(seconds=pitr_lag_seconds)
        self.clock = clock or StackClock()
        self.history = WriteHistory()
        self.lock = threading.RLock()  # serialises writes, their read-back and export snapshots
        self.exports: dict[str, ExportJob] = {}
        self.tokens: dict[tuple[str, str, str], ExportJob] = {}
        self._failures: list[tuple[str, str]] = []
        self._injections: list[_Injection] = []
        self._inj_lock = threading.Lock()
        self._s3_clients: dict[str, Any] = {}

    # -- injection ----------------------------------------------------------------------
    def fail_next_export(self, code: str, message: str) -> None:
        with self._inj_lock:
            self._failures.append((code, message))

    def throttle_next(self, n: int, operation: str, code: str, message: str) -> None:
        with self._inj_lock:
            self._injections.append(_Injection(operation, code, message, int(n)))

    def _take_failure(self) -> tuple[str, str] | None:
        with self._inj_lock:
            return self._failures.pop(0) if self._failures else None

    def take_injection(self, operation: str) -> _Injection | None:
        with self._inj_lock:
            for inj in self._injections:
                if inj.operation == operation and inj.remaining > 0:
                    inj.remaining -= 1
                    if inj.remaining == 0:
                        self._injections.remove(inj)
                    return inj
        return None

    # -- helpers ------------------------------------------------------------------------
    def s3_client(self, region: str):
        with self._inj_lock:
            if region not in self._s3_clients:
                import boto3
                from botocore.config import Config

                self._s3_clients[region] = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint,
                    region_name=region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    aws_session_token="testing",
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._s3_clients[region]

    @staticmethod
    def backend(account: str, region: str):
        return dynamodb_backends[account][region]

    @staticmethod
    def table_id(table) -> str:
        tid = getattr(table, "_ddb_assets_table_id", None)
        if tid is None:
            tid = str(uuid.uuid4())
            table._ddb_assets_table_id = tid
        return tid

    @staticmethod
    def key_names(table) -> list[str]:
        return [n for n in (table.hash_key_attr, table.range_key_attr) if n]

    @overload
    @staticmethod
    def image(item: None) -> None: ...
    @overload
    @staticmethod
    def image(item: Item) -> Image: ...
    @staticmethod
    def image(item: Item | None) -> Image | None:
        if item is None:
            return None
        return to_wire(dynamo_to_dict(item.attrs))

    def read_item(
        self, account: str, region: str, table_name: str, key: dict[str, Any]
    ) -> Image | None:
        backend = self.backend(account, region)
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        return self.image(table.get_item(hash_key, range_key))

    def pitr_window(self, table) -> tuple[datetime, datetime] | None:
        desc = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
        if desc.get("PointInTimeRecoveryStatus") != "ENABLED":
            return None
        now = self.clock.now()
        earliest = as_utc(desc.get("EarliestRestorableDateTime") or now)
        days = desc.get("RecoveryPeriodInDays") or 35
        earliest = max(earliest, now - timedelta(days=int(days)))
        return earliest, now - self.pitr_lag

    def table_state_at(self, account, region, table_name, table_id, at: datetime) -> list[Image]:
        with self.lock:
            backend = self.backend(account, region)
            table = backend.tables.get(table_name)
            current = []
            if table is not None and self.table_id(table) == table_id:
                names = self.key_names(table)
                for item in table.all_items():
                    img = self.image(item)
                    current.append((key_of(img, names), img))
            return self.history.state_at(table_id, to_micros(at), current)


STATE: FidelityState | None = None
_ORIGINALS: dict[str, Callable] = {}


def _state() -> FidelityState:
    if STATE is None:  # pragma: no cover - only when uninstalled mid-request
        raise ddb_error("InternalServerError", "local fidelity layer is not installed")
    return STATE


# --------------------------------------------------------------------------------------
# Handler patches
# --------------------------------------------------------------------------------------


def _call_action(self):
    st = STATE
    if st is not None:
        inj = st.take_injection(self._get_action())
        if inj is not None:
            err = ddb_error(inj.code, inj.message)
            headers = {
                "status": err.code,
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-ErrorType": inj.code,
            }
            return err.code, headers, err.description
    return _ORIGINALS["call_action"](self)


def _targets_put(self) -> list[tuple[str, dict]]:
    body = self.body
    table = self.dynamodb_backend.get_table(body["TableName"])
    item = body["Item"]
    return [(body["TableName"], {k: item[k] for k in FidelityState.key_names(table)})]


def _targets_key(self) -> list[tuple[str, dict]]:
    return [(self.body["TableName"], dict(self.body["Key"]))]


def _targets_batch(self) -> list[tuple[str, dict]]:
    out = []
    for table_name, requests in (self.body.get("RequestItems") or {}).items():
        table = self.dynamodb_backend.get_table(table_name)
        names = FidelityState.key_names(table)
        for req in requests:
            if "PutRequest" in req:
                item = req["PutRequest"]["Item"]
                out.append((table_name, {k: item[k] for k in names}))
            elif "DeleteRequest" in req:
                out.append((table_name, dict(req["DeleteRequest"]["Key"])))
    return out


def _targets_transact(self) -> list[tuple[str, dict]]:
    out = []
    for entry in self.body.get("TransactItems") or []:
        for op, spec in entry.items():
            if op == "Put":
                table = self.dynamodb_backend.get_table(spec["TableName"])
                out.append(
                    (
                        spec["TableName"],
                        {k: spec["Item"][k] for k in FidelityState.key_names(table)},
                    )
                )
            elif op in ("Update", "Delete"):
                out.append((spec["TableName"], dict(spec["Key"])))
    return out


def _recording(name: str, targets: Callable) -> Callable:
    def handler(self):
        st = STATE
        original = _ORIGINALS[name]
        if st is None:
            return original(self)
        account, region = self.current_account, self.region
        with st.lock:
            try:
                wanted = targets(self)
                before = [st.read_item(account, region, t, k) for t, k in wanted]
            except Exception:  # noqa: BLE001 - let the original produce the real error
                wanted, before = None, None
            result = original(self)
            if wanted:
                ts = st.clock.now_micros()
                backend = st.backend(account, region)
                for (table_name, key), old in zip(wanted, before):
                    table = backend.get_table(table_name)
                    new = st.read_item(account, region, table_name, key)
                    if old is None and new is None:
                        continue
                    names = st.key_names(table)
                    st.history.record(st.table_id(table), key_of(to_wire(key), names), ts, old, new)
        return result

    handler.__name__ = name
    return handler


def _snapshot_all(st: FidelityState, account: str, region: str) -> dict[str, tuple[Any, dict]]:
    out = {}
    backend = st.backend(account, region)
    for name, table in list(backend.tables.items()):
        names = st.key_names(table)
        items = {}
        for item in table.all_items():
            img = st.image(item)
            items[json.dumps(key_of(img, names), sort_keys=True)] = img
        out[name] = (table, items)
    return out


def _partiql(name: str) -> Callable:
    """PartiQL writes: diff every table before/after (rare in this project; O(table size))."""

    def handler(self):
        st = STATE
        original = _ORIGINALS[name]
        statements = [self.body.get("Statement", "")] + [
            s.get("Statement", "")
            for s in (self.body.get("Statements") or self.body.get("TransactStatements") or [])
        ]
        if st is None or all(s.strip().upper().startswith("SELECT") for s in statements if s):
            return original(self)
        account, region = self.current_account, self.region
        with st.lock:
            before = _snapshot_all(st, account, region)
            result = original(self)
            after = _snapshot_all(st, account, region)
            ts = st.clock.now_micros()
            for tname, (table, new_items) in after.items():
                old_items = before.get(tname, (None, {}))[1]
                names = st.key_names(table)
                for kid in set(old_items) | set(new_items):
                    old, new = old_items.get(kid), new_items.get(kid)
                    if old != new:
                        st.history.record(
                            st.table_id(table), key_of(new or old, names), ts, old, new
                        )
        return result

    handler.__name__ = name
    return handler


def _create_table(self):
    result = _ORIGINALS["create_table"](self)
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        tid = FidelityState.table_id(table)
        result.result["TableDescription"]["TableId"] = tid
    except Exception:  # noqa: BLE001
        pass
    return result


def _describe_table(self):
    result = _ORIGINALS["describe_table"](self)
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        result.result["Table"]["TableId"] = FidelityState.table_id(table)
    except Exception:  # noqa: BLE001
        pass
    return result


def _delete_table(self):
    st = STATE
    tid = None
    try:
        tid = FidelityState.table_id(self.dynamodb_backend.get_table(self.body["TableName"]))
    except Exception:  # noqa: BLE001
        pass
    result = _ORIGINALS["delete_table"](self)
    if st is not None and tid is not None:
        st.history.forget_table(tid)
    return result


def _continuous_backups_description(st: FidelityState, table) -> dict[str, Any]:
    desc = copy.deepcopy(table.continuous_backups)
    pitr = desc.get("PointInTimeRecoveryDescription", {})
    window = st.pitr_window(table)
    if window is not None:
        pitr["EarliestRestorableDateTime"] = window[0]
        pitr["LatestRestorableDateTime"] = window[1]
    return desc


def _update_continuous_backups(self):
    st = _state()
    with st.lock:
        try:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
        except Exception:  # noqa: BLE001
            return _ORIGINALS["update_continuous_backups"](self)
        was = table.continuous_backups["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        _ORIGINALS["update_continuous_backups"](self)
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]
        if pitr["PointInTimeRecoveryStatus"] == "ENABLED" and was != "ENABLED":
            pitr["EarliestRestorableDateTime"] = st.clock.now().timestamp()
        return ActionResult(
            {"ContinuousBackupsDescription": _continuous_backups_description(st, table)}
        )


def _describe_continuous_backups(self):
    st = _state()
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
    except Exception:  # noqa: BLE001
        return _ORIGINALS["describe_continuous_backups"](self)
    return ActionResult(
        {"ContinuousBackupsDescription": _continuous_backups_description(st, table)}
    )


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


def _export_table_to_point_in_time(self):
    st = _state()
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
            injected_failure=st._take_failure(),
        )
        st.exports[job.arn] = job
        st.tokens[(account, region, token)] = job
        job.start()
        return ActionResult({"ExportDescription": job.description()})


def _describe_export(self):
    st = _state()
    arn = self.body.get("ExportArn") or ""
    if not EXPORT_ARN_RE.match(arn):
        raise _validation(f"Invalid Export ARN: {arn}")
    job = st.exports.get(arn)
    if job is None or job.account != self.current_account:
        raise ddb_error("ExportNotFoundException", f"Export not found: {arn}")
    return ActionResult({"ExportDescription": job.description()})


def _list_exports(self):
    st = _state()
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


_PATCHES: dict[str, Callable] = {
    "call_action": _call_action,
    "put_item": _recording("put_item", _targets_put),
    "update_item": _recording("update_item", _targets_key),
    "delete_item": _recording("delete_item", _targets_key),
    "batch_write_item": _recording("batch_write_item", _targets_batch),
    "transact_write_items": _recording("transact_write_items", _targets_transact),
    "execute_statement": _partiql("execute_statement"),
    "batch_execute_statement": _partiql("batch_execute_statement"),
    "execute_transaction": _partiql("execute_transaction"),
    "create_table": _create_table,
    "describe_table": _describe_table,
    "delete_table": _delete_table,
    "update_continuous_backups": _update_continuous_backups,
    "describe_continuous_backups": _describe_continuous_backups,
    "export_table_to_point_in_time": _export_table_to_point_in_time,
    "describe_export": _describe_export,
    "list_exports": _list_exports,
}


def install(state: FidelityState) -> None:
    """Patch ``DynamoHandler`` for ``state``. Only one state can be installed at a time."""
    global STATE
    if STATE is not None:
        raise RuntimeError("a LocalAWS fidelity layer is already installed in this process")
    for name, func in _PATCHES.items():
        _ORIGINALS[name] = DynamoHandler.__dict__[name]
        setattr(DynamoHandler, name, func)
    STATE = state


def uninstall(state: FidelityState) -> None:
    global STATE
    if STATE is not state:
        return
    for name, func in _ORIGINALS.items():
        setattr(DynamoHandler, name, func)
    _ORIGINALS.clear()
    STATE = None
