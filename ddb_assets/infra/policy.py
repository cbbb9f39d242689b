"""The least-privilege IAM policy of the Dagster deployment, as a pure function of the config.

Every statement names the exact resources the configured chain uses (table ARNs, S3
prefixes, the Glue database and its tables, the Athena workgroup, the KMS key); ``*`` only
where the API has no resource-level permissions (``dynamodb:ListExports``). ARNs carry
CloudFormation's pseudo parameters (``${AWS::Partition}``, ``${AWS::Region}``,
``${AWS::AccountId}``): the template wraps them in ``Fn::Sub``, and :func:`render` fills
them in for tools and tests that need plain ARNs.

Which API call needs which action (the table ``docs/production.md`` prints, and the tests
compare with the calls the chain really makes):

============================  ==============================================================
statement                     calls
============================  ==============================================================
DynamoDBTables                DescribeTable, DescribeContinuousBackups (PITR window),
                              ExportTableToPointInTime (full and incremental)
DynamoDBExports               DescribeExport (resource type ``export``)
DynamoDBListExports           ListExports (no resource-level permissions: ``*``)
S3ListExports<n>              ListObjectsV2 under each export prefix (an export already done)
S3ReadExports                 GetObject: manifests and data files
S3WriteExports                PutObject, AbortMultipartUpload: DynamoDB writes the export
                              with the caller's permissions
S3ListTyped<n>, S3TypedData   what Athena does for us under typed_s3_uri / summaries_s3_uri:
                              list, read and write (CTAS, INSERT, MERGE); nothing is deleted
                              (a re-load writes a new folder and swaps the partition)
S3QueryResults                Athena writes query results to the workgroup's location and
                              reads them back; GetBucketLocation on the result bucket
GlueCatalog                   the catalog, the configured database and its tables
AthenaWorkGroup               StartQueryExecution, GetQueryExecution, GetQueryResults,
                              StopQueryExecution (pyathena's calls) on the workgroup
S3ListComputeLogs<n>,         Dagster's S3ComputeLogManager (deploy/dagster.yaml), with
S3ComputeLogs                 ``--compute-logs-uri``: upload and read step logs
KmsKey                        GenerateDataKey/Decrypt when the buckets use a KMS key
Rds*, S3*RdsExports,          RDS sources (DB instances, Aurora clusters): the table in
GlueRdsPartitions             :mod:`ddb_assets.infra.rds_policy`
============================  ==============================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ddb_assets.infra.layout import Layout, S3Location

PARTITION = "${AWS::Partition}"
REGION = "${AWS::Region}"
ACCOUNT = "${AWS::AccountId}"

DYNAMODB_TABLE_ACTIONS = (
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeTable",
    "dynamodb:ExportTableToPointInTime",
)
DYNAMODB_EXPORT_ACTIONS = ("dynamodb:DescribeExport",)
DYNAMODB_LIST_ACTIONS = ("dynamodb:ListExports",)
S3_READ_ACTIONS = ("s3:GetObject",)
S3_EXPORT_WRITE_ACTIONS = ("s3:AbortMultipartUpload", "s3:PutObject")
S3_TYPED_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
S3_RESULTS_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
GLUE_ACTIONS = (
    "glue:BatchCreatePartition",  # Athena's ALTER TABLE ... ADD PARTITION (change history)
    "glue:BatchGetPartition",  # Athena reads a partitioned table's partitions by value
    "glue:CreatePartition",
    "glue:CreateTable",
    "glue:DeleteTable",
    "glue:GetDatabase",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:UpdatePartition",  # re-loading a day replaces its partition
    "glue:UpdateTable",
)
ATHENA_ACTIONS = (
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
S3_COMPUTE_LOG_ACTIONS = ("s3:GetObject", "s3:PutObject")


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            d["Condition"] = self.condition
        return d


@dataclass
class PolicyParts:
    """The role's statements plus, for sources that need them, extra roles (see
    :data:`SOURCE_HOOKS`)."""

    statements: list[Statement] = field(default_factory=list)
    # Extra CloudFormation resources a source needs (logical id → resource), e.g. the role
    # an RDS snapshot export assumes. Empty for DynamoDB.
    resources: dict[str, Any] = field(default_factory=dict)


def table_arn(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def s3_arn(path: str) -> str:
    return f"arn:{PARTITION}:s3:::{path}"


def glue_arn(kind: str, path: str = "") -> str:
    return f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}:{kind}" + (f"/{path}" if path else "")


def workgroup_arn(name: str) -> str:
    return f"arn:{PARTITION}:athena:{REGION}:{ACCOUNT}:workgroup/{name}"


def _sid_part(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def _list_statements(prefix: str, locations: list[S3Location]) -> list[Statement]:
    """One ListBucket statement per bucket, narrowed to the locations' key prefixes."""
    by_bucket: dict[str, list[S3Location]] = {}
    for loc in locations:
        by_bucket.setdefault(loc.bucket, []).append(loc)
    out = []
    for bucket, locs in sorted(by_bucket.items()):
        values = sorted({v for loc in locs for v in loc.list_prefixes()})
        cond = None if values == ["*"] else {"StringLike": {"s3:prefix": values}}
        out.append(
            Statement(f"{prefix}{_sid_part(bucket)}", ("s3:ListBucket",), (s3_arn(bucket),), cond)
        )
    return out


