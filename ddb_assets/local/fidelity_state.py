"""The state the patched moto DynamoDB handlers share, and which state is installed.

Holds ``FidelityState`` (stack clock, write history, export jobs and idempotency tokens,
injected failures and throttles, the S3 client export jobs write through, and helpers that read
moto's tables as wire images or as they were at a past time), the one-at-a-time installed state
(``installed``/``current_state``/``set_installed``) and ``ORIGINALS``, moto's own handler
methods that the patches replace and call. Part of the moto fidelity layer described in
``ddb_assets.local.fidelity``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, overload

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.utilities import dynamo_to_dict

from ddb_assets.local.clock import StackClock, as_utc, to_micros
from ddb_assets.local.dynamo_export import ExportJob, ddb_error
from ddb_assets.local.history import Image, WriteHistory, key_of, to_wire
from ddb_assets.local.s3_clients import ServiceS3Clients


@dataclass
class _Injection:
    operation: str
    code: str
    message: str
    remaining: int


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
        # What its exports write through (``self.s3_client(region)``).
        self.s3_client = ServiceS3Clients(lambda: self.endpoint)

    # -- injection ----------------------------------------------------------------------
    def fail_next_export(self, code: str, message: str) -> None:
        with self._inj_lock:
            self._failures.append((code, message))

    def throttle_next(self, n: int, operation: str, code: str, message: str) -> None:
        with self._inj_lock:
            self._injections.append(_Injection(operation, code, message, int(n)))

    def take_failure(self) -> tuple[str, str] | None:
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


_STATE: FidelityState | None = None
ORIGINALS: dict[str, Callable] = {}


def installed() -> FidelityState | None:
    """The installed state, or None when the fidelity layer is not installed."""
    return _STATE


def set_installed(state: FidelityState | None) -> None:
    global _STATE
    _STATE = state


def current_state() -> FidelityState:
    if _STATE is None:  # pragma: no cover - only when uninstalled mid-request
        raise ddb_error("InternalServerError", "local fidelity layer is not installed")
    return _STATE
