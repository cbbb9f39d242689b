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
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ddb_assets import table_names
from ddb_assets.incremental import records as rec
from ddb_assets.incremental.model import (
    COMPARE_EXAMPLES,
    SOURCE_INCREMENTAL,
    SOURCE_RESEED,
    ApplyResult,
    ChainOrderError,
    ChainState,
    Comparison,
    LedgerRow,
)
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.sql.literals import path_literal
from ddb_assets.tables import changes as tch
from ddb_assets.tables.checks import Expectation, require_row_count
from ddb_assets.tables.plan import ROLE_VALUE, ColumnPlan
from ddb_assets.tables.transactions import rollback_quietly
from ddb_assets.tables.types import ColumnOverride, parse_type

_READ = "read_ndjson_objects({files}, compression = 'gzip', maximum_object_size = 67108864)"


@dataclass(frozen=True)
class Names:
    schema: str
    table: str

    def __post_init__(self):
        validate_catalog_name(self.schema, "schema")
        validate_catalog_name(self.table, "table")

    @property
    def changes(self) -> str:
        return qualified(self.schema, table_names.changes(self.table))

    @property
    def current(self) -> str:
        return qualified(self.schema, table_names.current(self.table))

    @property
    def ledger(self) -> str:
        return qualified(self.schema, table_names.chain(self.table))

    @property
    def plan(self) -> str:
        return qualified(self.schema, table_names.chain_plan(self.table))


def _naive(t: datetime | None) -> datetime | None:
    return None if t is None else utc(t).replace(tzinfo=None)


