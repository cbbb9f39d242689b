"""Athena (Trino) SQL → DuckDB SQL with the same meaning.

sqlglot (``read="athena"``, ``write="duckdb"``) does most of the work. This module adds
our fixes for what sqlglot passes through unchanged (DuckDB then fails with "function
does not exist") or translates to something that runs but means something else. Each fix
is listed in :data:`FIXES` and has a value test in ``ddb_assets_tests/test_sql_transpile.py``;
the differential corpus (``ddb_assets_tests/corpus``) runs Athena queries on real Trino and
through this module on DuckDB and compares results and column types. What cannot be given
Trino's meaning is refused (:data:`REFUSALS`, :func:`unsupported_functions`,
:func:`check_supported`): a :class:`TranspileError` names the function and the reason.
Trino's result types and the corpus's fixes live in :mod:`ddb_assets.sql.transpile_trino`,
per-value time zones in :mod:`ddb_assets.sql.transpile_zones`.

Time zones (the decision)
-------------------------
* Athena runs every query in session zone UTC. DuckDB connections that run transpiled
  SQL must do the same: :func:`prepare_duckdb_connection` sets ``TimeZone='UTC'`` (ICU is
  built in, it is only loaded). The SQL we emit for ``from_iso8601_timestamp`` does not
  depend on the session zone at all, so a laptop in Asia/Tokyo gets Athena's boundaries.
* ``timestamp with time zone`` maps to DuckDB ``TIMESTAMPTZ``: an instant. Comparisons,
  ``BETWEEN``, ordering, ``min``/``max`` and arithmetic are instant-based in both engines,
  so they agree. DuckDB does not keep Trino's *per-value* zone; the transpiler carries it
  where the SQL shows it: field extraction, ``date_trunc``, ``date_format``,
  ``format_datetime``, ``to_iso8601``, ``timezone_hour`` and ``CAST`` to varchar / date /
  timestamp of ``from_iso8601_timestamp('...+09:00')`` work in +09:00 as in Trino. A value
  that went through a CTE or subquery column has lost its zone and is read in UTC.
  ``at_timezone(ts, 'Asia/Tokyo')`` (or ``ts AT TIME ZONE 'Asia/Tokyo'``) becomes DuckDB
  ``timezone(zone, ts)``, a plain ``TIMESTAMP`` holding the wall-clock time in that zone,
  which every later ``date_trunc``/``format_datetime``/``hour`` handles as Trino does for
  that zone; selected as an output column it becomes the instant again (Trino's
  ``timestamp with time zone``). Comparing such a wall-clock value to an instant inside a
  query is the one thing that then differs; compare instants.
* Trino timestamps here are millisecond precision (``timestamp(3)``):
  ``from_iso8601_timestamp`` truncates extra fraction digits to milliseconds, and
  ``to_iso8601`` prints milliseconds, as Athena does.

Known differences left (not translated)
---------------------------------------
* ``UNNEST(x) AS t(a, b)`` with ``x`` of unknown type is taken for a map; an array of
  two-field rows needs its type (``schema``). ``date_add`` on a DATE stays a DATE only when
  the type is known.
* ``CAST(json AS varchar)`` of a JSON number prints DuckDB's number text (``12.50`` →
  ``12.5``); Trino goes through double formatting, which can differ for exponents.
* ``regexp_extract`` of a group that did not take part in a match gives ``''`` (Trino NULL);
  patterns are RE2 in DuckDB, Java-style (joni) in Trino.
* Decimal types follow Trino's rules only where the operands' types are known (columns
  given in ``schema``, literals, casts); elsewhere DuckDB's (``avg`` of an untyped decimal is
  a DOUBLE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import TokenType

from ddb_assets.sql import transpile_trino as _trino
from ddb_assets.sql import transpile_zones as _zones
from ddb_assets.sql._sqlgen import (
    _DATE,
    _HAS_OFFSET_RE,
    _INTEGER_TYPES,
    _NAIVE_TS,
    _TZ,
    _UNKNOWN,
    TranspileError,
    _dd,
    _fn,
    _type_of,
)
from ddb_assets.sql.joda import joda_to_strftime
from ddb_assets.sql.transpile_arrays import _match, _reduce, _unnest, _zip_with
from ddb_assets.sql.transpile_json import (
    _cast,
    _cast_json_to_varchar,
    _json_array_length,
    _json_extract_scalar,
    _json_guarded,
    _json_size,
)
from ddb_assets.sql.transpile_trino import REFUSALS

__all__ = [
    "FIXES",
    "REFUSALS",
    "TranspileError",
    "athena_to_duckdb",
    "check_supported",
    "unsupported_functions",
    "joda_to_strftime",
    "prepare_duckdb_connection",
]


# What each fix does, for documentation and the README of the summaries folder.
FIXES: dict[str, str] = {
    "from_iso8601_timestamp": "offset-less strings are UTC (Athena's session zone) whatever the "
    "DuckDB session zone; Z/±hh:mm offsets honoured; truncated to milliseconds",
    "from_iso8601_date": "CAST AS DATE (sqlglot's own translation, value-tested)",
    "date_trunc": "a DATE argument gives a DATE, as in Trino (DuckDB returns TIMESTAMP)",
    "date_format": "MySQL-style specifiers via sqlglot, plus %v (ISO week) → %V",
    "format_datetime": "Joda pattern → strftime (sqlglot passes it through)",
    "at_timezone / AT TIME ZONE": "timezone(zone, instant) → wall-clock TIMESTAMP in the zone; a "
    "timestamp without zone is first read as UTC, as Trino does",
    "to_iso8601": "ISO 8601 text with milliseconds, 'Z' for instants, date-only for DATE",
    "approx_distinct": "exact COUNT(DISTINCT x): Trino is exact at small cardinalities and exact "
    "is always within its error bound (DuckDB's HLL is off by ~2% even at 1000 values)",
    "approx_percentile": "quantile_disc: returns a value of the input like Trino's q-digest "
    "(DuckDB's approx_quantile interpolates values that are not in the data)",
    "map_agg": "map_from_entries over the list of pairs, NULL keys skipped, first value of a "
    "duplicate key kept (DuckDB has no map_agg and map_from_entries rejects duplicates)",
    "json_extract_scalar": "NULL when the path names an object or array, as in Trino (DuckDB's "
    "->> returns the JSON text)",
    "cardinality": "DuckDB cardinality() for maps, len() for arrays (sqlglot's ARRAY_LENGTH "
    "rejects maps)",
    "try_cast to integer types": "a varchar that is not an integer literal gives NULL (DuckDB "
    "rounds '1.5' to 2); doubles round half away from zero (DuckDB rounds half to even)",
    "integer division": "bigint / bigint truncates, as in Trino, when both sides' types are "
    "known (literals, or columns given in `schema`)",
    "UNNEST(map) AS t(k, v)": "one row per entry, key and value columns: a LATERAL SELECT of "
    "unnest(map_keys(m)), unnest(map_values(m)) (DuckDB's UNNEST takes lists only). The map "
    "is recognised by its type (schema, MAP constructor) or, when its type is unknown, by "
    "being the only argument with two column names",
    "UNNEST(a, b, ...) [WITH ORDINALITY]": "several arrays are zipped, the shorter padded with "
    "NULLs (a LATERAL SELECT of parallel unnest() calls, which DuckDB pads the same way); "
    "the ordinality column counts to the longest; an array of rows expands to its fields",
    "CAST(json AS varchar)": "a JSON string/number/boolean gives its scalar text (no quotes), "
    "JSON null gives NULL, an array/object fails (INVALID_CAST_ARGUMENT, as in Trino; "
    "TRY_CAST gives NULL). Applied when the operand is JSON (json_extract, json_parse, "
    "CAST AS JSON, a json column) or of unknown type (decided at run time by typeof). "
    "json_format(x) keeps the JSON text, json_extract(...) stays JSON",
    "all_match / any_match / none_match": "list_transform + a three-valued AND/OR fold: a NULL "
    "predicate result makes the answer NULL unless a false (all_match) / true (any_match, "
    "none_match) decides it; empty array: true / false / true; NULL array: NULL",
    "reduce": "list_reduce(array, merge, initial) with the output function applied to it "
    "(sqlglot cannot express the output function)",
    "zip_with": "list_transform over list_zip (the shorter array padded with NULLs); NULL if an "
    "array is NULL",
    "split(s, d, limit)": "at most `limit` parts, the last holding the rest of the string "
    "(sqlglot drops the limit)",
    "regexp_extract": "NULL when the pattern does not match (DuckDB returns '')",
    "date_diff": "whole units elapsed, like Trino/Joda (DuckDB date_sub; its date_diff counts "
    "unit boundaries crossed: 23:00→01:00 is 1 day there, 0 in Trino)",
    "date_add on a DATE": "stays a DATE for day/week/month/quarter/year (DATE + INTERVAL is a "
    "TIMESTAMP in DuckDB); needs the operand's type to be known",
    "json_array_length": "NULL for a JSON value that is not an array or text that is not JSON "
    "(DuckDB returns 0 / fails)",
    "CAST(x AS json)": "to_json(x): a varchar becomes a JSON string, as in Trino (DuckDB's "
    "CAST parses the text; use json_parse to parse)",
    "json_size": "size of the object/array at the path, 0 for a scalar, NULL if the path "
    "selects nothing (no DuckDB function)",
    "decimal arithmetic": "Trino's result types (decimal(p, s) rules), exact division and "
    "avg rounded half up (DuckDB divides decimals in DOUBLE); see transpile_trino",
    "count_if / sum of integers / cardinality / histogram / array_position": "bigint, as "
    "in Trino (DuckDB: HUGEINT / UBIGINT / INTEGER); array_position is 0 when not found",
    "per-value zones": "from_iso8601_timestamp keeps the offset written in the string for "
    "fields, date_trunc, formatting, to_iso8601, timezone_hour and CAST; see transpile_zones",
    "AT TIME ZONE output": "an output column is the instant (timestamp with time zone)",
    "JSON functions of text": "NULL for text that is not JSON, as in Trino (DuckDB fails)",
    "DECIMAL '1.50'": "decimal(3, 2), as in Trino (sqlglot would give DuckDB DECIMAL(18, 3))",
    "regexp_replace": "$1 group references become \\1",
    "try_cast to boolean": "only true/false/t/f/1/0 (DuckDB also takes yes/no)",
    "CAST(double AS integer)": "rounds half away from zero (DuckDB: half to even)",
    "CAST(json AS map(k, json))": "a JSON null value stays JSON null",
    "CAST(timestamp AS varchar)": "milliseconds printed, as Trino's timestamp(3)",
    "repeat / format / codepoint / hamming_distance / nan / infinity / is_finite / "
    "with_timezone / parse_datetime / current_timezone / date + interval / sequence of "
    "dates": "Trino's meaning and types (see transpile_trino)",
    "from_unixtime_nanos": "the instant (TIMESTAMPTZ) of an integer count of nanoseconds since the "
    "epoch, floored to DuckDB's microseconds (Trino keeps nanoseconds: timestamp(9) with time "
    "zone); no DuckDB function",
}

# ---------------------------------------------------------------------------------------
# Public API


def prepare_duckdb_connection(con: Any) -> Any:
    """Make a DuckDB connection behave like an Athena session: ICU loaded, zone UTC."""
    con.execute("LOAD icu")  # built in; LOAD never downloads (INSTALL would)
    con.execute("SET TimeZone = 'UTC'")
    return con


def unsupported_functions(
    sql: str, schema: Mapping[str, Mapping[str, str]] | None = None
) -> list[tuple[str, str]]:
    """``(function, reason)`` for each function of ``sql`` the DuckDB engine refuses
    (:data:`REFUSALS`): there is no DuckDB translation with Trino's meaning. Empty when
    the SQL can run. Raises :class:`TranspileError` only for SQL that does not parse."""
    out: list[tuple[str, str]] = []
    for tree in _parse(sql):
        if tree is not None:
            for found in _trino.unsupported_functions(_annotate(tree, schema)):
                if found not in out:
                    out.append(found)
    return out


def check_supported(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Raise :class:`TranspileError` naming each refused function and the reason."""
    refused = unsupported_functions(sql, schema)
    if refused:
        raise TranspileError(_refusal_message(refused))


