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


def test_ion_on_athena_is_refused_with_the_fix():
    with pytest.raises(
        ConfigError, match="tables.0.export_format: ION exports cannot be typed on the athena"
    ):
        parse_config(
            {
                "tables": [
                    {"name": "o", "s3_bucket": "bkt", "engine": "athena", "export_format": "ION"}
                ]
            }
        )
    parse_config({"tables": [{"name": "o", "s3_bucket": "bkt", "export_format": "ION"}]})


def test_athena_engine_without_typed_s3_uri_is_refused_with_the_fix():
    with pytest.raises(
        ConfigError, match="typed_s3_uri: table 'o' runs on the athena engine.*set it, e.g."
    ):
        parse_config({"tables": [{"name": "o", "s3_bucket": "bkt", "engine": "athena"}]})
    parse_config({"tables": [{"name": "o", "s3_bucket": "bkt"}]})  # duckdb needs none
