"""What an RDS source adds to the deployment's policy and template (a source hook of
:mod:`ddb_assets.infra.policy`): the snapshot and export calls on exactly the configured DB
instance or Aurora DB cluster, the export role RDS assumes, and reading the export's files.

Resource types per action are the Service Authorization Reference's (as parliament bundles
it): DescribeDBSnapshots / CreateDBSnapshot act on ``db:`` and ``snapshot:`` ARNs,
DescribeDBClusterSnapshots / CreateDBClusterSnapshot on ``cluster:`` and
``cluster-snapshot:`` ARNs, StartExportTask on the ``snapshot:`` or ``cluster-snapshot:`` it
exports (and needs iam:PassRole on the export role). Snapshot ARNs are narrowed to the names
the chain uses: automated ``rds:<identifier>-*`` and manual ``<identifier>-ddb-assets-*``.

============================  ==============================================================
statement                     calls
============================  ==============================================================
RdsSnapshots<source>          DescribeDBSnapshots (instance) or DescribeDBClusterSnapshots
                              (cluster): the snapshot of day D; DescribeDBInstances /
                              DescribeDBClusters when there is none (which fix to name)
RdsCreateSnapshot<source>     CreateDBSnapshot / CreateDBClusterSnapshot (snapshot: manual)
RdsStartExport                StartExportTask on the sources' snapshots
RdsExportTasks                DescribeExportTasks: asked by identifier or bucket, it names
                              no snapshot (``*``); nothing in ddb_assets cancels an export
                              (CancelExportTask is the operator's, with their own rights)
RdsPassExportRole             iam:PassRole of exactly the configured export role(s)
RdsExportKey                  kms:CreateGrant, kms:DescribeKey (StartExportTask's KmsKeyId)
                              and kms:Decrypt (the export's files are SSE-KMS with that key)
S3ListRdsExports<n>,          ListObjectsV2 and GetObject under each source's export prefix
S3ReadRdsExports              (metadata, then the tables' Parquet files)
GlueRdsPartitions             BatchDeletePartition: a re-export of a day drops the partitions
                              of the earlier export (RDS tables on Athena only)
============================  ==============================================================
"""

from __future__ import annotations

import re
from typing import Any

from ddb_assets.infra.layout import Layout, RdsUse
from ddb_assets.infra.policy import (
    ACCOUNT,
    PARTITION,
    REGION,
    PolicyParts,
    Statement,
    _list_statements,
    _sid_part,
    glue_arn,
    s3_arn,
)

EXPORT_PRINCIPAL = "export.rds.amazonaws.com"
# What RDS documents for the export role (StartExportTask, IamRoleArn).
EXPORT_ROLE_OBJECT_ACTIONS = ("s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*")
EXPORT_ROLE_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket")
_ROLE_ARN = re.compile(r"^arn:[^:]+:iam::\d{12}:role(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")


def rds_arn(kind: str, name: str) -> str:
    return f"arn:{PARTITION}:rds:{REGION}:{ACCOUNT}:{kind}:{name}"


def snapshot_arns(r: RdsUse) -> tuple[str, ...]:
    """The snapshots of ``r`` the chain picks: automated ``rds:<id>-…`` and its own manual
    ``<id>-ddb-assets-…`` (the RDS ARN keeps the identifier's case as AWS lower-cases it)."""
    kind = "cluster-snapshot" if r.cluster else "snapshot"
    ident = r.identifier.lower()
    return (rds_arn(kind, f"rds:{ident}-*"), rds_arn(kind, f"{ident}-ddb-assets-*"))


def source_arn(r: RdsUse) -> str:
    return rds_arn("cluster" if r.cluster else "db", r.identifier.lower())


def _source_statements(r: RdsUse) -> list[Statement]:
    part = _sid_part(r.name)
    if r.cluster:
        describe = ("rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusters")
        create = ("rds:CreateDBClusterSnapshot",)
    else:
        describe = ("rds:DescribeDBInstances", "rds:DescribeDBSnapshots")
        create = ("rds:CreateDBSnapshot",)
    out = [Statement(f"RdsSnapshots{part}", describe, (source_arn(r), *snapshot_arns(r)))]
    if r.manual:
        manual = snapshot_arns(r)[1]
        out.append(Statement(f"RdsCreateSnapshot{part}", create, (source_arn(r), manual)))
    return out


