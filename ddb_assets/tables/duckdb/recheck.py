"""The one-pass load's proof: after the write, the statistics of every row (the Parquet
writer's own, or the typed columns read back: :func:`direct_stats`) must give the plan the
sample gave (:func:`plan_key`); otherwise :class:`GuessMissed` rolls the load back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.tables.plan import (
    ROLE_VALUE,
    AttributeStats,
    ColumnPlan,
)


class GuessMissed(Exception):
    """The one-pass load's guess does not describe the export (its transaction is rolled back)."""


def plan_key(p: ColumnPlan) -> tuple:
    return (
        p.column,
        p.type.canonical(),
        p.attribute,
        p.role,
        tuple(p.dynamodb_types),
        p.source_tag,
        p.decimal_scale,
        p.needs_fit_check,
        p.override_type,
    )


def _footer_values(stats: Mapping, rows: int, p: ColumnPlan) -> tuple | None:
    """(values, numbers, largest absolute number) of plan ``p``'s column from the Parquet
    writer's own statistics of the file (``COPY ... RETURN_STATS``, counted over every
    row), or None when they are missing or inexact (then the file is read)."""
    column = quote_ident(p.physical_column)
    top = stats.get(column)
    if top is None or "null_count" not in top:
        return None
    values = rows - int(top["null_count"])
    if p.source_tag not in ("N", "NS"):
        return values, None, None
    num = top if p.source_tag == "N" else stats.get(f'{column}."element"')
    if num is None or "null_count" not in num or "num_values" not in num:
        return None
    numbers = values if p.source_tag == "N" else int(num["num_values"]) - int(num["null_count"])
    if not numbers:
        return values, 0, None
    if num.get("min_is_exact") != "true" or num.get("max_is_exact") != "true":
        return None
    from decimal import Decimal, InvalidOperation

    try:
        return values, numbers, max(abs(Decimal(num["min"])), abs(Decimal(num["max"])))
    except (KeyError, InvalidOperation):
        return None


def direct_stats(
    con, written: str, plans, sampled, footer: tuple[int, Mapping] | None = None
) -> list[AttributeStats]:
    """Every row's statistics after a one-pass write, read from the typed columns of the
    snapshot's new files (``written``, a FROM item; every number was checked to fit its
    column exactly, so the column holds its exact value): per attribute the count of its
    value tag, and for N / NS the count of numbers, the most integer digits and the largest
    scale (only scales between the sample's and the column's are tested: the sample's is a
    lower bound, the column's an upper one). The tags themselves are the sample's (the row length check allowed no
    other). Kept from the sample: a dropped attribute's statistics, and the count of NULL
    values of an attribute whose column cannot tell them from an absent attribute (only
    type conflicts report counts, and those take the staged load).

    ``footer``: (rows, the Parquet writer's statistics) of the one file written: the counts
    and largest numbers come from them (no read of the file) when no scale needs testing."""
    by_attr = {p.attribute: p for p in plans if p.role == ROLE_VALUE}
    if footer is not None:
        from_footer = direct_stats_from_footer(by_attr, sampled, *footer)
        if from_footer is not None:
            return from_footer
    out = [dataclasses.replace(st, type_counts=dict(st.type_counts)) for st in sampled]
    aggs: list[str] = []
    reads: list = []  # (stats, plan, position of its count, its number shapes (SQL, first scale tested))
    for st in out:
        p = by_attr.get(st.attribute)
        if p is None or p.source_tag is None:
            continue
        col = quote_ident(p.physical)
        scale = p.decimal_scale or 0
        low = min(st.max_scale or 0, scale)
        shapes = [f"count({col})", f"max(abs({col}))"] + [
            f"bool_and({col} = round({col}, {k}))" for k in range(low, scale)
        ]
        reads.append((st, p, len(aggs), shapes, low))
        aggs.append(f"count({col})")
        if p.source_tag == "N":
            aggs += shapes
    row = con.execute(f"SELECT {', '.join(aggs)} FROM {written}").fetchone() if aggs else ()
    for st, p, at, shapes, low in reads:
        st.type_counts[p.source_tag] = int(row[at])
        if p.source_tag == "N":
            values = row[at + 1 : at + 1 + len(shapes)]
        elif p.source_tag == "NS":
            col = quote_ident(p.physical)
            values = con.execute(
                f"SELECT {', '.join(shapes)} FROM (SELECT unnest({col}) AS {col} FROM {written})"
            ).fetchone()
        else:
            continue
        count, biggest, *whole = values
        st.numbers, st.unfit_alone = int(count), 0
        st.max_int_digits = (
            None if biggest is None else (len(str(int(biggest))) if biggest >= 1 else 0)
        )
        st.max_scale = (
            None
            if biggest is None
            else next((low + k for k, ok in enumerate(whole) if ok), p.decimal_scale or 0)
        )
    return out


def direct_stats_from_footer(
    by_attr, sampled, rows: int, footer: Mapping
) -> list[AttributeStats] | None:
    """:func:`direct_stats` from the writer's statistics; None when a column needs its
    file read."""
    out = [dataclasses.replace(st, type_counts=dict(st.type_counts)) for st in sampled]
    for st in out:
        p = by_attr.get(st.attribute)
        if p is None or p.source_tag is None:
            continue
        if p.source_tag in ("N", "NS") and min(st.max_scale or 0, p.decimal_scale or 0) < (
            p.decimal_scale or 0
        ):
            return None  # a scale to test: only the values tell
        got = _footer_values(footer, rows, p)
        if got is None:
            return None
        values, numbers, biggest = got
        st.type_counts[p.source_tag] = values
        if p.source_tag in ("N", "NS"):
            st.numbers, st.unfit_alone = numbers, 0
            st.max_int_digits = (
                None if biggest is None else (len(str(int(biggest))) if biggest >= 1 else 0)
            )
            st.max_scale = None if biggest is None else (p.decimal_scale or 0)
    return out
