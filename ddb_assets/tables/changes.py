"""Hooks the change-history tables (:mod:`ddb_assets.incremental`) use to type item images
with exactly the snapshot tables' rules: the same discovery, type mapping, conflict and
unfit-number handling, naming and per-engine value SQL. Nothing is copied; every function
here calls into :mod:`ddb_assets.tables.plan`, ``duckdb_engine`` and ``athena_engine``.

Images are fed to discovery as ``{"Item": <image>}`` lines (the shape of a full export), so
the one-scan discovery of the snapshot loader applies unchanged.

Stats are cumulative over a chain (merged window by window) so a column's type only ever
widens, like the snapshot table's.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping, Sequence

from ddb_assets.tables.plan import AttributeStats, ColumnPlan, TypeConflict, plan_columns
from ddb_assets.tables.types import ColumnOverride, TypeSpec


def prepare_duckdb(con) -> None:
    """The macros and UDFs the DuckDB value SQL needs (idempotent per connection)."""
    from ddb_assets.tables.duckdb_engine import _prepare

    _prepare(con)


def discover_image_stats(con, image_files: Sequence[str], guess: Sequence[str] = ()) -> list[AttributeStats]:
    """Full-pass attribute statistics of gzip JSON-lines files of ``{"Item": image}``."""
    from ddb_assets.tables.duckdb_engine import discover_attributes

    return discover_attributes(con, list(image_files), guess)


def merge_stats(old: Iterable[AttributeStats], new: Iterable[AttributeStats]) -> list[AttributeStats]:
    """Cumulative statistics: type counts add up, number shapes take the widest."""
    out: dict[str, AttributeStats] = {}
    for st in list(old) + list(new):
        cur = out.get(st.attribute)
        if cur is None:
            out[st.attribute] = AttributeStats(st.attribute, dict(st.type_counts), st.numbers,
                                               st.max_int_digits, st.max_scale, st.unfit_alone)
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


def value_sql_duckdb(plan: ColumnPlan, x: str) -> str:
    """DuckDB SQL for one typed column from ``x``, the attribute's DynamoDB JSON (or NULL)."""
    from ddb_assets.tables.duckdb_engine import _value_sql

    return _value_sql(plan, x)


def value_sql_athena(plan: ColumnPlan, w: str) -> str:
    """Athena SQL for one typed column from ``w``, the attribute's DynamoDB JSON (json)."""
    from ddb_assets.tables.athena_engine import value_sql

    return value_sql(plan, w)
