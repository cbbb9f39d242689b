"""Aurora MySQL DB clusters on the local stack, made faithful the way DB instances are.

moto's RDS models clusters but holds no data: CreateDBCluster takes an instant "automated"
snapshot on the wall clock, cluster snapshots are ``available`` the moment they are asked for,
and BackupRetentionPeriod accepts values Aurora refuses. Here (patches on ``RDSResponse``
installed with the instance patches by :mod:`ddb_assets.local.rds.fidelity`):

* CreateDBCluster (engine aurora-mysql): moto's model plus a MariaDB server of its own holding
  the cluster's data (the cluster volume). The master user and ``DatabaseName`` are created
  there; ``Endpoint``/``ReaderEndpoint`` are 127.0.0.1 and ``Port`` the server's port. A DB
  instance created in the cluster (CreateDBInstance with DBClusterIdentifier) starts no server
  of its own: it shares the cluster's data, so its endpoint is the cluster's server.
* Automated cluster snapshots ``rds:<cluster>-YYYY-MM-DD-HH-MM`` are taken when the caller's
  backup window says so (``RdsControl.take_automated_cluster_snapshot``), on the stack clock.
  Aurora cannot turn automated backups off: BackupRetentionPeriod must be 1 to 35 days
  (InvalidParameterValue otherwise); automated snapshots older than it are deleted.
* CreateDBClusterSnapshot copies the cluster's databases at that moment (a frozen copy); status
  ``creating`` for ``snapshot_seconds``, then ``available``; SnapshotCreateTime = stack clock.
  Automated cluster snapshots cannot be deleted (InvalidDBClusterSnapshotStateFault).
* CreateDBSnapshot of a cluster member is refused as AWS does (InvalidParameterValue: use
  CreateDBClusterSnapshot).
* StartExportTask with a ``cluster-snapshot:`` ARN exports that copy (see exports_api.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    DBClusterSnapshotAlreadyExistsError,
    DBClusterSnapshotNotFoundError,
    InvalidDBClusterSnapshotStateFault,
    InvalidParameterValue,
)
from moto.rds.models import DBCluster, rds_backends
from moto.rds.responses import RDSResponse

from ddb_assets.local.clock import as_utc
from ddb_assets.local.rds import catalog
from ddb_assets.local.rds import fidelity as fid
from ddb_assets.local.rds.server import MariaDBNotInstalled

CLUSTER_ENGINES = ("aurora-mysql",)
MIN_RETENTION, MAX_RETENTION = 1, 35  # Aurora: "Must be a value from 1 to 35"
_CLUSTER_SNAPSHOT_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):cluster-snapshot:(.+)$"
)
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):cluster:(.+)$")


def _ids(self: RDSResponse) -> tuple[str, str]:
    return self.current_account, self.region


def _check_retention(value: Any) -> None:
    if value in (None, ""):
        return
    days = int(value)
    if not MIN_RETENTION <= days <= MAX_RETENTION:
        raise InvalidParameterValue(
            f"Invalid backup retention period: {days}. Aurora DB clusters keep automated "
            f"backups for {MIN_RETENTION} to {MAX_RETENTION} days; they cannot be turned off."
        )


# --------------------------------------------------------------------------------------
# State helpers (the cluster half of RdsState)
# --------------------------------------------------------------------------------------


def local_cluster(st: fid.RdsState, account: str, region: str, ident: str):
    return st.clusters.get((account, region, ident.lower()))


def take_cluster_snapshot(
    st: fid.RdsState,
    account: str,
    region: str,
    cluster_id: str,
    snapshot_id: str,
    snapshot_type: str,
    created: datetime,
    tags: list[dict[str, str]] | None = None,
) -> fid.LocalSnapshot:
    """Freeze the cluster's databases now; register the snapshot in moto and here."""
    backend = rds_backends[account][region]
    with st.lock:
        cluster = local_cluster(st, account, region, cluster_id)
        if cluster is None:
            raise DBClusterNotFoundError(cluster_id)
        snapshot_id = snapshot_id.lower()
        if snapshot_id in backend.cluster_snapshots:
            raise DBClusterSnapshotAlreadyExistsError(snapshot_id)
        copy = st.capture(cluster.server)
        try:
            model = backend.create_db_cluster_snapshot(
                cluster.identifier, snapshot_id, snapshot_type=snapshot_type, tags=tags
            )
        except BaseException:
            with cluster.server.admin() as conn:
                catalog.drop(conn, copy)
            raise
        model.created = created
        return st.keep_snapshot(
            st.cluster_snapshots,
            (account, region, snapshot_id),
            model,
            cluster.identifier,
            snapshot_type,
            created,
            copy,
            cluster.server,
        )


