"""The asynchronous export lifecycle against the local stack: requests, sensor ticks,
restarts, failures and retries, PITR errors, throttling, concurrency caps."""

import itertools
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from boto3.dynamodb.types import TypeSerializer
from dagster._core.utils import make_new_run_id

from ddb_assets.assets.exports import build_export_request_asset
from ddb_assets.assets.keys import (
    LOAD_RUN_TAG,
    REQUEST_RUN_TAG,
    export_key,
    op_name,
    request_key,
    table_key,
)
from ddb_assets.config import parse_config
from ddb_assets.dynamodb import exports as ex
from ddb_assets.local import LocalAWS
from ddb_assets.resources import AwsResource
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors import evaluate_tick

TZ = "Asia/Tokyo"
_names = itertools.count()


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=1.0) as s:
        s.client("s3").create_bucket(Bucket="exports-bucket")
        yield s


@pytest.fixture
def env(stack, monkeypatch):
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DDB_ASSETS_ENV", "local")
    stack.reset_clock()
    return stack


def yesterday(days: int = 1) -> str:
    return (datetime.now(ZoneInfo(TZ)).date() - timedelta(days=days)).isoformat()


def make_table(stack, *, pitr=True, items=3, written_days_ago=5):
    """A fresh table, created (and written) ``written_days_ago`` on the stack's clock."""
    name = f"orders_{next(_names)}"
    ddb = stack.client("dynamodb")
    stack.set_now(datetime.now(timezone.utc) - timedelta(days=written_days_ago))
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    ser = TypeSerializer()
    for i in range(items):
        ddb.put_item(TableName=name, Item={"pk": ser.serialize(f"k{i}"), "n": ser.serialize(i)})
    stack.reset_clock()
    return name


def config_for(name, **table_kw):
    start = (datetime.now(ZoneInfo(TZ)).date() - timedelta(days=30)).isoformat()
    return parse_config(
        {
            "sensor": {"interval_seconds": 5},
            "tables": [
                {
                    "name": name,
                    "s3_bucket": "exports-bucket",
                    "s3_prefix": "exp",
                    "partitions_start": start,
                    **table_kw,
                }
            ],
        }
    )


def request(cfg, partition, instance, raise_on_error=True, **config):
    t = cfg.tables[0]
    return dg.materialize(
        [build_export_request_asset(cfg, t)],
        partition_key=partition,
        instance=instance,
        resources={"aws": AwsResource()},
        raise_on_error=raise_on_error,
        run_config={"ops": {op_name(request_key(t)): {"config": config}}} if config else None,
    )


def requested_arn(instance, cfg, partition):
    """The ExportArn the partition's latest request run recorded."""
    [rec] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=request_key(cfg.tables[0]), asset_partitions=[partition]),
        limit=1,
    ).records
    return rec.asset_materialization.metadata["export_arn"].value


def tick_until(instance, cfg, ddb, cursor=None, *, want=lambda o: o.events, timeout=90):
    """Tick like the daemon (each tick's events are recorded at once) until ``want`` holds
    for everything seen so far; returns (all events and runs, number of ticks)."""
    import time
    from types import SimpleNamespace

    seen = SimpleNamespace(events=[], runs=[], cursor=cursor)
    deadline = time.monotonic() + timeout
    ticks = 0
    while True:
        o = evaluate_tick(instance, seen.cursor, cfg, ddb)
        ticks += 1
        apply(instance, o)
        seen.events += o.events
        seen.runs += o.runs
        seen.cursor = o.cursor
        if want(seen) or time.monotonic() > deadline:
            return seen, ticks
        time.sleep(0.3)


def apply(instance, outcome):
    """Record a tick's outcome as the daemon does: its events, and a queued run per run
    request not seen before (the daemon's run-key check), as launched; none is executed here."""
    for ev in outcome.events:
        instance.report_runless_asset_event(ev)
    for rr in outcome.runs:
        if instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rr.run_key})):
            continue
        instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB",
                run_id=make_new_run_id(),
                tags={**rr.tags, RUN_KEY_TAG: rr.run_key},
                status=dg.DagsterRunStatus.STARTED,
            )
        )


