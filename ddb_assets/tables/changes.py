"""Hooks the change-history tables (:mod:`ddb_assets.incremental`) use to type item images
with exactly the snapshot tables' rules: the same discovery, type mapping, conflict and
unfit-number handling, naming and per-engine value SQL. Nothing is copied; every function
here calls into :mod:`ddb_assets.tables.plan`, :mod:`ddb_assets.tables.duckdb` and ``athena_engine``.

Images are fed to discovery as ``{"Item": <image>}`` lines (the shape of a full export), so
the one-scan discovery of the snapshot loader applies unchanged.

Stats are cumulative over a chain (merged window by window) so a column's type only ever
widens, like the snapshot table's.

DuckDB value SQL reads an attribute as a STRUCT with one field per DynamoDB type tag (the
shape the snapshot loader parses each line into): :func:`tag_struct_sql` /
:func:`tag_structs_sql` turn DynamoDB JSON into it, :func:`value_sql_duckdb` types it with
the snapshot loader's own public :func:`ddb_assets.tables.duckdb.value_sql`
(``ddb_assets_tests/test_incremental_typing.py`` checks the result against the snapshot
loader, value for value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from ddb_assets.tables.plan import AttributeStats, ColumnPlan, TypeConflict, plan_columns
from ddb_assets.tables.types import DYNAMODB_TYPES, ColumnOverride, TypeSpec

# How ``json_transform`` reads each DynamoDB type tag of a value (M / L stay JSON: the value
# SQL renders them to plain JSON itself).
_TAG_TYPES = {
    "S": "VARCHAR",
    "N": "VARCHAR",
    "B": "VARCHAR",
    "BOOL": "BOOLEAN",
    "NULL": "BOOLEAN",
    "SS": ["VARCHAR"],
    "NS": ["VARCHAR"],
    "BS": ["VARCHAR"],
    "M": "JSON",
    "L": "JSON",
}
# Tag names only (no attribute name ever): safe as a SQL literal.
TAG_STRUCTURE = json.dumps({t: _TAG_TYPES[t] for t in DYNAMODB_TYPES}, separators=(",", ":"))


# --- public hooks -----------------------------------------------------------------------


def prepare_duckdb(con) -> None:
    """The macros and UDFs the DuckDB value SQL needs (idempotent per connection)."""
    from ddb_assets.tables.duckdb import prepare

    prepare(con)


def discover_image_stats(
    con, image_files: Sequence[str], guess: Sequence[str] = ()
) -> list[AttributeStats]:
    """Full-pass attribute statistics of gzip JSON-lines files of ``{"Item": image}``."""
    from ddb_assets.tables.duckdb import discover_attributes

    return discover_attributes(con, list(image_files), guess)


def tag_struct_sql(x: str) -> str:
    """``x`` (SQL of one attribute's DynamoDB JSON, e.g. ``{"N": "1"}``, or NULL) as the
    STRUCT :func:`value_sql_duckdb` reads: one field per type tag."""
    return f"json_transform({x}, '{TAG_STRUCTURE}')"


def tag_structs_sql(xs: str) -> str:
    """Like :func:`tag_struct_sql` for a LIST of DynamoDB JSON values (``json_extract`` with
    a list of paths): index the result with ``(xs)[i]``."""
    return f"list_transform({xs}, lambda v: json_transform(v, '{TAG_STRUCTURE}'))"


def merge_stats(
    old: Iterable[AttributeStats], new: Iterable[AttributeStats]
) -> list[AttributeStats]:
    """Cumulative statistics: type counts add up, number shapes take the widest."""
    out: dict[str, AttributeStats] = {}
    for st in list(old) + list(new):
        cur = out.get(st.attribute)
        if cur is None:
            out[st.attribute] = AttributeStats(
                st.attribute,
                dict(st.type_counts),
                st.numbers,
                st.max_int_digits,
                st.max_scale,
                st.unfit_alone,
            )
            continue
        for tag, n in st.type_counts.items():
            cur.type_counts[tag] = cur.type_counts.get(tag, 0) + n
        cur.numbers += st.numbers
        cur.unfit_alone += st.unfit_alone
        if st.max_int_digits is not None:
            cur.max_int_digits = max(cur.max_int_digits or 0, st.max_int_digits)
        if st.max_scale is not None:
            cur.max_scale = max(cur.max_scale or 0, st.max_scale)
    return sorted(out.values(), key=lambda s: s.attribute)


def stats_to_json(stats: Iterable[AttributeStats]) -> str:
    return json.dumps([st.__dict__ for st in stats], sort_keys=True)


def stats_from_json(text: str | None) -> list[AttributeStats]:
    return [AttributeStats(**d) for d in json.loads(text or "[]")]


def plan_image_columns(
    stats: Iterable[AttributeStats],
    overrides: Mapping[str, ColumnOverride] | None = None,
    *,
    history: Mapping[str, str] | None = None,
    previous_types: Mapping[str, TypeSpec] | None = None,
) -> tuple[list[ColumnPlan], list[TypeConflict]]:
    """The snapshot table's column plan, for a set of images (see :func:`plan_columns`)."""
    return plan_columns(stats, overrides, history=history, previous_types=previous_types)


def value_sql_duckdb(plan: ColumnPlan, s: str) -> str:
    """DuckDB SQL for one typed column from ``s``, the attribute's value as a tag STRUCT
    (:func:`tag_struct_sql`; NULL when the item lacks the attribute). ``s`` is repeated in
    the output: pass a column or a parenthesised list element, not an expensive expression."""
    # value_sql(plan, x, tags, typed, keys): x a STRUCT with a field per tag in tags; typed
    # None (M / L through the exact codec UDF, no sampled structure); keys only collects M
    # keys of a typed structure, so it stays empty here.
    from ddb_assets.tables.duckdb import value_sql

    keys: list[str] = []
    sql = value_sql(plan, f"({s})", DYNAMODB_TYPES, None, keys)
    if keys:  # pragma: no cover - only with a typed structure
        raise RuntimeError("value_sql asked for bound keys without a typed structure")
    return sql


def value_sql_duckdb_json(plan: ColumnPlan, x: str) -> str:
    """Like :func:`value_sql_duckdb` from ``x``, the attribute's DynamoDB JSON (or NULL)."""
    return value_sql_duckdb(plan, tag_struct_sql(x))


def value_sql_athena(plan: ColumnPlan, w: str) -> str:
    """Athena SQL for one typed column from ``w``, the attribute's DynamoDB JSON (json)."""
    from ddb_assets.tables.athena_engine import value_sql

    return value_sql(plan, w)
