"""Athena (Trino) SQL → DuckDB SQL with the same meaning.

sqlglot (``read="athena"``, ``write="duckdb"``) does most of the work. This module adds
our fixes for what sqlglot passes through unchanged (DuckDB then fails with "function
does not exist") or translates to something that runs but means something else. Each fix
is listed in :data:`FIXES` and has a value test in ``ddb_assets_tests/test_sql_transpile.py``;
the differential corpus (``ddb_assets_tests/corpus``) runs Athena queries on real Trino and
through this module on DuckDB and compares results and column types. What cannot be given
Trino's meaning is refused (:data:`REFUSALS`, :func:`unsupported_functions`,
:func:`check_supported`): a :class:`TranspileError` names the function and the reason.
Trino's result types and the corpus's fixes live in :mod:`ddb_assets.sql.transpile_trino`,
per-value time zones in :mod:`ddb_assets.sql.transpile_zones`, the rewrite (each fix and its
dispatch) in :mod:`ddb_assets.sql.transpile_rewrite`.

Time zones (the decision)
-------------------------
* Athena runs every query in session zone UTC. DuckDB connections that run transpiled
  SQL must do the same: :func:`prepare_duckdb_connection` sets ``TimeZone='UTC'`` (ICU is
  built in, it is only loaded). The SQL we emit for ``from_iso8601_timestamp`` does not
  depend on the session zone at all, so a laptop in Asia/Tokyo gets Athena's boundaries.
* ``timestamp with time zone`` maps to DuckDB ``TIMESTAMPTZ``: an instant. Comparisons,
  ``BETWEEN``, ordering, ``min``/``max`` and arithmetic are instant-based in both engines,
  so they agree. DuckDB does not keep Trino's *per-value* zone; the transpiler carries it
  where the SQL shows it: field extraction, ``date_trunc``, ``date_format``,
  ``format_datetime``, ``to_iso8601``, ``timezone_hour`` and ``CAST`` to varchar / date /
  timestamp of ``from_iso8601_timestamp('...+09:00')`` work in +09:00 as in Trino. A value
  that went through a CTE or subquery column has lost its zone and is read in UTC.
  ``at_timezone(ts, 'Asia/Tokyo')`` (or ``ts AT TIME ZONE 'Asia/Tokyo'``) becomes DuckDB
  ``timezone(zone, ts)``, a plain ``TIMESTAMP`` holding the wall-clock time in that zone,
  which every later ``date_trunc``/``format_datetime``/``hour`` handles as Trino does for
  that zone; selected as an output column it becomes the instant again (Trino's
  ``timestamp with time zone``). Comparing such a wall-clock value to an instant inside a
  query is the one thing that then differs; compare instants.
* Trino timestamps here are millisecond precision (``timestamp(3)``):
  ``from_iso8601_timestamp`` truncates extra fraction digits to milliseconds, and
  ``to_iso8601`` prints milliseconds, as Athena does.

Known differences left (not translated)
---------------------------------------
* ``UNNEST(x) AS t(a, b)`` with ``x`` of unknown type is taken for a map; an array of
  two-field rows needs its type (``schema``). ``date_add`` on a DATE stays a DATE only when
  the type is known.
* ``CAST(json AS varchar)`` of a JSON number prints DuckDB's number text (``12.50`` →
  ``12.5``); Trino goes through double formatting, which can differ for exponents.
* ``regexp_extract`` of a group that did not take part in a match gives ``''`` (Trino NULL);
  patterns are RE2 in DuckDB, Java-style (joni) in Trino.
* Decimal types follow Trino's rules only where the operands' types are known (columns
  given in ``schema``, literals, casts); elsewhere DuckDB's (``avg`` of an untyped decimal is
  a DOUBLE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import TokenType

from ddb_assets.sql import transpile_trino as _trino
from ddb_assets.sql import transpile_zones as _zones
from ddb_assets.sql._sqlgen import TranspileError
from ddb_assets.sql.joda import joda_to_strftime
from ddb_assets.sql.transpile_rewrite import rewrite
from ddb_assets.sql.transpile_trino import REFUSALS

__all__ = [
    "FIXES",
    "REFUSALS",
    "TranspileError",
    "athena_to_duckdb",
    "check_supported",
    "unsupported_functions",
    "joda_to_strftime",
    "prepare_duckdb_connection",
]


# What each fix does, for documentation and the README of the summaries folder.
FIXES: dict[str, str] = {
    "from_iso8601_timestamp": "offset-less strings are UTC (Athena's session zone) whatever the "
    "DuckDB session zone; Z/±hh:mm offsets honoured; truncated to milliseconds",
    "from_iso8601_date": "CAST AS DATE (sqlglot's own translation, value-tested)",
    "date_trunc": "a DATE argument gives a DATE, as in Trino (DuckDB returns TIMESTAMP)",
    "date_format": "MySQL-style specifiers via sqlglot, plus %v (ISO week) → %V",
    "format_datetime": "Joda pattern → strftime (sqlglot passes it through)",
    "at_timezone / AT TIME ZONE": "timezone(zone, instant) → wall-clock TIMESTAMP in the zone; a "
    "timestamp without zone is first read as UTC, as Trino does",
    "to_iso8601": "ISO 8601 text with milliseconds, 'Z' for instants, date-only for DATE",
    "approx_distinct": "exact COUNT(DISTINCT x): Trino is exact at small cardinalities and exact "
    "is always within its error bound (DuckDB's HLL is off by ~2% even at 1000 values)",
    "approx_percentile": "quantile_disc: returns a value of the input like Trino's q-digest "
    "(DuckDB's approx_quantile interpolates values that are not in the data)",
    "map_agg": "map_from_entries over the list of pairs, NULL keys skipped, first value of a "
    "duplicate key kept (DuckDB has no map_agg and map_from_entries rejects duplicates)",
    "json_extract_scalar": "NULL when the path names an object or array, as in Trino (DuckDB's "
    "->> returns the JSON text)",
    "cardinality": "DuckDB cardinality() for maps, len() for arrays (sqlglot's ARRAY_LENGTH "
    "rejects maps)",
    "try_cast to integer types": "a varchar that is not an integer literal gives NULL (DuckDB "
    "rounds '1.5' to 2); doubles round half away from zero (DuckDB rounds half to even)",
    "integer division": "bigint / bigint truncates, as in Trino, when both sides' types are "
    "known (literals, or columns given in `schema`)",
    "UNNEST(map) AS t(k, v)": "one row per entry, key and value columns: a LATERAL SELECT of "
    "unnest(map_keys(m)), unnest(map_values(m)) (DuckDB's UNNEST takes lists only). The map "
    "is recognised by its type (schema, MAP constructor) or, when its type is unknown, by "
    "being the only argument with two column names",
    "UNNEST(a, b, ...) [WITH ORDINALITY]": "several arrays are zipped, the shorter padded with "
    "NULLs (a LATERAL SELECT of parallel unnest() calls, which DuckDB pads the same way); "
    "the ordinality column counts to the longest; an array of rows expands to its fields",
    "CAST(json AS varchar)": "a JSON string/number/boolean gives its scalar text (no quotes), "
    "JSON null gives NULL, an array/object fails (INVALID_CAST_ARGUMENT, as in Trino; "
    "TRY_CAST gives NULL). Applied when the operand is JSON (json_extract, json_parse, "
    "CAST AS JSON, a json column) or of unknown type (decided at run time by typeof). "
    "json_format(x) keeps the JSON text, json_extract(...) stays JSON",
    "all_match / any_match / none_match": "list_transform + a three-valued AND/OR fold: a NULL "
    "predicate result makes the answer NULL unless a false (all_match) / true (any_match, "
    "none_match) decides it; empty array: true / false / true; NULL array: NULL",
    "reduce": "list_reduce(array, merge, initial) with the output function applied to it "
    "(sqlglot cannot express the output function)",
    "zip_with": "list_transform over list_zip (the shorter array padded with NULLs); NULL if an "
    "array is NULL",
    "split(s, d, limit)": "at most `limit` parts, the last holding the rest of the string "
    "(sqlglot drops the limit)",
    "regexp_extract": "NULL when the pattern does not match (DuckDB returns '')",
    "date_diff": "whole units elapsed, like Trino/Joda (DuckDB date_sub; its date_diff counts "
    "unit boundaries crossed: 23:00→01:00 is 1 day there, 0 in Trino)",
    "date_add on a DATE": "stays a DATE for day/week/month/quarter/year (DATE + INTERVAL is a "
    "TIMESTAMP in DuckDB); needs the operand's type to be known",
    "json_array_length": "NULL for a JSON value that is not an array or text that is not JSON "
    "(DuckDB returns 0 / fails)",
    "CAST(x AS json)": "to_json(x): a varchar becomes a JSON string, as in Trino (DuckDB's "
    "CAST parses the text; use json_parse to parse)",
    "json_size": "size of the object/array at the path, 0 for a scalar, NULL if the path "
    "selects nothing (no DuckDB function)",
    "decimal arithmetic": "Trino's result types (decimal(p, s) rules), exact division and "
    "avg rounded half up (DuckDB divides decimals in DOUBLE); see transpile_trino",
    "count_if / sum of integers / cardinality / histogram / array_position": "bigint, as "
    "in Trino (DuckDB: HUGEINT / UBIGINT / INTEGER); array_position is 0 when not found",
    "per-value zones": "from_iso8601_timestamp keeps the offset written in the string for "
    "fields, date_trunc, formatting, to_iso8601, timezone_hour and CAST; see transpile_zones",
    "AT TIME ZONE output": "an output column is the instant (timestamp with time zone)",
    "JSON functions of text": "NULL for text that is not JSON, as in Trino (DuckDB fails)",
    "DECIMAL '1.50'": "decimal(3, 2), as in Trino (sqlglot would give DuckDB DECIMAL(18, 3))",
    "regexp_replace": "$1 group references become \\1",
    "try_cast to boolean": "only true/false/t/f/1/0 (DuckDB also takes yes/no)",
    "CAST(double AS integer)": "rounds half away from zero (DuckDB: half to even)",
    "CAST(json AS map(k, json))": "a JSON null value stays JSON null",
    "CAST(timestamp AS varchar)": "milliseconds printed, as Trino's timestamp(3)",
    "repeat / format / codepoint / hamming_distance / nan / infinity / is_finite / "
    "with_timezone / parse_datetime / current_timezone / date + interval / sequence of "
    "dates": "Trino's meaning and types (see transpile_trino)",
    "from_unixtime_nanos": "the instant (TIMESTAMPTZ) of an integer count of nanoseconds since the "
    "epoch, floored to DuckDB's microseconds (Trino keeps nanoseconds: timestamp(9) with time "
    "zone); no DuckDB function",
}

# ---------------------------------------------------------------------------------------
# Public API


def prepare_duckdb_connection(con: Any) -> Any:
    """Make a DuckDB connection behave like an Athena session: ICU loaded, zone UTC."""
    con.execute("LOAD icu")  # built in; LOAD never downloads (INSTALL would)
    con.execute("SET TimeZone = 'UTC'")
    return con


def unsupported_functions(
    sql: str, schema: Mapping[str, Mapping[str, str]] | None = None
) -> list[tuple[str, str]]:
    """``(function, reason)`` for each function of ``sql`` the DuckDB engine refuses
    (:data:`REFUSALS`): there is no DuckDB translation with Trino's meaning. Empty when
    the SQL can run. Raises :class:`TranspileError` only for SQL that does not parse."""
    out: list[tuple[str, str]] = []
    for tree in _parse(sql):
        if tree is not None:
            for found in _trino.unsupported_functions(_annotate(tree, schema)):
                if found not in out:
                    out.append(found)
    return out


def check_supported(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Raise :class:`TranspileError` naming each refused function and the reason."""
    refused = unsupported_functions(sql, schema)
    if refused:
        raise TranspileError(_refusal_message(refused))


