"""Athena SQL for typed snapshots: number shapes, attribute discovery, typed values, CTAS.

Holds the Glue constants and ``UnsupportedOnAthena``, the SQL that reads a number's shape and
whether it fits DECIMAL(38, s) (``fits_sql``), the discovery query over every raw line
(``discovery_sql``) and its rows as ``AttributeStats`` (``stats_from_rows``), the typed value
of one planned column (``value_sql``) and the CTAS of a typed snapshot (``ctas_sql``). SQL
generation only; :mod:`ddb_assets.tables.athena_engine` runs it and manages the catalog.
"""

from __future__ import annotations

import datetime as dt

from ddb_assets.sql.identifiers import qualified, quote_ident
from ddb_assets.sql.literals import date_literal, sql_literal
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_RAW,
    ROLE_TYPE,
    AttributeStats,
    ColumnPlan,
)
from ddb_assets.tables.types import (
    DECIMAL_PRECISION,
    DYNAMODB_TYPES,
    TypeSpec,
)

COLUMNS_PARAMETER = "ddb_assets.columns"
RAW_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class UnsupportedOnAthena(ValueError):
    """The request cannot be served by the Athena engine (see module docs)."""


_NUM_RE = r"^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$"


def _shape_sql(x: str) -> tuple[str, str]:
    """Athena SQL for (integer digits, fraction digits) of number text ``x``."""
    ip = f"coalesce(regexp_extract({x}, '{_NUM_RE}', 1), '')"
    fp = f"coalesce(regexp_extract({x}, '{_NUM_RE}', 2), '')"
    ep = f"coalesce(TRY_CAST(regexp_extract({x}, '{_NUM_RE}', 3) AS bigint), 0)"
    d = f"({ip} || {fp})"
    d1 = f"regexp_replace({d}, '^0+', '')"
    p1 = f"(length({ip}) + {ep} - (length({d}) - length({d1})))"
    d2 = f"regexp_replace({d1}, '0+$', '')"
    i = f"(CASE WHEN {d2} = '' THEN 0 ELSE greatest({p1}, 0) END)"
    s = f"(CASE WHEN {d2} = '' THEN 0 ELSE greatest(length({d2}) - {p1}, 0) END)"
    return i, s


def _fits_sql(x: str, scale: int | str) -> str:
    """Whether number text ``x`` fits DECIMAL(38, ``scale``); ``scale`` may be SQL."""
    i, s = _shape_sql(x)
    return f"({i} <= {DECIMAL_PRECISION} - ({scale}) AND {s} <= ({scale}))"


def fits_sql(plans, item: str) -> str | None:
    """One ``map(varchar, boolean)`` expression: for every attribute whose numbers need a
    fit check, whether the item's number (N) or every element of its set (NS) fits the
    column's DECIMAL(38, s). ``item`` (a ``map(varchar, json)`` column) is read inside one
    lambda per tag, so the long shape expression appears at most twice per statement
    instead of once or twice per attribute: this keeps a statement over a table with
    hundreds of such attributes far below Athena's 262,144-byte limit. ``None`` when no
    attribute needs one. :func:`value_sql` reads it with ``element_at(fits, attribute)``."""
    scales: dict[str, dict[str, int]] = {"N": {}, "NS": {}}
    for p in plans:
        if p.override_type or p.source_tag not in scales or p.decimal_scale is None:
            continue
        if p.role == ROLE_RAW or p.needs_fit_check:
            scales[p.source_tag][p.attribute] = p.decimal_scale
    parts = []
    for tag, by_attr in scales.items():
        if not by_attr:
            continue
        entries = ", ".join(f"ROW({sql_literal(a)}, {s})" for a, s in sorted(by_attr.items()))
        v = f"element_at({item}, e[1])"
        if tag == "N":
            check = _fits_sql(f"json_extract_scalar({v}, '$.N')", "e[2]")
        else:
            xs = f"CAST(json_extract({v}, '$.NS') AS array(varchar))"
            check = f"all_match({xs}, n -> {_fits_sql('n', 'e[2]')})"
        parts.append(f"map_from_entries(transform(ARRAY[{entries}], e -> ROW(e[1], {check})))")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"map_concat({', '.join(parts)})"