def _refusal_message(refused: list[tuple[str, str]]) -> str:
    return "the DuckDB engine cannot run this Athena SQL with Trino's meaning: " + "; ".join(
        f"{name}: {reason}" for name, reason in refused
    )


def athena_to_duckdb(
    sql: str, schema: Mapping[str, Mapping[str, str]] | None = None, *, pretty: bool = False
) -> str:
    """Translate Athena SQL (one or more statements) to DuckDB SQL with the same meaning.

    ``schema`` (``{table: {column: athena_type}}``) is optional; with it, column types are
    known, so type-dependent fixes (integer division, ``date_trunc`` of a date,
    ``to_iso8601``, ``cardinality``) pick the exact translation instead of a runtime
    ``typeof`` switch or leaving the expression as is.
    Raises :class:`TranspileError` for a parse error or an unsupported construct.
    """
    trees = _parse(sql)
    out = []
    for tree in trees:
        if tree is None:
            continue
        tree = _annotate(tree, schema)
        refused = _trino.unsupported_functions(tree)
        if refused:
            raise TranspileError(_refusal_message(refused))
        _trino.annotate_decimals(tree)
        tree = _rewrite(tree)
        tree = _zones.output_instants(tree)
        try:
            out.append(
                tree.sql(
                    dialect="duckdb", pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE
                )
            )
        except SqlglotError as exc:
            raise TranspileError(f"cannot express in DuckDB: {exc}") from exc
    return ";\n".join(out)


