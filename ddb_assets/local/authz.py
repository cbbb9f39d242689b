"""Request authorization on the local stack, with the resources AWS authorizes against.

moto can check every request against the caller's IAM policies (its ``INITIAL_NO_AUTH_ACTION_COUNT``
setting, switched at run time through ``POST /moto-api/reset-auth``). Measured with moto 5.2:
it checks the *action* for every service, but the *resource* only for S3 (bucket and object
ARNs), IAM, STS and SQS; everything else is checked against ``"*"``, so a policy that names a
DynamoDB table, a Glue database or an Athena workgroup (as a least-privilege one does) would be
refused everything. :func:`install` teaches moto the resources, per the Service Authorization
Reference:

- DynamoDB: ``table/<TableName or TableArn>``; DescribeExport ``table/<t>/export/<id>``;
  ListExports has no resource-level permissions (``*``);
- Glue: the catalog, plus ``database/<db>`` and ``table/<db>/<table>`` when the call names
  them; every one must be allowed (AWS authorizes Glue calls on all three);
- Athena: ``workgroup/<name>`` (by the WorkGroup parameter, or the query execution's);
- RDS: DescribeDBInstances / DescribeDBSnapshots ``db:<instance>`` when the call names the
  instance, ``snapshot:<name>`` when it names a snapshot; DescribeDBClusters /
  DescribeDBClusterSnapshots ``cluster:`` / ``cluster-snapshot:`` likewise; CreateDBSnapshot
  / CreateDBClusterSnapshot the source and the new snapshot; StartExportTask its
  ``SourceArn``, and with it what AWS checks for the caller: ``iam:PassRole`` on
  ``IamRoleArn``, ``kms:CreateGrant`` and ``kms:DescribeKey`` on ``KmsKeyId`` (as the key's
  ARN); DescribeExportTasks / CancelExportTask have no resource-level permissions (``*``);
- S3 GetObject of an object encrypted with a KMS key (SSE-KMS): also ``kms:Decrypt`` on that
  key, which S3 asks KMS for with the caller's permissions;
- S3: the IAM action of each operation (moto checks ``s3:ListObjectsV2``, ``s3:HeadObject``,
  ...; IAM knows ``s3:ListBucket``, ``s3:GetObject``, ...), and ``s3:prefix`` of ListObjects calls, for ``StringLike`` conditions (moto evaluates only
  ``StringEquals`` and passes no S3 condition keys);
- roles created by moto's CloudFormation: their inline policies (kept as dicts) are read;
- trust policies (``sts:AssumeRole``): a statement applies to the caller when its
  ``Principal`` names it by its ``AWS`` element (the ARN, the account or ``*``); a
  ``Service`` or ``Federated`` statement, or one for another principal, does not apply
  (moto raised a TypeError on a statement without ``AWS``, such as the role's
  ``ecs-tasks.amazonaws.com`` one, and answered DENIED for another principal's statement).

- conditions: ``StringLike`` and ``Bool`` besides moto's ``StringEquals``; every request
  counts as made over TLS (``aws:SecureTransport`` true), as boto3's requests to AWS are.

moto itself evaluates S3 bucket policies. Not enforced even so: other condition keys and
operators, KMS key policies (keys are taken to allow IAM policies, as the default key policy
does), KMS permissions of writes (the RDS export writes with the grant the caller made),
resource policies of other services. Production code never imports this module.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import urllib.request
from typing import Any

_lock = threading.Lock()
_installed = False


def _params(self) -> dict[str, Any]:
    body = getattr(self, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            return {}
    return {}


def _arn(self, service: str, path: str) -> str:
    from moto.utilities.utils import get_partition

    return f"arn:{get_partition(self.region)}:{service}:{self.region}:{self.current_account}:{path}"


def _dynamodb_resource(self) -> str:
    p = _params(self)
    action = self._get_action()
    if action == "ListExports":
        return "*"
    if p.get("ExportArn"):
        return p["ExportArn"]
    if p.get("TableArn"):
        return p["TableArn"]
    if p.get("TableName"):
        name = p["TableName"]
        return name if name.startswith("arn:") else _arn(self, "dynamodb", f"table/{name}")
    return "*"


_GLUE_DATABASE_ACTIONS = {"CreateDatabase", "GetDatabase", "UpdateDatabase", "DeleteDatabase"}


def _glue_resources(self) -> list[str]:
    p = _params(self)
    action = self._get_action()
    out = [_arn(self, "glue", "catalog")]
    if action in _GLUE_DATABASE_ACTIONS:
        db = p.get("Name") or (p.get("DatabaseInput") or {}).get("Name")
        if db:
            out.append(_arn(self, "glue", f"database/{db}"))
        return out
    db = p.get("DatabaseName")
    if db:
        out.append(_arn(self, "glue", f"database/{db}"))
        table = p.get("TableName") or p.get("Name") or (p.get("TableInput") or {}).get("Name")
        if table:
            out.append(_arn(self, "glue", f"table/{db}/{table}"))
        elif action in ("GetTables", "SearchTables"):
            out.append(_arn(self, "glue", f"table/{db}/*"))
    return out


def _athena_resource(self) -> str:
    p = _params(self)
    wg = p.get("WorkGroup")
    if not wg and p.get("QueryExecutionId"):
        from moto.athena.models import athena_backends

        ex = athena_backends[self.current_account][self.region].executions.get(
            p["QueryExecutionId"]
        )
        wg = ex.workgroup.name if ex is not None and ex.workgroup is not None else "primary"
    return _arn(self, "athena", f"workgroup/{wg}") if wg else "*"


_RDS_NAMED = {
    # action: (parameter, ARN kind) pairs that name a resource the call acts on
    "DescribeDBInstances": (("DBInstanceIdentifier", "db"),),
    "DescribeDBSnapshots": (("DBInstanceIdentifier", "db"), ("DBSnapshotIdentifier", "snapshot")),
    "CreateDBSnapshot": (("DBInstanceIdentifier", "db"), ("DBSnapshotIdentifier", "snapshot")),
    "DescribeDBClusters": (("DBClusterIdentifier", "cluster"),),
    "DescribeDBClusterSnapshots": (
        ("DBClusterIdentifier", "cluster"),
        ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
    ),
    "CreateDBClusterSnapshot": (
        ("DBClusterIdentifier", "cluster"),
        ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
    ),
}


def _rds_arn(self, kind: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return _arn(self, "rds", f"{kind}:{name.lower()}")


def _kms_key_arn(self, key_id: str) -> str:
    """The ARN of the KMS key ``key_id`` names (id, ARN, alias or alias ARN), as IAM sees it."""
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[self.current_account][self.region].describe_key(key_id).arn)
    except Exception:  # noqa: BLE001 - an unknown key: authorize the name given
        return key_id if key_id.startswith("arn:") else _arn(self, "kms", f"key/{key_id}")


def _rds_requests(self) -> list[tuple[str | None, str]]:
    """(IAM action, resource) pairs an RDS call is authorized on; action None = the call's."""
    p = getattr(self, "params", None) or {}
    action = self._get_action()
    if action == "StartExportTask":
        out: list[tuple[str | None, str]] = [(None, str(p.get("SourceArn") or "*"))]
        if p.get("IamRoleArn"):
            out.append(("iam:PassRole", str(p["IamRoleArn"])))
        if p.get("KmsKeyId"):
            key = _kms_key_arn(self, str(p["KmsKeyId"]))
            out += [("kms:CreateGrant", key), ("kms:DescribeKey", key)]
        return out
    named: list[tuple[str | None, str]] = [
        (None, _rds_arn(self, kind, str(p[param])))
        for param, kind in _RDS_NAMED.get(action, ())
        if p.get(param)
    ]
    return named or [(None, "*")]