def dynamodb_parts(lay: Layout) -> PolicyParts:
    """DynamoDB exports of the configured tables, and the S3 objects they write."""
    if not lay.tables:  # a config with RDS sources only
        return PolicyParts()
    tables = sorted({t.dynamodb_table for t in lay.tables})
    exports = sorted({t.exports for t in lay.tables})
    return PolicyParts(
        [
            Statement(
                "DynamoDBTables", DYNAMODB_TABLE_ACTIONS, tuple(table_arn(t) for t in tables)
            ),
            Statement(
                "DynamoDBExports",
                DYNAMODB_EXPORT_ACTIONS,
                tuple(f"{table_arn(t)}/export/*" for t in tables),
            ),
            # ListExports has no resource-level permissions: AWS requires "*".
            Statement("DynamoDBListExports", DYNAMODB_LIST_ACTIONS, ("*",)),
            *_list_statements("S3ListExports", exports),
            Statement(
                "S3ReadExports", S3_READ_ACTIONS, tuple(s3_arn(e.objects()) for e in exports)
            ),
            Statement(
                "S3WriteExports",
                S3_EXPORT_WRITE_ACTIONS,
                tuple(s3_arn(e.objects()) for e in exports),
            ),
        ]
    )


def athena_parts(lay: Layout) -> PolicyParts:
    """Athena queries in the workgroup(s), and what Athena does with our permissions: the
    Glue catalog entries and the S3 objects of typed tables, summaries and results."""
    if not lay.athena:
        return PolicyParts()
    results = sorted(set(lay.workgroups.values()))
    glue = [glue_arn("catalog")]
    for db in lay.databases:
        glue += [glue_arn("database", db), glue_arn("table", f"{db}/*")]
    return PolicyParts(
        [
            *_list_statements("S3ListTyped", lay.typed),
            Statement(
                "S3TypedData", S3_TYPED_ACTIONS, tuple(s3_arn(loc.objects()) for loc in lay.typed)
            ),
            Statement(
                "S3QueryResults",
                S3_RESULTS_ACTIONS,
                tuple(s3_arn(loc.objects()) for loc in results),
            ),
            Statement(
                "S3QueryResultsBucket",
                ("s3:GetBucketLocation",),
                tuple(sorted({s3_arn(loc.bucket) for loc in results})),
            ),
            Statement("GlueCatalog", GLUE_ACTIONS, tuple(glue)),
            Statement(
                "AthenaWorkGroup",
                ATHENA_ACTIONS,
                tuple(workgroup_arn(w) for w in sorted(lay.workgroups)),
            ),
        ]
    )


