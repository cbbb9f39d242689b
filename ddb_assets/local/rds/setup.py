"""Ready-made RDS resources for the local stack: an instance or an Aurora MySQL cluster, the
export role and KMS key.

They go through boto3 like any client of AWS would (the demo, tests and ``ddb-assets dev``
use them); on AWS the same resources come from the infrastructure template.
"""

from __future__ import annotations

import json
from typing import Any

EXPORT_ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "export.rds.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def export_role_policy(bucket: str) -> dict[str, Any]:
    """The policy AWS documents for snapshot export tasks, scoped to one bucket."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExportPolicy",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject*",
                    "s3:ListBucket",
                    "s3:GetObject*",
                    "s3:DeleteObject*",
                    "s3:GetBucketLocation",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


def create_export_role(iam, bucket: str, name: str = "rds-s3-export-role") -> str:
    """An IAM role ``export.rds.amazonaws.com`` can assume to write to ``bucket``; its ARN."""
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EXPORT_ROLE_TRUST))[
        "Role"
    ]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="ExportPolicy",
        PolicyDocument=json.dumps(export_role_policy(bucket)),
    )
    return str(arn)


def create_export_key(kms, alias: str | None = "alias/rds-export") -> str:
    """A symmetric KMS key for the export (ARN); ``alias`` is created when given."""
    arn = kms.create_key(Description="RDS snapshot export")["KeyMetadata"]["Arn"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return str(arn)


def create_instance(
    rds,
    identifier: str = "shop-db",
    *,
    db_name: str | None = "shop",
    engine: str = "mariadb",
    backup_retention_days: int = 7,
    master_username: str = "admin",
    master_password: str = "local-password",
) -> dict[str, Any]:
    """CreateDBInstance for a MySQL-compatible instance; the local stack backs it with MariaDB.

    Returns the DBInstance description (``Endpoint`` = 127.0.0.1 and the server's port).
    """
    params: dict[str, Any] = {
        "DBInstanceIdentifier": identifier,
        "Engine": engine,
        "DBInstanceClass": "db.t3.micro",
        "AllocatedStorage": 20,
        "MasterUsername": master_username,
        "MasterUserPassword": master_password,
        "BackupRetentionPeriod": backup_retention_days,
    }
    if db_name:
        params["DBName"] = db_name
    return dict(rds.create_db_instance(**params)["DBInstance"])


def create_cluster(
    rds,
    identifier: str = "shop-cluster",
    *,
    db_name: str | None = "shop",
    backup_retention_days: int = 7,
    master_username: str = "admin",
    master_password: str = "local-password",
    writer: str | None = "",
) -> dict[str, Any]:
    """CreateDBCluster (engine aurora-mysql) and, unless ``writer`` is None, its writer DB
    instance (default name ``<identifier>-writer``); the local stack backs the cluster with
    one MariaDB server that its instances share. Returns the DBCluster description."""
    params: dict[str, Any] = {
        "DBClusterIdentifier": identifier,
        "Engine": "aurora-mysql",
        "MasterUsername": master_username,
        "MasterUserPassword": master_password,
        "BackupRetentionPeriod": backup_retention_days,
    }
    if db_name:
        params["DatabaseName"] = db_name
    cluster = dict(rds.create_db_cluster(**params)["DBCluster"])
    if writer is not None:
        rds.create_db_instance(
            DBInstanceIdentifier=writer or f"{identifier}-writer",
            DBClusterIdentifier=identifier,
            Engine="aurora-mysql",
            DBInstanceClass="db.r6g.large",
        )
    return cluster
