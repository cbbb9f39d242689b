"""Parsing DynamoDB export manifests (the data contract in DESIGN.md).

An export lives at ``<prefix>/AWSDynamoDB/<ExportId>/``: ``manifest-summary.json`` (one
JSON object), ``manifest-files.json`` (JSON lines, one per data file) and ``data/``.
These functions are plain Python: they take already-read text or a boto3 S3 client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

EXPORT_ARN = re.compile(
    r"^arn:aws[a-z-]*:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"table/(?P<table>[A-Za-z0-9_.-]+)/export/(?P<export_id>\d{14}-[0-9a-f]{8})$"
)


class ManifestError(ValueError):
    """A manifest is missing, malformed, or disagrees with the data files."""


@dataclass(frozen=True)
class ManifestSummary:
    export_arn: str
    export_id: str
    table_arn: str
    table_id: str | None
    start_time: datetime
    end_time: datetime | None
    export_time: datetime
    s3_bucket: str
    s3_prefix: str | None
    manifest_files_key: str
    billed_size_bytes: int
    item_count: int
    output_format: str
    s3_sse_algorithm: str | None = None
    s3_sse_kms_key_id: str | None = None
    version: str | None = None
    export_type: str = "FULL_EXPORT"
    export_from_time: datetime | None = None
    export_to_time: datetime | None = None
    output_view: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def export_root(self) -> str:
        """The ``.../AWSDynamoDB/<ExportId>/`` key prefix of this export."""
        return self.manifest_files_key.rsplit("/", 1)[0] + "/"

    @property
    def data_prefix(self) -> str:
        return self.export_root + "data/"

    @property
    def data_uri(self) -> str:
        return f"s3://{self.s3_bucket}/{self.data_prefix}"

    @property
    def manifest_summary_key(self) -> str:
        return self.export_root + "manifest-summary.json"


@dataclass(frozen=True)
class DataFile:
    key: str
    item_count: int
    md5_base64: str
    etag: str


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        from datetime import timezone

        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ManifestError(f"not an ISO-8601 time in the manifest: {value!r}") from None


def _required_time(d: dict[str, Any], key: str) -> datetime:
    value = parse_time(d[key])
    if value is None:
        raise ManifestError(f"manifest-summary.json has {key}: null; it must be an ISO-8601 time")
    return value


def parse_manifest_summary(text: str) -> ManifestSummary:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest-summary.json is not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ManifestError("manifest-summary.json must hold one JSON object")
    required = [
        "exportArn",
        "tableArn",
        "startTime",
        "exportTime",
        "s3Bucket",
        "manifestFilesS3Key",
        "itemCount",
        "outputFormat",
    ]
    missing = [k for k in required if k not in d]
    if missing:
        raise ManifestError(f"manifest-summary.json lacks {', '.join(missing)}")
    m = EXPORT_ARN.match(d["exportArn"])
    if not m:
        raise ManifestError(
            f"exportArn {d['exportArn']!r} is not arn:aws:dynamodb:<region>:<account>:"
            "table/<name>/export/<ExportId>"
        )
    export_id = m.group("export_id")
    if f"/{export_id}/" not in "/" + d["manifestFilesS3Key"]:
        raise ManifestError(
            f"manifestFilesS3Key {d['manifestFilesS3Key']!r} is not under the export's "
            f"folder AWSDynamoDB/{export_id}/"
        )
    return ManifestSummary(
        export_arn=d["exportArn"],
        export_id=export_id,
        table_arn=d["tableArn"],
        table_id=d.get("tableId"),
        start_time=_required_time(d, "startTime"),
        end_time=parse_time(d.get("endTime")),
        export_time=_required_time(d, "exportTime"),
        s3_bucket=d["s3Bucket"],
        s3_prefix=d.get("s3Prefix"),
        manifest_files_key=d["manifestFilesS3Key"],
        billed_size_bytes=int(d.get("billedSizeBytes") or 0),
        item_count=int(d["itemCount"]),
        output_format=d["outputFormat"],
        s3_sse_algorithm=d.get("s3SseAlgorithm"),
        s3_sse_kms_key_id=d.get("s3SseKmsKeyId"),
        version=d.get("version"),
        export_type=d.get("exportType") or "FULL_EXPORT",
        export_from_time=parse_time(d.get("exportFromTime")),
        export_to_time=parse_time(d.get("exportToTime")),
        output_view=d.get("outputView"),
        raw=d,
    )


def parse_manifest_files(text: str) -> list[DataFile]:
    files: list[DataFile] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            files.append(
                DataFile(
                    key=d["dataFileS3Key"],
                    item_count=int(d["itemCount"]),
                    md5_base64=d["md5Checksum"],
                    etag=d["etag"],
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ManifestError(
                f"manifest-files.json line {n} is malformed ({exc!r}): {line[:200]}"
            ) from None
    return files


@dataclass(frozen=True)
class Manifest:
    summary: ManifestSummary
    files: list[DataFile]

    def check_consistent(self) -> None:
        total = sum(f.item_count for f in self.files)
        if total != self.summary.item_count:
            raise ManifestError(
                f"manifest-files.json lists {total} items but manifest-summary.json says "
                f"{self.summary.item_count}: the export is incomplete or corrupt; re-export it"
            )
        for f in self.files:
            if not f.key.startswith(self.summary.data_prefix):
                raise ManifestError(f"data file {f.key!r} is outside {self.summary.data_prefix}")


def _s3_error(exc: Exception, bucket: str, key: str, what: str) -> ManifestError:
    """One line naming the object: botocore's own text for a missing object (HeadObject's
    bare "404 Not Found") does not say which one."""
    from botocore.exceptions import ClientError

    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in ("404", "NoSuchKey", "NotFound"):
        return ManifestError(
            f"{what} s3://{bucket}/{key} does not exist (was it deleted or expired by a "
            "lifecycle rule?); re-export the partition (force: true)"
        )
    if code in ("403", "AccessDenied"):
        return ManifestError(
            f"{what} s3://{bucket}/{key} cannot be read (access denied): grant s3:GetObject "
            "on the export bucket to the credentials in use"
        )
    return ManifestError(f"{what} s3://{bucket}/{key} cannot be read: {exc}")


def _get_text(s3, bucket: str, key: str) -> str:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except Exception as exc:
        if not hasattr(exc, "response"):
            raise
        raise _s3_error(exc, bucket, key, "manifest file") from None


def download_data_files(s3, bucket: str, files: Iterable[DataFile], folder) -> list[Path]:
    """Download every data file into ``folder`` (names keep their order); a missing or
    unreadable object raises :class:`ManifestError` naming its S3 key."""
    out: list[Path] = []
    for i, f in enumerate(files):
        dst = Path(folder) / f"{i:05d}-{f.key.rsplit('/', 1)[-1]}"
        try:
            s3.download_file(bucket, f.key, str(dst))
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            raise _s3_error(exc, bucket, f.key, "data file") from None
        out.append(dst)
    return out


def read_manifest(s3, bucket: str, manifest_summary_key: str) -> Manifest:
    """Read and cross-check both manifest files of one export from S3."""
    summary = parse_manifest_summary(_get_text(s3, bucket, manifest_summary_key))
    files = parse_manifest_files(_get_text(s3, bucket, summary.manifest_files_key))
    manifest = Manifest(summary, files)
    manifest.check_consistent()
    return manifest


def md5_base64(chunks: Iterable[bytes]) -> str:
    h = hashlib.md5()
    for c in chunks:
        h.update(c)
    return base64.b64encode(h.digest()).decode("ascii")


def verify_data_files(s3, bucket: str, files: Iterable[DataFile]) -> list[str]:
    """Every listed data file exists and its MD5 matches; returns the problems found."""
    problems: list[str] = []
    for f in files:
        try:
            body = s3.get_object(Bucket=bucket, Key=f.key)["Body"]
        except s3.exceptions.NoSuchKey:
            problems.append(f"missing: s3://{bucket}/{f.key}")
            continue
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            problems.append(str(_s3_error(exc, bucket, f.key, "data file")))
            continue
        got = md5_base64(iter(lambda: body.read(1 << 20), b""))  # noqa: B023 (consumed at once)
        if got != f.md5_base64:
            problems.append(
                f"md5 mismatch: s3://{bucket}/{f.key} is {got}, manifest says {f.md5_base64}"
            )
    return problems
