"""The SQL of one typed column from an attribute's parsed value (:func:`value_sql`): the
DynamoDB type tags to DuckDB types and override casts, and M / L values rendered to plain
JSON in SQL after their sampled structure (:func:`plain_sql`), checked against the source
text's length, with :func:`ddb_assets.tables.codec.plain_json_many` (an Arrow UDF) for the
rest."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ddb_assets.tables.duckdb.decoding import TAGS
from ddb_assets.tables.plan import (
    ROLE_RAW,
    ROLE_TYPE,
    ColumnPlan,
)
from ddb_assets.tables.types import TypeSpec

# A JSON number as DynamoDB usually writes it; anything else goes through _ddb_json_number.
_JSON_NUMBER_RE = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"


def _render_number(x: str) -> str:
    return f"CASE WHEN regexp_full_match({x}, '{_JSON_NUMBER_RE}') THEN {x} ELSE _ddb_json_number({x}) END"


def _render_tag(f: str, tag: str, sub, keys: list[str], depth: int, typed_text: bool) -> str:
    """SQL text of a value ``f`` (not NULL) of DynamoDB type ``tag`` with json_transform
    structure ``sub``: as plain JSON, or (``typed_text``) exactly as the export writes
    the value part of ``{"tag": ...}`` once minified, which the load compares with the
    source text to prove that the structure dropped nothing."""
    if typed_text and tag in ("S", "N", "B", "SS", "NS", "BS"):
        return f"CAST(to_json({f}) AS VARCHAR)"
    if tag in ("S", "B", "SS", "BS"):
        return f"CAST(to_json({f}) AS VARCHAR)"
    if tag == "N":
        return _render_number(f)
    if tag == "BOOL":
        return f"CASE WHEN {f} THEN 'true' ELSE 'false' END"
    if tag == "NULL":
        return "'true'" if typed_text else "'null'"
    if tag == "NS":
        return f"'[' || array_to_string(list_transform({f}, lambda n{depth}: {_render_number(f'n{depth}')}), ',') || ']'"
    if tag == "M":
        parts = []
        for pos, (k, v) in enumerate(sub.items(), 1):
            keys.append(json.dumps(k, ensure_ascii=False) + ":")
            c = f"struct_extract_at({f}, {pos})"
            parts.append(
                f"CASE WHEN {c} IS NOT NULL THEN $keys[{len(keys)}] || "
                f"{_render_wrapper(c, v, keys, depth + 1, typed_text)} END"
            )
        return f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"
    if tag == "L":
        e = f"e{depth}"
        return (
            f"'[' || array_to_string(list_transform({f}, lambda {e}: "
            f"{_render_wrapper(e, sub[0], keys, depth + 1, typed_text)}), ',') || ']'"
        )
    raise ValueError(tag)  # pragma: no cover - typed_structure only lets known tags through


def _render_wrapper(x: str, typed: dict, keys: list[str], depth: int, typed_text: bool) -> str:
    """Like :func:`_render_tag` for a wrapper STRUCT ``x`` (one field per possible tag)."""
    branches = []
    for tag, sub in typed.items():
        f = f'{x}."{tag}"'
        r = _render_tag(f, tag, sub, keys, depth, typed_text)
        if typed_text:
            r = f"'{{\"{tag}\":' || {r} || '}}'"
        branches.append(f"WHEN {f} IS NOT NULL THEN {r}")
    return "CASE " + " ".join(branches) + " END"


# Characters the DynamoDB wrapper adds to a value's plain JSON (minified): {"S":…} around
# a string, {"N":"…"} around a number, {"BOOL":true} for true, {"NULL":true} for null, ...
_WRAPPER_CHARS = {"S": 6, "B": 6, "N": 8, "BOOL": 9, "NULL": 9, "SS": 7, "BS": 7, "M": 6, "L": 6}


def _overhead_tag(f: str, tag: str, sub, depth: int) -> str:
    """SQL integer: how many characters the DynamoDB JSON of ``f`` (a value of type
    ``tag`` with json_transform structure ``sub``) has beyond its plain rendering
    (:func:`_render_tag`), over every node; NULL when a node has no known tag (so the
    comparison fails and the row takes the exact codec)."""
    if tag == "NS":  # {"NS":[…]} plus two quotes per number
        return f"(7 + 2 * len({f}))"
    if tag == "M":
        parts = [
            f"CASE WHEN struct_extract_at({f}, {pos}) IS NULL THEN 0 ELSE "
            f"{_overhead_wrapper(f'struct_extract_at({f}, {pos})', v, depth + 1)} END"
            for pos, (k, v) in enumerate(sub.items(), 1)
        ]
        return "(" + " + ".join(["6"] + parts) + ")"
    if tag == "L":
        e = f"o{depth}"
        # an element without a known tag counts -10^12: no text length can match then
        return (
            f"(6 + coalesce(list_sum(list_transform({f}, lambda {e}: "
            f"coalesce({_overhead_wrapper(e, sub[0], depth + 1)}, -1000000000000))), 0))"
        )
    return str(_WRAPPER_CHARS[tag])


def _overhead_wrapper(x: str, typed: dict, depth: int) -> str:
    branches = [
        f'WHEN {x}."{tag}" IS NOT NULL THEN {_overhead_tag(f"{x}.{chr(34)}{tag}{chr(34)}", tag, sub, depth)}'
        for tag, sub in typed.items()
    ]
    return "(CASE " + " ".join(branches) + " END)"


def _tag_sql(x: str, tags: Sequence[str]) -> str:
    return (
        "CASE "
        + " ".join(f"WHEN {x}.\"{t}\" IS NOT NULL THEN '{t}'" for t in TAGS if t in tags)
        + " END"
    )


def _value_text_sql(x: str, tags: Sequence[str]) -> str:
    """The exact text of any value (conflict columns): S as is, N digits, BOOL true/false,
    B base64, NULL -> NULL, sets / M / L -> plain JSON."""
    branches = []
    for t in TAGS:
        if t not in tags or t == "NULL":
            continue
        f = f'{x}."{t}"'
        if t in ("S", "N", "B"):
            r = f
        elif t == "BOOL":
            r = f"CASE WHEN {f} THEN 'true' ELSE 'false' END"
        elif t in ("SS", "BS"):
            r = f"CAST(to_json({f}) AS VARCHAR)"
        elif t == "NS":
            r = f"'[' || array_to_string(list_transform({f}, lambda n: {_render_number('n')}), ',') || ']'"
        else:
            r = f"_ddb_plain_json_batch('{{\"{t}\":' || CAST({f} AS VARCHAR) || '}}')"
        branches.append(f"WHEN {f} IS NOT NULL THEN {r}")
    return ("CASE " + " ".join(branches) + " END") if branches else "CAST(NULL AS VARCHAR)"


def _cast_text(text: str, target: TypeSpec, source_tag: str | None, x: str) -> str:
    """SQL that converts an attribute's text to an override type (strict casts)."""
    if target.name == "timestamp":
        return (
            f"CASE WHEN regexp_matches({text}, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') "
            f"THEN timezone('UTC', CAST({text} AS TIMESTAMPTZ)) ELSE CAST({text} AS TIMESTAMP) END"
        )
    if target.name == "json":
        return f"CAST({text} AS JSON)"
    if target.name == "binary":
        if source_tag == "B":
            return f'from_base64({x}."B")'
        return f"CAST({text} AS BLOB)"
    if target.name in ("struct", "array"):
        return f"CAST(CAST({text} AS JSON) AS {target.duckdb()})"
    return f"CAST({text} AS {target.duckdb()})"


