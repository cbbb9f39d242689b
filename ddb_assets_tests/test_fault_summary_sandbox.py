"""Hostile summary SQL on the DuckDB engine: refused when the files load (naming the
function), and refused again by DuckDB's own sandbox if anything gets past that."""

import datetime as dt
import os

import duckdb
import pytest

from ddb_assets.summaries import SummaryError, load_summaries, materialize_duckdb
from ddb_assets.summaries.duckdb_engine import sandbox_connect
from ddb_assets.summaries.spec import SummarySpec
from ddb_assets.tables.duckdb import load_snapshot_duckdb
from ddb_assets_tests.exports import minified_export

pytestmark = [pytest.mark.fault, pytest.mark.unit, pytest.mark.duckdb]

ITEMS = [{"pk": {"S": f"k{i}"}, "qty": {"N": str(i)}} for i in range(5)]


@pytest.fixture
def warehouse(tmp_path):
    """A file warehouse with one Parquet-backed snapshot (the view reads files)."""
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    load_snapshot_duckdb(
        con,
        schema="shop",
        table="orders",
        snapshot_date=dt.date(2026, 7, 1),
        data_files=minified_export(tmp_path, "e", ITEMS),
    )
    con.close()
    return db


@pytest.mark.parametrize(
    "sql, function",
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM orders JOIN read_text('/etc/hostname') r ON true", "read_text"),
        ("SELECT * FROM read_parquet('/tmp/**/*.parquet')", "read_parquet"),
        ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
        ("SELECT current_setting('temp_directory') AS t FROM orders", "current_setting"),
        ("SELECT * FROM read_csv('https://example.com/x.csv')", "read_csv"),
        ("SELECT * FROM TABLE(sequence(1, 3))", "TABLE"),
    ],
)
def test_hostile_summaries_are_refused_at_load_time(tmp_path, sql, function):
    (tmp_path / "evil.sql").write_text("-- description: x\n" + sql)
    with pytest.raises(SummaryError, match=rf"evil.sql line 2: {function}\(\.\.\.\)"):
        load_summaries(tmp_path, {"orders"}, "shop")


def _spec(sql: str) -> SummarySpec:
    """A spec that skipped the load-time check (as if a check were missed)."""
    return SummarySpec(name="evil", path=__import__("pathlib").Path("evil.sql"), sql=sql, deps=())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/proc/self/environ')",
        "SELECT * FROM read_json('/etc/os-release')",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
    ],
)
def test_duckdb_sandbox_refuses_what_gets_past(warehouse, sql):
    con = sandbox_connect(warehouse)
    try:
        with pytest.raises(SummaryError, match="refused by the DuckDB sandbox"):
            materialize_duckdb(con, _spec(sql), "shop")
        assert not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'evil'"
        ).fetchone()[0]
        # the sandbox cannot be lifted from inside
        for stmt in ("SET enable_external_access = true", "RESET lock_configuration"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(stmt)
    finally:
        con.close()


def test_summaries_read_parquet_backed_snapshot_views_in_the_sandbox(warehouse, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "total.sql").write_text("SELECT sum(qty) AS total FROM orders")
    (spec,) = load_summaries(tmp_path / "s", {"orders"}, "shop")
    con = sandbox_connect(warehouse)
    try:
        res = materialize_duckdb(con, spec, "shop")
        assert res.row_count == 1
        assert con.execute("SELECT total FROM shop.total").fetchone()[0] == 10
        assert (
            con.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
        )
    finally:
        con.close()


def test_an_ordinary_connection_is_refused(tmp_path):
    (tmp_path / "s.sql").write_text("SELECT 1 AS one")
    (spec,) = load_summaries(tmp_path, set(), "shop")
    con = duckdb.connect()
    with pytest.raises(SummaryError, match="sandboxed DuckDB connection"):
        materialize_duckdb(con, spec, "shop")


def test_sandbox_refuses_paths_that_climb_out_of_the_snapshot_folder(warehouse):
    root = f"{warehouse}.snapshots"
    con = sandbox_connect(warehouse)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_blob('{root}/../../../../etc/passwd')").fetchall()
        assert os.path.isdir(root)
    finally:
        con.close()
