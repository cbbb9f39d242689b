"""What an RDS export says it wrote, read from its own files (never list-and-guess).

Layout (AWS, "Exporting DB snapshot data to Amazon S3", file naming and monitoring)::

    <S3Prefix>/<export id>/export_info_<export id>.json
    <S3Prefix>/<export id>/export_tables_info_<export id>_from_<i>_to_<j>.json
    <S3Prefix>/<export id>/<database>/<database.table>/<batch index>/part-<partition>-*.gz.parquet
    <S3Prefix>/<export id>/<database>/<database.table>/<batch index>/_SUCCESS

``export_tables_info`` lists every table with its ``status`` (COMPLETE for a table whose
files are all written), its ``TableStatistics`` (``partitioningInfo``: how many partitions
the table was split into) and ``schemaMetadata.originalTypeMappings`` (each column's source
type). It states no row count: the files' Parquet footers do. The tables come from there,
and only tables it reports COMPLETE are loaded; a table's data files are the
``part-*.parquet`` objects in its batch folders.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from ddb_assets.rds.types import SourceColumn

_TABLES_INFO = re.compile(r"export_tables_info_(?P<id>.+)_from_(?P<a>\d+)_to_(?P<b>\d+)\.json$")
_PART = re.compile(r"^(?P<batch>\d+)/part-[^/]+\.parquet$")
_SUCCESS = re.compile(r"^(?P<batch>\d+)/_SUCCESS$")


class ExportMetadataError(RuntimeError):
    """The export's metadata is missing or does not describe its files (the key is named)."""


@dataclass(frozen=True)
class TableStatus:
    target: str  # "database.table" as RDS writes it
    status: str
    columns: tuple[SourceColumn, ...] = ()
    partitions: int | None = None  # partitioningInfo.numberOfPartitions
    completed_partitions: int | None = None
    size_gb: float | None = None
    row_count: int | None = None  # when the export states one
    reason: str | None = None  # why a table was not exported (failure/warning text)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def database(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.target.split(".", 1)[1] if "." in self.target else self.target


@dataclass(frozen=True)
class ExportMetadata:
    export_id: str
    info: dict
    tables: dict[str, TableStatus]  # target -> status
    keys: tuple[str, ...]  # the metadata objects read

    def complete(self) -> dict[str, TableStatus]:
        return {k: t for k, t in self.tables.items() if t.status == "COMPLETE"}

    def not_exported(self) -> dict[str, TableStatus]:
        return {k: t for k, t in self.tables.items() if t.status != "COMPLETE"}


