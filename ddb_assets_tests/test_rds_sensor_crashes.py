"""Exactly-once RDS loads across crashes of Dagster's REAL sensor daemon (the rules of issue
17, for rds_export_sensor), as ``test_sensor_crashes.py`` does for the DynamoDB sensor.

Each daemon tick runs ``execute_sensor_iteration`` in a process of its own, against a test
instance whose run launcher executes the load runs for real (the loads write the DuckDB
warehouse from the local stack's RDS exports). One tick is killed with SIGKILL at one of the
daemon's crash points, then the daemon ticks twice: every COMPLETE export must be loaded
exactly once (one load run, one materialization of each table for that export, one
materialization of the export).

- ``fresh``: the sensor's first tick (no cursor) sees both exports COMPLETE and crashes;
- ``warm``: a first tick saw them IN_PROGRESS; the tick that sees them COMPLETE crashes;
- ``report``: the loads ran; the tick that reports the exports crashes.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import dagster as dg
import pytest
import yaml

from ddb_assets.assets.keys import (
    op_name,
    rds_export_key,
    rds_load_run_key,
    rds_request_key,
    rds_table_key,
)
from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.setup import create_export_key, create_export_role, create_instance
from ddb_assets.runner import _execute, run_failure_text
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors_rds import SENSOR_NAME
from ddb_assets_tests.daemon_ticks import RUN_CRASH_POINTS, SYNC_LAUNCH, tick

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fault,
    pytest.mark.mariadb,
    pytest.mark.timeout(600),
]

CASES = (
    [("fresh", p) for p in RUN_CRASH_POINTS]
    + [("warm", p) for p in ("AUTOMATION_EVALUATIONS_ADDED", "RUN_CREATED")]
    + [("report", p) for p in ("TICK_CREATED", "TICK_HELD")]
)
BUCKET = "rds-crash"


def _tick(instance, config_path, when, crash_point=None) -> int:
    return tick(instance, config_path, SENSOR_NAME, when, crash_point)


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.5, rds=True) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        s.role_arn = create_export_role(s.client("iam"), BUCKET)  # type: ignore[attr-defined]
        s.key_arn = create_export_key(s.client("kms"))  # type: ignore[attr-defined]
        yield s


_instances = iter(range(1000))


def _source(stack, tmp_path, days):
    ident = f"crash-db-{next(_instances)}"
    create_instance(stack.client("rds"), ident, db_name="shop", backup_retention_days=35)
    with stack.rds.connect(ident) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20))")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, price DECIMAL(6,2))")
    for i, d in enumerate(days):
        with stack.rds.connect(ident) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO orders VALUES (%s, %s)", (i, f"o{i}"))
            cur.execute("INSERT INTO items VALUES (%s, %s)", (i, f"{i}.25"))
        stack.rds.take_automated_snapshot(ident, at=datetime.combine(d, dtime(2), tzinfo=UTC))
    today = datetime.now(UTC).date()
    data = {
        "warehouse": str(tmp_path / "wh.duckdb"),
        "summaries_dir": None,
        "sensor": {"interval_seconds": 5},
        "defaults": {"athena": {"database": "crash"}},
        "rds": [
            {
                "name": "crash_shop",
                "instance": ident,
                "db_engine": "mariadb",
                "tables": ["shop.orders", "shop.items"],
                "s3_bucket": BUCKET,
                "iam_role_arn": stack.role_arn,
                "kms_key_arn": stack.key_arn,
                "schedule": {"timezone": "UTC"},
                "partitions_start": (today - timedelta(days=10)).isoformat(),
            }
        ],
    }
    path = tmp_path / "ddb_assets.yaml"
    path.write_text(yaml.safe_dump(data))
    return parse_config(data, base_dir=tmp_path), path


def _counts(instance, src, ids: dict[str, str]) -> dict[str, tuple[int, ...]]:
    """Per export: (load runs, materializations of each table from it, of the export)."""
    out = {}
    for p, export_id in ids.items():
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: rds_load_run_key(export_id)})
        )
        counts = [len(runs)]
        for key in [rds_table_key(t) for t in src.typed_tables()] + [rds_export_key(src)]:
            res = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[p]), limit=100
            )
            counts.append(
                sum(
                    getattr(r.asset_materialization.metadata.get("export_id"), "value", None)
                    == export_id
                    for r in res.records
                )
            )
        out[export_id] = tuple(counts)
    return out


@pytest.mark.parametrize(("kind", "crash_point"), CASES)
def test_a_crash_at_any_crash_point_loads_every_complete_rds_export_exactly_once(
    stack, tmp_path, monkeypatch, kind, crash_point
):
    env = {**stack.env(), "DDB_ASSETS_ENV": "local"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=k) for k in (3, 2)]
    cfg, config_path = _source(stack, tmp_path, days)
    src = cfg.rds[0]
    defs = build_definitions(cfg, env="local")
    # "warm": long enough that the first tick (a fresh process loading the code location,
    # on a busy machine) surely sees both exports IN_PROGRESS.
    stack.rds.configure(export_seconds=0.5 if kind != "warm" else 90.0)
    (tmp_path / "home").mkdir()
    try:
        with dg.instance_for_test(
            temp_dir=str(tmp_path / "home"), overrides=SYNC_LAUNCH
        ) as instance:
            ids = {}
            for d in days:
                res = _execute(defs, instance, [rds_request_key(src)], partition_key=d.isoformat())
                assert res.success, run_failure_text(instance, res.run_id)
                [mat] = res.asset_materializations_for_node(op_name(rds_request_key(src)))
                ids[d.isoformat()] = mat.metadata["export_id"].value
            clock = time.time()
            ticks = iter(range(1, 100))

            def when():
                return clock + 40 * next(ticks)

            if kind == "warm":
                assert _tick(instance, config_path, when()) == 0
                assert all(c == (0, 0, 0, 0) for c in _counts(instance, src, ids).values())
            for export_id in ids.values():
                assert stack.rds.wait_for_export(export_id, timeout=240) == "COMPLETE"
            if kind == "report":
                assert _tick(instance, config_path, when()) == 0
                assert all(c[:3] == (1, 1, 1) for c in _counts(instance, src, ids).values())

            code = _tick(instance, config_path, when(), crash_point)
            assert code == -signal.SIGKILL, f"the tick was not killed at {crash_point}"
            for _ in range(2):
                assert _tick(instance, config_path, when()) == 0
            failures = [
                (r.status, run_failure_text(instance, r.run_id))
                for r in instance.get_runs()
                if r.status != dg.DagsterRunStatus.SUCCESS
            ]
            assert not failures, failures
            counts = _counts(instance, src, ids)
            assert all(c == (1, 1, 1, 1) for c in counts.values()), counts
    finally:
        stack.rds.configure(export_seconds=0.5)
