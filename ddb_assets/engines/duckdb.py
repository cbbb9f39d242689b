"""The DuckDB engine: the local warehouse file (and the snapshot files next to it). Export
files are downloaded to a temporary folder and loaded by
:func:`ddb_assets.tables.duckdb.load_snapshot_duckdb`; summaries run transpiled to DuckDB
(:func:`ddb_assets.summaries.materialize_duckdb`); the change history is
:class:`ddb_assets.incremental.duckdb_warehouse.DuckDBChain`."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from ddb_assets.config import AthenaConfig, ProjectConfig
from ddb_assets.dynamodb.manifest import Manifest
from ddb_assets.engines.base import Engine, LoadedSnapshot, TableTarget
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
from ddb_assets.resources import AwsResource, WarehouseResource
from ddb_assets.summaries import SummarySpec, materialize_duckdb
from ddb_assets.summaries.result import SummaryResult


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
    ) -> LoadedSnapshot:
        from ddb_assets.tables.duckdb import load_snapshot_duckdb

        s3 = self.aws.client("s3")
        with tempfile.TemporaryDirectory(prefix=f"ddb-assets-{target.name}-") as tmp:
            files = []
            for i, f in enumerate(manifest.files):
                dst = Path(tmp) / f"{i:05d}-{f.key.rsplit('/', 1)[-1]}"
                s3.download_file(manifest.summary.s3_bucket, f.key, str(dst))
                files.append(dst)
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
                )
            finally:
                con.close()
        uri = f"duckdb://{self.warehouse.path}#{target.database}.{target.name}"
        return LoadedSnapshot(result, uri, None)

    def build_summary(self, spec: SummarySpec, place: AthenaConfig, run_id: str) -> SummaryResult:
        con = self.warehouse.sandbox()  # user SQL: DuckDB's sandbox, warehouse tables only
        try:
            return materialize_duckdb(con, spec, schema=place.database)
        finally:
            con.close()

    @contextmanager
    def change_history(self, target: TableTarget) -> Iterator[DuckDBChain]:
        con = self.warehouse.connect()
        try:
            yield DuckDBChain(con, target.database, target.name)
        finally:
            con.close()
