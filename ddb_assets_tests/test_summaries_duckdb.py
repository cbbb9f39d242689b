import pytest

from ddb_assets.summaries import SummaryError, load_summaries, materialize_duckdb
from ddb_assets.summaries.duckdb_engine import sandbox_connect


@pytest.fixture
def con():
    c = sandbox_connect()  # zone UTC, external access off, configuration locked
    c.execute("CREATE SCHEMA shop")
    c.execute("""CREATE TABLE shop.orders AS SELECT * FROM (VALUES
        (1, 'u1', 10.50::DECIMAL(38,2), '2023-07-01T00:00:00Z'),
        (2, 'u1', 5.25, '2023-06-30T23:59:59Z'),
        (3, 'u2', 7.00, '2023-07-01T08:00:00+09:00'),
        (4, 'u2', 1.00, '2023-07-20T10:00:00')) v(id, uid, amount, created_at)""")
    yield c
    c.close()


def test_materialize_builds_table_with_metadata(tmp_path, con):
    (tmp_path / "july.sql").write_text(
        "-- description: July sales\nSELECT uid, SUM(amount) AS total FROM shop.orders\n"
        "WHERE from_iso8601_timestamp(created_at) >= from_iso8601_timestamp('2023-07-01T00:00:00')\n"
        "GROUP BY uid"
    )
    (tmp_path / "top.sql").write_text("SELECT uid, total FROM july ORDER BY total DESC LIMIT 1")
    july, top = load_summaries(tmp_path, {"orders"}, "shop")
    res = materialize_duckdb(con, july, "shop")
    assert res.table_name == "shop.july"
    assert res.row_count == 2
    assert res.columns == [("uid", "VARCHAR"), ("total", "DECIMAL(38,2)")]
    assert res.column_lineage == {"uid": [("orders", "uid")], "total": [("orders", "amount")]}
    assert "| uid | total |" in res.preview and "| u1 | 10.50 |" in res.preview
    assert sorted(con.execute("SELECT * FROM shop.july").fetchall()) == [("u1", 10.5), ("u2", 1.0)]
    # the search path is restored
    assert con.execute("SELECT current_setting('search_path')").fetchone()[0] != "shop"
    top_res = materialize_duckdb(con, top, "shop")  # unqualified ref resolves to the schema
    assert con.execute("SELECT uid FROM shop.top").fetchall() == [("u1",)]
    assert top_res.column_lineage == {"uid": [("july", "uid")], "total": [("july", "total")]}


def test_failure_keeps_the_old_table(tmp_path, con):
    path = tmp_path / "s.sql"
    path.write_text("SELECT id FROM orders")
    (spec,) = load_summaries(tmp_path, {"orders"}, "shop")
    materialize_duckdb(con, spec, "shop")
    path.write_text("SELECT CAST(uid AS integer) AS id FROM orders")  # fails at run time
    (bad,) = load_summaries(tmp_path, {"orders"}, "shop")
    with pytest.raises(SummaryError, match="previous table is unchanged"):
        materialize_duckdb(con, bad, "shop")
    assert sorted(r[0] for r in con.execute("SELECT id FROM shop.s").fetchall()) == [1, 2, 3, 4]
