"""The entry point of a DuckDB load: :func:`load_snapshot_duckdb` checks its arguments,
transcodes ION exports (:mod:`.ion`), and tries the one-pass load (:mod:`.onepass`) before
the staged one (:mod:`.staged`), each under its memory settings (:mod:`.memory`)."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence

from ddb_assets.sql.identifiers import validate_catalog_name
from ddb_assets.tables.checks import Expectation
from ddb_assets.tables.duckdb.decoding import prepare
from ddb_assets.tables.duckdb.ion import ion_to_json_files
from ddb_assets.tables.duckdb.memory import (
    DIRECT_MEMORY_PER_THREAD,
    DIRECT_MEMORY_PER_THREAD_LONG,
    LOAD_MEMORY_PER_THREAD,
    LOAD_MEMORY_PER_THREAD_LONG,
    LONG_LINE,
    load_memory_limit,
    load_settings,
    longest_line,
)
from ddb_assets.tables.duckdb.onepass import load_direct
from ddb_assets.tables.duckdb.staged import load_staged
from ddb_assets.tables.plan import SnapshotResult
from ddb_assets.tables.types import ColumnOverride

EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")


def load_snapshot_duckdb(
    con,
    *,
    schema: str,
    table: str,
    snapshot_date: dt.date,
    data_files: Sequence[pathlib.Path | str],
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    work_dir: pathlib.Path | str | None = None,
    expect: Expectation | None = None,
) -> SnapshotResult:
    """Load one export as the ``snapshot_date`` snapshot of ``schema.table`` (replacing it).

    ``expect``: what the export's manifest promises (itemCount, per-file counts) and the
    table's key attributes; checked before the snapshot becomes visible (a failure raises
    :class:`~ddb_assets.tables.checks.SnapshotCheckError` and changes nothing)."""
    validate_catalog_name(schema, "schema")
    validate_catalog_name(table, "table")
    if not isinstance(snapshot_date, dt.date) or isinstance(snapshot_date, dt.datetime):
        raise TypeError("snapshot_date must be a datetime.date")
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, got {export_format!r}")
    files = [str(f) for f in data_files]
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"export data file {f} does not exist")
    overrides = dict(overrides or {})
    with tempfile.TemporaryDirectory(prefix="ddb_ion_", dir=work_dir) as tmp:
        if export_format == "ION":
            files = ion_to_json_files(files, tmp)
        prepare(con)
        long = bool(files) and longest_line(files) >= LONG_LINE
        if files:
            with load_settings(
                con,
                load_memory_limit(
                    con, DIRECT_MEMORY_PER_THREAD_LONG if long else DIRECT_MEMORY_PER_THREAD
                ),
            ):
                result = load_direct(con, schema, table, snapshot_date, files, overrides, expect)
            if result is not None:
                return result
        with load_settings(
            con,
            load_memory_limit(con, LOAD_MEMORY_PER_THREAD_LONG if long else LOAD_MEMORY_PER_THREAD),
        ):
            return load_staged(con, schema, table, snapshot_date, files, overrides, expect)
