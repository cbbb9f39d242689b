"""``LocalAWS.rds``: what tests, the demo and benchmarks use to drive the local RDS stack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto.rds.exceptions import RDSClientError

from ddb_assets.local.rds import clusters, fidelity, server
from ddb_assets.local.rds.export import ExportJob
from ddb_assets.local.rds.fidelity import LocalSnapshot, RdsState
from ddb_assets.local.rds.server import MariaDBServer


class LocalRdsError(RuntimeError):
    """A control call refused the way RDS would (``code`` is RDS's error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class RdsControl:
    """Handles on the local RDS instances of a running :class:`~ddb_assets.local.LocalAWS`."""

    def __init__(self, state: RdsState, account: str, region: str) -> None:
        self._state = state
        self.account = account
        self.region = region

    @staticmethod
    def require_mariadb() -> None:
        """Raise :class:`~ddb_assets.local.rds.server.MariaDBNotInstalled` (one line naming
        ``apt-get install -y mariadb-server``) when the server binaries are missing."""
        server.binaries()

    # -- instances ------------------------------------------------------------------------
    def instance(self, instance_id: str) -> fidelity.LocalInstance:
        inst = self._state.instances.get((self.account, self.region, instance_id.lower()))
        if inst is None:
            raise KeyError(f"no local RDS instance {instance_id!r} (CreateDBInstance first)")
        return inst

    def server(self, instance_id: str) -> server.MariaDBServer:
        """The MariaDB server that holds the instance's data."""
        return self.instance(instance_id).server

    def connect(self, instance_id: str, database: str | None = None, **kwargs: Any):
        """A PyMySQL connection to the instance as its master user (autocommit on)."""
        inst = self.instance(instance_id)
        if database is None:
            database = inst.db_name
        return inst.server.connect(inst.master_username, inst.master_password, database, **kwargs)

    # -- Aurora clusters ------------------------------------------------------------------
    def cluster(self, cluster_id: str) -> fidelity.LocalInstance:
        found = clusters.local_cluster(self._state, self.account, self.region, cluster_id)
        if found is None:
            raise KeyError(f"no local Aurora cluster {cluster_id!r} (CreateDBCluster first)")
        return found

    def cluster_server(self, cluster_id: str) -> MariaDBServer:
        """The MariaDB server that holds the cluster's data (its instances share it)."""
        return self.cluster(cluster_id).server

    def connect_cluster(self, cluster_id: str, database: str | None = None, **kwargs: Any):
        """A PyMySQL connection to the cluster's writer endpoint as its master user."""
        c = self.cluster(cluster_id)
        if database is None:
            database = c.db_name
        return c.server.connect(c.master_username, c.master_password, database, **kwargs)

    def take_automated_cluster_snapshot(self, cluster_id: str, at: datetime | None = None) -> str:
        """Take the cluster's automated backup now, labelled ``at`` (default: the stack
        clock): DB cluster snapshot ``rds:<cluster>-YYYY-MM-DD-HH-MM``, SnapshotType
        ``automated``. Aurora always keeps automated backups (retention 1-35 days)."""
        try:
            snap = clusters.automated_cluster_snapshot(
                self._state, self.account, self.region, cluster_id, at
            )
        except RDSClientError as exc:
            raise LocalRdsError(exc.code, exc.message) from None
        return snap.identifier

    def cluster_snapshot(self, snapshot_id: str) -> LocalSnapshot:
        return self._state.cluster_snapshots[(self.account, self.region, snapshot_id.lower())]

    # -- snapshots ------------------------------------------------------------------------
    def take_automated_snapshot(self, instance_id: str, at: datetime | None = None) -> str:
        """Take the instance's automated backup now, labelled with ``at`` (default: the stack
        clock): snapshot ``rds:<instance>-YYYY-MM-DD-HH-MM``, SnapshotType ``automated``,
        SnapshotCreateTime ``at``. Fails as RDS would not take one when backups are off."""
        try:
            snap = self._state.automated_snapshot(
                self.account, self.region, instance_id.lower(), at
            )
        except RDSClientError as exc:
            raise LocalRdsError(exc.code, exc.message) from None
        return snap.identifier

    def snapshot(self, snapshot_id: str) -> LocalSnapshot:
        return self._state.snapshots[(self.account, self.region, snapshot_id.lower())]

    # -- exports --------------------------------------------------------------------------
    def export_task(self, identifier: str) -> ExportJob:
        return self._state.exports[(self.account, self.region, identifier)]

    def wait_for_export(self, identifier: str, timeout: float = 60.0) -> str:
        """Block until the export task is terminal; returns its status."""
        return self.export_task(identifier).wait(timeout)

    def fail_next_export(self, cause: str = "An unknown internal error occurred.") -> None:
        """The next accepted StartExportTask ends FAILED with this FailureCause."""
        self._state.fail_next_export(cause)

    def configure(
        self,
        *,
        export_seconds: float | None = None,
        snapshot_seconds: float | None = None,
        rows_per_file: int | None = None,
        tables_per_info_file: int | None = None,
        max_concurrent_exports: int | None = None,
    ) -> None:
        """Phase durations and file splits for exports / snapshots requested from now on."""
        st = self._state
        if export_seconds is not None:
            st.export_seconds = float(export_seconds)
        if snapshot_seconds is not None:
            st.snapshot_seconds = float(snapshot_seconds)
        if rows_per_file is not None:
            st.rows_per_file = int(rows_per_file)
        if tables_per_info_file is not None:
            st.tables_per_info_file = int(tables_per_info_file)
        if max_concurrent_exports is not None:
            st.max_concurrent_exports = int(max_concurrent_exports)
