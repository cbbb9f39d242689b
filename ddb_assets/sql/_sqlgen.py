"""Shared pieces of the Athena → DuckDB transpiler: the error, type constants, and the
template helper that builds DuckDB expressions around already-parsed nodes."""

from __future__ import annotations

import sqlglot
from sqlglot import exp


class TranspileError(ValueError):
    """Athena SQL that cannot be given the same meaning on DuckDB."""


_INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}
_TZ = exp.DataType.Type.TIMESTAMPTZ
_NAIVE_TS = {
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMP_MS,
    exp.DataType.Type.TIMESTAMP_S,
    exp.DataType.Type.TIMESTAMPNTZ,
}
_DATE = exp.DataType.Type.DATE
_UNKNOWN = exp.DataType.Type.UNKNOWN

# An ISO 8601 time part followed by an explicit offset: only then is the string an instant
# by itself; otherwise Trino reads it in the session zone (UTC on Athena).
_HAS_OFFSET_RE = r"T[0-9:.,]*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _type_of(node: exp.Expr | None) -> exp.DType:
    t = getattr(node, "type", None)
    if t is None:
        return _UNKNOWN
    return t.this


# ---------------------------------------------------------------------------------------
# Templates: DuckDB SQL with __a__, __b__ placeholders replaced by expression nodes.

_TEMPLATE_CACHE: dict[str, exp.Expr] = {}


def _dd(template: str, type_: str | None = None, **args: exp.Expr) -> exp.Expr:
    base = _TEMPLATE_CACHE.get(template)
    if base is None:
        base = sqlglot.parse_one(template, read="duckdb")
        _TEMPLATE_CACHE[template] = base
    tree = base.copy()
    for col in list(tree.find_all(exp.Column)):
        name = col.name
        if col.table == "" and name.startswith("__") and name.endswith("__"):
            key = name.strip("_")
            arg = args[key].copy()
            if isinstance(arg, (exp.JSONExtract, exp.JSONExtractScalar)):
                # DuckDB prints these as `j -> path`; bare inside a call, sqlglot (e.g. a
                # test harness re-parsing our output) reads that back as a lambda
                arg = exp.Paren(this=arg)
            col.replace(arg)
    if type_ is not None:
        tree.type = exp.DataType.build(type_, dialect="duckdb")
    return tree


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=[a.copy() for a in args])
