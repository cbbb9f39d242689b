"""The checks a load makes on every line it parses after a guessed structure: the row's
DynamoDB JSON length recomputed from the parsed values must be the line's, so nothing the
guess does not cover was dropped (:func:`length_ok_sql`, :func:`len_wrapper`), and a number
must be exactly a value of its DECIMAL column (:func:`number_check_sql`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ddb_assets.tables.types import DECIMAL_PRECISION


def length_ok_sql(
    attributes: Sequence[str], structures: Mapping[str, dict], exact: Sequence[str] = ()
) -> str:
    """SQL boolean over a frame of ``attributes`` parsed after ``structures`` (column
    ``a<i>`` per attribute) and the line (``_line``): true when the line's DynamoDB JSON
    length equals the length recomputed from the parsed values, i.e. the parse dropped
    nothing (no attribute, key or tag outside the structures, no other spelling).
    Attributes in ``exact`` are measured exactly in the cheap total too (see
    :func:`.stage.exact_lengths`)."""
    alias = {a: f"a{i}" for i, a in enumerate(attributes, 1)}

    def total(cheap: bool) -> str:
        # {"Item":{...}}: 10 characters, plus per attribute "name":<value> and a comma, one
        # comma less (an attribute whose value has no known tag counts 0: less than its text).
        parts = " + ".join(
            len_wrapper(alias[a], structures[a], 0, cheap and a not in exact, _json_len(a) + 1)
            for a in attributes
        )
        return f"10 + greatest({parts}, 1)"

    # The cheap total counts strings without their escapes: never more than the exact
    # total, so when it already equals the line's length the exact one does too; the
    # exact total (escapes counted by rendering) is only computed for the other rows.
    return f"coalesce(CASE WHEN strlen(_line) = {total(True)} THEN true ELSE strlen(_line) = {total(False)} END, false)"


def _json_len(text: str) -> int:
    """Bytes of ``text`` as a minimal JSON string (quotes included)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _len_tag(f: str, tag: str, sub, depth: int, cheap: bool = False) -> str:
    """SQL integer: the length of the value part of ``{"tag":<value>}`` written minified
    with minimal escapes, for ``f`` parsed after structure ``sub`` (NULL when ``f`` is);
    never more than the source text's. A node without a known tag counts 0, which is less
    than its text. ``cheap``: strings counted without escapes (a lower bound of the exact
    length, much cheaper to compute)."""
    if tag in ("S", "B"):
        return f"(strlen({f}) + 2)" if cheap else f"strlen(CAST(to_json({f}) AS VARCHAR))"
    if tag in ("SS", "BS", "NS"):
        if cheap:  # ["a","b"]: the elements, a comma between, two quotes each, the brackets
            return f"(strlen(array_to_string({f}, ',')) + 2 * len({f}) + 2)"
        return f"strlen(CAST(to_json({f}) AS VARCHAR))"
    if tag == "N":
        return f"(strlen({f}) + 2)"
    if tag in ("BOOL", "NULL"):
        return f"(5 - CAST({f} AS INTEGER))"
    if tag == "M":  # {"k":<v>,...}: each key with its colon and a comma, one comma less
        parts = [
            len_wrapper(f"struct_extract_at({f}, {pos})", v, depth + 1, cheap, _json_len(k) + 1)
            for pos, (k, v) in enumerate(sub.items(), 1)
        ]
        return f"(CASE WHEN {f} IS NOT NULL THEN 1 + greatest({' + '.join(parts)}, 1) END)"
    if tag == "L":
        e = f"l{depth}"
        return (
            f"(CASE WHEN {f} IS NOT NULL THEN 1 + greatest(coalesce(list_sum(list_transform({f}, lambda {e}: "
            f"{len_wrapper(e, sub[0], depth + 1, cheap, 0)})), 0), 1) END)"
        )
    raise ValueError(tag)  # pragma: no cover


def len_wrapper(x: str, typed: dict, depth: int, cheap: bool = False, prefix: int = 0) -> str:
    """SQL integer: ``prefix`` (a key and its colon) plus the length of the wrapper
    ``{"tag":<value>}`` plus one (a comma) when ``x`` holds a value of a known tag, else 0
    (never NULL)."""
    branches = [
        f"coalesce({prefix + len(tag) + 6} + {_len_tag(f'{x}.{chr(34)}{tag}{chr(34)}', tag, sub, depth, cheap)}, 0)"
        for tag, sub in typed.items()
    ]
    return "(" + " + ".join(branches) + ")"


def _fits_sql(x: str, scale: int) -> str:
    """SQL boolean: number text ``x`` (not NULL) is a plain decimal short enough to be
    exactly a DECIMAL(38, scale): at most 38 - scale characters, no exponent, at most
    ``scale`` digits after the point. (Cheap, and true for most numbers; the others are
    decided by their shape, the ``_ddb_fits`` macro.)"""
    return (
        f"(strlen({x}) <= {DECIMAL_PRECISION - scale} AND NOT contains({x}, 'e') AND NOT contains({x}, 'E') "
        f"AND (instr({x}, '.') = 0 OR strlen({x}) - instr({x}, '.') <= {scale}))"
    )


def number_check_sql(x: str, tag: str, scale: int) -> str:
    """SQL boolean: the N (or every NS element) of ``x`` is exactly a DECIMAL(38, scale);
    true when there is none. CASE, not OR, so the exact test only runs when the cheap one
    fails (a projection evaluates every operand of OR, and a lambda every CASE branch)."""
    if tag == "N":
        return (
            f"CASE WHEN {x}.N IS NULL OR {_fits_sql(f'{x}.N', scale)} THEN true "
            f"ELSE _ddb_fits({x}.N, {scale}) END"
        )
    return (
        f"CASE WHEN {x}.NS IS NULL OR list_bool_and(list_transform({x}.NS, lambda e: {_fits_sql('e', scale)})) "
        f"THEN true ELSE coalesce(list_bool_and(list_transform({x}.NS, lambda e: _ddb_fits(e, {scale}))), true) END"
    )
