import boto3
import pytest
import sqlglot
from moto import mock_aws

from ddb_assets.summaries import SummaryError, load_summaries, materialize_athena
from ddb_assets_tests.athena_emulator import AthenaEmulator

ROOT = "s3://warehouse/summaries"


@pytest.fixture
def glue():
    """moto's Glue and S3 (shared with the session's Trino): a text table ``shop.orders``."""
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="warehouse")
        s3.put_object(
            Bucket="warehouse",
            Key="orders/part-0",
            Body=b"1\x01u1\x0110.25\n2\x01u1\x010.25\n3\x01u2\x011.00\n",
        )
        client.create_database(DatabaseInput={"Name": "shop"})
        client.create_table(
            DatabaseName="shop",
            TableInput={
                "Name": "orders",
                "TableType": "EXTERNAL_TABLE",
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": "id", "Type": "bigint"},
                        {"Name": "uid", "Type": "string"},
                        {"Name": "amount", "Type": "decimal(38,2)"},
                    ],
                    "Location": "s3://warehouse/orders/",
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                        "Parameters": {"field.delim": "\x01"},
                    },
                },
            },
        )
        client.s3 = s3
        yield client


def athena(glue):
    """The Athena front over the session's Trino."""
    return AthenaEmulator(glue, glue.s3, database="shop")


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "totals.sql").write_text(
        "-- description: Totals per user\n-- owners: data@x.com\n"
        "SELECT uid, SUM(amount) AS total FROM shop.orders GROUP BY uid"
    )
    return load_summaries(tmp_path, {"orders"}, "shop")[0]


@pytest.mark.trino
def test_ctas_then_swap_then_staging_gone(glue, spec):
    runner = athena(glue)
    res = materialize_athena(runner, glue, spec, "shop", ROOT, "run-1")
    for sql in runner.statements:
        sqlglot.parse_one(sql, read="athena")  # every statement is Athena SQL
    ctas = runner.statements[0]
    assert ctas.startswith('CREATE TABLE "shop"."totals__staging_run_1"')
    assert "format = 'PARQUET'" in ctas and "write_compression = 'ZSTD'" in ctas
    assert f"external_location = '{ROOT}/totals/run-1/'" in ctas
    table = glue.get_table(DatabaseName="shop", Name="totals")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/totals/run-1/"
    assert table["Description"] == "Totals per user"
    names = [t["Name"] for t in glue.get_tables(DatabaseName="shop")["TableList"]]
    assert sorted(names) == ["orders", "totals"]
    assert res.row_count == 2 and res.columns == [("uid", "string"), ("total", "decimal(38,2)")]
    assert res.query_ids == [q.query_id for q in runner.queries]
    assert res.bytes_scanned > 0 and res.elapsed_ms > 0
    assert res.column_lineage == {"uid": [("orders", "uid")], "total": [("orders", "amount")]}
    assert "| u1 | 10.50 |" in res.preview and res.location == f"{ROOT}/totals/run-1/"

    # second run: the same table now points at the new version (update, not create)
    materialize_athena(athena(glue), glue, spec, "shop", ROOT, "run-2")
    table = glue.get_table(DatabaseName="shop", Name="totals")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/totals/run-2/"
    assert table["Parameters"]["ddb_assets.run_id"] == "run-2"


@pytest.mark.trino
def test_failed_ctas_surfaces_reason_and_keeps_old_table(glue, spec, tmp_path):
    materialize_athena(athena(glue), glue, spec, "shop", ROOT, "run-1")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "totals.sql").write_text(
        "SELECT uidd, SUM(amount) AS total FROM shop.orders GROUP BY uidd"
    )
    bad = load_summaries(tmp_path / "bad", {"orders"}, "shop")[0]
    runner = athena(glue)
    with pytest.raises(SummaryError, match="COLUMN_NOT_FOUND: .*'uidd' cannot be resolved") as err:
        materialize_athena(runner, glue, bad, "shop", ROOT, "run-2")
    assert runner.queries[0].query_id in str(err.value)
    table = glue.get_table(DatabaseName="shop", Name="totals")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/totals/run-1/"
    names = [t["Name"] for t in glue.get_tables(DatabaseName="shop")["TableList"]]
    assert sorted(names) == ["orders", "totals"]
