"""DuckDB typed snapshots are Parquet files, one folder per snapshot date: what a load
writes, what a reload or a failed load leaves, and a warehouse from before (a table)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.tables import ColumnOverride, load_snapshot_duckdb

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def write_export(folder, items, name):
    path = folder / f"{name}.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps({"Item": it}, separators=(",", ":")) + "\n")
    return [path]


def day(tmp_path, name, n, scale_text="1.5", **extra):
    items = [
        {"pk": {"S": f"{name}{i}"}, "qty": {"N": str(i)}, "dec": {"N": scale_text}, **extra}
        for i in range(n)
    ]
    return write_export(tmp_path, items, name)


def files_on_disk(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def files_listed(con, table="t"):
    return sorted(f for (f,) in con.execute(f"SELECT file FROM wh.{table}__files").fetchall())


def test_each_snapshot_is_parquet_files_in_its_folder_and_a_reload_replaces_them(tmp_path):
    db = tmp_path / "w.duckdb"
    root = tmp_path / "w.duckdb.snapshots"
    con = duckdb.connect(str(db))
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D1, data_files=day(tmp_path, "a", 5)
    )
    r2 = load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D2, data_files=day(tmp_path, "b", 4, "1.25")
    )
    on_disk = files_on_disk(root)
    assert on_disk == files_listed(con)
    assert [f.split("/")[:3] for f in on_disk] == [
        ["wh", "t", "snapshot_date=2024-01-01"],
        ["wh", "t", "snapshot_date=2024-01-02"],
    ]
    # a file is an ordinary typed Parquet file: any engine reads the snapshot from it
    (f2,) = [root / f for f in on_disk if "2024-01-02" in f]
    assert con.execute(f"SELECT count(*), min(dec) FROM read_parquet('{f2}')").fetchone() == (
        4,
        Decimal("1.25"),
    )
    assert r2.row_count == 4 and r2.physical_table_name == '"wh"."t__snapshots"'

    # the older file's narrower DECIMAL reads as the column's type now, values exact
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'wh' "
            "AND table_name = 't__snapshots'"
        ).fetchall()
    )
    assert types["dec"] == "DECIMAL(38,2)"
    assert con.execute(
        "SELECT snapshot_date, min(dec), count(*) FROM wh.t__snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall() == [(D1, Decimal("1.5"), 5), (D2, Decimal("1.25"), 4)]

    # reloading day 2 replaces its file: the old one is gone, nothing else moves
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D2, data_files=day(tmp_path, "c", 3)
    )
    again = files_on_disk(root)
    assert again == files_listed(con) and len(again) == 2
    assert [f for f in again if "2024-01-01" in f] == [f for f in on_disk if "2024-01-01" in f]
    assert [f for f in again if "2024-01-02" in f] != [f for f in on_disk if "2024-01-02" in f]
    assert sorted(r[0] for r in con.execute("SELECT pk FROM wh.t").fetchall()) == ["c0", "c1", "c2"]
    con.close()

    # another process (read-only) sees the same tables
    ro = duckdb.connect(str(db), read_only=True)
    assert ro.execute(
        "SELECT snapshot_date, count(*) FROM wh.t__snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall() == [(D1, 5), (D2, 3)]
    ro.close()


def test_a_failed_load_writes_no_file_and_keeps_the_previous_ones(tmp_path):
    db = tmp_path / "w.duckdb"
    root = tmp_path / "w.duckdb.snapshots"
    con = duckdb.connect(str(db))
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D1, data_files=day(tmp_path, "a", 5)
    )
    before = files_on_disk(root)
    bad = day(tmp_path, "bad", 3, when={"S": "not a time"})
    with pytest.raises(duckdb.Error):
        load_snapshot_duckdb(
            con,
            schema="wh",
            table="t",
            snapshot_date=D1,
            data_files=bad,
            overrides={"when": ColumnOverride(type="timestamp")},
        )
    assert files_on_disk(root) == before == files_listed(con)
    assert con.execute("SELECT count(*) FROM wh.t").fetchone() == (5,)

    # a one-pass attempt that misses (an attribute only late lines have) leaves no file of
    # its own: the staged load that follows writes the snapshot
    items = [{"pk": {"S": f"k{i}"}, "qty": {"N": str(i)}} for i in range(30_000)]
    items += [{"pk": {"S": f"late{i}"}, "qty": {"N": "1"}, "late": {"S": "x"}} for i in range(5)]
    res = load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=D2,
        data_files=write_export(tmp_path, items, "late"),
    )
    assert res.row_count == 30_005 and "late" in {c.name for c in res.columns}
    assert files_on_disk(root) == files_listed(con)
    # a stage part without rows leaves no file; a snapshot without rows keeps one (its columns)
    spaced = tmp_path / "spaced.json.gz"  # not minified: the staged load, in two parts here
    with gzip.open(spaced, "wt") as f:
        f.write(json.dumps({"Item": {"pk": {"S": "a"}}}) + "\n")
    one = load_snapshot_duckdb(con, schema="wh", table="one", snapshot_date=D1, data_files=[spaced])
    empty = tmp_path / "empty.json.gz"
    gzip.open(empty, "wt").close()
    load_snapshot_duckdb(con, schema="wh", table="one", snapshot_date=D2, data_files=[empty])
    assert one.row_count == 1
    assert con.execute(
        "SELECT snapshot_date, row_count FROM wh.one__files ORDER BY 1"
    ).fetchall() == [(D1, 1), (D2, 0)]
    assert files_on_disk(root) == sorted(files_listed(con) + files_listed(con, "one"))
    assert con.execute("SELECT count(late) FROM wh.t").fetchone() == (5,)


def test_a_warehouse_that_kept_snapshots_in_a_table_moves_them_to_files(tmp_path):
    db = tmp_path / "w.duckdb"
    root = tmp_path / "w.duckdb.snapshots"
    con = duckdb.connect(str(db))
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D1, data_files=day(tmp_path, "a", 5)
    )
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D2, data_files=day(tmp_path, "b", 4, "1.25")
    )
    expected = con.execute("SELECT * FROM wh.t__snapshots ORDER BY ALL").fetchall()
    # The layout before: one table of every snapshot (a widened column widened for all of
    # them), no file list, no folder.
    con.execute("CREATE TABLE wh.legacy AS SELECT * FROM wh.t__snapshots")
    con.execute("DROP VIEW wh.t__snapshots")
    con.execute("ALTER TABLE wh.legacy RENAME TO t__snapshots")
    con.execute("DROP TABLE wh.t__files")
    con.execute(
        "CREATE OR REPLACE VIEW wh.t AS SELECT pk, qty, dec, snapshot_date FROM wh.t__snapshots "
        "WHERE snapshot_date = DATE '2024-01-02'"
    )
    for f in root.rglob("*.parquet"):
        f.unlink()

    # a load that fails changes nothing: the table stays, no file is left
    bad = day(tmp_path, "bad", 3, when={"S": "not a time"})
    with pytest.raises(duckdb.Error):
        load_snapshot_duckdb(
            con,
            schema="wh",
            table="t",
            snapshot_date=D3,
            data_files=bad,
            overrides={"when": ColumnOverride(type="timestamp")},
        )
    assert files_on_disk(root) == []
    assert con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'wh' "
        "AND table_name = 't__snapshots'"
    ).fetchone() == ("BASE TABLE",)

    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D3, data_files=day(tmp_path, "c", 2)
    )
    assert con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'wh' "
        "AND table_name = 't__snapshots'"
    ).fetchone() == ("VIEW",)
    assert files_on_disk(root) == files_listed(con) and len(files_listed(con)) == 3
    assert (
        con.execute(
            f"SELECT * FROM wh.t__snapshots WHERE snapshot_date < DATE '{D3}' ORDER BY ALL"
        ).fetchall()
        == expected
    )
    assert con.execute("SELECT count(*) FROM wh.t").fetchone() == (2,)


def test_the_one_pass_check_reads_counts_and_largest_numbers_from_the_writers_statistics(
    tmp_path, monkeypatch
):
    from ddb_assets.tables.duckdb import recheck as duckdb_recheck
    from ddb_assets.tables.duckdb import snapshot as duckdb_snapshot

    seen = []
    real = duckdb_snapshot.direct_stats

    def both(con, written, plans, sampled, footer=None):
        got = real(con, written, plans, sampled, footer)
        seen.append(
            (
                footer is not None,
                [vars(s) for s in got],
                [vars(s) for s in real(con, written, plans, sampled, None)],
            )
        )
        return got

    used = []
    real_footer = duckdb_recheck.direct_stats_from_footer
    monkeypatch.setattr(duckdb_snapshot, "direct_stats", both)

    def footer(*a):
        got = real_footer(*a)
        used.append(got is not None)
        return got

    monkeypatch.setattr(duckdb_recheck, "direct_stats_from_footer", footer)
    items = [
        {
            "pk": {"S": f"k{i}"},
            "n": {"N": str(-987654321 * (i % 7) if i % 5 else i)},
            "d": {"N": f"{i % 13}.{i % 10}"},
            "ns": {"NS": [str(i), f"-{i}.5"]} if i % 3 else {"NULL": True},
            "s": {"S": "x" if i % 2 else "y"},
        }
        for i in range(2_000)
    ]
    items[7]["big"] = {"N": "12345678901234567890123456789012345678"}
    res = load_snapshot_duckdb(
        duckdb.connect(str(tmp_path / "w.duckdb")),
        schema="wh",
        table="t",
        snapshot_date=D1,
        data_files=write_export(tmp_path, items, "n"),
    )
    assert res.row_count == 2_000
    assert used == [True]  # no file read for the statistics
    ((had_footer, from_footer, from_file),) = seen
    assert had_footer and from_footer == from_file
    by = {s["attribute"]: s for s in from_footer}
    assert by["n"]["max_int_digits"] == 10 and by["ns"]["numbers"] == 2 * sum(
        1 for i in range(2_000) if i % 3
    )
    assert by["big"]["max_int_digits"] == 38 and by["d"]["max_scale"] == 1