def _refusal_message(refused: list[tuple[str, str]]) -> str:
    return "the DuckDB engine cannot run this Athena SQL with Trino's meaning: " + "; ".join(
        f"{name}: {reason}" for name, reason in refused
    )


def athena_to_duckdb(
    sql: str, schema: Mapping[str, Mapping[str, str]] | None = None, *, pretty: bool = False
) -> str:
    """Translate Athena SQL (one or more statements) to DuckDB SQL with the same meaning.

    ``schema`` (``{table: {column: athena_type}}``) is optional; with it, column types are
    known, so type-dependent fixes (integer division, ``date_trunc`` of a date,
    ``to_iso8601``, ``cardinality``) pick the exact translation instead of a runtime
    ``typeof`` switch or leaving the expression as is.
    Raises :class:`TranspileError` for a parse error or an unsupported construct.
    """
    trees = _parse(sql)
    out = []
    for tree in trees:
        if tree is None:
            continue
        tree = _annotate(tree, schema)
        refused = _trino.unsupported_functions(tree)
        if refused:
            raise TranspileError(_refusal_message(refused))
        _trino.annotate_decimals(tree)
        tree = rewrite(tree)
        tree = _zones.output_instants(tree)
        try:
            out.append(
                tree.sql(
                    dialect="duckdb", pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE
                )
            )
        except SqlglotError as exc:
            raise TranspileError(f"cannot express in DuckDB: {exc}") from exc
    return ";\n".join(out)


