"""Project configuration: one YAML file that declares the DynamoDB tables to keep in SQL.

The file is ``ddb_assets.yaml`` in the working directory unless ``DDB_ASSETS_CONFIG``
names another path. Every problem is reported at load time with the field's path and
what to write instead (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ddb_assets import table_names
from ddb_assets.s3keys import validate_s3_prefix, validate_s3_uri
from ddb_assets.sql.identifiers import validate_catalog_name

CONFIG_ENV_VAR = "DDB_ASSETS_CONFIG"
DEFAULT_CONFIG_FILE = "ddb_assets.yaml"

_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DDB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
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
    # many minutes of its start (DynamoDB usually needs minutes; a large table an hour or two).
    export_late_after_minutes: int | None = Field(default=None, ge=1, le=24 * 60)

    @field_validator("owners")
    @classmethod
    def _owners(cls, v: list[str] | None) -> list[str] | None:
        return _validate_owners(v)


DEFAULT_FRESHNESS_HOURS = 26.0  # a daily table, plus time for the export to land
DEFAULT_EXPORT_LATE_AFTER_MINUTES = 120


class TableConfig(_Model):
    name: str = Field(description="Name of the SQL table (and of the Dagster asset group).")
    dynamodb_table: str | None = None  # defaults to name
    s3_bucket: str
    s3_prefix: str = "dynamodb-exports"
    export_format: ExportFormat = "DYNAMODB_JSON"
    schedule: ScheduleConfig = ScheduleConfig()
    athena: AthenaConfig | None = None
    engine: Engine | None = None
    columns: dict[str, ColumnConfig] = Field(default_factory=dict)
    max_concurrent_exports: int = Field(default=3, ge=1, le=300)
    max_export_retries: int = Field(default=2, ge=0, le=10)
    verify_checksums: bool = True
    pitr_days: int = Field(default=35, ge=1, le=35)
    partitions_start: str | None = None  # YYYY-MM-DD; default: pitr_days ago
    incremental: IncrementalConfig | None = None  # change history (docs/incremental.md)
    # Dagster layer (issue 18): owners / freshness / lateness, overriding defaults.ops.
    ops: OpsConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
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

    @field_validator("dynamodb_table")
    @classmethod
    def _ddb(cls, v: str | None) -> str | None:
        if v is not None and not _DDB_TABLE.match(v):
            raise ValueError(f"{v!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
        return v

    @field_validator("s3_bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if v.startswith("s3://"):
            raise ValueError(
                f"{v!r}: give the bucket name only (e.g. 'my-exports'); put the path in s3_prefix"
            )
        if not _BUCKET.match(v):
            raise ValueError(f"{v!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        return v

    @field_validator("s3_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return validate_s3_prefix(v, "s3_prefix")

    @field_validator("partitions_start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
            raise ValueError(f"{v!r} must be a date written YYYY-MM-DD")
        return v

    @property
    def source_table(self) -> str:
        return self.dynamodb_table or self.name


class SensorConfig(_Model):
    interval_seconds: int = Field(default=30, ge=5, le=3600)
    reconcile_minutes: int = Field(default=10, ge=1, le=24 * 60)
    lookback_days: int = Field(default=3, ge=1, le=90)


class DefaultsConfig(_Model):
    engine: Engine = "duckdb"
    athena: AthenaConfig = AthenaConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    export_format: ExportFormat = "DYNAMODB_JSON"
    ops: OpsConfig = OpsConfig()  # owners, freshness_hours, export_late_after_minutes


class ProjectConfig(_Model):
    defaults: DefaultsConfig = DefaultsConfig()
    warehouse: str = ".ddb_assets/warehouse.duckdb"
    summaries_dir: str | None = "summaries"
    summaries_s3_uri: str | None = None  # where Athena writes summary tables
    typed_s3_uri: str | None = None  # where Athena writes typed snapshot tables
    sensor: SensorConfig = SensorConfig()
    tables: list[TableConfig]

    # Where the file was read from; relative paths resolve against its folder.
    base_dir: Path = Path(".")

    @field_validator("summaries_s3_uri", "typed_s3_uri")
    @classmethod
    def _s3_uris(cls, v: str | None, info) -> str | None:
        return None if v is None else validate_s3_uri(v, info.field_name)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        tables = data.get("tables")
        if isinstance(tables, list):
            merged = []
            for t in tables:
                if isinstance(t, dict):
                    t = dict(t)
                    for key in ("engine", "athena", "schedule", "export_format"):
                        if key not in t and key in defaults:
                            t[key] = defaults[key]
                merged.append(t)
            data = {**data, "tables": merged}
        return data

    @model_validator(mode="after")
    def _unique(self) -> ProjectConfig:
        if not self.tables:
            raise ValueError("tables: list at least one table (name and s3_bucket)")
        seen: set[str] = set()
        for t in self.tables:
            if self.engine_for(t) == "athena" and not self.typed_s3_uri:
                raise ValueError(
                    f"typed_s3_uri: table {t.name!r} runs on the athena engine, which writes its typed "
                    "tables (snapshots and change history) under typed_s3_uri; set it, e.g. "
                    "typed_s3_uri: s3://my-bucket/ddb_assets/typed/, or use engine: duckdb"
                )
            if t.name in seen:
                raise ValueError(f"tables: the name {t.name!r} appears twice; names must be unique")
            seen.add(t.name)
        self._one_engine()
        self._no_derived_name_taken()
        return self

    def _one_engine(self) -> None:
        """Every table runs on the same engine: the summaries read the tables together (a
        summary cannot join a DuckDB table with an Athena one), and the engine is one Dagster
        resource. A table's own ``engine`` that differs is refused rather than overridden."""
        first = self.tables[0]
        for i, t in enumerate(self.tables):
            if self.engine_for(t) != self.engine_for(first):
                raise ValueError(
                    f"tables.{i}.engine: table {t.name!r} runs on {self.engine_for(t)!r} but "
                    f"table {first.name!r} on {self.engine_for(first)!r}; a project runs on one "
                    "engine, which also builds the summaries that read its tables: set "
                    f"defaults.engine: {self.engine_for(t)} and drop the tables' engine, or "
                    "give every table the same engine"
                )

    def _no_derived_name_taken(self) -> None:
        """No configured table may be named like another one's derived table (e.g. a table
        ``orders_current`` next to an incremental ``orders``): both would write the same
        table, and Dagster would refuse the duplicate asset key."""
        own = {t.name: i for i, t in enumerate(self.tables)}
        for i, t in enumerate(self.tables):
            incremental = t.incremental is not None and t.incremental.enabled
            for name, what in table_names.occupied(t.name, incremental=incremental).items():
                j = own.get(name)
                if j is not None and j != i:
                    raise ValueError(
                        f"tables.{j}.name: {name!r} is also {what} (tables.{i}); give this "
                        f"table another name, e.g. {name + '_table'!r}"
                    )

    def occupied_names(self) -> dict[str, str]:
        """Every table name the configured tables take (their own and their derived ones,
        :func:`ddb_assets.table_names.occupied`), with what each is."""
        out: dict[str, str] = {}
        for t in self.tables:
            incremental = t.incremental is not None and t.incremental.enabled
            out.update(table_names.occupied(t.name, incremental=incremental))
        return out

    def table(self, name: str) -> TableConfig:
        for t in self.tables:
            if t.name == name:
                return t
        raise ConfigError(
            f"no table named {name!r} in the config; configured: "
            + ", ".join(t.name for t in self.tables)
        )

    def engine_for(self, t: TableConfig) -> str:
        return t.engine or self.defaults.engine

    @property
    def engine(self) -> str:
        """The engine the project runs on: every table's (they agree, see ``_one_engine``),
        so also the summaries' (``defaults.engine`` only fills in a table without one)."""
        return self.engine_for(self.tables[0])

    def athena_for(self, t: TableConfig) -> AthenaConfig:
        return t.athena or self.defaults.athena

    # --- Dagster layer (issue 18): a table's own value, else the default, else built in.
    def owners_for(self, t: TableConfig) -> list[str]:
        own = t.ops.owners if t.ops and t.ops.owners is not None else None
        return list(own if own is not None else (self.defaults.ops.owners or []))

    def freshness_hours_for(self, t: TableConfig | None) -> float:
        if t is not None and t.ops and t.ops.freshness_hours is not None:
            return t.ops.freshness_hours
        return self.defaults.ops.freshness_hours or DEFAULT_FRESHNESS_HOURS

    def export_late_after_minutes_for(self, t: TableConfig) -> int:
        if t.ops and t.ops.export_late_after_minutes is not None:
            return t.ops.export_late_after_minutes
        return self.defaults.ops.export_late_after_minutes or DEFAULT_EXPORT_LATE_AFTER_MINUTES

    def warehouse_path(self) -> Path:
        p = Path(self.warehouse)
        return p if p.is_absolute() else (self.base_dir / p)

    def summaries_path(self) -> Path | None:
        if not self.summaries_dir:
            return None
        p = Path(self.summaries_dir)
        return p if p.is_absolute() else (self.base_dir / p)


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it or check its spelling",
    "literal_error": "use one of the allowed values",
}


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    said: set[str] = set()
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" and msg in said:
            continue  # a default copied into every table: said once, where it was written
        said.add(msg)
        fix = _FIXES.get(err["type"])
        lines.append(f"  - {loc}: {msg}" + (f" ({fix})" if fix else ""))
    return "\n".join(lines)


def parse_config(
    data: Any, *, source: str = "<config>", base_dir: Path | None = None
) -> ProjectConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must be a YAML mapping with a 'tables:' list")
    try:
        cfg = ProjectConfig.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
    return cfg


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE)


def load_config(path: str | Path | None = None) -> ProjectConfig:
    p = Path(path) if path is not None else config_path()
    if not p.exists():
        raise ConfigError(
            f"config file {str(p)!r} not found: create it (see README.md) or set "
            f"{CONFIG_ENV_VAR} to its path"
        )
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(p), base_dir=p.resolve().parent)