def forget_cluster_snapshot(st: fid.RdsState, account: str, region: str, sid: str) -> None:
    snap = st.cluster_snapshots.pop((account, region, sid.lower()), None)
    if snap is not None and snap.server.running:
        with snap.server.admin() as conn:
            catalog.drop(conn, snap.copy)


def prune_cluster_automated(st: fid.RdsState, account: str, region: str) -> None:
    """Delete automated cluster snapshots older than their cluster's retention period."""
    backend = rds_backends[account][region]
    now = st.clock.now()
    with st.lock:
        for (acc, reg, sid), snap in list(st.cluster_snapshots.items()):
            if (acc, reg) != (account, region) or snap.snapshot_type != "automated":
                continue
            model = backend.clusters.get(snap.instance)
            if model is None:
                continue  # retained after DeleteDBCluster(DeleteAutomatedBackups=false)
            retention = max(MIN_RETENTION, int(model.backup_retention_period or MIN_RETENTION))
            if snap.created < now - timedelta(days=retention):
                backend.cluster_snapshots.pop(sid, None)
                forget_cluster_snapshot(st, acc, reg, sid)


def automated_cluster_snapshot(
    st: fid.RdsState, account: str, region: str, cluster_id: str, at: datetime | None = None
) -> fid.LocalSnapshot:
    """The cluster's automated backup ``rds:<cluster>-YYYY-MM-DD-HH-MM`` for ``at`` (default:
    the stack clock's now); it captures the data as it is now. Aurora always takes one."""
    cluster_id = cluster_id.lower()
    if cluster_id not in rds_backends[account][region].clusters:
        raise DBClusterNotFoundError(cluster_id)
    when = as_utc(at) if at is not None else st.clock.now()
    sid = f"rds:{cluster_id}-{when.strftime('%Y-%m-%d-%H-%M')}"
    snap = take_cluster_snapshot(st, account, region, cluster_id, sid, "automated", when)
    prune_cluster_automated(st, account, region)
    return snap


def member_cluster(account: str, region: str, instance_id: str) -> str | None:
    """The cluster a DB instance belongs to (None: a standalone instance, or none)."""
    db = rds_backends[account][region].databases.get(instance_id.lower())
    return getattr(db, "db_cluster_identifier", None) if db is not None else None


def source_snapshot(st: fid.RdsState, source_arn: str) -> fid.LocalSnapshot:
    """The snapshot a StartExportTask SourceArn names (DB snapshot or DB cluster snapshot),
    or the fault AWS answers when there is none."""
    m = _CLUSTER_SNAPSHOT_ARN.match(source_arn or "")
    if m is not None:
        snap = st.cluster_snapshots.get((m.group(2), m.group(1), m.group(3).lower()))
        if snap is None:
            raise DBClusterSnapshotNotFoundError(m.group(3))
        return snap
    if _CLUSTER_ARN.match(source_arn or ""):
        # Exporting a live cluster (SourceType CLUSTER) is not modelled by the local stack.
        raise InvalidParameterValue(
            f"The local stack exports DB snapshots and DB cluster snapshots only, not live DB "
            f"clusters ({source_arn}): export a DB cluster snapshot's ARN instead."
        )
    parsed = fid.snapshot_from_arn(source_arn)
    snap = None if parsed is None else st.snapshots.get(parsed)
    if snap is None:
        name = (source_arn or "").rsplit(":snapshot:", 1)[-1]
        raise fid.rds_error("DBSnapshotNotFound", f"DBSnapshot {name} not found.")
    return snap


# --------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------


