"""Athena SQL for one chain step: change rows, the MERGE into current, and the ledger.

Holds the change-row SELECT (operation, change date, typed key/new/old columns), the
``INSERT ... WHERE NOT EXISTS`` of a window's change rows (split to stay under the statement
budget, the columns that do not fit filled in by re-deriving them from the raw images, the same
``UPDATE`` schema evolution uses when a column's type changes, batched by at most 100
partitions), the ``MERGE INTO`` the current table, ``LedgerEntry`` and the ledger's insert,
select and "already applied" predicates, and ``window_statements`` (a whole window in order).
Part of the Athena SQL described in ``ddb_assets.incremental.athena_sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ddb_assets.incremental.athena_layout_sql import (
    CURRENT_META,
    FIXED_COLUMNS,
    LEDGER,
    STATEMENT_BUDGET,
    TS,
    Names,
    change_columns,
    json_map_sql,
    key_text_sql,
    records_from_lines,
    ts_literal,
    typed_sql,
    window_lines_sql,
    with_fits,
)
from ddb_assets.incremental.model import SOURCE_INCREMENTAL
from ddb_assets.incremental.windows import Window
from ddb_assets.sql.identifiers import (
    quote_ident,
)
from ddb_assets.sql.literals import sql_literal
from ddb_assets.tables.plan import ColumnPlan

# --- change rows, MERGE, ledger ------------------------------------------------------------


def _change_select(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    source: str,
    generation: int,
    window_from: datetime,
    window_to: datetime,
    export_arn: str | None,
    view_type: str,
    tz: str,
    only: set[str] | None = None,
) -> str:
    cols = [c for c in change_columns(plans, key_attributes) if only is None or c[0] in only]
    roots = {"Keys": "keys", "NewImage": "new_map", "OldImage": "old_map"}
    inner = (
        f"SELECT ts, from_unixtime_nanos(ts * 1000) AS wts, {key_text_sql(key_attributes, json_map_sql('keys_json'))} "
        f"AS item_key, json_format(new_json) AS new_image, json_format(old_json) AS old_image, "
        f"{json_map_sql('keys_json')} AS keys, {json_map_sql('new_json')} AS new_map, {json_map_sql('old_json')} AS old_map "
        f"FROM ({records_sql})"
    )
    inner, fits = with_fits(
        [p for _, _, p in cols],
        inner,
        {"keys": "keys_fits", "new_map": "new_fits", "old_map": "old_fits"},
    )
    typed = [
        f"{typed_sql(p, roots[root], fits[roots[root]])} AS {quote_ident(c)}" for c, root, p in cols
    ]
    op_new_image = (
        f"WHEN {sql_literal(view_type)} = 'NEW_IMAGE' AND item_key IN (SELECT _ddb_key FROM {n.current}) "
        "THEN 'MODIFY' "
    )
    arn = sql_literal(export_arn) if export_arn else "CAST(NULL AS varchar)"
    return (
        f"SELECT {change_date_sql('wts', tz)} AS change_date, "
        f"CAST(wts AS {TS}) AS write_ts, ts AS write_micros, "
        f"CASE WHEN new_image IS NULL THEN 'REMOVE' WHEN old_image IS NOT NULL THEN 'MODIFY' {op_new_image}"
        f"ELSE 'INSERT' END AS operation, {sql_literal(source)} AS source, {int(generation)} AS generation, "
        f"CAST({ts_literal(window_from)} AS {TS}) AS window_from, CAST({ts_literal(window_to)} AS {TS}) AS window_to, "
        f"{arn} AS export_arn, item_key, new_image, old_image"
        + "".join(", " + t for t in typed)
        + f" FROM ({inner})"
    )


def change_date_sql(wts: str, tz: str) -> str:
    """The local date (in ``tz``) of ``wts``, a ``timestamp(9) with time zone``. Cast to a date
    directly: Trino ROUNDS when it lowers a timestamp's precision, so a write at
    23:59:59.9995 cast to ``timestamp`` (milliseconds) first would land on the next day."""
    return f"CAST({wts} AT TIME ZONE {sql_literal(tz)} AS date)"


def step_where(generation: int, window_from: datetime, source: str) -> str:
    return (
        f"generation = {int(generation)} AND window_from = CAST({ts_literal(window_from)} AS {TS}) "
        f"AND source = {sql_literal(source)}"
    )


def insert_changes_sql(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    source: str,
    generation: int,
    window_from: datetime,
    window_to: datetime,
    export_arn: str | None,
    view_type: str = "NEW_AND_OLD_IMAGES",
    tz: str = "UTC",
    only: set[str] | None = None,
) -> str:
    """The step's change rows, inserted once (nothing when the step's rows are there);
    ``only``: the typed columns to fill (all by default; the others stay NULL)."""
    names = [c for c, _ in FIXED_COLUMNS] + [
        c for c, _, _ in change_columns(plans, key_attributes) if only is None or c in only
    ]
    select = _change_select(
        n,
        plans,
        key_attributes,
        records_sql,
        source=source,
        generation=generation,
        window_from=window_from,
        window_to=window_to,
        export_arn=export_arn,
        view_type=view_type,
        tz=tz,
        only=only,
    )
    return (
        f"INSERT INTO {n.changes} ({', '.join(quote_ident(c) for c in names)}) SELECT * FROM ({select}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.changes} WHERE {step_where(generation, window_from, source)})"
    )


def insert_changes_statements(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    records_sql: str,
    *,
    budget: int = STATEMENT_BUDGET,
    **step,
) -> list[str]:
    """:func:`insert_changes_sql` kept under ``budget`` bytes (Athena refuses query text over
    262,144 bytes): one INSERT with as many typed columns as fit, then ``UPDATE``s of this
    step's rows that derive the other typed columns from the stored raw images. The INSERT
    happens once (``WHERE NOT EXISTS``); each UPDATE recomputes its columns from the raw
    images, so every statement can be repeated after a crash."""
    full = insert_changes_sql(n, plans, key_attributes, records_sql, **step)
    if len(full.encode("utf-8")) <= budget:
        return [full]
    cols = change_columns(plans, key_attributes)
    base = len(insert_changes_sql(n, plans, key_attributes, records_sql, only=set(), **step))
    # the INSERT's share of each typed column: its name, its expression, its fit check entry
    size, chosen = base + 12_000, set()  # the fits maps' fixed part
    for c, root, p in cols:
        roots = {"Keys": "keys", "NewImage": "new_map", "OldImage": "old_map"}
        piece = len(typed_sql(p, roots[root], "f")) + 2 * len(quote_ident(c)) + 60
        if size + piece > budget:
            break
        chosen.add(c)
        size += piece
    rest = [col for col in cols if col[0] not in chosen]
    where = step_where(step["generation"], step["window_from"], step["source"])
    return [
        insert_changes_sql(n, plans, key_attributes, records_sql, only=chosen, **step),
        *rederive_statements(n.changes, rest, budget, where=where),
    ]


def merge_sql(
    n: Names, plans: Sequence[ColumnPlan], *, generation: int, window_from: datetime, source: str
) -> str:
    """Apply one step's change rows to the current table (deletes included)."""
    sets = [f"{quote_ident(p.column)} = s.{quote_ident('new_' + p.column)}" for p in plans]
    sets += [
        "_ddb_item = s.new_image",
        "_ddb_write_ts = s.write_ts",
        "_ddb_window_to = s.window_to",
    ]
    ins_cols = [quote_ident(p.column) for p in plans] + [c for c, _ in CURRENT_META]
    ins_vals = [f"s.{quote_ident('new_' + p.column)}" for p in plans] + [
        "s.item_key",
        "s.new_image",
        "s.write_ts",
        "s.window_to",
    ]
    return (
        f"MERGE INTO {n.current} AS t USING (SELECT * FROM {n.changes} WHERE "
        f"{step_where(generation, window_from, source)}) AS s ON t._ddb_key = s.item_key "
        f"WHEN MATCHED AND s.operation = 'REMOVE' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s.operation <> 'REMOVE' THEN INSERT ({', '.join(ins_cols)}) "
        f"VALUES ({', '.join(ins_vals)})"
    )


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    kind: str
    generation: int
    window_from: datetime | None
    window_to: datetime
    export_arn: str | None
    records: int
    note: str | None
    plan: str