def discovery_sql(
    database: str, raw_table: str, snapshot_date: dt.date, source: str | None = None
) -> str:
    """``source``: the relation the raw lines come from (default: the raw table itself; an
    ION export's is :func:`~ddb_assets.tables.athena_ion.snapshot_source_sql`)."""
    i, s = _shape_sql("x")
    fit = DECIMAL_PRECISION
    return f"""WITH items AS (
  SELECT CAST(json_extract(line, '$.Item') AS map(varchar, json)) AS item
  FROM {source or qualified(database, raw_table)} WHERE {quote_ident(PARTITION_COLUMN)} = {date_literal(snapshot_date)}
), entries AS (
  SELECT a.attribute, a.value FROM items CROSS JOIN UNNEST(item) AS a(attribute, value)
), tagged AS (
  SELECT attribute, e.tag, e.v FROM entries CROSS JOIN UNNEST(CAST(value AS map(varchar, json))) AS e(tag, v)
), nums AS (
  SELECT attribute, tag, n.x, n.ord FROM tagged CROSS JOIN UNNEST(
    CASE WHEN tag = 'N' THEN ARRAY[CAST(v AS varchar)]
         WHEN tag = 'NS' AND json_array_length(v) > 0 THEN CAST(v AS array(varchar))
         ELSE ARRAY[CAST(NULL AS varchar)] END) WITH ORDINALITY AS n(x, ord)
), shaped AS (
  SELECT attribute, tag, ord, x, {i} AS int_digits, {s} AS scale FROM nums
)
SELECT attribute, tag, count_if(ord = 1) AS items, count(x) AS numbers,
  max(CASE WHEN int_digits + scale <= {fit} THEN int_digits END) AS max_int_digits,
  max(CASE WHEN int_digits + scale <= {fit} THEN scale END) AS max_scale,
  count_if(int_digits + scale > {fit}) AS unfit
FROM shaped GROUP BY attribute, tag ORDER BY attribute, tag"""


def stats_from_rows(rows) -> list[AttributeStats]:
    stats: dict[str, AttributeStats] = {}
    for attr, tag, items, numbers, max_int, max_scale, unfit in rows:
        if tag not in DYNAMODB_TYPES:
            raise ValueError(f"attribute {attr!r} has an unknown DynamoDB type tag {tag!r}")
        st = stats.setdefault(attr, AttributeStats(attr))
        st.type_counts[tag] = int(items)
        st.numbers += int(numbers or 0)
        st.unfit_alone += int(unfit or 0)
        if max_int is not None:
            st.max_int_digits = max(st.max_int_digits or 0, int(max_int))
        if max_scale is not None:
            st.max_scale = max(st.max_scale or 0, int(max_scale))
    return sorted(stats.values(), key=lambda s: s.attribute)


def _text_sql(w: str, tag: str | None) -> str:
    if tag in ("S", "N", "B", "BOOL"):
        return f"json_extract_scalar({w}, '$.{tag}')"
    parts = [f"json_extract_scalar({w}, '$.{t}')" for t in ("S", "N", "B", "BOOL")]
    parts += [f"json_format(json_extract({w}, '$.{t}'))" for t in ("SS", "NS", "BS", "M", "L")]
    return "coalesce(" + ", ".join(parts) + ")"


def _cast_sql(text: str, target: TypeSpec, tag: str | None, w: str) -> str:
    if target.name == "timestamp":
        return f"CAST(from_iso8601_timestamp({text}) AT TIME ZONE 'UTC' AS timestamp)"
    if target.name == "date":
        # Trino's from_iso8601_date refuses a timestamp ('2024-01-01T10:00:00Z'): such a value
        # is read as the date it is on, in its own offset (as the DuckDB engine's CAST reads
        # it); text that is neither still fails the load.
        return (
            f"coalesce(try(from_iso8601_date({text})), "
            f"CAST(from_iso8601_timestamp({text}) AS date))"
        )
    if target.name == "json":
        return f"json_format(json_parse({text}))"
    if target.name == "binary":
        return f"from_base64({text})"
    if target.name in ("struct", "array"):
        return f"CAST(json_parse({text}) AS {target.athena()})"
    return f"CAST({text} AS {target.athena()})"


