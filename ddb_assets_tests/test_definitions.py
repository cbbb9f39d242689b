"""The code location loads cleanly and has the documented shape."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg

from ddb_assets.config import load_config
from ddb_assets.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_without_warnings_and_have_the_asset_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        defs = build_definitions(load_config(ROOT / "ddb_assets.yaml"), env="local")
        dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {
        "dynamodb/sushi_orders/export_request",
        "dynamodb/sushi_orders/export",
        "athena/sushi_orders",
        "summaries/menu_daily_quantity",
    } <= keys
    graph = defs.resolve_asset_graph()
    summary = dg.AssetKey(["summaries", "menu_daily_quantity"])
    table = dg.AssetKey(["athena", "sushi_orders"])
    assert table in graph.get(summary).parent_keys
    export = dg.AssetKey(["dynamodb", "sushi_orders", "export"])
    request = dg.AssetKey(["dynamodb", "sushi_orders", "export_request"])
    assert graph.get(table).parent_keys == {export}
    assert graph.get(export).parent_keys == {request}
    # The request is what runs materialize; the completed export is reported by the sensor.
    assert graph.get(request).is_executable and not graph.get(export).is_executable
    for key in (request, export, table, summary):
        node = graph.get(key)
        assert node.owners, key  # owners on every asset (defaults from the config)
    for key in (request, export, table, summary):
        assert graph.get(key).freshness_policy is not None, key
    # The table's Overview shows its name and URI before any load (definition metadata).
    md = graph.get(table).metadata
    assert md["dagster/table_name"] == "sushi.sushi_orders"
    assert "sushi_orders" in str(md["dagster/uri"])
    assert defs.resolve_sensor_def("dynamodb_export_sensor").minimum_interval_seconds <= 30
    sched = defs.resolve_schedule_def("sushi_orders_daily_export")
    assert sched.cron_schedule == "0 4 * * *" and sched.execution_timezone == "Asia/Tokyo"
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"row_count_matches_export", "data_files_match_manifest", "schema_drift"} <= checks
    assert {"export_on_time", "row_count_gt_0", "unique_order_date_menu"} <= checks
    # Per-day check results: the table's and the export's checks are partitioned.
    specs = {
        spec.key: spec
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for spec in a.check_specs
    }
    for ck in defs.resolve_asset_graph().asset_check_keys:
        if ck.asset_key == table:
            assert specs[ck].partitions_def is not None, ck
    [lateness] = [c for c in defs.asset_checks or [] if "export_on_time" in str(c.check_keys)]
    assert next(iter(lateness.check_specs)).partitions_def is not None


def test_dagster_cli_validates_the_workspace():
    env = {**os.environ, "DDB_ASSETS_CONFIG": str(ROOT / "ddb_assets.yaml")}
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "All code locations passed validation" in out.stderr + out.stdout
    ours = [
        line
        for line in (out.stderr + out.stdout).splitlines()
        if "Warning" in line and "ddb_assets" in line
    ]
    assert ours == []


def test_the_daily_schedule_requests_yesterdays_partition_in_the_table_time_zone():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    defs = build_definitions(load_config(ROOT / "ddb_assets.yaml"), env="local")
    sched = defs.resolve_schedule_def("sushi_orders_daily_export")
    # 04:00 in Tokyo on the 23rd is 19:00 UTC on the 22nd: the partition is the 22nd.
    tick = datetime(2026, 11, 23, 4, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    ctx = dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    )
    [req] = sched.evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-11-22"


def test_the_engine_is_one_resource_chosen_from_the_tables_engine(tmp_path):
    """The engine is the ``engine`` resource, chosen once from the config, on the
    environment's resources as replaced; the summaries run on the tables' engine even when
    ``defaults.engine`` says otherwise (a table's own engine is respected everywhere)."""
    from ddb_assets.config import parse_config
    from ddb_assets.engines import AthenaEngine, DuckDBEngine
    from ddb_assets.resources import AthenaResource

    (tmp_path / "s.sql").write_text("SELECT count(*) AS n FROM a")
    raw = {
        "summaries_dir": str(tmp_path),
        "typed_s3_uri": "s3://bkt/typed/",
        "summaries_s3_uri": "s3://bkt/summaries/",
        "tables": [{"name": "a", "s3_bucket": "bkt", "engine": "athena"}],
    }
    athena = AthenaResource(region_name="eu-west-1")
    defs = build_definitions(parse_config(raw), env="local", resources={"athena": athena})
    engine = defs.resources["engine"]
    assert isinstance(engine, AthenaEngine) and engine.athena is athena
    assert engine.typed_s3_uri == "s3://bkt/typed/"
    graph = defs.resolve_asset_graph()
    assert "athena" in graph.get(dg.AssetKey(["summaries", "s"])).kinds
    assert {"athena", "s3"} <= graph.get(dg.AssetKey(["athena", "a"])).kinds
    duck = build_definitions(parse_config({**raw, "tables": [{"name": "a", "s3_bucket": "bkt"}]}))
    assert isinstance(duck.resources["engine"], DuckDBEngine)
    assert "duckdb" in duck.resolve_asset_graph().get(dg.AssetKey(["summaries", "s"])).kinds