# ---------------------------------------------------------------------------------------
# Type annotation


def _annotate(tree: exp.Expr, schema: Mapping[str, Mapping[str, str]] | None) -> exp.Expr:
    from sqlglot.optimizer.annotate_types import annotate_types

    if schema:
        try:
            from sqlglot.optimizer.qualify import qualify

            qualified = qualify(
                tree.copy(),
                schema=_lower_schema(schema),
                dialect="athena",
                validate_qualify_columns=False,
                quote_identifiers=True,
                identify=False,
            )
            # CTEs and subqueries that only rename or compute per row are merged into the
            # query that reads them (sqlglot's own rule): a value then keeps what the
            # transpiler knows about it, e.g. the zone of an ISO string
            if isinstance(qualified, exp.Query):
                from sqlglot.optimizer.merge_subqueries import merge_subqueries

                qualified = merge_subqueries(qualified)
            return _trino_types(
                annotate_types(qualified, schema=_lower_schema(schema), dialect="athena")
            )
        except SqlglotError:
            pass
    try:
        return _trino_types(annotate_types(tree, dialect="athena"))
    except SqlglotError:
        return tree


def _trino_types(tree: exp.Expr) -> exp.Expr:
    """Types sqlglot infers differently from Trino: from_unixtime is an instant."""
    for node in tree.find_all(exp.UnixToTime):
        node.type = exp.DataType.build("TIMESTAMPTZ")
    return tree