def value_sql(p: ColumnPlan, w: str, fits: str | None = None) -> str:
    """Athena SQL for one column; ``w`` is the attribute's DynamoDB JSON value (json);
    ``fits`` the item's :func:`fits_sql` map (a column), used for the fit checks when given."""
    if p.role == ROLE_TYPE:
        return f"element_at(map_keys(CAST({w} AS map(varchar, json))), 1)"
    s = p.decimal_scale

    def fit(x: str, tag: str) -> str:
        if fits is not None:
            return f"element_at({fits}, {sql_literal(p.attribute)})"
        assert s is not None, f"{p.column}: a fit check needs the column's decimal scale"
        if tag == "N":
            return _fits_sql(x, s)
        return f"all_match({x}, n -> {_fits_sql('n', s)})"

    if p.role == ROLE_RAW:
        if p.source_tag == "N":
            x = f"json_extract_scalar({w}, '$.N')"
            return f"CASE WHEN NOT {fit(x, 'N')} THEN {x} END"
        xs = f"CAST(json_extract({w}, '$.NS') AS array(varchar))"
        return f"CASE WHEN NOT {fit(xs, 'NS')} THEN json_format(json_extract({w}, '$.NS')) END"
    tag = p.source_tag
    if p.override_type:
        return _cast_sql(_text_sql(w, tag), p.type, tag, w)
    if tag is None:
        if len([t for t in p.dynamodb_types if t != "NULL"]) > 1:
            return _text_sql(w, None)
        return "CAST(NULL AS varchar)"
    if tag == "S":
        return f"json_extract_scalar({w}, '$.S')"
    if tag == "N":
        x = f"json_extract_scalar({w}, '$.N')"
        cast = f"CAST({x} AS {p.type.athena()})"
        return f"CASE WHEN {fit(x, 'N')} THEN {cast} END" if p.needs_fit_check else cast
    if tag == "BOOL":
        return f"CAST(json_extract_scalar({w}, '$.BOOL') AS boolean)"
    if tag == "B":
        return f"from_base64(json_extract_scalar({w}, '$.B'))"
    if tag == "SS":
        return f"CAST(json_extract({w}, '$.SS') AS array(varchar))"
    if tag == "NS":
        xs = f"CAST(json_extract({w}, '$.NS') AS array(varchar))"
        cast = f"CAST({xs} AS {p.type.athena()})"
        if p.needs_fit_check:
            return f"CASE WHEN {fit(xs, 'NS')} THEN {cast} END"
        return cast
    if tag == "BS":
        return f"transform(CAST(json_extract({w}, '$.BS') AS array(varchar)), b -> from_base64(b))"
    if tag in ("M", "L"):
        return f"json_format(json_extract({w}, '$.{tag}'))"
    raise ValueError(f"no conversion for DynamoDB type {tag!r}")


def ctas_sql(
    database: str,
    ctas_table: str,
    raw_table: str,
    snapshot_date: dt.date,
    plans: list[ColumnPlan],
    location: str,
    source: str | None = None,
) -> str:
    attrs = sorted({p.attribute for p in plans})
    alias = {a: f"a{i}" for i, a in enumerate(attrs, 1)}
    fits = fits_sql(plans, "item")
    inner = (
        ", ".join(
            [f"element_at(item, {sql_literal(a)}) AS {alias[a]}" for a in attrs]
            + ([f"{fits} AS fits"] if fits else [])
        )
        or "1 AS one"
    )
    cols = ", ".join(
        f"{value_sql(p, alias[p.attribute], 'fits' if fits else None)} AS {quote_ident(p.physical_column)}"
        for p in plans
    )
    if not cols:
        cols = 'CAST(NULL AS varchar) AS "_empty"'
    return (
        f"CREATE TABLE {qualified(database, ctas_table)} WITH (format = 'PARQUET', "
        f"write_compression = 'ZSTD', external_location = {sql_literal(location)}) AS "
        f"SELECT {cols} FROM (SELECT {inner} FROM ("
        f"SELECT CAST(json_extract(line, '$.Item') AS map(varchar, json)) AS item "
        f"FROM {source or qualified(database, raw_table)} "
        f"WHERE {quote_ident(PARTITION_COLUMN)} = {date_literal(snapshot_date)}))"
    )
