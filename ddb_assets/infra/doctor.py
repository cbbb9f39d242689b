"""``ddb-assets doctor``: check a configured environment before the first run.

One :class:`Check` per thing that must hold, each with the fix when it does not:

- every source table exists and has point-in-time recovery on, and how far back it reaches
  (a window shorter than ``pitr_days`` means older partitions cannot be exported);
- every bucket is reachable and in the deployment's region;
- every Glue database exists (Athena engine);
- every Athena workgroup is enabled, enforces its configuration, has a result location (the
  configured one, if any) and a bytes-scanned cutoff;
- every RDS source (DB instance or Aurora cluster) exists as configured, keeps automated
  backups long enough, and its export role and KMS key exist (:mod:`doctor_rds`);
- the effective permissions of the deployment's principal, by IAM's policy simulator, for
  every (action, resource) the generated policy grants; skipped where the simulator is not
  available (it needs ``iam:SimulatePrincipalPolicy``; the local stack has none).

Boto3 clients come from the ``client`` callable, so the checks run the same against AWS and
the local stack. Nothing here imports Dagster.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ddb_assets.config import ProjectConfig
from ddb_assets.infra.layout import PRIMARY_WORKGROUP, Layout, layout
from ddb_assets.infra.policy import render, required_permissions

PASS, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"[{self.status:>4}] {self.name}: {self.detail}"
        return text + (f" -> fix: {self.fix}" if self.fix else "")


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)


def check_tables(cfg: ProjectConfig, ddb, now: datetime) -> list[Check]:
    out = []
    for t in cfg.tables:
        name = t.source_table
        enable = (
            f"aws dynamodb update-continuous-backups --table-name {shlex.quote(name)} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
        )
        try:
            ddb.describe_table(TableName=name)
            desc = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        except Exception as exc:  # noqa: BLE001 - every AWS error becomes one line
            code = _code(exc)
            if code in ("ResourceNotFoundException", "TableNotFoundException"):
                out.append(
                    Check(
                        f"table {name}",
                        FAIL,
                        "the DynamoDB table does not exist in this account and region",
                        f"check tables[].dynamodb_table for {t.name!r} and AWS_REGION",
                    )
                )
            else:
                out.append(Check(f"table {name}", FAIL, f"cannot describe it ({code})", None))
            continue
        pitr = desc.get("PointInTimeRecoveryDescription", {})
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            out.append(
                Check(
                    f"pitr {name}",
                    FAIL,
                    "point-in-time recovery is off; exports need it",
                    enable,
                )
            )
            continue
        earliest = pitr.get("EarliestRestorableDateTime")
        days = (now - earliest).total_seconds() / 86400 if earliest else 0.0
        recovery = pitr.get("RecoveryPeriodInDays") or 35
        detail = (
            f"on, restorable from {earliest:%Y-%m-%d %H:%M} UTC ({days:.1f} of {recovery} days)"
        )
        if days + 1e-9 < min(t.pitr_days, recovery) - 1:
            out.append(
                Check(
                    f"pitr {name}",
                    WARN,
                    detail + f"; partitions older than {days:.0f} days cannot be exported yet",
                    None,
                )
            )
        else:
            out.append(Check(f"pitr {name}", PASS, detail))
    return out


def check_buckets(lay: Layout, s3, region: str) -> list[Check]:
    out = []
    for bucket in lay.buckets:
        try:
            s3.head_bucket(Bucket=bucket)
            loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        except Exception as exc:  # noqa: BLE001
            code = _code(exc)
            fix = (
                "deploy the template of `ddb-assets infra`, or create the bucket"
                if code in ("404", "NoSuchBucket", "NotFound")
                else "give the deployment's role s3:ListBucket on it (see `ddb-assets infra`)"
            )
            out.append(Check(f"bucket {bucket}", FAIL, f"not reachable ({code})", fix))
            continue
        loc = "eu-west-1" if loc == "EU" else loc
        if loc != region:
            out.append(
                Check(
                    f"bucket {bucket}",
                    FAIL,
                    f"in {loc}, but the deployment runs in {region} (Athena needs its data "
                    "and results in its own region; cross-region exports cost transfer)",
                    f"use a bucket in {region}, or run the deployment in {loc}",
                )
            )
        else:
            out.append(Check(f"bucket {bucket}", PASS, f"reachable, in {loc}"))
    return out


def check_databases(lay: Layout, glue) -> list[Check]:
    out = []
    for db in lay.databases:
        try:
            glue.get_database(Name=db)
            out.append(Check(f"glue database {db}", PASS, "exists"))
        except Exception as exc:  # noqa: BLE001
            out.append(
                Check(
                    f"glue database {db}",
                    FAIL,
                    f"not found ({_code(exc)})",
                    "deploy the template of `ddb-assets infra` (it creates the database), or "
                    f"aws glue create-database --database-input Name={db}",
                )
            )
    return out


def check_workgroups(cfg: ProjectConfig, lay: Layout, athena) -> list[Check]:
    out = []
    configured = {
        cfg.athena_for(t).workgroup: cfg.athena_for(t).output_location
        for t in cfg.tables
        if cfg.engine_for(t) == "athena"
    }
    for wg in sorted(lay.workgroups):
        name = f"workgroup {wg}"
        try:
            info = athena.get_work_group(WorkGroup=wg)["WorkGroup"]
        except Exception as exc:  # noqa: BLE001
            out.append(
                Check(
                    name,
                    FAIL,
                    f"not found ({_code(exc)})",
                    "deploy the template of `ddb-assets infra` (it creates the workgroup)",
                )
            )
            continue
        conf = info.get("Configuration", {})
        problems, fixes = [], []
        if info.get("State") != "ENABLED":
            problems.append("disabled")
            fixes.append(f"aws athena update-work-group --work-group {wg} --state ENABLED")
        location = conf.get("ResultConfiguration", {}).get("OutputLocation")
        if not location:
            problems.append("no query result location")
            fixes.append("set the workgroup's result location (the template does)")
        want = configured.get(wg)
        if want and location and location.rstrip("/") != want.rstrip("/"):
            problems.append(f"results go to {location}, the config says {want}")
            fixes.append("make athena.output_location the workgroup's location")
        if not conf.get("EnforceWorkGroupConfiguration"):
            problems.append("clients may override its settings")
            fixes.append("enforce the workgroup configuration (the template does)")
        if not conf.get("BytesScannedCutoffPerQuery"):
            problems.append("no per-query bytes-scanned cutoff")
            fixes.append("set BytesScannedCutoffPerQuery (the template does)")
        if wg == PRIMARY_WORKGROUP:
            fixes.append(
                "or use a dedicated workgroup (athena.workgroup) that the template manages"
            )
        if problems:
            out.append(Check(name, FAIL, "; ".join(problems), "; ".join(fixes)))
        else:
            cutoff = conf["BytesScannedCutoffPerQuery"]
            out.append(
                Check(
                    name,
                    PASS,
                    f"enabled, enforced, results in {location}, cutoff {cutoff:,} bytes/query",
                )
            )
    return out


def principal_of(caller_arn: str) -> str:
    """The IAM ARN to simulate for a caller: an assumed role's session → the role."""
    m = re.match(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/", caller_arn)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return caller_arn


def check_permissions(
    lay: Layout, iam, sts, region: str, principal_arn: str | None = None
) -> list[Check]:
    name = "permissions"
    try:
        ident = sts.get_caller_identity()
        principal = principal_arn or principal_of(ident["Arn"])
        account = ident["Account"]
    except Exception as exc:  # noqa: BLE001
        return [Check(name, FAIL, f"no usable credentials ({_code(exc)})", "configure credentials")]
    asks = [
        (
            render(action, account_id=account, region=region, partition=_partition(principal)),
            render(resource, account_id=account, region=region, partition=_partition(principal)),
            prefix,
        )
        for action, resource, prefix in required_permissions(lay)
    ]
    grouped: dict[tuple[str, str | None], list[str]] = {}
    for action, resource, prefix in asks:
        grouped.setdefault((action, prefix), []).append(resource)
    denied = []
    try:
        for (action, prefix), resources in sorted(grouped.items(), key=str):
            extra: dict[str, Any] = {}
            if prefix is not None:
                extra["ContextEntries"] = [
                    {
                        "ContextKeyName": "s3:prefix",
                        "ContextKeyValues": [prefix],
                        "ContextKeyType": "string",
                    }
                ]
            for i in range(0, len(resources), 50):
                res = iam.simulate_principal_policy(
                    PolicySourceArn=principal,
                    ActionNames=[action],
                    ResourceArns=resources[i : i + 50],
                    **extra,
                )
                for r in res["EvaluationResults"]:
                    for rr in r.get("ResourceSpecificResults") or [r]:
                        if rr.get("EvalResourceDecision", r.get("EvalDecision")) != "allowed":
                            where = rr.get("EvalResourceName", "*")
                            denied.append(
                                f"{action} on {where}" + (f" (prefix {prefix})" if prefix else "")
                            )
    except Exception as exc:  # noqa: BLE001
        code = _code(exc)
        return [
            Check(
                name,
                SKIP,
                f"IAM policy simulation is not available here ({code}); not checked",
                "run doctor with a principal allowed iam:SimulatePrincipalPolicy, or check "
                "that the role has the policy of `ddb-assets infra`",
            )
        ]
    if denied:
        return [
            Check(
                name,
                FAIL,
                f"{principal} lacks {len(denied)} permission(s): "
                + ", ".join(denied[:8])
                + (" ..." if len(denied) > 8 else ""),
                "attach the policy of `ddb-assets infra` to the role (or deploy its template)",
            )
        ]
    return [Check(name, PASS, f"{principal} has all {len(asks)} permission(s) the chain needs")]


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def run_checks(
    cfg: ProjectConfig,
    client: Callable[[str], Any],
    region: str,
    *,
    principal_arn: str | None = None,
    now: datetime | None = None,
) -> list[Check]:
    lay = layout(cfg)
    now = now or datetime.now(UTC)
    checks = check_tables(cfg, client("dynamodb"), now)
    checks += check_buckets(lay, client("s3"), region)
    if lay.athena:
        checks += check_databases(lay, client("glue"))
        checks += check_workgroups(cfg, lay, client("athena"))
    if cfg.rds:
        from ddb_assets.infra.doctor_rds import check_rds

        checks += check_rds(cfg, client)
    checks += check_permissions(lay, client("iam"), client("sts"), region, principal_arn)
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == FAIL for c in checks)