def _lower_schema(schema: Mapping[str, Mapping[str, str]]) -> dict:
    return {
        str(t).lower(): {str(c).lower(): ty for c, ty in cols.items()} for t, cols in schema.items()
    }


# ---------------------------------------------------------------------------------------
# The rewrite: deepest nodes first, so each fix sees already-fixed arguments.


def _rewrite(tree: exp.Expr) -> exp.Expr:
    for node in reversed(list(tree.dfs())):
        handler = _handler_for(node)
        if handler is None:
            continue
        new = handler(node)
        if new is None or new is node:
            continue
        if getattr(new, "type", None) is None and getattr(node, "type", None) is not None:
            new.type = node.type
        if node.meta and "tdec" in node.meta and "tdec" not in new.meta:
            new.meta["tdec"] = node.meta["tdec"]  # Trino's numeric type, for the parent
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _handler_for(node: exp.Expr) -> Callable[[exp.Expr], exp.Expr | None] | None:
    if isinstance(node, exp.Anonymous):
        return _ANONYMOUS.get(str(node.this).lower())
    return _TYPED.get(type(node))


def _from_iso8601_timestamp(node: exp.FromISO8601Timestamp) -> exp.Expr:
    new = _dd(
        "date_trunc('millisecond', CASE WHEN regexp_matches(__x__, '" + _HAS_OFFSET_RE + "') "
        "THEN CAST(__x__ AS TIMESTAMPTZ) ELSE timezone('UTC', CAST(__x__ AS TIMESTAMP)) END)",
        "TIMESTAMPTZ",
        x=node.this,
    )
    return _zones.remember_iso_zone(new, node.this)


