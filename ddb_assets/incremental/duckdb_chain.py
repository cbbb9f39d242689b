"""The change table, the current table and the chain ledger in the DuckDB warehouse.

Per table ``T`` in schema ``S``:

* ``S."T_changes"``: one row per changed item per window — ``change_date`` (day of the write
  in the table's time zone: the partition column; rows are inserted in time order so DuckDB's
  zone maps skip other days), ``write_ts`` (UTC) / ``write_micros`` (the record's
  WriteTimestampMicros), ``operation`` (INSERT / MODIFY / REMOVE), ``source`` (``incremental``
  or ``reseed``: the net change across a PITR gap), ``generation``, ``window_from`` /
  ``window_to``, ``export_arn``, ``item_key`` (the keys as canonical JSON), typed
  ``key_<col>``, ``new_<col>``, ``old_<col>`` and the raw DynamoDB JSON ``new_image`` /
  ``old_image`` (the source every typed column can be re-derived from).
* ``S."T_current"``: the table now — the snapshot table's typed ``<col>`` columns plus
  ``_ddb_key``, ``_ddb_item`` (raw image), ``_ddb_write_ts``, ``_ddb_window_to``.
* ``S."T__chain"``: the ledger — one row per seed, applied window and PITR gap, written in
  the same transaction as the change rows and the MERGE. It is the chain's state: the next
  window starts at the last row's ``window_to``; a window already in it is skipped.
* ``S."T__chain_plan"``: cumulative attribute statistics and the column plan.

Typing uses the snapshot table's rules (:mod:`ddb_assets.tables.changes`) on the cumulative
statistics of every image seen, so a column only widens; when its type changes (a scale
grows, an attribute gets a second type) the column is re-derived from the raw images.

This module applies windows and seeds (MERGE into the current table, the ledger row, the net
change across a PITR gap); the table layout and loading helpers are in ``duckdb_layout`` and
the comparison with a full export in ``duckdb_compare`` (re-exported here).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

from ddb_assets import table_names
from ddb_assets.incremental import records as rec
from ddb_assets.incremental.duckdb_compare import compare_with_full_export  # noqa: F401 - re-exported
from ddb_assets.incremental.duckdb_layout import (  # noqa: F401 - re-exported
    COPY_LINES,
    READ,
    Layout,
    Names,
    current_columns,
    ensure_tables,
    evolve,
    exists,
    insert_changes,
    insert_items,
    insert_seed,
    load_plan,
    naive,
    pointer,
    read_chain_state,
    stage_items,
)
from ddb_assets.incremental.model import (
    SOURCE_INCREMENTAL,
    SOURCE_RESEED,
    ApplyResult,
    ChainOrderError,
    ChainState,
)
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.sql.literals import path_literal
from ddb_assets.tables import changes as tch
from ddb_assets.tables.checks import Expectation, require_row_count
from ddb_assets.tables.transactions import rollback_quietly
from ddb_assets.tables.types import ColumnOverride

_RESEED = "_ddb_reseed"


def _merge_current(
    con, n: Names, layout: Layout, *, generation: int, window_from: datetime, source: str
) -> None:
    """Apply one window's change rows to the current table (deletes included).

    A MERGE whose source matches one target row twice is an error on Athena
    (``MERGE_TARGET_ROW_MULTIPLE_MATCHES``); DuckDB 2.0.1 applies one of the rows silently.
    So a step with two change rows for one key is refused here, before the MERGE, whatever
    DuckDB version runs it."""
    dup = con.execute(
        f"SELECT item_key, count(*) FROM {n.changes} WHERE generation = $1 AND window_from = $2 "
        f"AND source = $3 GROUP BY item_key HAVING count(*) > 1 ORDER BY item_key LIMIT 1",
        [generation, naive(window_from), source],
    ).fetchone()
    if dup is not None:
        raise ValueError(
            f"{n.changes}: the step has {dup[1]} change rows for the key {dup[0]}; a MERGE "
            "must match each current row at most once (Athena refuses it too): the export "
            "holds duplicate records for one item"
        )
    sets = [f"{quote_ident(p.column)} = s.{quote_ident('new_' + p.column)}" for p in layout.plans]
    sets += [
        "_ddb_item = s.new_image",
        "_ddb_write_ts = s.write_ts",
        "_ddb_window_to = s.window_to",
    ]
    cols = [quote_ident(p.column) for p in layout.plans] + [
        "_ddb_key",
        "_ddb_item",
        "_ddb_write_ts",
        "_ddb_window_to",
    ]
    vals = [f"s.{quote_ident('new_' + p.column)}" for p in layout.plans] + [
        "s.item_key",
        "s.new_image",
        "s.write_ts",
        "s.window_to",
    ]
    con.execute(
        f"MERGE INTO {n.current} AS t USING (SELECT * FROM {n.changes} WHERE generation = $1 "
        f"AND window_from = $2 AND source = $3) AS s ON t._ddb_key = s.item_key "
        f"WHEN MATCHED AND s.operation = 'REMOVE' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s.operation <> 'REMOVE' THEN INSERT ({', '.join(cols)}) VALUES ({', '.join(vals)})",
        [generation, naive(window_from), source],
    )


def _ledger(
    con,
    n: Names,
    kind: str,
    generation: int,
    window_from,
    window_to,
    export_arn,
    records,
    note=None,
):
    seq = con.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {n.ledger}").fetchone()[0]
    con.execute(
        f"INSERT INTO {n.ledger} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seq,
            kind,
            generation,
            naive(window_from),
            naive(window_to),
            export_arn,
            records,
            note,
            datetime.now(timezone.utc).replace(tzinfo=None),
        ],
    )


def _operations(con, n: Names, generation: int, window_from: datetime, source: str) -> dict:
    return dict(
        con.execute(
            f"SELECT operation, count(*) FROM {n.changes} WHERE generation = ? AND "
            f"window_from = ? AND source = ? GROUP BY operation",
            [generation, naive(window_from), source],
        ).fetchall()
    )


def apply_window(
    con,
    *,
    schema: str,
    table: str,
    generation: int,
    window: Window,
    export_arn: str,
    data_files: Sequence[str],
    export_format: str = "DYNAMODB_JSON",
    view_type: str = "NEW_AND_OLD_IMAGES",
    overrides: Mapping[str, ColumnOverride] | None = None,
    tz: str = "UTC",
    work_dir: str | None = None,
    expect: Expectation | None = None,
) -> ApplyResult:
    """Apply one incremental export: change rows + MERGE into current + ledger row, in one
    transaction. A window already in the ledger is skipped; one that does not start at the
    chain's last To raises :class:`ChainOrderError` (windows apply in order, exactly once).
    ``expect`` (the manifest's itemCount per file) is checked before the transaction: a
    mismatch raises :class:`~ddb_assets.tables.checks.SnapshotCheckError`, nothing applied."""
    n = Names(schema, table)
    with tempfile.TemporaryDirectory(prefix="ddb_changes_", dir=work_dir) as tmp:
        images, records_file = (
            os.path.join(tmp, "images.json.gz"),
            os.path.join(tmp, "records.json.gz"),
        )
        count = rec.write_staging(
            (r for f in data_files for r in rec.read_records(str(f), export_format)),
            images,
            records_file,
        )
        require_row_count(expect, count)
        return _apply(
            con,
            n,
            kind="window",
            generation=generation,
            window_from=window.start,
            window_to=window.end,
            export_arn=export_arn,
            images=images,
            records_file=records_file,
            count=count,
            view_type=view_type,
            overrides=overrides or {},
            tz=tz,
            source=SOURCE_INCREMENTAL,
            window=window,
        )


def _apply(
    con,
    n: Names,
    *,
    kind,
    generation,
    window_from,
    window_to,
    export_arn,
    images,
    records_file,
    count,
    view_type,
    overrides,
    tz,
    source,
    window=None,
    key_attributes=(),
    gap=None,
    seed_files=None,
) -> ApplyResult:
    tch.prepare_duckdb(con)
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_tables(con, n)
        state = read_chain_state(con, n.schema, n.table)
        if kind == "window":
            if state.has_window(generation, window):
                con.execute("ROLLBACK")
                return ApplyResult(
                    False,
                    kind,
                    generation,
                    window_from,
                    window_to,
                    skipped_reason=f"window {window.label} is already applied (generation {generation})",
                )
            if not state.seeded or state.generation != generation or state.last_to != window.start:
                raise ChainOrderError(
                    f"window {window.label} (generation {generation}) does not continue the chain of "
                    f"{n.table!r}: the chain is at generation {state.generation}, last To "
                    f"{state.last_to.isoformat() if state.last_to else 'unseeded'}; windows apply in order"
                )
        else:
            if any(r.kind == "seed" and r.generation == generation for r in state.rows):
                con.execute("ROLLBACK")
                return ApplyResult(
                    False,
                    kind,
                    generation,
                    None,
                    window_to,
                    skipped_reason=f"seed of generation {generation} is already applied",
                )
            if state.seeded and generation != state.generation + 1:
                raise ChainOrderError(
                    f"seed generation {generation} does not follow {state.generation}"
                )
        stats_files = [images] + ([seed_files] if seed_files else [])
        layout, added, retyped = evolve(con, n, stats_files, key_attributes, overrides)
        if kind == "seed" and not state.seeded:
            insert_seed(con, n, layout, seed_files, window_to)
        if records_file is not None:
            insert_changes(
                con,
                n,
                layout,
                records_file,
                tz=tz,
                source=source,
                generation=generation,
                window_from=window_from,
                window_to=window_to,
                export_arn=export_arn,
                view_type=view_type,
            )
            _merge_current(
                con, n, layout, generation=generation, window_from=window_from, source=source
            )
        if gap:
            _ledger(con, n, "gap", generation, window_from, window_to, None, count, gap)
        _ledger(
            con,
            n,
            kind,
            generation,
            window_from if kind == "window" else None,
            window_to,
            export_arn,
            count,
        )
        ops = _operations(con, n, generation, window_from, source) if records_file else {}
        cols = current_columns(con, n)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)  # a failed COMMIT already ended it: keep COMMIT's own error
        raise
    return ApplyResult(
        True, kind, generation, window_from, window_to, count, ops, cols, added, retyped, gap=gap
    )


def apply_seed(
    con,
    *,
    schema: str,
    table: str,
    generation: int,
    seed_time: datetime,
    export_arn: str,
    data_files: Sequence[str],
    key_attributes: Sequence[str],
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    tz: str = "UTC",
    gap: str | None = None,
    work_dir: str | None = None,
    expect: Expectation | None = None,
) -> ApplyResult:
    """Seed the chain (generation 0: the current table is the full export) or re-seed it
    after a PITR gap (generation + 1): the net difference between the current table and the
    fresh full export is written to the change table as ``source = 'reseed'`` rows over
    ``[last To, seed time)`` and MERGEd, so current equals the export and no change is lost
    silently; the gap itself is a ledger row with its reason."""
    n = Names(schema, table)
    seed_time = utc(seed_time)
    with tempfile.TemporaryDirectory(prefix="ddb_seed_", dir=work_dir) as tmp:
        seed_file = os.path.join(tmp, "seed.json.gz")
        count = stage_items(data_files, export_format, key_attributes, seed_file)
        require_row_count(expect, count)  # before any transaction: nothing applied on failure
        state = (
            read_chain_state(con, schema, table)
            if exists(con, schema, table_names.chain(table))
            else ChainState()
        )
        if not state.seeded:
            return _apply(
                con,
                n,
                kind="seed",
                generation=generation,
                window_from=None,
                window_to=seed_time,
                export_arn=export_arn,
                images=seed_file,
                records_file=None,
                count=count,
                view_type="NEW_AND_OLD_IMAGES",
                overrides=overrides or {},
                tz=tz,
                source=SOURCE_RESEED,
                key_attributes=key_attributes,
                seed_files=seed_file,
            )
        last_to = state.last_to
        if last_to is None:
            raise ChainOrderError("a re-seed continues a seeded chain, and this one has no last To")
        if seed_time < last_to:
            raise ChainOrderError(
                f"re-seed time {seed_time.isoformat()} is before the chain's last To "
                f"{last_to.isoformat()}"
            )
        images, records_file = (
            os.path.join(tmp, "images.json.gz"),
            os.path.join(tmp, "records.json.gz"),
        )
        changed = _stage_net_change(con, n, seed_file, seed_time, images, records_file)
        return _apply(
            con,
            n,
            kind="seed",
            generation=generation,
            window_from=last_to,
            window_to=seed_time,
            export_arn=export_arn,
            images=images,
            records_file=records_file,
            count=changed,
            view_type="NEW_AND_OLD_IMAGES",
            overrides=overrides or {},
            tz=tz,
            source=SOURCE_RESEED,
            key_attributes=key_attributes,
            gap=gap or "re-seeded",
            seed_files=seed_file,
        )


def _stage_net_change(
    con, n: Names, seed_file: str, seed_time: datetime, images: str, records: str
) -> int:
    """The net change between the current table and a fresh full export, computed in DuckDB
    (FULL OUTER JOIN on the item key; an item counts as changed when its stored JSON text
    differs), written as the two staging files :func:`_apply` reads (write time = the seed
    time; an absent image left out). Returns the number of changed items."""
    micros = int(seed_time.timestamp()) * 1_000_000 + seed_time.microsecond
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_RESEED} AS SELECT coalesce(c._ddb_key, s.k) AS k, "
        f"s.item AS new, CAST(c._ddb_item AS VARCHAR) AS old "
        f"FROM {n.current} AS c FULL OUTER JOIN (SELECT json ->> 'k' AS k, CAST(json -> 'Item' AS VARCHAR) "
        f"AS item FROM {READ.format(files='$1')}) AS s ON c._ddb_key = s.k "
        f"WHERE c._ddb_key IS NULL OR s.k IS NULL OR CAST(c._ddb_item AS VARCHAR) IS DISTINCT FROM s.item",
        [[seed_file]],
    )
    try:
        con.execute(
            f'COPY (SELECT \'{{"k":\' || CAST(to_json(k) AS VARCHAR) || \',"ts":{micros},"Keys":\' || k '
            f"|| coalesce(',\"New\":' || new, '') || coalesce(',\"Old\":' || old, '') || '}}' "
            f"FROM {_RESEED} ORDER BY k) TO {path_literal(records)} {COPY_LINES}"
        )
        con.execute(
            f"COPY (SELECT '{{\"Item\":' || x || '}}' FROM (SELECT k AS x FROM {_RESEED} UNION ALL "
            f"SELECT new FROM {_RESEED} WHERE new IS NOT NULL UNION ALL "
            f"SELECT old FROM {_RESEED} WHERE old IS NOT NULL)) TO {path_literal(images)} {COPY_LINES}"
        )
        return con.execute(f"SELECT count(*) FROM {_RESEED}").fetchone()[0]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_RESEED}")


def iter_files(paths: Iterable) -> list[str]:
    return [str(p) for p in paths]
