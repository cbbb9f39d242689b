"""What the configured chain touches in AWS, derived from the project config alone.

:func:`layout` turns a :class:`~ddb_assets.config.ProjectConfig` into the exact set of
DynamoDB tables, S3 locations, Glue databases and Athena workgroups that the chain reads and
writes, so the CloudFormation template (:mod:`ddb_assets.infra.template`), the IAM policy
(:mod:`ddb_assets.infra.policy`) and ``ddb-assets doctor`` (:mod:`ddb_assets.infra.doctor`)
all start from one list. Nothing here calls AWS or imports Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from ddb_assets.config import ProjectConfig, RdsSourceConfig, TableConfig

DEFAULT_RESULTS_PREFIX = "athena-results"
# The workgroup every account has: not created (or changed) by the template.
PRIMARY_WORKGROUP = "primary"


class InfraError(ValueError):
    """The config cannot be turned into infrastructure; the message names the fix."""


@dataclass(frozen=True, order=True)
class S3Location:
    """``s3://bucket/prefix/``; ``prefix`` has no leading or trailing slash ('' = bucket)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str, what: str) -> S3Location:
        u = urlparse(uri)
        if u.scheme != "s3" or not u.netloc:
            raise InfraError(f"{what}: {uri!r} is not an S3 URI such as 's3://bucket/prefix/'")
        return cls(u.netloc, u.path.strip("/"))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    def objects(self) -> str:
        """The object-key pattern under this location, for an IAM resource ARN."""
        return f"{self.bucket}/{self.prefix}/*" if self.prefix else f"{self.bucket}/*"

    def list_prefixes(self) -> list[str]:
        """``s3:prefix`` values that ListObjects calls under this location use."""
        return [self.prefix, f"{self.prefix}/*"] if self.prefix else ["*"]


@dataclass(frozen=True)
class SourceTable:
    """A configured DynamoDB table and where its exports land."""

    name: str  # the SQL table / Dagster group
    dynamodb_table: str
    exports: S3Location  # <s3_bucket>/<s3_prefix>/<name>: every export of the table


@dataclass(frozen=True)
class RdsUse:
    """A configured RDS source (a DB instance or an Aurora DB cluster) and its exports."""

    name: str  # the source's name (its Dagster group, S3 sub-prefix)
    identifier: str  # DBInstanceIdentifier or DBClusterIdentifier
    cluster: bool  # Aurora: DB cluster snapshots
    manual: bool  # snapshot: manual (the chain creates the day's snapshot)
    exports: S3Location  # <s3_bucket>/<s3_prefix>/<name>: every export of the source
    export_role_arn: str  # the role RDS assumes to write the export
    kms_key_arn: str  # the key the export is encrypted with
    retention_days: int  # the backup retention period the source needs

    @property
    def kind(self) -> str:
        return "cluster" if self.cluster else "instance"


@dataclass(frozen=True)
class AthenaUse:
    database: str
    workgroup: str
    results: S3Location  # where the workgroup writes query results


@dataclass
class Layout:
    tables: list[SourceTable]
    athena: list[AthenaUse] = field(default_factory=list)
    typed: list[S3Location] = field(default_factory=list)  # typed snapshots, history, summaries
    kms_key_arn: str | None = None
    compute_logs: S3Location | None = None  # Dagster's S3ComputeLogManager (deploy/)
    rds: list[RdsUse] = field(default_factory=list)
    rds_athena: bool = False  # some RDS source registers its tables for Athena

    @property
    def buckets(self) -> list[str]:
        names = {t.exports.bucket for t in self.tables}
        names |= {r.exports.bucket for r in self.rds}
        names |= {loc.bucket for loc in self.typed}
        names |= {a.results.bucket for a in self.athena}
        if self.compute_logs:
            names.add(self.compute_logs.bucket)
        return sorted(names)

    @property
    def databases(self) -> list[str]:
        return sorted({a.database for a in self.athena})

    @property
    def workgroups(self) -> dict[str, S3Location]:
        """Workgroup name → its result location (one location per workgroup)."""
        out: dict[str, S3Location] = {}
        for a in sorted(self.athena, key=lambda a: (a.workgroup, a.results)):
            out.setdefault(a.workgroup, a.results)
        return out

    def export_locations(self, bucket: str) -> list[S3Location]:
        """DynamoDB and RDS export locations in ``bucket`` (neither service deletes them)."""
        found = {t.exports for t in self.tables} | {r.exports for r in self.rds}
        return sorted(loc for loc in found if loc.bucket == bucket)