def _from_iso8601_date(node: exp.Expr) -> exp.Expr:
    return _dd("CAST(__x__ AS DATE)", "DATE", x=node.this)


_utc_wall_clock = _zones.wall_of  # the value's own zone when known, else UTC


def _date_trunc(node: exp.TimestampTrunc) -> exp.Expr | None:
    if _type_of(node.this) == _TZ:
        unit = node.args.get("unit")
        unit_text = unit.name if isinstance(unit, exp.Expr) else str(unit)
        inner = _fn("date_trunc", exp.Literal.string(unit_text.lower()), _utc_wall_clock(node.this))
        if _zones.has_own_zone(node.this):
            # truncated in the value's own zone; the instant moves by what the wall clock lost
            w = _zones.wall_of(node.this)
            new = _dd("__x__ + (__t__ - __w__)", "TIMESTAMPTZ", x=node.this, t=inner, w=w)
            return _zones.keep_zone(new, node.this, inner)
        return _dd("timezone('UTC', __t__)", "TIMESTAMPTZ", t=inner)
    if node.this.meta and "zone" in node.this.meta:
        node.meta["zone"] = node.this.meta["zone"]
    if _type_of(node.this) == _DATE:
        new = exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
        new.type = exp.DataType.build("DATE")
        return new
    return None


def _time_to_str(node: exp.TimeToStr) -> exp.Expr | None:
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal) or not fmt.is_string:
        return None
    # sqlglot has already mapped Trino's specifiers to strftime ones, except %v.
    text = re.sub(r"%(.)", lambda m: "%V" if m.group(1) == "v" else m.group(0), fmt.this)
    return _fn("strftime", _utc_wall_clock(node.this), exp.Literal.string(text))


def _format_datetime(node: exp.Anonymous) -> exp.Expr:
    args = node.expressions
    if len(args) != 2:
        raise TranspileError("format_datetime takes (timestamp, pattern)")
    pattern = args[1]
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise TranspileError("format_datetime: only a literal pattern can be translated for DuckDB")
    return _fn(
        "strftime", _utc_wall_clock(args[0]), exp.Literal.string(joda_to_strftime(pattern.this))
    )


def _to_wall_clock(ts: exp.Expr, zone: exp.Expr) -> exp.Expr:
    new = _wall_clock_in(ts, zone)
    new.meta["zone"] = zone.copy()  # an output column becomes the instant again
    return new


