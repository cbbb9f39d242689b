"""The ``matches_full_export`` check of ``athena/<table>_current`` and the retries of FAILED
window exports, through the sensor's run requests on the local AWS stack (issue #7)."""

import time
import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pytest

from ddb_assets.assets.incremental import (
    build_incremental_assets,
    changes_key,
    check_key,
    current_key,
    evaluate_incremental_tick,
)
from ddb_assets.config import parse_config
from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental.chain import ChainSpec, apply_ready, request_next
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
from ddb_assets.incremental.exports import ChainExportFailedError
from ddb_assets.local import LocalAWS
from ddb_assets.resources import resources_for
from ddb_assets_tests.ddb_tables import create_pitr_table


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2) as s:
        yield s


@pytest.fixture
def env(stack, tmp_path, monkeypatch):
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    yield stack
    stack.reset_clock()


def _setup(stack, tmp_path, **table):
    name, bucket = f"ck-{uuid.uuid4().hex[:8]}", f"ck-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    stack.set_now(t0)
    create_pitr_table(ddb, name)
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
                    **table,
                }
            ],
        },
        base_dir=tmp_path,
    )
    t = cfg.tables[0]
    return (
        t0,
        name,
        ddb,
        s3,
        cfg,
        t,
        build_incremental_assets(cfg, t),
        resources_for(wh, "local", cfg),
        wh,
    )


def _put(stack, ddb, table, at, pk, **attrs):
    stack.set_now(at)
    item = {
        "pk": {"S": pk},
        **{
            k: ({"N": str(v)} if isinstance(v, (int, float)) else {"S": v})
            for k, v in attrs.items()
        },
    }
    ddb.put_item(TableName=table, Item=item)


def _execute(asset, req, instance, resources):
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


def _drive(instance, cfg, ddb, s3, asset, resources, until, timeout=20.0):
    """Sensor ticks, each run request executed, until ``until()``; returns the run keys."""
    keys, deadline = [], time.monotonic() + timeout
    while not until():
        runs, messages = evaluate_incremental_tick(instance, cfg, ddb, s3)
        for r in runs:
            if r.run_key not in keys:  # a sensor never launches a run key twice
                keys.append(r.run_key)
                _execute(asset, r, instance, resources)
        if time.monotonic() > deadline:
            raise AssertionError(f"not there: {messages}")
        time.sleep(0.05)
    return keys


def _evaluation(instance, t):
    rec = instance.get_latest_asset_check_evaluation_record(check_key(t))
    if rec is None or rec.event is None:
        return None, {}
    ev = rec.event.dagster_event.event_specific_data
    return ev, {k: getattr(v, "value", v) for k, v in ev.metadata.items()}


def _checked_at(instance, t, at):
    ev, md = _evaluation(instance, t)
    return ev is not None and md.get("compared") and md.get("chain_last_to") == at.isoformat()


def test_check_passes_after_three_windows_and_fails_when_current_is_tampered_with(env, tmp_path):
    t0, name, ddb, s3, cfg, t, asset, resources, wh = _setup(
        env, tmp_path, incremental={"enabled": True, "window_minutes": 15}
    )
    m = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
    _put(env, ddb, name, m(1), "a", qty=1, name="apple")
    _put(env, ddb, name, m(2), "b", qty=2, name="banana")
    _put(env, ddb, name, m(12), "a", qty=5, name="apple")  # W1
    _put(env, ddb, name, m(13), "c", qty=3.25, name="cherry")
    env.set_now(m(27))
    ddb.delete_item(TableName=name, Key={"pk": {"S": "b"}})  # W2
    _put(env, ddb, name, m(28), "d", qty=4, name="durian", color="red")
    _put(env, ddb, name, m(41), "a", qty=7, name="apricot")  # W3
    _put(env, ddb, name, m(60), "z", qty=1, name="after the chain")

    with dg.instance_for_test() as instance:
        env.set_now(m(10))
        keys = _drive(
            instance, cfg, ddb, s3, asset, resources, lambda: _checked_at(instance, t, m(10))
        )
        assert keys[0].startswith("orders:seed:g0:") and keys[1].startswith("orders:check:g0:")
        assert _evaluation(instance, t)[0].passed  # the seed export itself is the comparison

        env.set_now(m(55) + timedelta(seconds=1))
        keys = _drive(
            instance, cfg, ddb, s3, asset, resources, lambda: _checked_at(instance, t, m(55))
        )
        assert [k.split(":")[1] for k in keys] == [
            "window",
            "check",
        ]  # 3 windows in one run, then the check
        con = duckdb.connect(wh, read_only=True)
        assert len(dc.read_chain_state(con, "shop", "orders").windows()) == 3
        con.close()
        ev, md = _evaluation(instance, t)
        assert ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR, md
        assert md["current_rows"] == md["export_items"] == 3
        assert (md["missing_rows"], md["extra_rows"], md["different_rows"]) == (0, 0, 0)
        assert "qty" in md["compared_columns"] and "color" in md["compared_columns"]

        # Behind the chain's back: a row deleted, a value changed, a row invented.
        con = duckdb.connect(wh)
        con.execute("DELETE FROM shop.orders_current WHERE pk = 'c'")
        con.execute("UPDATE shop.orders_current SET qty = 8 WHERE pk = 'a'")
        con.execute("""INSERT INTO shop.orders_current (_ddb_key, _ddb_item, pk)
                       VALUES ('{"pk":{"S":"ghost"}}', '{"pk":{"S":"ghost"}}', 'ghost')""")
        con.close()
        req = dg.RunRequest(
            run_key="manual",
            asset_selection=[],
            asset_check_keys=[check_key(t)],
            tags={"ddb_assets/chain": "orders", "ddb_assets/chain_check": f"0:{m(55).isoformat()}"},
        )
        result = _execute(asset, req, instance, resources)
        assert not result.success  # blocking, ERROR: the run fails
        ev, md = _evaluation(instance, t)
        assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
        assert (md["missing_rows"], md["extra_rows"], md["different_rows"]) == (1, 1, 1), md
        ex = {e["kind"]: e for e in md["examples"]}
        assert '"c"' in ex["missing"]["key"] and '"ghost"' in ex["extra"]["key"]
        assert ex["different"]["columns"] == {"qty": ["8.00", "7.00"]}
        assert "DIFFERS" in ev.description