def dagster_parts(lay: Layout) -> PolicyParts:
    """Dagster's own S3 use under the role (deploy/dagster.yaml): step logs."""
    if not lay.compute_logs:
        return PolicyParts()
    loc = lay.compute_logs
    return PolicyParts(
        [
            *_list_statements("S3ListComputeLogs", [loc]),
            Statement("S3ComputeLogs", S3_COMPUTE_LOG_ACTIONS, (s3_arn(loc.objects()),)),
        ]
    )


def kms_parts(lay: Layout) -> PolicyParts:
    if not lay.kms_key_arn:
        return PolicyParts()
    return PolicyParts([Statement("KmsKey", KMS_ACTIONS, (lay.kms_key_arn,))])


def rds_parts(lay: Layout) -> PolicyParts:
    """RDS snapshot exports (DB instances and Aurora clusters): see infra/rds_policy.py."""
    from ddb_assets.infra.rds_policy import rds_parts as parts

    return parts(lay)


# The policy is the union of what each kind of source (and the engines) needs. A source kind
# adds a function here that returns its statements and any extra resources (RDS: the export
# role with its trust policy for export.rds.amazonaws.com, and iam:PassRole on exactly that
# role); nothing else changes.
SOURCE_HOOKS: tuple[Callable[[Layout], PolicyParts], ...] = (dynamodb_parts, rds_parts)
ENGINE_HOOKS: tuple[Callable[[Layout], PolicyParts], ...] = (
    athena_parts,
    dagster_parts,
    kms_parts,
)


def policy_parts(lay: Layout) -> PolicyParts:
    out = PolicyParts()
    for hook in (*SOURCE_HOOKS, *ENGINE_HOOKS):
        part = hook(lay)
        out.statements += part.statements
        out.resources.update(part.resources)
    sids = [s.sid for s in out.statements]
    if len(sids) != len(set(sids)):
        raise AssertionError(f"duplicate statement ids: {sids}")
    return out


def policy_document(lay: Layout) -> dict[str, Any]:
    """The role's policy (ARNs with ``${AWS::...}`` placeholders)."""
    return {
        "Version": "2012-10-17",
        "Statement": [s.as_dict() for s in policy_parts(lay).statements],
    }


def render(doc: Any, *, account_id: str, region: str, partition: str = "aws") -> Any:
    """``doc`` with the pseudo parameters filled in (for parliament, IAM and tests)."""
    text = json.dumps(doc)
    for k, v in (("Partition", partition), ("Region", region), ("AccountId", account_id)):
        text = text.replace("${AWS::" + k + "}", v)
    return json.loads(text)


def required_permissions(lay: Layout) -> list[tuple[str, str, str | None]]:
    """(action, resource, s3:prefix or None) the chain needs, one resource each, for IAM's
    policy simulator (``ddb-assets doctor``). Wildcards in ARNs are replaced by a sample name
    under the prefix, and a ListBucket narrowed by ``s3:prefix`` is asked with a prefix it
    allows (the simulator treats a missing condition key as not matching)."""
    out: list[tuple[str, str, str | None]] = []
    for st in policy_parts(lay).statements:
        prefixes = (st.condition or {}).get("StringLike", {}).get("s3:prefix")
        for action in st.actions:
            for res in st.resources:
                # a sample name where the ARN ends in a wildcard (objects, tables, snapshots)
                probe = res[:-1] + "ddb-assets-doctor-probe" if res.endswith("*") else res
                probe = "*" if res == "*" else probe
                if prefixes:
                    for p in prefixes:
                        if p.endswith("/*"):
                            out.append((action, probe, p[:-1] + "ddb-assets-doctor-probe"))
                else:
                    out.append((action, probe, None))
    return out
