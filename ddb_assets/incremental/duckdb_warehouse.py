"""The DuckDB engine's change history as the steps :mod:`ddb_assets.incremental.chain` runs:
:class:`DuckDBChain` downloads each export's files to a temporary folder and loads them with
:mod:`ddb_assets.incremental.duckdb_chain`. Its twin on Athena is
:class:`ddb_assets.incremental.athena_chain.AthenaChain` (same methods; the data stays in S3)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ddb_assets.dynamodb.manifest import read_manifest
from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental.model import (
    ApplyResult,
    ChainState,
    Comparison,
    key_attributes_of,
)
from ddb_assets.incremental.windows import Window


def _download(s3, bucket: str, manifest_key: str, tmp: str) -> tuple[list[str], str]:
    m = read_manifest(s3, bucket, manifest_key)
    files = []
    for i, f in enumerate(m.files):
        dst = os.path.join(tmp, f"{i:05d}-{f.key.rsplit('/', 1)[-1]}")
        s3.download_file(bucket, f.key, dst)
        files.append(dst)
    return files, m.summary.output_format


@dataclass
class DuckDBChain:
    """One table's chain in a DuckDB warehouse (``con``, schema ``schema``). Runs no query
    that Athena would bill: ``query_ids`` stays empty and ``bytes_scanned`` None; the
    tables have no URI (``location`` None)."""

    con: Any  # a DuckDB connection
    schema: str
    table: str
    query_ids: list = field(default_factory=list)
    bytes_scanned: int | None = None
    location: str | None = None

    def _tmp(self):
        return tempfile.TemporaryDirectory(prefix=f"ddb-chain-{self.table}-")

    def chain_state(self) -> ChainState:
        return dc.read_chain_state(self.con, self.schema, self.table)

    def seed_step(self, ddb, s3, spec, seed, generation: int, gap: str | None) -> ApplyResult:
        with self._tmp() as tmp:
            files, fmt = _download(s3, seed.s3_bucket, seed.manifest_key, tmp)
            return dc.apply_seed(
                self.con,
                schema=self.schema,
                table=self.table,
                generation=generation,
                seed_time=seed.export_time,
                export_arn=seed.arn,
                data_files=files,
                export_format=fmt,
                key_attributes=key_attributes_of(ddb, spec.table_name),
                overrides=spec.overrides,
                tz=spec.tz,
                gap=gap,
                work_dir=tmp,
            )

    def window_step(self, ddb, s3, spec, generation: int, window: Window, m) -> ApplyResult:
        with self._tmp() as tmp:
            files, fmt = _download(s3, m.s3_bucket, m.manifest_summary_key, tmp)
            return dc.apply_window(
                self.con,
                schema=self.schema,
                table=self.table,
                generation=generation,
                window=window,
                export_arn=m.export_arn,
                data_files=files,
                export_format=fmt,
                view_type=spec.view_type,
                overrides=spec.overrides,
                tz=spec.tz,
                work_dir=tmp,
            )

    def compare_step(self, ddb, s3, spec, export) -> Comparison:
        with self._tmp() as tmp:
            files, fmt = _download(s3, spec.s3_bucket, export.manifest_key, tmp)
            return dc.compare_with_full_export(
                self.con,
                schema=self.schema,
                table=self.table,
                data_files=files,
                export_format=fmt,
                key_attributes=key_attributes_of(ddb, spec.table_name),
                overrides=spec.overrides,
                work_dir=tmp,
            )

    def row_counts(self) -> dict[str, int]:
        """Rows of the change table and of the current table."""
        n = dc.Names(self.schema, self.table)
        return {
            k: self.con.execute(f"SELECT count(*) FROM {tbl}").fetchone()[0]
            for k, tbl in (("changes", n.changes), ("current", n.current))
        }

    def current_columns(self) -> list[tuple[str, str]]:
        return dc.current_columns(self.con, dc.Names(self.schema, self.table))
