"""One RDS snapshot export task: the documented S3 layout, metadata files and Parquet files.

The job reads the snapshot's frozen copy on the instance's MariaDB server and writes through the
S3 API of the local stack (boto3 against its endpoint), so a missing bucket is S3's own answer.
Its status follows AWS's phases: STARTING (restoring the snapshot), IN_PROGRESS with
PercentProgress, then COMPLETE / FAILED; CancelExportTask gives CANCELING, then CANCELED.
Phases are timed by ``export_seconds`` (a quarter STARTING, the rest IN_PROGRESS) and a job is
terminal only when its files are written *and* that time has passed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ddb_assets.local.clock import as_utc
from ddb_assets.local.rds import catalog, parquet

if TYPE_CHECKING:
    from ddb_assets.local.rds.fidelity import LocalSnapshot, RdsState

ACTIVE = ("STARTING", "IN_PROGRESS", "CANCELING")
TERMINAL = ("COMPLETE", "FAILED", "CANCELED")
GB = float(1 << 30)


def iso_ms(dt: datetime) -> str:
    dt = as_utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def bucket_failure(bucket: str) -> str:
    # "Failure messages for Amazon S3 export tasks" (RDS user guide)
    return (
        f"The S3 bucket {bucket} isn't valid. Either it isn't located in the current AWS Region "
        "or it doesn't exist. Review your S3 bucket name and retry the export."
    )


@dataclass
class TableResult:
    database: str
    table: str
    status: str  # COMPLETE | SKIPPED
    columns: tuple[catalog.Column, ...] = ()
    rows: int = 0
    size_bytes: int = 0
    files: list[str] = field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None
    warning: str | None = None
    partitions: int = 0

    @property
    def target(self) -> str:
        return f"{self.database}.{self.table}"


@dataclass
class ExportJob:
    state: RdsState
    identifier: str
    source_arn: str
    snapshot: LocalSnapshot
    bucket: str
    prefix: str
    iam_role_arn: str
    kms_key_id: str
    export_only: list[str]
    region: str
    task_start: datetime
    injected_failure: str | None = None
    # results
    status_override: str | None = None  # CANCELING / CANCELED set by CancelExportTask
    outcome: str | None = None  # COMPLETE / FAILED once the files are written (or not)
    failure_cause: str | None = None
    warning: dict[str, Any] | None = None
    tables: list[TableResult] = field(default_factory=list)
    total_bytes: int = 0
    task_end: datetime | None = None
    objects: list[str] = field(default_factory=list)
    _requested: float = field(default_factory=time.monotonic)
    _duration: float = 0.0
    _cancel: threading.Event = field(default_factory=threading.Event)
    _canceled_at: float = 0.0
    _thread: threading.Thread | None = None

    # -- layout -------------------------------------------------------------------------
    @property
    def base_key(self) -> str:
        p = self.prefix.strip("/")
        return f"{p}/{self.identifier}" if p else self.identifier

    def table_prefix(self, database: str, table: str) -> str:
        return f"{self.base_key}/{database}/{database}.{table}"

    @property
    def export_info_key(self) -> str:
        return f"{self.base_key}/export_info_{self.identifier}.json"

    # -- status -------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return time.monotonic() - self._requested

    @property
    def status(self) -> str:
        if self.status_override == "CANCELING":
            return "CANCELED" if self.outcome is not None else "CANCELING"
        if self.outcome is not None:
            return self.outcome
        return "STARTING" if self._elapsed() < self._duration * 0.25 else "IN_PROGRESS"

    @property
    def percent_progress(self) -> int:
        status = self.status
        if status == "COMPLETE":
            return 100
        return self._progress() if status in ("IN_PROGRESS", "CANCELING") else 0

    def _progress(self) -> int:
        if self._duration <= 0:
            return 0
        frac = (self._elapsed() - self._duration * 0.25) / (self._duration * 0.75)
        return max(0, min(99, int(frac * 100)))

    def wait(self, timeout: float | None = None) -> str:
        limit = None if timeout is None else time.monotonic() + timeout
        while self.status in ACTIVE:
            if limit is not None and time.monotonic() > limit:
                break
            time.sleep(0.02)
        return self.status

    def cancel(self) -> None:
        """CancelExportTask: CANCELING now, CANCELED once the job has stopped writing (at least
        a quarter of ``export_seconds`` later). Files already written stay, as on AWS."""
        self._canceled_at = time.monotonic()
        self.status_override = "CANCELING"
        self._cancel.set()

    def _sleep_until(self, deadline: float) -> bool:
        """Wait for ``deadline``; False as soon as the task is canceled."""
        while time.monotonic() < deadline:
            if self._cancel.is_set():
                return False
            time.sleep(0.01)
        return not self._cancel.is_set()

    # -- API shape ----------------------------------------------------------------------
    def description(self) -> dict[str, Any]:
        status = self.status
        d: dict[str, Any] = {
            "ExportTaskIdentifier": self.identifier,
            "SourceArn": self.source_arn,
            "SnapshotTime": self.snapshot.created,
            "TaskStartTime": self.task_start,
            "S3Bucket": self.bucket,
            "S3Prefix": self.prefix,
            "IamRoleArn": self.iam_role_arn,
            "KmsKeyId": self.kms_key_id,
            "Status": status,
            "PercentProgress": self.percent_progress,
            "TotalExtractedDataInGB": 0
            if status != "COMPLETE"
            else int(round(self.total_bytes / GB)),
            "SourceType": "SNAPSHOT",
        }
        if self.export_only:
            d["ExportOnly"] = list(self.export_only)
        if status in TERMINAL and self.task_end is not None:
            d["TaskEndTime"] = self.task_end
        if status == "FAILED" and self.failure_cause:
            d["FailureCause"] = self.failure_cause
        if status == "COMPLETE" and self.warning:
            d["WarningMessage"] = json.dumps(self.warning, separators=(",", ":"))
        return d

    # -- the work -----------------------------------------------------------------------
    def start(self) -> None:
        self._duration = max(0.0, float(self.state.export_seconds))
        self._thread = threading.Thread(
            target=self._run, name=f"rds-export-{self.identifier}", daemon=True
        )
        self._thread.start()

    def _settle_end(self) -> datetime:
        """Fix the task's duration (at least ``export_seconds``) and its TaskEndTime."""
        if self.task_end is None:
            self._duration = max(self._duration, self._elapsed())
            self.task_end = self.task_start + timedelta(seconds=self._duration)
        return self.task_end

    def _finish(self, outcome: str, cause: str | None = None) -> None:
        """Terminal state, reached no earlier than ``export_seconds`` after the request (a
        canceled task: a quarter of that after the cancel)."""
        if self._cancel.is_set():
            time.sleep(max(0.0, self._canceled_at + self._duration * 0.25 - time.monotonic()))
            outcome, cause = "CANCELED", None
        else:
            self._sleep_until(self._requested + self._duration)
            if self._cancel.is_set():
                return self._finish(outcome, cause)
        self._settle_end()
        self.failure_cause = cause
        self.outcome = outcome  # last: status reads it without a lock

    def _run(self) -> None:
        try:
            if self.injected_failure is not None:
                self._finish("FAILED", self.injected_failure)
                return
            s3 = self.state.s3_client(self.region)
            from botocore.exceptions import ClientError

            try:
                s3.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("404", "NoSuchBucket", "NotFound"):
                    self._finish("FAILED", bucket_failure(self.bucket))
                    return
                raise
            self._write(s3)
        except Exception as exc:  # noqa: BLE001 - an export never crashes the server
            self._finish(
                "FAILED", f"An unknown internal error occurred. ({type(exc).__name__}: {exc})"
            )

    def _put(self, s3, key: str, body: bytes) -> None:
        s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_id,
        )
        self.objects.append(key)

    def _selected(self, conn) -> tuple[list[tuple[str, catalog.Table]], list[str]]:
        """The (snapshot source database, table) pairs ExportOnly selects, and the databases it
        names that the snapshot does not hold."""
        copy = self.snapshot.copy
        wanted_dbs: dict[str, set[str] | None] = {}
        for item in self.export_only:
            db, _, table = item.partition(".")
            if not table:
                wanted_dbs[db] = None
            elif wanted_dbs.get(db, set()) is not None:
                wanted_dbs.setdefault(db, set()).add(table)  # type: ignore[union-attr]
        missing = [db for db in wanted_dbs if db not in copy.databases]
        picked: list[tuple[str, catalog.Table]] = []
        for db in sorted(copy.databases):
            if self.export_only and db not in wanted_dbs:
                continue
            only = wanted_dbs.get(db)
            for t in catalog.tables(conn, copy.copy_of(db)):
                if only is not None and t.name not in only:
                    continue
                picked.append((db, t))
        return picked, missing

    def _write(self, s3) -> None:
        rows_per_file = max(1, int(self.state.rows_per_file))
        skipped: list[dict[str, str]] = []
        with self.snapshot.server.admin() as conn:
            picked, missing = self._selected(conn)
            for db, table in picked:
                if self._cancel.is_set():
                    self._finish("CANCELED")
                    return
                reason = parquet.skip_reason(table.columns)
                if "/" in table.name:
                    reason = "the table name contains a slash (/)"
                if reason is not None:
                    self.tables.append(
                        TableResult(db, table.name, "SKIPPED", table.columns, warning=reason)
                    )
                    skipped.append({"target": f"{db}.{table.name}", "reason": reason})
                    continue
                self.tables.append(self._export_table(s3, conn, db, table, rows_per_file))
        general = [{"reason": "DATABASE_NOT_FOUND", "target": db} for db in missing]
        if skipped or general:
            self.warning = {"skippedTables": skipped, "skippedObjectives": [], "general": general}
        self.total_bytes = sum(t.size_bytes for t in self.tables)
        # The metadata files come last, when the task turns COMPLETE: a task canceled before
        # then leaves its data files but no export_info / export_tables_info.
        if not self._sleep_until(self._requested + self._duration):
            self._finish("CANCELED")
            return
        self._write_metadata(s3)
        self._finish("COMPLETE")

    def _export_table(self, s3, conn, db: str, table: catalog.Table, per_file: int) -> TableResult:
        result = TableResult(db, table.name, "COMPLETE", table.columns)
        result.started = self.state.clock.now()
        batch_prefix = f"{self.table_prefix(db, table.name)}/1"
        part = 0
        source = self.snapshot.copy.copy_of(db)
        pending: list[tuple] = []

        def flush(rows: list[tuple]) -> None:
            nonlocal part
            body = parquet.parquet_bytes(parquet.to_table(table.columns, rows))
            key = f"{batch_prefix}/part-{part:05d}-{uuid.uuid4()}-c000.gz.parquet"
            self._put(s3, key, body)
            result.files.append(key)
            result.rows += len(rows)
            result.size_bytes += len(body)
            part += 1

        for chunk in catalog.select_rows(conn, source, table):
            pending.extend(chunk)
            while len(pending) >= per_file:
                flush(pending[:per_file])
                pending = pending[per_file:]
        if pending:
            flush(pending)
        # An empty table: no data file (AWS: "no file is created" for an empty range).
        self._put(s3, f"{batch_prefix}/_SUCCESS", b"")
        result.partitions = part
        result.ended = self.state.clock.now()
        return result

    def _table_status(self, t: TableResult) -> dict[str, Any]:
        if t.status == "SKIPPED":
            return {"warningMessage": t.warning, "status": "SKIPPED", "target": t.target}
        assert t.started is not None and t.ended is not None
        return {
            "tableStatistics": {
                "extractionStartTime": iso_ms(t.started),
                "extractionEndTime": iso_ms(t.ended),
                "partitioningInfo": {
                    "numberOfPartitions": max(1, t.partitions),
                    "numberOfCompletedPartitions": max(1, t.partitions),
                },
            },
            "schemaMetadata": {"originalTypeMappings": parquet.type_mappings(t.columns)},
            "status": "COMPLETE",
            "sizeGB": t.size_bytes / GB,
            "target": t.target,
        }

    def _write_metadata(self, s3) -> None:
        per_file = max(1, int(self.state.tables_per_info_file))
        statuses = [self._table_status(t) for t in self.tables]
        for start in range(0, len(statuses), per_file):
            chunk = statuses[start : start + per_file]
            key = (
                f"{self.base_key}/export_tables_info_{self.identifier}"
                f"_from_{start + 1}_to_{start + len(chunk)}.json"
            )
            self._put(s3, key, json.dumps({"perTableStatus": chunk}, indent=2).encode("utf-8"))
        end = self._settle_end()
        info = {
            "exportTaskIdentifier": self.identifier,
            "sourceArn": self.source_arn,
            "exportOnly": list(self.export_only),
            "snapshotTime": iso_ms(self.snapshot.created),
            "taskStartTime": iso_ms(self.task_start),
            "taskEndTime": iso_ms(end),
            "s3Bucket": self.bucket,
            "s3Prefix": self.prefix,
            "exportedFilesPath": self.base_key,
            "iamRoleArn": self.iam_role_arn,
            "kmsKeyId": self.kms_key_id,
            "status": "COMPLETE",
            "percentProgress": 100,
            "totalExportedDataInGB": self.total_bytes / GB,
        }
        if self.warning:
            info["warningMessage"] = json.dumps(self.warning, separators=(",", ":"))
        self._put(s3, self.export_info_key, json.dumps(info, indent=2).encode("utf-8"))
