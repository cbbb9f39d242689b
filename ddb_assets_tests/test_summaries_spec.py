from pathlib import Path

import pytest

from ddb_assets.summaries import SummaryError, load_summaries, parse_header

KNOWN = {"orders", "users"}


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


def test_header_and_deps_with_database_qualified_refs(tmp_path):
    write(
        tmp_path,
        "daily_sales.sql",
        "-- description: Sales per day\n-- owners: a@x.com, team-b\n"
        "-- freshness_hours: 26\n\nWITH o AS (SELECT * FROM shop.orders)\n"
        "SELECT o.id, u.name FROM o JOIN users u ON o.uid = u.uid;\n",
    )
    write(tmp_path, "top_users.sql", "SELECT name FROM shop.daily_sales LIMIT 3")
    specs = load_summaries(tmp_path, KNOWN, "shop")
    assert [s.name for s in specs] == ["daily_sales", "top_users"]  # dependencies first
    daily, top = specs
    assert daily.description == "Sales per day"
    assert daily.owners == ("a@x.com", "team-b")
    assert daily.freshness_hours == 26.0
    assert daily.deps == ("orders", "users")
    assert not daily.sql.endswith(";")
    assert top.deps == ("daily_sales",)


def test_unknown_table_names_file_line_and_known_tables(tmp_path):
    write(tmp_path, "s.sql", "-- description: x\nSELECT *\nFROM orders\nJOIN ordres USING (id)")
    with pytest.raises(SummaryError) as err:
        load_summaries(tmp_path, KNOWN, "shop")
    assert 's.sql line 4: unknown table "ordres"' in str(err.value)
    assert "known tables: orders, s, users" in str(err.value)


def test_other_database_is_unknown(tmp_path):
    write(tmp_path, "s.sql", "SELECT * FROM otherdb.orders")
    with pytest.raises(SummaryError, match=r's.sql line 1: unknown table "otherdb.orders"'):
        load_summaries(tmp_path, KNOWN, "shop")


def test_parse_error_names_file(tmp_path):
    write(tmp_path, "broken.sql", "SELECT id FROM orders WHERE (")
    with pytest.raises(SummaryError, match=r"broken.sql line 1: cannot parse as Athena SQL"):
        load_summaries(tmp_path, KNOWN, "shop")


def test_not_a_select_and_two_statements(tmp_path):
    write(tmp_path, "d.sql", "DELETE FROM orders")
    with pytest.raises(SummaryError, match="d.sql line 1: expected a SELECT"):
        load_summaries(tmp_path, KNOWN, "shop")
    (tmp_path / "d.sql").write_text("SELECT 1; SELECT 2")
    with pytest.raises(SummaryError, match="exactly one SELECT"):
        load_summaries(tmp_path, KNOWN, "shop")


def test_cycle_between_summaries(tmp_path):
    write(tmp_path, "a.sql", "SELECT * FROM b")
    write(tmp_path, "b.sql", "SELECT * FROM shop.a")
    with pytest.raises(SummaryError, match=r"dependency cycle between summaries: .*a\.sql.*b\.sql"):
        load_summaries(tmp_path, KNOWN, "shop")


def test_bad_file_name_says_how_to_fix(tmp_path):
    write(tmp_path, "Daily-Sales.sql", "SELECT 1 AS x")
    with pytest.raises(SummaryError, match=r"Daily-Sales.sql.*'daily_sales'.*Rename the file"):
        load_summaries(tmp_path, KNOWN, "shop")


def test_header_typo_and_partitioned_by(tmp_path):
    with pytest.raises(SummaryError, match="unknown header key 'owner'"):
        parse_header("-- owner: me\nSELECT 1", source="x.sql")
    assert parse_header("-- Just a note\n-- description: d\nSELECT 1\n-- owners: late") == {
        "description": "d"
    }
    write(tmp_path, "p.sql", "-- partitioned_by: day\nSELECT day, id FROM orders")
    with pytest.raises(SummaryError, match="must be the last column"):
        load_summaries(tmp_path, KNOWN, "shop")
    (tmp_path / "p.sql").write_text("-- partitioned_by: day\nSELECT id, day FROM orders")
    assert load_summaries(tmp_path, KNOWN, "shop")[0].partitioned_by == ("day",)


def test_summary_named_like_a_table_is_refused(tmp_path):
    write(tmp_path, "orders.sql", "SELECT 1 AS x")
    with pytest.raises(SummaryError, match="orders.sql would replace the project table"):
        load_summaries(tmp_path, KNOWN, "shop")


def test_a_summary_named_like_a_derived_table_is_refused(tmp_path):
    """A summary ``orders_current.sql`` would overwrite the change history's table of an
    incremental ``orders`` (the names come from ddb_assets.table_names via the config)."""
    from ddb_assets.config import parse_config

    cfg = parse_config(
        {"tables": [{"name": "orders", "s3_bucket": "bkt", "incremental": {"enabled": True}}]}
    )
    write(tmp_path, "orders_current.sql", "SELECT 1 AS x")
    with pytest.raises(
        SummaryError,
        match=r"orders_current.sql would replace the current-state table of incremental "
        r"table 'orders'; rename the file",
    ):
        load_summaries(tmp_path, {"orders"}, "shop", cfg.occupied_names())
    (tmp_path / "orders_current.sql").rename(tmp_path / "orders_now.sql")
    assert [s.name for s in load_summaries(tmp_path, {"orders"}, "shop", cfg.occupied_names())] == [
        "orders_now"
    ]
