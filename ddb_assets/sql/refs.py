"""Table references of an Athena SELECT, with where they appear.

Used to derive a summary's upstream tables from its SQL (so lineage needs no hand-written
dependency list) and to report an unknown table as ``file.sql line N: unknown table "x"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp


@dataclass(frozen=True)
class TableRef:
    """One reference to a table in the SQL text (CTE names excluded)."""

    name: str  # table name as written, lower-cased (Athena folds case)
    db: str | None  # database qualifier, if written (``db.table``)
    catalog: str | None  # catalog qualifier, if written (``awsdatacatalog.db.table``)
    line: int  # 1-based line of the table name in the SQL text
    col: int  # 1-based column where the name ends (sqlglot's position)

    @property
    def qualified_name(self) -> str:
        return ".".join(p for p in (self.catalog, self.db, self.name) if p)


def _cte_names_in_scope(table: exp.Table) -> set[str]:
    """Names of CTEs visible from ``table``: those of every enclosing WITH."""
    names: set[str] = set()
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        node = node.parent
    return names


def table_refs_of(tree: exp.Expr) -> list[TableRef]:
    """Table references of a parsed statement, in text order, CTE references excluded."""
    refs: list[TableRef] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions, UNNEST and the like
        name = table.name.lower()
        db = table.db.lower() or None
        catalog = table.catalog.lower() or None
        if db is None and name in _cte_names_in_scope(table):
            continue
        meta = table.this.meta
        refs.append(
            TableRef(
                name=name,
                db=db,
                catalog=catalog,
                line=int(meta.get("line", 1)),
                col=int(meta.get("col", 0)),
            )
        )
    refs.sort(key=lambda r: (r.line, r.col))
    return refs


def table_refs(sql: str, dialect: str = "athena") -> list[TableRef]:
    """Table references of one SELECT (or WITH ... SELECT); raises sqlglot's ParseError."""
    return table_refs_of(sqlglot.parse_one(sql, read=dialect))
