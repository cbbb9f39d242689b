"""Checks declared in a summary's header, run after each build (no Dagster here).

::

    -- check: row_count > 0
    -- check: unique(order_date, menu)
    -- check: not_null(menu)

``row_count <op> N`` compares the built table's row count (op: ``>``, ``>=``, ``=``,
``!=``, ``<``, ``<=``); ``unique(c, ...)`` fails when a combination of the columns occurs
more than once; ``not_null(c, ...)`` fails when a column is NULL in any row. Columns must
be output columns of the SELECT; anything else is refused when the file is read, with
the file and line.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from ddb_assets.sql.identifiers import qualified, quote_ident

_OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
}
_ROW_COUNT = re.compile(r"^row_count\s*(>=|<=|==|!=|<>|>|<|=)\s*(\d+)$", re.IGNORECASE)
_COLUMNS = re.compile(r"^(unique|not_null)\s*\(\s*([^()]*?)\s*\)$", re.IGNORECASE)
_OP_NAMES = {
    ">": "gt",
    ">=": "ge",
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "<>": "ne",
    "<": "lt",
    "<=": "le",
}


class CheckSyntaxError(ValueError):
    """A ``-- check:`` line that cannot be understood; the message says what is allowed."""


@dataclass(frozen=True)
class HeaderCheck:
    name: str  # the Dagster check name, e.g. row_count_gt_0, unique_order_date_menu
    kind: str  # row_count | unique | not_null
    text: str  # as written
    line: int  # in the .sql file
    op: str = ""
    value: int = 0
    columns: tuple[str, ...] = ()

    def passed_row_count(self, row_count: int) -> bool:
        return _OPS[self.op](row_count, self.value)

    def violations_sql(self, schema: str, table: str) -> str:
        """One query counting the rows that break the check (0 = passed)."""
        target = qualified(schema, table)
        cols = ", ".join(quote_ident(c) for c in self.columns)
        if self.kind == "unique":
            return (
                f"SELECT count(*) FROM (SELECT {cols} FROM {target} "
                f"GROUP BY {cols} HAVING count(*) > 1) AS duplicates"
            )
        if self.kind == "not_null":
            where = " OR ".join(f"{quote_ident(c)} IS NULL" for c in self.columns)
            return f"SELECT count(*) FROM {target} WHERE {where}"
        raise ValueError(f"{self.kind} checks are decided without a query")


def parse_check(text: str, line: int, columns: list[str]) -> HeaderCheck:
    """One ``-- check:`` value; ``columns`` are the SELECT's output columns."""
    text = text.strip()
    m = _ROW_COUNT.match(text)
    if m:
        op, value = m.group(1), int(m.group(2))
        return HeaderCheck(
            name=f"row_count_{_OP_NAMES[op]}_{value}",
            kind="row_count",
            text=text,
            line=line,
            op=op,
            value=value,
        )
    m = _COLUMNS.match(text)
    if m:
        kind = m.group(1).lower()
        cols = tuple(c.strip().strip('"').lower() for c in m.group(2).split(",") if c.strip())
        if not cols:
            raise CheckSyntaxError(f"{kind}() needs at least one column, e.g. {kind}(order_date)")
        known = [c.lower() for c in columns]
        missing = [c for c in cols if c not in known]
        if missing:
            raise CheckSyntaxError(
                f"{kind}({', '.join(cols)}): {', '.join(missing)} is not an output column of "
                f"the SELECT (columns: {', '.join(columns) or 'none'})"
            )
        return HeaderCheck(
            name=f"{kind}_{'_'.join(cols)}"[:200],
            kind=kind,
            text=text,
            line=line,
            columns=cols,
        )
    raise CheckSyntaxError(
        f"cannot read the check {text!r}; write `row_count > 0` (any of > >= = != < <=), "
        "`unique(col, ...)` or `not_null(col, ...)`"
    )
