"""Backfills on the local stack: each past day exports with its own ExportTime, and its
snapshot holds exactly the items that existed at the end of that day."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
import yaml
from boto3.dynamodb.types import TypeSerializer

from ddb_assets.cli import main
from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.runner import run_chain
from ddb_assets_tests.ddb_tables import create_pitr_table

TZ = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def stack(local_env):
    local_env.client("s3").create_bucket(Bucket="backfill-bucket")
    return local_env


def write_history(stack, name, days):
    """Day i (oldest first) at noon Tokyo: put item d<i>, update 'counter', delete d<i-2>."""
    ddb = stack.client("dynamodb")
    ser = TypeSerializer()
    first = days[0]
    stack.set_now(datetime.combine(first - timedelta(days=1), time(9), TZ))
    create_pitr_table(ddb, name)
    for i, day in enumerate(days):
        stack.set_now(datetime.combine(day, time(12), TZ))
        ddb.put_item(
            TableName=name,
            Item={"pk": ser.serialize(f"d{i}"), "day": ser.serialize(day.isoformat())},
        )
        ddb.put_item(TableName=name, Item={"pk": ser.serialize("counter"), "n": ser.serialize(i)})
        if i >= 2:
            ddb.delete_item(TableName=name, Key={"pk": ser.serialize(f"d{i - 2}")})
    stack.reset_clock()


def expected(i):
    """Keys and counter value at the end of day i."""
    keys = {f"d{j}" for j in range(i + 1) if j > i - 2} | {"counter"}
    return keys, i


def test_backfill_of_three_days_shows_each_days_data(stack, tmp_path):
    today = datetime.now(TZ).date()
    days = [today - timedelta(days=k) for k in (4, 3, 2)]
    write_history(stack, "orders_bf", days)
    cfg = parse_config(
        {
            "warehouse": str(tmp_path / "wh.duckdb"),
            "summaries_dir": None,
            "defaults": {"athena": {"database": "bf"}},
            "tables": [
                {
                    "name": "orders_bf",
                    "s3_bucket": "backfill-bucket",
                    "partitions_start": (today - timedelta(days=10)).isoformat(),
                    "max_concurrent_exports": 2,
                }
            ],
        }
    )
    defs = build_definitions(cfg, env="local")
    with dg.instance_for_test() as instance:
        report = run_chain(
            defs,
            cfg,
            instance,
            table="orders_bf",
            partitions=[d.isoformat() for d in days],
            poll_seconds=0.3,
            log=lambda *_: None,
        )
        assert sorted(report.loaded) == sorted(d.isoformat() for d in days)
        times = set()
        for d in days:
            rec = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(["dynamodb", "orders_bf", "export"]),
                    asset_partitions=[d.isoformat()],
                ),
                limit=1,
            ).records[0]
            times.add(rec.asset_materialization.metadata["export_time"].value)
        assert len(times) == 3  # each partition exported with its own ExportTime
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    for i, d in enumerate(days):
        rows = con.execute(
            'SELECT pk, n FROM "bf"."orders_bf__snapshots" WHERE snapshot_date = ?', [d]
        ).fetchall()
        keys, counter = expected(i)
        assert {r[0] for r in rows} == keys, d
        assert [r[1] for r in rows if r[0] == "counter"] == [counter]
    # The latest view is the newest snapshot.
    latest = {r[0] for r in con.execute('SELECT pk FROM "bf"."orders_bf"').fetchall()}
    assert latest == expected(2)[0]


def test_refresh_cli_backfills_a_range_and_fails_loudly(stack, tmp_path, capsys):
    today = datetime.now(TZ).date()
    days = [today - timedelta(days=k) for k in (3, 2)]
    write_history(stack, "orders_cli", days)
    conf = tmp_path / "ddb_assets.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "warehouse": "wh.duckdb",
                "summaries_dir": None,
                "tables": [
                    {
                        "name": "orders_cli",
                        "s3_bucket": "backfill-bucket",
                        "partitions_start": (today - timedelta(days=10)).isoformat(),
                    }
                ],
            }
        )
    )
    rc = main(
        [
            "refresh",
            "--table",
            "orders_cli",
            "--from",
            days[0].isoformat(),
            "--to",
            days[1].isoformat(),
            "--config",
            str(conf),
            "--dagster-home",
            str(tmp_path / "home"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert days[0].isoformat() in capsys.readouterr().out
    # A day before PITR was enabled cannot be exported: exit 1 with the reason.
    rc = main(
        [
            "refresh",
            "--table",
            "orders_cli",
            "--partition",
            (today - timedelta(days=8)).isoformat(),
            "--config",
            str(conf),
            "--dagster-home",
            str(tmp_path / "home"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "not exportable" in err
    rc = main(["refresh", "--table", "nope", "--config", str(conf)])
    assert rc == 2 and "no table named 'nope'" in capsys.readouterr().err