def _create_db_cluster(self: RDSResponse) -> ActionResult:
    st = fid._state()
    engine = str(self.params.get("Engine", "")).lower()
    if engine not in CLUSTER_ENGINES:
        return fid._ORIGINALS["create_db_cluster"](self)
    account, region = _ids(self)
    ident = str(self.params.get("DBClusterIdentifier", "")).lower()
    _check_retention(self.params.get("BackupRetentionPeriod"))
    backend = rds_backends[account][region]
    with st.lock:
        if ident in backend.clusters:
            return fid._ORIGINALS["create_db_cluster"](self)  # moto's answer
        user = self.params.get("MasterUsername") or ""
        password = self.params.get("MasterUserPassword") or ""
        db_name = self.params.get("DatabaseName")
        try:
            server = st.new_server(f"rds-cluster-{ident}")
        except MariaDBNotInstalled as exc:
            raise fid.rds_error("InternalFailure", str(exc)) from None
        try:
            result = fid._ORIGINALS["create_db_cluster"](self)  # moto validates the rest
            server.create_user(user, password)
            if db_name:
                with server.admin() as conn, conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS {catalog.quote_ident(db_name)}")
            st.clusters[(account, region, ident)] = fid.LocalInstance(
                ident, account, region, server, user, password, db_name
            )
        except BaseException:
            backend.clusters.pop(ident, None)
            st.servers.remove(server)
            server.stop()
            raise
        backend.clusters[ident].port = server.endpoint.port
        # moto took an instant "automated" snapshot holding nothing, on the wall clock.
        for sid, snap in list(backend.cluster_snapshots.items()):
            if snap.snapshot_type == "automated" and snap.db_cluster_identifier == ident:
                backend.cluster_snapshots.pop(sid)
    return result


