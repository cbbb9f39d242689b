"""Errors that say where: the S3 key of a missing object, advice that fits the throttled call."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ddb_assets.dynamodb import exports as ex
from ddb_assets.dynamodb.manifest import DataFile, ManifestError, download_data_files, read_manifest

pytestmark = [pytest.mark.fault, pytest.mark.unit]


def _throttled(operation: str, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, operation)


@pytest.mark.parametrize(
    "operation, code, says, never",
    [
        (
            "ExportTableToPointInTime",
            "LimitExceededException",
            "max_concurrent_exports",
            "interval",
        ),
        ("ExportTableToPointInTime", "ThrottlingException", "fewer partitions", "max_concurrent"),
        ("DescribeExport", "ThrottlingException", "sensor.interval_seconds", "max_concurrent"),
        ("ListExports", "LimitExceededException", "ListExports", "max_concurrent"),
        ("DescribeTable", "RequestLimitExceeded", "DescribeTable", "max_concurrent"),
    ],
)
def test_throttling_advice_fits_the_call(operation, code, says, never):
    calls = []

    def fn():
        calls.append(1)
        raise _throttled(operation, code)

    with pytest.raises(ex.ExportThrottledError) as info:
        ex._call(fn, table="orders", attempts=2, sleep=lambda s: None)
    msg = str(info.value)
    assert says in msg and never not in msg and len(calls) == 2, msg


@mock_aws
def test_a_missing_data_file_names_its_s3_key(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="e/data/present.json.gz", Body=b"x")
    files = [
        DataFile(key="e/data/present.json.gz", item_count=1, md5_base64="", etag=""),
        DataFile(key="e/data/gone.json.gz", item_count=1, md5_base64="", etag=""),
    ]
    with pytest.raises(ManifestError) as info:
        download_data_files(s3, "exports", files, tmp_path)
    msg = str(info.value)
    assert "s3://exports/e/data/gone.json.gz does not exist" in msg and "\n" not in msg


@mock_aws
def test_a_missing_manifest_names_its_s3_key():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    with pytest.raises(ManifestError, match=r"s3://exports/e/manifest-summary.json does not exist"):
        read_manifest(s3, "exports", "e/manifest-summary.json")
