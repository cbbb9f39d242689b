"""The change history's comparison with a full export, in Athena SQL (see
:mod:`ddb_assets.incremental.athena_sql` for the tables): the current table against a fresh
full export typed the same way, as one row comparison per key, then which columns differ
for a few example keys. Both stay under Athena's 262,144-byte query limit for wide tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from ddb_assets.incremental.athena_sql import (
    ITEM_JSON,
    STATEMENT_BUDGET,
    Names,
    export_lines_sql,
    json_map_sql,
    key_text_sql,
    typed_sql,
    with_fits,
)
from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.tables.athena_engine import sql_literal
from ddb_assets.tables.plan import ColumnPlan

_SETS = ("SS", "NS", "BS")


def _text_sql(p: ColumnPlan, x: str) -> str:
    t = p.type
    if t.name == "binary":
        return f"to_base64({x})"
    if t.name == "array" and t.element is not None and t.element.name == "binary":
        return f"json_format(CAST(transform({x}, b -> to_base64(b)) AS json))"
    if t.name in ("array", "struct"):
        return f"json_format(CAST({x} AS json))"
    return f"CAST({x} AS varchar)"


def _cmp(side: str, p: ColumnPlan | None, value: str) -> str:
    """The value compared for one column (sets compared as sorted arrays; ``None``: the
    item's attribute names)."""
    if p is None:
        return f"array_sort(map_keys({json_map_sql(f'json_parse({side}._ddb_item)')}))"
    return f"array_sort({value})" if p.source_tag in _SETS and p.type.name == "array" else value


def _typed_export(
    n: Names, plans: Sequence[ColumnPlan], key_attributes: Sequence[str], export_id: str
) -> str:
    """The full export typed as the current table is: typed columns, ``_ddb_key``, ``_ddb_item``."""
    items, fits = with_fits(
        plans,
        f"SELECT {ITEM_JSON} AS item_json, {json_map_sql(ITEM_JSON)} AS item FROM ({export_lines_sql(n, export_id)})",
        {"item": "fits"},
    )
    export = ", ".join(
        [f"{typed_sql(p, 'item', fits['item'])} AS {quote_ident(p.column)}" for p in plans]
        + [
            f"{key_text_sql(key_attributes, 'item')} AS _ddb_key",
            "json_format(item_json) AS _ddb_item",
        ]
    )
    return f"SELECT {export} FROM ({items})"


def compare_sql(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    export_id: str,
    examples: int,
) -> tuple[str, list[str]]:
    """One query: the current table FULL OUTER JOIN a full export typed the same way, on the
    key; a row differs when any typed column or the set of attribute names differs (one
    row comparison, so the statement grows by a few dozen bytes per column). Rows: up to
    ``examples`` keys per kind (missing / extra / different; one ``same`` row carries the
    totals when nothing differs) with ``kind, k, n_kind, n_current, n_export``. Which columns
    differ for the ``different`` examples: :func:`compare_details_statements`. Returns
    (sql, the compared column names)."""
    checked: list[ColumnPlan | None] = [*plans, None]
    left = ", ".join(_cmp("c", p, f"c.{quote_ident(p.column)}" if p else "") for p in checked)
    right = ", ".join(_cmp("e", p, f"e.{quote_ident(p.column)}" if p else "") for p in checked)
    sql = (
        f"WITH e AS ({_typed_export(n, plans, key_attributes, export_id)}), "
        f"d AS (SELECT c._ddb_key AS c_key, e._ddb_key AS e_key, coalesce(c._ddb_key, e._ddb_key) AS k, "
        f"CASE WHEN c._ddb_key IS NULL THEN 'missing' WHEN e._ddb_key IS NULL THEN 'extra' "
        f"WHEN ROW({left}) IS DISTINCT FROM ROW({right}) THEN 'different' ELSE 'same' END AS kind "
        f"FROM {n.current} AS c FULL OUTER JOIN e ON c._ddb_key = e._ddb_key), "
        f"r AS (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY k) AS i, "
        f"count(*) OVER (PARTITION BY kind) AS n_kind, count(c_key) OVER () AS n_current, "
        f"count(e_key) OVER () AS n_export FROM d) "
        f"SELECT kind, k, n_kind, n_current, n_export FROM r "
        f"WHERE (kind <> 'same' AND i <= {int(examples)}) OR (kind = 'same' AND i = 1) ORDER BY kind, k"
    )
    return sql, [p.column for p in plans] + ["(attributes)"]


def compare_details_statements(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    export_id: str,
    keys: Sequence[str],
    budget: int = STATEMENT_BUDGET,
) -> list[tuple[str, list[str]]]:
    """For the given keys (found on both sides by :func:`compare_sql`), which columns differ
    and their two values as text: (sql, column names) pairs, columns split so that each
    statement stays under ``budget`` bytes. Rows: ``k``, then per column a flag and the two
    values."""
    in_keys = ", ".join(sql_literal(k) for k in keys)
    checked: list[ColumnPlan | None] = [*plans, None]
    pieces = []
    for p in checked:
        c, e = (_cmp(side, p, f"{side}.{quote_ident(p.column)}" if p else "") for side in "ce")
        flag = f"(({c}) IS DISTINCT FROM ({e}))"
        if p is None:
            cv = f"json_format(CAST({c} AS json))"
            ev = f"json_format(CAST({e} AS json))"
        else:
            cv, ev = _text_sql(p, c), _text_sql(p, e)
        pieces.append(
            (
                p.column if p else "(attributes)",
                f"{flag}, CASE WHEN {flag} THEN {cv} END, CASE WHEN {flag} THEN {ev} END",
                p,
            )
        )
    out = []
    chunk: list[tuple[str, str, ColumnPlan | None]] = []
    size = 0
    for piece in pieces:
        n_bytes = len(piece[1].encode("utf-8")) + 300
        if chunk and size + n_bytes > budget // 2:
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(piece)
        size += n_bytes
    if chunk:
        out.append(chunk)
    statements = []
    for part in out:
        chosen = [p for _, _, p in part if p is not None]
        export = _typed_export(n, chosen, key_attributes, export_id)
        statements.append(
            (
                f"WITH e AS (SELECT * FROM ({export}) WHERE _ddb_key IN ({in_keys})) "
                f"SELECT c._ddb_key AS k, {', '.join(x for _, x, _ in part)} "
                f"FROM {n.current} AS c JOIN e ON c._ddb_key = e._ddb_key "
                f"WHERE c._ddb_key IN ({in_keys}) ORDER BY k",
                [name for name, _, _ in part],
            )
        )
    return statements