# ---------------------------------------------------------------------------------------
# Type annotation


def _annotate(tree: exp.Expr, schema: Mapping[str, Mapping[str, str]] | None) -> exp.Expr:
    from sqlglot.optimizer.annotate_types import annotate_types

    if schema:
        try:
            from sqlglot.optimizer.qualify import qualify

            qualified = qualify(
                tree.copy(),
                schema=_lower_schema(schema),
                dialect="athena",
                validate_qualify_columns=False,
                quote_identifiers=True,
                identify=False,
            )
            # CTEs and subqueries that only rename or compute per row are merged into the
            # query that reads them (sqlglot's own rule): a value then keeps what the
            # transpiler knows about it, e.g. the zone of an ISO string
            if isinstance(qualified, exp.Query):
                from sqlglot.optimizer.merge_subqueries import merge_subqueries

                qualified = merge_subqueries(qualified)
            return _trino_types(
                annotate_types(qualified, schema=_lower_schema(schema), dialect="athena")
            )
        except SqlglotError:
            pass
    try:
        return _trino_types(annotate_types(tree, dialect="athena"))
    except SqlglotError:
        return tree


def _trino_types(tree: exp.Expr) -> exp.Expr:
    """Types sqlglot infers differently from Trino: from_unixtime is an instant."""
    for node in tree.find_all(exp.UnixToTime):
        node.type = exp.DataType.build("TIMESTAMPTZ")
    return tree


