"""The manifest parser against a manifest pair that DynamoDB itself wrote."""

import base64
import gzip
import hashlib
import json

import boto3
import pytest
from moto import mock_aws

from ddb_assets.dynamodb.manifest import (
    ManifestError,
    parse_manifest_files,
    parse_manifest_summary,
    read_manifest,
    verify_data_files,
)
from ddb_assets_tests.conftest import FIXTURES

AWS = FIXTURES / "aws-export-manifest"


def test_parses_dynamodbs_own_manifest_summary():
    s = parse_manifest_summary((AWS / "manifest-summary.json").read_text())
    assert s.export_id == "01668227450456-b6733290"
    assert s.s3_prefix is None
    assert s.data_prefix == "AWSDynamoDB/01668227450456-b6733290/data/"
    assert s.manifest_summary_key == "AWSDynamoDB/01668227450456-b6733290/manifest-summary.json"
    assert s.item_count == 6 and s.billed_size_bytes == 0
    assert s.export_time.isoformat() == "2022-11-12T04:30:50.456000+00:00"
    assert s.output_format == "DYNAMODB_JSON" and s.export_type == "FULL_EXPORT"


def test_parses_dynamodbs_own_manifest_files():
    files = parse_manifest_files((AWS / "manifest-files.json").read_text())
    assert len(files) == 1
    f = files[0]
    assert f.item_count == 6
    assert f.etag.endswith("-1")
    assert len(base64.b64decode(f.md5_base64)) == 16
    assert f.key.startswith("AWSDynamoDB/01668227450456-b6733290/data/")


@pytest.mark.parametrize("key", ["startTime", "exportTime"])
def test_a_null_time_in_the_summary_is_refused_by_name(key):
    d = json.loads((AWS / "manifest-summary.json").read_text())
    d[key] = None
    with pytest.raises(ManifestError, match=f"{key}: null"):
        parse_manifest_summary(json.dumps(d))


def test_rejects_a_malformed_arn_like_motos():
    d = json.loads((AWS / "manifest-summary.json").read_text())
    d["exportArn"] = "arn:aws:dynamodb:us-east-1:123456789012:table/arn:aws:dynamodb:x/import/abc"
    with pytest.raises(ManifestError, match="exportArn"):
        parse_manifest_summary(json.dumps(d))


def test_names_a_malformed_files_line():
    with pytest.raises(ManifestError, match="line 2"):
        parse_manifest_files(
            '{"itemCount":1,"md5Checksum":"x","etag":"y","dataFileS3Key":"k"}\n{"oops": 1}\n'
        )


@mock_aws
def test_read_manifest_cross_checks_counts_and_verifies_md5():
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bkt")
    summary = json.loads((AWS / "manifest-summary.json").read_text())
    body = gzip.compress(b'{"Item":{"pk":{"S":"a"}}}\n')
    key = "AWSDynamoDB/01668227450456-b6733290/data/aaaaaaaaaaaaaaaaaaaaaaaaaa.json.gz"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket="bkt", Key=key, Body=body)
    files_line = json.dumps(
        {"itemCount": 1, "md5Checksum": md5, "etag": "e-1", "dataFileS3Key": key}
    )
    s3.put_object(Bucket="bkt", Key=summary["manifestFilesS3Key"], Body=files_line)
    summary["itemCount"] = 1
    s3.put_object(
        Bucket="bkt",
        Key="AWSDynamoDB/01668227450456-b6733290/manifest-summary.json",
        Body=json.dumps(summary),
    )
    m = read_manifest(s3, "bkt", "AWSDynamoDB/01668227450456-b6733290/manifest-summary.json")
    assert verify_data_files(s3, "bkt", m.files) == []

    s3.put_object(Bucket="bkt", Key=key, Body=body + b"x")
    assert "md5 mismatch" in verify_data_files(s3, "bkt", m.files)[0]
    s3.delete_object(Bucket="bkt", Key=key)
    assert verify_data_files(s3, "bkt", m.files)[0].startswith("missing")

    summary["itemCount"] = 7
    s3.put_object(
        Bucket="bkt",
        Key="AWSDynamoDB/01668227450456-b6733290/manifest-summary.json",
        Body=json.dumps(summary),
    )
    with pytest.raises(ManifestError, match="lists 1 items but"):
        read_manifest(s3, "bkt", "AWSDynamoDB/01668227450456-b6733290/manifest-summary.json")
