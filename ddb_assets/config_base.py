"""The configuration's building blocks shared by its sections (DynamoDB tables in
:mod:`ddb_assets.config`, RDS sources in :mod:`ddb_assets.rds.config`): the base model, the
schedule, Athena placement, column overrides, owners and freshness, and the checks of names,
buckets and dates. Import them from :mod:`ddb_assets.config`."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ddb_assets import table_names
from ddb_assets.s3keys import validate_s3_prefix, validate_s3_uri
from ddb_assets.sql.identifiers import validate_catalog_name

_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_COLUMN_TYPES = re.compile(
    r"^(string|varchar|timestamp|date|bigint|integer|int|double|boolean|json|binary"
    r"|decimal\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\))$"
)


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names field and fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleConfig(_Model):
    cron: str = "0 4 * * *"
    timezone: str = "Asia/Tokyo"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not _CRON.match(v):
            raise ValueError(
                f"{v!r} is not a five-field cron expression; write e.g. '0 4 * * *' (04:00 daily)"
            )
        return v.strip()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{v!r} is not an IANA time zone; write e.g. 'Asia/Tokyo' or 'UTC'"
            ) from None
        return v


class AthenaConfig(_Model):
    database: str = "ddb"
    workgroup: str = "primary"
    output_location: str | None = None  # s3://bucket/prefix/ for query results

    @field_validator("database")
    @classmethod
    def _db(cls, v: str) -> str:
        return validate_catalog_name(v, "athena.database")  # its error is a ValueError

    @field_validator("output_location")
    @classmethod
    def _out(cls, v: str | None) -> str | None:
        return None if v is None else validate_s3_uri(v, "athena.output_location")


class ColumnConfig(_Model):
    type: str | None = None
    rename: str | None = None
    drop: bool = False

    @field_validator("type")
    @classmethod
    def _type(cls, v: str | None) -> str | None:
        if v is not None and not _COLUMN_TYPES.match(v.strip().lower()):
            raise ValueError(
                f"unknown column type {v!r}; use one of string, timestamp, date, bigint, "
                "double, boolean, json, binary or decimal(p,s)"
            )
        return None if v is None else v.strip().lower()

    @field_validator("rename")
    @classmethod
    def _rename(cls, v: str | None) -> str | None:
        return v if v is None else validate_catalog_name(v, "rename")


ExportFormat = Literal["DYNAMODB_JSON", "ION"]
Engine = Literal["duckdb", "athena"]


class IncrementalConfig(_Model):
    """Change history through chained incremental exports (issue #7); see docs/incremental.md."""

    enabled: bool = False
    window_minutes: int = Field(default=60, ge=15, le=1440)  # DynamoDB: 15 minutes to 24 hours
    view_type: Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE"] = "NEW_AND_OLD_IMAGES"
    # Seed the chain from this COMPLETED full export (ExportArn); default: request one.
    seed_export_arn: str | None = None
    max_windows_in_flight: int = Field(default=3, ge=1, le=50)

    @field_validator("seed_export_arn")
    @classmethod
    def _seed(cls, v: str | None) -> str | None:
        if v is not None and not re.match(
            r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/export/\d{14}-[0-9a-f]{8}$",
            v,
        ):
            raise ValueError(
                f"{v!r} is not a DynamoDB export ARN "
                "(arn:aws:dynamodb:<region>:<account>:table/<name>/export/<ExportId>)"
            )
        return v


# --- Dagster layer: owners, freshness, lateness (issue 18) ------------------------------
# Defaults under ``defaults:``, overridden per table. Kept in one block (other helpers add
# validation elsewhere in this module).

_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def _validate_owners(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    for o in v:
        if not isinstance(o, str) or not _OWNER.match(o.strip()):
            raise ValueError(
                f"{o!r} is not an owner Dagster accepts: write an e-mail address "
                "(data@example.com) or a team as 'team:<name>' (team:analytics)"
            )
    return [o.strip() for o in v]


class OpsConfig(_Model):
    """Who owns a table's assets and how fresh they must be (Dagster owners and freshness)."""

    owners: list[str] | None = None
    freshness_hours: float | None = Field(default=None, gt=0, le=24 * 40)
    # The export's lateness check: the export must be COMPLETED and noticed within this
    # many minutes of its start (DynamoDB usually needs minutes, a large table an hour or two;
    # an RDS snapshot export takes longer, measured from TaskStartTime: docs/rds.md).
    export_late_after_minutes: int | None = Field(default=None, ge=1, le=24 * 60)

    @field_validator("owners")
    @classmethod
    def _owners(cls, v: list[str] | None) -> list[str] | None:
        return _validate_owners(v)


DEFAULT_FRESHNESS_HOURS = 26.0  # a daily table, plus time for the export to land
DEFAULT_EXPORT_LATE_AFTER_MINUTES = 120


def _check_table_name(v: str) -> str:
    validate_catalog_name(v, "table name")  # its error is a ValueError
    suffix = table_names.reserved_ending(v)
    if suffix is not None and v.endswith(suffix):
        raise ValueError(
            f"{v!r} ends in {suffix!r}, the name of a table that the typed tables of "
            f"{v[: -len(suffix)]!r} use; choose another name, e.g. {v[: -len(suffix)] + suffix[1:]!r}"
        )
    if suffix is not None:
        raise ValueError(
            f"{v!r} holds {suffix!r}, which marks the engines' transient tables; choose "
            f"another name, e.g. {v.replace(suffix, suffix[1:])!r}"
        )
    return v


def _check_bucket(v: str) -> str:
    if v.startswith("s3://"):
        raise ValueError(
            f"{v!r}: give the bucket name only (e.g. 'my-exports'); put the path in s3_prefix"
        )
    if not _BUCKET.match(v):
        raise ValueError(f"{v!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
    return v


def _check_date(v: str | None) -> str | None:
    if v is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
        raise ValueError(f"{v!r} must be a date written YYYY-MM-DD")
    return v


class _ExportLocation(_Model):
    """The checks of a source's export location, ``s3_bucket`` and ``s3_prefix``: each
    source declares the two fields itself, with its own default prefix."""

    @field_validator("s3_bucket", check_fields=False)
    @classmethod
    def _bucket(cls, v: str) -> str:
        return _check_bucket(v)

    @field_validator("s3_prefix", check_fields=False)
    @classmethod
    def _prefix(cls, v: str) -> str:
        return validate_s3_prefix(v, "s3_prefix")
