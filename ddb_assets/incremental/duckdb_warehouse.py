"""The DuckDB engine's change history as the steps :mod:`ddb_assets.incremental.chain` runs:
:class:`DuckDBChain` downloads each export's files to a temporary folder and loads them with
:mod:`ddb_assets.incremental.duckdb_chain`. Its twin on Athena is
:class:`ddb_assets.incremental.athena_chain.AthenaChain` (same methods; the data stays in S3)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ddb_assets.dynamodb.manifest import (
    ManifestError,
    download_data_files,
    md5_base64,
    read_manifest,
)
from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental.model import (
    ApplyResult,
    ChainState,
    Comparison,
    key_attributes_of,
)
from ddb_assets.incremental.windows import Window
from ddb_assets.tables import faults
from ddb_assets.tables.checks import Expectation, ExpectedFile
from ddb_assets.tables.orphans import stale_temp_dirs

# The change history's download folders: ``<tmp>/ddb-chain-<pid>-<table>-<random>``.
TMP_PREFIX = "ddb-chain-"


def _download(s3, bucket: str, manifest_key: str, tmp: str) -> tuple[list[str], str]:
    files, fmt, _ = _download_checked(s3, bucket, manifest_key, tmp)
    return files, fmt


def _chunks(path: str):
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            yield chunk


def _download_checked(s3, bucket: str, manifest_key: str, tmp: str):
    """The export's data files downloaded to ``tmp`` (a missing object names its S3 key),
    each file's MD5 checked against manifest-files.json, and what the manifest promises
    (:class:`Expectation`: itemCount per file), for the apply to check before it commits."""
    m = read_manifest(s3, bucket, manifest_key)
    paths = download_data_files(s3, bucket, m.files, tmp)
    bad = []
    for f, path in zip(m.files, paths):
        got = md5_base64(_chunks(str(path)))
        if f.md5_base64 and got != f.md5_base64:
            bad.append(f"s3://{bucket}/{f.key} is {got}, manifest says {f.md5_base64}")
    if bad:
        raise ManifestError(
            f"export {m.summary.export_arn}: {len(bad)} data file(s) do not match "
            f"manifest-files.json (nothing applied): {'; '.join(bad[:5])}"
        )
    faults.point("after_download")
    expect = Expectation(
        export=m.summary.export_arn,
        item_count=m.summary.item_count,
        files=tuple(ExpectedFile(f.key, f.item_count, str(p)) for f, p in zip(m.files, paths)),
    )
    return [str(p) for p in paths], m.summary.output_format, expect


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
        """The step's download folder ``ddb-chain-<pid>-<table>-*``. Folders of steps whose
        process was killed (it is gone, or its id now belongs to a newer process) go first;
        a running step's folder, in this process or another, is never touched."""
        parent = tempfile.gettempdir()
        for stale in stale_temp_dirs(parent, TMP_PREFIX):
            shutil.rmtree(stale, ignore_errors=True)
        return tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-{self.table}-")

    def chain_state(self) -> ChainState:
        return dc.read_chain_state(self.con, self.schema, self.table)

    def seed_step(self, ddb, s3, spec, seed, generation: int, gap: str | None) -> ApplyResult:
        with self._tmp() as tmp:
            files, fmt, expect = _download_checked(s3, seed.s3_bucket, seed.manifest_key, tmp)
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
                expect=expect,
            )

    def window_step(self, ddb, s3, spec, generation: int, window: Window, m) -> ApplyResult:
        with self._tmp() as tmp:
            files, fmt, expect = _download_checked(s3, m.s3_bucket, m.manifest_summary_key, tmp)
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
                expect=expect,
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
