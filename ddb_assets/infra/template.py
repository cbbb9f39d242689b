"""The CloudFormation template (``ddb-assets infra``), as a pure function of the config.

:func:`build_template` returns the template as a dict; :func:`to_yaml` writes it. It holds:

- one S3 bucket per bucket the config names (unless ``existing_buckets``): default
  encryption (SSE-S3, or SSE-KMS with the configured key), every public access blocked,
  ACLs disabled (BucketOwnerEnforced), a bucket policy refusing non-TLS requests, and a
  lifecycle that expires exports after ``ExportRetentionDays`` (DynamoDB never deletes
  them), query results after ``QueryResultRetentionDays`` and abandoned multipart uploads;
- one Glue database per configured Athena database;
- one Athena workgroup per configured workgroup (except ``primary``, which every account
  already has): engine version 3, the result location and its encryption, the configuration
  enforced over clients' settings, and a per-query bytes-scanned cutoff;
- one IAM role for the Dagster deployment (trusted by ECS tasks by default) with the policy
  of :mod:`ddb_assets.infra.policy`, or, with ``existing_role``, the same policy attached
  to that role;
- for RDS sources (DB instances or Aurora clusters), the export role each names (trusted by
  export.rds.amazonaws.com, writing under the source's export prefix only), unless
  ``existing_export_roles``.

:func:`one_time_steps` lists what the template cannot do for the user (enable PITR on the
tables, which CloudFormation does not own), each with the command.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from ddb_assets.infra.layout import PRIMARY_WORKGROUP, Layout
from ddb_assets.infra.policy import policy_parts, s3_arn

MIN_BYTES_SCANNED_CUTOFF = 10_000_000  # Athena's minimum (10 MB)
DEFAULT_BYTES_SCANNED_CUTOFF = 100 * 1024**3  # 100 GiB per query


@dataclass(frozen=True)
class InfraOptions:
    export_retention_days: int = 90
    results_retention_days: int = 30
    bytes_scanned_cutoff: int = DEFAULT_BYTES_SCANNED_CUTOFF
    existing_buckets: bool = False  # the buckets exist: do not create (or change) them
    existing_role: str | None = None  # attach the policy to this role instead of a new one
    role_name: str | None = None  # a fixed name for the new role (default: generated)
    trusted_services: tuple[str, ...] = ("ecs-tasks.amazonaws.com",)
    existing_export_roles: bool = False  # the RDS export roles exist: do not create them

    def __post_init__(self) -> None:
        if self.export_retention_days < 1:
            raise ValueError("export retention must be at least 1 day")
        if self.results_retention_days < 1:
            raise ValueError("query result retention must be at least 1 day")
        if self.bytes_scanned_cutoff < MIN_BYTES_SCANNED_CUTOFF:
            raise ValueError(
                f"the bytes-scanned cutoff must be at least {MIN_BYTES_SCANNED_CUTOFF:,} "
                "bytes (Athena's minimum)"
            )
        if self.existing_role is not None and not re.fullmatch(
            r"[\w+=,.@-]{1,64}", self.existing_role
        ):
            raise ValueError(
                f"{self.existing_role!r} is not an IAM role name (give the name, not the ARN)"
            )


def logical_id(kind: str, name: str) -> str:
    """A CloudFormation logical id (alphanumeric) that names what it is for."""
    return kind + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def _sub(value: str) -> Any:
    return {"Fn::Sub": value} if "${" in value else value


def _subbed(doc: Any) -> Any:
    """Wrap every string holding ``${AWS::...}`` in ``Fn::Sub``."""
    if isinstance(doc, dict):
        return {k: _subbed(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_subbed(v) for v in doc]
    if isinstance(doc, str):
        return _sub(doc)
    return doc


def _bucket(lay: Layout, bucket: str, opts: InfraOptions) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for loc in lay.export_locations(bucket):
        rules.append(
            {
                "Id": logical_id("ExpireExports", loc.prefix),
                "Status": "Enabled",
                "Prefix": f"{loc.prefix}/",
                "ExpirationInDays": {"Ref": "ExportRetentionDays"},
            }
        )
    for wg, results in sorted(lay.workgroups.items()):
        if results.bucket == bucket:
            rules.append(
                {
                    "Id": logical_id("ExpireQueryResults", wg),
                    "Status": "Enabled",
                    "Prefix": f"{results.prefix}/" if results.prefix else "",
                    "ExpirationInDays": {"Ref": "QueryResultRetentionDays"},
                }
            )
    rules.append(
        {
            "Id": "AbortIncompleteMultipartUploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    )
    sse: dict[str, Any] = {"SSEAlgorithm": "AES256"}
    if lay.kms_key_arn:
        sse = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": lay.kms_key_arn}
    encryption: dict[str, Any] = {"ServerSideEncryptionByDefault": sse}
    if lay.kms_key_arn:
        encryption["BucketKeyEnabled"] = True
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",  # exports and typed data outlive the stack
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": bucket,
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [encryption]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": rules},
        },
    }


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [s3_arn(bucket), s3_arn(f"{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def build_template(lay: Layout, opts: InfraOptions | None = None) -> dict[str, Any]:
    opts = opts or InfraOptions()
    parts = policy_parts(lay)
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}

    if not opts.existing_buckets:
        for bucket in lay.buckets:
            lid = logical_id("Bucket", bucket)
            resources[lid] = _bucket(lay, bucket, opts)
            resources[logical_id("BucketPolicy", bucket)] = {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": lid},
                    "PolicyDocument": _subbed(tls_only_policy(bucket)),
                },
            }
            outputs[lid] = {"Description": f"S3 bucket {bucket}", "Value": {"Ref": lid}}

    for db in lay.databases:
        lid = logical_id("GlueDatabase", db)
        resources[lid] = {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": {
                    "Name": db,
                    "Description": "ddb_assets: typed DynamoDB snapshots, history, summaries",
                },
            },
        }
        outputs[lid] = {"Description": f"Glue database {db}", "Value": {"Ref": lid}}

    for wg, results in sorted(lay.workgroups.items()):
        if wg == PRIMARY_WORKGROUP:
            continue  # every account has it; see one_time_steps
        lid = logical_id("WorkGroup", wg)
        result_cfg: dict[str, Any] = {
            "OutputLocation": results.uri,
            "EncryptionConfiguration": (
                {"EncryptionOption": "SSE_KMS", "KmsKey": lay.kms_key_arn}
                if lay.kms_key_arn
                else {"EncryptionOption": "SSE_S3"}
            ),
        }
        resources[lid] = {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": wg,
                "Description": "ddb_assets: queries of the Dagster deployment",
                "State": "ENABLED",
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": {"Ref": "BytesScannedCutoffPerQuery"},
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": result_cfg,
                },
            },
        }
        outputs[lid] = {"Description": f"Athena workgroup {wg}", "Value": {"Ref": lid}}

    doc = _subbed(
        {
            "Version": "2012-10-17",
            "Statement": [s.as_dict() for s in parts.statements],
        }
    )
    if opts.existing_role:
        resources["DagsterPolicy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "ddb-assets",
                "Roles": [opts.existing_role],
                "PolicyDocument": doc,
            },
        }
    else:
        role: dict[str, Any] = {
            "Description": "ddb_assets: the Dagster deployment (code location and runs)",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": sorted(opts.trusted_services)},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [{"PolicyName": "ddb-assets", "PolicyDocument": doc}],
        }
        if opts.role_name:
            role["RoleName"] = opts.role_name
        resources["DagsterRole"] = {"Type": "AWS::IAM::Role", "Properties": role}
        outputs["DagsterRoleArn"] = {
            "Description": "the role of the Dagster deployment (ECS task role)",
            "Value": {"Fn::GetAtt": ["DagsterRole", "Arn"]},
        }
    if not opts.existing_export_roles:
        resources.update(_subbed(parts.resources))

    params = {
        "ExportRetentionDays": {
            "Type": "Number",
            "Default": opts.export_retention_days,
            "MinValue": 1,
            "Description": "days after which DynamoDB exports are deleted from S3",
        },
        "QueryResultRetentionDays": {
            "Type": "Number",
            "Default": opts.results_retention_days,
            "MinValue": 1,
            "Description": "days after which Athena query results are deleted",
        },
        "BytesScannedCutoffPerQuery": {
            "Type": "Number",
            "Default": opts.bytes_scanned_cutoff,
            "MinValue": MIN_BYTES_SCANNED_CUTOFF,
            "Description": "Athena cancels a query of the workgroup that scans more",
        },
    }
    used = json.dumps(resources)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "ddb_assets: export buckets, Glue database, Athena workgroup and the "
        "least-privilege role of the Dagster deployment (generated by `ddb-assets infra`)",
        # Only the parameters something refers to (no bucket, no workgroup: none).
        "Parameters": {k: v for k, v in params.items() if json.dumps({"Ref": k}) in used},
        "Resources": resources,
        "Outputs": outputs,
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(template: dict[str, Any]) -> str:
    header = "# Generated by `ddb-assets infra` from the project config; regenerate, do not edit.\n"
    return header + yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=100)


def one_time_steps(lay: Layout, opts: InfraOptions | None = None) -> list[str]:
    """What the user must do once, by hand, with the command for each."""
    opts = opts or InfraOptions()
    steps = []
    for t in lay.tables:
        steps.append(
            f"Enable point-in-time recovery on DynamoDB table {t.dynamodb_table} (exports need it; "
            "CloudFormation does not own the table): aws dynamodb update-continuous-backups "
            f"--table-name {shlex.quote(t.dynamodb_table)} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
        )
    from ddb_assets.infra.rds_policy import rds_one_time_steps

    steps += rds_one_time_steps(lay)
    if PRIMARY_WORKGROUP in lay.workgroups:
        steps.append(
            "The config uses Athena's 'primary' workgroup, which every account has and this "
            "template does not manage (no enforced result location, no bytes-scanned cutoff): "
            "set athena.workgroup to a dedicated name (e.g. ddb_assets) and regenerate"
        )
    if opts.existing_buckets:
        for bucket in lay.buckets:
            steps.append(
                f"Bucket {bucket} exists (--existing-buckets): check it blocks public access, "
                "encrypts by default and expires exports; `ddb-assets doctor` checks that it "
                "is reachable and in the right region"
            )
    return steps