def _get_json(s3, bucket: str, key: str) -> dict:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise ExportMetadataError(
            f"s3://{bucket}/{key}: cannot read the export's metadata ({code}); the export is "
            "not COMPLETE yet, or its files were moved or deleted"
        ) from exc
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ExportMetadataError(f"s3://{bucket}/{key}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ExportMetadataError(f"s3://{bucket}/{key}: a JSON object was expected")
    return data


def _int(v) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _columns(entry: dict) -> tuple[SourceColumn, ...]:
    mappings = (entry.get("schemaMetadata") or {}).get("originalTypeMappings") or []
    out = []
    for m in mappings:
        if not isinstance(m, dict) or "columnName" not in m:
            continue
        out.append(
            SourceColumn(
                name=str(m["columnName"]),
                original_type=str(m.get("originalType") or ""),
                expected_exported_type=m.get("expectedExportedType"),
                precision=_int(m.get("originalNumPrecision")) or None,
                scale=_int(m.get("originalNumScale")),
                char_max_length=_int(m.get("originalCharMaxLength")) or None,
            )
        )
    return tuple(out)


def parse_table_entry(entry: dict, where: str) -> TableStatus:
    target = entry.get("target")
    status = entry.get("status")
    if not isinstance(target, str) or not isinstance(status, str):
        raise ExportMetadataError(f"{where}: a perTableStatus entry lacks target or status")
    stats = entry.get("TableStatistics") or entry.get("tableStatistics") or {}
    parts = stats.get("partitioningInfo") or {}
    rows = None
    for k in ("numberOfRows", "rowCount", "exportedRowCount"):
        if k in stats:
            rows = _int(stats[k])
    reason = entry.get("failureCause") or entry.get("warningMessage") or entry.get("reason")
    return TableStatus(
        target=target,
        status=status.upper(),
        columns=_columns(entry),
        partitions=_int(parts.get("numberOfPartitions")),
        completed_partitions=_int(parts.get("numberOfCompletedPartitions")),
        size_gb=entry.get("sizeGB"),
        row_count=rows,
        reason=str(reason) if reason else None,
        raw=entry,
    )


def read_export_metadata(s3, bucket: str, root_key: str, export_id: str) -> ExportMetadata:
    """Read ``export_info_<id>.json`` and every ``export_tables_info_<id>_from_*_to_*.json``
    under the export's root (``<S3Prefix>/<export id>/``)."""
    info_key = f"{root_key}export_info_{export_id}.json"
    info = _get_json(s3, bucket, info_key)
    keys = [info_key]
    wanted = f"{root_key}export_tables_info_{export_id}_from_"
    table_keys: list[str] = []
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": wanted}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        for o in page.get("Contents", []):
            m = _TABLES_INFO.search(o["Key"])
            if m and m.group("id") == export_id:
                table_keys.append(o["Key"])
        token = page.get("NextContinuationToken")
        if not token:
            break
    if not table_keys:
        raise ExportMetadataError(
            f"s3://{bucket}/{wanted}*_to_*.json: export {export_id} has no table list "
            "(export_tables_info); the export is not COMPLETE, or its files were deleted"
        )
    tables: dict[str, TableStatus] = {}

    def first_table(key: str) -> int:
        m = _TABLES_INFO.search(key)
        return int(m.group("a")) if m else 0

    for key in sorted(table_keys, key=first_table):
        data = _get_json(s3, bucket, key)
        entries = data.get("perTableStatus")
        if not isinstance(entries, list):
            raise ExportMetadataError(f"s3://{bucket}/{key}: no perTableStatus list")
        for entry in entries:
            t = parse_table_entry(entry, f"s3://{bucket}/{key}")
            tables[t.target] = t
        keys.append(key)
    return ExportMetadata(export_id=export_id, info=info, tables=tables, keys=tuple(keys))


@dataclass(frozen=True)
class TableFiles:
    target: str
    folder_key: str  # <root><database>/<database.table>/
    files: tuple[tuple[str, int], ...]  # (key, size), sorted
    batches: tuple[int, ...]  # the batch folders (``<batch index>/``), each with _SUCCESS


def table_folder(root_key: str, target: str) -> str:
    database = target.split(".", 1)[0]
    return f"{root_key}{database}/{target}/"


def table_files(s3, bucket: str, root_key: str, status: TableStatus) -> TableFiles:
    """The data files of one COMPLETE table: every ``<batch>/part-*.parquet`` in its folder
    (partition indexes may have gaps: AWS says to read everything under the table's
    prefix); each batch folder must carry its ``_SUCCESS`` marker. An empty table has a
    marker and no file."""
    folder = table_folder(root_key, status.target)
    files: list[tuple[str, int]] = []
    batches: set[int] = set()  # batch folders holding part files
    marked: set[int] = set()  # batch folders with their _SUCCESS marker
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": folder}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        for o in page.get("Contents", []):
            rel = o["Key"][len(folder) :]
            done = _SUCCESS.match(rel)
            if done:
                marked.add(int(done.group("batch")))
                continue
            m = _PART.match(rel)
            if m:
                files.append((o["Key"], int(o.get("Size", 0))))
                batches.add(int(m.group("batch")))
        token = page.get("NextContinuationToken")
        if not token:
            break
    unmarked = sorted(b for b in batches if b not in marked)
    if unmarked:
        raise ExportMetadataError(
            f"s3://{bucket}/{folder}{unmarked[0]}/: export_tables_info says table "
            f"{status.target} is COMPLETE but its batch folder has no _SUCCESS marker: the "
            "files are incomplete; re-export the day"
        )
    return TableFiles(status.target, folder, tuple(sorted(files)), tuple(sorted(batches | marked)))


class _S3Range(io.RawIOBase):
    """A seekable read-only view of one S3 object through ranged GETs (Parquet footers)."""

    def __init__(self, s3, bucket: str, key: str, size: int):
        self.s3, self.bucket, self.key, self.size, self.pos = s3, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = [offset, self.pos + offset, self.size + offset][whence]
        return self.pos

    def readinto(self, b) -> int:
        if self.pos >= self.size or len(b) == 0:
            return 0
        end = min(self.size, self.pos + len(b)) - 1
        data = self.s3.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={self.pos}-{end}"
        )["Body"].read()
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)


def parquet_footer(s3, bucket: str, key: str, size: int):
    """The Parquet metadata of one exported file (two ranged GETs, no data read)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(io.BufferedReader(_S3Range(s3, bucket, key, size))).metadata
    except Exception as exc:  # noqa: BLE001 - named with its key
        raise ExportMetadataError(
            f"s3://{bucket}/{key}: not a readable Parquet file ({exc})"
        ) from exc


def exported_rows(s3, bucket: str, files: TableFiles) -> tuple[int, object | None]:
    """Rows the export's files state in their footers, and the first file's Arrow schema."""
    rows, schema = 0, None
    for key, size in files.files:
        md = parquet_footer(s3, bucket, key, size)
        rows += md.num_rows
        if schema is None:
            schema = md.schema.to_arrow_schema()
    return rows, schema
