"""The Trino behaviours the Athena engine's change history relies on, settled on Trino 476."""

from __future__ import annotations

import datetime as dt

import pytest

from ddb_assets.incremental import athena_sql as q

pytestmark = [pytest.mark.trino, pytest.mark.integration]

# 2023-12-31T23:59:59.9995Z in microseconds, as WriteTimestampMicros carries it
LATE = 1_704_067_199_999_500


def _one(trino_server, sql):
    return trino_server.query(sql).rows[0]


def test_from_unixtime_nanos_keeps_microseconds(trino_server):
    (got,) = _one(trino_server, f"SELECT CAST(from_unixtime_nanos({LATE} * 1000) AS timestamp(6))")
    assert got == dt.datetime(2023, 12, 31, 23, 59, 59, 999500)


def test_lowering_a_timestamps_precision_rounds_and_change_date_does_not(trino_server):
    wts = f"from_unixtime_nanos({LATE} * 1000)"
    (rounded,) = _one(trino_server, f"SELECT CAST(CAST({wts} AS timestamp) AS date)")
    assert rounded == dt.date(2024, 1, 1)  # Trino rounds 23:59:59.9995 up to the next day
    (day,) = _one(trino_server, f"SELECT {q.change_date_sql(wts, 'UTC')}")
    assert day == dt.date(2023, 12, 31)
    (tokyo,) = _one(trino_server, f"SELECT {q.change_date_sql(wts, 'Asia/Tokyo')}")
    assert tokyo == dt.date(2024, 1, 1)


def test_json_parse_orders_object_keys(trino_server):
    """net_change_sql compares images as json_format(json_parse(...)): equal objects written
    with their keys in another order must compare equal."""
    (a, b) = _one(
        trino_server,
        """SELECT json_format(json_parse('{"b":{"N":"1"},"a":{"M":{"y":{"S":"1"},"x":{"S":"2"}}}}')),
                  json_format(json_parse('{"a":{"M":{"x":{"S":"2"},"y":{"S":"1"}}},"b":{"N":"1"}}'))""",
    )
    assert a == b == '{"a":{"M":{"x":{"S":"2"},"y":{"S":"1"}}},"b":{"N":"1"}}'


def test_an_update_over_more_than_100_partitions_is_refused(trino_server):
    """Athena writes at most 100 partitions per statement, so does the session's Trino: the
    change history's re-derive UPDATE is split by change_date (rederive_statements)."""
    import uuid

    import boto3
    from moto import mock_aws

    from ddb_assets.athena.client import AthenaQueryError
    from ddb_assets_tests.athena_emulator import AthenaEmulator

    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        bucket = f"parts-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        glue.create_database(DatabaseInput={"Name": "p"})
        emu = AthenaEmulator(glue, s3, database="p")
        emu.execute(
            f"CREATE TABLE `p`.`t` (`d` date, `v` string) PARTITIONED BY (`d`) "
            f"LOCATION 's3://{bucket}/t/' TBLPROPERTIES ('table_type' = 'ICEBERG')"
        )
        for start in (0, 90):
            emu.execute(
                "INSERT INTO p.t SELECT date_add('day', i, DATE '2024-01-01'), 'x' "
                f"FROM UNNEST(sequence({start}, {start + 59})) AS u(i)"
            )
        with pytest.raises(AthenaQueryError, match="TOO_MANY_OPEN_PARTITIONS"):
            emu.execute("UPDATE p.t SET v = 'y'")
        for where in q.partition_batches(
            "d", [r[0] for r in emu.execute("SELECT DISTINCT d FROM p.t").rows]
        ):
            emu.execute(f"UPDATE p.t SET v = 'y' WHERE {where}")
        assert emu.execute("SELECT v, count(*) FROM p.t GROUP BY v").rows == [("y", 120)]
