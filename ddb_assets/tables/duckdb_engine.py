"""Typed snapshots of a DynamoDB export in a local DuckDB warehouse.

Layout per DynamoDB table ``T`` in schema ``S``:

* ``"S"."T__snapshots"``: every snapshot, partitioned by the ``snapshot_date DATE`` column;
* ``"S"."T__columns"``: per snapshot, each column's name, physical column, type, source
  attribute, role and the DynamoDB types seen (the column -> attribute mapping);
* ``"S"."T"``: a view of the latest snapshot with that snapshot's columns (what analysts use).

:func:`load_snapshot_duckdb` reads the gzip export directly with DuckDB
(``read_ndjson_objects``: one JSON value per line, no schema inference, streamed), in two
passes: a full pass that learns every attribute, its DynamoDB types and the shape of its
numbers; then one typed ``INSERT ... SELECT`` with explicit types. Replacing a snapshot
(ALTER for new columns, DELETE, INSERT, metadata, view) happens in one transaction, so a
failed load leaves the previous state and the view untouched. ION exports are first
transcoded, file by file and streamed, to DYNAMODB_JSON (:mod:`ddb_assets.tables.codec`).

Attribute names never reach SQL text: JSON paths are bound as parameters; identifiers go
through :func:`ddb_assets.sql.identifiers.quote_ident`.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import tempfile
from typing import Mapping, Sequence

from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.tables import codec
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_RAW, ROLE_TYPE, AttributeStats, ColumnInfo, ColumnPlan, SnapshotResult,
    UnfitNumbers, diff_columns, plan_columns,
)
from ddb_assets.tables.types import DECIMAL_PRECISION, DYNAMODB_TYPES, ColumnOverride, TypeSpec, parse_type

EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")

_MACROS = [
    r"""CREATE OR REPLACE TEMP MACRO _ddb_numparts(x) AS
        regexp_extract(x, '^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$', ['i', 'f', 'e'])""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape3(d1, p1) AS
        CASE WHEN rtrim(d1, '0') = '' THEN {'i': 0, 's': 0}
             ELSE {'i': greatest(p1, 0), 's': greatest(length(rtrim(d1, '0')) - p1, 0)} END""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape2(d, p) AS
        _ddb_numshape3(ltrim(d, '0'), p - (length(d) - length(ltrim(d, '0'))))""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape1(r) AS
        _ddb_numshape2(r.i || r.f, length(r.i) + coalesce(TRY_CAST(nullif(r.e, '') AS BIGINT), 0))""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape_slow(x) AS _ddb_numshape1(_ddb_numparts(x))""",
    # Plain decimals (no exponent): integer digits without leading zeros, fraction digits
    # without trailing zeros; anything else takes the exact regex path.
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape_fast(a, p) AS
        CASE WHEN p = 0 THEN {'i': length(ltrim(a, '0')), 's': 0}
             ELSE {'i': length(ltrim(a[1:p - 1], '0')), 's': length(rtrim(a[p + 1:], '0'))} END""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape(x) AS
        CASE WHEN strpos(x, 'E') = 0 AND strpos(x, 'e') = 0
             THEN _ddb_numshape_fast(ltrim(x, '+-'), strpos(x, '.') - (length(x) - length(ltrim(x, '+-'))))
             ELSE _ddb_numshape_slow(x) END""",
    f"""CREATE OR REPLACE TEMP MACRO _ddb_fits(x, s) AS
        (_ddb_numshape(x).i <= {DECIMAL_PRECISION} - s AND _ddb_numshape(x).s <= s)""",
]


class ExportReadError(RuntimeError):
    """The export files cannot be read as the declared format."""


def _prepare(con) -> None:
    import duckdb

    for sql in _MACROS:
        con.execute(sql)
    for name, fn in (("_ddb_plain_json", codec.plain_json), ("_ddb_value_text", codec.value_text)):
        try:
            con.create_function(name, fn, ["VARCHAR"], "VARCHAR", side_effects=False)
        except (duckdb.CatalogException, duckdb.NotImplementedException, duckdb.InvalidInputException) as exc:
            if "already" not in str(exc).lower():
                raise


def _source_sql() -> str:
    return "read_ndjson_objects(?, compression = 'gzip', maximum_object_size = 67108864)"


