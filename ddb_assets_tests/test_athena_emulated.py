"""The Athena engine run for real: Athena SQL executed by the DuckDB-backed emulator over Glue + S3.

Value by value against the items written and against the DuckDB engine on the same files.
Intended difference (see ``ddb_assets.tables.athena_engine``): M and L attributes are JSON text
of their DynamoDB-typed form on Athena (``{"x":{"S":"a"}}``) and plain JSON on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import boto3
import duckdb
import pytest
from moto import mock_aws

from ddb_assets.athena.client import AthenaQueryError
from ddb_assets.summaries import (
    SummaryError,
    load_summaries,
    materialize_athena,
    materialize_duckdb,
)
from ddb_assets.summaries.duckdb_engine import sandbox_connect
from ddb_assets.tables import ColumnOverride, load_snapshot_athena, load_snapshot_duckdb
from ddb_assets_tests.athena_emulator import AthenaEmulator
from ddb_assets_tests.test_tables_duckdb import ODD_NAMES, b64, deep, expected_typed, plain

pytestmark = pytest.mark.trino

DB = "analytics"
BUCKET = "exports"
TYPED = f"s3://{BUCKET}/typed/orders/"
DAY1, DAY2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
OVERRIDES = {"when": ColumnOverride(type="timestamp")}
N_ITEMS = 120
LATE_FROM = 100


def day1_items() -> list[dict]:
    special = {
        "pk": {"S": "p0"},
        "s": {"S": "héllo ✓ 😀 \"quoted\" \\ back 'single'"},
        "empty": {"S": ""},
        "n_big": {"N": "12345678901234567890123456789012345678"},
        "n_neg": {"N": "-42.5"},
        "n_tiny": {"N": "1E-130"},
        "flag": {"BOOL": True},
        "bin": {"B": b64(b"\x00\x01\xff")},
        "ss": {"SS": ["x", "ÿ", ""]},
        "ns": {"NS": ["1.5", "-2", "0.25"]},
        "bs": {"BS": [b64(b"a"), b64(b"\x00")]},
        "m": deep(6),
        "l": {
            "L": [
                {"N": "1.10"},
                {"S": "two"},
                {"NULL": True},
                {"M": {"x": {"BOOL": False}}},
                {"SS": ["q"]},
                {"B": b64(b"z")},
            ]
        },
        "nul": {"NULL": True},
        "mixed": {"N": "10"},
        "when": {"S": "2024-03-04T05:06:07Z"},
    }
    for i, attr in enumerate(ODD_NAMES):
        special[attr] = {"S": f"odd-{i}"}
    items = [
        special,
        {
            "pk": {"S": "p1"},
            "mixed": {"S": "ten"},
            "flag": {"BOOL": False},
            "nul": {"S": "not null now"},
            "when": {"S": "2024-03-04T14:06:07+09:00"},
            "ss": {"SS": ["only"]},
        },
        {"pk": {"S": "p2"}, "mixed": {"BOOL": True}, "m": {"M": {}}, "l": {"L": []}},
    ]
    for i in range(3, N_ITEMS):
        it = {
            "pk": {"S": f"p{i}"},
            "qty": {"N": str(i) if i % 7 else f"{i}.25"},
            "flag": {"BOOL": i % 3 == 0},
        }
        if i >= LATE_FROM:
            it["late"] = {"S": f"late-{i}"}
        items.append(it)
    return items


def day2_items() -> list[dict]:
    items = [
        {
            "pk": {"S": f"p{i}"},
            "qty": {"N": str(i * 2)},
            "fresh": {"BOOL": i % 2 == 0},
            "flag": {"BOOL": True},
        }
        for i in range(3, 40)
    ]
    items.append(
        {"pk": {"S": "p0"}, "qty": {"S": "many"}, "fresh": {"BOOL": True}}
    )  # qty: N -> string
    return items


# --- writing exports as DynamoDB does (AWS layout, gzip JSON lines, manifests outside data/) ---


def export_files(items: list[dict], files: int = 3) -> list[bytes]:
    per = (len(items) + files - 1) // files
    out = []
    for f in range(files):
        lines = "".join(
            json.dumps({"Item": it}, ensure_ascii=False) + "\n"
            for it in items[f * per : (f + 1) * per]
        )
        out.append(gzip.compress(lines.encode("utf-8")))
    return out


def put_export(s3, tmp_path, items: list[dict], export_id: str):
    """Upload an export to S3 and keep the same files on disk; returns (data/ URI, local paths)."""
    base = f"exports/orders/AWSDynamoDB/{export_id}"
    paths = []
    keys = []
    for i, body in enumerate(export_files(items)):
        key = f"{base}/data/{export_id}-{i:02d}.json.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        p = tmp_path / f"{export_id}-{i:02d}.json.gz"
        p.write_bytes(body)
        paths.append(p)
        keys.append(key)
    # manifests next to data/, which the raw table must never read (they are not item lines)
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{base}/manifest-summary.json",
        Body=json.dumps({"itemCount": len(items), "outputFormat": "DYNAMODB_JSON"}).encode(),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{base}/manifest-files.json",
        Body="".join(json.dumps({"dataFileS3Key": k}) + "\n" for k in keys).encode(),
    )
    s3.put_object(Bucket=BUCKET, Key=f"{base}/_started", Body=b"")
    return f"s3://{BUCKET}/{base}/data/", paths


def athena_expected(v):
    """Expected Athena value of a DynamoDB value (independent of the code under test)."""
    ((tag, x),) = v.items()
    if tag in ("M", "L"):
        return x  # typed JSON text, parsed by the caller
    return expected_typed(v)


def rows_of(result, key="pk"):
    return {r[result.columns.index(key)]: dict(zip(result.columns, r)) for r in result.rows}


def duck_rows(con, relation):
    cur = con.execute(f"SELECT * FROM {relation}")
    names = [d[0] for d in cur.description]
    return {r[names.index("pk")]: dict(zip(names, r)) for r in cur.fetchall()}


def load_json(text):
    return None if text is None else json.loads(text, parse_float=Decimal, parse_int=Decimal)


# --- the shared world: moto S3 + Glue, two days through both engines ------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            mp.setenv(k, v)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            glue = boto3.client("glue", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            glue.create_database(DatabaseInput={"Name": DB})
            tmp = tmp_path_factory.mktemp("exports")
            emu = AthenaEmulator(glue, s3, database=DB)
            duck = duckdb.connect()
            w = {
                "s3": s3,
                "glue": glue,
                "emu": emu,
                "duck": duck,
                "tmp": tmp,
                "items1": day1_items(),
                "items2": day2_items(),
            }
            uri1, paths1 = put_export(s3, tmp, w["items1"], "01704067200000-aaaa1111")
            w["r1"] = load_snapshot_athena(
                emu,
                glue,
                database=DB,
                table="orders",
                snapshot_date=DAY1,
                data_s3_uri=uri1,
                typed_s3_uri=TYPED,
                overrides=OVERRIDES,
                run_id="run-1",
            )
            w["r1_statements"] = list(emu.statements)
            w["d1"] = load_snapshot_duckdb(
                duck,
                schema=DB,
                table="orders",
                snapshot_date=DAY1,
                data_files=paths1,
                overrides=OVERRIDES,
            )
            # what the view and the typed table hold after day 1
            w["view1"] = emu.execute(f'SELECT * FROM "{DB}"."orders"')
            w["duck_view1"] = duck_rows(duck, f"{DB}.orders")
            uri2, paths2 = put_export(s3, tmp, w["items2"], "01704153600000-bbbb2222")
            w["r2"] = load_snapshot_athena(
                emu,
                glue,
                database=DB,
                table="orders",
                snapshot_date=DAY2,
                data_s3_uri=uri2,
                typed_s3_uri=TYPED,
                overrides=OVERRIDES,
                run_id="run-2",
            )
            w["d2"] = load_snapshot_duckdb(
                duck,
                schema=DB,
                table="orders",
                snapshot_date=DAY2,
                data_files=paths2,
                overrides=OVERRIDES,
            )
            yield w
            emu.close()


# --- 1. day one, value by value --------------------------------------------------------------


def test_day1_statements_ran_and_catalog_is_complete(world):
    r1, glue = world["r1"], world["glue"]
    assert [s.split()[0] for s in world["r1_statements"]] == ["WITH", "CREATE", "SELECT", "CREATE"]
    assert r1.row_count == len(world["items1"])
    assert r1.bytes_scanned > 0 and len(r1.query_ids) == 4
    discovery = world["emu"].queries[0]
    # Trino read the export's data/ objects (gzip bytes), not the manifests beside them
    data_bytes = sum(
        o["Size"]
        for o in world["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]
        if "/01704067200000-aaaa1111/" in o["Key"] and "/data/" in o["Key"]
    )
    assert discovery.state == "SUCCEEDED" and discovery.bytes_scanned == data_bytes
    names = {t["Name"] for t in glue.get_tables(DatabaseName=DB)["TableList"]}
    assert names == {"orders", "orders__export", "orders__snapshots"}  # CTAS entry dropped
    view = glue.get_table(DatabaseName=DB, Name="orders")["Table"]
    assert view["TableType"] == "VIRTUAL_VIEW"
    objs = world["s3"].list_objects_v2(
        Bucket=BUCKET, Prefix="typed/orders/snapshot_date=2024-01-01/run_id=run-1/"
    )
    assert objs["KeyCount"] == 1


def test_day1_view_equals_items_value_by_value(world):
    items, res = world["items1"], world["r1"]
    view = world["view1"]
    rows = rows_of(view)
    assert len(rows) == len(items) == len(view.rows)
    cols = {c.attribute: c for c in res.columns if c.role == "value"}
    simple = [
        "s",
        "empty",
        "n_big",
        "n_neg",
        "flag",
        "bin",
        "ss",
        "ns",
        "bs",
        "qty",
        "late",
    ] + list(ODD_NAMES)
    for it in items:
        row = rows[it["pk"]["S"]]
        assert row["snapshot_date"] == DAY1
        for attr in simple:
            got = row[cols[attr].name]
            want = expected_typed(it[attr]) if attr in it else None
            assert got == want, (attr, it["pk"], got, want)
            if isinstance(want, Decimal):
                assert str(got.normalize()) == str(want.normalize())
        for attr in ("m", "l"):  # typed JSON text on Athena
            got = load_json(row[cols[attr].name])
            want = athena_expected(it[attr]) if attr in it else None
            assert got == want, (attr, got, want)
        assert row[cols["nul"].name] == (
            it["nul"]["S"] if "nul" in it and "S" in it["nul"] else None
        )
        want_when = {"p0": dt.datetime(2024, 3, 4, 5, 6, 7), "p1": dt.datetime(2024, 3, 4, 5, 6, 7)}
        assert row["when_"] == want_when.get(it["pk"]["S"])
    # the 38-digit number exactly, the unfit one kept as text and reported
    p0 = rows["p0"]
    assert p0["n_big"] == Decimal("12345678901234567890123456789012345678")
    assert p0["n_tiny"] is None and p0["n_tiny__raw"] == "1E-130"
    assert [(u.attribute, u.count) for u in res.unfit_numbers] == [("n_tiny", 1)]
    # type conflict: every value kept as text with its tag
    assert [(rows[p]["mixed"], rows[p]["mixed__type"]) for p in ("p0", "p1", "p2")] == [
        ("10", "N"),
        ("ten", "S"),
        ("true", "BOOL"),
    ]
    assert {c.attribute: c.type_counts for c in res.conflicts} == {
        "mixed": {"N": 1, "S": 1, "BOOL": 1}
    }
    # odd attribute names
    for attr, col in ODD_NAMES.items():
        assert res.name_map[col] == attr


def test_day1_catalog_types(world):
    cols = {
        c["Name"]: c["Type"]
        for c in world["glue"].get_table(DatabaseName=DB, Name="orders__snapshots")["Table"][
            "StorageDescriptor"
        ]["Columns"]
    }
    assert (
        cols["n_big"] == "decimal(38,0)"
        and cols["n_neg"] == "decimal(38,1)"
        and cols["qty"] == "decimal(38,2)"
    )
    assert (
        cols["ss"] == "array<string>"
        and cols["ns"] == "array<decimal(38,2)>"
        and cols["bs"] == "array<binary>"
    )
    assert cols["bin"] == "binary" and cols["flag"] == "boolean" and cols["m"] == "string"
    assert cols["when_"] == "timestamp" and cols["n_tiny__raw"] == "string"


def test_day1_same_columns_and_values_as_duckdb_engine(world):
    a, d = world["r1"], world["d1"]
    assert [(c.name, c.sql_type, c.attribute, c.role) for c in a.columns] == [
        (c.name, c.sql_type, c.attribute, c.role) for c in d.columns
    ]
    assert a.row_count == d.row_count and a.name_map == d.name_map
    assert [(u.attribute, u.column, u.count) for u in a.unfit_numbers] == [
        (u.attribute, u.column, u.count) for u in d.unfit_numbers
    ]
    athena_rows, duck = rows_of(world["view1"]), world["duck_view1"]
    assert athena_rows.keys() == duck.keys()
    for pk, ra in athena_rows.items():
        rd = duck[pk]
        assert ra.keys() == rd.keys()
        for k in ra:
            if k in ("m", "l") and ra[k] is not None:
                # intended difference: typed JSON on Athena, plain JSON on DuckDB
                typed = load_json(ra[k])
                assert plain({k.upper(): typed}) == load_json(rd[k]), (pk, k)
            else:
                assert ra[k] == rd[k], (pk, k, ra[k], rd[k])


# --- 2. day two: a new attribute and a type change ---------------------------------------------


def test_day2_view_shows_new_attribute_and_old_partition_reads_null(world):
    emu, items2 = world["emu"], world["items2"]
    kinds = {(c.kind, c.column) for c in world["r2"].schema_changes}
    assert ("added", "fresh") in kinds and ("type_changed", "qty") in kinds
    view = rows_of(emu.execute(f'SELECT * FROM "{DB}"."orders"'))
    assert len(view) == len(items2)
    for it in items2:
        row = view[it["pk"]["S"]]
        assert row["fresh"] is it["fresh"]["BOOL"] and row["snapshot_date"] == DAY2
        assert row["qty"] == (
            "many" if it["pk"]["S"] == "p0" else it["qty"]["N"]
        )  # now a string column
        assert "late" not in row
    old = rows_of(
        emu.execute(
            f'SELECT pk, qty, qty__v2, fresh, late FROM "{DB}"."orders__snapshots" '
            "WHERE snapshot_date = DATE '2024-01-01'"
        )
    )
    assert len(old) == len(world["items1"])
    for it in world["items1"]:
        row = old[it["pk"]["S"]]
        assert row["fresh"] is None and row["qty__v2"] is None
        assert row["qty"] == (Decimal(it["qty"]["N"]) if "qty" in it else None)
        assert row["late"] == (it["late"]["S"] if "late" in it else None)
    counts = emu.execute(
        f'SELECT snapshot_date, count(*) AS n FROM "{DB}"."orders__snapshots" GROUP BY 1 ORDER BY 1'
    )
    assert counts.rows == [(DAY1, len(world["items1"])), (DAY2, len(items2))]


def test_day2_same_as_duckdb_engine(world):
    emu, duck = world["emu"], world["duck"]
    a, d = world["r2"], world["d2"]
    assert [(c.name, c.sql_type) for c in a.columns] == [(c.name, c.sql_type) for c in d.columns]
    assert {(c.kind, c.column) for c in a.schema_changes} == {
        (c.kind, c.column) for c in d.schema_changes
    }
    athena_view = rows_of(emu.execute(f'SELECT * FROM "{DB}"."orders"'))
    assert athena_view == duck_rows(duck, f"{DB}.orders")


def test_partition_pruning_reads_only_the_asked_day(world):
    emu = world["emu"]
    one = emu.execute(
        f'SELECT count(*) FROM "{DB}"."orders__snapshots" WHERE snapshot_date = DATE \'2024-01-02\''
    )
    both = emu.execute(f'SELECT count(*) FROM "{DB}"."orders__snapshots"')
    assert one.columns == ["_col0"] and one.rows == [(len(world["items2"]),)]
    assert 0 < one.bytes_scanned < both.bytes_scanned


# --- 3. a summary over the typed table, Athena vs DuckDB -----------------------------------------

SUMMARY = """-- description: Items and quantity per flag, latest snapshot
SELECT coalesce(CAST(flag AS varchar), 'none') AS flag_text,
       count(*) AS items,
       count(fresh) FILTER (WHERE fresh) AS fresh_items,
       min(pk) AS first_pk,
       max(length(qty)) AS longest_qty
