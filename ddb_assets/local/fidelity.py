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

This module holds the write-recording, table and continuous-backup handler patches and
``install``/``uninstall``; the shared state is in ``fidelity_state``, the export API handlers in
``fidelity_exports`` and the export job in ``dynamo_export`` (their public names are re-exported
here).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler

from ddb_assets.local.dynamo_export import (  # noqa: F401 - re-exported
    ERROR_PREFIX,
    EXPORT_ARN_RE,
    IDEMPOTENCY_WINDOW,
    MAX_INCREMENTAL,
    MIN_INCREMENTAL,
    TABLE_ARN_RE,
    ExportJob,
    ddb_error,
    iso_ms,
    item_size,
)
from ddb_assets.local.fidelity_exports import (
    describe_export,
    export_table_to_point_in_time,
    list_exports,
)
from ddb_assets.local.fidelity_state import (  # noqa: F401 - re-exported
    ORIGINALS,
    FidelityState,
    current_state,
    installed,
    set_installed,
)
from ddb_assets.local.history import key_of, to_wire


def __getattr__(name: str) -> Any:
    if name == "STATE":  # the installed state (kept in fidelity_state)
        return installed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------
# Handler patches
# --------------------------------------------------------------------------------------


def _call_action(self):
    st = installed()
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
    return ORIGINALS["call_action"](self)


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
        st = installed()
        original = ORIGINALS[name]
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
        st = installed()
        original = ORIGINALS[name]
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
    result = ORIGINALS["create_table"](self)
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        tid = FidelityState.table_id(table)
        result.result["TableDescription"]["TableId"] = tid
    except Exception:  # noqa: BLE001
        pass
    return result


def _describe_table(self):
    result = ORIGINALS["describe_table"](self)
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        result.result["Table"]["TableId"] = FidelityState.table_id(table)
    except Exception:  # noqa: BLE001
        pass
    return result


def _delete_table(self):
    st = installed()
    tid = None
    try:
        tid = FidelityState.table_id(self.dynamodb_backend.get_table(self.body["TableName"]))
    except Exception:  # noqa: BLE001
        pass
    result = ORIGINALS["delete_table"](self)
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
    st = current_state()
    with st.lock:
        try:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
        except Exception:  # noqa: BLE001
            return ORIGINALS["update_continuous_backups"](self)
        was = table.continuous_backups["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        ORIGINALS["update_continuous_backups"](self)
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]
        if pitr["PointInTimeRecoveryStatus"] == "ENABLED" and was != "ENABLED":
            pitr["EarliestRestorableDateTime"] = st.clock.now().timestamp()
        return ActionResult(
            {"ContinuousBackupsDescription": _continuous_backups_description(st, table)}
        )


def _describe_continuous_backups(self):
    st = current_state()
    try:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
    except Exception:  # noqa: BLE001
        return ORIGINALS["describe_continuous_backups"](self)
    return ActionResult(
        {"ContinuousBackupsDescription": _continuous_backups_description(st, table)}
    )


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
    "export_table_to_point_in_time": export_table_to_point_in_time,
    "describe_export": describe_export,
    "list_exports": list_exports,
}


def install(state: FidelityState) -> None:
    """Patch ``DynamoHandler`` for ``state``. Only one state can be installed at a time."""
    if installed() is not None:
        raise RuntimeError("a LocalAWS fidelity layer is already installed in this process")
    for name, func in _PATCHES.items():
        ORIGINALS[name] = DynamoHandler.__dict__[name]
        setattr(DynamoHandler, name, func)
    set_installed(state)


def uninstall(state: FidelityState) -> None:
    if installed() is not state:
        return
    for name, func in ORIGINALS.items():
        setattr(DynamoHandler, name, func)
    ORIGINALS.clear()
    set_installed(None)
