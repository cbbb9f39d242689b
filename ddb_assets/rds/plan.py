"""One exported table, ready to load on either engine: its files, the counts the export
states, and its typed columns (names by the DynamoDB tables' safe-naming rule, types by
:mod:`ddb_assets.rds.types`, descriptions saying what each source type became)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ddb_assets.rds.metadata import TableStatus
from ddb_assets.rds.types import (
    SourceColumn,
    describe,
    parquet_spelling,
    sql_type_of_arrow,
)
from ddb_assets.tables.checks import SnapshotCheckError
from ddb_assets.tables.naming import assign_column_names
from ddb_assets.tables.plan import ColumnInfo, SchemaChange
from ddb_assets.tables.types import TypeSpec

ROW_COUNT_CHECK = "row_count_matches_export"
ZERO_DATE = "0000-00-00"


@dataclass(frozen=True)
class RdsColumn:
    column: str  # the typed table's column (safe name)
    source: str  # the MySQL column (the Parquet column's name)
    type: TypeSpec  # the typed column's type
    parquet: str  # how the export stored it, e.g. "INT64", "STRING"
    stored: TypeSpec  # the type of the Parquet column as read (Athena's raw table)
    description: str
    source_type: str | None = None  # "bigint unsigned", ...

    utc: bool = False  # a Parquet timestamp adjusted to UTC (RDS's DATETIME / TIMESTAMP)

    @property
    def converts_date(self) -> bool:
        return self.type.name == "date" and self.stored.name in ("string", "binary")

    @property
    def decodes_utf8(self) -> bool:
        """Text written as bytes (CHAR): decoded as UTF-8."""
        return self.stored.name == "binary" and self.type.name in ("string", "date")


@dataclass(frozen=True)
class TableExport:
    """What one export says about one source table, and where its files are."""

    export_id: str
    target: str  # database.table
    bucket: str
    folder_key: str  # <root><db>/<db.table>/
    files: tuple[tuple[str, int], ...]  # (key, size)
    footer_rows: int  # rows the Parquet footers state
    stated_rows: int | None  # rows export_tables_info states, when it does
    arrow_schema: Any  # pyarrow.Schema of the files (None: no file)
    sources: tuple[SourceColumn, ...]

    @property
    def folder_uri(self) -> str:
        return f"s3://{self.bucket}/{self.folder_key}"

    @classmethod
    def of(cls, export_id, bucket, status: TableStatus, files, footer_rows, schema):
        return cls(
            export_id=export_id,
            target=status.target,
            bucket=bucket,
            folder_key=files.folder_key,
            files=files.files,
            footer_rows=footer_rows,
            stated_rows=status.row_count,
            arrow_schema=schema,
            sources=status.columns,
        )


@dataclass
class RdsLoadResult:
    engine: str
    snapshot_date: dt.date
    row_count: int
    columns: list[RdsColumn]
    schema_changes: list[SchemaChange] = field(default_factory=list)
    previous_snapshot_date: dt.date | None = None
    latest_snapshot_date: dt.date | None = None
    view_name: str = ""
    uri: str | None = None
    query_ids: list[str] = field(default_factory=list)
    bytes_scanned: int | None = None

    def column_infos(self) -> list[ColumnInfo]:
        return [
            ColumnInfo(
                c.column, c.type.canonical(), c.source, (c.source_type or "",), "value", c.column
            )
            for c in self.columns
        ]


def plan_columns(export: TableExport, history: Mapping[str, str] | None = None) -> list[RdsColumn]:
    """The typed columns of ``export`` in the files' order. ``history``: source column ->
    column name of earlier snapshots (a name never changes meaning)."""
    import pyarrow as pa

    schema: pa.Schema | None = export.arrow_schema
    sources = {s.name: s for s in export.sources}
    if schema is None:  # no file at all: an empty table; the metadata's columns decide
        schema = pa.schema([(s.name, pa.null()) for s in export.sources])
    names = assign_column_names([f.name for f in schema], history=history)
    out = []
    for f in schema:
        src = sources.get(f.name)
        typ = sql_type_of_arrow(f.type, src)
        stored = sql_type_of_arrow(f.type, None) if str(f.type) != "null" else typ
        utc = bool(getattr(f.type, "tz", None))
        parquet = parquet_spelling(f.type)
        out.append(
            RdsColumn(
                column=names[f.name],
                source=f.name,
                type=typ,
                parquet=parquet,
                stored=stored,
                description=describe(src, parquet, typ),
                source_type=src.original_type.lower() if src else None,
                utc=utc,
            )
        )
    return out


def require_row_count(export: TableExport, rows: int, where: str) -> None:
    """Rows loaded must equal what the export states (its files' footers and, when given,
    export_tables_info's statistics); decided before the snapshot becomes visible."""
    expected = {"parquet_footers": export.footer_rows}
    if export.stated_rows is not None:
        expected["export_tables_info"] = export.stated_rows
    wrong = {k: v for k, v in expected.items() if v != rows}
    if wrong:
        said = ", ".join(f"{k} {v}" for k, v in expected.items())
        raise SnapshotCheckError(
            ROW_COUNT_CHECK,
            f"{export.target} of export {export.export_id}: {where} holds {rows} rows but the "
            f"export states {said} ({export.folder_uri}); nothing was made visible. Re-export "
            "the day (force) if the files were changed",
            {"rows": rows, **expected, "folder": export.folder_uri},
        )
