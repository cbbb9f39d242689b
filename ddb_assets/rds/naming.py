"""Names an RDS source derives, each in one place: the export task's identifier, where its
files land in S3, and the ``ExportOnly`` entries (no Dagster, no AWS call here).

AWS's rules (RDS API reference, StartExportTask and the console's export form): an
``ExportTaskIdentifier`` is 1 to 60 letters, digits or hyphens, begins with a letter, does
not end with a hyphen or hold two hyphens in a row; DB instance and cluster identifiers
follow the same letters-digits-hyphens rule with at most 63 characters. The export writes
under ``s3://<bucket>/<S3Prefix>/<ExportTaskIdentifier>/``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

MAX_EXPORT_ID = 60
_IDENT = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?!-))*(?<!-)$")
# MySQL schema (database) and table names RDS export can address in ExportOnly:
# ``database`` or ``database.table``. Names with a '.' cannot be told apart there.
_MYSQL_NAME = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_KMS_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})$"
)


def check_identifier(value: str, what: str, limit: int = 63) -> str:
    """An RDS identifier (instance, cluster): letters, digits and single hyphens."""
    if not isinstance(value, str) or not (1 <= len(value) <= limit) or not _IDENT.match(value):
        raise ValueError(
            f"{what} {value!r} is not an RDS identifier: 1-{limit} letters, digits or hyphens, "
            "beginning with a letter, without a trailing hyphen or two hyphens in a row"
        )
    return value


def check_role_arn(value: str, what: str = "iam_role_arn") -> str:
    if not isinstance(value, str) or not _ROLE_ARN.match(value):
        raise ValueError(
            f"{what} {value!r} is not an IAM role ARN; write "
            "arn:aws:iam::<account>:role/<name> (the role RDS assumes to write the export)"
        )
    return value


def check_kms_arn(value: str, what: str = "kms_key_arn") -> str:
    if not isinstance(value, str) or not _KMS_ARN.match(value):
        raise ValueError(
            f"{what} {value!r} is not a KMS key ARN; write "
            "arn:aws:kms:<region>:<account>:key/<key id> (RDS requires a customer managed "
            "key to encrypt the export)"
        )
    return value


def parse_source_table(value: str, what: str = "tables") -> tuple[str, str]:
    """``database.table`` -> ``(database, table)`` (MySQL-compatible engines)."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(_MYSQL_NAME.match(p) for p in parts):
        raise ValueError(
            f"{what} entry {value!r} must be written database.table (letters, digits, _ "
            "and $, at most 64 each), e.g. shop.orders"
        )
    return parts[0], parts[1]


def default_sql_name(source: str, database: str, table: str, *, databases: int) -> str:
    """The typed table's SQL name when the config gives none: ``<source>_<table>``, or
    ``<source>_<database>_<table>`` when the source exports more than one database. Made
    safe by the DynamoDB columns' rule (lower case, ``[a-z0-9_]``, no ``__``)."""
    from ddb_assets.tables.naming import safe_name

    parts = [source, database, table] if databases > 1 else [source, table]
    name = "_".join(safe_name(p).strip("_") for p in parts)
    return re.sub(r"_+", "_", name).rstrip("_")


_TAIL = re.compile(r"^(?P<day>\d{8})(?:-r\d+|-f[0-9a-f]{8})?$")
_MAX_TAIL = len("-YYYYMMDD-f12345678")


def _source_part(source_identifier: str) -> str:
    """The identifier's source part: the source's own identifier, or (too long to leave
    room for the longest day tail) its start and a hash of the whole, the same every day."""
    room = MAX_EXPORT_ID - _MAX_TAIL
    if len(source_identifier) <= room:
        return source_identifier
    digest = hashlib.sha256(source_identifier.encode()).hexdigest()[:6]
    return f"{source_identifier[: room - 7].rstrip('-')}-{digest}"


def export_task_identifier(source_identifier: str, day: date, generation: str | int = 0) -> str:
    """The deterministic ``ExportTaskIdentifier`` of one source and day.

    ``<identifier>-<YYYYMMDD>`` for the day's first export; a retry or a deliberate
    re-export (``generation`` other than 0) appends ``-r<n>`` or ``-f<hash>``. Too long a
    source identifier keeps its start and gets a hash of the whole, so two sources never
    share one and every identifier fits AWS's 60 characters.
    """
    tail = day.strftime("%Y%m%d")
    if generation not in (0, "0", None, ""):
        if isinstance(generation, int) or str(generation).isdigit():
            tail += f"-r{int(generation)}"
        else:
            tail += "-f" + hashlib.sha256(str(generation).encode()).hexdigest()[:8]
    ident = f"{_source_part(source_identifier)}-{tail}"
    return check_identifier(ident, "ExportTaskIdentifier", MAX_EXPORT_ID)


def day_of_export_id(source_identifier: str, export_id: str) -> date | None:
    """The day an identifier made by :func:`export_task_identifier` for this source is
    for; None for any other identifier."""
    part = _source_part(source_identifier) + "-"
    if not export_id.startswith(part):
        return None
    m = _TAIL.match(export_id[len(part) :])
    if not m:
        return None
    text = m.group("day")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def export_s3_prefix(base_prefix: str, source: str) -> str:
    """The ``S3Prefix`` every export of a source is given: ``<base>/<source>``."""
    base = base_prefix.strip("/")
    return f"{base}/{source}" if base else source


def export_root(s3_prefix: str | None, export_id: str) -> str:
    """The key prefix of one export's files: ``<S3Prefix>/<ExportTaskIdentifier>/``."""
    prefix = (s3_prefix or "").strip("/")
    return f"{prefix}/{export_id}/" if prefix else f"{export_id}/"
