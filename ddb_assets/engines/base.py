"""The one engine interface the assets call: load a snapshot, build a summary, keep a change
history. An engine is a Dagster resource (:class:`Engine`), chosen once from the config
(:func:`ddb_assets.engines.engine_resource`); the asset bodies call it and never branch on
which engine it is. What the asset definitions need before any run (the asset kinds and the
Dagster pool) are class attributes of the engine class (:func:`ddb_assets.engines.engine_class`).

The work itself stays in the Dagster-free domain modules: :mod:`ddb_assets.tables`,
:mod:`ddb_assets.summaries` and :mod:`ddb_assets.incremental`. An engine only wires the
project's resources (boto3 clients, the warehouse, Athena connections) into them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import ClassVar

import dagster as dg

from ddb_assets.config import AthenaConfig, ProjectConfig, TableConfig
from ddb_assets.dynamodb.manifest import Manifest
from ddb_assets.incremental.chain import ChainWarehouse
from ddb_assets.rds.plan import RdsLoadResult, TableExport
from ddb_assets.summaries import SummarySpec
from ddb_assets.summaries.result import SummaryResult
from ddb_assets.tables.checks import Expectation
from ddb_assets.tables.plan import SnapshotResult
from ddb_assets.tables.types import ColumnOverride


@dataclass(frozen=True)
class TableTarget:
    """Where a configured table lives: its SQL name, its database (a schema on DuckDB) and
    Athena settings, and its column overrides."""

    name: str
    athena: AthenaConfig
    overrides: Mapping[str, ColumnOverride] = field(default_factory=dict)

    @property
    def database(self) -> str:
        return self.athena.database

    @classmethod
    def of(cls, cfg: ProjectConfig, t: TableConfig) -> TableTarget:
        return cls(
            name=t.name,
            athena=cfg.athena_for(t),
            overrides={
                a: ColumnOverride(type=c.type, rename=c.rename, drop=c.drop)
                for a, c in t.columns.items()
            },
        )


@dataclass(frozen=True)
class LoadedSnapshot:
    """A snapshot load's result, where the typed table lives (``dagster/uri``), and the
    bytes the engine scanned for it (None where nothing is billed by the byte)."""

    result: SnapshotResult
    uri: str | None
    bytes_scanned: int | None


class Engine(dg.ConfigurableResource):
    """The interface of both engines (:class:`~ddb_assets.engines.duckdb.DuckDBEngine`,
    :class:`~ddb_assets.engines.athena.AthenaEngine`)."""

    NAME: ClassVar[str] = ""
    TABLE_KINDS: ClassVar[frozenset[str]] = frozenset()
    HISTORY_KINDS: ClassVar[frozenset[str]] = frozenset()
    POOL: ClassVar[str | None] = None  # runs that write the engine's storage one at a time

    @classmethod
    def from_resources(cls, cfg: ProjectConfig, resources: Mapping[str, object]) -> Engine:
        """The engine for ``cfg`` on the environment's ``resources`` (the very instances, so
        a replaced resource, a test's Athena for example, is the one the engine uses)."""
        raise NotImplementedError

    def load_snapshot(
        self,
        target: TableTarget,
        manifest: Manifest,
        snapshot_date: dt.date,
        *,
        run_id: str,
        expect: Expectation | None = None,
    ) -> LoadedSnapshot:
        """Load the export of ``manifest`` as the ``snapshot_date`` snapshot of ``target``
        (replacing it). ``run_id``: unique per attempt (names what the attempt writes).
        ``expect``: the blocking checks, decided before the snapshot becomes visible (a
        failure raises :class:`~ddb_assets.tables.checks.SnapshotCheckError`)."""
        raise NotImplementedError

    def load_rds_table(
        self,
        place: AthenaConfig,
        table: str,
        export: TableExport,
        batches: tuple[int, ...],
        snapshot_date: dt.date,
        *,
        run_id: str,
    ) -> RdsLoadResult:
        """Make one exported RDS table (:class:`~ddb_assets.rds.plan.TableExport`) the
        ``snapshot_date`` snapshot of ``<place.database>.table`` (replacing that day). The row count
        is decided before the snapshot becomes visible (a failure raises
        :class:`~ddb_assets.tables.checks.SnapshotCheckError` and changes nothing)."""
        raise NotImplementedError

    def build_summary(self, spec: SummarySpec, place: AthenaConfig, run_id: str) -> SummaryResult:
        """Build (or replace) the summary table of ``spec`` in ``place.database``."""
        raise NotImplementedError

    @classmethod
    def check_summary(cls, spec: SummarySpec) -> None:
        """Refuse, when the definitions load, a summary this engine cannot run
        (:class:`~ddb_assets.summaries.SummaryError` with the file and line)."""

    def count(self, sql: str, place: AthenaConfig) -> int:
        """Run one ``SELECT count(*) ...`` made by the project (a summary's header check)
        and return the number."""
        raise NotImplementedError

    def change_history(self, target: TableTarget) -> AbstractContextManager[ChainWarehouse]:
        """The table's change history for :mod:`ddb_assets.incremental.chain`, open for the
        duration of the ``with`` block."""
        raise NotImplementedError
