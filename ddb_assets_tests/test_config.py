import textwrap

import pytest

from ddb_assets.config import ConfigError, load_config, parse_config


def test_defaults_fill_each_table():
    cfg = parse_config(
        {
            "defaults": {"engine": "athena", "athena": {"database": "analytics"}},
            "typed_s3_uri": "s3://my-exports/typed/",
            "tables": [{"name": "orders", "s3_bucket": "my-exports"}],
        }
    )
    t = cfg.tables[0]
    assert cfg.engine_for(t) == "athena"
    assert cfg.athena_for(t).database == "analytics"
    assert t.schedule.cron == "0 4 * * *" and t.schedule.timezone == "Asia/Tokyo"
    assert t.export_format == "DYNAMODB_JSON" and t.source_table == "orders"


@pytest.mark.parametrize(
    "table, field, fix",
    [
        ({"name": "Orders Table", "s3_bucket": "b-1"}, "tables.0.name", "orders_table"),
        ({"name": "o"}, "tables.0.s3_bucket", "add it"),
        ({"name": "o", "s3_bucket": "s3://b/p"}, "tables.0.s3_bucket", "bucket name only"),
        (
            {"name": "o", "s3_bucket": "bkt", "export_format": "CSV"},
            "tables.0.export_format",
            "DYNAMODB_JSON",
        ),
        (
            {"name": "o", "s3_bucket": "bkt", "schedule": {"cron": "daily"}},
            "tables.0.schedule.cron",
            "0 4 * * *",
        ),
        (
            {"name": "o", "s3_bucket": "bkt", "schedule": {"timezone": "Tokyo"}},
            "tables.0.schedule.timezone",
            "Asia/Tokyo",
        ),
        ({"name": "o", "s3_bucket": "bkt", "engine": "spark"}, "tables.0.engine", "duckdb"),
        (
            {"name": "o", "s3_bucket": "bkt", "columns": {"ts": {"type": "datetime"}}},
            "tables.0.columns.ts.type",
            "timestamp",
        ),
        ({"name": "o", "s3_bucket": "bkt", "s3_buckett": "x"}, "tables.0.s3_buckett", "spelling"),
        ({"name": "orders__files", "s3_bucket": "bkt"}, "tables.0.name", "'orders_files'"),
        (
            {"name": "orders__snapshots", "s3_bucket": "bkt"},
            "tables.0.name",
            "typed tables of 'orders'",
        ),
    ],
)
def test_invalid_config_names_the_field_and_the_fix(table, field, fix):
    with pytest.raises(ConfigError) as exc:
        parse_config({"tables": [table]})
    assert field in str(exc.value) and fix in str(exc.value)


def test_duplicate_and_empty_tables_are_refused():
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config(
            {"tables": [{"name": "a", "s3_bucket": "bkt"}, {"name": "a", "s3_bucket": "bkt"}]}
        )
    with pytest.raises(ConfigError, match="at least one table"):
        parse_config({"tables": []})