def _opt(value: str | None, sql_type: str = "varchar") -> str:
    return sql_literal(value) if value is not None else f"CAST(NULL AS {sql_type})"


def ledger_insert_sql(n: Names, entries: Sequence[LedgerEntry], *, unless: str) -> str:
    """Append ledger rows in one commit, unless a row matching ``unless`` is there."""
    rows = []
    for e in entries:
        wf = (
            f"CAST({ts_literal(e.window_from)} AS {TS})" if e.window_from else f"CAST(NULL AS {TS})"
        )
        rows.append(
            f"({int(e.seq)}, {sql_literal(e.kind)}, {int(e.generation)}, {wf}, "
            f"CAST({ts_literal(e.window_to)} AS {TS}), {_opt(e.export_arn)}, CAST({int(e.records)} AS bigint), "
            f"{_opt(e.note)}, CAST(current_timestamp AT TIME ZONE 'UTC' AS {TS}), {sql_literal(e.plan)})"
        )
    names = ", ".join(c for c, _ in LEDGER)
    return (
        f"INSERT INTO {n.ledger} ({names}) SELECT * FROM (VALUES {', '.join(rows)}) AS v({names}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.ledger} WHERE {unless})"
    )


def window_applied_where(generation: int, window: Window) -> str:
    return (
        f"kind = 'window' AND generation = {int(generation)} AND "
        f"window_from = CAST({ts_literal(window.start)} AS {TS})"
    )


