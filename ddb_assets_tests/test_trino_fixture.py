"""The session's Trino reads what boto3 registers in the local stack's Glue and S3."""

from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

pytestmark = pytest.mark.trino


def test_trino_reads_and_writes_the_glue_catalog(trino_server):
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="fixture-bucket")
        glue.create_database(DatabaseInput={"Name": "fixture_db"})
        s3.put_object(Bucket="fixture-bucket", Key="raw/data/part-0", Body=b"a\x011.50\nb\x012\n")
        glue.create_table(
            DatabaseName="fixture_db",
            TableInput={
                "Name": "raw",
                "TableType": "EXTERNAL_TABLE",
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": "k", "Type": "string"},
                        {"Name": "v", "Type": "decimal(10,2)"},
                    ],
                    "Location": "s3://fixture-bucket/raw/data/",
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                        "Parameters": {"field.delim": "\x01"},
                    },
                },
            },
        )
        got = trino_server.query("SELECT k, v FROM raw ORDER BY k", schema="fixture_db")
        assert got.columns == ["k", "v"]
        assert got.types == ["varchar", "decimal(10, 2)"]
        assert got.rows == [("a", Decimal("1.50")), ("b", Decimal("2.00"))]
        assert got.physical_input_bytes > 0

        trino_server.query(
            "CREATE TABLE typed WITH (format = 'PARQUET', "
            "external_location = 's3://fixture-bucket/typed/') AS SELECT k, v * 2 AS w FROM raw",
            schema="fixture_db",
        )
        table = glue.get_table(DatabaseName="fixture_db", Name="typed")["Table"]
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
            ("k", "string"),
            ("w", "decimal(20,2)"),  # Trino: decimal(10,2) * integer
        ]
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket="fixture-bucket", Prefix="typed/")["Contents"]
        ]
        assert keys and all(k.startswith("typed/") for k in keys)