FROM orders
GROUP BY coalesce(CAST(flag AS varchar), 'none')
"""

SUMMARY_DAY1 = """-- description: Day-one quantities per flag, from the snapshots table
SELECT flag, count(*) AS items, sum(qty) AS total_qty, max(n_neg) AS max_neg,
       count_if(late IS NOT NULL) AS late_items, max(cardinality(ss)) AS max_ss
FROM orders__snapshots
WHERE snapshot_date = DATE '2024-01-01'
GROUP BY flag
"""


@pytest.mark.parametrize("name,sql", [("per_flag", SUMMARY), ("day1_per_flag", SUMMARY_DAY1)])
def test_summary_through_athena_equals_duckdb(world, tmp_path, name, sql):
    emu, glue, duck = world["emu"], world["glue"], world["duck"]
    (tmp_path / f"{name}.sql").write_text(sql)
    spec = load_summaries(tmp_path, {"orders", "orders__snapshots"}, DB)[0]
    res_a = materialize_athena(emu, glue, spec, DB, f"s3://{BUCKET}/summaries", f"run-{name}-1")
    # Summaries run sandboxed: a sandboxed copy of the tables they read (an in-memory
    # warehouse cannot be opened a second time).
    sandbox = sandbox_connect()
    sandbox.execute(f"CREATE SCHEMA {DB}")
    for t in spec.deps:
        arrow = duck.execute(f"SELECT * FROM {DB}.{t}").to_arrow_table()
        sandbox.from_arrow(arrow).create(f"{DB}.{t}")
    res_d = materialize_duckdb(sandbox, spec, DB)
    got = emu.execute(f'SELECT * FROM "{DB}"."{name}"')
    want = sandbox.execute(f"SELECT * FROM {DB}.{name}")
    assert got.columns == [c[0] for c in want.description]
    assert sorted(got.rows, key=repr) == sorted(want.fetchall(), key=repr)
    assert res_a.row_count == res_d.row_count == len(got.rows) > 0
    assert [c for c, _ in res_a.columns] == [c for c, _ in res_d.columns]
    assert res_a.bytes_scanned > 0 and len(res_a.query_ids) == 3
    assert res_a.column_lineage == res_d.column_lineage
    # a second run swaps the table to a new location; the staging entries are gone
    materialize_athena(emu, glue, spec, DB, f"s3://{BUCKET}/summaries", f"run-{name}-2")
    table = glue.get_table(DatabaseName=DB, Name=name)["Table"]
    assert table["StorageDescriptor"]["Location"].endswith(f"/{name}/run-{name}-2/")
    assert sorted(emu.execute(f'SELECT * FROM "{DB}"."{name}"').rows, key=repr) == sorted(
        got.rows, key=repr
    )
    assert not [
        t for t in glue.get_tables(DatabaseName=DB)["TableList"] if "__staging_" in t["Name"]
    ]


def test_summary_types_in_glue_are_athena_types(world, tmp_path):
    (tmp_path / "typed_totals.sql").write_text(SUMMARY_DAY1)
    spec = load_summaries(tmp_path, {"orders", "orders__snapshots"}, DB)[0]
    res = materialize_athena(
        world["emu"], world["glue"], spec, DB, f"s3://{BUCKET}/summaries", "run-types"
    )
    assert dict(res.columns) == {
        "flag": "boolean",
        "items": "bigint",
        "total_qty": "decimal(38,2)",
        "max_neg": "decimal(38,1)",
        "late_items": "bigint",
        "max_ss": "bigint",
    }


# --- the emulator fails like Athena ---------------------------------------------------------------


def test_emulator_failures_look_like_athena(world):
    emu = world["emu"]
    with pytest.raises(AthenaQueryError, match="TABLE_NOT_FOUND"):
        emu.execute(f'SELECT * FROM "{DB}"."nope"')
    with pytest.raises(AthenaQueryError, match="HIVE_PATH_ALREADY_EXISTS"):
        emu.execute(
            f'CREATE TABLE "{DB}"."again" WITH (format = \'PARQUET\', '
            f"external_location = '{TYPED}snapshot_date=2024-01-01/run_id=run-1/') AS SELECT 1 AS one"
        )
    with pytest.raises(AthenaQueryError, match="MISSING_COLUMN_NAME"):
        emu.execute(
            f'CREATE TABLE "{DB}"."unnamed" WITH (format = \'PARQUET\', '
            f"external_location = 's3://{BUCKET}/x/unnamed/') AS SELECT 1"
        )
    # HiveQL DDL does not take Trino's double quotes: Hive's grammar refuses them
    with pytest.raises(AthenaQueryError, match="ParseException.*in table name"):
        emu.execute(f'ALTER TABLE "{DB}"."orders__export" ADD COLUMNS (x string)')
    with pytest.raises(ValueError, match="does not parse"):
        emu.execute("SELEC 1")
    names = {t["Name"] for t in world["glue"].get_tables(DatabaseName=DB)["TableList"]}
    assert not {"again", "unnamed"} & names


# --- Iceberg tables, Hive DDL and DML, as Athena runs them -----------------------------------------


@pytest.fixture
def ice(world):
    """A fresh database and bucket in the module's moto world, and an emulator for them."""
    import uuid

    s3, glue = world["s3"], world["glue"]
    db, bucket = f"ice_{uuid.uuid4().hex[:8]}", f"ice-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": db})
    emu = AthenaEmulator(glue, s3, database=db)
    yield emu, glue, s3, db, bucket
    emu.close()


