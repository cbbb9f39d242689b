"""Issue #21, the proof: the generated template deploys into the local stack's CloudFormation,
and the whole chain runs under the generated role's policy with request authorization on,
with no AccessDenied; removing any one statement makes a step fail with AccessDenied.

Everything is done as the role, Athena's part included: the Athena front's DDL through boto3
with the role's credentials, its SQL on Trino catalogs that assume the role through the local
stack's STS (``ic.caller_catalogs``), so the typed data and the engine's catalog calls are
enforced too. The statements the local stack cannot exercise are in
:data:`NOT_EXERCISED_LOCALLY`, the actions no step of the run calls in
:data:`DOCUMENTED_ONLY_ACTIONS`, each with its documented caller."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from ddb_assets.infra import build_template, layout
from ddb_assets.local import LocalAWS, authz
from ddb_assets.resources import AthenaResource
from ddb_assets_tests import infra_chain as ic

# The local stack's server, CloudFormation, a Dagster instance; a chain run takes 1-3 min.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


class _Front:
    """The Athena fronts the chain made, on Trino catalogs that assume the role."""

    def __init__(self, trino):
        self.trino = trino
        self.fronts: list = []
        self.catalogs: tuple[str, str] | None = None

    def assume(self, stack, cfg, role_arn: str, key: tuple[str, str]) -> None:
        """Athena's engine acts as the caller: Trino's catalogs for this chain assume the
        role with the deployer's key (call with authorization off). The role also gets
        Trino's column-statistics housekeeping, which Athena does not do with the caller's
        permissions (ic.ENGINE_HOUSEKEEPING_ACTIONS), in a policy of its own."""
        ic.allow_engine_housekeeping(stack, role_arn, list(layout(cfg).databases))
        self.catalogs = ic.caller_catalogs(self.trino, role_arn, key)

    def runner(self, *, database: str):
        from ddb_assets_tests.athena_emulator import AthenaEmulator

        assert self.catalogs is not None, "call athena_front.assume(...) first"
        # The front's DDL goes through boto3 clients made from the environment (the role's
        # credentials); the SQL runs on Trino catalogs that assume the same role.
        front = AthenaEmulator(
            boto3.client("glue"), boto3.client("s3"), database=database, catalogs=self.catalogs
        )
        self.fronts.append(front)
        return front


@pytest.fixture
def athena_front(monkeypatch, trino_server):
    """The one place the Athena front is chosen: the Trino-backed emulator, everything it does
    done with the role's permissions (see :class:`_Front`)."""
    front = _Front(trino_server)

    def runner(self, *, database, workgroup, output_location):
        return front.runner(database=database)

    monkeypatch.setattr(AthenaResource, "runner", runner)
    yield front
    for f in front.fronts:
        f.close()
    if front.catalogs:
        trino_server.drop_catalogs(*front.catalogs)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """The local stack with the generated template deployed, the source table seeded and the
    role's credentials; authorization is still off."""
    with LocalAWS(export_seconds=0.3) as stack:
        for k, v in stack.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("DDB_ASSETS_ENV", "local")
        cfg = ic.chain_config(tmp_path)
        template = build_template(layout(cfg))
        outputs = ic.deploy(stack, template)
        t0 = ic.origin()
        ic.seed_table(stack, t0)
        key = ic.deployer_key(stack, outputs["DagsterRoleArn"])
        creds = ic.role_credentials(stack, outputs["DagsterRoleArn"], key)
        ic.writes_as_caller(stack, creds)
        try:
            yield stack, cfg, template, outputs, creds, t0, key
        finally:
            authz.set_enforcement(stack.endpoint, False)
            stack.reset_clock()


