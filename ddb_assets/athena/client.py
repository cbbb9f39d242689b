"""Running Athena SQL through pyathena, behind a small interface that tests can fake.

``AthenaClient.execute`` checks that every statement parses with sqlglot's ``athena``
dialect before it is sent, runs it with pyathena, and returns a :class:`QueryResult`
carrying the query id, bytes scanned and elapsed time for materialization metadata.
A failed query raises :class:`AthenaQueryError` with Athena's state-change reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlglot
from sqlglot.errors import ParseError


@dataclass
class QueryResult:
    query_id: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    bytes_scanned: int | None = None
    elapsed_ms: int | None = None
    output_location: str | None = None


class AthenaQueryError(RuntimeError):
    def __init__(
        self,
        message: str,
        *,
        query_id: str | None = None,
        state: str | None = None,
        reason: str | None = None,
        sql: str | None = None,
    ):
        super().__init__(message)
        self.query_id = query_id
        self.state = state
        self.reason = reason
        self.sql = sql


class SqlRunner(Protocol):
    """What the table and summary code needs from Athena: run one statement."""

    def execute(self, sql: str) -> QueryResult: ...


def check_athena_sql(sql: str) -> None:
    """Raise ValueError if ``sql`` does not parse in sqlglot's athena dialect."""
    try:
        parsed = sqlglot.parse(sql, read="athena")
    except ParseError as exc:
        raise ValueError(f"generated SQL does not parse as Athena SQL: {exc}\n{sql}") from exc
    if not parsed or any(p is None for p in parsed):
        raise ValueError(f"generated SQL is empty:\n{sql!r}")


class AthenaClient:
    """pyathena-backed :class:`SqlRunner`.

    ``connect`` is injectable so tests can pass a fake connection factory; by default it
    is :func:`pyathena.connect`, and the connection is made lazily on first use.
    """

    def __init__(
        self,
        *,
        database: str,
        workgroup: str = "primary",
        output_location: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        connect: Callable[..., Any] | None = None,
    ):
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self._connect = connect
        self._conn = None

    def _connection(self):
        if self._conn is None:
            connect = self._connect
            if connect is None:
                from pyathena import connect as pyathena_connect

                connect = pyathena_connect
            kwargs: dict[str, Any] = {"schema_name": self.database, "work_group": self.workgroup}
            if self.output_location:
                kwargs["s3_staging_dir"] = self.output_location
            if self.region_name:
                kwargs["region_name"] = self.region_name
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._conn = connect(**kwargs)
        return self._conn

    def execute(self, sql: str) -> QueryResult:
        check_athena_sql(sql)
        cursor = self._connection().cursor()
        started = time.monotonic()
        try:
            cursor.execute(sql)
        except Exception as exc:  # pyathena raises OperationalError / DatabaseError
            reason = getattr(cursor, "state_change_reason", None) or str(exc)
            raise AthenaQueryError(
                f"Athena query failed: {reason}",
                query_id=getattr(cursor, "query_id", None),
                state=getattr(cursor, "state", None),
                reason=reason,
                sql=sql,
            ) from exc
        rows: list[tuple] = []
        columns: list[str] = []
        if getattr(cursor, "description", None):
            columns = [d[0] for d in cursor.description]
            rows = [tuple(r) for r in cursor.fetchall()]
        elapsed = getattr(cursor, "engine_execution_time_in_millis", None)
        if elapsed is None:
            elapsed = int((time.monotonic() - started) * 1000)
        return QueryResult(
            query_id=getattr(cursor, "query_id", None),
            columns=columns,
            rows=rows,
            bytes_scanned=getattr(cursor, "data_scanned_in_bytes", None),
            elapsed_ms=elapsed,
            output_location=getattr(cursor, "output_location", None),
        )


class RecordingSqlRunner:
    """A :class:`SqlRunner` for tests and dry runs: records statements, returns canned rows.

    ``responder(sql) -> QueryResult | None`` may return rows for a statement (for example
    a count query); statements are checked with :func:`check_athena_sql` like the real one.
    """

    def __init__(self, responder: Callable[[str], QueryResult | None] | None = None):
        self.statements: list[str] = []
        self._responder = responder
        self._n = 0

    def execute(self, sql: str) -> QueryResult:
        check_athena_sql(sql)
        self.statements.append(sql)
        self._n += 1
        result = self._responder(sql) if self._responder else None
        if result is None:
            result = QueryResult()
        if result.query_id is None:
            result.query_id = f"recorded-{self._n:04d}"
        return result