def materializations(instance, cfg, partition):
    return instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=export_key(cfg.tables[0]), asset_partitions=[partition]),
        limit=100,
    ).records


def test_partition_is_the_end_of_the_day_in_the_table_time_zone():
    from datetime import date

    t = ex.partition_export_time(date(2026, 11, 22), "Asia/Tokyo")
    assert t == datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
    assert ex.partition_prefix("exp/", "orders", date(2026, 11, 22)) == "exp/orders/2026-11-22"
    assert ex.partition_of_prefix("exp/orders/2026-11-22") == ("orders", date(2026, 11, 22))
    assert ex.partition_of_prefix("someone/else") is None


def test_export_completes_after_several_ticks_and_requests_the_load(env):
    name = make_table(env)
    cfg = config_for(name)
    ddb = env.client("dynamodb")
    p = yesterday()
    env.configure(export_seconds=4.0)  # long enough to span several ticks, even on a busy machine
    try:
        with dg.instance_for_test() as instance:
            request(cfg, p, instance)
            first = evaluate_tick(instance, None, cfg, ddb)
            assert first.events == [] and first.runs == [] and first.pending == 1
            o, ticks = tick_until(instance, cfg, ddb, first.cursor)
            [request_run] = [r.run_id for r in instance.get_runs() if not r.tags.get(RUN_KEY_TAG)]
            [load_run] = instance.get_runs(
                filters=dg.RunsFilter(tags={RUN_KEY_TAG: o.runs[0].run_key})
            )
    finally:
        env.configure(export_seconds=1.0)
    assert ticks >= 3, "an export with a 4 s IN_PROGRESS phase completed on the first tick"
    # The COMPLETED export's load was requested first; once the load run existed, the
    # export's materialization was reported, tagged with both runs (its lateness check runs
    # in the load run: ddb_assets_tests/test_refresh_cli.py).
    [m] = o.events
    assert m.tags[REQUEST_RUN_TAG] == request_run and m.tags[LOAD_RUN_TAG] == load_run.run_id
    assert m.metadata["dagster/row_count"].value == 3
    assert isinstance(m, dg.AssetMaterialization) and m.partition == p
    md = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    assert md["item_count"] == 3
    assert md["export_arn"].startswith("arn:aws:dynamodb:")
    assert (
        md["export_time"]
        == ex.partition_export_time(datetime.fromisoformat(p).date(), TZ).isoformat()
    )
    assert md["manifest_uri"].endswith("manifest-summary.json")
    assert md["data_uri"].endswith("/data/")
    assert md["noticed_after_seconds"] >= 0
    [run] = o.runs
    assert run.asset_selection == [table_key(cfg.tables[0])] and run.partition_key == p


def test_duplicated_requests_start_one_export(env):
    name = make_table(env)
    cfg = config_for(name)
    ddb = env.client("dynamodb")
    p = yesterday()
    with dg.instance_for_test() as instance:
        request(cfg, p, instance)
        request(cfg, p, instance)  # a second click while the first is in flight
        arn_table = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        assert len(ddb.list_exports(TableArn=arn_table)["ExportSummaries"]) == 1
        o, _ = tick_until(instance, cfg, ddb)
        assert len(o.runs) == 1  # one load requested...
        request(cfg, p, instance)  # a retried run after completion reuses it
        assert len(ddb.list_exports(TableArn=arn_table)["ExportSummaries"]) == 1
        # ...and so does a run with a lost cursor: nothing is reported twice.
        again = evaluate_tick(instance, None, cfg, ddb)
        assert again.events == [] and again.runs == []
        # A deliberate re-export needs force.
        request(cfg, p, instance, force=True)
        assert len(ddb.list_exports(TableArn=arn_table)["ExportSummaries"]) == 2


