"""Column-level lineage of a SELECT: each output column → the upstream columns it reads.

Feeds ``dagster/column_lineage``. Built on sqlglot's optimizer (``qualify``) and
``sqlglot.lineage`` with a schema ``{table: {column: type}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as _sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope


class LineageError(ValueError):
    """The SELECT cannot be resolved against the schema."""


def strip_database(tree: exp.Expr, database: str | None) -> exp.Expr:
    """Drop ``<database>.`` (and ``awsdatacatalog.<database>.``) from table references."""
    if not database:
        return tree
    database = database.lower()
    for table in tree.find_all(exp.Table):
        if table.db.lower() == database and table.catalog.lower() in ("", "awsdatacatalog"):
            table.set("db", None)
            table.set("catalog", None)
    return tree


def column_lineage(
    sql: str | exp.Expression,
    schema: Mapping[str, Mapping[str, str]],
    *,
    database: str | None = None,
    dialect: str = "athena",
) -> dict[str, list[tuple[str, str]]]:
    """``{output_column: [(upstream_table, upstream_column), ...]}`` for a SELECT.

    ``schema`` maps table name → column → type for every table the SELECT reads (needed to
    expand ``*`` and to resolve unqualified columns). References ``<database>.t`` are
    treated as ``t``. Output columns computed from no table column (``count(*)``, literals)
    map to an empty list. Upstream pairs are sorted and unique.
    """
    tree = sqlglot.parse_one(sql, read=dialect) if isinstance(sql, str) else sql.copy()
    tree = strip_database(tree, database)
    lowered: dict[str, object] = {
        str(t).lower(): {str(c).lower(): ty for c, ty in cols.items()} for t, cols in schema.items()
    }
    try:
        qualified = qualify(tree, schema=lowered, dialect=dialect, validate_qualify_columns=False)
        scope = build_scope(qualified)
    except SqlglotError as exc:
        raise LineageError(f"cannot resolve the SELECT's columns: {exc}") from exc
    if not isinstance(qualified, exp.Query):
        raise LineageError("not a SELECT")
    result: dict[str, list[tuple[str, str]]] = {}
    for name in qualified.named_selects:
        try:
            node = _sqlglot_lineage(
                name, qualified, schema=lowered, dialect=dialect, scope=scope, copy=True
            )
        except SqlglotError as exc:
            raise LineageError(f"column {name!r}: {exc}") from exc
        pairs: set[tuple[str, str]] = set()
        for n in node.walk():
            if n.downstream or not isinstance(n.expression, exp.Table):
                continue
            column = exp.to_column(n.name, dialect=dialect).name if n.name else ""
            if column:
                pairs.add((n.expression.name.lower(), column.lower()))
        result[name] = sorted(pairs)
    return result
