"""JSON semantics of Trino that DuckDB lacks: json_parse's sorted keys, JSON null values in
maps, JSON functions of text that is not JSON, CAST between JSON and varchar."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from ddb_assets.sql._sqlgen import _UNKNOWN, TranspileError, _dd, _type_of

JSON_SORT_DEPTH = 4


def _canonical_json_sql(x: str, depth: int) -> str:
    """DuckDB SQL: the JSON text of ``x`` with every object's keys sorted, as Trino's
    json_parse writes it (to ``depth`` levels of nesting; below that DuckDB's text)."""
    if depth == 0:
        return f"CAST({x} AS VARCHAR)"
    k, p = f"k{depth}", f"p{depth}"
    pointer = f"'/' || replace(replace({k}, '~', '~0'), '/', '~1')"  # RFC 6901
    children = (
        f"CASE json_type({x}) WHEN 'OBJECT' THEN list_transform(list_sort(json_keys({x})), "
        f"lambda {k}: {{'k': {k}, 'v': json_extract({x}, {pointer}), 'o': true}}) "
        f"WHEN 'ARRAY' THEN list_transform(range(CAST(json_array_length({x}) AS BIGINT)), "
        f"lambda {k}: {{'k': CAST({k} AS VARCHAR), 'v': json_extract({x}, '$[' || {k} || ']'), "
        f"'o': false}}) END"
    )
    inner = _canonical_json_sql(f"{p}.v", depth - 1)
    body = (
        f"array_to_string(list_transform({children}, lambda {p}: CASE WHEN {p}.o THEN "
        f"CAST(to_json({p}.k) AS VARCHAR) || ':' ELSE '' END || {inner}), ',')"
    )
    return (
        f"CASE WHEN json_type({x}) IN ('OBJECT', 'ARRAY') THEN "
        f"CASE json_type({x}) WHEN 'OBJECT' THEN '{{' ELSE '[' END || {body} || "
        f"CASE json_type({x}) WHEN 'OBJECT' THEN '}}' ELSE ']' END ELSE CAST({x} AS VARCHAR) END"
    )


def _json_parse(node: exp.ParseJSON) -> exp.Expr:
    """Marks the value: Trino's json_parse sorts object keys, which shows once it is text."""
    new = node.copy()
    new.meta["json_parsed"] = True
    return new


def _json_format(node: exp.JSONFormat) -> exp.Expr | None:
    """json_format of a json_parse result: the keys sorted as Trino's json_parse does (to
    JSON_SORT_DEPTH levels of nesting; deeper objects keep DuckDB's order)."""
    if not (node.this.meta and node.this.meta.get("json_parsed")):
        return None
    return _dd(
        "list_transform([CAST(__x__ AS JSON)], lambda r: "
        + _canonical_json_sql("r", JSON_SORT_DEPTH)
        + ")[1]",
        "VARCHAR",
        x=node.this,
    )


def _cast_to_map_of_json(node: exp.Cast) -> exp.Expr | None:
    """CAST(j AS map(k, json)): a JSON null value stays JSON null, as in Trino (DuckDB's
    CAST makes it SQL NULL)."""
    to = node.args["to"]
    if not (
        isinstance(to, exp.DataType)
        and to.this == exp.DataType.Type.MAP
        and len(to.expressions) == 2
        and to.expressions[1].this == exp.DataType.Type.JSON
    ):
        return None
    return _dd(
        "map(map_keys(__m__), "
        "list_transform(map_values(__m__), lambda v: coalesce(v, CAST('null' AS JSON))))",
        m=node.copy(),
    )


# -- JSON values and text --------------------------------------------------------------------------------

_JSON = exp.DataType.Type.JSON
_VARCHARS = {
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.NCHAR,
}


def _is_json(x: exp.Expr) -> bool | None:
    """True: JSON; False: some other known type; None: unknown."""
    if isinstance(x, (exp.JSONExtract, exp.ParseJSON)):
        return True
    if isinstance(x, exp.Cast) and x.to.this == _JSON:
        return True
    t = _type_of(x)
    if t == _JSON:
        return True
    if t in (_UNKNOWN, exp.DataType.Type.NULL):
        return (
            None
            if isinstance(x, (exp.Column, exp.Anonymous, exp.Dot, exp.Bracket, exp.Func, exp.Paren))
            else False
        )
    return False


def _json_scalar_text(x: exp.Expr, *, try_: bool) -> exp.Expr:
    fail = (
        "NULL"
        if try_
        else (
            "error('INVALID_CAST_ARGUMENT: Cannot cast ' || CAST(__j__ AS VARCHAR) "
            "|| ' to varchar')"
        )
    )
    return _dd(
        f"CASE WHEN json_type(__j__) IN ('ARRAY', 'OBJECT') THEN {fail} "
        "ELSE json_extract_string(__j__, '$') END",
        "VARCHAR",
        j=x,
    )


def _cast_json_to_varchar(node: exp.Cast, *, try_: bool) -> exp.Expr | None:
    to = node.args["to"]
    if not isinstance(to, exp.DataType) or to.this not in _VARCHARS:
        return None
    x = node.this
    known = _is_json(x)
    if known is False:
        return None
    if known:
        return _json_scalar_text(x, try_=try_)
    as_json = _dd("CAST(__x__ AS JSON)", "JSON", x=x)
    plain = node.copy()
    return _dd(
        "CASE WHEN typeof(__x__) = 'JSON' THEN __s__ ELSE __p__ END",
        "VARCHAR",
        x=x,
        s=_json_scalar_text(as_json, try_=try_),
        p=plain,
    )


def _cast(node: exp.Cast) -> exp.Expr | None:
    to = node.args["to"]
    if isinstance(to, exp.DataType) and to.this == _JSON and _is_json(node.this) is not True:
        # Trino: CAST('x' AS JSON) is the JSON string "x" (json_parse parses); DuckDB's
        # CAST parses the text. to_json gives Trino's value for scalars, arrays and maps.
        return _dd("to_json(__x__)", "JSON", x=node.this)
    return _cast_json_to_varchar(node, try_=False)


def _json_array_length(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 1:
        raise TranspileError("json_array_length takes one argument")
    # one flat CASE: DuckDB folds a nested CASE of constants and would fail on bad JSON
    return _dd(
        "CASE WHEN NOT json_valid(__j__) THEN NULL WHEN json_type(__j__) = 'ARRAY' "
        "THEN CAST(json_array_length(__j__) AS BIGINT) END",
        "BIGINT",
        j=node.expressions[0],
    )


def _json_size(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 2:
        raise TranspileError("json_size takes (json, path)")
    j, p = node.expressions
    return _dd(
        "CASE WHEN json_type(__j__, __p__) IS NULL THEN NULL "
        "WHEN json_type(__j__, __p__) = 'OBJECT' THEN CAST(len(json_keys(__j__, __p__)) AS BIGINT) "
        "WHEN json_type(__j__, __p__) = 'ARRAY' THEN CAST(json_array_length(__j__, __p__) AS BIGINT) "
        "ELSE CAST(0 AS BIGINT) END",
        "BIGINT",
        j=j,
        p=p,
    )


def _json_extract_scalar(node: exp.JSONExtractScalar) -> exp.Expr:
    path = node.expression
    path_sql = path.sql(dialect="duckdb") if isinstance(path, exp.Expr) else str(path)
    path_lit = sqlglot.parse_one(path_sql, read="duckdb")
    return _dd(
        "CASE WHEN json_type(__j__, __p__) IN ('OBJECT', 'ARRAY') THEN NULL ELSE __e__ END",
        "VARCHAR",
        j=node.this,
        p=path_lit,
        e=node.copy(),
    )


def _json_guarded(handler: Callable[[Any], exp.Expr | None]):
    """Trino's JSON functions give NULL for text that is not JSON; DuckDB's fail."""

    def guarded(node: exp.Expr) -> exp.Expr | None:
        arg = node.this if not isinstance(node, exp.Anonymous) else node.expressions[0]
        new = handler(node)
        if _is_json(arg) is True:
            return new
        if isinstance(arg, exp.Literal) and arg.is_string:
            try:  # decided now: DuckDB folds a constant CASE and would fail on bad JSON
                json.loads(arg.this)
                return new
            except ValueError:
                return exp.Null()
        body = new if new is not None else node.copy()
        out = _dd("CASE WHEN json_valid(__j__) THEN __e__ END", j=arg, e=body)
        if isinstance(node, exp.JSONExtract):
            out.type = exp.DataType.build("JSON")
        else:
            out.type = getattr(body, "type", None) or getattr(node, "type", None)
        return out

    return guarded