def _rds_authorize(self, resource: Any = "*") -> None:
    """Authorize every pair of :func:`_rds_requests` (the first as moto does, which also
    counts requests while enforcement is off)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    pairs = _rds_requests(self)
    base = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
    first_action, first_resource = pairs[0]
    base(self, first_resource)
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return  # enforcement is off
    for iam_action, arn in pairs[1:]:
        req = IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        if iam_action is not None:
            req._action = iam_action
        req.check_action_permitted(arn)


def _string_like(expected_value: list[str] | str, actual_value: str) -> bool:
    values = [expected_value] if isinstance(expected_value, str) else list(expected_value)
    return any(fnmatch.fnmatchcase(actual_value, v) for v in values)


def _bool(expected_value: list[str] | str, actual_value: str) -> bool:
    values = [expected_value] if isinstance(expected_value, str | bool) else list(expected_value)
    return any(str(v).lower() == str(actual_value).lower() for v in values)


REQUEST_CONTEXT = {"aws:SecureTransport": "true"}

# moto names S3 requests by their API operation; IAM authorizes them as these actions
# (Service Authorization Reference for Amazon S3). Other operations keep their name.
S3_OPERATION_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
}

# Every authorization decision since enforcement was last switched on: (principal ARN,
# action, resource, s3 prefix or None, allowed). Tests read it to see what was asked and what
# was refused.
DECISIONS: list[tuple[str, str, str, str | None, bool]] = []


def install() -> None:
    """Teach moto's request authorization the resources above (idempotent, process-wide)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.athena.responses import AthenaResponse
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.dynamodb.responses import DynamoHandler
        from moto.glue.responses import GlueResponse
        from moto.iam import access_control, policy_conditions
        from moto.rds.responses import RDSResponse

        # moto asks a response class for ``_determine_resource`` when it has one.
        setattr(DynamoHandler, "_determine_resource", _dynamodb_resource)  # noqa: B010
        setattr(AthenaResponse, "_determine_resource", _athena_resource)  # noqa: B010
        setattr(GlueResponse, "_determine_resource", _glue_resources)  # noqa: B010

        base = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

        def _normal(self, resource: Any = "*") -> None:
            for r in resource if isinstance(resource, list) else [resource]:
                base(self, r)

        setattr(GlueResponse, "_authenticate_and_authorize_normal_action", _normal)  # noqa: B010
        setattr(RDSResponse, "_authenticate_and_authorize_normal_action", _rds_authorize)  # noqa: B010

        # StringLike (with the request's s3:prefix for S3 requests) and Bool; every request
        # counts as made over TLS (boto3's requests to AWS are; the loopback stack is plain
        # HTTP), so a TLS-only bucket policy denies nothing here, as in AWS.
        policy_conditions.CONDITION_OPERATIONS.setdefault("StringLike", _string_like)
        policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", _bool)
        check_conditions = access_control.IAMPolicyStatement._check_conditions

        def _check_conditions(self, incoming: dict[str, str] | None) -> bool:
            return check_conditions(self, {**REQUEST_CONTEXT, **(incoming or {})})

        setattr(access_control.IAMPolicyStatement, "_check_conditions", _check_conditions)  # noqa: B010

        # A statement whose condition does not hold, or (in a trust policy) whose Principal
        # is not the caller, does not apply (moto answers DENIED, which turns an Allow with
        # a condition, a conditional Deny, or a trust policy's statement for another
        # principal into a refusal).
        statement_permitted = access_control.IAMPolicyStatement.is_action_permitted

        def _statement_permitted(self, action, resource="*", principal=None, incoming=None):
            if self._statement.get("Condition") and not self._check_conditions(incoming):
                return access_control.PermissionResult.NEUTRAL
            if principal and not _check_principal(self, principal):
                return access_control.PermissionResult.NEUTRAL
            return statement_permitted(self, action, resource, principal, incoming)

        setattr(  # noqa: B010
            access_control.IAMPolicyStatement, "is_action_permitted", _statement_permitted
        )
        # A role made by moto's CloudFormation keeps its inline policies as dicts, which the
        # authorizer cannot read (KeyError 'policy_document'): accept a policy document dict.
        policy_init = access_control.IAMPolicy.__init__

        def _policy_init(self, policy: Any) -> None:
            if isinstance(policy, dict) and "Statement" in policy:
                policy = json.dumps(policy)
            policy_init(self, policy)

        setattr(access_control.IAMPolicy, "__init__", _policy_init)  # noqa: B010

        s3_request = access_control.S3IAMRequest
        original = s3_request.check_action_permitted

        def check_action_permitted(self, resource: str) -> None:
            from urllib.parse import parse_qs, urlparse

            service, _, operation = self._action.partition(":")
            self._action = f"{service}:{S3_OPERATION_ACTIONS.get(operation, operation)}"
            prefix = parse_qs(urlparse(self._path).query).get("prefix")
            if self._action == "s3:ListBucket":
                policies = self._access_key.collect_policies()
                values = {"s3:prefix": prefix[0] if prefix else ""}
                permitted = False
                for policy in policies:
                    result = access_control.IAMPolicy(policy).is_action_permitted(
                        self._action, resource, incoming_condition_values=values
                    )
                    if result == access_control.PermissionResult.DENIED:
                        self._raise_access_denied()
                    if result == access_control.PermissionResult.PERMITTED:
                        permitted = True
                if not permitted:
                    self._raise_access_denied()
                return
            original(self, resource)
            if operation == "GetObject":
                key = _sse_kms_key(self, resource)
                if key is not None:
                    _check_as(self, "kms:Decrypt", key)

        setattr(s3_request, "check_action_permitted", check_action_permitted)  # noqa: B010

        for cls in (access_control.IAMRequest, access_control.S3IAMRequest):
            _record_decisions(cls)
        _installed = True


