"""`ddb-assets infra` and `doctor` for an RDS source that is an Aurora MySQL cluster (and,
for contrast, a DB instance): the cluster's ARNs and actions, the export role, the one-time
backup step, the permission simulation, and doctor against the local stack's cluster.
cfn-lint and parliament run on a cluster config in test_infra_template.py."""

from __future__ import annotations

import json

import pytest

from ddb_assets.config import parse_config
from ddb_assets.infra import build_template, layout, one_time_steps, policy_document, render
from ddb_assets.infra.doctor import FAIL, PASS, WARN, check_permissions, run_checks
from ddb_assets.infra.policy import required_permissions
from ddb_assets_tests.test_doctor import _Simulator, _Sts

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/shop-rds-export"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _cfg(kind="cluster", ident="shop-aurora", **source):
    engine = {"db_engine": "aurora-mysql"} if kind == "cluster" else {"db_engine": "mysql"}
    return parse_config(
        {
            "rds": [
                {
                    "name": "shop",
                    kind: ident,
                    **engine,
                    "tables": ["shop.orders"],
                    "s3_bucket": "shop-rds-exports",
                    "iam_role_arn": ROLE,
                    "kms_key_arn": KEY,
                    "retention_days": 14,
                    **source,
                }
            ]
        }
    )


def _statements(cfg) -> dict[str, dict]:
    doc = render(policy_document(layout(cfg)), account_id=ACCOUNT, region=REGION)
    return {s["Sid"]: s for s in doc["Statement"]}


def _list(v):
    return v if isinstance(v, list) else [v]


@pytest.mark.unit
def test_a_cluster_source_is_granted_cluster_actions_on_cluster_arns():
    st = _statements(_cfg(snapshot="manual"))
    rds = f"arn:aws:rds:{REGION}:{ACCOUNT}"
    assert st["RdsSnapshotsShop"]["Action"] == [
        "rds:DescribeDBClusterSnapshots",
        "rds:DescribeDBClusters",
    ]
    assert _list(st["RdsSnapshotsShop"]["Resource"]) == [
        f"{rds}:cluster:shop-aurora",
        f"{rds}:cluster-snapshot:rds:shop-aurora-*",
        f"{rds}:cluster-snapshot:shop-aurora-ddb-assets-*",
    ]
    assert st["RdsCreateSnapshotShop"]["Action"] == ["rds:CreateDBClusterSnapshot"]
    assert _list(st["RdsCreateSnapshotShop"]["Resource"]) == [
        f"{rds}:cluster:shop-aurora",
        f"{rds}:cluster-snapshot:shop-aurora-ddb-assets-*",
    ]
    assert _list(st["RdsStartExport"]["Resource"]) == [
        f"{rds}:cluster-snapshot:rds:shop-aurora-*",
        f"{rds}:cluster-snapshot:shop-aurora-ddb-assets-*",
    ]
    assert _list(st["RdsPassExportRole"]["Resource"]) == [ROLE]
    assert st["RdsExportKey"]["Action"] == ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"]
    assert _list(st["S3ReadRdsExports"]["Resource"]) == [
        "arn:aws:s3:::shop-rds-exports/rds-exports/shop/*"
    ]
    text = json.dumps(st)
    for instance_only in ("rds:DescribeDBSnapshots", "rds:CreateDBSnapshot", ":db:", ":snapshot:"):
        assert instance_only not in text, instance_only


@pytest.mark.unit
def test_an_instance_source_is_granted_instance_actions_and_automated_creates_nothing():
    st = _statements(_cfg("instance", "shop-db"))
    rds = f"arn:aws:rds:{REGION}:{ACCOUNT}"
    assert st["RdsSnapshotsShop"]["Action"] == [
        "rds:DescribeDBInstances",
        "rds:DescribeDBSnapshots",
    ]
    assert _list(st["RdsSnapshotsShop"]["Resource"])[0] == f"{rds}:db:shop-db"
    assert "RdsCreateSnapshotShop" not in st  # snapshot: automated never creates one
    assert "cluster" not in json.dumps(st)
    assert "RdsCreateSnapshotShop" not in _statements(_cfg())  # the cluster's, likewise


