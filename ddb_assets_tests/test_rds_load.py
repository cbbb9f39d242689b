"""RDS exports on the DuckDB engine, from export folders written in the documented layout:
the exact type mapping, the snapshot layout, checks decided before the day is visible,
schema drift, skipped tables, and the metadata that must be read (never guessed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import duckdb
import pyarrow as pa
import pytest
from moto import mock_aws

from ddb_assets.rds.duckdb_load import load_rds_snapshot_duckdb
from ddb_assets.rds.exports import RdsExport
from ddb_assets.rds.load import (
    TableNotExportedError,
    download_table_files,
    read_exported_tables,
    table_export,
)
from ddb_assets.rds.metadata import ExportMetadataError
from ddb_assets.tables.checks import SnapshotCheckError
from ddb_assets_tests.rds_exports import column, write_export

pytestmark = [pytest.mark.unit, pytest.mark.duckdb]

BUCKET, PREFIX = "exports", "rds-exports/shop"
UTC = dt.timezone.utc

# Every MySQL type AWS's table lists, as RDS writes it into Parquet (CONTRACT.md).
ALL_TYPES = [
    # name, source type, exported, precision, arrow type, values, expected sql type, expected
    ("c_tinyint", "tinyint", "int32", 3, pa.int32(), [-128, None], "int", [-128, None]),
    ("c_tinyint_u", "tinyint", "int32", 3, pa.int16(), [255, 0], "int", [255, 0]),
    ("c_smallint_u", "smallint", "int32", 5, pa.int32(), [65535, 1], "int", [65535, 1]),
    ("c_mediumint", "mediumint", "int32", 7, pa.int32(), [-8388608, 2], "int", [-8388608, 2]),
    ("c_int", "int", "int32", 10, pa.int32(), [-2147483648, 3], "int", [-2147483648, 3]),
    ("c_int_u", "int", "int64", 10, pa.int64(), [4294967295, 4], "bigint", [4294967295, 4]),
    ("c_bigint", "bigint", "int64", 19, pa.int64(), [-(2**63), 5], "bigint", [-(2**63), 5]),
    (
        "c_bigint_u",
        "bigint",
        "fixed_len_byte_array",
        20,
        pa.decimal128(20, 0),
        [Decimal("18446744073709551615"), Decimal(6)],
        "decimal(20,0)",
        [Decimal("18446744073709551615"), Decimal(6)],
    ),
    (
        "c_dec",
        "decimal",
        "int64",
        12,
        pa.decimal128(12, 4),
        [Decimal("-12345678.9012"), None],
        "decimal(12,4)",
        [Decimal("-12345678.9012"), None],
    ),
    (
        "c_dec_wide",
        "decimal",
        "binary",
        65,
        pa.string(),
        ["123456789012345678901234567890123456789012.5", "1.0"],
        "string",
        ["123456789012345678901234567890123456789012.5", "1.0"],
    ),
    ("c_float", "float", "double", 12, pa.float64(), [1.5, None], "double", [1.5, None]),
    ("c_double", "double", "double", 22, pa.float64(), [2.25, -0.0], "double", [2.25, -0.0]),
    ("c_bit", "bit", "binary", 10, pa.binary(), [b"\x02\x01", None], "binary", [b"\x02\x01", None]),
    ("c_char", "char", "binary", 0, pa.binary(), ["寿司".encode(), b"a"], "string", ["寿司", "a"]),
    ("c_varchar", "varchar", "binary", 0, pa.string(), ["maguro", ""], "string", ["maguro", ""]),
    ("c_text", "text", "binary", 0, pa.string(), ["t" * 300, None], "string", ["t" * 300, None]),
    ("c_enum", "enum", "binary", 0, pa.string(), ["small", "large"], "string", ["small", "large"]),
    ("c_set", "set", "binary", 0, pa.string(), ["a,b", ""], "string", ["a,b", ""]),
    (
        "c_json",
        "json",
        "binary",
        0,
        pa.string(),
        ['{"a": [1]}', None],
        "string",
        ['{"a": [1]}', None],
    ),
    ("c_blob", "blob", "binary", 0, pa.binary(), [b"\x00\xff", b""], "binary", [b"\x00\xff", b""]),
    (
        "c_binary",
        "binary",
        "binary",
        0,
        pa.binary(),
        [b"ab\x00", None],
        "binary",
        [b"ab\x00", None],
    ),
    (
        "c_point",
        "point",
        "binary",
        0,
        pa.binary(),
        [b"\x00\x00\x00\x00\x01", None],
        "binary",
        [b"\x00\x00\x00\x00\x01", None],
    ),
    (
        "c_date",
        "date",
        "binary",
        0,
        pa.string(),
        ["2024-02-29", "0000-00-00"],
        "date",
        [dt.date(2024, 2, 29), None],
    ),
    (
        "c_time",
        "time",
        "binary",
        0,
        pa.string(),
        ["-838:59:59", "12:00:00.5"],
        "string",
        ["-838:59:59", "12:00:00.5"],
    ),
    (
        "c_datetime",
        "datetime",
        "int64",
        0,
        pa.timestamp("us", tz="UTC"),
        [dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), None],
        "timestamp",
        [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None],
    ),
    (
        "c_timestamp",
        "timestamp",
        "int64",
        0,
        pa.timestamp("us", tz="UTC"),
        [
            dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            dt.datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC),
        ],
        "timestamp",
        [dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(2038, 1, 19, 3, 14, 7)],
    ),
    ("c_year", "year", "int32", 0, pa.int32(), [1901, 2155], "int", [1901, 2155]),
]


def _all_types_table():
    arrays = [pa.array(vals, type=t) for _, _, _, _, t, vals, _, _ in ALL_TYPES]
    table = pa.table(arrays, names=[n for n, *_ in ALL_TYPES])
    mappings = [column(n, o, e, p) for n, o, e, p, *_ in ALL_TYPES]
    return table, mappings


def _export(s3, export_id, tables, **kw):
    write_export(s3, BUCKET, PREFIX, export_id, tables, **kw)
    return RdsExport(identifier=export_id, status="COMPLETE", s3_bucket=BUCKET, s3_prefix=PREFIX)


def _load(s3, con, tmp_path, e, target, table, day):
    exported = read_exported_tables(s3, e)
    te, _ = table_export(s3, exported, target)
    folder = tmp_path / f"dl-{day}-{e.identifier}"
    folder.mkdir()
    files = download_table_files(s3, te, str(folder))
    return load_rds_snapshot_duckdb(
        con, schema="shop", table=table, snapshot_date=day, export=te, local_files=files
    )


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_every_documented_mysql_type_loads_exactly(s3, tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    table, mappings = _all_types_table()
    e = _export(s3, "db-20240101", {"shop.all_types": (table, mappings)})
    res = _load(s3, con, tmp_path, e, "shop.all_types", "all_types", dt.date(2024, 1, 1))
    assert res.row_count == 2
    types = {c.column: c.type.canonical() for c in res.columns}
    assert types == {n: want for n, *_, want, _ in ALL_TYPES}
    got = con.execute("SELECT * EXCLUDE (snapshot_date) FROM shop.all_types").fetchall()
    cols = [d[0] for d in con.description]
    rows = {c: [r[i] for r in got] for i, c in enumerate(cols)}
    for name, *_, expected in ALL_TYPES:
        assert sorted(rows[name], key=repr) == sorted(expected, key=repr), name
    desc = {c.column: c.description for c in res.columns}
    assert desc["c_bigint_u"].startswith(
        "MySQL BIGINT UNSIGNED -> Parquet DECIMAL(20,0) -> decimal(20,0)"
    )
    assert "zero date 0000-00-00 reads as NULL" in desc["c_date"]
    assert "CHAR as bytes" in desc["c_char"]
    assert "exceeds Parquet's 38 digits" in desc["c_dec_wide"]
    # the DuckDB column types are the declared ones
    duck = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'shop' AND table_name = 'all_types'"
        ).fetchall()
    )
    assert duck["c_bigint_u"] == "DECIMAL(20,0)" and duck["c_datetime"] == "TIMESTAMP"
    assert duck["c_char"] == "VARCHAR" and duck["c_bit"] == "BLOB" and duck["c_date"] == "DATE"


def test_days_keep_their_rows_and_a_bad_count_changes_nothing(s3, tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    mappings = [column("id", "int", "int32", 10), column("name", "varchar", "binary")]
    for i, day in enumerate([dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)]):
        rows = pa.table({"id": pa.array(range(i + 1), pa.int32()), "name": [f"d{day}"] * (i + 1)})
        e = _export(s3, f"db-{day:%Y%m%d}", {"shop.menu": (rows, mappings)})
        _load(s3, con, tmp_path, e, "shop.menu", "menu", day)
    per_day = con.execute(
        "SELECT snapshot_date, count(*), min(name) FROM shop.menu__snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [
        (dt.date(2024, 1, 1), 1, "d2024-01-01"),
        (dt.date(2024, 1, 2), 2, "d2024-01-02"),
        (dt.date(2024, 1, 3), 3, "d2024-01-03"),
    ]
    assert con.execute("SELECT count(*) FROM shop.menu").fetchone()[0] == 3
    files_before = sorted(p.name for p in (tmp_path / "w.duckdb.snapshots").rglob("*.parquet"))

    # A reload of day 2 whose files disagree with what the export states: refused before
    # the commit, nothing changes (views, file list, files).
    rows = pa.table({"id": pa.array([7, 8], pa.int32()), "name": ["x", "y"]})
    e = _export(s3, "db-20240102-r1", {"shop.menu": (rows, mappings)})
    exported = read_exported_tables(s3, e)
    te, _ = table_export(s3, exported, "shop.menu")
    from dataclasses import replace

    te = replace(te, footer_rows=5)  # the export states 5 rows; its files hold 2
    folder = tmp_path / "dl-bad"
    folder.mkdir()
    files = download_table_files(s3, te, str(folder))
    with pytest.raises(SnapshotCheckError) as err:
        load_rds_snapshot_duckdb(
            con,
            schema="shop",
            table="menu",
            snapshot_date=dt.date(2024, 1, 2),
            export=te,
            local_files=files,
        )
    assert "holds 2 rows but the export states parquet_footers 5" in str(err.value)
    assert err.value.check == "row_count_matches_export"
    assert (
        con.execute(
            "SELECT count(*) FROM shop.menu__snapshots WHERE snapshot_date = DATE '2024-01-02'"
        ).fetchone()[0]
        == 2
    )
    assert (
        sorted(p.name for p in (tmp_path / "w.duckdb.snapshots").rglob("*.parquet")) == files_before
    )


def test_schema_drift_between_days_is_reported(s3, tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    one = pa.table({"id": pa.array([1], pa.int32()), "old": ["a"]})
    e = _export(
        s3,
        "db-20240101",
        {"shop.t": (one, [column("id", "int", "int32"), column("old", "varchar", "binary")])},
    )
    _load(s3, con, tmp_path, e, "shop.t", "t", dt.date(2024, 1, 1))
    two = pa.table({"id": pa.array([1], pa.int64()), "new": [1.5]})
    e = _export(
        s3,
        "db-20240102",
        {"shop.t": (two, [column("id", "int", "int64"), column("new", "double", "double")])},
    )
    res = _load(s3, con, tmp_path, e, "shop.t", "t", dt.date(2024, 1, 2))
    kinds = {(c.kind, c.column) for c in res.schema_changes}
    assert kinds == {("added", "new"), ("removed", "old"), ("type_changed", "id")}
    # both days stay readable through the every-day view
    assert con.execute("SELECT count(*) FROM shop.t__snapshots").fetchone()[0] == 2


def test_an_empty_table_loads_with_its_columns(s3, tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    e = _export(
        s3,
        "db-20240101",
        {
            "shop.empty": (
                None,
                [column("id", "bigint", "fixed_len_byte_array", 20), column("d", "date", "binary")],
            )
        },
    )
    res = _load(s3, con, tmp_path, e, "shop.empty", "empty", dt.date(2024, 1, 1))
    assert res.row_count == 0
    assert {c.column: c.type.canonical() for c in res.columns} == {
        "id": "decimal(20,0)",
        "d": "date",
    }
    assert con.execute("SELECT count(*) FROM shop.empty").fetchone()[0] == 0


def test_skipped_tables_and_missing_markers_are_named(s3):
    table = pa.table({"id": pa.array([1], pa.int32())})
    e = _export(
        s3,
        "db-20240101",
        {"shop.ok": (table, [column("id", "int", "int32")])},
        skipped={"shop.bad": "column 'a b' contains characters RDS export does not support (' ')"},
    )
    exported = read_exported_tables(s3, e)
    assert set(exported.metadata.complete()) == {"shop.ok"}
    with pytest.raises(TableNotExportedError, match=r"shop\.bad .*SKIPPED: column 'a b'.*rename"):
        exported.require("shop.bad")
    with pytest.raises(TableNotExportedError, match="does not list table shop.nope"):
        exported.require("shop.nope")
    e2 = _export(
        s3, "db-20240102", {"shop.ok": (table, [column("id", "int", "int32")])}, success=False
    )
    with pytest.raises(ExportMetadataError, match="no _SUCCESS marker"):
        table_export(s3, read_exported_tables(s3, e2), "shop.ok")
    # metadata missing: the key is named, nothing is guessed from a listing
    e3 = RdsExport(identifier="db-20240109", status="COMPLETE", s3_bucket=BUCKET, s3_prefix=PREFIX)
    with pytest.raises(ExportMetadataError, match=r"export_info_db-20240109\.json"):
        read_exported_tables(s3, e3)
