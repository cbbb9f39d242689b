"""Compare the DuckDB chain's current table with a full export of the same table.

Holds ``compare_with_full_export``: it loads a full export's items into a scratch table typed
by the chain's current column plan and reports the keys missing from or extra in the current
table and the keys whose values differ (with examples), as a ``Comparison``. Part of the DuckDB
chain described in ``ddb_assets.incremental.duckdb_chain``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence

from ddb_assets import table_names
from ddb_assets.incremental.duckdb_layout import (
    Names,
    exists,
    insert_items,
    load_plan,
    stage_items,
)
from ddb_assets.incremental.model import (
    COMPARE_EXAMPLES,
    Comparison,
)
from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.tables import changes as tch
from ddb_assets.tables.plan import ROLE_VALUE, ColumnPlan
from ddb_assets.tables.types import ColumnOverride, parse_type

_CMP_EXPORT = "_ddb_cmp_export"
_CMP_DIFF = "_ddb_cmp_diff"


def _plans_now(con, n: Names, overrides: Mapping[str, ColumnOverride]) -> list[ColumnPlan]:
    """The column plans the current table was typed with, re-derived from the stored
    cumulative statistics (the same inputs as the last :func:`evolve`, so the same plans)."""
    _, stats, cols = load_plan(con, n)
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
    if not exists(con, schema, table_names.current(table)):
        raise ValueError(f"{n.current} does not exist: the chain is not seeded")
    plans = _plans_now(con, n, overrides or {})
    tch.prepare_duckdb(con)
    with tempfile.TemporaryDirectory(prefix="ddb_cmp_", dir=work_dir) as tmp:
        staged = os.path.join(tmp, "export.json.gz")
        count = stage_items(data_files, export_format, key_attributes, staged)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_CMP_EXPORT} AS SELECT * FROM {n.current} LIMIT 0"
        )
        try:
            insert_items(con, _CMP_EXPORT, plans, staged, None)
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