def seed_applied_where(generation: int) -> str:
    return f"kind = 'seed' AND generation = {int(generation)}"


def ledger_select_sql(n: Names) -> str:
    return f"SELECT {', '.join(c for c, _ in LEDGER if c != 'applied_at')} FROM {n.ledger} ORDER BY seq"


def window_statements(
    database: str,
    table: str,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    *,
    generation: int,
    window: Window,
    export_arn: str,
    view_type: str = "NEW_AND_OLD_IMAGES",
    tz: str = "UTC",
    export_format: str = "DYNAMODB_JSON",
) -> list[str]:
    """The change rows and the MERGE of one window, once its raw partition is registered
    (:func:`add_partition_sql`: discovery reads it first) and its columns exist; the ledger
    row (:func:`ledger_insert_sql`) follows them. See the module docs for why each is safe
    to repeat."""
    n = Names(database, table, export_format)
    return [
        *insert_changes_statements(
            n,
            plans,
            key_attributes,
            records_from_lines(window_lines_sql(n, window)),
            source=SOURCE_INCREMENTAL,
            generation=generation,
            window_from=window.start,
            window_to=window.end,
            export_arn=export_arn,
            view_type=view_type,
            tz=tz,
        ),
        merge_sql(
            n, plans, generation=generation, window_from=window.start, source=SOURCE_INCREMENTAL
        ),
    ]


# --- re-deriving typed columns ----------------------------------------------------------

# The raw JSON each typed column is re-derived from when its type changes.
RAW_SOURCES = {
    "Keys": "item_key",
    "NewImage": "new_image",
    "OldImage": "old_image",
    "Item": "_ddb_item",
}


MAX_PARTITIONS = 100  # Athena writes at most 100 partitions per statement


def partition_batches(column: str, values: Sequence, size: int = MAX_PARTITIONS) -> list[str]:
    """WHERE conditions that split ``values`` of a date partition column into ranges of at
    most ``size`` distinct values each (for statements that rewrite every partition)."""
    ordered = sorted(set(values))
    out = []
    for i in range(0, len(ordered), size):
        lo, hi = ordered[i], ordered[i + size - 1 if i + size - 1 < len(ordered) else -1]
        out.append(
            f"{quote_ident(column)} BETWEEN DATE '{lo.isoformat()}' AND DATE '{hi.isoformat()}'"
        )
    return out


def change_dates_sql(n: Names) -> str:
    return f"SELECT DISTINCT change_date FROM {n.changes}"


def _rederive_set(c: str, root: str, p: ColumnPlan) -> str:
    return (
        f"{quote_ident(c)} = {typed_sql(p, json_map_sql('json_parse(' + RAW_SOURCES[root] + ')'))}"
    )


def rederive_sql(
    qualified_table: str, columns: Sequence[tuple[str, str, ColumnPlan]], where: str = ""
) -> str:
    """``UPDATE`` that recomputes typed columns from the stored raw images; ``columns`` are
    (column, root in :data:`RAW_SOURCES`, plan)."""
    sql = f"UPDATE {qualified_table} SET {', '.join(_rederive_set(*c) for c in columns)}"
    return sql + (f" WHERE {where}" if where else "")


def rederive_statements(
    qualified_table: str,
    columns: Sequence[tuple[str, str, ColumnPlan]],
    budget: int = STATEMENT_BUDGET,
    where: str = "",
) -> list[str]:
    """:func:`rederive_sql` split into as few ``UPDATE`` statements as keep each under
    ``budget`` bytes (Athena refuses query text over 262,144 bytes). Each recomputes its
    columns from the raw images, so any of them can be repeated after a crash."""
    head = f"UPDATE {qualified_table} SET "
    tail = f" WHERE {where}" if where else ""
    budget -= len(tail.encode("utf-8"))
    out: list[str] = []
    sets: list[str] = []
    size = len(head)
    for c in columns:
        piece = _rederive_set(*c)
        n = len(piece.encode("utf-8")) + 2
        if sets and size + n > budget:
            out.append(head + ", ".join(sets) + tail)
            sets, size = [], len(head)
        sets.append(piece)
        size += n
    if sets:
        out.append(head + ", ".join(sets) + tail)
    return out