def _stats_pass(con, files: Sequence[str], attributes: Sequence[str], known: Sequence[str]):
    """One scan: per-attribute type counts and N shapes for ``attributes``, plus the names
    of attributes present in the data but not in ``known``."""
    fit = DECIMAL_PRECISION
    l1 = ", ".join(f"json_keys(v[{i}])[1] AS t{i}, v[{i}] ->> 'N' AS n{i}" for i in range(1, len(attributes) + 1))
    l2 = ", ".join(f"t{i}, n{i}, _ddb_numshape(n{i}) AS z{i}" for i in range(1, len(attributes) + 1))
    aggs = [f"histogram(t{i}), count(n{i}), max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.i END), "
            f"max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.s END), count_if(z{i}.i + z{i}.s > {fit})"
            for i in range(1, len(attributes) + 1)]
    aggs.append("list_distinct(flatten(list(u) FILTER (WHERE len(u) > 0)))")
    sql = (f"SELECT {', '.join(aggs)} FROM (SELECT {l2 + ', ' if l2 else ''}u FROM ("
           f"SELECT {l1 + ', ' if l1 else ''}u FROM (SELECT json_extract(json, ?) AS v, "
           f"list_filter(json_keys(json, '/Item'), lambda a: NOT list_contains(?, a)) AS u "
           f"FROM {_source_sql()})))")
    try:
        row = con.execute(sql, [[_json_pointer(a) for a in attributes], list(known), list(files)]).fetchone()
    except Exception as exc:
        raise ExportReadError(f"cannot read the export as DYNAMODB_JSON: {exc}") from exc
    stats = []
    for i, attr in enumerate(attributes):
        hist, numbers, max_int, max_scale, unfit = row[5 * i: 5 * i + 5]
        hist = dict(hist or {})
        if not hist:
            continue  # a guessed attribute that is not in this export
        for tag in hist:
            if tag not in DYNAMODB_TYPES:
                raise ExportReadError(f"attribute {attr!r} has an unknown DynamoDB type tag {tag!r}")
        stats.append(AttributeStats(attr, {t: int(c) for t, c in sorted(hist.items())}, int(numbers or 0),
                                    None if max_int is None else int(max_int),
                                    None if max_scale is None else int(max_scale), int(unfit or 0)))
    with_sets = [st for st in stats if "NS" in st.type_counts]
    if with_sets:
        _number_set_stats(con, files, with_sets)
    return stats, sorted(row[-1] or [])


def _number_set_stats(con, files: Sequence[str], stats: list[AttributeStats]) -> None:
    """Number shapes of NS elements (one more scan, only when number sets exist)."""
    fit = DECIMAL_PRECISION
    elems = ", ".join(f"unnest(json_transform(v[{i}] -> 'NS', '[\"VARCHAR\"]')) AS x{i}"
                      for i in range(1, len(stats) + 1))
    aggs = ", ".join(
        f"count(x{i}), max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.i END), "
        f"max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.s END), count_if(z{i}.i + z{i}.s > {fit})"
        for i in range(1, len(stats) + 1))
    shapes = ", ".join(f"x{i}, _ddb_numshape(x{i}) AS z{i}" for i in range(1, len(stats) + 1))
    sql = (f"SELECT {aggs} FROM (SELECT {shapes} FROM (SELECT {elems} FROM ("
           f"SELECT json_extract(json, ?) AS v FROM {_source_sql()})))")
    row = con.execute(sql, [[_json_pointer(st.attribute) for st in stats], list(files)]).fetchone()
    for i, st in enumerate(stats):
        count, max_int, max_scale, unfit = row[4 * i: 4 * i + 4]
        st.numbers += int(count or 0)
        st.unfit_alone += int(unfit or 0)
        if max_int is not None:
            st.max_int_digits = max(st.max_int_digits or 0, int(max_int))
        if max_scale is not None:
            st.max_scale = max(st.max_scale or 0, int(max_scale))


def discover_attributes(con, files: Sequence[str], guess: Sequence[str] = ()) -> list[AttributeStats]:
    """Full pass over every item: each attribute, the DynamoDB types it appears with (and
    how often), and the shape of its numbers. ``guess`` (the attributes of the previous
    snapshot) lets the common case take one scan; attributes outside it cost one more."""
    if not files:
        return []
    guess = sorted(set(guess))
    stats, unknown = _stats_pass(con, files, guess, guess)
    if unknown:
        more, _ = _stats_pass(con, files, unknown, guess + unknown)
        stats += more
    return sorted(stats, key=lambda s: s.attribute)


