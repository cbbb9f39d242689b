"""Functions the DuckDB engine cannot run, found when the definitions load (no Dagster).

A summary is written in Athena's dialect and transpiled for DuckDB. A function that
neither sqlglot nor our fixes translate, and that DuckDB does not have, would otherwise
fail only at build time, after the export and the load, with a line number inside the
transpiled SQL. Here every function of the transpiled SELECT is looked up in DuckDB's own
catalog (``duckdb_functions()``, in an in-memory database) and a missing one is reported
with the line where the user's file calls it.
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from ddb_assets.sql.transpile import TranspileError, athena_to_duckdb
from ddb_assets.summaries.spec import SummaryError, SummarySpec

# Written as functions in SQL, but keywords or special forms in DuckDB's grammar.
_SPECIAL_FORMS = {"cast", "try_cast", "extract", "coalesce", "nullif", "if", "case", "exists"}


@functools.cache
def _duckdb_function_names() -> frozenset[str]:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("LOAD icu")
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions()"
        ).fetchall()
    finally:
        con.close()
    return frozenset(r[0] for r in rows)


def _line_of(text: str, name: str) -> int | None:
    m = re.search(rf"\b{re.escape(name)}\s*\(", text, flags=re.IGNORECASE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def unsupported_functions(sql: str) -> list[str]:
    """Function names in the DuckDB translation of ``sql`` that DuckDB lacks."""
    duck = athena_to_duckdb(sql)
    known = _duckdb_function_names()
    missing: list[str] = []
    for tree in sqlglot.parse(duck, read="duckdb"):
        if tree is None:
            continue
        for node in tree.find_all(exp.Anonymous):
            name = str(node.this).lower()
            if name not in known and name not in _SPECIAL_FORMS and name not in missing:
                missing.append(name)
    return missing


def check_runs_on_duckdb(spec: SummarySpec) -> None:
    """Raise :class:`SummaryError` (file and line) if DuckDB cannot run the summary."""
    source = str(spec.path)
    try:
        missing = unsupported_functions(spec.sql)
    except TranspileError as exc:
        raise SummaryError(f"{source}: the DuckDB engine cannot run this summary: {exc}") from None
    if missing:
        name = missing[0]
        line = _line_of(spec.sql, name)
        where = f" line {line}" if line else ""
        others = f" (also: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise SummaryError(
            f"{source}{where}: function {name}() does not exist on the DuckDB engine{others}; "
            "rewrite it with functions both Athena and DuckDB have (see "
            "ddb_assets/sql/transpile.py for the ones translated), or use engine: athena"
        )
