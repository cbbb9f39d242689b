import boto3
import pytest
import sqlglot
from moto import mock_aws
from sqlglot import exp

from ddb_assets.athena.client import AthenaQueryError, QueryResult, RecordingSqlRunner
from ddb_assets.summaries import SummaryError, load_summaries, materialize_athena

ROOT = "s3://warehouse/summaries"


@pytest.fixture
def glue():
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
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
                },
            },
        )
        yield client


def fake_athena(glue, fail_ctas_with=None):
    """Plays Athena: a CTAS registers its table in (moto's) Glue, as Athena does."""

    def respond(sql):
        tree = sqlglot.parse_one(sql, read="athena")
        if isinstance(tree, exp.Create):
            if fail_ctas_with:
                raise AthenaQueryError(
                    "Athena query failed",
                    query_id="q-fail",
                    state="FAILED",
                    reason=fail_ctas_with,
                    sql=sql,
                )
            table = tree.find(exp.Table)
            loc = tree.find(exp.ExternalProperty) or next(
                p for p in tree.find_all(exp.Property) if p.name.lower() == "external_location"
            )
            location = loc.args["value"].name if "value" in loc.args else loc.this.name
            glue.create_table(
                DatabaseName=table.db,
                TableInput={
                    "Name": table.name,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"classification": "parquet"},
                    "StorageDescriptor": {
                        "Columns": [
                            {"Name": "uid", "Type": "string"},
                            {"Name": "total", "Type": "decimal(38,2)"},
                        ],
                        "Location": location,
                        "SerdeInfo": {
                            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        },
                    },
                },
            )
            return QueryResult(bytes_scanned=1000, elapsed_ms=20)
        if "COUNT(*)" in sql:
            return QueryResult(columns=["row_count"], rows=[(2,)], bytes_scanned=0, elapsed_ms=5)
        return QueryResult(
            columns=["uid", "total"],
            rows=[("u1", "10.50"), ("u2", "1.00")],
            bytes_scanned=10,
            elapsed_ms=5,
        )

    return RecordingSqlRunner(respond)


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "totals.sql").write_text(
        "-- description: Totals per user\n-- owners: data@x.com\n"
        "SELECT uid, SUM(amount) AS total FROM shop.orders GROUP BY uid"
    )
    return load_summaries(tmp_path, {"orders"}, "shop")[0]


def test_ctas_then_swap_then_staging_gone(glue, spec):
    runner = fake_athena(glue)
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
    assert res.query_ids == ["recorded-0001", "recorded-0002", "recorded-0003"]
    assert res.bytes_scanned == 1010 and res.elapsed_ms == 30
    assert res.column_lineage == {"uid": [("orders", "uid")], "total": [("orders", "amount")]}
    assert "| u1 | 10.50 |" in res.preview and res.location == f"{ROOT}/totals/run-1/"

    # second run: the same table now points at the new version (update, not create)
    materialize_athena(fake_athena(glue), glue, spec, "shop", ROOT, "run-2")
    table = glue.get_table(DatabaseName="shop", Name="totals")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/totals/run-2/"
    assert table["Parameters"]["ddb_assets.run_id"] == "run-2"


def test_failed_ctas_surfaces_reason_and_keeps_old_table(glue, spec):
    materialize_athena(fake_athena(glue), glue, spec, "shop", ROOT, "run-1")
    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'uidd' cannot be resolved"
    with pytest.raises(SummaryError, match="COLUMN_NOT_FOUND") as err:
        materialize_athena(
            fake_athena(glue, fail_ctas_with=reason), glue, spec, "shop", ROOT, "run-2"
        )
    assert "q-fail" in str(err.value)
    table = glue.get_table(DatabaseName="shop", Name="totals")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/totals/run-1/"
    names = [t["Name"] for t in glue.get_tables(DatabaseName="shop")["TableList"]]
    assert sorted(names) == ["orders", "totals"]