def _json_pointer(attribute: str) -> str:
    return "/Item/" + attribute.replace("~", "~0").replace("/", "~1")


def _cast_text(text: str, target: TypeSpec, source_tag: str | None, x: str) -> str:
    """SQL that converts an attribute's text to an override type (strict casts)."""
    if target.name == "timestamp":
        return (f"CASE WHEN regexp_matches({text}, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') "
                f"THEN timezone('UTC', CAST({text} AS TIMESTAMPTZ)) ELSE CAST({text} AS TIMESTAMP) END")
    if target.name == "json":
        return f"CAST({text} AS JSON)"
    if target.name == "binary":
        if source_tag == "B":
            return f"from_base64({x} ->> 'B')"
        return f"CAST({text} AS BLOB)"
    if target.name in ("struct", "array"):
        return f"CAST(CAST({text} AS JSON) AS {target.duckdb()})"
    return f"CAST({text} AS {target.duckdb()})"


def _value_sql(p: ColumnPlan, x: str) -> str:
    """SQL for one column given ``x``, the attribute's DynamoDB JSON value (or NULL)."""
    if p.role == ROLE_TYPE:
        return f"json_keys({x})[1]"
    s = p.decimal_scale
    if p.role == ROLE_RAW:
        if p.source_tag == "N":
            return f"CASE WHEN NOT _ddb_fits({x} ->> 'N', {s}) THEN {x} ->> 'N' END"
        ns = f"json_transform({x} -> 'NS', '[\"VARCHAR\"]')"
        return (f"CASE WHEN NOT coalesce(list_bool_and(list_transform({ns}, lambda n: _ddb_fits(n, {s}))), true) "
                f"THEN CAST({x} -> 'NS' AS VARCHAR) END")
    tag = p.source_tag
    if p.override_type:
        if tag == "S":
            text = f"({x} ->> 'S')"
        elif tag in ("N", "BOOL"):
            text = f"({x} ->> '{tag}')"
        else:
            text = f"_ddb_value_text(CAST({x} AS VARCHAR))"
        return _cast_text(text, p.type, tag, x)
    if tag is None:
        if len([t for t in p.dynamodb_types if t != "NULL"]) > 1:
            return f"_ddb_value_text(CAST({x} AS VARCHAR))"
        return "CAST(NULL AS VARCHAR)"
    if tag == "S":
        return f"{x} ->> 'S'"
    if tag == "N":
        cast = f"CAST({x} ->> 'N' AS {p.type.duckdb()})"
        return f"CASE WHEN _ddb_fits({x} ->> 'N', {s}) THEN {cast} END" if p.needs_fit_check else cast
    if tag == "BOOL":
        return f"CAST({x} ->> 'BOOL' AS BOOLEAN)"
    if tag == "B":
        return f"from_base64({x} ->> 'B')"
    if tag == "SS":
        return f"json_transform({x} -> 'SS', '[\"VARCHAR\"]')"
    if tag == "NS":
        ns = f"json_transform({x} -> 'NS', '[\"VARCHAR\"]')"
        cast = f"CAST({ns} AS {p.type.duckdb()})"
        if p.needs_fit_check:
            return (f"CASE WHEN coalesce(list_bool_and(list_transform({ns}, lambda n: _ddb_fits(n, {s}))), true) "
                    f"THEN {cast} END")
        return cast
    if tag == "BS":
        return f"list_transform(json_transform({x} -> 'BS', '[\"VARCHAR\"]'), lambda b: from_base64(b))"
    if tag in ("M", "L"):
        return f"CAST(_ddb_plain_json(CAST({x} AS VARCHAR)) AS JSON)"
    raise ValueError(f"no conversion for DynamoDB type {tag!r}")


_META_DDL = """CREATE TABLE IF NOT EXISTS {meta} (
    snapshot_date DATE NOT NULL, ordinal INTEGER NOT NULL, column_name VARCHAR NOT NULL,
    physical_column VARCHAR NOT NULL, sql_type VARCHAR NOT NULL, physical_type VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL, role VARCHAR NOT NULL, dynamodb_types VARCHAR[],
    max_int_digits INTEGER, load_seq BIGINT NOT NULL, row_count BIGINT)"""


