"""Trino semantics the differential corpus (``ddb_assets_tests/corpus``) found missing.

Each handler here fixes a difference between Trino and DuckDB that the corpus measured on
real Trino: result types (Trino's decimal rules, ``bigint`` counts), exact decimal
division and ``avg``, per-value time zones of parsed ISO 8601 strings, functions sqlglot
passes through. :data:`REFUSALS` lists what cannot be given the same meaning on DuckDB:
the DuckDB engine refuses such SQL when definitions load, naming the function and why.

Decimal typing: :mod:`ddb_assets.sql.transpile_decimals`; JSON: :mod:`ddb_assets.sql.transpile_json`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ddb_assets.sql._sqlgen import (
    _DATE,
    _INTEGER_TYPES,
    TranspileError,
    _dd,
    _fn,
    _type_of,
)
from ddb_assets.sql.transpile_decimals import (
    _cast_to_trino_decimal,
    _decimal_div,
    _decimal_literal,
    _plain_agg,
    _set_operation,
    _supertype_branches,
    _window,
    annotate_decimals,
    literal_decimal,
    tdec,
)
from ddb_assets.sql.transpile_json import _cast_to_map_of_json, _json_format, _json_parse

# Functions the DuckDB engine refuses: no DuckDB equivalent with Trino's meaning.
REFUSALS: dict[str, str] = {
    "typeof": "DuckDB names its types differently (DECIMAL(38,2) vs decimal(38,2), "
    "INTEGER[] vs array(integer)); compare values, not type names",
    "approx_percentile": "Trino's estimate (a t-digest / q-digest sketch) cannot be reproduced: "
    "the same data gives another value on DuckDB; use an exact percentile in a CTE "
    "(row_number over the ordered values)",
    "url_extract_host": "no DuckDB function; use regexp_extract(url, '^[a-z]+://([^/:?#]+)', 1)",
    "url_extract_parameter": "no DuckDB function; use regexp_extract on the query string",
    "url_extract_path": "no DuckDB function; use regexp_extract",
    "luhn_check": "no DuckDB function",
    "json_array_contains": "no DuckDB function with Trino's matching of JSON values; use "
    "contains(CAST(json_parse(j) AS array(varchar)), x)",
    "json_array_get": "deprecated in Trino (it returns string elements unquoted); use "
    "json_extract(j, '$[i]')",
    "is_json_scalar": "no DuckDB function",
    "multimap_agg": "no DuckDB aggregate; use map_agg over array_agg in a subquery",
    "map_filter": "no DuckDB function with Trino's lambda (k, v); filter the map's entries "
    "in a subquery",
    "transform_values": "no DuckDB function with Trino's lambda (k, v)",
    "transform_keys": "no DuckDB function with Trino's lambda (k, v)",
    "array_union": "DuckDB's list functions do not keep Trino's first-occurrence order",
    "array_except": "DuckDB's list functions do not keep Trino's first-occurrence order",
    "array_intersect": "DuckDB's list functions do not keep Trino's first-occurrence order",
    "CAST(double AS varchar)": "Trino prints doubles in Java's scientific form (1.5E0); cast "
    "to decimal(p, s) first, or format with format('%.2f', x)",
}


def unsupported_functions(tree: exp.Expr) -> list[tuple[str, str]]:
    """``(function, reason)`` for every refused function in an (annotated) Athena tree."""
    found: list[tuple[str, str]] = []
    for node in tree.walk():
        name = _function_name(node)
        if name and name in REFUSALS and (name, REFUSALS[name]) not in found:
            found.append((name, REFUSALS[name]))
        key = _pattern_refused(node)
        if key and (key, REFUSALS[key]) not in found:
            found.append((key, REFUSALS[key]))
    return found


_NODE_NAMES = {
    exp.ApproxQuantile: "approx_percentile",
    exp.ArrayIntersect: "array_intersect",
}


def _function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    for cls, name in _NODE_NAMES.items():
        if isinstance(node, cls):
            return name
    if isinstance(node, exp.Func) and type(node).__name__ in ("Typeof", "TypeOf"):
        return "typeof"
    if isinstance(node, exp.Func):
        try:
            return node.sql_name().lower()
        except Exception:  # sqlglot raises for nodes without a SQL name
            return None
    return None


def _pattern_refused(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Cast) and _is_double_to_varchar(node):
        return "CAST(double AS varchar)"
    return None


def _is_double_to_varchar(node: exp.Cast) -> bool:
    to = node.args.get("to")
    return (
        isinstance(to, exp.DataType)
        and to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT)
        and _type_of(node.this) in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)
    )


# -- small functions ----------------------------------------------------------------------


def _constant(sql: str, type_: str) -> Callable[[exp.Anonymous], exp.Expr]:
    def handler(node: exp.Anonymous) -> exp.Expr:
        if node.expressions:
            raise TranspileError(f"{node.this}() takes no arguments")
        return _dd(sql, type_)

    return handler


def _renamed(name: str, type_: str | None = None) -> Callable[[exp.Anonymous], exp.Expr]:
    def handler(node: exp.Anonymous) -> exp.Expr:
        new = _fn(name, *node.expressions)
        return _dd("CAST(__x__ AS " + type_ + ")", type_, x=new) if type_ else new

    return handler


def _with_timezone(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 2:
        raise TranspileError("with_timezone takes (timestamp, zone)")
    ts, zone = node.expressions
    return _dd("timezone(__z__, CAST(__t__ AS TIMESTAMP))", "TIMESTAMPTZ", z=zone, t=ts)


def _parse_datetime(node: exp.Expr) -> exp.Expr:
    from ddb_assets.sql.joda import joda_to_strftime

    s, pattern = node.this, node.args.get("format")
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise TranspileError("parse_datetime: only a literal pattern can be translated for DuckDB")
    fmt = exp.Literal.string(joda_to_strftime(pattern.this))
    return _dd("timezone('UTC', strptime(__s__, __f__))", "TIMESTAMPTZ", s=s, f=fmt)


def _repeat(node: exp.Repeat) -> exp.Expr:
    # Trino's repeat(element, n) builds an array (DuckDB's repeats a string)
    return _dd(
        "list_transform(range(CAST(__n__ AS BIGINT)), lambda _i: __e__)",
        e=node.this,
        n=node.args["times"],
    )


def _format(node: exp.Format) -> exp.Expr:
    # Trino's format is Java's String.format: printf's %s/%d/%f/%x mean the same
    return _fn("printf", node.this, *node.expressions)


def _array_position(node: exp.ArrayPosition) -> exp.Expr:
    # Trino: 0 when the element is not in the array (DuckDB: NULL); bigint
    return _dd(
        "CASE WHEN __a__ IS NULL THEN NULL ELSE CAST(coalesce(__x__, 0) AS BIGINT) END",
        "BIGINT",
        a=node.this,
        x=node.copy(),
    )


def _histogram(node: exp.Expr) -> exp.Expr:
    # Trino counts are bigint (DuckDB: UBIGINT)
    return _dd(
        "map_from_entries(list_transform(map_entries(__h__), "
        "lambda e: {'key': e.key, 'value': CAST(e.value AS BIGINT)}))",
        h=node.copy(),
    )


def _length(node: exp.Length) -> exp.Expr | None:
    if _type_of(node.this) in (exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY):
        return _dd("octet_length(__x__)", "BIGINT", x=node.this)
    return None


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expr | None:
    rep = node.args.get("replacement")
    if not (isinstance(rep, exp.Literal) and rep.is_string):
        return None
    # Trino (Java): $1 / ${name} groups, \$ a literal dollar; DuckDB (RE2): \1
    text = rep.this
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif c == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append("\\" + text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    if "".join(out) == text:
        return None
    new = node.copy()
    new.set("replacement", exp.Literal.string("".join(out)))
    return new


def _date_plus_interval(node: exp.Expr) -> exp.Expr | None:
    if _type_of(node.this) != _DATE or not isinstance(node.expression, exp.Interval):
        return None
    unit = node.expression.args.get("unit")
    if unit is None or unit.name.lower() not in ("day", "week", "month", "year", "quarter"):
        return None
    new = exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
    new.type = exp.DataType.build("DATE")
    return new


def _sequence(node: exp.GenerateSeries) -> exp.Expr | None:
    if _type_of(node.args.get("start")) != _DATE:
        return None
    return _dd("CAST(__x__ AS DATE[])", "DATE[]", x=node.copy())


def _cast_double_to_int(node: exp.Cast) -> exp.Expr | None:
    to = node.args["to"]
    if not isinstance(to, exp.DataType) or to.this not in _INTEGER_TYPES:
        return None
    if _type_of(node.this) not in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        return None
    # Trino rounds half away from zero (DuckDB's CAST rounds half to even)
    return _dd(f"CAST(round(__x__) AS {to.sql('duckdb')})", x=node.this)


def _try_cast_boolean(node: exp.TryCast) -> exp.Expr | None:
    to = node.args["to"]
    if not isinstance(to, exp.DataType) or to.this != exp.DataType.Type.BOOLEAN:
        return None
    if _type_of(node.this) not in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        return None
    # Trino accepts true/false/t/f/1/0 (any case); DuckDB also yes/no/y/n
    return _dd(
        "CASE WHEN lower(trim(__x__)) IN ('true', 't', '1') THEN true "
        "WHEN lower(trim(__x__)) IN ('false', 'f', '0') THEN false END",
        "BOOLEAN",
        x=node.this,
    )


def _split_part(node: exp.SplitPart) -> exp.Expr:
    # Trino: NULL past the last part (DuckDB: '')
    return _dd(
        "CASE WHEN __n__ > len(string_split(__s__, __d__)) THEN NULL ELSE __e__ END",
        "VARCHAR",
        n=node.args["part_index"],
        s=node.this,
        d=node.args["delimiter"],
        e=node.copy(),
    )


def _substring(node: exp.Substring) -> exp.Expr | None:
    # Trino: substr(s, 0) is '' (DuckDB counts 0 as 1)
    start = node.args.get("start")
    if start is None or (isinstance(start, exp.Literal) and start.this not in ("0", 0)):
        return None
    return _dd("CASE WHEN __p__ = 0 THEN '' ELSE __e__ END", "VARCHAR", p=start, e=node.copy())


def _upper(node: exp.Upper) -> exp.Expr:
    # Trino upper-cases code point by code point: ß has no single upper case and stays
    # (DuckDB gives ẞ)
    return _dd(
        "CASE WHEN contains(__s__, 'ß') THEN array_to_string(list_transform(string_split("
        "__s__, ''), lambda c: CASE WHEN c = 'ß' THEN c ELSE upper(c) END), '') "
        "ELSE upper(__s__) END",
        "VARCHAR",
        s=node.this,
    )


def _map_cardinality(node: exp.Expr) -> exp.Expr:
    return _dd("CAST(__x__ AS BIGINT)", "BIGINT", x=node)


ANONYMOUS: dict[str, Callable[[Any], exp.Expr | None]] = {
    "nan": _constant("CAST('NaN' AS DOUBLE)", "DOUBLE"),
    "is_finite": _renamed("isfinite", "BOOLEAN"),
    "is_infinite": _renamed("isinf", "BOOLEAN"),
    "histogram": _histogram,
    "infinity": _constant("CAST('Infinity' AS DOUBLE)", "DOUBLE"),
    "current_timezone": _constant("current_setting('TimeZone')", "VARCHAR"),
    "with_timezone": _with_timezone,
    "hamming_distance": _renamed("hamming", "BIGINT"),
    "codepoint": _renamed("unicode", "INTEGER"),
}
TYPED: dict[type, Callable[[Any], exp.Expr | None]] = {
    exp.Avg: _plain_agg,
    exp.Sum: _plain_agg,
    exp.CountIf: _plain_agg,
    exp.Window: _window,
    exp.Literal: _decimal_literal,
    exp.Add: _cast_to_trino_decimal,
    exp.Sub: _cast_to_trino_decimal,
    exp.Mul: _cast_to_trino_decimal,
    exp.Mod: _cast_to_trino_decimal,
    exp.Round: _cast_to_trino_decimal,
    exp.Floor: _cast_to_trino_decimal,
    exp.Ceil: _cast_to_trino_decimal,
    exp.Trunc: _cast_to_trino_decimal,
    exp.Sign: _cast_to_trino_decimal,
    exp.Repeat: _repeat,
    exp.Format: _format,
    exp.ArrayPosition: _array_position,
    exp.ParseDatetime: _parse_datetime,
    exp.ParseJSON: _json_parse,
    exp.SplitPart: _split_part,
    exp.Substring: _substring,
    exp.Upper: _upper,
    exp.Case: _supertype_branches,
    exp.If: _supertype_branches,
    exp.Coalesce: _supertype_branches,
    exp.Union: _set_operation,
    exp.Intersect: _set_operation,
    exp.Except: _set_operation,
    exp.JSONFormat: _json_format,
    exp.CurrentTimezone: lambda n: _dd("current_setting('TimeZone')", "VARCHAR"),
    exp.Length: _length,
    exp.RegexpReplace: _regexp_replace,
    exp.GenerateSeries: _sequence,
}


def add_or_sub(node: exp.Expr) -> exp.Expr | None:
    """Date + interval stays a date; decimals get Trino's result type."""
    return _date_plus_interval(node) or _cast_to_trino_decimal(node)


TYPED[exp.Add] = add_or_sub
TYPED[exp.Sub] = add_or_sub
__all__ = [
    "ANONYMOUS",
    "REFUSALS",
    "TYPED",
    "_cast_double_to_int",
    "_cast_to_map_of_json",
    "_decimal_div",
    "_try_cast_boolean",
    "annotate_decimals",
    "literal_decimal",
    "tdec",
    "unsupported_functions",
]
