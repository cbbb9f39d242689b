"""The DuckDB engine: the local warehouse file (and the snapshot files next to it). Export
files are downloaded to a temporary folder and loaded by
:func:`ddb_assets.tables.duckdb.load_snapshot_duckdb`; summaries run transpiled to DuckDB
(:func:`ddb_assets.summaries.materialize_duckdb`); the change history is
:class:`ddb_assets.incremental.duckdb_warehouse.DuckDBChain`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import ClassVar

from ddb_assets.config import AthenaConfig, ProjectConfig
from ddb_assets.dynamodb.manifest import Manifest, download_data_files
from ddb_assets.engines.base import Engine, LoadedSnapshot, TableTarget
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
from ddb_assets.rds.plan import RdsLoadResult, TableExport
from ddb_assets.resources import AwsResource, WarehouseResource
from ddb_assets.summaries import SummarySpec, materialize_duckdb
from ddb_assets.summaries.result import SummaryResult
from ddb_assets.tables.checks import Expectation
from ddb_assets.tables.orphans import stale_temp_dirs


class DuckDBEngine(Engine):
    """Tables, summaries and change history in the DuckDB warehouse."""

    NAME: ClassVar[str] = "duckdb"
    TABLE_KINDS: ClassVar[frozenset[str]] = frozenset({"duckdb"})
    HISTORY_KINDS: ClassVar[frozenset[str]] = frozenset({"duckdb"})
    POOL: ClassVar[str | None] = "duckdb_warehouse"  # one writer of the warehouse file at a time

    warehouse: WarehouseResource
    aws: AwsResource

    @classmethod
    def from_resources(cls, cfg: ProjectConfig, resources: Mapping[str, object]) -> DuckDBEngine:
        return cls(warehouse=resources["warehouse"], aws=resources["aws"])

    def load_snapshot(
        self,
        target: TableTarget,
        manifest: Manifest,
        snapshot_date: dt.date,
        *,
        run_id: str,
        expect: Expectation | None = None,
    ) -> LoadedSnapshot:
        from ddb_assets.tables.duckdb import load_snapshot_duckdb

        s3 = self.aws.client("s3")
        # Downloads of a load that was killed (its process is gone) go first: their folder
        # name carries the process id.
        prefix = f"ddb-assets-{target.name}-"
        for stale in stale_temp_dirs(tempfile.gettempdir(), prefix):
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as tmp:
            # a missing object names its S3 key (verify_checksums off too)
            files = download_data_files(s3, manifest.summary.s3_bucket, manifest.files, tmp)
            if expect is not None:  # the local copies, for messages that name file and line
                expect = replace(
                    expect,
                    files=tuple(replace(f, local_path=str(p)) for f, p in zip(expect.files, files)),
                )
            con = self.warehouse.connect()
            try:
                result = load_snapshot_duckdb(
                    con,
                    schema=target.database,
                    table=target.name,
                    snapshot_date=snapshot_date,
                    data_files=files,
                    export_format=manifest.summary.output_format,
                    overrides=target.overrides,
                    work_dir=tmp,
                    expect=expect,
                )
            finally:
                con.close()
        uri = f"duckdb://{self.warehouse.path}#{target.database}.{target.name}"
        return LoadedSnapshot(result, uri, None)

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
        from ddb_assets.rds.duckdb_load import load_rds_snapshot_duckdb
        from ddb_assets.rds.load import download_table_files

        prefix = f"ddb-assets-rds-{table}-"
        for stale in stale_temp_dirs(tempfile.gettempdir(), prefix):
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as tmp:
            files = download_table_files(self.aws.client("s3"), export, tmp)
            con = self.warehouse.connect()
            try:
                result = load_rds_snapshot_duckdb(
                    con,
                    schema=place.database,
                    table=table,
                    snapshot_date=snapshot_date,
                    export=export,
                    local_files=files,
                )
            finally:
                con.close()
        result.uri = f"duckdb://{self.warehouse.path}#{place.database}.{table}"
        return result

    def build_summary(self, spec: SummarySpec, place: AthenaConfig, run_id: str) -> SummaryResult:
        con = self.warehouse.sandbox()  # user SQL: DuckDB's sandbox, warehouse tables only
        try:
            return materialize_duckdb(con, spec, schema=place.database)
        finally:
            con.close()

    @classmethod
    def check_summary(cls, spec: SummarySpec) -> None:
        from ddb_assets.summaries.portability import check_runs_on_duckdb

        check_runs_on_duckdb(spec)  # a function DuckDB lacks: refused now, not after a load

    def count(self, sql: str, place: AthenaConfig) -> int:
        con = self.warehouse.connect()
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()

    @contextmanager
    def change_history(self, target: TableTarget) -> Iterator[DuckDBChain]:
        con = self.warehouse.connect()
        try:
            yield DuckDBChain(con, target.database, target.name)
        finally:
            con.close()
