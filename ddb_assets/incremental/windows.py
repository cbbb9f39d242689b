"""Window planning and PITR gap detection for a chain of incremental exports (no Dagster).

A chain starts at the ExportTime of the full export it was seeded with (``seed_time``) and
continues with consecutive windows ``[From, To)``: each From is the previous To, each window
``window`` long (15 minutes to 24 hours, DynamoDB's limits). A window is requested only once
its To is at or before the table's LatestRestorableDateTime: DynamoDB cannot export later.

A PITR gap means the changes right after the chain's last To can no longer be exported:
PITR is off, was disabled and re-enabled (EarliestRestorableDateTime later than the last
To), or the chain fell behind the recovery period (35 days). It is never skipped silently:
:func:`detect_gap` says which, and the chain is re-seeded from a fresh full export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, overload

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)


@overload
def utc(value: None) -> None: ...
@overload
def utc(value: datetime | float | str | Decimal) -> datetime: ...
def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=timezone.utc)
            if value.tzinfo is None
            else value.astimezone(timezone.utc)
        )
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def check_window_length(window: timedelta) -> timedelta:
    if not (MIN_WINDOW <= window <= MAX_WINDOW):
        raise ValueError(
            f"incremental window {window} must be between 15 minutes and 24 hours "
            "(DynamoDB's limits for one incremental export)"
        )
    return window


@dataclass(frozen=True, order=True)
class Window:
    """One incremental export period: ``start`` inclusive, ``end`` exclusive (UTC)."""

    start: datetime
    end: datetime

    def __post_init__(self):
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.start >= self.end:
            raise ValueError(f"window start {self.start} is not before its end {self.end}")

    @property
    def label(self) -> str:
        """``20240101T000000Z_20240101T010000Z``: used in S3 prefixes and run keys."""
        return f"{_stamp(self.start)}_{_stamp(self.end)}"


def _stamp(t: datetime) -> str:
    t = utc(t)
    s = t.strftime("%Y%m%dT%H%M%S")
    return s + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"


def next_windows(
    last_to: datetime, window: timedelta, latest_restorable: datetime, limit: int
) -> list[Window]:
    """Up to ``limit`` consecutive windows after ``last_to`` whose end is at or before
    ``latest_restorable`` (a window ending later is not requested yet)."""
    check_window_length(window)
    last_to, latest = utc(last_to), utc(latest_restorable)
    out: list[Window] = []
    start = last_to
    while len(out) < limit and start + window <= latest:
        out.append(Window(start, start + window))
        start = start + window
    return out


def seed_time_for(latest_restorable: datetime, window: timedelta) -> datetime:
    """A deterministic seed ExportTime: the latest whole-``window`` boundary (since the epoch)
    at or before ``latest_restorable``, so every tick of the same period asks for the same
    full export (same ClientToken, same S3 prefix). The first window then starts there."""
    latest = utc(latest_restorable)
    step = int(window.total_seconds())
    epoch = int(latest.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=timezone.utc)


# ---------------------------------------------------------------------------------------
# PITR


@dataclass(frozen=True)
class PitrStatus:
    enabled: bool
    earliest: datetime | None
    latest: datetime | None
    recovery_days: int = 35

    @classmethod
    def from_api(cls, resp: dict) -> PitrStatus:
        desc = resp.get("ContinuousBackupsDescription", resp)
        pitr = desc.get("PointInTimeRecoveryDescription", {})
        return cls(
            enabled=pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
            earliest=utc(pitr.get("EarliestRestorableDateTime")),
            latest=utc(pitr.get("LatestRestorableDateTime")),
            recovery_days=int(pitr.get("RecoveryPeriodInDays") or 35),
        )


def read_pitr(ddb, table_name: str) -> PitrStatus:
    """DescribeContinuousBackups (with the project's throttling backoff)."""
    from ddb_assets.dynamodb.exports import _call

    return PitrStatus.from_api(
        _call(lambda: ddb.describe_continuous_backups(TableName=table_name), table=table_name)
    )


GAP_PITR_DISABLED = "pitr_disabled"
GAP_PITR_REENABLED = "pitr_reenabled"
GAP_FELL_BEHIND = "fell_behind_recovery_period"


@dataclass(frozen=True)
class PitrGap:
    reason: str  # one of the GAP_* constants
    chain_to: datetime  # the chain's last To: changes from here on are not exportable
    earliest: datetime | None
    message: str


def detect_gap(
    pitr: PitrStatus,
    chain_to: datetime,
    table_name: str = "<table>",
    now: datetime | None = None,
) -> PitrGap | None:
    """The reason the chain cannot continue from ``chain_to``, or None when it can."""
    chain_to = utc(chain_to)
    if not pitr.enabled:
        return PitrGap(
            GAP_PITR_DISABLED,
            chain_to,
            None,
            (
                f"point-in-time recovery is disabled on {table_name!r}: the incremental chain "
                f"stopped at {chain_to.isoformat()} and cannot continue. Enable PITR; the chain "
                "will then be re-seeded from a fresh full export, and the changes between "
                f"{chain_to.isoformat()} and the new seed are recorded as a gap"
            ),
        )
    earliest = pitr.earliest
    if earliest is None or earliest <= chain_to:
        return None
    now = utc(now) or pitr.latest or datetime.now(timezone.utc)
    period_start = now - timedelta(days=pitr.recovery_days)
    if earliest <= period_start + timedelta(minutes=5):
        reason, why = (
            GAP_FELL_BEHIND,
            (
                f"the chain fell behind the {pitr.recovery_days}-day recovery period (its last To "
                f"{chain_to.isoformat()} is before the earliest restorable time {earliest.isoformat()})"
            ),
        )
    else:
        reason, why = (
            GAP_PITR_REENABLED,
            (
                f"PITR was disabled and re-enabled: the earliest restorable time "
                f"{earliest.isoformat()} is later than the chain's last To {chain_to.isoformat()}"
            ),
        )
    return PitrGap(
        reason,
        chain_to,
        earliest,
        (
            f"PITR gap on {table_name!r}: {why}. Changes in [{chain_to.isoformat()}, "
            f"{earliest.isoformat()}) cannot be exported; re-seeding from a fresh full export "
            "(the gap is recorded in the chain ledger and the change table keeps the net changes "
            "across it as operation rows with source 'reseed')"
        ),
    )
