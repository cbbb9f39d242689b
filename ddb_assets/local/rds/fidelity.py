"""Patches that make moto's RDS behave like AWS for DB instances, snapshots and S3 exports.

How it hooks into moto (inside the process that runs ``ThreadedMotoServer``), as
``ddb_assets.local.fidelity`` does for DynamoDB: moto builds a ``moto.rds.responses.RDSResponse``
per request and dispatches to the snake_case method of the action; ``install`` replaces some of
those methods on the class and ``uninstall`` puts the originals back.

* CreateDBInstance (engine mysql / mariadb): moto's model plus a MariaDB server of its own
  (started on first use) holding the instance's data; the master user and ``DBName`` are created
  there and ``Endpoint`` is the server's 127.0.0.1 address and port. moto's instant "automated"
  snapshot is dropped: automated snapshots are taken when the caller's backup window says so
  (``RdsControl.take_automated_snapshot``), each a real copy of the data at that moment.
* Aurora clusters (engine aurora-mysql) and their snapshots: clusters.py.
* CreateDBSnapshot / automated snapshots: the instance's user databases are copied on the server
  (a frozen copy); status ``creating`` for ``snapshot_seconds``, then ``available``;
  SnapshotCreateTime is the stack clock. Automated snapshots older than the retention period are
  deleted; ModifyDBInstance to retention 0 deletes them all (backups off).
* StartExportTask / DescribeExportTasks / CancelExportTask are replaced entirely (see export.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import RDSClientError
from moto.rds.models import DBInstance, rds_backends
from moto.rds.responses import RDSResponse

from ddb_assets.local.clock import StackClock, as_utc
from ddb_assets.local.rds import catalog
from ddb_assets.local.rds.export import ACTIVE, ExportJob
from ddb_assets.local.rds.server import MariaDBNotInstalled, MariaDBServer
from ddb_assets.local.s3_clients import ServiceS3Clients

MYSQL_ENGINES = ("mysql", "mariadb")
MAX_CONCURRENT_EXPORTS = 5  # "up to five concurrent DB snapshot export tasks ... per account"
_EXPORT_ONLY_NAME = re.compile(r"^[A-Za-z0-9$_]+$")
_SNAPSHOT_ARN = re.compile(r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):snapshot:(.+)$")


def rds_error(code: str, message: str) -> RDSClientError:
    return RDSClientError(code, message)


@dataclass
class LocalInstance:
    identifier: str
    account: str
    region: str
    server: MariaDBServer
    master_username: str
    master_password: str
    db_name: str | None


@dataclass
class LocalSnapshot:
    identifier: str
    instance: str
    snapshot_type: str
    created: datetime
    copy: catalog.SnapshotCopy
    server: MariaDBServer
    ready_at: float

    def status(self) -> str:
        return "available" if time.monotonic() >= self.ready_at else "creating"


class RdsState:
    """Everything the patched RDS handlers share. One instance is installed at a time."""

    def __init__(
        self,
        *,
        endpoint: str,
        clock: StackClock,
        export_seconds: float = 2.0,
        snapshot_seconds: float = 0.0,
        rows_per_file: int = 100_000,
        tables_per_info_file: int = 100,
        max_concurrent_exports: int = MAX_CONCURRENT_EXPORTS,
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.export_seconds = float(export_seconds)
        self.snapshot_seconds = float(snapshot_seconds)
        self.rows_per_file = int(rows_per_file)
        self.tables_per_info_file = int(tables_per_info_file)
        self.max_concurrent_exports = int(max_concurrent_exports)
        self.lock = threading.RLock()
        self.instances: dict[tuple[str, str, str], LocalInstance] = {}
        self.snapshots: dict[tuple[str, str, str], LocalSnapshot] = {}
        # Aurora clusters (clusters.py): their servers and DB cluster snapshots
        self.clusters: dict[tuple[str, str, str], LocalInstance] = {}
        self.cluster_snapshots: dict[tuple[str, str, str], LocalSnapshot] = {}
        self.exports: dict[tuple[str, str, str], ExportJob] = {}
        self.servers: list[MariaDBServer] = []
        self._snapshot_seq = 0
        self._failures: list[str] = []
        # What its exports write through (``self.s3_client(region)``).
        self.s3_client = ServiceS3Clients(lambda: self.endpoint)

    # -- servers ------------------------------------------------------------------------
    def new_server(self, name: str) -> MariaDBServer:
        server = MariaDBServer(name=name).start()
        self.servers.append(server)
        return server

    def stop_servers(self) -> None:
        servers, self.servers = self.servers, []
        for server in servers:
            server.stop()

    # -- injection ----------------------------------------------------------------------
    def fail_next_export(self, cause: str) -> None:
        with self.lock:
            self._failures.append(cause)

    def take_failure(self) -> str | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    # -- snapshots ----------------------------------------------------------------------
    def take_snapshot(
        self,
        account: str,
        region: str,
        instance_id: str,
        snapshot_id: str,
        snapshot_type: str,
        created: datetime,
    ) -> LocalSnapshot:
        """Freeze the instance's databases now; register the snapshot in moto and here."""

        backend = rds_backends[account][region]
        with self.lock:
            inst = self.instances.get((account, region, instance_id))
            if inst is None:
                raise rds_error("DBInstanceNotFound", f"DBInstance {instance_id} not found.")
            snapshot_id = snapshot_id.lower()
            if snapshot_id in backend.database_snapshots:
                raise rds_error(
                    "DBSnapshotAlreadyExists",
                    f"Cannot create the snapshot because a snapshot with the identifier "
                    f"{snapshot_id} already exists.",
                )
            copy = self.capture(inst.server)
            model = backend.create_db_snapshot(
                instance_id, snapshot_id, snapshot_type=snapshot_type
            )
            model.created = created
            model.original_snapshot_create_time = created
            return self.keep_snapshot(
                self.snapshots,
                (account, region, snapshot_id),
                model,
                instance_id,
                snapshot_type,
                created,
                copy,
                inst.server,
            )

    def capture(self, server: MariaDBServer) -> catalog.SnapshotCopy:
        """Freeze ``server``'s databases now (with the lock held); the copy's name."""
        self._snapshot_seq += 1
        with server.admin() as conn:
            return catalog.capture(conn, self._snapshot_seq)

    def keep_snapshot(
        self,
        where: dict,
        key: tuple[str, str, str],
        model: Any,
        source_id: str,
        snapshot_type: str,
        created: datetime,
        copy: catalog.SnapshotCopy,
        server: MariaDBServer,
    ) -> LocalSnapshot:
        """Register the frozen ``copy`` as snapshot ``key`` (creating for ``snapshot_seconds``)
        in ``where`` (instance or cluster snapshots) and show its state on moto's ``model``."""
        snap = LocalSnapshot(
            key[2],
            source_id,
            snapshot_type,
            created,
            copy,
            server,
            time.monotonic() + self.snapshot_seconds,
        )
        where[key] = snap
        self.refresh_snapshot(model, snap)
        return snap

    @staticmethod
    def refresh_snapshot(model: Any, snap: LocalSnapshot) -> None:
        status = snap.status()
        model.status = status
        model.percent_progress = 100 if status == "available" else 0

    def forget_snapshot(self, account: str, region: str, snapshot_id: str) -> None:
        snap = self.snapshots.pop((account, region, snapshot_id.lower()), None)
        if snap is not None and snap.server.running:
            with snap.server.admin() as conn:
                catalog.drop(conn, snap.copy)

    def prune_automated(self, account: str, region: str) -> None:
        """Delete automated snapshots older than their instance's retention period."""
        backend = rds_backends[account][region]
        now = self.clock.now()
        with self.lock:
            for (acc, reg, sid), snap in list(self.snapshots.items()):
                if (acc, reg) != (account, region) or snap.snapshot_type != "automated":
                    continue
                db = backend.databases.get(snap.instance)
                retention = 0 if db is None else int(db.backup_retention_period or 0)
                if snap.created < now - timedelta(days=retention):
                    backend.database_snapshots.pop(sid, None)
                    self.forget_snapshot(acc, reg, sid)

    def automated_snapshot(
        self, account: str, region: str, instance_id: str, at: datetime | None = None
    ) -> LocalSnapshot:
        """The instance's automated backup, named ``rds:<instance>-YYYY-MM-DD-HH-MM`` for ``at``
        (default: the stack clock's now); it captures the data as it is now."""
        backend = rds_backends[account][region]
        db = backend.databases.get(instance_id)
        if db is None:
            raise rds_error("DBInstanceNotFound", f"DBInstance {instance_id} not found.")
        if int(db.backup_retention_period or 0) <= 0:
            raise rds_error(
                "InvalidDBInstanceState",
                f"Automated backups are turned off for DB instance {instance_id} "
                "(BackupRetentionPeriod is 0): no automated snapshot is taken.",
            )
        when = as_utc(at) if at is not None else self.clock.now()
        sid = f"rds:{instance_id}-{when.strftime('%Y-%m-%d-%H-%M')}"
        snap = self.take_snapshot(account, region, instance_id, sid, "automated", when)
        self.prune_automated(account, region)
        return snap


