"""From a COMPLETE export to what the engines load, table by table (no Dagster).

:func:`export_tables` reads the export's metadata once and answers, for the configured
tables: which are COMPLETE (with their files, footer row counts and schema), which the
export reports but did not export (skipped or failed, with RDS's reason), and which it does
not mention at all. The load of a table refuses anything but COMPLETE with the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from ddb_assets.rds.exports import RdsExport
from ddb_assets.rds.metadata import (
    ExportMetadata,
    ExportMetadataError,
    TableStatus,
    exported_rows,
    read_export_metadata,
    table_files,
)
from ddb_assets.rds.plan import TableExport


class TableNotExportedError(RuntimeError):
    """A configured table the export did not write (the message says why and what to do)."""


@dataclass(frozen=True)
class ExportedTables:
    export: RdsExport
    metadata: ExportMetadata

    def status(self, target: str) -> TableStatus | None:
        return self.metadata.tables.get(target)

    def require(self, target: str) -> TableStatus:
        st = self.status(target)
        if st is None:
            raise TableNotExportedError(
                f"export {self.export.identifier} does not list table {target} in its "
                "export_tables_info: check the table exists in the snapshot and is in the "
                f"source's tables (ExportOnly was {list(self.export.export_only) or 'everything'})"
            )
        if st.status != "COMPLETE":
            raise TableNotExportedError(skipped_message(self.export.identifier, st))
        return st


def skipped_message(export_id: str, st: TableStatus) -> str:
    why = f": {st.reason}" if st.reason else ""
    return (
        f"RDS did not export table {st.target} in {export_id} (status {st.status}{why}). "
        "RDS export skips tables whose column names hold characters it does not support "
        "(space , ; { } ( ) = tab newline) and tables it could not read; rename such "
        "columns at the source, or remove the table from the source's tables"
    )


def read_exported_tables(s3, export: RdsExport) -> ExportedTables:
    if not export.s3_bucket:
        raise ExportMetadataError(f"export {export.identifier} names no S3 bucket")
    md = read_export_metadata(s3, export.s3_bucket, export.root_key, export.identifier)
    return ExportedTables(export, md)


def table_export(s3, tables: ExportedTables, target: str) -> tuple[TableExport, tuple[int, ...]]:
    """One COMPLETE table, ready for an engine: files, footer rows, schema, batch folders."""
    st = tables.require(target)
    export = tables.export
    bucket = export.s3_bucket or ""
    files = table_files(s3, bucket, export.root_key, st)
    rows, schema = exported_rows(s3, bucket, files)
    return TableExport.of(export.identifier, bucket, st, files, rows, schema), files.batches


def download_table_files(s3, export: TableExport, folder: str) -> list[str]:
    """The table's files in ``folder`` (names keep the partition index), in key order."""
    out = []
    for key, _size in export.files:
        rel = key[len(export.folder_key) :].replace("/", "_")
        path = os.path.join(folder, rel)
        try:
            s3.download_file(export.bucket, key, path)
        except Exception as exc:  # noqa: BLE001 - named with its key
            raise ExportMetadataError(
                f"s3://{export.bucket}/{key}: cannot download ({exc})"
            ) from exc
        out.append(path)
    return out


def unexpected(tables: ExportedTables, configured: Iterable[str]) -> list[TableStatus]:
    """Configured tables the export reports as not COMPLETE."""
    return [tables.metadata.tables[t] for t in configured if t in tables.metadata.not_exported()]