def _exists(con, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def read_chain_state(con, schema: str, table: str) -> ChainState:
    n = Names(schema, table)
    if not _exists(con, schema, table_names.chain(table)):
        return ChainState()
    rows = con.execute(
        f"SELECT seq, kind, generation, window_from, window_to, export_arn, records, note "
        f"FROM {n.ledger} ORDER BY seq"
    ).fetchall()
    return ChainState(
        [LedgerRow(r[0], r[1], r[2], utc(r[3]), utc(r[4]), r[5], r[6], r[7]) for r in rows]
    )


def _ensure_tables(con, n: Names) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(n.schema)}")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {n.ledger} (
        seq INTEGER NOT NULL, kind VARCHAR NOT NULL, generation INTEGER NOT NULL,
        window_from TIMESTAMP, window_to TIMESTAMP NOT NULL, export_arn VARCHAR,
        records BIGINT NOT NULL, note VARCHAR, applied_at TIMESTAMP NOT NULL)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {n.plan} (
        key_attributes VARCHAR NOT NULL, stats VARCHAR NOT NULL, columns VARCHAR NOT NULL)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {n.changes} (
        change_date DATE NOT NULL, write_ts TIMESTAMP NOT NULL, write_micros BIGINT NOT NULL,
        operation VARCHAR NOT NULL, source VARCHAR NOT NULL, generation INTEGER NOT NULL,
        window_from TIMESTAMP NOT NULL, window_to TIMESTAMP NOT NULL, export_arn VARCHAR,
        item_key VARCHAR NOT NULL, new_image JSON, old_image JSON)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {n.current} (
        _ddb_key VARCHAR NOT NULL, _ddb_item JSON NOT NULL, _ddb_write_ts TIMESTAMP,
        _ddb_window_to TIMESTAMP)""")


def _load_plan(con, n: Names):
    row = con.execute(f"SELECT key_attributes, stats, columns FROM {n.plan}").fetchone()
    if row is None:
        return None, [], []
    return json.loads(row[0]), tch.stats_from_json(row[1]), json.loads(row[2])


def _pointer(root: str, attribute: str) -> str:
    return f"/{root}/" + attribute.replace("~", "~0").replace("/", "~1")


@dataclass
class _Layout:
    plans: list[ColumnPlan]
    key_attributes: list[str]

    def change_columns(self) -> list[tuple[str, str, ColumnPlan]]:
        """(column, source root, plan) of the typed columns of the change table."""
        out = []
        for p in self.plans:
            if p.attribute in self.key_attributes and p.role == ROLE_VALUE:
                out.append(("key_" + p.column, "Keys", p))
        for p in self.plans:
            out.append(("new_" + p.column, "New", p))
        for p in self.plans:
            out.append(("old_" + p.column, "Old", p))
        return out


def _evolve(
    con,
    n: Names,
    stats_files: Sequence[str],
    key_attributes: Sequence[str],
    overrides: Mapping[str, ColumnOverride],
) -> tuple[_Layout, list[str], list[str]]:
    """Plan columns on the cumulative statistics; add / re-derive columns as needed."""
    known_keys, old_stats, old_cols = _load_plan(con, n)
    key_attributes = list(known_keys or key_attributes)
    new_stats = tch.discover_image_stats(con, stats_files, [s.attribute for s in old_stats])
    stats = tch.merge_stats(old_stats, new_stats)
    history = {c["attribute"]: c["column"] for c in old_cols if c["role"] == ROLE_VALUE}
    previous = {c["column"]: c["type"] for c in old_cols}
    plans, _ = tch.plan_image_columns(
        stats,
        overrides,
        history=history,
        previous_types={c: parse_type(t) for c, t in previous.items()},
    )
    layout = _Layout(plans, key_attributes)
    seen_attrs = {s.attribute for s in old_stats}
    added, retyped = [], []
    targets = [(n.changes, col, root, p) for col, root, p in layout.change_columns()]
    targets += [(n.current, p.column, "Item", p) for p in plans]
    raw = {
        "Keys": "CAST(item_key AS JSON)",
        "New": "new_image",
        "Old": "old_image",
        "Item": "_ddb_item",
    }
    for tbl, col, root, p in targets:
        want = p.type.canonical()
        had = previous.get(p.column)
        if had == want:
            continue
        if had is not None:
            con.execute(f"ALTER TABLE {tbl} DROP COLUMN {quote_ident(col)}")
            retyped.append(col)
        else:
            added.append(col)
        con.execute(f"ALTER TABLE {tbl} ADD COLUMN {quote_ident(col)} {p.type.duckdb()}")
        if had is not None or p.attribute in seen_attrs:  # existing rows may hold values
            x = f"json_extract({raw[root]}, $1)"
            ptr = "/" + p.attribute.replace("~", "~0").replace("/", "~1")
            con.execute(
                f"UPDATE {tbl} SET {quote_ident(col)} = {tch.value_sql_duckdb_json(p, x)}", [ptr]
            )
    con.execute(f"DELETE FROM {n.plan}")
    con.execute(
        f"INSERT INTO {n.plan} VALUES (?, ?, ?)",
        [
            json.dumps(key_attributes),
            tch.stats_to_json(stats),
            json.dumps(
                [
                    {
                        "column": p.column,
                        "attribute": p.attribute,
                        "role": p.role,
                        "type": p.type.canonical(),
                    }
                    for p in plans
                ]
            ),
        ],
    )
    return layout, added, retyped


def _insert_changes(
    con,
    n: Names,
    layout: _Layout,
    records_file: str,
    *,
    tz: str,
    source: str,
    generation: int,
    window_from: datetime,
    window_to: datetime,
    export_arn: str | None,
    view_type: str,
) -> None:
    cols = layout.change_columns()
    by_root: dict[str, list[tuple[str, ColumnPlan]]] = {"Keys": [], "New": [], "Old": []}
    for col, root, p in cols:
        by_root[root].append((col, p))
    attrs = {root: sorted({p.attribute for _, p in lst}) for root, lst in by_root.items()}
    params: list = [
        tz,
        source,
        generation,
        _naive(window_from),
        _naive(window_to),
        export_arn,
        view_type,
    ]
    inner = []
    for root, alias in (("Keys", "kv"), ("New", "nv"), ("Old", "ov")):
        if attrs[root]:
            params.append([_pointer(root, a) for a in attrs[root]])
            inner.append(f"{tch.tag_structs_sql(f'json_extract(json, ${len(params)})')} AS {alias}")
    params.append([records_file])
    src = _READ.format(files=f"${len(params)}")
    exprs, names = [], []
    for col, root, p in cols:
        alias = {"Keys": "kv", "New": "nv", "Old": "ov"}[root]
        x = f"{alias}[{attrs[root].index(p.attribute) + 1}]"
        exprs.append(tch.value_sql_duckdb(p, x))
        names.append(quote_ident(col))
    op = (
        f"CASE WHEN new_image IS NULL THEN 'REMOVE' WHEN old_image IS NOT NULL THEN 'MODIFY' "
        f"WHEN $7 = 'NEW_IMAGE' AND k IN (SELECT _ddb_key FROM {n.current}) THEN 'MODIFY' ELSE 'INSERT' END"
    )
    fixed = [
        "change_date",
        "write_ts",
        "write_micros",
        "operation",
        "source",
        "generation",
        "window_from",
        "window_to",
        "export_arn",
        "item_key",
        "new_image",
        "old_image",
    ]
    fixed_exprs = [
        "CAST(timezone($1, timezone('UTC', make_timestamp(ts))) AS DATE)",
        "make_timestamp(ts)",
        "ts",
        op,
        "$2",
        "$3",
        "$4",
        "$5",
        "$6",
        "k",
        "new_image",
        "old_image",
    ]
    sql = (
        f"INSERT INTO {n.changes} ({', '.join(fixed + names)}) "
        f"SELECT {', '.join(fixed_exprs + exprs)} FROM ("
        f"SELECT json ->> 'k' AS k, CAST(json ->> 'ts' AS BIGINT) AS ts, json -> 'New' AS new_image, "
        f"json -> 'Old' AS old_image{''.join(', ' + i for i in inner)} FROM {src}) ORDER BY ts, k"
    )
    con.execute(sql, params)


def _merge_current(
    con, n: Names, layout: _Layout, *, generation: int, window_from: datetime, source: str
) -> None:
    """Apply one window's change rows to the current table (deletes included).

    A MERGE whose source matches one target row twice is an error on Athena
    (``MERGE_TARGET_ROW_MULTIPLE_MATCHES``); DuckDB 2.0.1 applies one of the rows silently.
    So a step with two change rows for one key is refused here, before the MERGE, whatever
    DuckDB version runs it."""
    dup = con.execute(
        f"SELECT item_key, count(*) FROM {n.changes} WHERE generation = $1 AND window_from = $2 "
        f"AND source = $3 GROUP BY item_key HAVING count(*) > 1 ORDER BY item_key LIMIT 1",
        [generation, _naive(window_from), source],
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
        [generation, _naive(window_from), source],
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
            _naive(window_from),
            _naive(window_to),
            export_arn,
            records,
            note,
            datetime.now(timezone.utc).replace(tzinfo=None),
        ],
    )


def current_columns(con, n: Names) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "ORDER BY column_index",
            [n.schema, table_names.current(n.table)],
        ).fetchall()
    ]


def _operations(con, n: Names, generation: int, window_from: datetime, source: str) -> dict:
    return dict(
        con.execute(
            f"SELECT operation, count(*) FROM {n.changes} WHERE generation = ? AND "
            f"window_from = ? AND source = ? GROUP BY operation",
            [generation, _naive(window_from), source],
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
        _ensure_tables(con, n)
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
        layout, added, retyped = _evolve(con, n, stats_files, key_attributes, overrides)
        if kind == "seed" and not state.seeded:
            _insert_seed(con, n, layout, seed_files, window_to)
        if records_file is not None:
            _insert_changes(
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


def _insert_seed(con, n: Names, layout: _Layout, seed_file: str, seed_time: datetime) -> None:
    _insert_items(con, n.current, layout.plans, seed_file, seed_time)


def _insert_items(
    con, target: str, plans: Sequence[ColumnPlan], item_file: str, window_to: datetime | None
) -> None:
    """Typed rows of ``target`` (the current table's shape) from a staging file of
    ``{"k": key, "Item": image}`` lines."""
    attrs = sorted({p.attribute for p in plans})
    cols = [quote_ident(p.column) for p in plans]
    exprs = [tch.value_sql_duckdb(p, f"v[{attrs.index(p.attribute) + 1}]") for p in plans]
    inner = f", {tch.tag_structs_sql('json_extract(json, $1)')} AS v" if attrs else ""
    params = ([[_pointer("Item", a) for a in attrs]] if attrs else []) + [
        [item_file],
        _naive(window_to),
    ]
    nf, nt = len(params) - 1, len(params)
    con.execute(
        f"INSERT INTO {target} ({', '.join(cols + ['_ddb_key', '_ddb_item', '_ddb_window_to'])}) "
        f"SELECT {', '.join(exprs + ['k', 'item', f'${nt}'])} FROM (SELECT json ->> 'k' AS k, "
        f"json -> 'Item' AS item{inner} FROM {_READ.format(files=f'${nf}')})",
        params,
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
        count = _stage_items(data_files, export_format, key_attributes, seed_file)
        require_row_count(expect, count)  # before any transaction: nothing applied on failure
        state = (
            read_chain_state(con, schema, table)
            if _exists(con, schema, table_names.chain(table))
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


def _stage_items(
    data_files: Sequence[str], export_format: str, key_attributes: Sequence[str], staged: str
) -> int:
    """Stream a full export's items to a staging file of ``{"k": key, "Item": image}`` lines
    (canonical JSON); returns the number of items. Nothing is held in memory."""
    count = 0
    with gzip.open(staged, "wt", encoding="utf-8", compresslevel=1) as fp:
        for f in data_files:
            for item in rec.read_items(str(f), export_format):
                k = rec.key_text(rec.key_of(item, key_attributes))
                fp.write('{"k":' + json.dumps(k) + ',"Item":' + rec.canonical(item) + "}\n")
                count += 1
    return count


# Raw text lines out of DuckDB (the values are minified JSON: no quote, newline or control
# character needs CSV escaping).
_COPY_LINES = "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01', COMPRESSION gzip)"
_RESEED = "_ddb_reseed"


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
        f"AS item FROM {_READ.format(files='$1')}) AS s ON c._ddb_key = s.k "
        f"WHERE c._ddb_key IS NULL OR s.k IS NULL OR CAST(c._ddb_item AS VARCHAR) IS DISTINCT FROM s.item",
        [[seed_file]],
    )
    try:
        con.execute(
            f'COPY (SELECT \'{{"k":\' || CAST(to_json(k) AS VARCHAR) || \',"ts":{micros},"Keys":\' || k '
            f"|| coalesce(',\"New\":' || new, '') || coalesce(',\"Old\":' || old, '') || '}}' "
            f"FROM {_RESEED} ORDER BY k) TO {path_literal(records)} {_COPY_LINES}"
        )
        con.execute(
            f"COPY (SELECT '{{\"Item\":' || x || '}}' FROM (SELECT k AS x FROM {_RESEED} UNION ALL "
            f"SELECT new FROM {_RESEED} WHERE new IS NOT NULL UNION ALL "
            f"SELECT old FROM {_RESEED} WHERE old IS NOT NULL)) TO {path_literal(images)} {_COPY_LINES}"
        )
        return con.execute(f"SELECT count(*) FROM {_RESEED}").fetchone()[0]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_RESEED}")


_CMP_EXPORT = "_ddb_cmp_export"
_CMP_DIFF = "_ddb_cmp_diff"


def _plans_now(con, n: Names, overrides: Mapping[str, ColumnOverride]) -> list[ColumnPlan]:
    """The column plans the current table was typed with, re-derived from the stored
    cumulative statistics (the same inputs as the last :func:`_evolve`, so the same plans)."""
    _, stats, cols = _load_plan(con, n)
    history = {c["attribute"]: c["column"] for c in cols if c["role"] == ROLE_VALUE}
    plans, _ = tch.plan_image_columns(
        stats,
        overrides,
        history=history,
        previous_types={c["column"]: parse_type(c["type"]) for c in cols},
    )
    got = [(p.column, p.type.canonical()) for p in plans]
    want = [(c["column"], c["type"]) for c in cols]
    if got != want:
        raise RuntimeError(
            f"the column plan of {n.current} cannot be re-derived (overrides changed since the "
            f"last window?): stored {want}, now {got}"
        )
    return plans


def compare_with_full_export(
    con,
    *,
    schema: str,
    table: str,
    data_files: Sequence[str],
    key_attributes: Sequence[str],
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    work_dir: str | None = None,
) -> Comparison:
    """The current table against a full export taken at the chain's last To, in DuckDB.

    The export is streamed to a staging file and loaded into a TEMP table with the current
    table's exact typing (same column plan, same value SQL); a FULL OUTER JOIN on the item
    key then finds missing / extra rows and rows where any typed column differs (set columns
    compared as sets) or the item's attribute names differ (an attribute the plan has no
    column for). Only counts and a few examples come back to Python."""
    n = Names(schema, table)
    if not _exists(con, schema, table_names.current(table)):
        raise ValueError(f"{n.current} does not exist: the chain is not seeded")
    plans = _plans_now(con, n, overrides or {})
    tch.prepare_duckdb(con)
    with tempfile.TemporaryDirectory(prefix="ddb_cmp_", dir=work_dir) as tmp:
        staged = os.path.join(tmp, "export.json.gz")
        count = _stage_items(data_files, export_format, key_attributes, staged)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_CMP_EXPORT} AS SELECT * FROM {n.current} LIMIT 0"
        )
        try:
            _insert_items(con, _CMP_EXPORT, plans, staged, None)
            return _compare_sql(con, n.current, _CMP_EXPORT, plans, count)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_CMP_EXPORT}")
            con.execute(f"DROP TABLE IF EXISTS {_CMP_DIFF}")


def _compare_sql(
    con, current: str, export: str, plans: Sequence[ColumnPlan], export_items: int
) -> Comparison:
    def cmp_expr(side: str, p: ColumnPlan) -> str:
        c = f"{side}.{quote_ident(p.column)}"
        return (
            f"list_sort({c})"
            if p.source_tag in ("SS", "NS", "BS") and p.type.name == "array"
            else c
        )

    checks = [(p.column, f"{cmp_expr('c', p)} IS DISTINCT FROM {cmp_expr('e', p)}") for p in plans]
    checks.append(
        (
            "(attributes)",
            "list_sort(json_keys(c._ddb_item)) IS DISTINCT FROM list_sort(json_keys(e._ddb_item))",
        )
    )
    names = [c for c, _ in checks]
    differs = " OR ".join(f"({x})" for _, x in checks) or "false"
    flags = ", ".join(f"CASE WHEN {x} THEN {i} END" for i, (_, x) in enumerate(checks, 1))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CMP_DIFF} AS SELECT "
        f"CASE WHEN c._ddb_key IS NULL THEN 'missing' WHEN e._ddb_key IS NULL THEN 'extra' ELSE 'different' END "
        f"AS kind, coalesce(c._ddb_key, e._ddb_key) AS k, "
        f"list_filter([{flags}], lambda v: v IS NOT NULL) AS cols "
        f"FROM {current} AS c FULL OUTER JOIN {export} AS e ON c._ddb_key = e._ddb_key "
        f"WHERE c._ddb_key IS NULL OR e._ddb_key IS NULL OR {differs}"
    )
    counts = dict(con.execute(f"SELECT kind, count(*) FROM {_CMP_DIFF} GROUP BY kind").fetchall())
    current_rows = con.execute(f"SELECT count(*) FROM {current}").fetchone()[0]
    rows = con.execute(
        f"SELECT kind, k, cols FROM (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY k) AS i "
        f"FROM {_CMP_DIFF}) WHERE i <= {COMPARE_EXAMPLES} ORDER BY kind, k"
    ).fetchall()
    examples = []
    for kind, k, cols in rows:
        detail = {}
        if kind == "different":
            sel = ", ".join(
                f"CAST(c.{quote_ident(names[i - 1])} AS VARCHAR), CAST(e.{quote_ident(names[i - 1])} AS VARCHAR)"
                if names[i - 1] != "(attributes)"
                else "CAST(list_sort(json_keys(c._ddb_item)) AS VARCHAR), CAST(list_sort(json_keys(e._ddb_item)) AS VARCHAR)"
                for i in cols
            )
            vals = con.execute(
                f"SELECT {sel} FROM {current} AS c JOIN {export} AS e ON c._ddb_key = e._ddb_key "
                f"WHERE c._ddb_key = ?",
                [k],
            ).fetchone()
            detail = {names[i - 1]: [vals[2 * j], vals[2 * j + 1]] for j, i in enumerate(cols)}
        examples.append((kind, k, detail))
    missing, extra, different = (int(counts.get(x, 0)) for x in ("missing", "extra", "different"))
    return Comparison(
        not (missing or extra or different),
        int(current_rows),
        export_items,
        missing,
        extra,
        different,
        tuple(examples),
        tuple(names),
    )


def iter_files(paths: Iterable) -> list[str]:
    return [str(p) for p in paths]
