"""Test support for issue #21: deploy the generated template into the local stack, get the
role's credentials, and run the whole chain (export, sensor, load, summary, change history,
on the Athena engine) with request authorization switched on, recording every AWS call.

The Athena front (:mod:`ddb_assets_tests.athena_emulator` on the session's Trino) is plugged
in by the test's ``athena_front`` fixture only. Athena acts with the caller's permissions, so
everything the front does is done as the role: its HiveQL DDL through boto3 clients made from
the environment (the role's credentials), and the SQL on Trino catalogs
(:func:`caller_catalogs`) whose Glue and S3 calls use credentials Trino gets by assuming the
role through the local stack's STS.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from ddb_assets.config import ProjectConfig, parse_config
from ddb_assets.local import authz
from ddb_assets_tests.ddb_tables import create_pitr_table

STACK_NAME = "ddb-assets"
# Template resource types moto's CloudFormation skips (with a warning); the test creates them
# from the template's own properties through the services' APIs.
MOTO_CFN_UNSUPPORTED = {"AWS::Glue::Database", "AWS::Athena::WorkGroup", "AWS::S3::BucketPolicy"}
# AWS::S3::Bucket properties moto's CloudFormation ignores (it applies BucketEncryption, Tags).
MOTO_CFN_IGNORED_BUCKET_PROPERTIES = {
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "LifecycleConfiguration",
}


def chain_config(tmp_path: Path) -> ProjectConfig:
    """A production-shaped config: the Athena engine, a summary, change history."""
    (tmp_path / "summaries").mkdir(exist_ok=True)
    (tmp_path / "summaries" / "menu_totals.sql").write_text(
        "SELECT menu, SUM(quantity) AS total_quantity FROM orders GROUP BY menu"
    )
    return parse_config(
        {
            "defaults": {
                "engine": "athena",
                "athena": {"database": "shop_prod", "workgroup": "ddb_assets"},
            },
            "typed_s3_uri": "s3://shop-typed/typed/",
            "summaries_s3_uri": "s3://shop-typed/summaries/",
            "summaries_dir": str(tmp_path / "summaries"),
            "warehouse": str(tmp_path / "wh.duckdb"),
            "tables": [
                {
                    "name": "orders",
                    "dynamodb_table": "Orders-prod",
                    "s3_bucket": "shop-exports",
                    "s3_prefix": "ddb",
                    "schedule": {"timezone": "UTC"},
                    "incremental": {"enabled": True, "window_minutes": 15},
                }
            ],
        },
        base_dir=tmp_path,
    )


# -- deployment -------------------------------------------------------------------------


def deploy(stack, template: dict[str, Any]) -> dict[str, str]:
    """Create the CloudFormation stack on the local stack; returns its outputs."""
    cfn = stack.client("cloudformation")
    cfn.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 60
    while True:
        st = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        if not st["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st["StackStatus"] == "CREATE_COMPLETE", st
    _create_what_moto_cfn_skips(stack, template)
    return {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}


def _resolve(stack, template: dict[str, Any], value: Any) -> Any:
    """The few intrinsic functions the generated template uses, resolved as CloudFormation
    does (Fn::Sub of pseudo parameters, Ref of a bucket, a parameter or the account)."""
    from ddb_assets.infra.policy import render

    if isinstance(value, list):
        return [_resolve(stack, template, v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            return render(value["Fn::Sub"], account_id=stack.account_id, region=stack.region)
        if set(value) == {"Ref"}:
            ref = value["Ref"]
            if ref == "AWS::AccountId":
                return stack.account_id
            if ref in template["Parameters"]:
                return template["Parameters"][ref]["Default"]
            return template["Resources"][ref]["Properties"]["BucketName"]
        return {k: _resolve(stack, template, v) for k, v in value.items()}
    return value


def _create_what_moto_cfn_skips(stack, template: dict[str, Any]) -> None:
    for res in template["Resources"].values():
        props = _resolve(stack, template, res["Properties"])
        if res["Type"] == "AWS::S3::Bucket":
            _apply_bucket_properties(stack.client("s3"), props)
        elif res["Type"] == "AWS::Glue::Database":
            stack.client("glue").create_database(DatabaseInput=props["DatabaseInput"])
        elif res["Type"] == "AWS::Athena::WorkGroup":
            wc = props["WorkGroupConfiguration"]
            stack.client("athena").create_work_group(
                Name=props["Name"], Description=props["Description"], Configuration=wc
            )
        elif res["Type"] == "AWS::S3::BucketPolicy":
            stack.client("s3").put_bucket_policy(
                Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"])
            )


def _apply_bucket_properties(s3, props: dict[str, Any]) -> None:
    bucket = props["BucketName"]
    assert set(props) - {"BucketName", "BucketEncryption"} <= MOTO_CFN_IGNORED_BUCKET_PROPERTIES
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
    rules = []
    for r in props["LifecycleConfiguration"]["Rules"]:
        rule: dict[str, Any] = {"ID": r["Id"], "Status": r["Status"]}
        rule["Filter"] = {"Prefix": r.get("Prefix", "")}
        if "ExpirationInDays" in r:
            rule["Expiration"] = {"Days": int(r["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in r:
            rule["AbortIncompleteMultipartUpload"] = r["AbortIncompleteMultipartUpload"]
        rules.append(rule)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def deployer_key(stack, role_arn: str) -> tuple[str, str]:
    """A "deployer" user who may assume the deployed role (its trust policy names the user),
    and its access key (id, secret). Call with authorization off."""
    iam = stack.client("iam")
    role_name = role_arn.rsplit("/", 1)[1]
    user = iam.create_user(UserName="deployer")["User"]
    iam.put_user_policy(
        UserName="deployer",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
                ],
            }
        ),
    )
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    trust["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}
    )
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def role_credentials(stack, role_arn: str, key: tuple[str, str]) -> dict[str, str]:
    """Credentials of the deployed role, assumed with the deployer's ``key`` through the
    local stack's STS (in production, ECS gives the task these credentials)."""
    sts = stack.client(
        "sts", aws_access_key_id=key[0], aws_secret_access_key=key[1], aws_session_token=None
    )
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName="dagster")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
        "AWS_SECURITY_TOKEN": c["SessionToken"],  # botocore reads this one first
    }