def _modify_db_cluster(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = _ids(self)
    ident = str(self.params.get("DBClusterIdentifier", "")).lower()
    if local_cluster(st, account, region, ident) is not None:
        _check_retention(self.params.get("BackupRetentionPeriod"))
        if self.params.get("NewDBClusterIdentifier"):
            raise InvalidParameterValue(
                "The local stack does not rename DB clusters (NewDBClusterIdentifier)."
            )
    result = fid._ORIGINALS["modify_db_cluster"](self)
    prune_cluster_automated(st, account, region)
    return result


def _delete_db_cluster(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = _ids(self)
    ident = str(self.params.get("DBClusterIdentifier", "")).lower()
    final = self.params.get("FinalDBSnapshotIdentifier")
    skip = bool(self.params.get("SkipFinalSnapshot"))
    with st.lock:
        cluster = local_cluster(st, account, region, ident)
        if cluster is None:
            return fid._ORIGINALS["delete_db_cluster"](self)
        backend = rds_backends[account][region]
        model = backend.clusters.get(ident)
        if model is not None and model.members:
            return fid._ORIGINALS["delete_db_cluster"](self)  # moto refuses: members left
        if not skip and not final:
            raise InvalidParameterValue(
                "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified."
            )
        if final and not skip:
            take_cluster_snapshot(st, account, region, ident, final, "manual", st.clock.now())
        self.params.pop("FinalDBSnapshotIdentifier", None)
        result = fid._ORIGINALS["delete_db_cluster"](self)
        st.clusters.pop((account, region, ident), None)
        if self.params.get("DeleteAutomatedBackups", True) not in (False, "false"):
            for (acc, reg, sid), snap in list(st.cluster_snapshots.items()):
                if (acc, reg) == (account, region) and snap.instance == ident:
                    if snap.snapshot_type == "automated":
                        backend.cluster_snapshots.pop(sid, None)
                        forget_cluster_snapshot(st, acc, reg, sid)
        # The server stays up while snapshots still live on it; the stack stops it.
    return result


def _create_db_cluster_snapshot(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = _ids(self)
    ident = str(self.params.get("DBClusterIdentifier", "")).lower()
    if local_cluster(st, account, region, ident) is None:
        return fid._ORIGINALS["create_db_cluster_snapshot"](self)
    sid = str(self.params.get("DBClusterSnapshotIdentifier", ""))
    rds_backends[account][region].validate_db_snapshot_identifier(
        sid, parameter_name="DBClusterSnapshotIdentifier"
    )
    snap = take_cluster_snapshot(
        st, account, region, ident, sid, "manual", st.clock.now(), self.params.get("Tags")
    )
    model = rds_backends[account][region].cluster_snapshots[snap.identifier]
    return ActionResult({"DBClusterSnapshot": model})


def _describe_db_cluster_snapshots(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = _ids(self)
    prune_cluster_automated(st, account, region)
    backend = rds_backends[account][region]
    for (acc, reg, sid), snap in list(st.cluster_snapshots.items()):
        model = backend.cluster_snapshots.get(sid)
        if (acc, reg) == (account, region) and model is not None:
            st.refresh_snapshot(model, snap)
    return fid._ORIGINALS["describe_db_cluster_snapshots"](self)


def _delete_db_cluster_snapshot(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = _ids(self)
    sid = str(self.params.get("DBClusterSnapshotIdentifier", "")).lower()
    snap = st.cluster_snapshots.get((account, region, sid))
    if snap is not None and snap.snapshot_type == "automated":
        raise InvalidDBClusterSnapshotStateFault(
            f"Only manual snapshots may be deleted: {sid} is an automated backup, deleted "
            "when it is older than the cluster's backup retention period."
        )
    result = fid._ORIGINALS["delete_db_cluster_snapshot"](self)
    forget_cluster_snapshot(st, account, region, sid)
    return result


def create_member_instance(self: RDSResponse) -> ActionResult:
    """CreateDBInstance with DBClusterIdentifier: moto's model, no server of its own (the
    instance reads and writes the cluster's volume, so its endpoint is the cluster's)."""
    st = fid._state()
    account, region = _ids(self)
    result = fid._ORIGINALS["create_db_instance"](self)
    ident = str(self.params.get("DBInstanceIdentifier", "")).lower()
    cluster_id = member_cluster(account, region, ident)
    cluster = None if cluster_id is None else local_cluster(st, account, region, cluster_id)
    if cluster is not None:
        model = rds_backends[account][region].databases[ident]
        model.port = cluster.server.endpoint.port
        for sid, snap in list(rds_backends[account][region].database_snapshots.items()):
            if snap.snapshot_type == "automated" and snap.db_instance_identifier == ident:
                rds_backends[account][region].database_snapshots.pop(sid)
    return result


def refuse_member_snapshot(account: str, region: str, instance_id: str) -> None:
    """CreateDBSnapshot of an Aurora cluster member: refused, as AWS does."""
    if member_cluster(account, region, instance_id) is not None:
        raise InvalidParameterValue(
            "The specified instance is a member of a cluster and a snapshot cannot be created "
            "directly. Please use the CreateDBClusterSnapshot API instead."
        )


def member_address(account: str, region: str, cluster_id: str) -> str | None:
    st = fid.STATE
    cluster = None if st is None else local_cluster(st, account, region, cluster_id)
    return None if cluster is None else cluster.server.endpoint.host


# --------------------------------------------------------------------------------------
# Installing
# --------------------------------------------------------------------------------------

PATCHES: dict[str, Callable[[RDSResponse], ActionResult]] = {
    "create_db_cluster": _create_db_cluster,
    "modify_db_cluster": _modify_db_cluster,
    "delete_db_cluster": _delete_db_cluster,
    "create_db_cluster_snapshot": _create_db_cluster_snapshot,
    "describe_db_cluster_snapshots": _describe_db_cluster_snapshots,
    "delete_db_cluster_snapshot": _delete_db_cluster_snapshot,
}
_MODEL_ORIGINALS: dict[str, Any] = {}


def _endpoint(self: DBCluster) -> str:
    host = member_address(self.account_id, self.region, self.db_cluster_identifier)
    return host or _MODEL_ORIGINALS["endpoint"].fget(self)


def _reader_endpoint(self: DBCluster) -> str:
    host = member_address(self.account_id, self.region, self.db_cluster_identifier)
    return host or _MODEL_ORIGINALS["reader_endpoint"].fget(self)


def install_models() -> None:
    for name, func in (("endpoint", _endpoint), ("reader_endpoint", _reader_endpoint)):
        _MODEL_ORIGINALS[name] = DBCluster.__dict__[name]
        setattr(DBCluster, name, property(func))


def uninstall_models() -> None:
    for name, prop in _MODEL_ORIGINALS.items():
        setattr(DBCluster, name, prop)
    _MODEL_ORIGINALS.clear()