def load_snapshot_duckdb(
    con,
    *,
    schema: str,
    table: str,
    snapshot_date: dt.date,
    data_files: Sequence[pathlib.Path | str],
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    work_dir: pathlib.Path | str | None = None,
) -> SnapshotResult:
    """Load one export as the ``snapshot_date`` snapshot of ``schema.table`` (replacing it)."""
    validate_catalog_name(schema, "schema")
    validate_catalog_name(table, "table")
    if not isinstance(snapshot_date, dt.date) or isinstance(snapshot_date, dt.datetime):
        raise TypeError("snapshot_date must be a datetime.date")
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, got {export_format!r}")
    files = [str(f) for f in data_files]
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"export data file {f} does not exist")
    overrides = dict(overrides or {})
    with tempfile.TemporaryDirectory(prefix="ddb_ion_", dir=work_dir) as tmp:
        if export_format == "ION":
            converted = []
            for i, f in enumerate(files):
                dst = os.path.join(tmp, f"part-{i:05d}.json.gz")
                try:
                    codec.ion_to_dynamodb_json(f, dst)
                except Exception as exc:
                    raise ExportReadError(f"cannot read {f} as an ION export: {exc}") from exc
                converted.append(dst)
            files = converted
        _prepare(con)
        stats = discover_attributes(con, files, _known_attributes(con, schema, table))
        return _load(con, schema, table, snapshot_date, files, stats, overrides)


def _known_attributes(con, schema: str, table: str) -> list[str]:
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                         [schema, table + "__columns"]).fetchone()[0]
    if not exists:
        return []
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT attribute FROM {qualified(schema, table + '__columns')}").fetchall()]


