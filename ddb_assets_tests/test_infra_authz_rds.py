"""Issue #21's proof for an RDS source (issue #20): the template generated for a config with
one RDS DB instance deploys into the local stack's CloudFormation, and the RDS chain (export
request, rds_export_sensor, the typed load on the DuckDB engine, by ``run_rds_chain``) runs
as the deployed role with request authorization on, with no AccessDenied, and every statement
of the policy is the only one that allowed some request of the run. (Not yet here: the
DynamoDB proof's "remove one statement and a step fails" loop; see docs/production.md.)

The local stack authorizes RDS calls on the resources AWS does (``ddb_assets/local/authz.py``:
``db:`` and ``snapshot:`` ARNs, StartExportTask's snapshot, and the ``iam:PassRole`` and
``kms:CreateGrant`` / ``kms:DescribeKey`` it implies; ``kms:Decrypt`` when reading an SSE-KMS
object), and the export itself writes as the deployed export role, as RDS does."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import dagster as dg
import duckdb
import pytest

from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.infra import build_template, layout
from ddb_assets.local import LocalAWS, authz
from ddb_assets.local.rds.setup import create_export_key, create_instance
from ddb_assets.runner_rds import run_rds_chain
from ddb_assets_tests import infra_chain as ic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.mariadb,
    pytest.mark.duckdb,
    pytest.mark.timeout(600),
]

BUCKET = "shop-rds-exports"
EXPORT_ROLE = "shop-rds-export"
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAY = TODAY - dt.timedelta(days=2)  # the chain's day
SPARE = TODAY - dt.timedelta(days=1)  # has a snapshot, never exported: the request step

SIDS = [
    "RdsSnapshotsShop",
    "RdsStartExport",
    "RdsExportTasks",
    "RdsPassExportRole",
    "RdsExportKey",
    "S3ListRdsExportsShopRdsExports",
    "S3ReadRdsExports",
]
# Statements the local stack cannot exercise: none.
NOT_EXERCISED_LOCALLY: dict[str, str] = {}
# Actions of exercised statements that this run does not call, with the documented caller.
DOCUMENTED_ONLY_ACTIONS = {
    "rds:DescribeDBInstances": "only when a source has no snapshot at all: the request asks "
    "whether the instance exists to name the fix (rds/snapshots.py _missing_source)",
}


def _config(tmp_path, account: str, key_arn: str):
    return parse_config(
        {
            "warehouse": str(tmp_path / "w.duckdb"),
            "summaries_dir": None,
            "defaults": {"athena": {"database": "sushi"}},
            "rds": [
                {
                    "name": "shop",
                    "instance": "shop-db",
                    "db_engine": "mariadb",
                    "tables": ["shop.orders"],
                    "s3_bucket": BUCKET,
                    "iam_role_arn": f"arn:aws:iam::{account}:role/{EXPORT_ROLE}",
                    "kms_key_arn": key_arn,
                    "schedule": {"timezone": "UTC"},
                    "partitions_start": (TODAY - dt.timedelta(days=10)).isoformat(),
                }
            ],
        }
    )


def _export_writes_as_role(stack, role_arn: str) -> None:
    """The local export writes its files as the export role (RDS assumes it; the stack's
    STS hands out its credentials with authorization off), so the role's policy is enforced
    on every object the export writes."""
    c = stack.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="rds-export")
    c = c["Credentials"]
    stack._rds_state.s3_client.use(
        stack.region,
        boto3.session.Session().client(
            "s3",
            endpoint_url=stack.endpoint,
            region_name=stack.region,
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        ),
    )


def _role_policy(template):
    return template["Resources"]["DagsterRole"]["Properties"]["Policies"][0]


class Deployed:
    """The stack, the deployed template, the role's credentials, and one chain run's
    state (its Dagster instance, the decisions it caused)."""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rdsauthz")
    with pytest.MonkeyPatch.context() as mp, LocalAWS(export_seconds=0.3, rds=True) as stack:
        for k, v in stack.env().items():
            mp.setenv(k, v)
        mp.setenv("DDB_ASSETS_ENV", "local")
        d = Deployed()
        d.stack = stack
        d.key_arn = create_export_key(stack.client("kms"), alias=None)
        d.cfg = _config(tmp_path, stack.account_id, d.key_arn)
        d.template = build_template(layout(d.cfg))
        outputs = ic.deploy(stack, d.template)
        d.role_arn = outputs["DagsterRoleArn"]
        d.policy = ic._resolve(stack, d.template, _role_policy(d.template)["PolicyDocument"])
        create_instance(stack.client("rds"), "shop-db", db_name="shop", backup_retention_days=7)
        with stack.rds.connect("shop-db") as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, menu VARCHAR(20), qty INT)")
            cur.execute("INSERT INTO orders VALUES (1, 'maguro', 2), (2, 'ikura', 1)")
        for day in (DAY, SPARE):
            stack.rds.take_automated_snapshot(
                "shop-db", at=dt.datetime.combine(day, dt.time(3), tzinfo=dt.timezone.utc)
            )
        key = ic.deployer_key(stack, d.role_arn)
        d.creds = ic.role_credentials(stack, d.role_arn, key)
        _export_writes_as_role(stack, f"arn:aws:iam::{stack.account_id}:role/{EXPORT_ROLE}")
        d.defs = build_definitions(d.cfg, env="local")
        d.instance = dg.DagsterInstance.ephemeral()
        with ic.enforced(stack, d.creds):
            try:
                d.targets = run_rds_chain(
                    d.defs,
                    d.cfg,
                    d.instance,
                    source="shop",
                    partitions=[DAY.isoformat()],
                    poll_seconds=0.2,
                    timeout=120,
                    log=lambda _: None,
                )
            finally:
                d.decisions = list(authz.DECISIONS)
        try:
            yield d
        finally:
            authz.set_enforcement(stack.endpoint, False)


def test_template_deploys_the_export_role_and_bucket(deployed):
    stack = deployed.stack
    role = stack.client("iam").get_role(RoleName=EXPORT_ROLE)["Role"]
    assert "export.rds.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    assert BUCKET in {b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]}


def test_rds_chain_under_exactly_the_generated_policy(deployed):
    d = deployed
    refused = [x for x in d.decisions if not x[4]]
    assert refused == []
    assert d.targets == {DAY.isoformat(): f"shop-db-{DAY:%Y%m%d}"}
    con = duckdb.connect(str(d.cfg.warehouse_path()), read_only=True)
    rows = con.execute("SELECT id, menu, qty FROM sushi.shop_orders ORDER BY id").fetchall()
    assert rows == [(1, "maguro", 2), (2, "ikura", 1)]

    role_name = d.role_arn.rsplit("/", 1)[1]
    mine = [x for x in d.decisions if f":assumed-role/{role_name}/" in x[0]]
    made = {a for _, a, _, _, _ in mine}
    # What the authorization saw includes what RDS checks on StartExportTask, and reading
    # the SSE-KMS export files asked for kms:Decrypt on the configured key.
    assert {"iam:PassRole", "kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt"} <= made
    assert {r for _, a, r, _, _ in mine if a == "kms:Decrypt"} == {d.key_arn}
    starts = {r for _, a, r, _, _ in mine if a == "rds:StartExportTask"}
    assert starts == {
        f"arn:aws:rds:{d.stack.region}:{d.stack.account_id}:snapshot:rds:shop-db-"
        f"{DAY:%Y-%m-%d}-03-00"
    }
    # The export wrote as the export role, under the source's prefix only.
    by_export = [x for x in d.decisions if f":assumed-role/{EXPORT_ROLE}/" in x[0]]
    puts = {r for _, a, r, _, ok in by_export if a == "s3:PutObject" and ok}
    assert puts and all(r.startswith(f"arn:aws:s3:::{BUCKET}/rds-exports/shop/") for r in puts)

    assert [st["Sid"] for st in d.policy["Statement"]] == SIDS
    policy_actions = {a for st in d.policy["Statement"] for a in st["Action"]}
    saved = list(authz.DECISIONS)
    authz.DECISIONS[:] = d.decisions
    try:
        uses = ic.statement_uses(d.policy)
    finally:
        authz.DECISIONS[:] = saved
    assert {sid for sid, reqs in uses.items() if not reqs} == set(NOT_EXERCISED_LOCALLY), uses
    used_actions = {a for reqs in uses.values() for a, _, _ in reqs}
    assert policy_actions == used_actions | set(DOCUMENTED_ONLY_ACTIONS), (
        policy_actions - used_actions,
        used_actions - policy_actions,
    )
    assert not (used_actions & set(DOCUMENTED_ONLY_ACTIONS))
    for sid, reqs in uses.items():
        only_here = [r for r in reqs if not any(r in uses[o] for o in uses if o != sid)]
        assert only_here, f"{sid}: every request it allowed was also allowed by another statement"