def layout(
    cfg: ProjectConfig, *, kms_key_arn: str | None = None, compute_logs_uri: str | None = None
) -> Layout:
    """The tables, locations, databases and workgroups that ``cfg``'s chain uses."""
    tables = [
        SourceTable(
            name=t.name,
            dynamodb_table=t.source_table,
            exports=S3Location(t.s3_bucket, "/".join(p for p in (t.s3_prefix, t.name) if p)),
        )
        for t in cfg.tables
    ]
    from ddb_assets.rds.naming import export_s3_prefix

    rds = [
        RdsUse(
            name=src.name,
            identifier=src.identifier,
            cluster=src.is_cluster,
            manual=src.snapshot == "manual",
            exports=S3Location(src.s3_bucket, export_s3_prefix(src.s3_prefix, src.name)),
            export_role_arn=src.iam_role_arn,
            kms_key_arn=src.kms_key_arn,
            retention_days=src.retention_days,
        )
        for src in cfg.rds
    ]
    uses: list[tuple[str, str, str | None]] = []
    sources: list[TableConfig | RdsSourceConfig] = [*cfg.tables, *cfg.rds]
    for t in sources:
        if cfg.engine_for(t) == "athena":
            a = cfg.athena_for(t)
            uses.append((a.database, a.workgroup, a.output_location))
    # Summaries run on the project's engine, in the default Athena database and workgroup.
    summaries = cfg.engine == "athena" and bool(cfg.summaries_dir)
    if summaries:
        a = cfg.defaults.athena
        uses.append((a.database, a.workgroup, a.output_location))

    typed: list[S3Location] = []
    if uses:
        if not cfg.typed_s3_uri:  # the config refuses this for tables; summaries only
            raise InfraError(
                "typed_s3_uri: the athena engine writes typed tables there; set it, "
                "e.g. typed_s3_uri: s3://my-bucket/ddb_assets/typed/"
            )
        typed.append(S3Location.parse(cfg.typed_s3_uri, "typed_s3_uri"))
    if summaries:
        if not cfg.summaries_s3_uri:
            raise InfraError(
                "summaries_s3_uri: summaries on the athena engine are written there; set it, "
                "e.g. summaries_s3_uri: s3://my-bucket/ddb_assets/summaries/"
            )
        typed.append(S3Location.parse(cfg.summaries_s3_uri, "summaries_s3_uri"))

    athena: list[AthenaUse] = []
    default_results = None
    if typed:
        default_results = S3Location(typed[0].bucket, DEFAULT_RESULTS_PREFIX)
    for database, workgroup, output in uses:
        results = S3Location.parse(output, "athena.output_location") if output else default_results
        assert results is not None
        athena.append(AthenaUse(database, workgroup, results))
    return Layout(
        tables=tables,
        athena=sorted(set(athena), key=lambda a: (a.database, a.workgroup, a.results)),
        typed=sorted(set(typed)),
        kms_key_arn=kms_key_arn,
        compute_logs=(
            S3Location.parse(compute_logs_uri, "--compute-logs-uri") if compute_logs_uri else None
        ),
        rds=sorted(rds, key=lambda r: r.name),
        rds_athena=any(cfg.engine_for(src) == "athena" for src in cfg.rds),
    )
