"""The rewrite that gives sqlglot's DuckDB output Trino's meaning: the fixes and their dispatch.

Holds ``rewrite`` (walks the annotated tree deepest nodes first, so each fix sees
already-fixed arguments, and replaces each node its handler rewrites), the handlers for time
(``from_iso8601_*``, ``date_trunc``, ``format_datetime``, ``at_timezone``, ``to_iso8601``,
naive timestamp casts), aggregates, casts, strings and dates, and the tables that map
anonymous function names and sqlglot node types to handlers (merged with those of
``transpile_trino``, ``transpile_zones``, ``transpile_json`` and ``transpile_arrays``). The
fixes are listed and explained in ``ddb_assets.sql.transpile.FIXES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

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

# ---------------------------------------------------------------------------------------
# The rewrite: deepest nodes first, so each fix sees already-fixed arguments.


def rewrite(tree: exp.Expr) -> exp.Expr:
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
