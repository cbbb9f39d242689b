"""Project configuration: one YAML file that declares the DynamoDB tables to keep in SQL.

The file is ``ddb_assets.yaml`` in the working directory unless ``DDB_ASSETS_CONFIG``
names another path. Every problem is reported at load time with the field's path and
what to write instead (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ddb_assets import table_names
from ddb_assets.config_base import (  # noqa: F401 - the config's public names
    _OWNER,
    DEFAULT_EXPORT_LATE_AFTER_MINUTES,
    DEFAULT_FRESHNESS_HOURS,
    AthenaConfig,
    ColumnConfig,
    ConfigError,
    Engine,
    ExportFormat,
    IncrementalConfig,
    OpsConfig,
    ScheduleConfig,
    _check_bucket,
    _check_date,
    _check_table_name,
    _ExportLocation,
    _Model,
    _validate_owners,
)
from ddb_assets.rds.config import RdsSourceConfig, RdsTable  # issue 20
from ddb_assets.s3keys import validate_s3_uri

CONFIG_ENV_VAR = "DDB_ASSETS_CONFIG"
DEFAULT_CONFIG_FILE = "ddb_assets.yaml"

_DDB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


class TableConfig(_ExportLocation):
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
        return _check_table_name(v)

    @field_validator("dynamodb_table")
    @classmethod
    def _ddb(cls, v: str | None) -> str | None:
        if v is not None and not _DDB_TABLE.match(v):
            raise ValueError(f"{v!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
        return v

    @field_validator("partitions_start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        return _check_date(v)

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
    tables: list[TableConfig] = Field(default_factory=list)
    rds: list[RdsSourceConfig] = Field(default_factory=list)  # RDS snapshot exports (issue 20)

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
        for section, keys in (
            ("tables", ("engine", "athena", "schedule", "export_format")),
            ("rds", ("engine", "athena", "schedule")),
        ):
            entries = data.get(section)
            if isinstance(entries, list):
                merged = []
                for t in entries:
                    if isinstance(t, dict):
                        t = dict(t)
                        for key in keys:
                            if key not in t and key in defaults:
                                t[key] = defaults[key]
                    merged.append(t)
                data = {**data, section: merged}
        return data

    @model_validator(mode="after")
    def _unique(self) -> ProjectConfig:
        if not self.tables and not self.rds:
            raise ValueError(
                "tables: list at least one table (a DynamoDB table: name and s3_bucket), "
                "or at least one RDS source under rds:"
            )
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
        self._rds_names()
        return self

    def _rds_names(self) -> None:
        """RDS sources and their typed tables: names unique across the whole project (the
        tables share the database and the summaries read them by name)."""
        groups = {t.name: f"tables.{i}" for i, t in enumerate(self.tables)}
        taken = {
            name: what
            for t in self.tables
            for name, what in table_names.occupied(
                t.name, incremental=t.incremental is not None and t.incremental.enabled
            ).items()
        }
        for i, src in enumerate(self.rds):
            if self.engine_for(src) != self.engine:
                raise ValueError(
                    f"rds.{i}.engine: source {src.name!r} runs on {self.engine_for(src)!r} but the "
                    f"project on {self.engine!r}; a project runs on one engine (drop the "
                    "source's engine, or set defaults.engine)"
                )
            if src.name in groups:
                raise ValueError(
                    f"rds.{i}.name: {src.name!r} is also {groups[src.name]}'s name (a Dagster "
                    f"group); choose another, e.g. {src.name + '_rds'!r}"
                )
            groups[src.name] = f"rds.{i}"
            for t in src.typed_tables():
                for name, what in table_names.occupied(t.name, incremental=False).items():
                    if name in taken:
                        raise ValueError(
                            f"rds.{i}.tables: {t.source} would become table {t.name!r}, which is "
                            f"already {taken[name]}; give it another name: "
                            f"{{source: {t.source}, name: {t.name + '_rds'}}}"
                        )
                    taken[name] = f"{what} (from rds source {src.name!r})"

    def _one_engine(self) -> None:
        """Every table runs on the same engine: the summaries read the tables together (a
        summary cannot join a DuckDB table with an Athena one), and the engine is one Dagster
        resource. A table's own ``engine`` that differs is refused rather than overridden."""
        if not self.tables:
            return
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
        for r in self.rds_tables():
            out.update(table_names.occupied(r.name, incremental=False))
        return out

    def rds_tables(self) -> list[RdsTable]:
        """Every typed table of every RDS source."""
        return [t for src in self.rds for t in src.typed_tables()]

    def rds_source(self, name: str) -> RdsSourceConfig:
        for src in self.rds:
            if src.name == name:
                return src
        raise ConfigError(f"no rds source named {name!r} in the config")

    def typed_table_names(self) -> set[str]:
        """The SQL tables summaries can read: every DynamoDB table and RDS typed table."""
        return {t.name for t in self.tables} | {t.name for t in self.rds_tables()}

    def table(self, name: str) -> TableConfig:
        for t in self.tables:
            if t.name == name:
                return t
        raise ConfigError(
            f"no table named {name!r} in the config; configured: "
            + ", ".join(t.name for t in self.tables)
        )

    def engine_for(self, t: TableConfig | RdsSourceConfig) -> str:
        return t.engine or self.defaults.engine

    @property
    def engine(self) -> str:
        """The engine the project runs on: every table's (they agree, see ``_one_engine``),
        so also the summaries' (``defaults.engine`` only fills in a table without one)."""
        if not self.tables:
            return self.rds[0].engine or self.defaults.engine if self.rds else self.defaults.engine
        return self.engine_for(self.tables[0])

    def athena_for(self, t: TableConfig | RdsSourceConfig) -> AthenaConfig:
        return t.athena or self.defaults.athena

    # --- Dagster layer (issue 18): a table's own value, else the default, else built in.
    def owners_for(self, t: TableConfig | RdsSourceConfig) -> list[str]:
        own = t.ops.owners if t.ops and t.ops.owners is not None else None
        return list(own if own is not None else (self.defaults.ops.owners or []))

    def freshness_hours_for(self, t: TableConfig | RdsSourceConfig | None) -> float:
        if t is not None and t.ops and t.ops.freshness_hours is not None:
            return t.ops.freshness_hours
        return self.defaults.ops.freshness_hours or DEFAULT_FRESHNESS_HOURS

    def export_late_after_minutes_for(self, t: TableConfig | RdsSourceConfig) -> int:
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