STATE: RdsState | None = None
_ORIGINALS: dict[str, Any] = {}


def _state() -> RdsState:
    if STATE is None:  # pragma: no cover - only when uninstalled mid-request
        raise rds_error("InternalFailure", "local RDS fidelity layer is not installed")
    return STATE


def _ids(self: RDSResponse) -> tuple[str, str]:
    return self.current_account, self.region


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------


def _address(self: DBInstance) -> str:
    st = STATE
    if st is not None:
        inst = st.instances.get((self.account_id, self.region, self.db_instance_identifier))
        if inst is not None:
            return inst.server.endpoint.host
        cluster_id = getattr(self, "db_cluster_identifier", None)
        host = cluster_id and clusters.member_address(self.account_id, self.region, cluster_id)
        if host:
            return host
    return f"{self.db_instance_identifier}.aaaaaaaaaa.{self.region}.rds.amazonaws.com"


def _create_db_instance(self: RDSResponse) -> ActionResult:
    st = _state()
    engine = str(self.params.get("Engine", "")).lower()
    if self.params.get("DBClusterIdentifier"):
        return clusters.create_member_instance(self)  # shares the cluster's server
    if engine not in MYSQL_ENGINES:
        return _ORIGINALS["create_db_instance"](self)
    account, region = _ids(self)
    ident = str(self.params.get("DBInstanceIdentifier", "")).lower()
    user = self.params.get("MasterUsername") or "admin"
    password = self.params.get("MasterUserPassword") or ""
    db_name = self.params.get("DBName")
    with st.lock:
        if ident in rds_backends[account][region].databases:
            return _ORIGINALS["create_db_instance"](self)  # moto's DBInstanceAlreadyExists
        try:
            server = st.new_server(f"rds-{ident}")
        except MariaDBNotInstalled as exc:
            raise rds_error("InternalFailure", str(exc)) from None
        try:
            server.create_user(user, password)
            with server.admin() as conn, conn.cursor() as cur:
                if db_name:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS {catalog.quote_ident(db_name)}")
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchone()[0]).split("-", 1)[0]
            if engine == "mariadb" and not self.params.get("EngineVersion"):
                self.params["EngineVersion"] = version  # moto knows no MariaDB default
            st.instances[(account, region, ident)] = LocalInstance(
                ident, account, region, server, user, password, db_name
            )
            result = _ORIGINALS["create_db_instance"](self)
        except BaseException:
            st.instances.pop((account, region, ident), None)
            st.servers.remove(server)
            server.stop()
            raise
        backend = rds_backends[account][region]
        model = backend.databases[ident]
        model.port = server.endpoint.port
        # moto took an instant "automated" snapshot holding nothing. Automated snapshots are
        # taken by the caller's backup window instead (RdsControl.take_automated_snapshot).
        for sid, snap in list(backend.database_snapshots.items()):
            if snap.snapshot_type == "automated" and snap.db_instance_identifier == ident:
                backend.database_snapshots.pop(sid)
    return result