def rds_parts(lay: Layout) -> PolicyParts:
    """The statements the RDS sources need, and an export role per configured role ARN."""
    if not lay.rds:
        return PolicyParts()
    statements: list[Statement] = []
    for r in lay.rds:
        statements += _source_statements(r)
    snapshots = tuple(a for r in lay.rds for a in snapshot_arns(r))
    roles = tuple(sorted({r.export_role_arn for r in lay.rds}))
    keys = tuple(sorted({r.kms_key_arn for r in lay.rds}))
    exports = sorted({r.exports for r in lay.rds})
    statements += [
        Statement("RdsStartExport", ("rds:StartExportTask",), snapshots),
        Statement("RdsExportTasks", ("rds:DescribeExportTasks",), ("*",)),
        Statement("RdsPassExportRole", ("iam:PassRole",), roles),
        Statement("RdsExportKey", ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"), keys),
        *_list_statements("S3ListRdsExports", exports),
        Statement(
            "S3ReadRdsExports", ("s3:GetObject",), tuple(s3_arn(e.objects()) for e in exports)
        ),
    ]
    if lay.rds_athena:
        tables = tuple(glue_arn("table", f"{db}/*") for db in lay.databases)
        statements.append(
            Statement(
                "GlueRdsPartitions",
                ("glue:BatchDeletePartition",),
                (glue_arn("catalog"), *(glue_arn("database", db) for db in lay.databases), *tables),
            )
        )
    return PolicyParts(statements, export_roles(lay))


def export_roles(lay: Layout) -> dict[str, Any]:
    """One ``AWS::IAM::Role`` per export role ARN the sources name (its name and path taken
    from the ARN, so the config's ARN is the role's), trusted by RDS's export service and
    allowed to write under each of its sources' export prefixes only."""
    by_role: dict[str, list[RdsUse]] = {}
    for r in lay.rds:
        by_role.setdefault(r.export_role_arn, []).append(r)
    out: dict[str, Any] = {}
    for arn, uses in sorted(by_role.items()):
        m = _ROLE_ARN.match(arn)
        if m is None:  # the config validates role ARNs; this is a guard
            raise ValueError(f"{arn!r} is not an IAM role ARN")
        objects = sorted({s3_arn(u.exports.objects()) for u in uses})
        buckets = sorted({s3_arn(u.exports.bucket) for u in uses})
        props: dict[str, Any] = {
            "RoleName": m.group("name"),
            "Description": "ddb_assets: RDS writes snapshot exports to S3 with this role",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": EXPORT_PRINCIPAL},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "rds-snapshot-export",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ExportObjects",
                                "Effect": "Allow",
                                "Action": list(EXPORT_ROLE_OBJECT_ACTIONS),
                                "Resource": objects,
                            },
                            {
                                "Sid": "ExportBucket",
                                "Effect": "Allow",
                                "Action": list(EXPORT_ROLE_BUCKET_ACTIONS),
                                "Resource": buckets,
                            },
                        ],
                    },
                }
            ],
        }
        if m.group("path") != "/":
            props["Path"] = m.group("path")
        out["RdsExportRole" + _sid_part(m.group("name"))] = {
            "Type": "AWS::IAM::Role",
            "Properties": props,
        }
    return out


def rds_one_time_steps(lay: Layout) -> list[str]:
    """Backups the sources rely on: CloudFormation does not own the DB instance or cluster."""
    steps = []
    for r in lay.rds:
        if r.manual:
            continue
        flag = f"--db-{r.kind}-identifier {r.identifier}"
        what = "Aurora DB cluster" if r.cluster else "DB instance"
        steps.append(
            f"Keep automated backups of {what} {r.identifier} for at least {r.retention_days} "
            f"day(s) (source {r.name} exports its automated snapshots; a backfill reaches back "
            f"that far): aws rds modify-db-{r.kind} {flag} --backup-retention-period "
            f"{r.retention_days} --apply-immediately"
        )
    return steps
