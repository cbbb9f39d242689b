"""`ddb-assets infra`: the template and the policy as pure functions of the config, checked
by cfn-lint and parliament (the real tools), and the command line around them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ddb_assets.cli import main
from ddb_assets.config import parse_config
from ddb_assets.infra import (
    InfraError,
    InfraOptions,
    build_template,
    layout,
    one_time_steps,
    policy_document,
    render,
    to_yaml,
)

BIN = Path(sys.executable).parent


def athena_cfg(**extra):
    return parse_config(
        {
            "defaults": {
                "engine": "athena",
                "athena": {"database": "shop_prod", "workgroup": "ddb_assets"},
            },
            "typed_s3_uri": "s3://shop-typed/typed/",
            "summaries_s3_uri": "s3://shop-typed/summaries/",
            "summaries_dir": "summaries",
            "tables": [
                {"name": "orders", "dynamodb_table": "Orders-prod", "s3_bucket": "shop-exports"},
                {"name": "customers", "s3_bucket": "shop-exports", "s3_prefix": "ddb/"},
            ],
            **extra,
        }
    )


def duckdb_cfg():
    return parse_config({"tables": [{"name": "orders", "s3_bucket": "demo-exports"}]})


RDS_ROLE = "arn:aws:iam::123456789012:role/service/shop-rds-export"
RDS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def cluster_cfg(engine="athena", **source):
    """An Aurora MySQL cluster source (and a DynamoDB table) on ``engine``."""
    return athena_cfg(
        defaults={
            "engine": engine,
            "athena": {"database": "shop_prod", "workgroup": "ddb_assets"},
        },
        rds=[
            {
                "name": "shop_rds",
                "cluster": "shop-aurora",
                "db_engine": "aurora-mysql",
                "tables": ["shop.orders", "shop.menu_items"],
                "s3_bucket": "shop-rds-exports",
                "iam_role_arn": RDS_ROLE,
                "kms_key_arn": RDS_KEY,
                **source,
            }
        ],
    )


# StartExportTask needs both (RDS API reference: iam:PassRole of the export role, and
# kms:CreateGrant on KmsKeyId); parliament's community auditor lists them as
# permissions-management actions. Nothing else may be found.
RDS_REQUIRED = "PERMISSIONS_MANAGEMENT_ACTIONS"


def cfn_lint(tmp_path: Path, template: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "template.yaml"
    path.write_text(to_yaml(template))
    return subprocess.run(
        [str(BIN / "cfn-lint"), "--", str(path)], capture_output=True, text=True, timeout=300
    )


def parliament_findings(policy: dict) -> list[str]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        from parliament import analyze_policy_string

    result = analyze_policy_string(json.dumps(policy), include_community_auditors=True)
    return [f"{f.issue}: {f.detail} {f.location}" for f in result.findings]


@pytest.mark.integration  # cfn-lint runs as a subprocess
@pytest.mark.parametrize(
    "cfg, opts",
    [
        (athena_cfg(), InfraOptions()),
        (athena_cfg(), InfraOptions(existing_buckets=True, existing_role="dagster-prod")),
        (duckdb_cfg(), InfraOptions(role_name="ddb-assets-dagster")),
        (cluster_cfg(snapshot="manual"), InfraOptions()),
        (cluster_cfg(), InfraOptions(existing_export_roles=True)),
    ],
    ids=["athena", "existing-bucket-and-role", "duckdb", "aurora-cluster", "aurora-existing"],
)
def test_cfn_lint_passes(tmp_path, cfg, opts):
    res = cfn_lint(tmp_path, build_template(layout(cfg), opts))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.integration
def test_cfn_lint_can_fail(tmp_path):
    bad = build_template(layout(athena_cfg()))
    bad["Resources"]["BucketShopExports"]["Properties"]["BucketEncryption"] = "yes"
    assert cfn_lint(tmp_path, bad).returncode != 0


@pytest.mark.unit
@pytest.mark.parametrize(
    "lay",
    [
        layout(athena_cfg()),
        layout(duckdb_cfg()),
        layout(
            athena_cfg(),
            kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            compute_logs_uri="s3://shop-ops/dagster/compute-logs/",
        ),
        layout(cluster_cfg(snapshot="manual")),
        layout(cluster_cfg("duckdb")),
    ],
    ids=["athena", "duckdb", "kms-and-compute-logs", "aurora-cluster", "aurora-duckdb"],
)
def test_parliament_finds_nothing(lay):
    policy = render(policy_document(lay), account_id="123456789012", region="us-east-1")
    found = parliament_findings(policy)
    if lay.rds:
        required = [f for f in found if f.startswith(RDS_REQUIRED)]
        assert len(required) == 1  # naming exactly these two (parliament's order varies)
        assert set(re.findall(r"'([a-z0-9]+:[a-z]+)'", required[0])) == {
            "kms:creategrant",
            "iam:passrole",
        }
        found = [f for f in found if f not in required]
    assert found == []


@pytest.mark.unit
def test_parliament_can_find_something():
    policy = render(policy_document(layout(athena_cfg())), account_id="1", region="us-east-1")
    policy["Statement"][0]["Action"].append("dynamodb:ExportTable")  # no such action
    assert parliament_findings(policy)


@pytest.mark.unit
def test_policy_names_exactly_the_configured_resources():
    doc = render(
        policy_document(layout(athena_cfg())), account_id="123456789012", region="eu-west-1"
    )
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["DynamoDBTables"]["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders-prod",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/customers",
    ]
    assert by_sid["DynamoDBExports"]["Resource"][0].endswith("table/Orders-prod/export/*")
    assert by_sid["DynamoDBListExports"]["Resource"] == "*"  # no resource-level permissions
    assert by_sid["S3ReadExports"]["Resource"] == [
        "arn:aws:s3:::shop-exports/ddb/customers/*",
        "arn:aws:s3:::shop-exports/dynamodb-exports/orders/*",
    ]
    assert by_sid["S3ListExportsShopExports"]["Condition"] == {
        "StringLike": {
            "s3:prefix": [
                "ddb/customers",
                "ddb/customers/*",
                "dynamodb-exports/orders",
                "dynamodb-exports/orders/*",
            ]
        }
    }
    assert by_sid["GlueCatalog"]["Resource"] == [
        "arn:aws:glue:eu-west-1:123456789012:catalog",
        "arn:aws:glue:eu-west-1:123456789012:database/shop_prod",
        "arn:aws:glue:eu-west-1:123456789012:table/shop_prod/*",
    ]
    assert by_sid["AthenaWorkGroup"]["Resource"] == (
        "arn:aws:athena:eu-west-1:123456789012:workgroup/ddb_assets"
    )
    assert by_sid["S3QueryResults"]["Resource"] == "arn:aws:s3:::shop-typed/athena-results/*"
    every = [
        r
        for st in doc["Statement"]
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    ]
    assert [r for r in every if r == "*"] == ["*"]  # ListExports only
    assert not any(a.endswith(":*") for st in doc["Statement"] for a in st["Action"])


@pytest.mark.unit
def test_duckdb_engine_needs_no_glue_or_athena():
    sids = [st["Sid"] for st in policy_document(layout(duckdb_cfg()))["Statement"]]
    assert sids == [
        "DynamoDBTables",
        "DynamoDBExports",
        "DynamoDBListExports",
        "S3ListExportsDemoExports",
        "S3ReadExports",
        "S3WriteExports",
    ]
    tpl = build_template(layout(duckdb_cfg()))
    types = sorted({r["Type"] for r in tpl["Resources"].values()})
    assert types == ["AWS::IAM::Role", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"]


@pytest.mark.unit
def test_kms_key_encrypts_buckets_and_results_and_is_granted():
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    lay = layout(athena_cfg(), kms_key_arn=key)
    tpl = build_template(lay)
    enc = tpl["Resources"]["BucketShopTyped"]["Properties"]["BucketEncryption"]
    assert enc["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }
    wg = tpl["Resources"]["WorkGroupDdbAssets"]["Properties"]["WorkGroupConfiguration"]
    assert wg["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": key,
    }
    kms = [st for st in policy_document(lay)["Statement"] if st["Sid"] == "KmsKey"]
    assert kms == [
        {
            "Sid": "KmsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key,
        }
    ]


@pytest.mark.unit
def test_bucket_workgroup_and_role_settings():
    tpl = build_template(layout(athena_cfg()), InfraOptions(export_retention_days=40))
    assert tpl["Parameters"]["ExportRetentionDays"]["Default"] == 40
    bucket = tpl["Resources"]["BucketShopExports"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [r["Prefix"] for r in rules if "ExpirationInDays" in r] == [
        "ddb/customers/",
        "dynamodb-exports/orders/",
    ]
    policy = tpl["Resources"]["BucketPolicyShopExports"]["Properties"]["PolicyDocument"]
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    wg = tpl["Resources"]["WorkGroupDdbAssets"]["Properties"]["WorkGroupConfiguration"]
    assert wg["EnforceWorkGroupConfiguration"] is True
    assert wg["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert wg["ResultConfiguration"]["OutputLocation"] == "s3://shop-typed/athena-results/"
    assert tpl["Resources"]["GlueDatabaseShopProd"]["Properties"]["DatabaseInput"]["Name"] == (
        "shop_prod"
    )
    trust = tpl["Resources"]["DagsterRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}


@pytest.mark.unit
def test_existing_bucket_and_role():
    tpl = build_template(
        layout(athena_cfg()), InfraOptions(existing_buckets=True, existing_role="dagster-prod")
    )
    types = {r["Type"] for r in tpl["Resources"].values()}
    assert "AWS::S3::Bucket" not in types and "AWS::IAM::Role" not in types
    assert tpl["Resources"]["DagsterPolicy"]["Properties"]["Roles"] == ["dagster-prod"]
    steps = one_time_steps(layout(athena_cfg()), InfraOptions(existing_buckets=True))
    assert any("shop-exports exists" in s for s in steps)


@pytest.mark.unit
def test_primary_workgroup_is_not_created_and_the_step_says_why():
    cfg = athena_cfg(defaults={"engine": "athena", "athena": {"database": "shop_prod"}})
    tpl = build_template(layout(cfg))
    assert not any(r["Type"] == "AWS::Athena::WorkGroup" for r in tpl["Resources"].values())
    assert any("'primary' workgroup" in s for s in one_time_steps(layout(cfg)))


@pytest.mark.unit
def test_one_time_steps_give_the_pitr_command():
    steps = one_time_steps(layout(athena_cfg()))
    assert steps[0].endswith(
        "aws dynamodb update-continuous-backups --table-name Orders-prod "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
    )


@pytest.mark.unit
def test_bad_options_are_one_clear_error():
    with pytest.raises(ValueError, match="at least 10,000,000"):
        InfraOptions(bytes_scanned_cutoff=5)
    with pytest.raises(ValueError, match="not an IAM role name"):
        InfraOptions(existing_role="arn:aws:iam::1:role/x")
    with pytest.raises(InfraError, match="not an S3 URI"):
        layout(duckdb_cfg(), compute_logs_uri="bucket/prefix")


@pytest.mark.unit
def test_cli_writes_the_template_and_prints_the_steps(tmp_path, capsys):
    cfg = tmp_path / "ddb_assets.yaml"
    cfg.write_text(yaml.safe_dump({"tables": [{"name": "orders", "s3_bucket": "demo-exports"}]}))
    out = tmp_path / "stack.yaml"
    assert (
        main(["infra", "--config", str(cfg), "-o", str(out), "--export-retention-days", "7"]) == 0
    )
    printed = capsys.readouterr().out
    tpl = yaml.safe_load(out.read_text())
    assert tpl["Parameters"]["ExportRetentionDays"]["Default"] == 7
    assert "aws cloudformation deploy --template-file" in printed
    assert "update-continuous-backups --table-name orders" in printed
    assert main(["infra", "--config", str(cfg), "--bytes-scanned-cutoff", "1"]) == 2
    assert "at least 10,000,000 bytes" in capsys.readouterr().err


@pytest.mark.unit
def test_a_source_hook_adds_its_statements_and_resources(monkeypatch):
    """How an RDS snapshot source will plug in (the config cannot declare one yet): a hook
    returns its statements and extra resources, and both reach the template."""
    from ddb_assets.infra import policy

    def rds_like(lay):
        role = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}
        st = policy.Statement("RdsExportPassRole", ("iam:PassRole",), ("arn:aws:iam::1:role/x",))
        return policy.PolicyParts([st], {"RdsExportRole": role})

    monkeypatch.setattr(policy, "SOURCE_HOOKS", (*policy.SOURCE_HOOKS, rds_like))
    tpl = build_template(layout(duckdb_cfg()))
    assert tpl["Resources"]["RdsExportRole"]["Type"] == "AWS::IAM::Role"
    doc = tpl["Resources"]["DagsterRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert doc["Statement"][-1]["Sid"] == "RdsExportPassRole"
