"""Type round trip: every MySQL / MariaDB type RDS's export documents, written through the real
server, exported by StartExportTask and read back from the Parquet files with pyarrow.

Each column is checked twice: its Parquet physical type and logical annotation against AWS's
"MySQL and MariaDB data type mapping to Parquet" table, and its values (extremes, NULLs,
negative zero, zero dates, utf8mb4, BIT(64), SET/ENUM) against what was written.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.setup import create_export_key, create_export_role, create_instance

pytestmark = [pytest.mark.integration, pytest.mark.mariadb]

BUCKET = "rds-types"
UTC = timezone.utc
D65 = "9" * 35 + "." + "9" * 30

# MariaDB itself stores a negative zero as 0 (SELECT -0e0 gives 0), so -0e0 reads back as +0.0.
# column, DDL type, SQL literals for rows 1..3, expected values for rows 1..3,
# Parquet physical type, logical annotation (str of pyarrow's logical type)
SPEC: list[tuple[str, str, list[str], list[object], str, str]] = [
    ("c_bigint", "BIGINT", ["-9223372036854775808", "9223372036854775807", "42"],
     [-(2**63), 2**63 - 1, 42], "INT64", "None"),
    ("c_bigint_u", "BIGINT UNSIGNED", ["0", "18446744073709551615", "42"],
     [Decimal(0), Decimal(2**64 - 1), Decimal(42)], "FIXED_LEN_BYTE_ARRAY(9)",
     "Decimal(precision=20, scale=0)"),
    ("c_int", "INT", ["-2147483648", "2147483647", "7"], [-(2**31), 2**31 - 1, 7], "INT32", "None"),
    ("c_int_u", "INT UNSIGNED", ["0", "4294967295", "7"], [0, 2**32 - 1, 7], "INT64", "None"),
    ("c_medium", "MEDIUMINT", ["-8388608", "8388607", "7"], [-(2**23), 2**23 - 1, 7], "INT32", "None"),
    ("c_medium_u", "MEDIUMINT UNSIGNED", ["0", "16777215", "7"], [0, 2**24 - 1, 7], "INT64", "None"),
    ("c_small", "SMALLINT", ["-32768", "32767", "7"], [-32768, 32767, 7], "INT32", "None"),
    ("c_small_u", "SMALLINT UNSIGNED", ["0", "65535", "7"], [0, 65535, 7], "INT32", "None"),
    ("c_tiny", "TINYINT", ["-128", "127", "7"], [-128, 127, 7], "INT32", "None"),
    ("c_tiny_u", "TINYINT UNSIGNED", ["0", "255", "7"], [0, 255, 7], "INT32",
     "Int(bitWidth=16, isSigned=true)"),
    ("c_bool", "TINYINT(1)", ["0", "1", "TRUE"], [0, 1, 1], "INT32", "None"),
    ("c_dec9", "DECIMAL(9,2)", ["-9999999.99", "9999999.99", "0.01"],
     [Decimal("-9999999.99"), Decimal("9999999.99"), Decimal("0.01")], "INT32",
     "Decimal(precision=9, scale=2)"),
    ("c_num18", "NUMERIC(18,4)", ["-99999999999999.9999", "99999999999999.9999", "-0.5"],
     [Decimal("-99999999999999.9999"), Decimal("99999999999999.9999"), Decimal("-0.5000")],
     "INT64", "Decimal(precision=18, scale=4)"),
    ("c_dec38", "DECIMAL(38,10)", ["-" + "9" * 28 + "." + "9" * 10, "9" * 28 + "." + "9" * 10, "1"],
     [Decimal("-" + "9" * 28 + "." + "9" * 10), Decimal("9" * 28 + "." + "9" * 10),
      Decimal("1.0000000000")], "FIXED_LEN_BYTE_ARRAY(16)", "Decimal(precision=38, scale=10)"),
    ("c_dec65", "DECIMAL(65,30)", ["-" + D65, D65, "0.5"],
     ["-" + D65, D65, "0.5" + "0" * 29], "BYTE_ARRAY", "String"),
    ("c_double", "DOUBLE", ["-1.7976931348623157e308", "1.7976931348623157e308", "-0e0"],
     [-1.7976931348623157e308, 1.7976931348623157e308, 0.0], "DOUBLE", "None"),
    ("c_float", "FLOAT", ["-2.25", "1.5", "-0e0"], [-2.25, 1.5, 0.0], "DOUBLE", "None"),
    ("c_bit1", "BIT(1)", ["b'0'", "b'1'", "b'1'"], [b"\x00", b"\x01", b"\x01"], "BYTE_ARRAY", "None"),
    ("c_bit64", "BIT(64)", ["0", "0xFFFFFFFFFFFFFFFF", "0x8000000000000001"],
     [b"\x00" * 8, b"\xff" * 8, b"\x80" + b"\x00" * 6 + b"\x01"], "BYTE_ARRAY", "None"),
    ("c_char", "CHAR(5)", ["'ab'", "'日本🍣'", "''"], [b"ab", "日本🍣".encode(), b""],
     "BYTE_ARRAY", "None"),
    ("c_varchar", "VARCHAR(40)", ["''", "'🍣 sushi – ü'", "'quote''s'"], ["", "🍣 sushi – ü", "quote's"],
     "BYTE_ARRAY", "String"),
    ("c_tinytext", "TINYTEXT", ["'a'", "'ß'", "''"], ["a", "ß", ""], "BYTE_ARRAY", "String"),
    ("c_text", "TEXT", ["'line1\\nline2'", "'🍣'", "'x'"], ["line1\nline2", "🍣", "x"], "BYTE_ARRAY", "String"),
    ("c_mediumtext", "MEDIUMTEXT", ["'m'", "REPEAT('z', 70000)", "''"], ["m", "z" * 70000, ""],
     "BYTE_ARRAY", "String"),
    ("c_longtext", "LONGTEXT", ["'l'", "'日本語'", "''"], ["l", "日本語", ""], "BYTE_ARRAY", "String"),
    ("c_enum", "ENUM('small','large')", ["'small'", "'large'", "'small'"], ["small", "large", "small"],
     "BYTE_ARRAY", "String"),
    ("c_set", "SET('a','b','c')", ["''", "'a,b,c'", "'c,a'"], ["", "a,b,c", "a,c"], "BYTE_ARRAY", "String"),
    ("c_json", "JSON", ["'{\"a\": [1, 2.5, null]}'", "'[]'", "'\"🍣\"'"],
     ['{"a": [1, 2.5, null]}', "[]", '"🍣"'], "BYTE_ARRAY", "String"),
    ("c_binary", "BINARY(4)", ["0x00000000", "'ab'", "0xFF00FF00"],
     [b"\x00" * 4, b"ab\x00\x00", b"\xff\x00\xff\x00"], "BYTE_ARRAY", "None"),
    ("c_varbinary", "VARBINARY(8)", ["''", "0x00FF", "'xyz'"], [b"", b"\x00\xff", b"xyz"], "BYTE_ARRAY", "None"),
    ("c_tinyblob", "TINYBLOB", ["0x00", "0xFF", "''"], [b"\x00", b"\xff", b""], "BYTE_ARRAY", "None"),
    ("c_blob", "BLOB", ["0x0102", "''", "'b'"], [b"\x01\x02", b"", b"b"], "BYTE_ARRAY", "None"),
    ("c_mediumblob", "MEDIUMBLOB", ["0x03", "REPEAT(0xAB, 70000)", "''"], [b"\x03", b"\xab" * 70000, b""],
     "BYTE_ARRAY", "None"),
    ("c_longblob", "LONGBLOB", ["0x04", "''", "0x00"], [b"\x04", b"", b"\x00"], "BYTE_ARRAY", "None"),
    ("c_date", "DATE", ["'1000-01-01'", "'9999-12-31'", "'0000-00-00'"],
     ["1000-01-01", "9999-12-31", "0000-00-00"], "BYTE_ARRAY", "String"),
    ("c_datetime", "DATETIME", ["'1000-01-01 00:00:00'", "'9999-12-31 23:59:59'", "'2024-02-29 12:34:56'"],
     [datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
      datetime(2024, 2, 29, 12, 34, 56, tzinfo=UTC)], "INT64",
     "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"),
    ("c_datetime6", "DATETIME(6)", ["'0000-00-00 00:00:00'", "'9999-12-31 23:59:59.999999'", "'2024-01-02 03:04:05.000001'"],
     [None, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
      datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC)], "INT64",
     "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"),
    ("c_timestamp6", "TIMESTAMP(6) NULL", ["'1970-01-01 00:00:01.000000'", "'2038-01-19 03:14:07.999999'", "'0000-00-00 00:00:00'"],
     [datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC), None],
     "INT64",
     "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"),
    ("c_time6", "TIME(6)", ["'-838:59:59'", "'838:59:59'", "'12:34:56.789012'"],
     ["-838:59:59.000000", "838:59:59.000000", "12:34:56.789012"], "BYTE_ARRAY", "String"),
    ("c_year", "YEAR", ["1901", "2155", "0"], [1901, 2155, 0], "INT32", "None"),
    ("c_geometry", "GEOMETRY", ["ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('LINESTRING(0 0,1 1)')", "ST_GeomFromText('POINT(-1.5 0)')"],
     ["wkb", "wkb", "wkb"], "BYTE_ARRAY", "None"),
    ("c_point", "POINT", ["POINT(1, 2)", "POINT(-180, 90)", "POINT(0, 0)"], ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_linestring", "LINESTRING", ["ST_GeomFromText('LINESTRING(0 0,1 1,2 0)')"] * 3, ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_polygon", "POLYGON", ["ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')"] * 3, ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_multipoint", "MULTIPOINT", ["ST_GeomFromText('MULTIPOINT(0 0,1 1)')"] * 3, ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_multilinestring", "MULTILINESTRING", ["ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))')"] * 3,
     ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_multipolygon", "MULTIPOLYGON", ["ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))')"] * 3,
     ["wkb"] * 3, "BYTE_ARRAY", "None"),
    ("c_geomcollection", "GEOMETRYCOLLECTION", ["ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1))')"] * 3,
     ["wkb"] * 3, "BYTE_ARRAY", "None"),
]  # fmt: skip
SPATIAL = {name for name, *_rest in SPEC if _rest[2][0] == "wkb"}


@pytest.fixture(scope="module")
def exported():
    """Write the rows through MariaDB, snapshot, export; yield (Parquet file, rows by id, wkb)."""
    with LocalAWS(export_seconds=0.2, rds=True) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        role = create_export_role(aws.client("iam"), BUCKET)
        key = create_export_key(aws.client("kms"))
        rds = aws.client("rds")
        create_instance(rds, "types-db", db_name="typed")
        cols = ", ".join(f"{name} {ddl}" for name, ddl, *_ in SPEC)
        wkb: dict[tuple[int, str], bytes] = {}
        with aws.rds.connect("types-db") as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE all_types (id INT PRIMARY KEY, {cols})")
            for row in range(3):
                values = ", ".join(spec[2][row] for spec in SPEC)
                cur.execute(f"INSERT INTO all_types VALUES ({row + 1}, {values})")
            cur.execute("INSERT INTO all_types (id) VALUES (4)")  # every column NULL
            for name in SPATIAL:
                cur.execute(f"SELECT id, ST_AsBinary({name}) FROM all_types WHERE id <= 3")
                for rid, value in cur.fetchall():
                    wkb[(rid, name)] = bytes(value)
        rds.create_db_snapshot(DBInstanceIdentifier="types-db", DBSnapshotIdentifier="types-1")
        arn = rds.describe_db_snapshots(DBSnapshotIdentifier="types-1")["DBSnapshots"][0][
            "DBSnapshotArn"
        ]
        rds.start_export_task(
            ExportTaskIdentifier="types-export",
            SourceArn=arn,
            S3BucketName=BUCKET,
            IamRoleArn=role,
            KmsKeyId=key,
            ExportOnly=["typed.all_types"],
        )
        assert aws.rds.wait_for_export("types-export", timeout=120) == "COMPLETE"
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="types-export/typed/typed.all_types/1/")
        (data_key,) = [o["Key"] for o in listed["Contents"] if o["Key"].endswith(".gz.parquet")]
        body = s3.get_object(Bucket=BUCKET, Key=data_key)["Body"].read()
        pf = pq.ParquetFile(io.BytesIO(body))
        rows = {r["id"]: r for r in pf.read().to_pylist()}
        yield pf, rows, wkb


def test_every_documented_type_is_covered():
    documented = {
        "BIGINT", "BIGINT UNSIGNED", "BIT", "DECIMAL", "DOUBLE", "FLOAT", "INT", "INT UNSIGNED",
        "MEDIUMINT", "MEDIUMINT UNSIGNED", "NUMERIC", "SMALLINT", "SMALLINT UNSIGNED", "TINYINT",
        "TINYINT UNSIGNED", "BINARY", "BLOB", "CHAR", "ENUM", "LINESTRING", "LONGBLOB",
        "LONGTEXT", "MEDIUMBLOB", "MEDIUMTEXT", "MULTILINESTRING", "SET", "TEXT", "TINYBLOB",
        "TINYTEXT", "VARBINARY", "VARCHAR", "DATE", "DATETIME", "TIME", "TIMESTAMP", "YEAR",
        "GEOMETRY", "GEOMETRYCOLLECTION", "MULTIPOINT", "MULTIPOLYGON", "POINT", "POLYGON", "JSON",
    }  # fmt: skip
    covered = {ddl.split("(")[0].replace(" NULL", "").strip() for _n, ddl, *_ in SPEC}
    assert documented <= covered, documented - covered


@pytest.mark.parametrize("spec", SPEC, ids=[s[0] for s in SPEC])
def test_parquet_type_is_the_documented_one(exported, spec):
    pf, _rows, _wkb = exported
    name, _ddl, _lits, _vals, physical, logical = spec
    col = pf.schema.column(pf.schema.names.index(name))
    shown = col.physical_type
    if shown == "FIXED_LEN_BYTE_ARRAY":
        shown = f"FIXED_LEN_BYTE_ARRAY({col.length})"
    assert (shown, str(col.logical_type)) == (physical, logical)
    assert col.max_definition_level == 1  # OPTIONAL: NULLs are representable


@pytest.mark.parametrize("spec", SPEC, ids=[s[0] for s in SPEC])
def test_values_round_trip(exported, spec):
    _pf, rows, wkb = exported
    name, _ddl, _lits, expected, *_ = spec
    for rid in (1, 2, 3):
        got = rows[rid][name]
        want = expected[rid - 1]
        if want == "wkb":
            assert isinstance(got, bytes) and got[:4] == b"\x00\x00\x00\x00"  # SRID 0
            assert got[4:] == wkb[(rid, name)]
        elif isinstance(want, float):
            assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
        else:
            assert got == want, (rid, got, want)
            assert type(got) is type(want)
    assert rows[4][name] is None


def test_no_arrow_schema_in_the_footer(exported):
    pf, _rows, _wkb = exported
    assert b"ARROW:schema" not in (pf.metadata.metadata or {})
    assert pf.metadata.row_group(0).column(0).compression == "GZIP"