def _modify_db_instance(self: RDSResponse) -> ActionResult:
    st = _state()
    result = _ORIGINALS["modify_db_instance"](self)
    account, region = _ids(self)
    if "BackupRetentionPeriod" in self.params:
        st.prune_automated(account, region)
    return result


def _delete_db_instance(self: RDSResponse) -> ActionResult:
    st = _state()
    account, region = _ids(self)
    ident = str(self.params.get("DBInstanceIdentifier", "")).lower()
    final = self.params.get("FinalDBSnapshotIdentifier")
    with st.lock:
        inst = st.instances.get((account, region, ident))
        if inst is not None and final and not self.params.get("SkipFinalSnapshot"):
            st.take_snapshot(account, region, ident, final, "manual", st.clock.now())
            self.params.pop("FinalDBSnapshotIdentifier", None)
            self.params["SkipFinalSnapshot"] = True
        result = _ORIGINALS["delete_db_instance"](self)
        if inst is not None:
            # The server stays up while snapshots still live on it; the stack stops it.
            st.instances.pop((account, region, ident), None)
            backend = rds_backends[account][region]
            for acc, reg, sid in list(st.snapshots):
                if (acc, reg) == (account, region) and sid not in backend.database_snapshots:
                    st.forget_snapshot(acc, reg, sid)
    return result


# --------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------


