"""`ddb-assets doctor` against the local stack: what fails before the template is deployed and
PITR enabled, one line per check with the fix, and a clean bill once it is all in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from ddb_assets.cli import main
from ddb_assets.infra import build_template, layout
from ddb_assets.infra.doctor import FAIL, PASS, SKIP, check_permissions, principal_of, run_checks
from ddb_assets_tests import infra_chain as ic

pytestmark = pytest.mark.integration


def _config_file(tmp_path):
    cfg = ic.chain_config(tmp_path)
    raw = {
        "defaults": {
            "engine": "athena",
            "athena": {"database": "shop_prod", "workgroup": "ddb_assets"},
        },
        "typed_s3_uri": "s3://shop-typed/typed/",
        "summaries_s3_uri": "s3://shop-typed/summaries/",
        "summaries_dir": str(tmp_path / "summaries"),
        "tables": [
            {
                "name": "orders",
                "dynamodb_table": "Orders-prod",
                "s3_bucket": "shop-exports",
                "s3_prefix": "ddb",
            }
        ],
    }
    path = tmp_path / "ddb_assets.yaml"
    path.write_text(yaml.safe_dump(raw))
    return cfg, path


def _by_name(checks):
    return {c.name: c for c in checks}


def test_doctor_on_the_local_stack(local_env, tmp_path, capsys):
    stack = local_env
    cfg, path = _config_file(tmp_path)

    # Nothing deployed yet: every check fails, each with its fix; exit code 1.
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "[FAIL] table Orders-prod: the DynamoDB table does not exist in this account and region"
        " -> fix: check tables[].dynamodb_table for 'orders' and AWS_REGION"
    )
    assert any(line.startswith("[FAIL] bucket shop-exports: not reachable") for line in out)
    assert any(line.startswith("[FAIL] glue database shop_prod: not found") for line in out)
    assert any(line.startswith("[FAIL] workgroup ddb_assets: not found") for line in out)
    assert out[-1].endswith("check(s) failed")

    # The template deployed, the table created without PITR: the fix is the command.
    ic.deploy(stack, build_template(layout(cfg)))
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName="Orders-prod",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    checks = _by_name(run_checks(cfg, stack.client, stack.region))
    pitr = checks["pitr Orders-prod"]
    assert pitr.status == FAIL and pitr.fix == (
        "aws dynamodb update-continuous-backups --table-name Orders-prod "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
    )
    assert checks["bucket shop-exports"].status == PASS
    assert checks["bucket shop-exports"].detail == "reachable, in us-east-1"
    assert checks["glue database shop_prod"].status == PASS
    wg = checks["workgroup ddb_assets"]
    assert wg.status == PASS and "results in s3://shop-typed/athena-results/" in wg.detail
    # moto has no IAM policy simulator: said, not passed.
    assert checks["permissions"].status == SKIP

    # PITR on two days ago: the window is reported; all checks pass; exit code 0.
    stack.set_now(datetime.now(UTC) - timedelta(days=2))
    ddb.update_continuous_backups(
        TableName="Orders-prod",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    stack.reset_clock()
    pitr = _by_name(run_checks(cfg, stack.client, stack.region))["pitr Orders-prod"]
    assert pitr.status == "warn" and "(2.0 of 35 days)" in pitr.detail
    assert main(["doctor", "--config", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("all 6 check(s) passed")

    # A workgroup that lets clients override it, a bucket in another region: both fail.
    athena = stack.client("athena")
    athena.delete_work_group(WorkGroup="ddb_assets")  # moto's UpdateWorkGroup fails (500)
    athena.create_work_group(
        Name="ddb_assets",
        Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://shop-typed/athena-results/"},
            "EnforceWorkGroupConfiguration": False,
            "BytesScannedCutoffPerQuery": 10_000_000,
        },
    )
    s3 = stack.client("s3")
    s3.delete_bucket(Bucket="shop-typed")
    s3.create_bucket(
        Bucket="shop-typed", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    checks = _by_name(run_checks(cfg, stack.client, stack.region))
    assert checks["workgroup ddb_assets"].status == FAIL
    assert "clients may override its settings" in checks["workgroup ddb_assets"].detail
    assert checks["bucket shop-typed"].status == FAIL
    assert checks["bucket shop-typed"].detail.startswith("in eu-west-1, but the deployment runs")


class _Simulator:
    """IAM's SimulatePrincipalPolicy as AWS answers it, for a principal allowed ``allowed``."""

    def __init__(self, allowed):
        self.allowed, self.calls = allowed, []

    def simulate_principal_policy(self, PolicySourceArn, ActionNames, ResourceArns, **kw):
        self.calls.append((PolicySourceArn, ActionNames, ResourceArns, kw))
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": ActionNames[0],
                    "EvalDecision": "allowed",
                    "ResourceSpecificResults": [
                        {
                            "EvalResourceName": r,
                            "EvalResourceDecision": (
                                "allowed" if (ActionNames[0], r) in self.allowed else "implicitDeny"
                            ),
                        }
                        for r in ResourceArns
                    ],
                }
            ]
        }


class _Sts:
    def get_caller_identity(self):
        return {
            "Account": "123456789012",
            "Arn": "arn:aws:sts::123456789012:assumed-role/ddb-assets-DagsterRole/task-1",
        }


def test_permission_check_simulates_every_required_pair(tmp_path):
    from ddb_assets.infra.policy import render, required_permissions

    cfg = ic.chain_config(tmp_path)
    lay = layout(cfg)
    pairs = {
        (a, render(r, account_id="123456789012", region="us-east-1"))
        for a, r, _ in required_permissions(lay)
    }
    sim = _Simulator(pairs)
    [ok] = check_permissions(lay, sim, _Sts(), "us-east-1")
    assert ok.status == PASS, ok.line()
    assert {c[0] for c in sim.calls} == {"arn:aws:iam::123456789012:role/ddb-assets-DagsterRole"}
    assert ("s3:GetObject", "arn:aws:s3:::shop-exports/ddb/orders/ddb-assets-doctor-probe") in pairs
    # A ListBucket narrowed by s3:prefix is asked with a prefix the statement allows.
    lists = [c for c in sim.calls if c[1] == ["s3:ListBucket"]]
    assert {c[3]["ContextEntries"][0]["ContextKeyValues"][0] for c in lists} >= {
        "ddb/orders/ddb-assets-doctor-probe",
        "typed/ddb-assets-doctor-probe",
    }

    missing = (
        "dynamodb:DescribeExport",
        next(r for a, r in pairs if a == "dynamodb:DescribeExport"),
    )
    [bad] = check_permissions(lay, _Simulator(pairs - {missing}), _Sts(), "us-east-1")
    assert bad.status == FAIL and "dynamodb:DescribeExport on" in bad.detail
    assert principal_of("arn:aws:iam::1:user/x") == "arn:aws:iam::1:user/x"
