"""What materializing a summary reports (feeds Dagster materialization metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PREVIEW_ROWS = 10


@dataclass
class SummaryResult:
    table_name: str  # qualified: database.name
    row_count: int
    columns: list[tuple[str, str]]  # (name, type)
    column_lineage: dict[str, list[tuple[str, str]]]  # output col -> [(table, column)]
    sql: str  # the statement(s) that built it
    query_ids: list[str] = field(default_factory=list)
    bytes_scanned: int | None = None
    elapsed_ms: int | None = None
    preview: str = ""  # markdown table of the first rows
    location: str | None = None  # S3 location (Athena) or None
    engine: str = ""


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = PREVIEW_ROWS
) -> str:
    """A markdown table of at most ``limit`` rows (Dagster renders it as a table)."""
    if not columns:
        return ""
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in list(rows)[:limit]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)