def _sse_kms_key(request: Any, resource: str) -> str | None:
    """The KMS key ARN of the S3 object ``resource`` (``arn:…:s3:::bucket/key``) when it is
    encrypted with SSE-KMS, else None."""
    from moto.s3.models import s3_backends

    bucket, _, key = resource.split(":::", 1)[-1].partition("/")
    if not key:
        return None
    try:
        backend = s3_backends[request.account_id]["aws"]
        obj = backend.get_object(bucket, key)
    except Exception:  # noqa: BLE001 - no such bucket or key: S3 answers that itself
        return None
    if obj is None or obj.encryption != "aws:kms" or not obj.kms_key_id:
        return None
    key_id = str(obj.kms_key_id)
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    from moto.kms.models import kms_backends

    region = request._region
    try:
        return str(kms_backends[request.account_id][region].describe_key(key_id).arn)
    except Exception:  # noqa: BLE001 - a key moto does not know: authorize its name
        return key_id


def _check_as(request: Any, action: str, resource: str) -> None:
    """Authorize ``action`` on ``resource`` for the caller of ``request`` (another service's
    action that the request implies), recorded like the request's own."""
    from moto.iam.access_control import IAMRequest

    saved = request._action
    request._action = action
    try:
        IAMRequest.check_action_permitted(request, resource)
    finally:
        request._action = saved


