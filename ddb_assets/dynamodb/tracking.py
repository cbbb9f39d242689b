"""State the export sensor keeps between ticks, and what it does per tick (no Dagster).

The cursor is a hint, never the truth: DynamoDB (DescribeExport / ListExports) says what
an export's status is, and the Dagster event log says what has been reported. So an
empty or corrupted cursor costs one reconciliation pass over recent exports, never a
lost or double-counted export.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone

from ddb_assets.dynamodb.exports import ExportDescription, describe_export

CURSOR_VERSION = 1


@dataclass
class PendingExport:
    arn: str
    table: str  # the configured (SQL) table name
    partition: str  # YYYY-MM-DD
    attempt: int = 0
    kind: str = "full"  # "full" (snapshot partition) or "incremental"


@dataclass
class SensorState:
    pending: dict[str, PendingExport] = field(default_factory=dict)
    # Event-log storage id of the last "export requested" observation read, per table.
    observed_upto: dict[str, int] = field(default_factory=dict)
    last_reconcile: float = 0.0  # epoch seconds
    recovered: bool = False  # True when this state was rebuilt from nothing

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "pending": [asdict(p) for p in self.pending.values()],
                "observed_upto": self.observed_upto,
                "last_reconcile": self.last_reconcile,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        """Parse a cursor; an empty, foreign or corrupted one gives a fresh state.

        A fresh state has ``recovered=True`` so the next tick reconciles with DynamoDB.
        """
        if not cursor:
            return cls(recovered=True)
        try:
            d = json.loads(cursor)
            if d.get("v") != CURSOR_VERSION:
                raise ValueError("cursor version")
            pending = {p["arn"]: PendingExport(**p) for p in d.get("pending", [])}
            for p in pending.values():
                date.fromisoformat(p.partition)
            observed = {str(k): int(v) for k, v in dict(d.get("observed_upto", {})).items()}
            return cls(
                pending=pending,
                observed_upto=observed,
                last_reconcile=float(d.get("last_reconcile", 0.0)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(recovered=True)

    def add(self, p: PendingExport) -> None:
        known = self.pending.get(p.arn)
        if known is None or p.attempt > known.attempt:
            self.pending[p.arn] = p


@dataclass(frozen=True)
class Finished:
    pending: PendingExport
    export: ExportDescription


def poll_pending(ddb, state: SensorState) -> tuple[list[Finished], list[Finished]]:
    """DescribeExport each pending export once: ``(completed, failed)``.

    Still-running exports stay pending; this is the O(pending) part of a tick.
    """
    completed: list[Finished] = []
    failed: list[Finished] = []
    for arn, p in sorted(state.pending.items()):
        d = describe_export(ddb, arn)
        if d.status == "COMPLETED":
            completed.append(Finished(p, d))
        elif d.status == "FAILED":
            failed.append(Finished(p, d))
    return completed, failed


def seconds_since(t: datetime | None, now: datetime | None = None) -> float | None:
    if t is None:
        return None
    return round(((now or datetime.now(timezone.utc)) - t).total_seconds(), 3)


def export_metadata(d: ExportDescription, *, now: datetime | None = None) -> dict:
    """Plain metadata for a completed export (the Dagster layer wraps the values)."""
    data_uri = None
    if d.s3_bucket and d.manifest_key:
        data_uri = f"s3://{d.s3_bucket}/{d.manifest_key.rsplit('/', 1)[0]}/data/"
    return {
        "export_arn": d.arn,
        "export_id": d.arn.rsplit("/", 1)[-1],
        "export_time": d.export_time.isoformat() if d.export_time else None,
        "export_format": d.export_format,
        "export_type": d.export_type,
        "item_count": d.item_count,
        "billed_size_bytes": d.billed_size_bytes,
        "manifest_uri": d.manifest_uri,
        "data_uri": data_uri,
        "start_time": d.start_time.isoformat() if d.start_time else None,
        "end_time": d.end_time.isoformat() if d.end_time else None,
        "noticed_after_seconds": seconds_since(d.end_time, now),
    }
