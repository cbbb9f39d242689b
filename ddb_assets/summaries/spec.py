"""Summary tables: one Athena SELECT per ``.sql`` file, discovered from a folder.

A file ``daily_sales.sql`` defines the summary table ``daily_sales``. It holds ONE SELECT
(or WITH ... SELECT) in Athena's dialect, optionally preceded by a header of
``-- key: value`` lines::

    -- description: Sales per day and store
    -- owners: data@example.com, analytics
    -- partitioned_by: sale_date
    -- freshness_hours: 26
    -- check: row_count > 0
    -- check: unique(sale_date, store)
    SELECT ...

``check`` may be given several times; each becomes an asset check run after every build
(see :mod:`ddb_assets.summaries.checks`).

Its upstream tables are read from the SQL itself: ``tablename`` or ``<database>.tablename``,
each a project table or another summary. Anything else is reported with the file and line.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ddb_assets.sql.identifiers import InvalidIdentifierError, validate_catalog_name
from ddb_assets.sql.refs import TableRef, table_refs_of
from ddb_assets.summaries.checks import CheckSyntaxError, HeaderCheck, parse_check

HEADER_KEYS = ("description", "owners", "partitioned_by", "freshness_hours", "check")
REPEATABLE_KEYS = ("check",)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(.*?)\s*$")


class SummaryError(ValueError):
    """A summary file cannot be used as written; the message names the file and the fix."""


@dataclass(frozen=True)
class SummarySpec:
    name: str  # table name = file stem
    path: Path
    sql: str  # the SELECT as written, without a trailing ';'
    description: str = ""
    owners: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()  # tables it reads (project tables and summaries)
    partitioned_by: tuple[str, ...] = ()
    freshness_hours: float | None = None
    database: str = ""  # the Athena database (= DuckDB schema)
    header: dict[str, str] = field(default_factory=dict, compare=False)
    refs: tuple[TableRef, ...] = field(default=(), compare=False)
    checks: tuple[HeaderCheck, ...] = ()  # ``-- check:`` lines, run after each build


def parse_header(text: str, *, source: str = "<sql>") -> dict[str, str]:
    """The ``-- key: value`` lines at the top of a summary file (blank lines allowed).

    Stops at the first line that is not a comment. Comment lines that are not
    ``key: value`` are ignored; a key that is not one of :data:`HEADER_KEYS` is an error
    (it is almost always a typo that would otherwise be silently ignored).
    """
    header: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        m = _HEADER_LINE.match(line)
        if not m:
            continue
        key = m.group(1).lower()
        if key not in HEADER_KEYS:
            raise SummaryError(
                f"{source} line {lineno}: unknown header key {key!r}; allowed keys: "
                f"{', '.join(HEADER_KEYS)} (write free text as a comment without a colon)"
            )
        if key in header and key not in REPEATABLE_KEYS:
            raise SummaryError(f"{source} line {lineno}: header key {key!r} given twice")
        header[key] = f"{header[key]}; {m.group(2)}" if key in header else m.group(2)
    return header


def header_checks(text: str) -> list[tuple[str, int]]:
    """``(value, line)`` of each ``-- check:`` line of the header."""
    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        m = _HEADER_LINE.match(line)
        if m and m.group(1).lower() == "check":
            out.append((m.group(2), lineno))
    return out


def _first_code_line(text: str) -> int:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("--"):
            return lineno
    return 1


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _parse_one_select(text: str, source: str) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(text, read="athena") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" line {first['line']}" if first.get("line") else ""
        what = _ANSI.sub("", str(first.get("description") or exc)).splitlines()[0]
        near = _ANSI.sub("", str(first.get("highlight") or "")).strip()
        raise SummaryError(
            f"{source}{where}: cannot parse as Athena SQL: {what}"
            + (f" (near {near!r})" if near else "")
        ) from None
    if len(statements) != 1:
        raise SummaryError(
            f"{source}: expected exactly one SELECT statement, found {len(statements)}"
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise SummaryError(
            f"{source} line {_first_code_line(text)}: expected a SELECT (or WITH ... SELECT), "
            f"found {tree.key.upper()}; the summary's table is created for you"
        )
    return tree


def _strip_trailing_semicolons(text: str) -> str:
    return re.sub(r"(\s*;)+\s*$", "", text.rstrip())


def _resolve(ref: TableRef, database: str) -> str | None:
    """The project table name a reference means, or None if it is outside the database."""
    if ref.catalog not in (None, "awsdatacatalog"):
        return None
    if ref.db is None or ref.db == database:
        return ref.name
    return None


def load_summary(
    path: Path, known_tables: Iterable[str], database: str, summary_names: Iterable[str] = ()
) -> SummarySpec:
    """Parse one summary file; ``summary_names`` are the other summaries it may read."""
    path = Path(path)
    source = str(path)
    try:
        name = validate_catalog_name(path.stem, what="summary name")
    except InvalidIdentifierError as exc:
        raise SummaryError(
            f"{path}: the file name is the table name: {exc} Rename the file accordingly."
        ) from exc
    text = path.read_text(encoding="utf-8")
    header = parse_header(text, source=source)
    sql = _strip_trailing_semicolons(text)
    tree = _parse_one_select(sql, source)

    _refuse_outside_reads(tree, sql, source)
    known = set(known_tables) | set(summary_names)
    deps: list[str] = []
    refs = table_refs_of(tree)
    for ref in refs:
        table = _resolve(ref, database)
        if table is None or table not in known:
            listing = ", ".join(sorted(known)) or "(none)"
            hint = ""
            if table is None:
                hint = (
                    f" (only tables of database {database!r} can be read: write "
                    f'"{ref.name}" or "{database}.{ref.name}")'
                )
            raise SummaryError(
                f"{source} line {ref.line}: unknown table "
                f'"{ref.qualified_name}"{hint}; known tables: {listing}'
            )
        if table not in deps:
            deps.append(table)

    freshness = None
    if header.get("freshness_hours"):
        try:
            freshness = float(header["freshness_hours"])
        except ValueError:
            freshness = -1.0
        if not freshness > 0:
            raise SummaryError(
                f"{source}: freshness_hours must be a positive number of "
                f"hours, got {header['freshness_hours']!r}"
            )
    partitioned_by = _comma_list(header.get("partitioned_by", ""))
    for col in partitioned_by:
        try:
            validate_catalog_name(col, what="partition column")
        except InvalidIdentifierError as exc:
            raise SummaryError(f"{source}: partitioned_by: {exc}") from exc
    if partitioned_by:
        selects = [s.lower() for s in tree.named_selects]
        if selects[-len(partitioned_by) :] != list(partitioned_by):
            raise SummaryError(
                f"{source}: partitioned_by {', '.join(partitioned_by)} must be the last "
                f"column(s) of the SELECT, in that order (Athena CTAS requires it); the "
                f"SELECT ends with {', '.join(selects[-len(partitioned_by) :])}"
            )

    checks = []
    for value, lineno in header_checks(text):
        try:
            checks.append(parse_check(value, lineno, list(tree.named_selects)))
        except CheckSyntaxError as exc:
            raise SummaryError(f"{source} line {lineno}: {exc}") from None
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise SummaryError(f"{source}: the same check is declared twice")

    return SummarySpec(
        name=name,
        path=path,
        sql=sql,
        description=header.get("description", ""),
        owners=_comma_list(header.get("owners", "")),
        deps=tuple(deps),
        partitioned_by=partitioned_by,
        freshness_hours=freshness,
        database=database,
        header=header,
        refs=tuple(refs),
        checks=tuple(checks),
    )


# Functions that read the engine's configuration rather than data. DuckDB's sandbox (see
# :func:`ddb_assets.summaries.duckdb_engine.sandbox_connect`) stops files, URLs, extension
# installs and setting changes; reading a setting's value is not something it controls (no
# DuckDB 2.0.0 setting hides them; docs/reliability.md, "Why setting readers are refused").
_CONFIG_READERS = ("current_setting", "getvariable", "getenv")
_ENGINE_PREFIXES = ("duckdb_", "pragma_")


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.sql("athena")[:40]


def _line_of(name: str, sql: str) -> int:
    m = re.search(re.escape(name) + r"\s*\(", sql, flags=re.IGNORECASE)
    return sql.count("\n", 0, m.start()) + 1 if m else 1


def _refuse_outside_reads(tree: exp.Expr, sql: str, source: str) -> None:
    """A summary reads the warehouse's tables and nothing else: a function in a FROM or
    JOIN (``read_csv(...)``, ``duckdb_settings()``, ``TABLE(...)``) and the functions that
    read the engine's settings are refused here, at load time, naming the function. (Only
    ``UNNEST`` and ``VALUES`` produce rows from expressions.)"""
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            continue
        name = _function_name(table.this)
        raise SummaryError(
            f"{source} line {_line_of(name, sql)}: {name}(...) in FROM reads outside the "
            "warehouse; a summary may read only the project's tables and other summaries "
            "(files, URLs and the engine's catalogs are not available to summaries)"
        )
    for node in tree.find_all(exp.Func):
        name = _function_name(node).lower()
        if name in _CONFIG_READERS or name.startswith(_ENGINE_PREFIXES):
            raise SummaryError(
                f"{source} line {_line_of(name, sql)}: {name}(...) reads the engine's "
                "configuration, which summaries cannot see; compute from the project's tables"
            )


def load_summaries(
    folder: Path,
    known_tables: set[str],
    database: str,
    occupied: Mapping[str, str] | None = None,
) -> list[SummarySpec]:
    """One :class:`SummarySpec` per ``*.sql`` file in ``folder``, dependencies first.

    Raises :class:`SummaryError` for a bad file name, a header typo, a parse error, an
    unknown table (with file and line), a summary named like a project table or like a
    table the engines derive from one (``occupied``: name -> what it is), or a dependency
    cycle between summaries.
    """
    database = validate_catalog_name(database, what="database")
    folder = Path(folder)
    if not folder.is_dir():
        raise SummaryError(f"summaries folder {folder} does not exist")
    paths = sorted(folder.glob("*.sql"))
    names = [p.stem for p in paths]
    clash = sorted(set(names) & set(known_tables))
    if clash:
        raise SummaryError(
            f"summary file(s) {', '.join(n + '.sql' for n in clash)} would "
            "replace the project table of the same name; rename the file(s)"
        )
    occupied = dict(occupied or {})
    for name in names:
        if name in occupied and name not in known_tables:
            raise SummaryError(
                f"summary file {name}.sql would replace {occupied[name]}; rename the file"
            )
    specs = {p.stem: load_summary(p, known_tables, database, summary_names=names) for p in paths}

    sorter = graphlib.TopologicalSorter(
        {name: [d for d in spec.deps if d in specs] for name, spec in specs.items()}
    )
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise SummaryError(
            "dependency cycle between summaries: " + " -> ".join(f"{n}.sql" for n in cycle)
        ) from exc
    return [specs[n] for n in order]