def test_failed_window_export_is_retried_with_a_new_client_token(env, tmp_path):
    t0, name, ddb, s3, cfg, t, asset, resources, wh = _setup(
        env,
        tmp_path,
        max_export_retries=1,
        incremental={"enabled": True, "window_minutes": 15, "max_windows_in_flight": 1},
    )
    spec = ChainSpec.from_config(cfg, t)
    assert spec.max_export_retries == 1
    _put(env, ddb, name, t0 + timedelta(minutes=1), "a", qty=1)
    _put(env, ddb, name, t0 + timedelta(minutes=12), "b", qty=2)
    with dg.instance_for_test() as instance:
        env.set_now(t0 + timedelta(minutes=10))
        _drive(
            instance,
            cfg,
            ddb,
            s3,
            asset,
            resources,
            lambda: _checked_at(instance, t, t0 + timedelta(minutes=10)),
        )

        # W1's first export FAILS; the retry (attempt 1, its own ClientToken) completes.
        env.fail_next_export("S3NoSuchBucket", "The specified bucket does not exist")
        env.set_now(t0 + timedelta(minutes=25, seconds=1))
        keys = _drive(
            instance,
            cfg,
            ddb,
            s3,
            asset,
            resources,
            lambda: _checked_at(instance, t, t0 + timedelta(minutes=25)),
        )
        assert any(k.startswith("orders:window:g0:") for k in keys)
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        windows = [
            ddb.describe_export(ExportArn=s["ExportArn"])["ExportDescription"]
            for s in ddb.list_exports(TableArn=arn)["ExportSummaries"]
        ]
        windows = [d for d in windows if d.get("ExportType") == "INCREMENTAL_EXPORT"]
        assert sorted(d["ExportStatus"] for d in windows) == ["COMPLETED", "FAILED"]
        assert len({d["ClientToken"] for d in windows}) == 2

        # W2: both attempts FAIL: the report, apply_ready and the apply run say why, loudly.
        env.fail_next_export("S3AccessDenied", "Access Denied to bucket ck")
        env.fail_next_export("S3AccessDenied", "Access Denied to bucket ck (again)")
        env.set_now(t0 + timedelta(minutes=40, seconds=1))
        deadline = time.monotonic() + 20
        while True:
            report = request_next(
                ddb, s3, spec, seeded=True, generation=0, last_to=t0 + timedelta(minutes=25)
            )
            if report.exhausted is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        err = report.exhausted
        assert err is not None and err.code == "S3AccessDenied" and len(err.attempts) == 2
        assert "Access Denied to bucket ck (again)" in str(err) and "max_export_retries = 1" in str(
            err
        )
        con = duckdb.connect(wh)
        with pytest.raises(ChainExportFailedError, match="S3AccessDenied"):
            apply_ready(DuckDBChain(con, spec.schema, spec.sql_name), ddb, s3, spec)
        con.close()
        runs, messages = evaluate_incremental_tick(instance, cfg, ddb, s3)
        assert [r.run_key.split(":")[1] for r in runs] == ["export-failed"]
        assert any("S3AccessDenied" in m for m in messages)
        result = _execute(asset, runs[0], instance, resources)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "S3AccessDenied" in str(failure.event_specific_data.error) and "(again)" in str(
            failure.event_specific_data.error
        )
        assert changes_key(t) and current_key(t)
