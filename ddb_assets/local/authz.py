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
operators, KMS key policies, resource policies of other services. Production code never imports this module.
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

        # moto asks a response class for ``_determine_resource`` when it has one.
        setattr(DynamoHandler, "_determine_resource", _dynamodb_resource)  # noqa: B010
        setattr(AthenaResponse, "_determine_resource", _athena_resource)  # noqa: B010
        setattr(GlueResponse, "_determine_resource", _glue_resources)  # noqa: B010

        base = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

        def _normal(self, resource: Any = "*") -> None:
            for r in resource if isinstance(resource, list) else [resource]:
                base(self, r)

        setattr(GlueResponse, "_authenticate_and_authorize_normal_action", _normal)  # noqa: B010

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

        setattr(s3_request, "check_action_permitted", check_action_permitted)  # noqa: B010

        for cls in (access_control.IAMRequest, access_control.S3IAMRequest):
            _record_decisions(cls)
        _installed = True


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
        try:
            checked(self, resource)
        except Exception:
            DECISIONS.append((who, self._action, resource, prefix, False))
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
