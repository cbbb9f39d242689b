"""Write history per table: every put/update/delete with the stack clock's timestamp and the
item's full new image, so exports can rebuild the table as of any time (full exports) or
the changes inside a window (incremental exports).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Image = dict[str, Any]  # DynamoDB JSON wire form: {"pk": {"S": "a"}, "b": {"B": "<base64>"}}

BASELINE_TS = -1  # "before the history began": items found in the table with no recorded write


def to_wire(value: Any) -> Any:
    """moto's attribute dicts (B/BS as bytes) to wire JSON (B/BS as base64 text)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


def key_of(image: Image, key_names: Iterable[str]) -> dict[str, Any]:
    return {name: image[name] for name in key_names if name in image}


def key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Change:
    """One item's net change inside an incremental window."""

    keys: dict[str, Any]
    write_micros: int
    old: Image | None
    new: Image | None


class WriteHistory:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = 0
        # table_id -> key_id -> [(ts_micros, seq, image or None)]
        self._tables: dict[str, dict[str, list[tuple[int, int, Image | None]]]] = {}

    def record(
        self, table_id: str, key: dict[str, Any], ts: int, before: Image | None, after: Image | None
    ) -> None:
        kid = key_id(key)
        with self._lock:
            events = self._tables.setdefault(table_id, {}).setdefault(kid, [])
            if not events and before is not None:
                self._seq += 1
                events.append((BASELINE_TS, self._seq, before))
            self._seq += 1
            events.append((ts, self._seq, after))

    def forget_table(self, table_id: str) -> None:
        with self._lock:
            self._tables.pop(table_id, None)

    def event_count(self, table_id: str) -> int:
        with self._lock:
            return sum(len(v) for v in self._tables.get(table_id, {}).values())

    @staticmethod
    def _last_before(events, limit: int, inclusive: bool):
        best = None
        for ev in events:
            if ev[0] < limit or (inclusive and ev[0] == limit):
                if best is None or ev[:2] > best[:2]:
                    best = ev
        return best

    def state_at(
        self, table_id: str, at_micros: int, current: Iterable[tuple[dict[str, Any], Image]]
    ) -> list[Image]:
        """The table's items as of ``at_micros`` (inclusive).

        ``current`` is the table's present content, used for items that have no recorded
        write at all (they are taken to have always existed).
        """
        with self._lock:
            table = self._tables.get(table_id, {})
            out: list[Image] = []
            for events in table.values():
                ev = self._last_before(events, at_micros, inclusive=True)
                if ev is not None and ev[2] is not None:
                    out.append(ev[2])
            for key, image in current:
                if key_id(key) not in table:
                    out.append(image)
            return out

    def changes(self, table_id: str, from_micros: int, to_micros: int) -> list[Change]:
        """Net change per item for writes in ``[from, to)``; created-and-deleted items drop out."""
        with self._lock:
            out: list[Change] = []
            for kid, events in self._tables.get(table_id, {}).items():
                inside = [ev for ev in events if from_micros <= ev[0] < to_micros]
                if not inside:
                    continue
                last = max(inside, key=lambda ev: ev[:2])
                prior = self._last_before(events, from_micros, inclusive=False)
                old = prior[2] if prior is not None else None
                new = last[2]
                if old is None and new is None:
                    continue
                out.append(Change(json.loads(kid), last[0], old, new))
            return out