def test_template_deploys_into_the_local_stack(deployed):
    stack, cfg, template, outputs, _, _, _ = deployed
    s3 = stack.client("s3")
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"shop-exports", "shop-typed"}
    enc = s3.get_bucket_encryption(Bucket="shop-exports")["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    pab = s3.get_public_access_block(Bucket="shop-exports")["PublicAccessBlockConfiguration"]
    assert all(pab.values())
    rules = s3.get_bucket_lifecycle_configuration(Bucket="shop-exports")["Rules"]
    assert [(r["Filter"], r["Expiration"]["Days"]) for r in rules if "Expiration" in r] == [
        ({"Prefix": "ddb/orders/"}, 90)
    ]
    typed_rules = s3.get_bucket_lifecycle_configuration(Bucket="shop-typed")["Rules"]
    assert [(r["Filter"], r["Expiration"]["Days"]) for r in typed_rules if "Expiration" in r] == [
        ({"Prefix": "athena-results/"}, 30)
    ]
    policy = json.loads(s3.get_bucket_policy(Bucket="shop-typed")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    wg = stack.client("athena").get_work_group(WorkGroup="ddb_assets")["WorkGroup"]
    assert wg["Configuration"]["EnforceWorkGroupConfiguration"] is True
    assert wg["Configuration"]["ResultConfiguration"]["OutputLocation"] == (
        "s3://shop-typed/athena-results/"
    )
    assert stack.client("glue").get_database(Name="shop_prod")["Database"]["Name"] == "shop_prod"
    role = stack.client("iam").get_role(RoleName=outputs["DagsterRoleArn"].rsplit("/", 1)[1])
    assert "ecs-tasks.amazonaws.com" in json.dumps(role["Role"]["AssumeRolePolicyDocument"])


def test_enforcement_is_real_for_resources(deployed):
    """What the role may not do is refused: another table, another prefix, another
    database, a write to a table it only exports. Only a principal the role's trust policy
    names may assume it (the deployer, whose key Trino's catalogs use), not another user
    whose own policy allows sts:AssumeRole."""
    stack, _, _, outputs, creds, _, key = deployed
    role_arn = outputs["DagsterRoleArn"]
    iam = stack.client("iam")
    iam.create_user(UserName="outsider")
    iam.put_user_policy(
        UserName="outsider",
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
    outsider = iam.create_access_key(UserName="outsider")["AccessKey"]
    sts_as = {
        who: stack.client(
            "sts", aws_access_key_id=k, aws_secret_access_key=secret, aws_session_token=None
        )
        for who, (k, secret) in {
            "deployer": key,
            "outsider": (outsider["AccessKeyId"], outsider["SecretAccessKey"]),
        }.items()
    }
    admin_s3 = stack.client("s3")
    admin_s3.create_bucket(Bucket="elsewhere")
    stack.client("dynamodb").create_table(
        TableName="Other",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    kw = {
        "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": creds["AWS_SESSION_TOKEN"],
    }
    ddb, s3, glue = (stack.client(s, **kw) for s in ("dynamodb", "s3", "glue"))
    with ic.enforced(stack, creds):
        assert ddb.describe_table(TableName="Orders-prod")["Table"]["TableName"] == "Orders-prod"
        s3.put_object(Bucket="shop-typed", Key="typed/x", Body=b"1")
        assert glue.get_database(Name="shop_prod")
        assumed = sts_as["deployer"].assume_role(RoleArn=role_arn, RoleSessionName="athena")
        assert ":assumed-role/" in assumed["AssumedRoleUser"]["Arn"]
        denied = [
            lambda: sts_as["outsider"].assume_role(RoleArn=role_arn, RoleSessionName="athena"),
            lambda: ddb.describe_table(TableName="Other"),
            lambda: ddb.put_item(TableName="Orders-prod", Item={"pk": {"S": "x"}}),
            lambda: ddb.update_continuous_backups(
                TableName="Orders-prod",
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
            ),
            lambda: s3.put_object(Bucket="elsewhere", Key="x", Body=b"1"),
            lambda: s3.put_object(Bucket="shop-typed", Key="other/x", Body=b"1"),
            lambda: s3.list_objects_v2(Bucket="shop-exports", Prefix="other/"),
            lambda: s3.get_object(Bucket="shop-exports", Key="elsewhere/x"),
            lambda: glue.create_database(DatabaseInput={"Name": "other"}),
            lambda: glue.get_tables(DatabaseName="default"),
        ]
        for call in denied:
            with pytest.raises(Exception, match="AccessDenied"):
                call()


# Statements the local stack cannot exercise, and why; their actions are checked against
# the documented calls instead (ddb_assets/infra/policy.py, docs/production.md). The typed
# data (S3TypedData, S3ListTyped<bucket>) is not among them: Trino reads, lists and writes it
# as the role.
NOT_EXERCISED_LOCALLY = {
    "S3QueryResults": "Athena writes each query's result under the workgroup's location with "
    "the caller's permissions; the Athena front runs the SQL itself, moto's Athena writes nothing",
    "S3QueryResultsBucket": "Athena calls GetBucketLocation on the result bucket; ditto",
}
# Actions of exercised statements that this run does not call, with the documented caller.
DOCUMENTED_ONLY_ACTIONS = {
    "s3:AbortMultipartUpload": "a multipart upload that fails: DynamoDB's export writer, "
    "Athena's CTAS / INSERT / MERGE",
    "glue:BatchCreatePartition": "Athena's ALTER TABLE ... ADD PARTITION (the change history's "
    "raw windows); the emulator calls CreatePartition",
    "glue:UpdatePartition": "re-loading a day swaps its partition (tables/athena_engine.py; "
    "test_athena_chain re-runs a day)",
    "athena:StopQueryExecution": "pyathena cancels a query it stops waiting for",
}
# botocore operation → the IAM action that authorizes it (Service Authorization Reference).
S3_OPERATIONS = {
    "ListObjectsV2": "ListBucket",
    "HeadObject": "GetObject",
    "HeadBucket": "ListBucket",
}
S3_OPERATIONS |= dict.fromkeys(
    ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"], "PutObject"
)
SIDS = [
    "DynamoDBTables",
    "DynamoDBExports",
    "DynamoDBListExports",
    "S3ListExportsShopExports",
    "S3ReadExports",
    "S3WriteExports",
    "S3ListTypedShopTyped",
    "S3TypedData",
    "S3QueryResults",
    "S3QueryResultsBucket",
    "GlueCatalog",
    "AthenaWorkGroup",
]


def _iam_action(service: str, operation: str) -> str:
    if service == "s3":
        return f"s3:{S3_OPERATIONS.get(operation, operation)}"
    return f"{service}:{operation}"


def _role_policy(template):
    return template["Resources"]["DagsterRole"]["Properties"]["Policies"][0]["PolicyDocument"]


@pytest.mark.trino
def test_whole_chain_under_exactly_the_generated_policy(deployed, athena_front):
    stack, cfg, template, outputs, creds, t0, key = deployed
    athena_front.assume(stack, cfg, outputs["DagsterRoleArn"], key)
    log = ic.CallLog()
    with ic.enforced(stack, creds), ic.recording(log):
        try:
            done = ic.run_whole_chain(stack, cfg, t0)
        finally:
            refused = ic.denied()
    assert refused == []
    assert done[0] == "change history seed" and done[-2:] == [
        "export, sensor, load, summary",
        "athena query api",
    ]
    assert set(done[1:-2]) == {"change history window", "change history check"}
    rows = athena_front.fronts[-1].execute(
        'SELECT menu, total_quantity FROM "shop_prod"."menu_totals"'
    )
    assert sorted((m, float(q)) for m, q in rows.rows) == [
        ("eel", 6.5),
        ("salmon", 2.0),
        ("tuna", 3.0),
    ]
    # Athena's engine acted as the role: Trino's Glue and S3 requests came from sessions of
    # the role it assumed (its Glue client's and its file system's), and among them the
    # Iceberg commits (glue:UpdateTable on the change history's Iceberg tables).
    role_name = outputs["DagsterRoleArn"].rsplit("/", 1)[1]
    trino_sessions = {f":assumed-role/{role_name}/{s}" for s in ic.TRINO_ROLE_SESSIONS}
    by_trino = [d for d in authz.DECISIONS if any(d[0].endswith(s) for s in trino_sessions)]
    assert {a.split(":")[0] for _, a, _, _, _ in by_trino} == {"glue", "s3"}
    iceberg = {
        t["Name"]
        for t in stack.client("glue").get_tables(DatabaseName="shop_prod")["TableList"]
        if (t.get("Parameters") or {}).get("table_type", "").upper() == "ICEBERG"
    }
    committed = {
        r.rsplit("/", 1)[1]
        for _, a, r, _, _ in by_trino
        if a == "glue:UpdateTable" and ":table/" in r
    }
    assert iceberg and committed & iceberg, (iceberg, committed)

    policy = ic._resolve(stack, template, _role_policy(template))
    assert [st["Sid"] for st in policy["Statement"]] == SIDS
    policy_actions = {a for st in policy["Statement"] for a in st["Action"]}
    # Every call the chain made (in this process, and DynamoDB's writes on its behalf) is an
    # action of the policy...
    made = {_iam_action(s, o) for s, o in log.calls + log.on_behalf if o != "HeadBucket"}
    made -= {"sts:AssumeRole"}
    assert made <= policy_actions, made - policy_actions
    # ...each exercised statement allowed some request of the run, and the policy's actions
    # are exactly those used, those of statements the stack cannot exercise, and the
    # documented ones.
    uses = ic.statement_uses(policy)
    unused = {sid for sid, reqs in uses.items() if not reqs}
    assert unused == set(NOT_EXERCISED_LOCALLY), uses
    used_actions = {a for reqs in uses.values() for a, _, _ in reqs}
    not_exercised = {
        a for st in policy["Statement"] if st["Sid"] in NOT_EXERCISED_LOCALLY for a in st["Action"]
    }
    assert policy_actions == used_actions | not_exercised | set(DOCUMENTED_ONLY_ACTIONS), (
        policy_actions - used_actions - not_exercised,
        used_actions - policy_actions,
    )
    assert not (used_actions & set(DOCUMENTED_ONLY_ACTIONS))
    # No slack: every exercised statement is the only one that allowed some request of the
    # run, so without it the chain, identical up to that request, gets AccessDenied there.
    # (test_removing_a_statement_fails_a_step re-runs the chain without each of them.)
    for sid, reqs in uses.items():
        if sid in NOT_EXERCISED_LOCALLY:
            continue
        only_here = [r for r in reqs if not any(r in uses[o] for o in uses if o != sid)]
        assert only_here, f"{sid}: every request it allowed was also allowed by another statement"


@pytest.mark.trino
@pytest.mark.parametrize("sid", [s for s in SIDS if s not in NOT_EXERCISED_LOCALLY])
def test_removing_a_statement_fails_a_step_with_access_denied(
    sid, tmp_path, monkeypatch, athena_front
):
    with LocalAWS(export_seconds=0.3) as stack:
        for k, v in stack.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("DDB_ASSETS_ENV", "local")
        cfg = ic.chain_config(tmp_path)
        template = build_template(layout(cfg))
        doc = _role_policy(template)
        removed = next(st for st in doc["Statement"] if st["Sid"] == sid)
        doc["Statement"].remove(removed)
        outputs = ic.deploy(stack, template)
        t0 = ic.origin()
        ic.seed_table(stack, t0)
        key = ic.deployer_key(stack, outputs["DagsterRoleArn"])
        creds = ic.role_credentials(stack, outputs["DagsterRoleArn"], key)
        ic.writes_as_caller(stack, creds)
        athena_front.assume(stack, cfg, outputs["DagsterRoleArn"], key)
        try:
            with ic.enforced(stack, creds), pytest.raises(ic.StepFailed) as failed:
                ic.run_whole_chain(stack, cfg, t0)
            refused = [d for d in ic.denied() if ":assumed-role/" in d[0]]
        finally:
            stack.reset_clock()
    assert refused, f"{sid}: the chain failed without an AccessDenied: {failed.value}"
    assert re.search(r"AccessDenied|Access Denied|Forbidden|\b403\b", str(failed.value)), (
        failed.value
    )
    # What was refused is what the removed statement allowed.
    assert {a for _, a, _, _ in refused} <= set(removed["Action"]), (refused, removed)
