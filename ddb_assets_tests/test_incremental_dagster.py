"""The Dagster layer of the change history: the sensor reads the chain position from the change
table's materializations (not from a cursor), so a fresh sensor neither skips nor repeats a window."""

import time
import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from ddb_assets.assets.incremental import (
    SENSOR_NAME,
    build_incremental_assets,
    changes_key,
    check_key,
    current_key,
    evaluate_incremental_tick,
)
from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.local import LocalAWS
from ddb_assets.resources import resources_for
from ddb_assets_tests.ddb_tables import create_pitr_table


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2) as s:
        yield s


def _ready_runs(instance, cfg, ddb, s3, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        runs, messages = evaluate_incremental_tick(instance, cfg, ddb, s3)
        if runs or time.monotonic() > deadline:
            return runs, messages
        time.sleep(0.1)


def _execute(asset, req: dg.RunRequest, instance, resources):
    """Run what a sensor's RunRequest asks for (its assets, its checks, its tags)."""
    sel = dg.AssetSelection.assets(*req.asset_selection) - dg.AssetSelection.all_asset_checks()
    if req.asset_check_keys:
        sel = sel | dg.AssetSelection.checks(*req.asset_check_keys)
    return dg.materialize(
        [asset],
        instance=instance,
        resources=resources,
        selection=sel,
        tags={**req.tags, "dagster/run_key": req.run_key},
        raise_on_error=False,
    )


def _check_md(instance, t):
    rec = instance.get_latest_asset_check_evaluation_record(check_key(t))
    ev = rec.event.dagster_event.event_specific_data
    return ev, {k: getattr(v, "value", v) for k, v in ev.metadata.items()}


def _history(stack, monkeypatch, tag):
    """A PITR-enabled table on the stack with item a at T0 and item b at T0+12' (T0 six hours
    ago, on the hour), and a bucket; the stack's endpoints in the environment."""
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    name, bucket = f"{tag}-{uuid.uuid4().hex[:8]}", f"{tag}-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    stack.set_now(t0)
    create_pitr_table(ddb, name)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    stack.set_now(t0 + timedelta(minutes=12))
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "n": {"N": "2"}})
    return ddb, s3, name, bucket, t0


def test_sensor_and_assets_apply_each_window_once_across_fresh_sensors(
    stack, tmp_path, monkeypatch
):
    ddb, s3, name, bucket, t0 = _history(stack, monkeypatch, "dg")
    try:
        ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})

        cfg = parse_config(
            {
                "defaults": {"athena": {"database": "shop"}},
                "warehouse": str(tmp_path / "wh.duckdb"),
                "summaries_dir": None,
                "tables": [
                    {
                        "name": "orders",
                        "dynamodb_table": name,
                        "s3_bucket": bucket,
                        "s3_prefix": "ex",
                        "schedule": {"timezone": "UTC"},
                        "incremental": {"enabled": True, "window_minutes": 15},
                    }
                ],
            },
            base_dir=tmp_path,
        )
        defs = build_definitions(cfg, env="local")
        keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
        assert {"athena/orders_changes", "athena/orders_current"} <= keys
        t = cfg.tables[0]
        asset = build_incremental_assets(cfg, t)
        resources = resources_for(str(tmp_path / "wh.duckdb"), "local", cfg)

        with dg.instance_for_test() as instance:
            stack.set_now(t0 + timedelta(minutes=10))
            runs, _ = _ready_runs(instance, cfg, ddb, s3)
            assert [r.run_key for r in runs] and runs[0].run_key.startswith("orders:seed:g0:")
            assert dg.materialize([asset], instance=instance, resources=resources).success

            stack.set_now(t0 + timedelta(minutes=25, seconds=1))
            runs, _ = _ready_runs(instance, cfg, ddb, s3)
            assert [r.run_key for r in runs] == [f"orders:window:g0:{_label(t0, 10, 25)}"]
            assert dg.materialize([asset], instance=instance, resources=resources).success
            md = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=changes_key(t)), limit=1
            )
            md = md.records[0].asset_materialization.metadata
            assert md["chain_last_to"].value == (t0 + timedelta(minutes=25)).isoformat()
            assert md["chain_windows"].value == 1
            cur = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=current_key(t)), limit=1
            )
            assert cur.records[0].asset_materialization.metadata["dagster/row_count"].value == 1

            # A brand-new sensor (no cursor) asks for nothing already applied: only the check of
            # the W1 position (the materialization above requested its comparison export).
            sensor = defs.resolve_sensor_def(SENSOR_NAME)
            deadline = time.monotonic() + 15
            while True:
                with dg.build_sensor_context(
                    instance=instance, cursor=None, resources=resources
                ) as ctx:
                    result = sensor(ctx)
                reqs = [] if isinstance(result, dg.SkipReason) else result.run_requests
                if reqs or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            stamp = (t0 + timedelta(minutes=25)).strftime("%Y%m%dT%H%M%SZ")
            assert [r.run_key for r in reqs] == [f"orders:check:g0:{stamp}"]
            assert reqs[0].asset_selection == [] and reqs[0].asset_check_keys == [check_key(t)]
            assert _execute(asset, reqs[0], instance, resources).success
            ev, md = _check_md(instance, t)
            assert (
                ev.passed
                and md["compared"]
                and md["chain_last_to"] == (t0 + timedelta(minutes=25)).isoformat()
            )
            with dg.build_sensor_context(
                instance=instance, cursor=None, resources=resources
            ) as ctx:
                result = sensor(ctx)
            skip = result if isinstance(result, dg.SkipReason) else result.skip_reason
            assert skip is not None and "not requested yet" in skip.skip_message
    finally:
        stack.reset_clock()


