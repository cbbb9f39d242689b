"""``export_on_time`` on ``rds/<source>/export`` (issue 20, the check of issue 18): the real
chain on the local stack (MariaDB, snapshots, StartExportTask, the sensor function, load runs
executed as the daemon would, with the checks the sensor asks for). One result per day,
measured from the export task's TaskStartTime to the load request."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from ddb_assets.assets.keys import rds_export_key
from ddb_assets.definitions import build_definitions
from ddb_assets.runner_rds import run_rds_chain
from ddb_assets_tests.rds_stack import point_env_at, rds_stack, shop_config

pytestmark = [pytest.mark.integration, pytest.mark.mariadb, pytest.mark.duckdb]

BUCKET = "rds-lateness"
TODAY = dt.datetime.now(dt.timezone.utc).date()


@pytest.fixture(scope="module")
def stack():
    with rds_stack(BUCKET) as s:
        with s.rds.connect("shop-db") as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, menu VARCHAR(20))")
            cur.execute("INSERT INTO orders VALUES (1, 'maguro'), (2, 'ikura')")
        for n in (1, 2, 3):
            day = TODAY - dt.timedelta(days=n)
            s.rds.take_automated_snapshot(
                "shop-db", at=dt.datetime.combine(day, dt.time(3), tzinfo=dt.timezone.utc)
            )
        yield s


@pytest.fixture
def env(stack, monkeypatch):
    return point_env_at(stack, monkeypatch)


def _chain(env, tmp_path, days, **source):
    cfg = shop_config(env, tmp_path, BUCKET, ["shop.orders"], **source)
    defs = build_definitions(cfg, env="local")
    instance = dg.DagsterInstance.ephemeral()
    parts = [d.isoformat() for d in days]
    run_rds_chain(defs, cfg, instance, source="shop", partitions=parts, log=lambda _: None)
    key = dg.AssetCheckKey(rds_export_key(cfg.rds[0]), "export_on_time")
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    return {r.partition: r for r in records}, records


def _evaluation(record):
    return record.event.dagster_event.event_specific_data


def test_on_time_one_result_per_day(env, tmp_path):
    days = [TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=2)]
    by_day, records = _chain(env, tmp_path, days)
    # One execution per day, stored under that day; none without a partition, none skipped.
    assert sorted(by_day) == [d.isoformat() for d in days] and len(records) == 2
    for d in days:
        r = by_day[d.isoformat()]
        assert r.status.value == "SUCCEEDED", r.status
        ev = _evaluation(r)
        md = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
        assert ev.passed and md["limit_minutes"] == 120
        assert md["export_id"] == f"shop-db-{d:%Y%m%d}"
        assert 0 <= md["minutes_to_load_request"] < 5
        # AWS's timestamps are shown: the task's start and end, the snapshot's time.
        assert md["task_start_time"] <= md["task_end_time"]
        assert md["snapshot_time"].startswith(f"{d.isoformat()}T03:00")


def test_late_when_the_load_is_requested_after_the_sources_limit(env, tmp_path):
    """The export started 90 minutes before the sensor requested its load: on time under
    the default limit (120), late under the source's own ``ops.export_late_after_minutes``."""
    day = TODAY - dt.timedelta(days=1)
    env.set_now(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=90))
    try:
        by_day, records = _chain(env, tmp_path, [day], ops={"export_late_after_minutes": 60})
    finally:
        env.reset_clock()
    assert list(by_day) == [day.isoformat()] and len(records) == 1
    r = by_day[day.isoformat()]
    assert r.status.value == "FAILED"
    ev = _evaluation(r)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    md = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
    assert md["limit_minutes"] == 60 and 89 < md["minutes_to_load_request"] < 95
    assert "after it started (limit 60)" in ev.description
