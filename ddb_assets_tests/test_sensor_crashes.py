"""Exactly-once loads across crashes of Dagster's REAL sensor daemon (issue 17, point 1).

Each case runs the daemon's own ``execute_sensor_iteration`` in a spawned process (as
Dagster's own daemon tests do), against a test instance on disk whose run launcher executes
the requested load runs for real (``SyncInMemoryRunLauncher``: the load writes the DuckDB
warehouse). One tick is killed with SIGKILL at one of the daemon's crash points
(``check_for_debug_crash``: TICK_CREATED, TICK_HELD, AUTOMATION_EVALUATIONS_ADDED,
RUN_IDS_RESERVED, RUN_CREATED, RUN_LAUNCHED, RUN_IDS_ADDED_TO_EVALUATIONS), then the
daemon restarts and ticks twice. Every COMPLETED export must then be loaded exactly once:
one load run, one materialization of the table for that export, one materialization of the
export; nothing lost, nothing duplicated.

Three kinds of crashed tick:

- ``fresh``: the sensor's first tick (no cursor: it reconciles with ListExports), with
  both exports already COMPLETED: the tick that requests the loads crashes;
- ``warm``: a first tick saw the exports IN_PROGRESS and saved its cursor; the tick that
  sees them COMPLETED (and requests the loads) crashes;
- ``report``: the loads ran; the tick that reports the exports' materializations crashes.
"""

from __future__ import annotations

import itertools
import signal
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from boto3.dynamodb.types import TypeSerializer

from ddb_assets.assets.keys import (
    LOAD_RUN_TAG,
    REQUEST_RUN_TAG,
    export_key,
    op_name,
    request_key,
    table_key,
)
from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.local import LocalAWS
from ddb_assets.runner import _execute, run_failure_text
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors import SENSOR_NAME
from ddb_assets_tests.daemon_ticks import (
    REPORT_CRASH_POINTS,
    RUN_CRASH_POINTS,
    SYNC_LAUNCH,
    tick,
)
from ddb_assets_tests.ddb_tables import create_pitr_table

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(600)]

TZ = "Asia/Tokyo"
CASES = (
    [("fresh", p) for p in RUN_CRASH_POINTS]
    + [("warm", p) for p in RUN_CRASH_POINTS]
    + [("report", p) for p in REPORT_CRASH_POINTS]
)
_names = itertools.count()


def _tick(instance, config_path, when, crash_point=None) -> int:
    return tick(instance, config_path, SENSOR_NAME, when, crash_point)


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.5) as s:
        s.client("s3").create_bucket(Bucket="crash-bucket")
        yield s


@pytest.fixture
def env(stack, monkeypatch):
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DDB_ASSETS_ENV", "local")
    return stack


def _make_table(stack) -> str:
    name = f"crash_{next(_names)}"
    ddb = stack.client("dynamodb")
    stack.set_now(datetime.now(UTC) - timedelta(days=6))
    create_pitr_table(ddb, name)
    ser = TypeSerializer()
    for i in range(4):
        ddb.put_item(TableName=name, Item={"pk": ser.serialize(f"k{i}"), "n": ser.serialize(i)})
    stack.reset_clock()
    return name


def _config(tmp_path, name):
    today = datetime.now(ZoneInfo(TZ)).date()
    data = {
        "warehouse": str(tmp_path / "wh.duckdb"),
        "summaries_dir": None,
        "sensor": {"interval_seconds": 5},
        "defaults": {"athena": {"database": "crash"}},
        "tables": [
            {
                "name": name,
                "s3_bucket": "crash-bucket",
                "s3_prefix": "exp",
                "partitions_start": (today - timedelta(days=10)).isoformat(),
            }
        ],
    }
    path = tmp_path / "ddb_assets.yaml"
    path.write_text(yaml.safe_dump(data))
    return parse_config(data, base_dir=tmp_path), path


def _counts(instance, t, arns: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """Per ExportArn: (load runs, table materializations from it, export materializations)."""
    out = {}
    for p, arn in arns.items():
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: f"load:{arn}"}))
        mats = {}
        for key in (table_key(t), export_key(t)):
            res = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[p]), limit=100
            )
            mats[key] = [
                r
                for r in res.records
                if getattr(r.asset_materialization.metadata.get("export_arn"), "value", None) == arn
            ]
        out[arn] = (len(runs), len(mats[table_key(t)]), len(mats[export_key(t)]))
    return out


@pytest.mark.parametrize(("kind", "crash_point"), CASES)
def test_a_crash_at_any_crash_point_loads_every_completed_export_exactly_once(
    env, tmp_path, kind, crash_point
):
    name = _make_table(env)
    cfg, config_path = _config(tmp_path, name)
    t = cfg.tables[0]
    defs = build_definitions(cfg, env="local")
    today = datetime.now(ZoneInfo(TZ)).date()
    days = [(today - timedelta(days=k)).isoformat() for k in (2, 1)]
    # "warm": long enough that the first tick surely sees both exports IN_PROGRESS.
    env.configure(export_seconds=0.5 if kind != "warm" else 25.0)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"), overrides=SYNC_LAUNCH) as instance:
        arns = {}
        for d in days:
            res = _execute(defs, instance, [request_key(t)], partition_key=d)
            assert res.success
            [mat] = res.asset_materializations_for_node(op_name(request_key(t)))
            arns[d] = mat.metadata["export_arn"].value
        clock = time.time()
        ticks = iter(range(1, 100))

        def when():
            return clock + 40 * next(ticks)  # past the sensor's minimum interval each time

        if kind == "warm":  # a tick sees them IN_PROGRESS and saves its cursor
            assert _tick(instance, config_path, when()) == 0
            assert all(c == (0, 0, 0) for c in _counts(instance, t, arns).values())
        for arn in arns.values():
            assert env.wait_for_export(arn) == "COMPLETED"
        if kind == "report":  # the loads run; the reporting tick is the one that dies
            assert _tick(instance, config_path, when()) == 0
            assert all(c[:2] == (1, 1) for c in _counts(instance, t, arns).values())

        code = _tick(instance, config_path, when(), crash_point)
        assert code == -signal.SIGKILL, f"the tick was not killed at {crash_point}"

        # The daemon restarts: within two ticks every export is loaded, exactly once.
        for _ in range(2):
            assert _tick(instance, config_path, when()) == 0
        counts = _counts(instance, t, arns)
        failures = [
            (r.status, run_failure_text(instance, r.run_id))
            for r in instance.get_runs()
            if r.status != dg.DagsterRunStatus.SUCCESS
        ]
        assert not failures, failures
        lost = [a for a, (runs, loads, _) in counts.items() if loads == 0]
        duplicated = [a for a, (runs, loads, _) in counts.items() if runs > 1 or loads > 1]
        assert (lost, duplicated) == ([], []), counts
        assert all(c == (1, 1, 1) for c in counts.values()), counts
        for p, arn in arns.items():
            [run] = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: f"load:{arn}"}))
            assert run.status == dg.DagsterRunStatus.SUCCESS
            [rec] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=export_key(t), asset_partitions=[p]), limit=1
            ).records
            tags = rec.event_log_entry.dagster_event.event_specific_data.materialization.tags
            assert tags[LOAD_RUN_TAG] == run.run_id
            assert tags[REQUEST_RUN_TAG]
