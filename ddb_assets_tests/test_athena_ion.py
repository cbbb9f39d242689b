"""ION exports on the Athena engine, run on Trino through the test front: the raw export in
Athena's Ion SerDe (rows from Amazon's Ion reader, see ``trino/ion_serde.py``), discovery and
CTAS by Trino; the typed rows are the DuckDB engine's ION load's, type for type."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import boto3
import duckdb
import pytest
from moto import mock_aws

from ddb_assets.local.ion_text import ion_line
from ddb_assets.sql.identifiers import qualified
from ddb_assets.tables import codec, load_snapshot_athena, load_snapshot_duckdb
from ddb_assets.tables.checks import Expectation, ExpectedFile, SnapshotCheckError
from ddb_assets_tests.athena_emulator import AthenaEmulator

pytestmark = [pytest.mark.integration, pytest.mark.trino]

DATA = "s3://bucket/exports/orders/AWSDynamoDB/01700000000000-abcdef/data/"
DATA2 = DATA.replace("abcdef", "bcdefa")
TYPED = "s3://bucket/typed/orders/"
D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)

# Every DynamoDB type, and the values that are easy to get wrong.
ITEMS = [
    {
        "pk": {"S": "a"},
        "big": {"N": "12345678901234567890123456789012345678"},
        "frac": {"N": "0.12345678901234567890123456789012345678"},
        "negzero": {"N": "-0"},
        "expo": {"N": "6E+2"},
        "tiny": {"N": "1E-130"},
        "qty": {"N": "1234.50"},
        "empty": {"S": ""},
        "text": {"S": 'quote " back \\ nl \n ctl \x01 é 😀'},
        "numlike": {"S": "1.5"},
        "boollike": {"S": "true"},
        "bin": {"B": "aGVsbG8="},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "tags": {"SS": ["x", "y"]},
        "nums": {"NS": ["1", "2.5", "-0"]},
        "bins": {"BS": ["AA==", "AQI="]},
        "m": {
            "M": {"city": {"S": "Tokyo"}, "n": {"N": "6E+2"}, "deep": {"M": {"b": {"BOOL": False}}}}
        },
        "l": {
            "L": [
                {"N": "1"},
                {"S": "x"},
                {"SS": ["z"]},
                {"NS": ["3"]},
                {"BS": ["AA=="]},
                {"NULL": True},
            ]
        },
        "O'Brien": {"S": "x"},
        "a b": {"N": "1"},
        "null": {"S": "attribute named null"},
        "mixed": {"N": "1"},
    },
    {
        "pk": {"S": "b"},
        "big": {"N": "-99999999999999999999999999999999999999"},
        "frac": {"N": "0"},
        "qty": {"N": "1.5"},
        "empty": {"S": "not empty"},
        "tags": {"SS": [""]},
        "nums": {"NS": ["1E+2"]},
        "mixed": {"S": "three"},
        "m": {"M": {}},
        "l": {"L": []},
        "flag": {"BOOL": False},
        "nothing": {"S": "now text"},
    },
    {"pk": {"S": "c"}, "qty": {"N": "12"}, "mixed": {"BOOL": True}},
]
DAY2 = [
    {"pk": {"S": "a"}, "qty": {"N": "1234.567"}, "fresh": {"S": "new"}},
    {"pk": {"S": "b"}, "qty": {"N": "123456789012345678901234567890.5"}, "fresh": {"S": "x"}},
]


def _ion_body(items) -> bytes:
    return gzip.compress("".join(ion_line({"Item": it}) + "\n" for it in items).encode())


def _put(s3, data_uri: str, items, files: int = 1) -> list[str]:
    bucket, prefix = data_uri[len("s3://") :].split("/", 1)
    keys = []
    for f in range(files):
        key = f"{prefix}part-{f}.ion.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=_ion_body(items[f::files]))
        keys.append(key)
    s3.put_object(Bucket=bucket, Key=prefix.replace("/data/", "/manifest-summary.json"), Body=b"{}")
    return keys


def _world():
    glue = boto3.client("glue", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    s3.create_bucket(Bucket="bucket")
    return glue, s3, AthenaEmulator(glue, s3, database="analytics")


def _load(runner, glue, day, data, run_id, expect=None):
    return load_snapshot_athena(
        runner,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=day,
        data_s3_uri=data,
        typed_s3_uri=TYPED,
        export_format="ION",
        run_id=run_id,
        expect=expect,
    )


def _duckdb(tmp_path, days):
    con = duckdb.connect()
    results = []
    for day, items in days:
        path = tmp_path / f"{day}.ion.gz"
        path.write_bytes(_ion_body(items))
        results.append(
            load_snapshot_duckdb(
                con,
                schema="wh",
                table="orders",
                snapshot_date=day,
                data_files=[path],
                export_format="ION",
                work_dir=tmp_path,
            )
        )
    return con, results


def _norm(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, Decimal):
        return v  # Decimal('-0') == Decimal('0'): the sign is checked on the text columns
    return v


def _rows(columns, rows):
    return sorted(
        (tuple(_norm(r[columns.index(c)]) for c in sorted(columns)) for r in rows), key=repr
    )


def assert_same_rows(got, con, result, sql="SELECT * FROM wh.orders"):
    """The Athena engine's rows (``got``) are the DuckDB engine's, value for value; a
    difference is reported per column. M and L columns: the Athena engine stores the
    DynamoDB-typed JSON (``{"city":{"S":"Tokyo"}}``, as for DYNAMODB_JSON exports: Athena SQL
    cannot untype nested values), the DuckDB engine plain JSON; the typed text, untyped by
    the project's codec, must be DuckDB's text exactly."""
    nested = {
        c.name: c.dynamodb_types[0]
        for c in result.columns
        if len(c.dynamodb_types) == 1 and c.dynamodb_types[0] in ("M", "L")
    }
    rows = [
        [
            codec.plain_json(f'{{"{nested[c]}":{v}}}') if c in nested and v is not None else v
            for c, v in zip(got.columns, r)
        ]
        for r in got.rows
    ]
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    assert sorted(got.columns) == sorted(names)
    mine, theirs = _rows(got.columns, rows), _rows(names, cur.fetchall())
    cols = sorted(names)
    diffs = [
        (cols[i], a[i], b[i])
        for a, b in zip(mine, theirs)
        for i in range(len(cols))
        if a[i] != b[i] or type(a[i]) is not type(b[i])
    ]
    assert len(mine) == len(theirs) and not diffs, diffs


@mock_aws
def test_ion_snapshot_types_every_value_as_the_duckdb_ion_load(tmp_path):
    glue, s3, runner = _world()
    _put(s3, DATA, ITEMS, files=2)
    res = _load(runner, glue, D1, DATA, "run-1")
    con, (duck,) = _duckdb(tmp_path, [(D1, ITEMS)])

    # registered through Glue with Athena's Ion SerDe, at data/ only
    raw = glue.get_table(DatabaseName="analytics", Name="orders__export")["Table"]
    sd = raw["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "com.amazon.ionhiveserde.IonHiveSerDe"
    assert sd["InputFormat"] == "com.amazon.ionhiveserde.formats.IonInputFormat"
    assert sd["SerdeInfo"]["Parameters"]["ion.item_ion.path_extractor"] == "(Item)"
    assert sd["Columns"] == [
        {"Name": "item_ion", "Type": "string"},
        {"Name": "item", "Type": "map<string,string>"},
    ]
    part = glue.get_partition(
        DatabaseName="analytics", TableName="orders__export", PartitionValues=["2024-01-01"]
    )["Partition"]
    assert part["StorageDescriptor"]["Location"] == DATA

    # the same columns, types and attribute mapping as the DuckDB engine's ION load
    athena_cols = [(c.name, c.sql_type, c.attribute, c.dynamodb_types) for c in res.columns]
    duck_cols = [(c.name, c.sql_type, c.attribute, c.dynamodb_types) for c in duck.columns]
    assert athena_cols == duck_cols
    assert res.row_count == duck.row_count == 3
    assert [(u.attribute, u.count) for u in res.unfit_numbers] == [
        (u.attribute, u.count) for u in duck.unfit_numbers
    ]

    # the same rows
    got = runner.execute(f"SELECT * FROM {qualified('analytics', 'orders')}")
    assert_same_rows(got, con, res)

    # spot checks of the hard values, as analysts see them
    by_pk = {r[got.columns.index("pk")]: dict(zip(got.columns, r)) for r in got.rows}
    a = by_pk["a"]
    assert a["big"] == Decimal("12345678901234567890123456789012345678")
    assert a["expo"] == Decimal(600) and a["empty"] == "" and a["numlike"] == "1.5"
    assert a["boollike"] == "true" and a["flag"] is True and a["nothing"] is None
    assert a["text"] == ITEMS[0]["text"]["S"] and bytes(a["bin"]) == b"hello"
    assert a["tags"] == ["x", "y"] and a["mixed"] == "1" and by_pk["c"]["mixed"] == "true"
    assert by_pk["b"]["tags"] == [""] and by_pk["b"]["nothing"] == "now text"


@mock_aws
def test_ion_next_day_adds_a_column_and_widens_a_number(tmp_path):
    glue, s3, runner = _world()
    _put(s3, DATA, ITEMS)
    _put(s3, DATA2, DAY2)
    _load(runner, glue, D1, DATA, "run-1")
    res = _load(runner, glue, D2, DATA2, "run-2")
    con, (_, duck) = _duckdb(tmp_path, [(D1, ITEMS), (D2, DAY2)])
    changes = {(c.kind, c.column) for c in res.schema_changes}
    assert changes == {(c.kind, c.column) for c in duck.schema_changes}
    assert ("added", "fresh") in changes and res.previous_snapshot_date == D1
    assert [(c.name, c.sql_type) for c in res.columns] == [
        (c.name, c.sql_type) for c in duck.columns
    ]
    got = runner.execute(f"SELECT * FROM {qualified('analytics', 'orders')}")
    assert_same_rows(got, con, res)
    # the first day is still read with its own types
    old = runner.execute(
        f"SELECT count(*) FROM {qualified('analytics', 'orders__snapshots')} "
        "WHERE snapshot_date = DATE '2024-01-01'"
    )
    assert old.rows == [[3]] or old.rows == [(3,)]


@mock_aws
def test_ion_row_count_check_fails_before_anything_is_visible_then_passes():
    glue, s3, runner = _world()
    keys = _put(s3, DATA, ITEMS, files=2)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/01700000000000-abcdef"
    wrong = Expectation(
        export=arn, item_count=4, files=(ExpectedFile(keys[0], 2), ExpectedFile(keys[1], 2))
    )
    with pytest.raises(SnapshotCheckError) as err:
        _load(runner, glue, D1, DATA, "run-1", expect=wrong)
    assert keys[1] in str(err.value)  # names the file whose count differs (1, not 2)
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_partition(
            DatabaseName="analytics", TableName="orders__snapshots", PartitionValues=["2024-01-01"]
        )
    right = Expectation(
        export=arn, item_count=3, files=(ExpectedFile(keys[0], 2), ExpectedFile(keys[1], 1))
    )
    assert _load(runner, glue, D1, DATA, "run-2", expect=right).row_count == 3
