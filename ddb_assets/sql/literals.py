"""The one place where values (strings, dates, times, settings, file paths) become SQL text.

Athena (Trino) and DuckDB write string, DATE and TIMESTAMP literals the same way, so one
function per kind of value serves both dialects. Identifiers are quoted elsewhere
(:mod:`ddb_assets.sql.identifiers`). Nothing else in the project pastes a value into an
f-string: a value either goes through one of these functions or is passed as a bound
parameter.
"""

from __future__ import annotations

import datetime as dt
import math
import os

__all__ = [
    "date_literal",
    "path_literal",
    "setting_literal",
    "sql_literal",
    "timestamp_literal",
]


def sql_literal(text: str) -> str:
    """A SQL string literal (Athena/Trino and DuckDB): quotes doubled, control characters
    refused (a newline or NUL in a value is a sign of a bug or an attack, never data
    that belongs in SQL text)."""
    if not isinstance(text, str):
        raise TypeError(f"a SQL literal must be a string, got {type(text).__name__}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{text!r} contains a control character and cannot be a SQL literal")
    return "'" + text.replace("'", "''") + "'"


def path_literal(path: str | os.PathLike) -> str:
    """A local file path as a DuckDB string literal (``COPY ... TO``, ``read_parquet``)."""
    return sql_literal(os.fspath(path))


def date_literal(day: dt.date) -> str:
    """``DATE 'YYYY-MM-DD'``."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError(f"a DATE literal needs a datetime.date, got {type(day).__name__}")
    return f"DATE {sql_literal(day.isoformat())}"


def timestamp_literal(when: dt.datetime) -> str:
    """``TIMESTAMP 'YYYY-MM-DD HH:MM:SS.ffffff'``: the UTC wall clock of ``when`` (an aware
    datetime is converted to UTC; a naive one is taken as UTC already)."""
    if not isinstance(when, dt.datetime):
        raise TypeError(f"a TIMESTAMP literal needs a datetime, got {type(when).__name__}")
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return f"TIMESTAMP {sql_literal(when.strftime('%Y-%m-%d %H:%M:%S.%f'))}"


def setting_literal(value: bool | int | float | str) -> str:
    """The value of a DuckDB ``SET name = value``: booleans and finite numbers as SQL
    literals, anything else as a string literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"setting value {value!r} is not a finite number")
        return repr(value)
    return sql_literal(str(value))