def _wall_clock_in(ts: exp.Expr, zone: exp.Expr) -> exp.Expr:
    t = _type_of(ts)
    if t == _TZ:
        return _dd("timezone(__z__, __x__)", "TIMESTAMP", z=zone, x=ts)
    if t in _NAIVE_TS or t == _DATE:
        return _dd(
            "timezone(__z__, timezone('UTC', CAST(__x__ AS TIMESTAMP)))", "TIMESTAMP", z=zone, x=ts
        )
    # Unknown type: a naive value becomes an instant in the session zone (UTC once prepared).
    return _dd("timezone(__z__, CAST(__x__ AS TIMESTAMPTZ))", "TIMESTAMP", z=zone, x=ts)


def _at_timezone(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 2:
        raise TranspileError("at_timezone takes (timestamp, zone)")
    return _to_wall_clock(node.expressions[0], node.expressions[1])


def _at_time_zone(node: exp.AtTimeZone) -> exp.Expr:
    return _to_wall_clock(node.this, node.args["zone"])


_ISO_TS = "'%Y-%m-%dT%H:%M:%S.%g'"


def _to_iso8601(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 1:
        raise TranspileError("to_iso8601 takes one argument")
    x = node.expressions[0]
    t = _type_of(x)
    if t == _DATE:
        return _dd("strftime(__x__, '%Y-%m-%d')", "VARCHAR", x=x)
    if t == _TZ and _zones.has_own_zone(x):
        return _dd(
            f"strftime(__w__, {_ISO_TS}) || __o__",
            "VARCHAR",
            w=_zones.wall_of(x),
            o=_zones.iso_offset(x),
        )
    if t == _TZ:
        return _dd(f"strftime(timezone('UTC', __x__), {_ISO_TS}) || 'Z'", "VARCHAR", x=x)
    if t in _NAIVE_TS:
        return _dd(f"strftime(__x__, {_ISO_TS})", "VARCHAR", x=x)
    return _dd(
        "CASE typeof(__x__) WHEN 'DATE' THEN strftime(__x__, '%Y-%m-%d') "
        f"WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(timezone('UTC', __x__), {_ISO_TS}) || 'Z' "
        f"ELSE strftime(__x__, {_ISO_TS}) END",
        "VARCHAR",
        x=x,
    )


def _approx_distinct(node: exp.ApproxDistinct) -> exp.Expr:
    return exp.Count(this=exp.Distinct(expressions=[node.this.copy()]))


def _approx_quantile(node: exp.ApproxQuantile) -> exp.Expr:
    if node.args.get("weight") is not None:
        raise TranspileError(
            "approx_percentile with a weight has no DuckDB equivalent; "
            "drop the weight or compute it in a CTE"
        )
    if node.args.get("accuracy") is not None:
        pass  # an accuracy only loosens Trino's bound; the exact answer is within it
    return _fn("quantile_disc", node.this, node.args["quantile"])


def _map_agg(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 2:
        raise TranspileError("map_agg takes (key, value)")
    k, v = node.expressions
    pairs = "list({'k': __k__, 'v': __v__}) FILTER (WHERE __k__ IS NOT NULL)"
    return _dd(
        f"map_from_entries(list_filter({pairs}, lambda e, i: "
        f"list_position(list_transform({pairs}, lambda p: p.k), e.k) = i))",
        k=k,
        v=v,
    )


def _cardinality(node: exp.ArraySize) -> exp.Expr:
    x = node.this
    t = getattr(x, "type", None)
    if t is not None and t.this == exp.DataType.Type.MAP:
        return _dd("CAST(cardinality(__x__) AS BIGINT)", "BIGINT", x=x)
    if t is not None and t.this in (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
        return _fn("len", x)
    # Unknown: DuckDB's cardinality() takes maps and lists (len() rejects maps).
    return _dd("CAST(cardinality(__x__) AS BIGINT)", "BIGINT", x=x)


def _try_cast(node: exp.TryCast) -> exp.Expr | None:
    json_text = _cast_json_to_varchar(node, try_=True)
    if json_text is not None:
        return json_text
    to = node.args["to"]
    if not isinstance(to, exp.DataType) or to.this not in _INTEGER_TYPES:
        return None
    x = node.this
    t = _type_of(x)
    int_lit = r"'\s*[+-]?[0-9]+\s*'"
    to_sql = to.sql("duckdb")
    varchar_branch = f"CASE WHEN regexp_full_match(CAST(__x__ AS VARCHAR), {int_lit}) THEN TRY_CAST(__x__ AS {to_sql}) END"
    float_branch = f"TRY_CAST(round(TRY_CAST(__x__ AS DOUBLE)) AS {to_sql})"
    if t in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR):
        return _dd(varchar_branch, x=x)
    if t in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        return _dd(float_branch, x=x)
    if t != _UNKNOWN:
        return None
    return _dd(
        f"CASE WHEN typeof(__x__) = 'VARCHAR' THEN {varchar_branch} "
        f"WHEN typeof(__x__) IN ('DOUBLE', 'FLOAT') THEN {float_branch} "
        f"ELSE TRY_CAST(__x__ AS {to_sql}) END",
        x=x,
    )


# -- Strings, dates ----------------------------------------------------------------------


def _split(node: exp.Split) -> exp.Expr | None:
    limit = node.args.get("limit")
    if limit is None:
        return None
    return _dd(
        "CASE WHEN len(str_split(__s__, __d__)) <= __n__ THEN str_split(__s__, __d__) "
        "ELSE list_concat(str_split(__s__, __d__)[1:__n__ - 1], "
        "[array_to_string(str_split(__s__, __d__)[__n__:], __d__)]) END",
        s=node.this,
        d=node.expression,
        n=limit,
    )


def _regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    return _dd(
        "CASE WHEN regexp_matches(__s__, __p__) THEN __e__ END",
        "VARCHAR",
        s=node.this,
        p=node.expression,
        e=node.copy(),
    )


def _unit_of(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    text = unit.name if isinstance(unit, exp.Expr) else str(unit or "day")
    return text.lower()


def _date_diff(node: exp.DateDiff) -> exp.Expr:
    return _dd(
        "date_sub(__u__, __a__, __b__)",
        "BIGINT",
        u=exp.Literal.string(_unit_of(node)),
        a=node.expression,
        b=node.this,
    )


def _date_add(node: exp.DateAdd) -> exp.Expr | None:
    if _type_of(node.this) != _DATE or _unit_of(node) not in (
        "day",
        "week",
        "month",
        "quarter",
        "year",
    ):
        return None
    new = exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
    new.type = exp.DataType.build("DATE")
    return new


def _from_unixtime_nanos(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 1:
        raise TranspileError("from_unixtime_nanos takes one argument")
    # floor division in integers (a double cannot hold today's nanoseconds exactly)
    return _dd(
        "timezone('UTC', make_timestamp(CAST((CAST(__n__ AS HUGEINT) - ((CAST(__n__ AS HUGEINT) % 1000) "
        "+ 1000) % 1000) // 1000 AS BIGINT)))",
        "TIMESTAMPTZ",
        n=node.expressions[0],
    )


_ANONYMOUS: dict[str, Callable[[Any], exp.Expr | None]] = {
    "format_datetime": _format_datetime,
    "at_timezone": _at_timezone,
    "to_iso8601": _to_iso8601,
    "map_agg": _map_agg,
    "all_match": _match("all_match"),
    "any_match": _match("any_match"),
    "none_match": _match("none_match"),
    "zip_with": _zip_with,
    "json_array_length": _json_array_length,
    "json_size": _json_size,
    "from_unixtime_nanos": _from_unixtime_nanos,
}
_TYPED_BASE: dict[type, Callable[[Any], exp.Expr | None]] = {
    exp.FromISO8601Timestamp: _from_iso8601_timestamp,
    exp.FromISO8601Date: _from_iso8601_date,
    exp.TimestampTrunc: _date_trunc,
    exp.DateTrunc: _date_trunc,
    exp.TimeToStr: _time_to_str,
    exp.AtTimeZone: _at_time_zone,
    exp.ApproxDistinct: _approx_distinct,
    exp.ApproxQuantile: _approx_quantile,
    exp.JSONExtractScalar: _json_extract_scalar,
    exp.ArraySize: _cardinality,
    exp.TryCast: _try_cast,
    exp.Cast: _cast,
    exp.Unnest: _unnest,
    exp.Reduce: _reduce,
    exp.Split: _split,
    exp.RegexpExtract: _regexp_extract,
    exp.DateDiff: _date_diff,
    exp.DateAdd: _date_add,
}


def _chain(*handlers: Callable[[Any], exp.Expr | None]):
    """The first handler that rewrites the node wins."""

    def handler(node: exp.Expr) -> exp.Expr | None:
        for h in handlers:
            new = h(node)
            if new is not None and new is not node:
                return new
        return None

    return handler


def _cast_timestamp(node: exp.Cast) -> exp.Expr | None:
    """Naive timestamps print with Trino's milliseconds; TIMESTAMP(p) stays a TIMESTAMP."""
    to = node.args["to"]
    if not isinstance(to, exp.DataType):
        return None
    if to.this in _NAIVE_TS and to.expressions:
        new = node.copy()
        new.set("to", exp.DataType.build("TIMESTAMP"))
        return new
    if to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT) and _type_of(node.this) in (
        _NAIVE_TS
    ):
        t = node.this.type
        whole = bool(t.expressions) and str(t.expressions[0].this) == "0"
        fmt = "'%Y-%m-%d %H:%M:%S'" if whole else _zones.ISO_MS
        return _dd(f"strftime(__x__, {fmt})", "VARCHAR", x=node.this)
    return None


_TYPED: dict[type, Callable[[Any], exp.Expr | None]] = {**_trino.TYPED, **_TYPED_BASE}
_TYPED[exp.Cast] = _chain(
    _zones.cast_from_tz,
    _cast_timestamp,
    _cast,
    _trino._cast_double_to_int,
    _trino._cast_to_map_of_json,
)
_TYPED[exp.TryCast] = _chain(_trino._try_cast_boolean, _try_cast)
_TYPED[exp.Div] = _trino._decimal_div
_TYPED[exp.JSONExtract] = _json_guarded(lambda n: None)
_TYPED[exp.JSONExtractScalar] = _json_guarded(_json_extract_scalar)
for _node in (*_zones.FIELD_NODES, exp.Extract):
    _TYPED[_node] = _zones.field_of_wall
_ANONYMOUS.update(_trino.ANONYMOUS)
_ANONYMOUS["json_size"] = _json_guarded(_json_size)
_ANONYMOUS["timezone_hour"] = _zones.timezone_hour_minute("hour")
_ANONYMOUS["timezone_minute"] = _zones.timezone_hour_minute("minute")


def _parse(sql: str) -> list:
    """Parse Athena SQL; ``DECIMAL '1.50'`` keeps Trino's type, decimal(3, 2) (sqlglot
    would read it as a bare DECIMAL, which DuckDB takes for DECIMAL(18, 3))."""
    try:
        tokens = sqlglot.tokenize(sql, read="athena")
    except SqlglotError as exc:
        raise TranspileError(f"cannot parse as Athena SQL: {exc}") from exc
    pieces, last = [], 0
    for a, b in zip(tokens, tokens[1:]):
        if a.token_type == TokenType.DECIMAL and b.token_type == TokenType.STRING:
            ps = _trino.literal_decimal(b.text, integers=True)
            if ps is None:
                raise TranspileError(f"DECIMAL '{b.text}' is not a decimal literal")
            pieces += [sql[last : a.start], f"CAST('{b.text}' AS DECIMAL({ps[0]}, {ps[1]}))"]
            last = b.end + 1  # past the closing quote
    pieces.append(sql[last:])
    try:
        return sqlglot.parse("".join(pieces), read="athena")
    except ParseError as exc:
        raise TranspileError(f"cannot parse as Athena SQL: {exc}") from exc