def _label(t0, a, b):
    f = lambda m: (t0 + timedelta(minutes=m)).strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
    return f"{f(a)}_{f(b)}"


def test_a_run_that_dies_after_its_window_committed_does_not_stall_the_chain(
    stack, tmp_path, monkeypatch
):
    """The window commits, then the run dies before recording its materialization: the event
    log's position stays one step behind and the step's run key is spent. The sensor launches
    the step again under a new key (the ledger skips the committed window, the run records the
    position), and stops after APPLY_RUN_RETRIES with an error that names the fix."""
    import ddb_assets.assets.incremental as inc
    from ddb_assets.incremental import duckdb_chain as dc

    ddb, s3, name, bucket, t0 = _history(stack, monkeypatch, "die")
    try:
        wh = str(tmp_path / "wh.duckdb")
        cfg = parse_config(
            {
                "defaults": {"athena": {"database": "shop"}},
                "warehouse": wh,
                "summaries_dir": None,
                "tables": [
                    {
                        "name": "orders",
                        "dynamodb_table": name,
                        "s3_bucket": bucket,
                        "s3_prefix": "ex",
                        "schedule": {"timezone": "UTC"},
                        "incremental": {"enabled": True, "window_minutes": 15},
                    }
                ],
            },
            base_dir=tmp_path,
        )
        t = cfg.tables[0]
        asset = build_incremental_assets(cfg, t)
        resources = resources_for(wh, "local", cfg)
        w1 = f"orders:window:g0:{_label(t0, 10, 25)}"

        def windows_applied():
            import duckdb

            con = duckdb.connect(wh, read_only=True)
            try:
                return len(dc.read_chain_state(con, "shop", "orders").windows(0))
            finally:
                con.close()

        def tick(timeout=20.0):
            """A daemon's ticks: check runs execute (they pass); returns the first apply runs."""
            deadline = time.monotonic() + timeout
            while True:
                runs, messages = evaluate_incremental_tick(instance, cfg, ddb, s3)
                for r in [r for r in runs if r.asset_check_keys]:
                    assert _execute(asset, r, instance, resources).success
                applies = [r for r in runs if not r.asset_check_keys]
                if (
                    applies
                    or time.monotonic() > deadline
                    or any("stops launching" in m for m in messages)
                ):
                    return applies, messages
                time.sleep(0.1)

        with dg.instance_for_test() as instance:
            stack.set_now(t0 + timedelta(minutes=10))
            runs, _ = tick()
            assert _execute(asset, runs[0], instance, resources).success  # the seed

            stack.set_now(t0 + timedelta(minutes=25, seconds=1))
            real = inc.table_metadata
            monkeypatch.setattr(
                inc,
                "table_metadata",
                lambda **kw: (_ for _ in ()).throw(
                    RuntimeError("the process died after the commit")
                ),
            )
            runs, _ = tick()
            assert [r.run_key for r in runs] == [w1] and runs[0].tags[inc.STEP_TAG] == w1
            assert not _execute(asset, runs[0], instance, resources).success
            assert windows_applied() == 1  # committed ...
            runs, messages = tick()  # ... but not recorded
            assert [r.run_key for r in runs] == [f"{w1}:retry1"], messages
            assert any("launching it again (retry 1 of 3)" in m for m in messages)

            monkeypatch.setattr(inc, "table_metadata", real)
            assert _execute(asset, runs[0], instance, resources).success
            assert windows_applied() == 1  # not applied twice
            md = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=changes_key(t)), limit=1
            )
            assert (
                md.records[0].asset_materialization.metadata["chain_last_to"].value
                == (t0 + timedelta(minutes=25)).isoformat()
            )
            runs, messages = tick(timeout=2.0)
            assert not any(r.run_key.startswith(w1) for r in runs), messages

            # A step whose runs keep ending without moving the chain is retried a bounded number of times.
            stack.set_now(t0 + timedelta(minutes=40, seconds=1))
            monkeypatch.setattr(
                inc, "table_metadata", lambda **kw: (_ for _ in ()).throw(RuntimeError("broken"))
            )
            w2 = f"orders:window:g0:{_label(t0, 25, 40)}"
            launched = []
            for _ in range(inc.APPLY_RUN_RETRIES + 2):
                runs, messages = tick()
                applies = [r for r in runs if r.tags.get(inc.STEP_TAG) == w2]
                if not applies:
                    break
                launched.append(applies[0].run_key)
                assert not _execute(asset, applies[0], instance, resources).success
            assert launched == [w2] + [
                f"{w2}:retry{i}" for i in range(1, inc.APPLY_RUN_RETRIES + 1)
            ]
            stop = next(m for m in messages if "stops launching" in m)
            assert "materialize athena/<table>_changes" in stop and "FAILURE" in stop
    finally:
        stack.reset_clock()