@pytest.mark.parametrize(
    "cursor", [None, "", "{not json", '{"v": 99}', '{"v":1,"pending":[{"x":1}]}']
)
def test_restart_with_a_fresh_or_corrupted_cursor_neither_loses_nor_repeats(env, cursor):
    name = make_table(env)
    cfg = config_for(name)
    ddb = env.client("dynamodb")
    p1, p2 = yesterday(1), yesterday(2)
    with dg.instance_for_test() as instance:
        request(cfg, p1, instance)
        o, _ = tick_until(instance, cfg, ddb)
        assert len(materializations(instance, cfg, p1)) == 1
        request(cfg, p2, instance)
        env.wait_for_export(requested_arn(instance, cfg, p2))
        # The daemon restarts and its cursor is gone or garbage: p2's load is requested,
        # and p2's export is reported once its load run exists; p1 is left alone.
        o = evaluate_tick(instance, cursor, cfg, ddb)
        assert [r.partition_key for r in o.runs] == [p2] and o.events == []
        apply(instance, o)
        o = evaluate_tick(instance, None, cfg, ddb)
        assert [e.partition for e in o.events] == [p2] and o.runs == []
        apply(instance, o)
        o = evaluate_tick(instance, None, cfg, ddb)
        assert o.events == [] and o.runs == []
        assert len(materializations(instance, cfg, p1)) == 1
        assert len(materializations(instance, cfg, p2)) == 1


def test_a_tick_that_raised_part_way_is_redone_without_duplicates(env, monkeypatch):
    name = make_table(env)
    cfg = config_for(name)
    ddb = env.client("dynamodb")
    with dg.instance_for_test() as instance:
        for d in (1, 2):
            request(cfg, yesterday(d), instance)
            env.wait_for_export(requested_arn(instance, cfg, yesterday(d)))
        cursor = None  # both are pending (from the request runs) and COMPLETED
        real = ex.describe_export
        calls = []

        def flaky(client, arn):
            calls.append(arn)
            if len(calls) == 2:
                raise RuntimeError("network dropped mid-tick")
            return real(client, arn)

        monkeypatch.setattr("ddb_assets.dynamodb.tracking.describe_export", flaky)
        with pytest.raises(RuntimeError):
            evaluate_tick(instance, cursor, cfg, ddb)
        monkeypatch.setattr("ddb_assets.dynamodb.tracking.describe_export", real)
        o, _ = tick_until(instance, cfg, ddb, cursor, want=lambda o: len(o.events) == 2)
        mats = [e for e in o.events if isinstance(e, dg.AssetMaterialization)]
        assert sorted(e.partition for e in mats) == [yesterday(2), yesterday(1)]
        assert sorted(r.partition_key for r in o.runs) == [yesterday(2), yesterday(1)]
        again = evaluate_tick(instance, o.cursor, cfg, ddb)
        assert again.events == [] and again.runs == []


def test_failed_export_is_retried_then_fails_with_aws_code(env):
    name = make_table(env)
    cfg = config_for(name, max_export_retries=1)
    ddb = env.client("dynamodb")
    p = yesterday()
    with dg.instance_for_test() as instance:
        env.fail_next_export("S3NoSuchBucket", "The specified bucket does not exist")
        request(cfg, p, instance)
        o, _ = tick_until(instance, cfg, ddb, want=lambda o: o.runs)
        [obs] = o.events
        assert isinstance(obs, dg.AssetObservation)
        assert obs.metadata["failure_code"].value == "S3NoSuchBucket"
        [retry] = o.runs
        conf = retry.run_config["ops"][op_name(request_key(cfg.tables[0]))]["config"]
        assert conf["attempt"] == 1
        # The retry run requests a new export (new ClientToken), which fails again...
        env.fail_next_export("S3NoSuchBucket", "The specified bucket does not exist")
        request(cfg, p, instance, **conf)
        o, _ = tick_until(instance, cfg, ddb, o.cursor, want=lambda o: o.runs)
        [retry2] = o.runs
        conf2 = retry2.run_config["ops"][op_name(request_key(cfg.tables[0]))]["config"]
        assert conf2["attempt"] == 2
        # ...and once retries are spent, the run fails with AWS's code and message.
        res = request(cfg, p, instance, raise_on_error=False, **conf2)
        assert not res.success
        failure = [e for e in res.all_events if e.is_step_failure][0]
        text = failure.step_failure_data.user_failure_data.description
        assert "S3NoSuchBucket" in text and "bucket does not exist" in text


