"""The ``rds:`` section of the project config: RDS instances (or Aurora clusters) whose
daily snapshot is exported to S3 and loaded as typed tables (issue 20). Validated like the
DynamoDB tables (:mod:`ddb_assets.config`), one line per problem naming field and fix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ddb_assets.config_base import (
    AthenaConfig,
    Engine,
    OpsConfig,
    ScheduleConfig,
    _check_date,
    _check_table_name,
    _ExportLocation,
    _Model,
)
from ddb_assets.rds import naming as rds_naming

RdsEngine = Literal["mysql", "mariadb", "aurora-mysql"]
_POSTGRES = ("postgres", "aurora-postgresql", "postgresql")


class RdsTableConfig(_Model):
    source: str  # database.table in the snapshot (an ExportOnly entry)
    name: str | None = None  # the typed table's SQL name; default <source name>_<table>

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        rds_naming.parse_source_table(v, "source")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _typed_table_name(v)


class RdsSourceConfig(_ExportLocation):
    """One RDS DB instance (or Aurora cluster) whose snapshot is exported every day."""

    name: str = Field(description="The source's name: its Dagster group and table-name prefix.")
    instance: str | None = None  # DBInstanceIdentifier
    cluster: str | None = None  # DBClusterIdentifier (Aurora)
    db_engine: str = "mysql"
    tables: list[RdsTableConfig | str]
    s3_bucket: str
    s3_prefix: str = "rds-exports"
    iam_role_arn: str
    kms_key_arn: str
    snapshot: Literal["automated", "manual"] = "automated"
    schedule: ScheduleConfig = ScheduleConfig()
    athena: AthenaConfig | None = None
    engine: Engine | None = None
    max_concurrent_exports: int = Field(default=5, ge=1, le=5)  # AWS: 5 per account
    max_export_retries: int = Field(default=2, ge=0, le=10)
    retention_days: int = Field(default=7, ge=1, le=35)  # the backup retention period
    partitions_start: str | None = None  # YYYY-MM-DD; default: retention_days ago
    ops: OpsConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _typed_table_name(v)

    @field_validator("instance", "cluster")
    @classmethod
    def _ident(cls, v: str | None, info) -> str | None:
        return None if v is None else rds_naming.check_identifier(v, info.field_name)

    @field_validator("db_engine")
    @classmethod
    def _engine(cls, v: str) -> str:
        v = v.strip().lower()
        if v in _POSTGRES:
            raise ValueError(
                f"{v!r}: PostgreSQL sources are not supported yet (their ExportOnly entries, "
                "export layout database/schema.table and types differ and are not tested); "
                "use a MySQL-compatible engine: mysql, mariadb or aurora-mysql"
            )
        if v not in ("mysql", "mariadb", "aurora-mysql"):
            raise ValueError(f"{v!r} is not an RDS engine; use mysql, mariadb or aurora-mysql")
        return v

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: list) -> list[RdsTableConfig]:
        out = [RdsTableConfig(source=t) if isinstance(t, str) else t for t in v]
        if not out:
            raise ValueError("list the tables to export as database.table, e.g. [shop.orders]")
        return out

    @field_validator("iam_role_arn")
    @classmethod
    def _role(cls, v: str) -> str:
        return rds_naming.check_role_arn(v)

    @field_validator("kms_key_arn")
    @classmethod
    def _kms(cls, v: str) -> str:
        return rds_naming.check_kms_arn(v)

    @field_validator("partitions_start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        return _check_date(v)

    @model_validator(mode="after")
    def _one_source(self) -> RdsSourceConfig:
        if (self.instance is None) == (self.cluster is None):
            raise ValueError(
                f"rds source {self.name!r}: give exactly one of instance (a DB instance "
                "identifier) or cluster (an Aurora cluster identifier)"
            )
        if self.cluster is not None and self.db_engine != "aurora-mysql":
            raise ValueError(
                f"rds source {self.name!r}: a cluster is Aurora; set db_engine: aurora-mysql"
            )
        if self.instance is not None and self.db_engine == "aurora-mysql":
            raise ValueError(
                f"rds source {self.name!r}: Aurora snapshots are DB cluster snapshots; write "
                f"cluster: <the DB cluster identifier> instead of instance: {self.instance}"
            )
        seen: dict[str, str] = {}
        for t in self.typed_tables():
            if t.name in seen:
                raise ValueError(
                    f"rds source {self.name!r}: tables {seen[t.name]} and {t.source} both become "
                    f"{t.name!r}; give one a name:"
                )
            seen[t.name] = t.source
        return self

    @property
    def identifier(self) -> str:
        return self.instance or self.cluster or ""

    @property
    def is_cluster(self) -> bool:
        return self.cluster is not None

    def typed_tables(self) -> list[RdsTable]:
        """Each exported table with its SQL name (the DynamoDB tables' naming rules)."""
        tables = [
            t if isinstance(t, RdsTableConfig) else RdsTableConfig(source=t) for t in self.tables
        ]
        parsed = [rds_naming.parse_source_table(t.source) for t in tables]
        databases = len({d for d, _ in parsed})
        return [
            RdsTable(
                source_name=self.name,
                source=t.source,
                database=d,
                table=tb,
                name=t.name or rds_naming.default_sql_name(self.name, d, tb, databases=databases),
            )
            for t, (d, tb) in zip(tables, parsed)
        ]

    def export_only(self) -> list[str]:
        return [t.source for t in self.typed_tables()]


class RdsTable(_Model):
    """One exported source table and its typed SQL table."""

    source_name: str  # the RdsSourceConfig's name
    source: str  # database.table
    database: str
    table: str
    name: str


def _typed_table_name(v: str) -> str:
    """A name that becomes a SQL table: the same rules as a DynamoDB table's ``name``."""
    return _check_table_name(v)