def _check_principal(self, principal: str) -> bool:
    """Whether a trust-policy statement's ``Principal`` names the IAM ``principal`` (an ARN)."""
    expected = self._statement.get("Principal")
    if not expected or expected == "*":
        return True
    aws = expected.get("AWS") if isinstance(expected, dict) else None
    if aws is None:  # a Service or Federated principal: never an IAM user or role
        return False
    account = principal.split(":")[4] if principal.count(":") >= 5 else ""
    names = {"*", principal, account, f"arn:aws:iam::{account}:root"}
    return any(v in names for v in ([aws] if isinstance(aws, str) else aws))


def _record_decisions(cls) -> None:
    checked = cls.check_action_permitted

    def check_action_permitted(self, resource: str) -> None:
        from urllib.parse import parse_qs, urlparse

        prefix = None
        if self._action == "s3:ListBucket":
            prefix = (parse_qs(urlparse(self._path).query).get("prefix") or [""])[0]
        who = getattr(getattr(self, "_access_key", None), "arn", "")
        before = len(DECISIONS)
        try:
            checked(self, resource)
        except Exception:
            # Refused for an action the request implies (kms:Decrypt of an S3 GetObject),
            # recorded as such: the request's own action was allowed.
            implied = any(not d[4] for d in DECISIONS[before:])
            DECISIONS.append((who, self._action, resource, prefix, implied))
            raise
        DECISIONS.append((who, self._action, resource, prefix, True))

    setattr(cls, "check_action_permitted", check_action_permitted)  # noqa: B010


def set_enforcement(endpoint: str, on: bool) -> None:
    """Switch request authorization on (every request from now on) or off, on a running
    stack (moto's ``/moto-api/reset-auth``)."""
    if on:
        install()
        DECISIONS.clear()
    data = b"0" if on else b"inf"
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=data,
        method="POST",
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
    )
    urllib.request.urlopen(req, timeout=10).read()