def test_missing_bucket_ends_failed_with_s3nosuchbucket(env):
    name = make_table(env)
    cfg = parse_config(
        {
            "tables": [
                {"name": name, "s3_bucket": "no-such-bucket", "partitions_start": yesterday(20)}
            ]
        }
    )
    ddb = env.client("dynamodb")
    with dg.instance_for_test() as instance:
        request(cfg, yesterday(), instance)
        o, _ = tick_until(instance, cfg, ddb, want=lambda o: o.runs)
        assert o.events[0].metadata["failure_code"].value == "S3NoSuchBucket"


def test_pitr_disabled_fails_and_says_how_to_enable_it(env):
    name = make_table(env, pitr=False)
    cfg = config_for(name)
    with dg.instance_for_test() as instance:
        res = request(cfg, yesterday(), instance, raise_on_error=False)
        assert not res.success
        text = [e for e in res.all_events if e.is_step_failure][
            0
        ].step_failure_data.user_failure_data.description
        assert "update-continuous-backups" in text and "PointInTimeRecoveryEnabled=true" in text


def test_export_time_outside_pitr_window_is_not_exportable_and_not_retried(env):
    name = make_table(env, written_days_ago=2)  # PITR enabled 2 days ago
    cfg = config_for(name)
    with dg.instance_for_test() as instance:
        res = request(cfg, yesterday(5), instance, raise_on_error=False)
        assert not res.success
        fail = [e for e in res.all_events if e.is_step_failure][0].step_failure_data
        assert "not exportable" in fail.user_failure_data.description
        assert "earliest restorable" in fail.user_failure_data.description
        # ...and names the first day that can be exported.
        first = (datetime.now(ZoneInfo(TZ)) - timedelta(days=2)).date()
        earliest = fail.user_failure_data.description.split("earliest exportable day is ")[1]
        assert earliest[:10] in {first.isoformat(), (first + timedelta(days=1)).isoformat()}
    # And DynamoDB's own InvalidExportTimeException is translated the same way.
    ddb = env.client("dynamodb")
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    with pytest.raises(ex.ExportTimeOutsideWindowError, match="not exportable"):
        ex._call(
            lambda: ddb.export_table_to_point_in_time(
                TableArn=arn,
                S3Bucket="exports-bucket",
                ExportTime=datetime.now(timezone.utc) - timedelta(days=10),
            ),
            table=name,
        )


def test_table_not_found_names_the_config_field(env):
    cfg = config_for("orders_missing", dynamodb_table="does-not-exist")
    with dg.instance_for_test() as instance:
        res = request(cfg, yesterday(), instance, raise_on_error=False)
        text = [e for e in res.all_events if e.is_step_failure][
            0
        ].step_failure_data.user_failure_data.description
        assert "not found" in text and "dynamodb_table" in text


def test_throttling_backs_off_then_fails_clearly(env):
    from botocore.config import Config

    name = make_table(env)
    ddb = env.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    s3 = env.client("s3")
    from datetime import date

    req = ex.ExportRequest.for_partition(
        table_name=name,
        sql_name=name,
        partition=date.fromisoformat(yesterday()),
        tz=TZ,
        s3_bucket="exports-bucket",
        base_prefix="exp",
        export_format="DYNAMODB_JSON",
    )
    sleeps = []
    env.throttle_next(2, "ExportTableToPointInTime", "LimitExceededException")
    out = ex.request_export(ddb, s3, req, sleep=sleeps.append)
    assert out.export.status == "IN_PROGRESS" and len(sleeps) == 2 and sleeps[1] > sleeps[0]
    env.throttle_next(10, "ExportTableToPointInTime", "ThrottlingException")
    req2 = ex.ExportRequest.for_partition(
        table_name=name,
        sql_name=name,
        partition=date.fromisoformat(yesterday(2)),
        tz=TZ,
        s3_bucket="exports-bucket",
        base_prefix="exp",
        export_format="DYNAMODB_JSON",
    )
    with pytest.raises(ex.ExportThrottledError, match="gave up after 6 attempts"):
        ex.request_export(ddb, s3, req2, sleep=lambda s: None)