ICE = (
    "CREATE TABLE IF NOT EXISTS {db}.ev (d date, k string, v decimal(38,0), tags array<string>) "
    "PARTITIONED BY (d) LOCATION 's3://{bucket}/ice/ev/' "
    "TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'PARQUET', 'write_compression' = 'ZSTD')"
)


def _meta(glue, db, name="ev"):
    return glue.get_table(DatabaseName=db, Name=name)["Table"]


def _field_ids(glue, s3, db, name="ev"):
    """(column, Iceberg field id) of the table's current schema, from its metadata file."""
    loc = _meta(glue, db, name)["Parameters"]["metadata_location"]
    bucket, key = loc[len("s3://") :].split("/", 1)
    meta = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    schema = next(x for x in meta["schemas"] if x["schema-id"] == meta["current-schema-id"])
    return [(f["name"], f["id"]) for f in schema["fields"]]


def test_iceberg_create_registers_the_table_in_glue_as_athena_does(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    t = _meta(glue, db)
    assert t["Parameters"]["table_type"] == "ICEBERG" and t.get("PartitionKeys", []) == []
    loc = t["Parameters"]["metadata_location"]
    assert loc.startswith(f"s3://{bucket}/ice/ev/metadata/00000-") and loc.endswith(
        ".metadata.json"
    )  # written by Trino's Iceberg connector, registered in Glue
    meta = json.loads(s3.get_object(Bucket=bucket, Key=loc.split("/", 3)[3])["Body"].read())
    assert meta["partition-specs"][0]["fields"][0]["transform"] == "identity"
    cols = t["StorageDescriptor"]["Columns"]
    assert [(c["Name"], c["Type"]) for c in cols] == [
        ("d", "date"),
        ("k", "string"),
        ("v", "decimal(38,0)"),
        ("tags", "array<string>"),
    ]
    assert _field_ids(glue, s3, db) == [("d", 1), ("k", 2), ("v", 3), ("tags", 4)]
    emu.execute(ICE.format(db=db, bucket=bucket))  # IF NOT EXISTS: nothing happens
    assert _meta(glue, db)["Parameters"]["metadata_location"] == loc
    with pytest.raises(AthenaQueryError, match="TABLE_ALREADY_EXISTS"):
        emu.execute(ICE.format(db=db, bucket=bucket).replace(" IF NOT EXISTS", ""))
    with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED.*EXTERNAL"):
        emu.execute(
            ICE.format(db=db, bucket=bucket)
            .replace("CREATE TABLE IF NOT EXISTS", "CREATE EXTERNAL TABLE")
            .replace(".ev ", ".ev2 ")
        )
    with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED.*tinyint"):
        emu.execute(
            ICE.format(db=db, bucket=bucket)
            .replace("v decimal(38,0)", "v tinyint")
            .replace(".ev ", ".ev3 ")
        )
    with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED.*external"):
        emu.execute(f"CREATE TABLE {db}.plain (x string) LOCATION 's3://{bucket}/plain/'")


def test_iceberg_dml_is_copy_on_write_with_a_new_snapshot_per_statement(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    emu.execute(
        f"INSERT INTO {db}.ev VALUES (DATE '2025-01-01', 'a', 1, ARRAY['x']), "
        f"(DATE '2025-01-02', 'b', 2, NULL), (DATE '2025-01-02', 'c', 3, ARRAY[])"
    )
    first = _meta(glue, db)["Parameters"]["metadata_location"]
    emu.execute(f"UPDATE {db}.ev SET v = v * 10 WHERE k <> 'c'")
    emu.execute(f"DELETE FROM {db}.ev WHERE k = 'c'")
    params = _meta(glue, db)["Parameters"]
    assert params["metadata_location"] != first and params["previous_metadata_location"] != first
    assert int(params["metadata_location"].split("/")[-1][:5]) >= 3  # one commit per statement
    emu.execute(
        f"MERGE INTO {db}.ev AS t USING (SELECT 'a' AS k, 'R' AS op UNION ALL SELECT 'b', 'U' "
        f"UNION ALL SELECT 'z', 'I') AS s ON t.k = s.k "
        "WHEN MATCHED AND s.op = 'R' THEN DELETE WHEN MATCHED THEN UPDATE SET v = 7 "
        "WHEN NOT MATCHED THEN INSERT (d, k, v) VALUES (DATE '2025-01-03', s.k, 8)"
    )
    assert emu.execute(f"SELECT k, v, tags FROM {db}.ev ORDER BY k").rows == [
        ("b", Decimal(7), None),
        ("z", Decimal(8), None),
    ]
    # a query for one partition reads less than the whole table (pruned by the Iceberg metadata)
    one = emu.execute(f"SELECT k FROM {db}.ev WHERE d = DATE '2025-01-03'")
    every = emu.execute(f"SELECT k FROM {db}.ev")
    assert one.rows == [("z",)] and 0 < one.bytes_scanned < every.bytes_scanned
    # nothing is ever read by listing the location: old snapshots' files stay in S3 unseen
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ice/ev/data/")["Contents"]]
    assert len(keys) > 2


def test_iceberg_schema_evolution_by_field_id(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    emu.execute(f"INSERT INTO {db}.ev (d, k, v) VALUES (DATE '2025-01-01', 'a', 1)")
    emu.execute(f"ALTER TABLE {db}.ev ADD COLUMNS (note string, w decimal(38,2))")
    assert emu.execute(f"SELECT k, v, note, w FROM {db}.ev").rows == [("a", Decimal(1), None, None)]
    with pytest.raises(AthenaQueryError, match="COLUMN_ALREADY_EXISTS"):
        emu.execute(f"ALTER TABLE {db}.ev ADD COLUMNS (note string)")
    # Iceberg cannot widen a decimal's scale in place: drop and add gives a new field id, old files
    # do not have it (NULL), until the rows are rewritten
    emu.execute(f"ALTER TABLE {db}.ev DROP COLUMN v")
    emu.execute(f"ALTER TABLE {db}.ev ADD COLUMNS (v decimal(38,2))")
    assert emu.execute(f"SELECT k, v FROM {db}.ev").rows == [("a", None)]
    emu.execute(f"UPDATE {db}.ev SET v = 1.5")
    assert emu.execute(f"SELECT k, v FROM {db}.ev").rows == [("a", Decimal("1.50"))]
    ids = _field_ids(glue, s3, db)
    assert ids[-1][0] == "v" and ids[-1][1] > max(i for _, i in ids[:-1])  # a new field id
    with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED: Cannot drop partition field"):
        emu.execute(f"ALTER TABLE {db}.ev DROP COLUMN d")
    with pytest.raises(AthenaQueryError, match="COLUMN_NOT_FOUND"):
        emu.execute(f"ALTER TABLE {db}.ev DROP COLUMN nope")
    with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED.*ADD PARTITION"):
        emu.execute(
            f"ALTER TABLE {db}.ev ADD PARTITION (d = '2025-01-01') LOCATION 's3://{bucket}/x/'"
        )


def test_what_athena_refuses(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    with pytest.raises(AthenaQueryError, match="TYPE_MISMATCH"):
        emu.execute(f"INSERT INTO {db}.ev (d, k, v) VALUES (DATE '2025-01-01', 'a', 'one')")
    emu.execute(
        f"CREATE EXTERNAL TABLE {db}.raw (line string) PARTITIONED BY (lbl string) "
        f"ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\u0001' LOCATION 's3://{bucket}/raw/'"
    )
    for sql in (
        f"DELETE FROM {db}.raw WHERE lbl = 'x'",
        f"UPDATE {db}.raw SET line = 'x'",
        f"MERGE INTO {db}.raw AS t USING (SELECT 'x' AS line) AS s ON t.line = s.line "
        "WHEN MATCHED THEN DELETE",
    ):
        with pytest.raises(AthenaQueryError, match="NOT_SUPPORTED: Modifying Hive table rows"):
            emu.execute(sql)
    with pytest.raises(
        AthenaQueryError,
        match="NOT_SUPPORTED: ALTER TABLE DROP COLUMN is only supported for Iceberg",
    ):
        emu.execute(f"ALTER TABLE {db}.raw DROP COLUMN line")
    emu.execute(
        f"INSERT INTO {db}.ev (d, k) VALUES (DATE '2025-01-01', 'a'), (DATE '2025-01-01', 'b')"
    )
    with pytest.raises(AthenaQueryError, match="MERGE_TARGET_ROW_MULTIPLE_MATCHES"):
        emu.execute(
            f"MERGE INTO {db}.ev AS t USING (SELECT 'a' AS k UNION ALL SELECT 'a') AS s ON t.k = s.k "
            "WHEN MATCHED THEN UPDATE SET v = 1"
        )
    assert emu.execute(f"SELECT count(v) FROM {db}.ev").rows == [
        (0,)
    ]  # the failed MERGE wrote nothing


def test_hive_external_table_and_add_partition(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {db}.raw (line string) PARTITIONED BY (lbl string) "
        f"ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\u0001' LOCATION 's3://{bucket}/raw/'"
    )
    t = _meta(glue, db, "raw")
    assert t["StorageDescriptor"]["SerdeInfo"]["Parameters"]["field.delim"] == "\x01"
    assert t["PartitionKeys"] == [{"Name": "lbl", "Type": "string"}]
    s3.put_object(Bucket=bucket, Key="w1/data/a.json.gz", Body=gzip.compress(b'{"a":1}\n{"a":2}\n'))
    s3.put_object(Bucket=bucket, Key="w1/manifest-summary.json", Body=b"{}")
    add = f"ALTER TABLE {db}.raw ADD IF NOT EXISTS PARTITION (lbl = 'one') LOCATION 's3://{bucket}/w1/data/'"
    emu.execute(add)
    emu.execute(add)
    with pytest.raises(AthenaQueryError, match="ALREADY_EXISTS"):
        emu.execute(add.replace(" IF NOT EXISTS", ""))
    with pytest.raises(AthenaQueryError, match="HIVE_METASTORE_ERROR"):
        emu.execute(
            f"ALTER TABLE {db}.raw ADD PARTITION (other = 'x') LOCATION 's3://{bucket}/w1/data/'"
        )
    res = emu.execute(f"SELECT lbl, json_extract_scalar(line, '$.a') AS a FROM {db}.raw ORDER BY a")
    assert res.rows == [("one", "1"), ("one", "2")]


def test_query_api_ids_states_and_limits(ice):
    emu, glue, s3, db, bucket = ice
    qid = emu.start_query_execution("SELECT 1 AS one")
    state = emu.get_query_execution(qid)["QueryExecution"]
    assert state["Status"]["State"] == "SUCCEEDED" and state["QueryExecutionId"] == qid
    assert emu.get_query_results(qid).rows == [(1,)]
    bad = emu.start_query_execution(f"SELECT * FROM {db}.nope")
    status = emu.get_query_execution(bad)["QueryExecution"]["Status"]
    assert status["State"] == "FAILED" and status["StateChangeReason"].startswith("TABLE_NOT_FOUND")
    # Athena refuses query text over 262,144 bytes before running it
    padding = " " * (262_144 - len("SELECT 1"))
    assert emu.execute("SELECT 1" + padding).rows == [(1,)]
    with pytest.raises(AthenaQueryError, match="InvalidRequestException.*262144"):
        emu.execute("SELECT 1 " + padding)
    # HiveQL DDL is checked by Hive's own grammar: a bare name starting with _ or a digit fails
    for bad_ddl in (
        f"CREATE TABLE {db}.t (_k string) LOCATION 's3://{bucket}/t/' "
        "TBLPROPERTIES ('table_type' = 'ICEBERG')",
        f"CREATE TABLE {db}.t (1k string) LOCATION 's3://{bucket}/t/' "
        "TBLPROPERTIES ('table_type' = 'ICEBERG')",
        f"CREATE TABLE {db}.t (date string) LOCATION 's3://{bucket}/t/' "
        "TBLPROPERTIES ('table_type' = 'ICEBERG')",
    ):
        with pytest.raises(AthenaQueryError, match="ParseException"):
            emu.execute(bad_ddl)
    emu.execute(
        f"CREATE TABLE {db}.t (`_k` string, `1k` string, `date` string) "
        f"LOCATION 's3://{bucket}/t/' TBLPROPERTIES ('table_type' = 'ICEBERG')"
    )
    cols = [c["Name"] for c in _meta(glue, db, "t")["StorageDescriptor"]["Columns"]]
    assert cols == ["_k", "1k", "date"]


def test_at_most_100_partitions_written_per_statement(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    days = "SELECT date_add('day', i, DATE '2025-01-01') AS d FROM UNNEST(sequence(0, {n})) AS u(i)"
    emu.execute(f"INSERT INTO {db}.ev (d, k) SELECT d, 'x' FROM ({days.format(n=99)})")
    with pytest.raises(AthenaQueryError, match="TOO_MANY_OPEN_PARTITIONS"):
        emu.execute(
            f"INSERT INTO {db}.ev (d, k) SELECT date_add('year', 1, d), 'y' FROM ({days.format(n=100)})"
        )
    assert emu.execute(f"SELECT count(*) FROM {db}.ev").rows == [(100,)]


def test_drop_of_an_iceberg_table_deletes_its_data(ice):
    emu, glue, s3, db, bucket = ice
    emu.execute(ICE.format(db=db, bucket=bucket))
    emu.execute(f"INSERT INTO {db}.ev (d, k) VALUES (DATE '2025-01-01', 'a')")
    emu.execute(f"DROP TABLE {db}.ev")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="ice/ev/").get("KeyCount", 0) == 0


# --- defects found by running on Trino ---------------------------------------------------------


def test_date_override_reads_dates_and_timestamps_as_trino_parses_them(world, tmp_path):
    """``from_iso8601_date`` refuses a timestamp; the engine takes the date a timestamp is on
    (the DuckDB engine's CAST does the same) and still fails on text that is neither."""
    s3, glue, emu = world["s3"], world["glue"], world["emu"]
    items = [
        {"pk": {"S": "a"}, "day": {"S": "2024-01-01"}},
        {"pk": {"S": "b"}, "day": {"S": "2024-01-02T10:00:00Z"}},
        {"pk": {"S": "c"}, "day": {"S": "2024-01-03T23:30:00-05:00"}},
        {"pk": {"S": "d"}},
    ]
    uri, _ = put_export(s3, tmp_path, items, "01704067200000-dddd4444")
    load_snapshot_athena(
        emu,
        glue,
        database=DB,
        table="days",
        snapshot_date=DAY1,
        data_s3_uri=uri,
        typed_s3_uri=f"s3://{BUCKET}/typed/days/",
        overrides={"day": ColumnOverride(type="date")},
        run_id="days-1",
    )
    got = emu.execute(f'SELECT pk, day FROM "{DB}"."days" ORDER BY pk').rows
    assert got == [
        ("a", dt.date(2024, 1, 1)),
        ("b", dt.date(2024, 1, 2)),
        ("c", dt.date(2024, 1, 3)),
        ("d", None),
    ]
    bad, _ = put_export(
        s3, tmp_path, [{"pk": {"S": "x"}, "day": {"S": "soon"}}], "01704153600000-eeee5555"
    )
    with pytest.raises(AthenaQueryError, match="INVALID_FUNCTION_ARGUMENT"):
        load_snapshot_athena(
            emu,
            glue,
            database=DB,
            table="days",
            snapshot_date=DAY2,
            data_s3_uri=bad,
            typed_s3_uri=f"s3://{BUCKET}/typed/days/",
            overrides={"day": ColumnOverride(type="date")},
            run_id="days-2",
        )


SUMMARY_DECIMALS = """-- description: Decimal arithmetic, typed by Trino
SELECT flag, avg(qty) AS avg_qty, sum(qty) / 3 AS third_qty, count(*) AS items
FROM orders__snapshots
WHERE snapshot_date = DATE '2024-01-01'
GROUP BY flag
"""


def test_summary_types_in_glue_are_trinos_result_types(world, tmp_path):
    (tmp_path / "decimals.sql").write_text(SUMMARY_DECIMALS)
    spec = load_summaries(tmp_path, {"orders", "orders__snapshots"}, DB)[0]
    res = materialize_athena(
        world["emu"], world["glue"], spec, DB, f"s3://{BUCKET}/summaries", "run-decimals"
    )
    types = dict(res.columns)
    # Trino: avg(decimal(38,2)) and decimal(38,2) / integer are decimals (DuckDB says double)
    assert types["avg_qty"] == "decimal(38,2)" and types["third_qty"].startswith("decimal(")
    assert types["items"] == "bigint"


def test_implicit_casts_duckdb_accepts_are_refused(world, tmp_path):
    (tmp_path / "concat.sql").write_text("SELECT pk || 1 AS key_one FROM orders\n")
    (tmp_path / "compare.sql").write_text("SELECT count(*) AS n FROM orders WHERE pk = 1\n")
    for spec in load_summaries(tmp_path, {"orders"}, DB):
        with pytest.raises(SummaryError, match="FUNCTION_NOT_FOUND|TYPE_MISMATCH"):
            materialize_athena(
                world["emu"], world["glue"], spec, DB, f"s3://{BUCKET}/summaries", "run-casts"
            )


# --- the same front against the local AWS stack (moto server on loopback) -------------------------
# Last in the module: starting a LocalAWS resets moto's process-wide backends, and with them
# the module's world.


def test_emulator_on_the_local_stack(tmp_path):
    from ddb_assets.local import LocalAWS

    items = [
        {"pk": {"S": f"k{i}"}, "n": {"N": f"{i}.5"}, "tags": {"SS": [f"t{i}"]}} for i in range(5)
    ]
    with LocalAWS(export_seconds=0.1) as stack:
        s3, glue = stack.client("s3"), stack.client("glue")
        s3.create_bucket(Bucket=BUCKET)
        glue.create_database(DatabaseInput={"Name": DB})
        uri, _ = put_export(s3, tmp_path, items, "01704067200000-cccc3333")
        emu = AthenaEmulator(glue, s3, database=DB)
        try:
            res = load_snapshot_athena(
                emu,
                glue,
                database=DB,
                table="small",
                snapshot_date=DAY1,
                data_s3_uri=uri,
                typed_s3_uri=f"s3://{BUCKET}/typed/small/",
                run_id="r1",
            )
            got = emu.execute(f'SELECT pk, n, tags FROM "{DB}"."small" ORDER BY pk')
        finally:
            emu.close()
    assert res.row_count == 5
    assert got.rows == [(f"k{i}", Decimal(f"{i}.5"), [f"t{i}"]) for i in range(5)]