def test_load_config_from_env_var(tmp_path, monkeypatch):
    p = tmp_path / "conf.yaml"
    p.write_text(
        textwrap.dedent("""
        warehouse: wh/warehouse.duckdb
        tables:
          - name: orders
            s3_bucket: bkt
    """)
    )
    monkeypatch.setenv("DDB_ASSETS_CONFIG", str(p))
    cfg = load_config()
    assert cfg.warehouse_path() == tmp_path / "wh" / "warehouse.duckdb"
    monkeypatch.setenv("DDB_ASSETS_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="DDB_ASSETS_CONFIG"):
        load_config()
    p.write_text("tables: [")
    monkeypatch.setenv("DDB_ASSETS_CONFIG", str(p))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config()


def test_ion_on_athena_is_accepted():
    cfg = parse_config(
        {
            "typed_s3_uri": "s3://bkt/typed/",
            "tables": [
                {"name": "o", "s3_bucket": "bkt", "engine": "athena", "export_format": "ION"}
            ],
        }
    )
    assert cfg.tables[0].export_format == "ION" and cfg.engine_for(cfg.tables[0]) == "athena"
    parse_config({"tables": [{"name": "o", "s3_bucket": "bkt", "export_format": "ION"}]})


def test_athena_engine_without_typed_s3_uri_is_refused_with_the_fix():
    with pytest.raises(
        ConfigError, match="typed_s3_uri: table 'o' runs on the athena engine.*set it, e.g."
    ):
        parse_config({"tables": [{"name": "o", "s3_bucket": "bkt", "engine": "athena"}]})
    parse_config({"tables": [{"name": "o", "s3_bucket": "bkt"}]})  # duckdb needs none


@pytest.mark.parametrize("order", ["incremental first", "incremental last"])
@pytest.mark.parametrize("derived", ["orders_current", "orders_changes"])
def test_a_table_named_like_another_tables_change_history_is_refused(order, derived):
    """An incremental table ``orders`` writes ``orders_current`` and ``orders_changes`` (and
    their asset keys): a configured table of either name would collide with them (Dagster's
    ``Duplicate asset key`` at best). Refused at load, naming the table's field and the fix."""
    tables = [
        {"name": "orders", "s3_bucket": "bkt", "incremental": {"enabled": True}},
        {"name": derived, "s3_bucket": "bkt"},
    ]
    if order == "incremental last":
        tables.reverse()
    with pytest.raises(ConfigError) as exc:
        parse_config({"tables": tables})
    field = f"tables.{tables.index({'name': derived, 's3_bucket': 'bkt'})}.name"
    lines = str(exc.value).splitlines()
    assert len(lines) == 2 and field in lines[1] and "give this table another name" in lines[1]
    assert repr(derived) in lines[1] and "incremental table 'orders'" in lines[1]


def test_the_same_names_are_fine_without_change_history():
    cfg = parse_config(
        {
            "tables": [
                {"name": "orders", "s3_bucket": "bkt"},
                {"name": "orders_current", "s3_bucket": "bkt"},
            ]
        }
    )
    assert [t.name for t in cfg.tables] == ["orders", "orders_current"]
    assert "orders_current" in cfg.occupied_names() and "orders_changes" not in cfg.occupied_names()


@pytest.mark.parametrize(
    "name, fix",
    [
        ("orders__chain", "'orders_chain'"),
        ("orders__history", "'orders_history'"),
        ("orders__ctas_x", "'orders_ctas_x'"),
    ],
)
def test_names_the_engines_derive_are_refused_as_table_names(name, fix):
    with pytest.raises(ConfigError) as exc:
        parse_config({"tables": [{"name": name, "s3_bucket": "bkt"}]})
    assert "tables.0.name" in str(exc.value) and fix in str(exc.value)


def test_derived_names_come_from_one_place():
    """The asset keys and the engines use ddb_assets.table_names: the keys of an incremental
    table's history are the derived names the config reserves."""
    from ddb_assets import table_names
    from ddb_assets.assets.incremental import changes_key, current_key
    from ddb_assets.incremental.duckdb_chain import Names

    cfg = parse_config(
        {"tables": [{"name": "orders", "s3_bucket": "bkt", "incremental": {"enabled": True}}]}
    )
    t = cfg.tables[0]
    occupied = cfg.occupied_names()
    assert changes_key(t).path[-1] in occupied and current_key(t).path[-1] in occupied
    n = Names("s", "orders")
    for name in (n.changes, n.current, n.ledger, n.plan):
        assert name.split(".")[-1].strip('"') in occupied
    assert table_names.snapshots("orders") in occupied


def test_mixed_engines_are_refused_with_the_field_and_the_fix():
    """Summaries read the tables together and the engine is one Dagster resource: a table
    whose own engine differs from the others' is refused, not silently overridden."""
    with pytest.raises(ConfigError) as exc:
        parse_config(
            {
                "typed_s3_uri": "s3://bkt/typed/",
                "tables": [
                    {"name": "a", "s3_bucket": "bkt"},
                    {"name": "b", "s3_bucket": "bkt", "engine": "athena"},
                ],
            }
        )
    (line,) = str(exc.value).splitlines()[1:]
    assert "tables.1.engine" in line and "'b' runs on 'athena'" in line
    assert "defaults.engine: athena" in line and "one engine" in line


def test_a_tables_own_engine_is_the_projects_engine_summaries_included():
    cfg = parse_config(
        {
            "typed_s3_uri": "s3://bkt/typed/",
            "tables": [{"name": "a", "s3_bucket": "bkt", "engine": "athena"}],
        }
    )
    assert cfg.defaults.engine == "duckdb" and cfg.engine == "athena"
