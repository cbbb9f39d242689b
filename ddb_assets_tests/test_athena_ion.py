"""ION exports on the Athena engine, run on Trino through the test front: the raw export in
Athena's Ion SerDe (rows from Amazon's Ion reader, see ``trino/ion_serde.py``), discovery and
CTAS by Trino; the typed rows are the DuckDB engine's ION load's, type for type."""

from __future__ import annotations

import datetime as dt
import gzip
import re
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
    # numbers in DynamoDB's canonical text (its JSON export's): no exponent, zeros trimmed
    texts = [v if isinstance(v, str) else repr(v) for r in got.rows for v in r]
    texts = [t for t in texts if not t.startswith("Decimal(")]  # typed DECIMAL values
    assert not [t for t in texts if re.search(r"[0-9][eE][+-]?[0-9]", t)], texts
    assert "0." + "0" * 129 + "1" in a.values(), a  # 1E-130, beyond DECIMAL(38): its text
    assert "600" in repr(a["m"]), a["m"]


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


@pytest.mark.timeout(900)  # a seed and three windows, each many Trino statements, on 2 cores
def test_ion_change_history_equals_the_duckdb_engine_on_the_same_ion_exports(tmp_path):
    """The scripted three-window history (a new attribute, a widened number, deletes),
    exported as ION by the local stack, applied by the Athena chain and by the DuckDB chain."""
    import uuid
    from datetime import datetime, timedelta, timezone

    from ddb_assets.incremental import duckdb_chain as dc
    from ddb_assets.incremental.athena_chain import AthenaChain
    from ddb_assets.incremental.chain import ChainSpec
    from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
    from ddb_assets.local import LocalAWS
    from ddb_assets_tests.test_incremental_athena import _drive, _duck_rows, _rows, _same_rows
    from ddb_assets_tests.test_incremental_chain import (
        Script,
        W,
        _table,
        write_three_window_history,
    )

    with LocalAWS(export_seconds=0.2) as aws:
        t0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        t0 -= timedelta(hours=6)
        name = f"orders-{uuid.uuid4().hex[:8]}"
        ddb = _table(aws, name, t0)
        s3, glue = aws.client("s3"), aws.client("glue")
        bucket = f"chain-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        glue.create_database(DatabaseInput={"Name": "shop"})
        m = lambda minutes, s=0: t0 + timedelta(minutes=minutes, seconds=s)  # noqa: E731
        write_three_window_history(Script(aws, ddb, name), m)
        spec = ChainSpec(
            table_name=name,
            sql_name="orders",
            schema="shop",
            s3_bucket=bucket,
            base_prefix="exports",
            window=W,
            max_in_flight=3,
            export_format="ION",
        )
        emu = AthenaEmulator(glue, s3, database="shop")
        chain = AthenaChain(emu, glue, "shop", "orders", f"s3://{bucket}/typed/orders__history/")
        aws.set_now(m(10))
        # generous deadlines: each step is many Trino statements on a shared machine
        _drive(chain, ddb, s3, spec, lambda st: st.seeded, timeout=600)
        aws.set_now(m(55, 1))
        _drive(chain, ddb, s3, spec, lambda st: len(st.windows()) == 3, timeout=600)
        # every export the chain read is ION, and its raw tables are in the Ion SerDe
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
            if o["Key"].startswith("exports/") and "/data/" in o["Key"]
        ]
        assert keys and all(k.endswith(".ion.gz") for k in keys)
        for raw in ("orders__increments", "orders__full_exports"):
            sd = glue.get_table(DatabaseName="shop", Name=raw)["Table"]["StorageDescriptor"]
            assert sd["SerdeInfo"]["SerializationLibrary"] == "com.amazon.ionhiveserde.IonHiveSerDe"

        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        _drive(
            DuckDBChain(con, "shop", "orders"),
            ddb,
            s3,
            spec,
            lambda st: len(st.windows()) == 3,
            timeout=600,
        )
        _same_rows(
            _rows(emu.execute("SELECT * FROM shop.orders_changes")),
            _duck_rows(con, "SELECT * FROM shop.orders_changes"),
            key=lambda r: (r["window_from"], r["item_key"]),
        )
        _same_rows(
            _rows(emu.execute("SELECT * FROM shop.orders_current")),
            _duck_rows(con, "SELECT * FROM shop.orders_current"),
            key=lambda r: r["_ddb_key"],
        )
        a_state, d_state = chain.read_state(), dc.read_chain_state(con, "shop", "orders")
        assert [(r.seq, r.kind, r.window_from, r.window_to, r.records) for r in a_state.rows] == [
            (r.seq, r.kind, r.window_from, r.window_to, r.records) for r in d_state.rows
        ]
        assert len(a_state.windows()) == 3
        con.close()
        aws.reset_clock()


