"""The DuckDB chain's tables and the statements that lay out and load them.

Holds ``Names`` (the change, current, ledger and plan tables of one source table),
``read_chain_state``, creating the tables, loading and evolving the column plan (adding columns
and re-deriving a column from the raw images when its type widens: ``Layout``/``evolve``), the
typed INSERT of change rows, the current table's columns, and loading a full export's items
(``stage_items``/``insert_items``/``insert_seed``). ``duckdb_chain`` applies windows and seeds
with them; ``duckdb_compare`` compares the current table with a full export. The table layout
is described in ``ddb_assets.incremental.duckdb_chain``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ddb_assets import table_names
from ddb_assets.incremental import records as rec
from ddb_assets.incremental.model import (
    ChainState,
    LedgerRow,
)
from ddb_assets.incremental.windows import utc
from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.tables import changes as tch
from ddb_assets.tables.plan import ROLE_VALUE, ColumnPlan
from ddb_assets.tables.types import ColumnOverride, parse_type

READ = "read_ndjson_objects({files}, compression = 'gzip', maximum_object_size = 67108864)"


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


def naive(t: datetime | None) -> datetime | None:
    return None if t is None else utc(t).replace(tzinfo=None)


def exists(con, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def read_chain_state(con, schema: str, table: str) -> ChainState:
    n = Names(schema, table)
    if not exists(con, schema, table_names.chain(table)):
        return ChainState()
    rows = con.execute(
        f"SELECT seq, kind, generation, window_from, window_to, export_arn, records, note "
        f"FROM {n.ledger} ORDER BY seq"
    ).fetchall()
    return ChainState(
        [LedgerRow(r[0], r[1], r[2], utc(r[3]), utc(r[4]), r[5], r[6], r[7]) for r in rows]
    )


def ensure_tables(con, n: Names) -> None:
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


def load_plan(con, n: Names):
    row = con.execute(f"SELECT key_attributes, stats, columns FROM {n.plan}").fetchone()
    if row is None:
        return None, [], []
    return json.loads(row[0]), tch.stats_from_json(row[1]), json.loads(row[2])


def pointer(root: str, attribute: str) -> str:
    return f"/{root}/" + attribute.replace("~", "~0").replace("/", "~1")


@dataclass
class Layout:
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


def evolve(
    con,
    n: Names,
    stats_files: Sequence[str],
    key_attributes: Sequence[str],
    overrides: Mapping[str, ColumnOverride],
) -> tuple[Layout, list[str], list[str]]:
    """Plan columns on the cumulative statistics; add / re-derive columns as needed."""
    known_keys, old_stats, old_cols = load_plan(con, n)
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
    layout = Layout(plans, key_attributes)
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


def insert_changes(
    con,
    n: Names,
    layout: Layout,
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
        naive(window_from),
        naive(window_to),
        export_arn,
        view_type,
    ]
    inner = []
    for root, alias in (("Keys", "kv"), ("New", "nv"), ("Old", "ov")):
        if attrs[root]:
            params.append([pointer(root, a) for a in attrs[root]])
            inner.append(f"{tch.tag_structs_sql(f'json_extract(json, ${len(params)})')} AS {alias}")
    params.append([records_file])
    src = READ.format(files=f"${len(params)}")
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


def current_columns(con, n: Names) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "ORDER BY column_index",
            [n.schema, table_names.current(n.table)],
        ).fetchall()
    ]


def insert_seed(con, n: Names, layout: Layout, seed_file: str, seed_time: datetime) -> None:
    insert_items(con, n.current, layout.plans, seed_file, seed_time)


def insert_items(
    con, target: str, plans: Sequence[ColumnPlan], item_file: str, window_to: datetime | None
) -> None:
    """Typed rows of ``target`` (the current table's shape) from a staging file of
    ``{"k": key, "Item": image}`` lines."""
    attrs = sorted({p.attribute for p in plans})
    cols = [quote_ident(p.column) for p in plans]
    exprs = [tch.value_sql_duckdb(p, f"v[{attrs.index(p.attribute) + 1}]") for p in plans]
    inner = f", {tch.tag_structs_sql('json_extract(json, $1)')} AS v" if attrs else ""
    params = ([[pointer("Item", a) for a in attrs]] if attrs else []) + [
        [item_file],
        naive(window_to),
    ]
    nf, nt = len(params) - 1, len(params)
    con.execute(
        f"INSERT INTO {target} ({', '.join(cols + ['_ddb_key', '_ddb_item', '_ddb_window_to'])}) "
        f"SELECT {', '.join(exprs + ['k', 'item', f'${nt}'])} FROM (SELECT json ->> 'k' AS k, "
        f"json -> 'Item' AS item{inner} FROM {READ.format(files=f'${nf}')})",
        params,
    )


def stage_items(
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
COPY_LINES = "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01', COMPRESSION gzip)"
