"""Benchmarks on the local AWS stack (moto on loopback): freshness and sensor tick cost.

Both run in a child process (:mod:`bench.child`): moto's backends are process-global and
the project's resources read ``AWS_ENDPOINT_URL`` from the environment.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo


def _set_env(stack) -> None:
    os.environ.update(stack.env())
    os.environ["DDB_ASSETS_ENV"] = "local"


# --- 3. freshness -----------------------------------------------------------------------


def fixed_wait_latency(export_seconds: float, wait: float, poll: float = 60.0) -> float:
    """Seconds from COMPLETED to noticed for a Step Functions chain that waits ``wait``
    seconds after the request, then polls every ``poll`` seconds (analytical)."""
    if export_seconds <= wait:
        noticed = wait
    else:
        noticed = wait + poll * math.ceil((export_seconds - wait) / poll)
    return noticed - export_seconds


def freshness(args: dict) -> dict:
    """run_chain (the real sensor tick logic at interval I) on the local stack; per trial:
    export duration, seconds from COMPLETED to the export being noticed, and to the summary
    being refreshed."""
    import boto3
    import dagster as dg

    from ddb_assets.assets.keys import export_key
    from ddb_assets.cli import demo_config
    from ddb_assets.config import SensorConfig
    from ddb_assets.definitions import build_definitions
    from ddb_assets.local import LocalAWS, create_sample_table
    from ddb_assets.runner import run_chain

    intervals = args["intervals"]
    trials = args["trials"]
    base = args["export_seconds"]
    out = {"trials": []}
    with (
        tempfile.TemporaryDirectory(prefix="ddb_bench_fresh_") as tmp,
        LocalAWS(export_seconds=base) as stack,
    ):
        _set_env(stack)
        cfg = demo_config(Path(tmp))
        t = cfg.tables[0]
        ddb = boto3.client("dynamodb")
        boto3.client("s3").create_bucket(Bucket=t.s3_bucket)
        now = datetime.now(timezone.utc)
        stack.set_now(now - timedelta(days=len(intervals) * trials + 3))
        create_sample_table(
            ddb,
            table_name=t.source_table,
            n_items=args.get("items", 3000),
            days=3,
            now=now - timedelta(days=1, hours=1),
        )
        stack.reset_clock()
        today = datetime.now(ZoneInfo(t.schedule.timezone)).date()
        k = 0
        with dg.instance_for_test() as instance:
            for interval in intervals:
                c = cfg.model_copy(
                    update={"sensor": SensorConfig(interval_seconds=max(5, int(interval)))}
                )
                defs = build_definitions(c, env="local")
                summary_key = [
                    key for key in defs.resolve_all_asset_keys() if key.path[0] == "summaries"
                ][0]
                for j in range(trials):
                    k += 1
                    # Spread the completion over the tick period: export_seconds = base + j/trials * I.
                    e = base + interval * j / trials
                    stack.configure(export_seconds=e)
                    partition = (today - timedelta(days=k)).isoformat()
                    t0 = time.time()
                    report = run_chain(
                        defs,
                        c,
                        instance,
                        table=t.name,
                        partitions=[partition],
                        poll_seconds=interval,
                        ddb=ddb,
                        log=lambda s: None,
                    )
                    wall = time.time() - t0
                    mat = instance.fetch_materializations(
                        dg.AssetRecordsFilter(
                            asset_key=export_key(t), asset_partitions=[partition]
                        ),
                        limit=1,
                    ).records[0]
                    md = mat.asset_materialization.metadata
                    end = datetime.fromisoformat(md["end_time"].value)
                    start = datetime.fromisoformat(md["start_time"].value)
                    summ = instance.fetch_materializations(
                        dg.AssetRecordsFilter(asset_key=summary_key), limit=1
                    ).records[0]
                    latency = summ.timestamp - end.timestamp()
                    noticed = mat.timestamp - end.timestamp()
                    out["trials"].append(
                        {
                            "interval": interval,
                            "export_seconds": (end - start).total_seconds(),
                            "noticed_after": noticed,
                            "summary_after": latency,
                            "processing": latency - noticed,
                            "ticks": report.ticks,
                            "wall": wall,
                        }
                    )
    return out


# --- 4. sensor tick ---------------------------------------------------------------------


class CallCounter:
    """Counts DynamoDB API calls made through a boto3 client (botocore's before-call)."""

    def __init__(self, client):
        self.calls: dict[str, int] = {}
        client.meta.events.register("before-call.dynamodb.*", self._on)

    def _on(self, model, **_):
        self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> dict[str, int]:
        c, self.calls = self.calls, {}
        return c


def naive_tick(ddb) -> int:
    """The naive design: page ListExports through the whole history, DescribeExport each."""
    token, n = None, 0
    while True:
        page = ddb.list_exports(MaxResults=25, **({"NextToken": token} if token else {}))
        for s in page.get("ExportSummaries", []):
            ddb.describe_export(ExportArn=s["ExportArn"])
            n += 1
        token = page.get("NextToken")
        if not token:
            return n


def sensor_tick(args: dict) -> dict:
    """100 tables, 1,000 completed exports in history (reported in the event log), 5
    pending: API calls and seconds of a normal tick, a reconciliation tick (fresh cursor)
    and the naive design's tick, on the same stack and Dagster instance."""
    import boto3
    import dagster as dg

    from ddb_assets.assets.exports import build_export_request_asset
    from ddb_assets.assets.keys import export_key, table_key
    from ddb_assets.config import parse_config
    from ddb_assets.dynamodb.exports import client_token, partition_export_time, partition_prefix
    from ddb_assets.local import LocalAWS
    from ddb_assets.resources import AwsResource
    from ddb_assets.sensors import evaluate_tick

    n_tables, history, n_pending = args["tables"], args["history"], args["pending"]
    per_table = -(-history // n_tables)
    tz = "Asia/Tokyo"
    repeats = args.get("repeats", 5)
    out: dict = {"tables": n_tables}
    with LocalAWS(export_seconds=0) as stack, dg.instance_for_test() as instance:
        _set_env(stack)
        ddb = boto3.client("dynamodb")
        boto3.client("s3").create_bucket(Bucket="bench-exports")
        real_now = datetime.now(timezone.utc)
        today = datetime.now(ZoneInfo(tz)).date()
        names = [f"bench_t{i:03d}" for i in range(n_tables)]
        cfg = parse_config(
            {
                "sensor": {"interval_seconds": 30},
                "tables": [
                    {
                        "name": n,
                        "s3_bucket": "bench-exports",
                        "s3_prefix": "exp",
                        "partitions_start": (today - timedelta(days=per_table + 5)).isoformat(),
                        "schedule": {"timezone": tz},
                    }
                    for n in names
                ],
            }
        )
        t0 = time.perf_counter()
        stack.set_now(real_now - timedelta(days=per_table + 4))
        arns: dict[str, str] = {}
        for n in names:
            d = ddb.create_table(
                TableName=n,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            )
            arns[n] = d["TableDescription"]["TableArn"]
            ddb.update_continuous_backups(
                TableName=n, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        # History: one daily export per table, oldest first, each requested an hour after its
        # ExportTime on the stack's clock (so ExportIds carry realistic start times).
        made = 0
        done: list[tuple[str, str, str]] = []
        for back in range(per_table + 1, 1, -1):
            day = today - timedelta(days=back)
            et = partition_export_time(day, tz)
            stack.set_now(et + timedelta(hours=1))
            for n in names:
                if made >= history:
                    break
                r = ddb.export_table_to_point_in_time(
                    TableArn=arns[n],
                    ExportTime=et,
                    S3Bucket="bench-exports",
                    S3Prefix=partition_prefix("exp", n, day),
                    ExportFormat="DYNAMODB_JSON",
                    ClientToken=client_token(n, day.isoformat(), "bench"),
                )
                done.append((n, day.isoformat(), r["ExportDescription"]["ExportArn"]))
                made += 1
        stack.reset_clock()
        for _, _, arn in done:
            stack.wait_for_export(arn, timeout=60)
        out["setup_history_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        by_name = {t.name: t for t in cfg.tables}
        for n, day, arn in done:  # reported and loaded, as the sensor and its loads would have
            for key in (export_key(by_name[n]), table_key(by_name[n])):
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(
                        asset_key=key, partition=day, metadata={"export_arn": arn}
                    )
                )
        out["setup_event_log_seconds"] = time.perf_counter() - t1
        # Pending: requested through the request asset (its run records the ExportArn).
        stack.configure(export_seconds=3600)
        yday = (today - timedelta(days=1)).isoformat()
        for n in names[:n_pending]:
            dg.materialize(
                [build_export_request_asset(cfg, by_name[n])],
                partition_key=yday,
                instance=instance,
                resources={"aws": AwsResource()},
            )
        out["history_exports"] = len(done)
        out["pending"] = min(n_pending, len(names))

        counter = CallCounter(ddb)
        recon = []
        cursor = None
        for _ in range(max(1, repeats // 2)):
            s = time.perf_counter()
            o = evaluate_tick(instance, None, cfg, ddb)
            recon.append(
                {
                    "seconds": time.perf_counter() - s,
                    "api_calls": o.api_calls,
                    "counted": counter.total(),
                    "by_op": counter.reset(),
                    "pending": o.pending,
                }
            )
            cursor = o.cursor
        normal = []
        for _ in range(repeats):
            s = time.perf_counter()
            o = evaluate_tick(instance, cursor, cfg, ddb)
            normal.append(
                {
                    "seconds": time.perf_counter() - s,
                    "api_calls": o.api_calls,
                    "counted": counter.total(),
                    "by_op": counter.reset(),
                    "pending": o.pending,
                }
            )
            cursor = o.cursor
        naive = []
        for _ in range(max(1, repeats // 2)):
            s = time.perf_counter()
            naive_tick(ddb)
            naive.append(
                {
                    "seconds": time.perf_counter() - s,
                    "counted": counter.total(),
                    "by_op": counter.reset(),
                }
            )
        out["reconcile"], out["normal"], out["naive"] = recon, normal, naive
        out["median"] = {
            k: statistics.median(r["seconds"] for r in v)
            for k, v in (("reconcile", recon), ("normal", normal), ("naive", naive))
        }
    return out