@pytest.mark.unit
def test_the_template_creates_the_export_role_the_config_names_and_the_backup_step():
    lay = layout(_cfg())
    tpl = build_template(lay)
    role = tpl["Resources"]["RdsExportRoleShopRdsExport"]["Properties"]
    assert role["RoleName"] == "shop-rds-export"
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "export.rds.amazonaws.com"}
    objects, bucket = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert objects["Action"] == ["s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*"]
    assert objects["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::shop-rds-exports/rds-exports/shop/*"}
    ]
    assert bucket["Action"] == ["s3:GetBucketLocation", "s3:ListBucket"]
    rules = tpl["Resources"]["BucketShopRdsExports"]["Properties"]["LifecycleConfiguration"]
    assert {"rds-exports/shop/"} <= {r.get("Prefix") for r in rules["Rules"]}  # expired too
    (step,) = one_time_steps(lay)
    assert step.endswith(
        "aws rds modify-db-cluster --db-cluster-identifier shop-aurora "
        "--backup-retention-period 14 --apply-immediately"
    )
    assert one_time_steps(layout(_cfg(snapshot="manual"))) == []


@pytest.mark.unit
def test_doctor_simulates_the_cluster_pairs_and_names_a_missing_one():
    lay = layout(_cfg(snapshot="manual"))
    pairs = {
        (a, render(r, account_id=ACCOUNT, region=REGION)) for a, r, _ in required_permissions(lay)
    }
    probe = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:shop-aurora-ddb-assets-ddb-assets-doctor-probe"
    assert ("rds:CreateDBClusterSnapshot", probe) in pairs
    assert (
        "rds:DescribeDBClusters",
        f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:shop-aurora",
    ) in pairs
    [ok] = check_permissions(lay, _Simulator(pairs), _Sts(), REGION)
    assert ok.status == PASS, ok.line()
    missing = ("rds:CreateDBClusterSnapshot", probe)
    [bad] = check_permissions(lay, _Simulator(pairs - {missing}), _Sts(), REGION)
    assert bad.status == FAIL and "rds:CreateDBClusterSnapshot on" in bad.detail


@pytest.mark.integration
@pytest.mark.mariadb
def test_doctor_on_the_local_stack_checks_the_cluster_role_and_key(tmp_path):
    from ddb_assets.local import LocalAWS
    from ddb_assets.local.rds.setup import create_cluster, create_instance
    from ddb_assets_tests import infra_chain as ic

    with LocalAWS(rds=True) as stack:
        key = stack.client("kms").create_key()["KeyMetadata"]["Arn"]
        role = f"arn:aws:iam::{stack.account_id}:role/shop-rds-export"
        cfg = _cfg(iam_role_arn=role, kms_key_arn=key)

        def by_name():
            return {c.name: c for c in run_checks(cfg, stack.client, stack.region)}

        checks = by_name()
        c = checks["rds cluster shop-aurora"]
        assert c.status == FAIL and "no Aurora DB cluster of that name" in c.detail
        assert "write instance: shop-aurora" in c.fix
        assert checks["rds export role shop-rds-export"].status == FAIL
        assert (
            "deploy the template of `ddb-assets infra`"
            in checks["rds export role shop-rds-export"].fix
        )
        assert checks[f"rds export key {key.rsplit('/', 1)[-1]}"].status == PASS

        create_cluster(stack.client("rds"), "shop-aurora", backup_retention_days=7)
        ic.deploy(stack, build_template(layout(cfg)))  # creates the export role
        checks = by_name()
        c = checks["rds cluster shop-aurora"]
        assert (
            c.status == WARN and "kept 7 day(s)" in c.detail and "retention_days is 14" in c.detail
        )
        assert c.fix == (
            "aws rds modify-db-cluster --db-cluster-identifier shop-aurora "
            "--backup-retention-period 14 --apply-immediately"
        )
        assert checks["rds export role shop-rds-export"].status == PASS
        stack.client("rds").modify_db_cluster(
            DBClusterIdentifier="shop-aurora", BackupRetentionPeriod=14
        )
        assert by_name()["rds cluster shop-aurora"].status == PASS

        # the cluster's writer instance configured as an instance: the fix names the cluster
        create_instance(stack.client("rds"), "plain-db", backup_retention_days=0)
        as_member = _cfg(
            "instance", "shop-aurora-writer", db_engine="mysql", iam_role_arn=role, kms_key_arn=key
        )
        m = {c.name: c for c in run_checks(as_member, stack.client, stack.region)}
        bad = m["rds instance shop-aurora-writer"]
        assert bad.status == FAIL and bad.fix.startswith("write cluster: shop-aurora")
        off = _cfg("instance", "plain-db", db_engine="mariadb", iam_role_arn=role, kms_key_arn=key)
        o = {c.name: c for c in run_checks(off, stack.client, stack.region)}
        assert o["rds instance plain-db"].status == FAIL
        assert "automated backups are off" in o["rds instance plain-db"].detail
