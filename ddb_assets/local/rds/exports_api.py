"""StartExportTask, DescribeExportTasks and CancelExportTask as the RDS API reference documents.

Faults (codes and HTTP statuses from botocore's RDS model): ExportTaskAlreadyExists (400),
DBSnapshotNotFound (404), InvalidExportSourceState (400, snapshot not ``available``),
IamRoleNotFound (404), IamRoleMissingPermissions (400), KMSKeyNotAccessibleFault (400),
InvalidExportOnly (400), ExportTaskNotFound (404), InvalidExportTaskStateFault (400).
The account's limit of five concurrent exports has no fault in the API reference; the local
stack answers the sixth with ``ExportTaskLimitReached`` (400) — see CONTRACT.md.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult
from moto.rds.responses import RDSResponse

from ddb_assets.local.rds import clusters
from ddb_assets.local.rds import fidelity as fid
from ddb_assets.local.rds.export import ACTIVE, ExportJob

EXPORT_PRINCIPAL = "export.rds.amazonaws.com"
S3_ACTIONS = (
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:GetBucketLocation",
)


def _param(self: RDSResponse, name: str) -> Any:
    return self.params.get(name)


def _policy_documents(role: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for raw in getattr(role, "policies", {}).values():
        docs.append(json.loads(raw) if isinstance(raw, str) else raw)
    for policy in getattr(role, "managed_policies", {}).values():
        for version in getattr(policy, "versions", []):
            if getattr(version, "is_default", False):
                doc = version.document
                docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    return docs


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc.get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)


def _check_role(
    account: str, role_arn: str, bucket: str, prefix: str = "", ident: str = ""
) -> None:
    """The role exists, RDS's export service may assume it, and it may write where this
    export writes (``<bucket>/<prefix>/<export id>/…``) and list the bucket."""
    from moto.iam.models import iam_backends

    iam = None
    for partition in ("aws", "global"):
        try:
            iam = iam_backends[account][partition]
            break
        except KeyError:
            continue
    role = None
    if iam is not None:
        for candidate in iam.get_roles():
            if candidate.arn == role_arn:
                role = candidate
                break
    if role is None:
        raise fid.rds_error("IamRoleNotFound", f"IAM role {role_arn} doesn't exist.")
    trust = role.assume_role_policy_document
    trust_doc = json.loads(trust) if isinstance(trust, str) else (trust or {})
    trusted = False
    for st in _statements(trust_doc):
        principal = st.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and EXPORT_PRINCIPAL in services:
            trusted = True
    if not trusted:
        raise fid.rds_error(
            "IamRoleMissingPermissions",
            f"The IAM role {role_arn} can't be assumed by {EXPORT_PRINCIPAL}: add it as a "
            "trusted service principal of the role.",
        )
    statements = [s for d in _policy_documents(role) for s in _statements(d)]
    needed = [
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/{_export_key(prefix, ident, 'x')}"),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    ]
    for action, resource in needed:
        if not any(fid.statement_allows(s, action, resource) for s in statements):
            raise fid.rds_error(
                "IamRoleMissingPermissions",
                f"The IAM role {role_arn} isn't authorized to call {action} on the S3 bucket "
                f"{bucket}. Review your permissions and retry the export.",
            )


def _export_key(prefix: str, ident: str, name: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), ident, name) if p)


def _check_kms(account: str, region: str, key_id: str) -> None:
    from moto.kms.models import kms_backends

    try:
        key = kms_backends[account][region].describe_key(key_id)
    except Exception:  # noqa: BLE001 - moto raises several kinds for unknown ids
        key = None
    if key is None or getattr(key, "key_state", "Enabled") != "Enabled":
        raise fid.rds_error(
            "KMSKeyNotAccessibleFault",
            f"The specified KMS key [{key_id}] does not exist, is not enabled or you do not "
            "have permissions to access it.",
        )


def start_export_task(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = self.current_account, self.region
    ident = str(_param(self, "ExportTaskIdentifier") or "")
    source_arn = str(_param(self, "SourceArn") or "")
    bucket = str(_param(self, "S3BucketName") or "")
    role_arn = str(_param(self, "IamRoleArn") or "")
    kms_key = str(_param(self, "KmsKeyId") or "")
    prefix = str(_param(self, "S3Prefix") or "")
    export_only = [str(x) for x in (_param(self, "ExportOnly") or [])]
    with st.lock:
        if (account, region, ident) in st.exports:
            raise fid.rds_error(
                "ExportTaskAlreadyExists",
                f"The export task with the ID {ident} already exists.",
            )
        snap = clusters.source_snapshot(st, source_arn)  # DB snapshot or DB cluster snapshot
        if snap.status() != "available":
            raise fid.rds_error(
                "InvalidExportSourceState",
                f"The snapshot {snap.identifier} is in the {snap.status()} state: it must be "
                "available to be exported.",
            )
        if ":" in prefix:
            raise fid.rds_error(
                "InvalidParameterValue", "Exports to S3 don't support S3 prefixes containing ':'."
            )
        problem = fid.export_only_problem(export_only)
        if problem is not None:
            raise fid.rds_error("InvalidExportOnly", problem)
        _check_role(account, role_arn, bucket, prefix, ident)
        _check_kms(account, region, kms_key)
        active = sum(
            1 for (acc, _r, _i), j in st.exports.items() if acc == account and j.status in ACTIVE
        )
        if active >= st.max_concurrent_exports:
            raise fid.rds_error(
                "ExportTaskLimitReached",
                f"You can have up to {st.max_concurrent_exports} concurrent export tasks in "
                "progress per account: wait for one to finish.",
            )
        job = ExportJob(
            state=st,
            identifier=ident,
            source_arn=source_arn,
            snapshot=snap,
            bucket=bucket,
            prefix=prefix,
            iam_role_arn=role_arn,
            kms_key_id=kms_key,
            export_only=export_only,
            region=region,
            task_start=st.clock.now(),
            injected_failure=st.take_failure(),
        )
        st.exports[(account, region, ident)] = job
        job.start()
        return ActionResult(job.description())


_FILTERS = {
    "export-task-identifier": lambda j: j.identifier,
    "s3-bucket": lambda j: j.bucket,
    "source-arn": lambda j: j.source_arn,
    "status": lambda j: j.status.lower(),
}


def describe_export_tasks(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = self.current_account, self.region
    ident = _param(self, "ExportTaskIdentifier")
    source_arn = _param(self, "SourceArn")
    source_type = _param(self, "SourceType")
    filters = {
        f["Name"]: [str(v) for v in f.get("Values", [])] for f in _param(self, "Filters") or []
    }
    for name in filters:
        if name not in _FILTERS:
            raise fid.rds_error("InvalidParameterValue", f"Unrecognized filter name: {name}.")
    max_records = _param(self, "MaxRecords")
    limit = 100 if max_records in (None, "") else int(max_records)
    if not 20 <= limit <= 100:
        raise fid.rds_error(
            "InvalidParameterValue", f"MaxRecords must be between 20 and 100 (got {limit})."
        )
    with st.lock:
        jobs = [j for (acc, reg, _i), j in st.exports.items() if (acc, reg) == (account, region)]
    if ident:
        jobs = [j for j in jobs if j.identifier == ident]
        if not jobs:
            raise fid.rds_error(
                "ExportTaskNotFound", f"Cannot find export task with identifier {ident}."
            )
    if source_arn:
        jobs = [j for j in jobs if j.source_arn == source_arn]
    if source_type and source_type != "SNAPSHOT":
        jobs = []
    for name, values in filters.items():
        get = _FILTERS[name]
        wanted = {v.lower() for v in values} if name == "status" else set(values)
        jobs = [j for j in jobs if get(j) in wanted]
    marker = _param(self, "Marker")
    start = 0
    if marker:
        try:
            start = int(str(marker))
        except ValueError:
            raise fid.rds_error("InvalidParameterValue", "The marker is not valid.") from None
    page = jobs[start : start + limit]
    result: dict[str, Any] = {"ExportTasks": [j.description() for j in page]}
    if start + limit < len(jobs):
        result["Marker"] = str(start + limit)
    return ActionResult(result)


def cancel_export_task(self: RDSResponse) -> ActionResult:
    st = fid._state()
    account, region = self.current_account, self.region
    ident = str(_param(self, "ExportTaskIdentifier") or "")
    with st.lock:
        job: ExportJob | None = st.exports.get((account, region, ident))
    if job is None:
        raise fid.rds_error(
            "ExportTaskNotFound", f"Cannot cancel export task {ident}: it doesn't exist."
        )
    status = job.status
    if status not in ("STARTING", "IN_PROGRESS"):
        raise fid.rds_error(
            "InvalidExportTaskStateFault",
            f"Cannot cancel export task {ident} because it is in the {status} state.",
        )
    job.cancel()
    return ActionResult(job.description())
