"""The one-pass load (:func:`load_direct`), the common case: the plan comes from a sample
spread over the export, one typed ``COPY (SELECT ...) TO`` parses every line once and checks
it as it goes, and the statistics of every row must give the same plan afterwards. Nothing
is staged: the load streams, so its memory does not grow with the export."""

from __future__ import annotations

import json

from ddb_assets.tables.duckdb.decoding import is_read_failure
from ddb_assets.tables.duckdb.insert import MISSED
from ddb_assets.tables.duckdb.recheck import GuessMissed
from ddb_assets.tables.duckdb.sample import spread_sample
from ddb_assets.tables.duckdb.snapshot import write_snapshot
from ddb_assets.tables.duckdb.stage import (
    Stage,
    drop_stage,
    exact_lengths,
    fast_guess,
    fast_part,
    stage_name,
)
from ddb_assets.tables.duckdb.stats import stats_pass
from ddb_assets.tables.plan import (
    SnapshotResult,
)
from ddb_assets.tables.types import DECIMAL_PRECISION

DIRECT_ATTEMPTS = 2


def load_direct(
    con, schema, table, snapshot_date, files, overrides, expect=None
) -> SnapshotResult | None:
    """The common case in one pass: the plan comes from a sample spread over the files, and
    one ``COPY (SELECT ...) TO`` parses every line once and writes the typed rows, checking
    each line as it goes (:mod:`.insert`): nothing the guess does not cover (the row
    length check) and every number fits its column exactly. The first line that fails
    stops the write (its transaction rolls back, its file is removed) and joins the sample
    for one more attempt. After the write, the statistics of every row (the Parquet
    writer's, or read back from the typed columns: :func:`.recheck.direct_stats`) must give the
    same plan as the sample's.

    Returns None, with nothing written, when this does not apply or the attempts miss:
    the staged load (:func:`.staged.discover_staged`) then reads the export, and reports what
    is wrong with it. Type conflicts, numbers that fit no DECIMAL(38, s) and overrides on
    numbers always take that path. Nothing carries over to it: this path makes no
    temporary table but its sample's, dropped at the end."""
    import zlib

    import duckdb

    name = stage_name()
    try:
        spread_sample(con, name, files)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, duckdb.Error):
        con.execute(f"DROP TABLE IF EXISTS {name}")
        return None
    try:
        for _ in range(DIRECT_ATTEMPTS):
            # The whole line's structure, then its Item: a quarter faster than json -> '$.Item'
            # per line (which re-serializes every Item).
            row = con.execute(f"SELECT json_group_structure(json) FROM {name}").fetchone()
            whole = json.loads(row[0]) if row and row[0] else None
            sample = whole.get("Item") if isinstance(whole, dict) else None
            guess = fast_guess(sample) if isinstance(sample, dict) else None
            if guess is None:
                return None
            hint, attributes, tags, typed, structures = guess
            if any(a in overrides and {"N", "NS"} & set(tags[a]) for a in attributes):
                return None
            part = fast_part(
                con, None, f"(SELECT json FROM {name})", attributes, tags, typed, structures
            )
            if part is None:
                return None
            try:
                if part.filtered:
                    return None
                stats, incomplete, unknown = stats_pass(
                    con, files, attributes, attributes, hint, stage=part
                )
                exact = exact_lengths(con, part, structures)
            finally:
                drop_stage(con, part)
            if (
                incomplete
                or unknown
                or any(
                    len(st.non_null_types) > 1
                    or st.unfit_alone
                    or (st.max_int_digits or 0) + (st.max_scale or 0) > DECIMAL_PRECISION
                    for st in stats
                )
            ):
                return None  # type conflicts, numbers that fit no DECIMAL(38, s) together: staged
            stage = Stage(
                "",
                list(attributes),
                hint,
                tags,
                typed,
                fast=True,
                files=list(files),
                direct=structures,
                exact=exact,
            )
            try:
                return write_snapshot(
                    con,
                    schema,
                    table,
                    snapshot_date,
                    files,
                    stats,
                    overrides,
                    sample,
                    stage,
                    expect=expect,
                )
            except GuessMissed:
                return None
            except (
                duckdb.InterruptException,
                duckdb.IOException,
                duckdb.FatalException,
                duckdb.TransactionException,
            ) as exc:
                if isinstance(exc, duckdb.IOException) and is_read_failure(exc):
                    return None  # a damaged export: the staged load reports where
                raise  # stopped, or the disk, COMMIT or database failed: no second attempt hides it
            except duckdb.Error as exc:
                line = _missed_line(exc)
                if line is None:
                    return None
                con.execute(f"INSERT INTO {name} VALUES (?)", [line])
        return None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _missed_line(exc: Exception) -> str | None:
    """The line in the error that stopped a one-pass insert, or None (another error)."""
    text = str(exc)
    at = text.find(MISSED)
    if at < 0:
        return None
    text = text[at + len(MISSED) :]
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return text[:end]