def _create_db_snapshot(self: RDSResponse) -> ActionResult:
    st = _state()
    account, region = _ids(self)
    ident = str(self.params.get("DBInstanceIdentifier", "")).lower()
    clusters.refuse_member_snapshot(account, region, ident)
    if (account, region, ident) not in st.instances:
        return _ORIGINALS["create_db_snapshot"](self)
    sid = str(self.params.get("DBSnapshotIdentifier", ""))
    rds_backends[account][region].validate_db_snapshot_identifier(
        sid, parameter_name="DBSnapshotIdentifier"
    )
    snap = st.take_snapshot(account, region, ident, sid, "manual", st.clock.now())
    model = rds_backends[account][region].database_snapshots[snap.identifier]
    if self.params.get("Tags"):
        model.tags = self.params["Tags"]
    return ActionResult({"DBSnapshot": model})


def _describe_db_snapshots(self: RDSResponse) -> ActionResult:
    st = _state()
    account, region = _ids(self)
    st.prune_automated(account, region)
    backend = rds_backends[account][region]
    for (acc, reg, sid), snap in list(st.snapshots.items()):
        model = backend.database_snapshots.get(sid)
        if (acc, reg) == (account, region) and model is not None:
            st.refresh_snapshot(model, snap)
    return _ORIGINALS["describe_db_snapshots"](self)


def _delete_db_snapshot(self: RDSResponse) -> ActionResult:
    st = _state()
    result = _ORIGINALS["delete_db_snapshot"](self)
    account, region = _ids(self)
    st.forget_snapshot(account, region, str(self.params.get("DBSnapshotIdentifier", "")))
    return result


# --------------------------------------------------------------------------------------
# Exports (validation lives in exports_api.py)
# --------------------------------------------------------------------------------------

from ddb_assets.local.rds import clusters, exports_api  # noqa: E402 - needs the names above

_PATCHES: dict[str, Callable[[RDSResponse], Any]] = {
    "create_db_instance": _create_db_instance,
    "modify_db_instance": _modify_db_instance,
    "delete_db_instance": _delete_db_instance,
    "create_db_snapshot": _create_db_snapshot,
    "describe_db_snapshots": _describe_db_snapshots,
    "delete_db_snapshot": _delete_db_snapshot,
    "start_export_task": exports_api.start_export_task,
    "describe_export_tasks": exports_api.describe_export_tasks,
    "cancel_export_task": exports_api.cancel_export_task,
    **clusters.PATCHES,
}


def install(state: RdsState) -> None:
    """Patch ``RDSResponse`` for ``state``. Only one state can be installed at a time."""
    global STATE
    if STATE is not None:
        raise RuntimeError("a local RDS fidelity layer is already installed in this process")
    for name, func in _PATCHES.items():
        _ORIGINALS[name] = RDSResponse.__dict__[name]
        setattr(RDSResponse, name, func)
    _ORIGINALS["DBInstance.address"] = DBInstance.__dict__["address"]
    DBInstance.address = property(_address)  # type: ignore[assignment,method-assign]
    clusters.install_models()
    STATE = state


def uninstall(state: RdsState) -> None:
    global STATE
    if STATE is not state:
        return
    address = _ORIGINALS.pop("DBInstance.address", None)
    if address is not None:
        DBInstance.address = address  # type: ignore[method-assign]
    clusters.uninstall_models()
    for name, func in _ORIGINALS.items():
        setattr(RDSResponse, name, func)
    _ORIGINALS.clear()
    STATE = None
    for job in list(state.exports.values()):
        if job.status in ACTIVE:
            job.cancel()
    state.stop_servers()


# helpers used by exports_api -------------------------------------------------------------


def snapshot_from_arn(source_arn: str) -> tuple[str, str, str] | None:
    m = _SNAPSHOT_ARN.match(source_arn or "")
    return None if m is None else (m.group(2), m.group(1), m.group(3).lower())


def export_only_problem(items: list[str]) -> str | None:
    for item in items:
        parts = item.split(".")
        if len(parts) > 2:
            return (
                f"The ExportOnly value {item!r} is not valid for MySQL or MariaDB: "
                "use database or database.table."
            )
        if not all(_EXPORT_ONLY_NAME.match(p) for p in parts):
            return (
                f"The ExportOnly value {item!r} has characters other than Latin letters, digits, "
                "$ and _: partial export isn't supported for it (export the whole snapshot)."
            )
    if len(json.dumps(items)) > 200 * 1024:
        return "The ExportOnly list is larger than 200 KB."
    return None


def statement_allows(statement: dict[str, Any], action: str, resource: str | None) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if resource is None:
        return True
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatchcase(resource, r) for r in resources)