# Trino's catalogs for the authz chain's Athena front: their Glue and S3 calls are made with
# the role, which Trino assumes through the local stack's STS, as Athena acts with the
# caller's permissions.
CALLER_CATALOGS = ("caller_awsdatacatalog", "caller_iceberg")
# The role session names of Trino's Glue client (Trino's default) and of its S3 file system.
TRINO_ROLE_SESSIONS = ("trino-session", "athena")


# What Trino, the stand-in for Athena's engine, does in the catalog that Athena does not do
# with the caller's permissions: it keeps Glue column statistics (deletes and rewrites them
# after every CTAS / INSERT, reads them for planning). The test role gets these in a policy
# of its own, apart from the generated one (which the proof is about); nothing else.
ENGINE_HOUSEKEEPING_ACTIONS = (
    "glue:DeleteColumnStatisticsForPartition",
    "glue:DeleteColumnStatisticsForTable",
    "glue:GetColumnStatisticsForPartition",
    "glue:GetColumnStatisticsForTable",
    "glue:UpdateColumnStatisticsForPartition",
    "glue:UpdateColumnStatisticsForTable",
)
ENGINE_HOUSEKEEPING_POLICY = "stand-in-engine-column-statistics"


def allow_engine_housekeeping(stack, role_arn: str, databases: list[str]) -> None:
    """Give the role :data:`ENGINE_HOUSEKEEPING_ACTIONS` on ``databases`` (a separate inline
    policy, :data:`ENGINE_HOUSEKEEPING_POLICY`). Call with authorization off."""
    arn = f"arn:aws:glue:{stack.region}:{stack.account_id}"
    resources = [f"{arn}:catalog"]
    for db in databases:
        resources += [f"{arn}:database/{db}", f"{arn}:table/{db}/*"]
    stack.client("iam").put_role_policy(
        RoleName=role_arn.rsplit("/", 1)[1],
        PolicyName=ENGINE_HOUSEKEEPING_POLICY,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "StandInEngineColumnStatistics",
                        "Effect": "Allow",
                        "Action": list(ENGINE_HOUSEKEEPING_ACTIONS),
                        "Resource": resources,
                    }
                ],
            }
        ),
    )