@pytest.mark.timeout(600)
def test_ion_table_through_dagster_on_the_local_stack(local_env, tmp_path):
    """`engine: athena` + `export_format: ION` end to end: the local stack's ION export, the
    sensor, the Athena engine's load (with its row-count check from the manifest) and a
    summary, through Dagster; the rows are the DuckDB engine's ION load of the same files."""
    import dagster as dg

    from ddb_assets.runner import run_chain
    from ddb_assets_tests.test_athena_chain import EMULATORS, sushi_project_on_athena

    stack = local_env
    stack.client("s3").create_bucket(Bucket="ion-chain")
    _, cfg, defs, partition = sushi_project_on_athena(
        stack, tmp_path, bucket="ion-chain", database="sushi_ion", n_items=120, export_format="ION"
    )
    with dg.instance_for_test() as instance:
        run_chain(
            defs,
            cfg,
            instance,
            table="sushi_orders",
            partitions=[partition],
            poll_seconds=0.3,
            log=lambda *_: None,
        )
        glue, s3 = stack.client("glue"), stack.client("s3")
        raw = glue.get_table(DatabaseName="sushi_ion", Name="sushi_orders__export")["Table"]
        assert (
            raw["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
            == "com.amazon.ionhiveserde.IonHiveSerDe"
        )
        (part,) = glue.get_partitions(DatabaseName="sushi_ion", TableName="sushi_orders__export")[
            "Partitions"
        ]
        bucket, prefix = part["StorageDescriptor"]["Location"][5:].split("/", 1)
        files = []
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
            assert o["Key"].endswith(".ion.gz")
            path = tmp_path / o["Key"].rsplit("/", 1)[1]
            s3.download_file(bucket, o["Key"], str(path))
            files.append(path)
        md = (
            instance.fetch_materializations(
                dg.AssetKey(["athena", "sushi_orders", "table"]), limit=1
            )
            .records[0]
            .asset_materialization.metadata
        )
        assert md["dagster/row_count"].value == 120
        emu = EMULATORS[-1]
        got = emu.execute('SELECT * FROM "sushi_ion"."sushi_orders"')
        con = duckdb.connect()
        duck = load_snapshot_duckdb(
            con,
            schema="wh",
            table="orders",
            snapshot_date=dt.date.fromisoformat(partition),
            data_files=files,
            export_format="ION",
            work_dir=tmp_path,
        )
        assert_same_rows(got, con, duck)
        totals = emu.execute('SELECT sum(orders) FROM "sushi_ion"."menu_totals"').rows[0][0]
        assert totals == 120


def test_ion_raw_table_ddl_parses_with_hive_and_uses_documented_serde_properties():
    """The ION raw tables' DDL (the change history runs it; the snapshot table is the same
    definition through Glue) is HiveQL by Hive 3.1.3's own parser, and every SerDe property
    is one Athena documents for the Amazon Ion Hive SerDe."""
    import re

    from ddb_assets.incremental import athena_sql as q
    from ddb_assets.tables import athena_ion
    from ddb_assets_tests.trino import hive_grammar

    ddl = q.ddl_statements("shop", "orders", [], [], "s3://b/typed/orders/", "ION")[:2]
    snapshot = (
        "CREATE EXTERNAL TABLE `shop`.`orders__export` ("
        + athena_ion.hive_columns(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
        + ") PARTITIONED BY (`snapshot_date` date) "
        + athena_ion.hive_row_format(athena_ion.SNAPSHOT_IMAGES, with_item_map=True)
        + " LOCATION 's3://b/exports/orders/'"
    )
    for sql in [*ddl, snapshot]:
        tree = hive_grammar.check(sql)
        assert "com.amazon.ionhiveserde.IonHiveSerDe" in tree
        assert "com.amazon.ionhiveserde.formats.IonInputFormat" in tree
    # Athena's "Amazon Ion SerDe property reference" (ion-serde-using-ion-serde-properties):
    documented = [
        r"ion\.encoding",
        r"ion\.fail_on_overflow",
        r"ion\.[a-z0-9_]+\.fail_on_overflow",
        r"ion\.path_extractor\.case_sensitive",
        r"ion\.[a-z0-9_]+\.path_extractor",
        r"ion\.[a-z0-9_]+\.serialize_as",
        r"ion\.[a-z0-9_]+\.serialize_null",
        r"ion\.timestamp\.serialization_offset",
        r"ion\.ignore_malformed",
    ]
    for images, with_map in (
        (athena_ion.SNAPSHOT_IMAGES, True),
        (athena_ion.INCREMENTAL_IMAGES, False),
    ):
        params = athena_ion.serde_parameters(images, with_item_map=with_map)
        for key, value in params.items():
            assert any(re.fullmatch(p, key) for p in documented), key
            if key.endswith(".path_extractor") and key != "ion.path_extractor.case_sensitive":
                column = key[len("ion.") : -len(".path_extractor")]
                assert column in {
                    c for c, _ in athena_ion.raw_columns(images, with_item_map=with_map)
                }
                assert re.fullmatch(r"\((Item|Keys|NewImage|OldImage|Metadata)\)", value)
        assert params["ion.encoding"] in ("BINARY", "TEXT")
        assert params["ion.path_extractor.case_sensitive"] == "true"


@mock_aws
def test_ion_decimal_text_is_dynamodbs_canonical_number_text_on_trino():
    """The N text Athena derives from an Ion decimal is DynamoDB's canonical spelling (its
    DYNAMODB_JSON export's, the local stack's, the DuckDB engine's ION load's), for the
    spellings ion-java prints and more."""
    from ddb_assets.local.ion_text import dynamodb_number
    from ddb_assets.sql.literals import sql_literal
    from ddb_assets.tables.athena_ion import decimal_text_sql

    texts = [
        "0.",
        "-0.",
        "0.0",
        "0.00",
        "-0.0",
        "1.",
        "103.",
        "1.50",
        "6d2",
        "-6d2",
        "1d-130",
        "9.9999d125",
        "0.000001",
        "0.0000001",
        "0.00000012",
        "123456.789",
        "1.0d5",
        "10d-1",
        "12345678901234567890123456789012345678.",
        "-0.12345678901234567890123456789012345678",
        "1_000.5",
        "42",
        "-7",
        "5d0",
        "5.d-6",
        "5.d-7",
        "0d-5",
        "-0d5",
        "1.50d0",
        "-1d-130",
        "1200d-3",
        "1200d-5",
        "1200d-1",
        "100.00",
        "0.0010",
        "-7.0",
        "-9.9999999999999999999999999999999999999d125",
        "1234567890123456789012345678901234567.800",
    ]
    glue, s3, runner = _world()
    rows = runner.execute(
        f"SELECT t, {decimal_text_sql('t', 'v')} FROM (VALUES "
        + ", ".join(f"({sql_literal(t)})" for t in texts)
        + ") AS x(t)"
    ).rows
    got = {r[0]: r[1] for r in rows}
    for t in texts:
        want = dynamodb_number(t.replace("_", "").replace("d", "E"))
        assert got[t] == want == codec._decimal_text(Decimal(want)), t
    assert [got[t] for t in ("-0.", "6d2", "1.50", "1d-130", "9.9999d125", "1200d-5")] == [
        "0",
        "600",
        "1.5",
        "0." + "0" * 129 + "1",
        "99999" + "0" * 121,
        "0.012",
    ]