def value_sql(
    p: ColumnPlan,
    x: str,
    tags: Sequence[str],
    typed: dict | None,
    keys: list[str],
    plain: str | None = None,
    exact: bool = False,
) -> str:
    """SQL for one column given ``x``, the attribute's value as a STRUCT with a field per
    DynamoDB type tag in ``tags`` (NULL when the item lacks the attribute). ``typed``: the
    structure of a single-tag M / L attribute when it can be rendered in SQL (parsed in
    column ``<x>_t``); ``plain``: a column that already holds that rendering
    (:func:`plain_sql`), so it is computed once per row rather than twice."""
    if p.role == ROLE_TYPE:
        return _tag_sql(x, tags)
    s = p.decimal_scale
    if p.role == ROLE_RAW:
        if p.source_tag == "N":
            return f"CASE WHEN NOT _ddb_fits({x}.N, {s}) THEN {x}.N END"
        ns = f"{x}.NS"
        return (
            f"CASE WHEN NOT coalesce(list_bool_and(list_transform({ns}, lambda n: _ddb_fits(n, {s}))), true) "
            f"THEN CAST(to_json({ns}) AS VARCHAR) END"
        )
    tag = p.source_tag
    if p.override_type:
        if tag in ("S", "N"):
            text = f'({x}."{tag}")'
        elif tag == "BOOL":
            text = f"(CASE WHEN {x}.\"BOOL\" THEN 'true' WHEN NOT {x}.\"BOOL\" THEN 'false' END)"
        else:
            text = _value_text_sql(x, tags)
        return _cast_text(text, p.type, tag, x)
    if tag is None:
        if len([t for t in p.dynamodb_types if t != "NULL"]) > 1:
            return _value_text_sql(x, tags)
        return "CAST(NULL AS VARCHAR)"
    if tag == "S":
        return f"{x}.S"
    if tag == "N":
        # Guarded casts are TRY_CASTs: the optimizer may hoist a common CAST out of the CASE.
        if p.needs_fit_check:
            return f"CASE WHEN _ddb_fits({x}.N, {s}) THEN TRY_CAST({x}.N AS {p.type.duckdb()}) END"
        return f"CAST({x}.N AS {p.type.duckdb()})"
    if tag == "BOOL":
        return f'{x}."BOOL"'
    if tag == "B":
        return f"from_base64({x}.B)"
    if tag == "SS":
        return f"{x}.SS"
    if tag == "NS":
        if p.needs_fit_check:
            return (
                f"CASE WHEN coalesce(list_bool_and(list_transform({x}.NS, lambda n: _ddb_fits(n, {s}))), true) "
                f"THEN TRY_CAST({x}.NS AS {p.type.duckdb()}) END"
            )
        return f"CAST({x}.NS AS {p.type.duckdb()})"
    if tag == "BS":
        return f"list_transform({x}.BS, lambda b: from_base64(b))"
    if tag in ("M", "L"):
        udf = f"_ddb_plain_json_batch('{{\"{tag}\":' || CAST({x}.\"{tag}\" AS VARCHAR) || '}}')"
        if typed is not None:
            # t: the value parsed after the first items' structure; rendered in SQL when
            # re-writing it as DynamoDB JSON gives back every byte of the source text.
            t = f"{x}_t"
            plain = plain or plain_sql(x, typed, keys)
            if exact:  # every row's length was checked when staged (:func:`.stage.fast_stage`)
                return f'CAST(CASE WHEN {x}."{tag}" IS NOT NULL THEN {plain} END AS JSON)'
            # The source text minus every wrapper is exactly as long as the rendering
            # only if the structure dropped nothing (an unknown key or tag drops text).
            extra = _overhead_tag(t, tag, typed[tag], 0)
            return (
                f'CAST(CASE WHEN {x}."{tag}" IS NULL THEN NULL '
                f'WHEN strlen(CAST({x}."{tag}" AS VARCHAR)) = strlen({plain}) + {extra} - 6 THEN {plain} '
                f"ELSE {udf} END AS JSON)"
            )
        return f"CAST(_ddb_plain_json_batch('{{\"{tag}\":' || CAST({x}.\"{tag}\" AS VARCHAR) || '}}') AS JSON)"
    raise ValueError(f"no conversion for DynamoDB type {tag!r}")


def plain_sql(x: str, typed: dict, keys: list[str]) -> str:
    """Plain JSON text of a single-tag M / L value parsed in ``<x>_t`` after ``typed``."""
    ((tag, sub),) = typed.items()
    return _render_tag(f"{x}_t", tag, sub, keys, 0, False)
