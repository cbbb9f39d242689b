"""``ddb-assets doctor`` for RDS sources (DB instances and Aurora DB clusters): the source
exists and is of the configured kind, its automated backups reach back ``retention_days``
(an Aurora cluster always has them; an instance may have them off), and the export role
and KMS key the export uses exist. One :class:`~ddb_assets.infra.doctor.Check` each."""

from __future__ import annotations

from typing import Any

from ddb_assets.config import ProjectConfig, RdsSourceConfig
from ddb_assets.infra.doctor import FAIL, PASS, WARN, Check, _code

_NOT_FOUND = ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")


def _retention(src: RdsSourceConfig, name: str, kind: str, days: int) -> Check | None:
    if src.snapshot == "manual":
        return None
    fix = (
        f"aws rds modify-db-{kind} --db-{kind}-identifier {src.identifier} "
        f"--backup-retention-period {src.retention_days} --apply-immediately"
    )
    if days <= 0:
        return Check(
            name,
            FAIL,
            "automated backups are off: no automated snapshot to export",
            fix + " (or snapshot: manual)",
        )
    if days < src.retention_days:
        return Check(
            name,
            WARN,
            f"automated backups are kept {days} day(s), the source's retention_days is "
            f"{src.retention_days}: older partitions cannot be exported",
            fix,
        )
    return None


def check_rds_source(src: RdsSourceConfig, rds) -> Check:
    kind = "cluster" if src.is_cluster else "instance"
    name = f"rds {kind} {src.identifier}"
    where = f"check rds[].{kind} for {src.name!r} and AWS_REGION"
    try:
        if src.is_cluster:
            found = rds.describe_db_clusters(DBClusterIdentifier=src.identifier)["DBClusters"]
        else:
            found = rds.describe_db_instances(DBInstanceIdentifier=src.identifier)["DBInstances"]
    except Exception as exc:  # noqa: BLE001
        code = _code(exc)
        if code in _NOT_FOUND:
            other = "instance" if src.is_cluster else "cluster"
            return Check(
                name,
                FAIL,
                f"no {'Aurora DB cluster' if src.is_cluster else 'DB instance'} of that name "
                "in this account and region",
                f"{where} (an {other}? write {other}: {src.identifier})",
            )
        return Check(name, FAIL, f"cannot describe it ({code})", "check the credentials")
    d: dict[str, Any] = found[0] if found else {}
    engine = str(d.get("Engine", "")).lower()
    if not src.is_cluster and d.get("DBClusterIdentifier"):
        c = d["DBClusterIdentifier"]
        return Check(
            name,
            FAIL,
            f"a member of Aurora cluster {c}: its snapshots are DB cluster snapshots",
            f"write cluster: {c} and db_engine: aurora-mysql for {src.name!r}",
        )
    if engine and engine != src.db_engine:
        return Check(
            name,
            FAIL,
            f"its engine is {engine}, the config says db_engine: {src.db_engine}",
            f"set db_engine: {engine} for {src.name!r}",
        )
    days = int(d.get("BackupRetentionPeriod") or 0)
    bad = _retention(src, name, kind, days)
    if bad is not None:
        return bad
    what = "Aurora MySQL cluster" if src.is_cluster else f"{engine or src.db_engine} instance"
    return Check(name, PASS, f"{what}, automated backups kept {days} day(s)")


def check_export_role(src: RdsSourceConfig, iam) -> Check:
    name = f"rds export role {src.iam_role_arn.rsplit('/', 1)[-1]}"
    try:
        role = iam.get_role(RoleName=src.iam_role_arn.rsplit("/", 1)[-1])["Role"]
    except Exception as exc:  # noqa: BLE001
        return Check(
            name,
            FAIL,
            f"not found ({_code(exc)})",
            "deploy the template of `ddb-assets infra` (it creates the export role), or fix "
            f"iam_role_arn for {src.name!r}",
        )
    trust = str(role.get("AssumeRolePolicyDocument", ""))
    if "export.rds.amazonaws.com" not in trust:
        return Check(
            name,
            FAIL,
            "export.rds.amazonaws.com may not assume it",
            "add export.rds.amazonaws.com as a trusted service of the role",
        )
    return Check(name, PASS, "exists, trusted by export.rds.amazonaws.com")


def check_export_key(src: RdsSourceConfig, kms) -> Check:
    name = f"rds export key {src.kms_key_arn.rsplit('/', 1)[-1]}"
    try:
        meta = kms.describe_key(KeyId=src.kms_key_arn)["KeyMetadata"]
    except Exception as exc:  # noqa: BLE001
        return Check(name, FAIL, f"not usable ({_code(exc)})", f"fix kms_key_arn for {src.name!r}")
    if meta.get("KeyState", "Enabled") != "Enabled":
        return Check(
            name,
            FAIL,
            f"the key is {meta.get('KeyState')}",
            f"aws kms enable-key --key-id {src.kms_key_arn}",
        )
    return Check(name, PASS, "enabled")


def check_rds(cfg: ProjectConfig, client) -> list[Check]:
    checks: list[Check] = []
    for src in cfg.rds:
        checks.append(check_rds_source(src, client("rds")))
        checks.append(check_export_role(src, client("iam")))
        checks.append(check_export_key(src, client("kms")))
    # two sources may share a role or key: one line each
    return list({c.name: c for c in checks}.values())