def _load(con, schema, table, snapshot_date, files, stats, overrides) -> SnapshotResult:
    snapshots = qualified(schema, table + "__snapshots")
    meta = qualified(schema, table + "__columns")
    view = qualified(schema, table)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {snapshots} ({quote_ident(PARTITION_COLUMN)} DATE NOT NULL)")
        con.execute(_META_DDL.format(meta=meta))
        hist_rows = con.execute(
            f"SELECT attribute, column_name, physical_column, physical_type, max_int_digits, load_seq, "
            f"snapshot_date, sql_type, role FROM {meta} ORDER BY load_seq, ordinal").fetchall()
        load_seq = 1 + max((r[5] for r in hist_rows), default=0)
        history = {a: c for a, c, _, _, _, _, _, _, role in hist_rows if role == "value"}
        prev_date = max((r[6] for r in hist_rows if r[6] < snapshot_date), default=None)
        # physical column -> (current canonical type, max integer digits ever stored)
        physical: dict[str, list] = {}
        by_column: dict[str, str] = {}   # column name -> its latest physical column
        for attr, col, phys, ptype, mi, seq, sdate, _, _ in hist_rows:
            entry = physical.setdefault(phys, [ptype, mi])
            entry[0] = ptype
            if mi is not None:
                entry[1] = max(entry[1] or 0, mi)
            by_column[col] = phys
        existing_cols = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [schema, table + "__snapshots"]).fetchall()}
        previous_types = {c: parse_type(physical[p][0]) for c, p in by_column.items()}
        plans, conflicts = plan_columns(stats, overrides, history=history, previous_types=previous_types)

        # Physical columns: reuse when the type matches, widen a decimal scale when every
        # stored value still fits, otherwise add a new physical column (old snapshots keep
        # theirs, typed as they were).
        for p in plans:
            want = p.type.canonical()
            phys = by_column.get(p.column)
            if phys is not None and physical[phys][0] == want:
                p.physical = phys
                continue
            if phys is not None and _can_widen(parse_type(physical[phys][0]), p.type,
                                               max(physical[phys][1] or 0, p.max_int_digits or 0)):
                con.execute(f"ALTER TABLE {snapshots} ALTER COLUMN {quote_ident(phys)} TYPE {p.type.duckdb()}")
                physical[phys][0] = want
                p.physical = phys
                continue
            name, n = p.column, 1
            while name in existing_cols or name == PARTITION_COLUMN:
                n += 1
                name = f"{p.column}__v{n}"
            con.execute(f"ALTER TABLE {snapshots} ADD COLUMN {quote_ident(name)} {p.type.duckdb()}")
            existing_cols.add(name)
            physical[name] = [want, p.max_int_digits]
            p.physical = name

        con.execute(f"DELETE FROM {snapshots} WHERE {quote_ident(PARTITION_COLUMN)} = ?", [snapshot_date])
        row_count = 0
        if files:
            attrs = sorted({p.attribute for p in plans})
            alias = {a: f"a{i}" for i, a in enumerate(attrs, 1)}
            inner = ", ".join(f"v[{i}] AS {alias[a]}" for i, a in enumerate(attrs, 1))
            target_cols = ", ".join([quote_ident(PARTITION_COLUMN)] + [quote_ident(p.physical) for p in plans])
            exprs = ", ".join(["?"] + [_value_sql(p, alias[p.attribute]) for p in plans])
            if attrs:
                src = (f"(SELECT {inner} FROM (SELECT json_extract(json, ?) AS v FROM {_source_sql()}))")
                params = [snapshot_date, [_json_pointer(a) for a in attrs], files]
            else:
                src = f"(SELECT 1 FROM {_source_sql()})"
                params = [snapshot_date, files]
            row_count = con.execute(
                f"INSERT INTO {snapshots} ({target_cols}) SELECT {exprs} FROM {src}", params).fetchone()[0]

        con.execute(f"DELETE FROM {meta} WHERE snapshot_date = ?", [snapshot_date])
        for i, p in enumerate(plans):
            con.execute(
                f"INSERT INTO {meta} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [snapshot_date, i, p.column, p.physical, p.type.canonical(), physical[p.physical][0],
                 p.attribute, p.role, p.dynamodb_types, p.max_int_digits, load_seq, row_count])

        unfit: list[UnfitNumbers] = []
        for p in plans:
            if p.role != ROLE_RAW:
                continue
            count, examples = con.execute(
                f"SELECT count({quote_ident(p.physical)}), "
                f"(list({quote_ident(p.physical)} ORDER BY {quote_ident(p.physical)}) "
                f"FILTER (WHERE {quote_ident(p.physical)} IS NOT NULL))[1:5] "
                f"FROM {snapshots} WHERE {quote_ident(PARTITION_COLUMN)} = ?", [snapshot_date]).fetchone()
            unfit.append(UnfitNumbers(p.attribute, p.column[: -len("__raw")], p.column, int(count),
                                      tuple(examples or ())))

        latest = con.execute(f"SELECT max(snapshot_date) FROM {meta}").fetchone()[0]
        latest_cols = con.execute(
            f"SELECT column_name, physical_column FROM {meta} WHERE snapshot_date = ? ORDER BY ordinal",
            [latest]).fetchall()
        select = ", ".join(
            [f"{quote_ident(phys)} AS {quote_ident(col)}" for col, phys in latest_cols]
            + [quote_ident(PARTITION_COLUMN)])
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM {snapshots} "
                    f"WHERE {quote_ident(PARTITION_COLUMN)} = DATE '{latest.isoformat()}'")

        changes = []
        if prev_date is not None:
            old = {c: (t, a) for c, t, a in con.execute(
                f"SELECT column_name, sql_type, attribute FROM {meta} WHERE snapshot_date = ?",
                [prev_date]).fetchall()}
            new = {p.column: (p.type.canonical(), p.attribute) for p in plans}
            changes = diff_columns(old, new)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise

    return SnapshotResult(
        engine="duckdb", snapshot_date=snapshot_date, row_count=int(row_count),
        columns=[ColumnInfo(p.column, p.type.canonical(), p.attribute, tuple(p.dynamodb_types), p.role, p.physical)
                 for p in plans],
        name_map={p.column: p.attribute for p in plans},
        conflicts=conflicts, unfit_numbers=unfit, schema_changes=changes,
        previous_snapshot_date=prev_date, view_name=view, physical_table_name=snapshots,
        latest_snapshot_date=latest,
    )


def _can_widen(old: TypeSpec, new: TypeSpec, max_int_digits: int) -> bool:
    """A DECIMAL(38, s) (or array of it) can take a larger scale if every value still fits."""
    if old.name == "array" and new.name == "array":
        old, new = old.element, new.element
    return (old.name == "decimal" and new.name == "decimal"
            and old.precision == new.precision == DECIMAL_PRECISION
            and new.scale > old.scale and max_int_digits <= DECIMAL_PRECISION - new.scale)
