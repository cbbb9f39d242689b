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
        "athena/sushi_orders/table",
        "summaries/menu_daily_quantity",
    } <= keys
    graph = defs.resolve_asset_graph()
    summary = dg.AssetKey(["summaries", "menu_daily_quantity"])
    table = dg.AssetKey(["athena", "sushi_orders", "table"])
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
    # The lateness check on every export, DynamoDB's and RDS's, one result per day.
    lateness = [c for c in defs.asset_checks or [] if "export_on_time" in str(c.check_keys)]
    assert {next(iter(c.check_keys)).asset_key.path[0] for c in lateness} == {"dynamodb", "rds"}
    for c in lateness:
        assert next(iter(c.check_specs)).partitions_def is not None


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
    assert {"athena", "s3"} <= graph.get(dg.AssetKey(["athena", "a", "table"])).kinds
    duck = build_definitions(parse_config({**raw, "tables": [{"name": "a", "s3_bucket": "bkt"}]}))
    assert isinstance(duck.resources["engine"], DuckDBEngine)
    assert "duckdb" in duck.resolve_asset_graph().get(dg.AssetKey(["summaries", "s"])).kinds


def test_node_labels_say_what_each_asset_is():
    """The Dagster UI labels a graph node with the key's last part only: in each group the
    labels are distinct and none repeats the group's name (``athena/T/table``, not ``athena/T``)."""
    defs = build_definitions(load_config(ROOT / "ddb_assets.yaml"), env="local")
    graph = defs.resolve_asset_graph()
    by_group: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        by_group.setdefault(graph.get(key).group_name, []).append(key.path[-1])
    for group, labels in by_group.items():
        assert len(labels) == len(set(labels)), (group, labels)
        assert group not in labels, (group, labels)
    assert sorted(by_group["sushi_orders"]) == ["export", "export_request", "table"]


def test_a_load_recorded_under_the_old_table_key_still_proves_it(tmp_path):
    """After the rename (``athena/T`` -> ``athena/T/table``) the sensor and ``refresh`` still
    count a load recorded under the old key, so no export is loaded a second time."""
    from datetime import datetime, timedelta, timezone

    from ddb_assets.assets.keys import legacy_table_key, table_key
    from ddb_assets.runner import _loaded_from
    from ddb_assets.sensors import Settled, load_state

    cfg = load_config(ROOT / "ddb_assets.yaml")
    t = cfg.tables[0]
    arn = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/sushi_orders/export/01700000000000-0000000a"
    assert legacy_table_key(t) == dg.AssetKey(["athena", t.name])
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        since = datetime.now(timezone.utc) - timedelta(minutes=5)
        assert load_state(instance, t, "2026-12-01", arn).proven_by is None
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=legacy_table_key(t), partition="2026-12-01", metadata={"export_arn": arn}
            )
        )
        assert load_state(instance, t, "2026-12-01", arn).proven_by == "materialization"
        assert _loaded_from(instance, t, "2026-12-01", arn)
        assert arn in Settled.read(instance, t, since).loaded
        assert not instance.fetch_materializations(table_key(t), limit=1).records


def test_the_table_shows_its_known_columns_before_any_load():
    """``dagster/column_schema`` in the table's definition: ``snapshot_date`` and the
    attributes the config types (under their load names), nothing invented; a load's
    materialization then carries the real schema, ``snapshot_date`` included."""
    from ddb_assets.assets.tables import declared_schema
    from ddb_assets.config import parse_config

    cfg = parse_config(
        {
            "tables": [
                {
                    "name": "orders",
                    "s3_bucket": "bkt",
                    "columns": {
                        "Order Time": {"type": "timestamp"},
                        "amount": {"type": "decimal(10,2)", "rename": "amount_jpy"},
                        "blob": {"drop": True},
                        "Customer Name": {"rename": "customer_name"},
                    },
                }
            ]
        }
    )
    schema = declared_schema(cfg.tables[0])
    assert [(c.name, c.type) for c in schema.columns] == [
        ("order_time", "timestamp"),
        ("amount_jpy", "decimal(10,2)"),
        ("snapshot_date", "date"),
    ]
    defs = build_definitions(load_config(ROOT / "ddb_assets.yaml"), env="local")
    table = defs.resolve_assets_def(dg.AssetKey(["athena", "sushi_orders", "table"]))
    md = table.specs_by_key[dg.AssetKey(["athena", "sushi_orders", "table"])].metadata
    assert [c.name for c in md["dagster/column_schema"].columns] == ["snapshot_date"]