def caller_catalogs(trino, role_arn: str, key: tuple[str, str]) -> tuple[str, str]:
    """Create :data:`CALLER_CATALOGS` on the session's Trino, assuming ``role_arn`` with the
    deployer's ``key`` (``s3.iam-role``, ``hive.metastore.glue.iam-role``, STS endpoint = the
    local stack). Call with authorization off."""
    from ddb_assets_tests.trino.server import aws_properties

    aws = aws_properties(trino.endpoint, access_key=key[0], secret_key=key[1], iam_role=role_arn)
    trino.add_catalogs(*CALLER_CATALOGS, aws)
    return CALLER_CATALOGS


# -- recording AWS calls ----------------------------------------------------------------


@dataclass
class CallLog:
    calls: list[tuple[str, str]] = field(default_factory=list)  # (service, operation)
    on_behalf: list[tuple[str, str]] = field(default_factory=list)  # DynamoDB's S3 writes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def operations(self) -> set[tuple[str, str]]:
        return set(self.calls)


@contextlib.contextmanager
def recording(log: CallLog) -> Iterator[None]:
    """Record every botocore API call made in this process (a botocore event hook on every
    client's ``before-call``); DynamoDB's own export writes are kept apart."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        svc = self.meta.service_model.service_name
        with log.lock:
            target = log.on_behalf if getattr(self, "_on_behalf_of_dynamodb", False) else log.calls
            target.append((svc, operation_name))
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = _make_api_call
    try:
        yield
    finally:
        BaseClient._make_api_call = original


class _ExportWriter:
    """The local stack's export writer, as DynamoDB writes: objects with the requester's
    permissions (PutObject, multipart upload), while its check that the bucket exists
    (HeadBucket, DynamoDB's own doing, not the caller's) keeps the stack's own identity."""

    def __init__(self, caller, internal):
        self._caller, self._internal = caller, internal

    def head_bucket(self, **kwargs):
        return self._internal.head_bucket(**kwargs)

    def __getattr__(self, name):
        return getattr(self._caller, name)


