"""Run the corpus on both engines and classify every query: agrees, refused, differs.

* Trino side: each query as written (Athena SQL), session schema = the corpus database.
* DuckDB side: exactly what the DuckDB engine does with a summary's SQL: upstream column
  types from the warehouse, :func:`ddb_assets.sql.transpile.athena_to_duckdb`, run with the
  search path on the schema and the session zone UTC. A query the transpiler refuses
  (:class:`TranspileError` naming the function and the reason) is "refused".
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ddb_assets.sql.transpile import TranspileError, athena_to_duckdb
from ddb_assets.summaries.duckdb_engine import upstream_schema
from ddb_assets.tables.athena_engine import sql_literal
from ddb_assets_tests.corpus.compare import (
    Result,
    compare,
    duckdb_result,
    is_ordered,
    trino_result,
)

QUERIES = pathlib.Path(__file__).with_name("queries.sql")
_NAME = re.compile(r"^-- name: ([a-z0-9_]+)\s*$")


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    line: int


def load_queries(path: pathlib.Path = QUERIES) -> list[Query]:
    """The corpus file's queries, in order; names are unique."""
    out: list[Query] = []
    name, start, body = None, 0, []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines + ["-- name: _end"], 1):
        m = _NAME.match(line)
        if m:
            if name is not None:
                sql = "\n".join(body).strip().rstrip(";").strip()
                sql = "\n".join(x for x in sql.splitlines() if not x.startswith("-- ="))
                out.append(Query(name, sql.strip(), start))
            name, start, body = m.group(1), i, []
        elif name is not None:
            body.append(line)
    names = [q.name for q in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{path.name}: duplicate query names {sorted(dupes)}")
    return out


@dataclass
class Outcome:
    query: Query
    status: str  # "agrees" | "refused" | "differs" | "invalid" (Trino refused the query)
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def summary(self) -> str:
        return (
            f"{self.count('agrees')} of {len(self.outcomes)} queries agree "
            f"({self.count('refused')} refused by the DuckDB engine, "
            f"{self.count('differs')} differ)"
        )

    def lines(self) -> list[str]:
        out = [self.summary()]
        for o in self.outcomes:
            if o.status != "agrees":
                out.append(f"  {o.status}: {o.query.name} (line {o.query.line}): {o.detail}")
        return out


TrinoQuery = Callable[[str], tuple[Sequence[str], Sequence[str], Sequence[Sequence]]]


def run_duckdb(con, schema: str, tables: Sequence[str], sql: str) -> Result:
    """Run one Athena query the way the DuckDB engine runs a summary's SELECT."""
    duck_sql = athena_to_duckdb(sql, schema=upstream_schema(con, schema, list(tables)))
    old_path = con.execute("SELECT current_setting('search_path')").fetchone()[0]
    con.execute(f"SET search_path = {sql_literal(schema)}")
    try:
        return duckdb_result(con.execute(duck_sql))
    finally:
        con.execute(f"SET search_path = {sql_literal(old_path)}")


def run_corpus(
    queries: Sequence[Query],
    trino_query: TrinoQuery,
    duck_con,
    schema: str,
    tables: Sequence[str],
) -> Report:
    report = Report()
    for q in queries:
        try:
            cols, types, rows = trino_query(q.sql)
        except Exception as exc:  # a corpus query must be valid Athena SQL
            report.outcomes.append(Outcome(q, "invalid", f"Trino refused it: {exc}"))
            continue
        expected = trino_result(cols, types, rows)  # raises only on a harness defect
        try:
            got = run_duckdb(duck_con, schema, tables, q.sql)
        except TranspileError as exc:
            report.outcomes.append(Outcome(q, "refused", str(exc)))
            continue
        except Exception as exc:  # DuckDB failed where Trino ran: a difference
            report.outcomes.append(
                Outcome(q, "differs", f"DuckDB failed: {type(exc).__name__}: {exc}")
            )
            continue
        verdict = compare(expected, got, ordered=is_ordered(q.sql))
        report.outcomes.append(
            Outcome(q, "agrees" if verdict.agrees else "differs", verdict.reason)
        )
    return report
