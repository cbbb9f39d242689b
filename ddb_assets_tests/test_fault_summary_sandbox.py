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


def _files(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and p.name != "filler"
    )


def test_a_summary_whose_commit_hits_a_full_disk_raises_its_own_cause(tmp_path):
    """The summary engine's COMMIT on a full disk (a real small tmpfs, filled after the
    warehouse's last checkpoint): the error is the COMMIT's own (no space), not
    ``cannot rollback - no transaction is active``; the previous summary table is
    unchanged and nothing of the new one was written."""
    from ddb_assets_tests.test_fault_loads import _fill, small_disk

    with small_disk(tmp_path / "disk", "16m") as disk:
        db = disk / "w.duckdb"
        con = duckdb.connect(str(db))
        load_snapshot_duckdb(
            con,
            schema="shop",
            table="orders",
            snapshot_date=dt.date(2026, 7, 1),
            data_files=minified_export(tmp_path, "e", ITEMS),
        )
        con.close()
        path = __import__("pathlib").Path("daily.sql")
        first = SummarySpec(
            name="daily", path=path, sql="SELECT pk, qty FROM orders", deps=("orders",)
        )
        bigger = SummarySpec(
            name="daily",
            path=path,
            sql="SELECT o.pk, o.qty * 2 AS qty, repeat('x', 200) AS pad "
            "FROM orders o, range(2000) r",
            deps=("orders",),
        )
        con = sandbox_connect(db)
        materialize_duckdb(con, first, "shop")
        con.execute("CHECKPOINT")
        before_rows = con.execute("SELECT * FROM shop.daily ORDER BY pk").fetchall()
        before_files = _files(disk)
        filler = _fill(disk)
        try:
            with pytest.raises(SummaryError) as info:
                materialize_duckdb(con, bigger, "shop")
            msg = str(info.value)
            assert "no transaction is active" not in msg, msg
            assert "No space left on device" in msg and "commit" in msg.lower(), msg
            assert "the previous table is unchanged" in msg
        finally:
            con.close()
            filler.unlink()
        con = sandbox_connect(db)
        try:
            assert con.execute("SELECT * FROM shop.daily ORDER BY pk").fetchall() == before_rows
            assert [c[0] for c in con.execute("DESCRIBE shop.daily").fetchall()] == ["pk", "qty"]
        finally:
            con.close()
        # nothing half-written: the warehouse's files as before (a WAL, if any, replayed away)
        assert [f for f, _ in _files(disk) if not f.endswith(".wal")] == [
            f for f, _ in before_files if not f.endswith(".wal")
        ]


def test_the_locked_sandbox_still_shows_setting_values(tmp_path):
    """Why setting readers are refused by name (docs/reliability.md): DuckDB 2.0.0 has no
    option that hides setting values. Locked and without external access, a connection still
    reads every setting, including paths on this machine. If a DuckDB upgrade makes this
    test fail, its new control can replace the refusal by name."""
    con = sandbox_connect(tmp_path / "w.duckdb")
    try:
        assert con.execute("SELECT current_setting('lock_configuration')").fetchone()[0] is True
        secret_dir = con.execute("SELECT current_setting('secret_directory')").fetchone()[0]
        assert secret_dir.startswith(os.path.expanduser("~")), secret_dir
        listed = con.execute("SELECT count(*) FROM duckdb_settings()").fetchone()[0]
        assert listed > 100
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            con.execute("SET disabled_filesystems = 'LocalFileSystem'")
    finally:
        con.close()
