"""The Athena engine (production): the export is registered in Glue and Athena writes the
typed Parquet itself (:func:`ddb_assets.tables.athena_engine.load_snapshot_athena`), so data
never passes through Dagster; summaries are CTAS with a catalog swap
(:func:`ddb_assets.summaries.materialize_athena`); the change history is Iceberg tables
written by Athena (:class:`ddb_assets.incremental.athena_chain.AthenaChain`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

import dagster as dg

from ddb_assets import table_names
from ddb_assets.athena.catalog import ensure_database
from ddb_assets.config import AthenaConfig, ProjectConfig
from ddb_assets.dynamodb.manifest import Manifest
from ddb_assets.engines.base import Engine, LoadedSnapshot, TableTarget
from ddb_assets.incremental.athena_chain import AthenaChain
from ddb_assets.rds.plan import RdsLoadResult, TableExport
from ddb_assets.resources import AthenaResource, AwsResource
from ddb_assets.summaries import SummarySpec, materialize_athena
from ddb_assets.summaries.result import SummaryResult
from ddb_assets.tables.checks import Expectation


class AthenaEngine(Engine):
    """Tables, summaries and change history in Athena and the Glue Data Catalog, written
    under ``typed_s3_uri`` and ``summaries_s3_uri``."""

    NAME: ClassVar[str] = "athena"
    TABLE_KINDS: ClassVar[frozenset[str]] = frozenset({"athena", "s3"})
    HISTORY_KINDS: ClassVar[frozenset[str]] = frozenset({"athena", "iceberg"})
    POOL: ClassVar[str | None] = None

    aws: AwsResource
    athena: AthenaResource
    typed_s3_uri: str | None = None
    summaries_s3_uri: str | None = None

    @classmethod
    def from_resources(cls, cfg: ProjectConfig, resources: Mapping[str, object]) -> AthenaEngine:
        return cls(
            aws=resources["aws"],
            athena=resources["athena"],
            typed_s3_uri=cfg.typed_s3_uri,
            summaries_s3_uri=cfg.summaries_s3_uri,
        )

    def _typed_root(self, what: str) -> str:
        if not self.typed_s3_uri:
            raise dg.Failure(
                f"typed_s3_uri is not set in the config: Athena writes {what} there "
                "(e.g. s3://my-bucket/typed/)"
            )
        return self.typed_s3_uri.rstrip("/")

    def _runner(self, place: AthenaConfig):
        ensure_database(self.aws.client("glue"), place.database)
        return self.athena.runner(
            database=place.database,
            workgroup=place.workgroup,
            output_location=place.output_location,
        )

    def load_snapshot(
        self,
        target: TableTarget,
        manifest: Manifest,
        snapshot_date: dt.date,
        *,
        run_id: str,
        expect: Expectation | None = None,
    ) -> LoadedSnapshot:
        from ddb_assets.tables.athena_engine import load_snapshot_athena

        typed = self._typed_root("the typed snapshots")
        runner = self._runner(target.athena)
        result = load_snapshot_athena(
            runner,
            self.aws.client("glue"),
            database=target.database,
            table=target.name,
            snapshot_date=snapshot_date,
            data_s3_uri=manifest.summary.data_uri,
            typed_s3_uri=f"{typed}/{target.name}/",
            export_format=manifest.summary.output_format,
            overrides=target.overrides,
            run_id=run_id,
            expect=expect,
            s3=lambda: self.aws.client("s3"),  # created only if a refused run's files go
        )
        return LoadedSnapshot(result, result.typed_location, result.bytes_scanned)

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
        from ddb_assets.rds.athena import register_rds_snapshot_athena

        runner = self._runner(place)
        return register_rds_snapshot_athena(
            runner,
            self.aws.client("glue"),
            database=place.database,
            table=table,
            snapshot_date=snapshot_date,
            export=export,
            batches=batches,
            run_id=run_id,
        )

    def build_summary(self, spec: SummarySpec, place: AthenaConfig, run_id: str) -> SummaryResult:
        if not self.summaries_s3_uri:
            raise dg.Failure(
                "summaries_s3_uri is not set in the config: Athena writes "
                "summary tables there (e.g. s3://my-bucket/summaries/)"
            )
        runner = self._runner(place)
        return materialize_athena(
            runner, self.aws.client("glue"), spec, place.database, self.summaries_s3_uri, run_id
        )

    def count(self, sql: str, place: AthenaConfig) -> int:
        return int(self._runner(place).execute(sql).rows[0][0])

    def history_location(self, table: str) -> str:
        """Where a table's change history lives (Iceberg data and metadata)."""
        root = self._typed_root("the change history's Iceberg tables")
        return f"{root}/{table_names.history_folder(table)}/"

    @contextmanager
    def change_history(self, target: TableTarget) -> Iterator[AthenaChain]:
        location = self.history_location(target.name)
        runner = self._runner(target.athena)
        yield AthenaChain(runner, self.aws.client("glue"), target.database, target.name, location)