def writes_as_caller(stack, creds: dict[str, str]) -> None:
    """Call with authorization off: make the export writer write with ``creds``."""
    import boto3

    iam = stack.client("iam")
    iam.create_user(UserName="local-stack-internal")
    iam.put_user_policy(
        UserName="local-stack-internal",
        PolicyName="head-bucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="local-stack-internal")["AccessKey"]
    session = boto3.session.Session()
    caller = session.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    caller._on_behalf_of_dynamodb = True
    internal = session.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    internal._on_behalf_of_dynamodb = True
    stack._require_state().s3_client.use(stack.region, _ExportWriter(caller, internal))


@contextlib.contextmanager
def enforced(stack, creds: dict[str, str]) -> Iterator[None]:
    """Authorization on, and this process's AWS credentials = ``creds``."""
    import boto3

    saved = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    boto3.DEFAULT_SESSION = None  # it caches the credentials it first resolved
    authz.set_enforcement(stack.endpoint, True)
    try:
        yield
    finally:
        authz.set_enforcement(stack.endpoint, False)
        boto3.DEFAULT_SESSION = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the chain --------------------------------------------------------------------------


def seed_table(stack, t0: datetime) -> None:
    """The source table (PITR on: the one-time step) with writes at t0 and t0+12'."""
    ddb = stack.client("dynamodb")
    stack.set_now(t0)
    create_pitr_table(ddb, "Orders-prod")
    for i, menu in enumerate(["tuna", "salmon", "tuna", "eel"]):
        ddb.put_item(
            TableName="Orders-prod",
            Item={"pk": {"S": f"o{i}"}, "menu": {"S": menu}, "quantity": {"N": str(i + 1)}},
        )
    stack.set_now(t0 + timedelta(minutes=12))
    ddb.put_item(
        TableName="Orders-prod",
        Item={"pk": {"S": "o9"}, "menu": {"S": "eel"}, "quantity": {"N": "2.5"}},
    )
    ddb.delete_item(TableName="Orders-prod", Key={"pk": {"S": "o0"}})


def origin() -> datetime:
    """10:00 UTC two days ago: the day before yesterday is a whole day inside PITR."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=2) + timedelta(hours=10)


class StepFailed(AssertionError):
    pass


def run_whole_chain(stack, cfg: ProjectConfig, t0: datetime) -> list[str]:
    """Change history (seed, a window, the check), then the full export of the day of t0,
    its sensor, the typed load and the summary. Returns the steps done; raises StepFailed
    with the step and Dagster's error text on the first failure."""
    from ddb_assets.assets.incremental import build_incremental_assets, evaluate_incremental_tick
    from ddb_assets.definitions import build_definitions
    from ddb_assets.resources import resources_for
    from ddb_assets.runner import ChainError, run_chain
    from ddb_assets_tests.test_incremental_dagster import _execute

    done: list[str] = []
    t = cfg.tables[0]
    resources = resources_for(cfg.warehouse, "local", cfg)
    aws = resources["aws"]
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")

    def step(name: str, result) -> None:
        if not result.success:
            raise StepFailed(f"{name}: {_failure(result)}")
        done.append(name)

    def ready(timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            runs, messages = evaluate_incremental_tick(instance, cfg, ddb, s3)
            failures = [m for m in messages if "FAILED" in m]
            if failures:  # an export of the chain failed (the sensor retries it)
                raise StepFailed(f"change history export: {failures[0]}")
            if runs or time.monotonic() > deadline:
                return runs, messages
            time.sleep(0.1)

    with dg.instance_for_test() as instance:
        asset = build_incremental_assets(cfg, t)
        try:
            stack.set_now(t0 + timedelta(minutes=10))
            runs, messages = ready()
            if not runs:
                raise StepFailed(f"change history seed: no run requested ({messages})")
            step("change history seed", _execute(asset, runs[0], instance, resources))
            stack.set_now(t0 + timedelta(minutes=25, seconds=1))
            # The window's run, then the check's (the tick may ask for both at once).
            deadline = time.monotonic() + 120
            while not {"change history window", "change history check"} <= set(done):
                if time.monotonic() > deadline:
                    raise StepFailed(f"change history: no window and check after 120 s: {done}")
                runs, messages = ready()
                if not runs:
                    raise StepFailed(f"change history: no run requested ({messages})")
                for r in runs:
                    kind = "check" if r.asset_check_keys else "window"
                    step(f"change history {kind}", _execute(asset, r, instance, resources))
        except Exception as exc:
            if isinstance(exc, StepFailed):
                raise
            raise StepFailed(f"change history: {exc}") from exc
        finally:
            stack.reset_clock()

        defs = build_definitions(cfg, env="local")
        try:
            run_chain(
                defs,
                cfg,
                instance,
                table=t.name,
                partitions=[t0.date().isoformat()],
                poll_seconds=0.2,
                timeout=60,
                log=lambda *_: None,
            )
        except ChainError as exc:
            raise StepFailed(f"export/sensor/load/summary: {exc}") from exc
        except Exception as exc:  # an AWS error in the sensor tick itself
            raise StepFailed(f"export/sensor/load/summary: {exc}") from exc
        done.append("export, sensor, load, summary")

    # The production Athena client (pyathena) against the local stack's Athena API, in the
    # configured workgroup: the calls a query makes (the front above runs the SQL itself).
    from ddb_assets.athena.client import AthenaClient, AthenaQueryError

    a = cfg.athena_for(t)
    try:
        AthenaClient(database=a.database, workgroup=a.workgroup).execute("SELECT 1")
    except AthenaQueryError as exc:
        raise StepFailed(f"athena query api: {exc}") from exc
    done.append("athena query api")
    return done


def _failure(result) -> str:
    from ddb_assets.runner import _failure_text

    return _failure_text(result)


def denied() -> list[tuple[str, str, str, str | None]]:
    return [(who, a, r, p) for who, a, r, p, ok in authz.DECISIONS if not ok]


def statement_uses(policy: dict[str, Any]) -> dict[str, list[tuple[str, str, str | None]]]:
    """For each statement of ``policy``, the allowed requests (action, resource, s3 prefix)
    that it allows, by moto's own evaluator."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    out: dict[str, list] = {st["Sid"]: [] for st in policy["Statement"]}
    for who, action, resource, prefix, ok in authz.DECISIONS:
        if not ok or ":assumed-role/" not in who:
            continue
        ctx = {"s3:prefix": prefix} if prefix is not None else None
        for st in policy["Statement"]:
            if IAMPolicyStatement(st).is_action_permitted(action, resource, None, ctx) == (
                PermissionResult.PERMITTED
            ):
                out[st["Sid"]].append((action, resource, prefix))
    return out
