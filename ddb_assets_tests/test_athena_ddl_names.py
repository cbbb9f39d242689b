"""The Athena engine's HiveQL DDL on Hive's grammar and Trino, with attribute names that
HiveQL reads as something else: its reserved words, names that begin with a digit or ``_``."""

from __future__ import annotations

import uuid

import boto3
import pytest
from moto import mock_aws

from ddb_assets.incremental import athena_sql as q
from ddb_assets.tables.changes import plan_image_columns
from ddb_assets.tables.plan import AttributeStats
from ddb_assets_tests.athena_emulator import AthenaEmulator

pytestmark = [pytest.mark.trino, pytest.mark.integration]

# HiveQL reserved words that Trino does not reserve (so tables/naming.py keeps them as they
# are), a leading digit (the column becomes `_1st`), a leading underscore.
ODD = ["transform", "exchange", "1st", "_hidden", "macro", "utc_timestamp", "date", "Timestamp"]


def test_change_history_ddl_with_hiveql_reserved_and_digit_names():
    stats = [AttributeStats("pk", {"S": 2})] + [AttributeStats(a, {"S": 1}) for a in ODD]
    plans, _ = plan_image_columns(stats)
    columns = {p.column for p in plans}
    assert {"transform", "exchange", "_1st", "hidden", "utc_timestamp"} <= columns
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        bucket = f"names-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        glue.create_database(DatabaseInput={"Name": "shop"})
        emu = AthenaEmulator(glue, s3, database="shop")
        for sql in q.ddl_statements("shop", "orders", plans, ["pk"], f"s3://{bucket}/h/"):
            emu.execute(sql)
        current = glue.get_table(DatabaseName="shop", Name="orders_current")["Table"]
        names = [c["Name"] for c in current["StorageDescriptor"]["Columns"]]
        assert {"_ddb_key", "_1st", "transform", "exchange"} <= set(names)
        emu.execute(q.add_columns_sql("shop", "orders_current", [("lateral", "string")]))
        emu.execute(q.drop_column_sql("shop", "orders_current", "exchange"))
        emu.execute(
            q.add_partition_sql(
                "shop", "orders", "__increments", "window_label", "w1", f"s3://{bucket}/w1/data/"
            )
        )
        got = emu.execute(
            'SELECT "_1st", "transform", "lateral", "_ddb_key" FROM "shop"."orders_current"'
        )
        assert got.columns == ["_1st", "transform", "lateral", "_ddb_key"] and got.rows == []