def _lower_schema(schema: Mapping[str, Mapping[str, str]]) -> dict:
    return {
        str(t).lower(): {str(c).lower(): ty for c, ty in cols.items()} for t, cols in schema.items()
    }


def _parse(sql: str) -> list:
    """Parse Athena SQL; ``DECIMAL '1.50'`` keeps Trino's type, decimal(3, 2) (sqlglot
    would read it as a bare DECIMAL, which DuckDB takes for DECIMAL(18, 3))."""
    try:
        tokens = sqlglot.tokenize(sql, read="athena")
    except SqlglotError as exc:
        raise TranspileError(f"cannot parse as Athena SQL: {exc}") from exc
    pieces, last = [], 0
    for a, b in zip(tokens, tokens[1:]):
        if a.token_type == TokenType.DECIMAL and b.token_type == TokenType.STRING:
            ps = _trino.literal_decimal(b.text, integers=True)
            if ps is None:
                raise TranspileError(f"DECIMAL '{b.text}' is not a decimal literal")
            pieces += [sql[last : a.start], f"CAST('{b.text}' AS DECIMAL({ps[0]}, {ps[1]}))"]
            last = b.end + 1  # past the closing quote
    pieces.append(sql[last:])
    try:
        return sqlglot.parse("".join(pieces), read="athena")
    except ParseError as exc:
        raise TranspileError(f"cannot parse as Athena SQL: {exc}") from exc
