"""The local stack's controllable clock ("now" for writes, PITR and exports)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone


def as_utc(value: datetime | float | int) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC) or epoch seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def to_micros(value: datetime) -> int:
    value = as_utc(value)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc).replace(
        microsecond=micros % 1_000_000
    )


class StackClock:
    """Real time by default; after ``set_now(dt)`` it is ``dt`` plus the real time elapsed since.

    Successive readings never go backwards unless ``set_now`` moves the clock back on purpose.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._anchor: tuple[datetime, float] | None = None

    def set_now(self, dt: datetime) -> None:
        with self._lock:
            self._anchor = (as_utc(dt), time.monotonic())

    def reset(self) -> None:
        with self._lock:
            self._anchor = None

    def now(self) -> datetime:
        with self._lock:
            anchor = self._anchor
        if anchor is None:
            return datetime.now(timezone.utc)
        base, mono = anchor
        return base + timedelta(seconds=time.monotonic() - mono)

    def now_micros(self) -> int:
        return to_micros(self.now())