def test_concurrency_cap_waits_for_a_slot(env):
    from datetime import date

    name = make_table(env)
    ddb, s3 = env.client("dynamodb"), env.client("s3")

    def req(days):
        return ex.ExportRequest.for_partition(
            table_name=name,
            sql_name=name,
            partition=date.fromisoformat(yesterday(days)),
            tz=TZ,
            s3_bucket="exports-bucket",
            base_prefix="exp",
            export_format="DYNAMODB_JSON",
        )

    ex.request_export(ddb, s3, req(1), max_concurrent=1)
    with pytest.raises(ex.ExportThrottledError, match="max_concurrent_exports"):
        ex.request_export(
            ddb, s3, req(2), max_concurrent=1, wait_for_slot_seconds=0, sleep=lambda s: None
        )
    waited = []
    out = ex.request_export(
        ddb,
        s3,
        req(2),
        max_concurrent=1,
        poll_seconds=0.5,
        sleep=lambda s: (waited.append(s), __import__("time").sleep(s)),
    )
    assert waited and out.export.status == "IN_PROGRESS"


def test_a_normal_tick_costs_one_call_per_pending_export(env):
    name = make_table(env)
    cfg = config_for(name)
    ddb = env.client("dynamodb")
    with dg.instance_for_test() as instance:
        for d in (1, 2, 3, 4):
            request(cfg, yesterday(d), instance)
        o, _ = tick_until(instance, cfg, ddb, want=lambda o: len(o.events) == 4)
        request(cfg, yesterday(5), instance)  # one pending export, four in history
        o = evaluate_tick(instance, o.cursor, cfg, ddb)
        assert o.pending == 1 and o.api_calls == 1
        # A reconciliation tick (fresh cursor) describes no export the event log already
        # settled: DescribeTable + one ListExports page + the one pending DescribeExport.
        o = evaluate_tick(instance, None, cfg, ddb)
        assert o.pending == 1 and o.api_calls == 3


def test_the_sensor_definition_returns_a_sensor_result(env):
    import time

    from ddb_assets.sensors import build_export_sensor

    name = make_table(env)
    cfg = config_for(name)
    sensor = build_export_sensor(cfg)
    assert sensor.minimum_interval_seconds <= 30
    env.configure(export_seconds=4.0)
    try:
        with dg.instance_for_test() as instance:
            request(cfg, yesterday(), instance)
            ctx = dg.build_sensor_context(instance=instance, resources={"aws": AwsResource()})
            first = sensor(ctx)
            assert isinstance(first, dg.SensorResult) and first.skip_reason is not None
            assert "exports in progress: " in first.skip_reason.skip_message
            cursor, deadline = first.cursor, time.monotonic() + 60
            while True:
                time.sleep(0.5)
                ctx = dg.build_sensor_context(
                    instance=instance, cursor=cursor, resources={"aws": AwsResource()}
                )
                result = sensor(ctx)
                cursor = result.cursor
                if result.run_requests or time.monotonic() > deadline:
                    break
            assert result.asset_events == []
            assert result.run_requests[0].run_key.startswith("load:arn:aws:dynamodb:")
            apply(instance, SimpleNamespace(events=[], runs=result.run_requests))
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"aws": AwsResource()}
            )
            result = sensor(ctx)  # the load run exists: the export is reported, nothing else
            assert [type(e) for e in result.asset_events] == [dg.AssetMaterialization]
            assert result.skip_reason and "COMPLETED" in result.skip_reason.skip_message
    finally:
        env.configure(export_seconds=1.0)


def test_export_conflict_is_reported_with_the_fix(env):
    import dataclasses
    from datetime import date

    name = make_table(env)
    ddb, s3 = env.client("dynamodb"), env.client("s3")
    req = ex.ExportRequest.for_partition(
        table_name=name,
        sql_name=name,
        partition=date.fromisoformat(yesterday()),
        tz=TZ,
        s3_bucket="exports-bucket",
        base_prefix="exp",
        export_format="DYNAMODB_JSON",
    )
    ex.request_export(ddb, s3, req)
    # The same ClientToken with other parameters (here the format) inside 8 hours.
    clash = dataclasses.replace(req, export_format="ION")
    with pytest.raises(ex.ExportConflictError, match="force: true") as exc:
        ex.request_export(ddb, s3, clash, force=True)
    assert exc.value.code == "ExportConflictException" and exc.value.retryable
