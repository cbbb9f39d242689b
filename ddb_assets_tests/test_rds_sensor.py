"""rds_export_sensor's ticks under a test instance: O(pending) DescribeExportTasks calls,
the load requested once per COMPLETE export (run key) until its proof exists, FAILED /
CANCELED exports recorded with AWS's cause and retried, a lost cursor recovered."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from ddb_assets.assets.keys import rds_export_key, rds_request_key, rds_table_key
from ddb_assets.config import parse_config
from ddb_assets.sensors_rds import evaluate_rds_tick

pytestmark = pytest.mark.integration  # a Dagster instance

ROLE = "arn:aws:iam::123456789012:role/rds-export"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
CFG = parse_config(
    {
        "rds": [
            {
                "name": "shop",
                "instance": "shop-db",
                "tables": ["shop.orders", "shop.items"],
                "s3_bucket": "exports",
                "iam_role_arn": ROLE,
                "kms_key_arn": KEY,
                "partitions_start": "2024-01-01",
            }
        ]
    }
)
SRC = CFG.rds[0]


class FakeRds:
    """DescribeExportTasks over a dict of tasks; counts every call."""

    def __init__(self):
        self.tasks: dict[str, dict] = {}
        self.calls: list[dict] = []

    def set(self, ident, status, **kw):
        self.tasks[ident] = {
            "ExportTaskIdentifier": ident,
            "Status": status,
            "S3Bucket": "exports",
            "S3Prefix": "rds-exports/shop",
            "SourceArn": "arn:aws:rds:us-east-1:123456789012:snapshot:x",
            "TaskStartTime": dt.datetime.now(dt.UTC),
            **kw,
        }

    def describe_export_tasks(self, **kw):
        self.calls.append(kw)
        if "ExportTaskIdentifier" in kw:
            t = self.tasks.get(kw["ExportTaskIdentifier"])
            if t is None:
                raise ClientError(
                    {"Error": {"Code": "ExportTaskNotFound", "Message": "no"}},
                    "DescribeExportTasks",
                )
            return {"ExportTasks": [t]}
        return {"ExportTasks": list(self.tasks.values())}


def _request(instance, ident, day):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=rds_request_key(SRC),
            partition=day,
            metadata={"export_id": ident, "attempt": 0},
        )
    )


def _load_done(instance, ident, day):
    for t in SRC.typed_tables():
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=rds_table_key(t), partition=day, metadata={"export_id": ident}
            )
        )


def test_calls_per_tick_are_o_pending_and_each_load_is_requested_until_proven():
    rds = FakeRds()
    with dg.instance_for_test() as instance:
        days = ["2024-01-01", "2024-01-02", "2024-01-03"]
        for d in days:
            ident = f"shop-db-{d.replace('-', '')}"
            rds.set(ident, "IN_PROGRESS", PercentProgress=30)
            _request(instance, ident, d)
        t1 = evaluate_rds_tick(instance, None, CFG, rds)
        # a fresh cursor reconciles once (one bucket listing), then one call per pending export
        assert t1.api_calls == 1 + 3 and t1.pending == 3 and not t1.runs
        assert "IN_PROGRESS 30%: shop 2024-01-01" in t1.summary
        t2 = evaluate_rds_tick(instance, t1.cursor, CFG, rds)
        assert t2.api_calls == 3  # O(pending): no listing, one describe per pending export

        rds.set("shop-db-20240102", "COMPLETE", PercentProgress=100)
        t3 = evaluate_rds_tick(instance, t2.cursor, CFG, rds)
        assert [r.run_key for r in t3.runs] == ["rds-load:shop-db-20240102"]
        (run,) = t3.runs
        assert run.partition_key == "2024-01-02"
        assert set(run.asset_selection) == {rds_table_key(t) for t in SRC.typed_tables()}
        assert t3.pending == 3 and not t3.events  # stays pending until the load is proven

        # a daemon that dies before the run exists: the next tick asks again, same run key
        t4 = evaluate_rds_tick(instance, t2.cursor, CFG, rds)
        assert [r.run_key for r in t4.runs] == ["rds-load:shop-db-20240102"]

        _load_done(instance, "shop-db-20240102", "2024-01-02")
        t5 = evaluate_rds_tick(instance, t4.cursor, CFG, rds)
        assert not t5.runs and t5.pending == 2
        (mat,) = t5.events
        assert mat.asset_key == rds_export_key(SRC) and mat.partition == "2024-01-02"
        assert mat.metadata["export_id"].value == "shop-db-20240102"
        for ev in t5.events:
            instance.report_runless_asset_event(ev)
        t6 = evaluate_rds_tick(instance, t5.cursor, CFG, rds)
        assert t6.api_calls == 2 and not t6.events and not t6.runs

        # a lost cursor: reconciliation finds the pending exports again, reports nothing twice
        t7 = evaluate_rds_tick(instance, "garbage", CFG, rds)
        assert t7.pending == 2 and not t7.events and not t7.runs


def test_failed_and_canceled_exports_are_recorded_with_the_cause_and_retried():
    rds = FakeRds()
    with dg.instance_for_test() as instance:
        cause = "The S3 bucket exports isn't valid. Either it isn't located in the current AWS Region or it doesn't exist."
        rds.set("shop-db-20240101", "FAILED", FailureCause=cause)
        rds.set("shop-db-20240102", "CANCELED")
        _request(instance, "shop-db-20240101", "2024-01-01")
        _request(instance, "shop-db-20240102", "2024-01-02")
        t1 = evaluate_rds_tick(instance, None, CFG, rds)
        obs = {e.partition: e for e in t1.events}
        assert obs["2024-01-01"].metadata["failure_cause"].value == cause
        assert obs["2024-01-02"].metadata["status"].value == "CANCELED"
        keys = sorted(r.run_key for r in t1.runs)
        assert keys == ["rds-retry:shop-db-20240101", "rds-retry:shop-db-20240102"]
        retry = next(r for r in t1.runs if r.partition_key == "2024-01-01")
        op = "rds__shop__export_request"
        assert retry.run_config["ops"][op]["config"] == {
            "attempt": 1,
            "previous_export_id": "shop-db-20240101",
        }
        assert t1.pending == 0 and f"export FAILED: shop 2024-01-01: {cause}" in t1.summary
        for ev in t1.events:
            instance.report_runless_asset_event(ev)
        # A daemon that died after recording the events, before creating the runs: a fresh
        # cursor finds the failures again and asks for the retries again (same run keys);
        # the failures are not recorded twice.
        t2 = evaluate_rds_tick(instance, None, CFG, rds)
        assert not t2.events and sorted(r.run_key for r in t2.runs) == keys
        for key in keys:  # the retry runs exist now: the failures are handled
            instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", tags={"dagster/run_key": key}))
        t3 = evaluate_rds_tick(instance, None, CFG, rds)
        assert not t3.events and not t3.runs and t3.pending == 0


def test_a_reported_export_whose_load_run_was_never_reserved_still_gets_its_load():
    """The export's own materialization proves nothing: a daemon that recorded it and died
    before reserving the load run must request the load on the next tick (fresh cursor or
    not), and report the export no second time once the load exists."""
    rds = FakeRds()
    with dg.instance_for_test() as instance:
        ident, day = "shop-db-20240105", "2024-01-05"
        rds.set(ident, "COMPLETE", PercentProgress=100)
        _request(instance, ident, day)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=rds_export_key(SRC), partition=day, metadata={"export_id": ident}
            )
        )
        for cursor in (None, evaluate_rds_tick(instance, None, CFG, rds).cursor):
            o = evaluate_rds_tick(instance, cursor, CFG, rds)
            assert [r.run_key for r in o.runs] == [f"rds-load:{ident}"] and not o.events
            assert o.pending == 1
        instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB",
                tags={"dagster/run_key": f"rds-load:{ident}"},
                status=dg.DagsterRunStatus.STARTED,  # the load is running
            )
        )
        o = evaluate_rds_tick(instance, o.cursor, CFG, rds)
        assert not o.runs and not o.events and o.pending == 0


def test_a_failed_load_is_reported_linked_to_its_run_and_not_retried_silently():
    """A COMPLETE export whose load run failed: the export is reported once, its
    materialization links the failed load run (so the failure is one click away), the tick
    says so, and no second load is requested behind the user's back."""
    rds = FakeRds()
    with dg.instance_for_test() as instance:
        ident, day = "shop-db-20240106", "2024-01-06"
        rds.set(ident, "COMPLETE", PercentProgress=100)
        _request(instance, ident, day)
        failed = dg.DagsterRun(
            job_name="__ASSET_JOB",
            tags={"dagster/run_key": f"rds-load:{ident}"},
            status=dg.DagsterRunStatus.FAILURE,
        )
        instance.add_run(failed)
        o = evaluate_rds_tick(instance, None, CFG, rds)
        assert not o.runs
        [event] = o.events
        assert event.tags["ddb_assets/load_run"] == failed.run_id
        assert event.metadata["load_run"].value == failed.run_id
        assert f"load failed: {SRC.name} {day} (run {failed.run_id})" in o.summary
        o = evaluate_rds_tick(instance, o.cursor, CFG, rds)
        assert not o.runs and o.pending == 0
