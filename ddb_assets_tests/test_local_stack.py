"""The local AWS stack: moto's server plus the DynamoDB export fidelity layer.

Everything goes through boto3 against 127.0.0.1, as the project's own code does.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from ddb_assets.local import LocalAWS, create_sample_table, sample_items

FIXTURE = Path(__file__).parent / "fixtures" / "aws-export-manifest"
EXPORT_ID_RE = re.compile(r"^\d{14}-[0-9a-f]{8}$")
EXPORT_ARN_RE = re.compile(
    r"^arn:aws:dynamodb:us-east-1:123456789012:table/([^/]+)/export/(\d{14}-[0-9a-f]{8})$"
)
DATA_FILE_RE = re.compile(r"/data/[a-z2-7]{26}\.(json|ion)\.gz$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

SER = TypeSerializer()
DESER = TypeDeserializer()


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2) as s:
        yield s


@pytest.fixture
def aws(stack):
    """Per-test view of the stack; restores clock and settings afterwards."""
    yield stack
    stack.reset_clock()
    stack.configure(export_seconds=0.2, items_per_file=10_000)


@pytest.fixture
def ddb(aws):
    return aws.client("dynamodb")


@pytest.fixture
def s3(aws):
    return aws.client("s3")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_bucket(s3) -> str:
    bucket = _name("exports")
    s3.create_bucket(Bucket=bucket)
    return bucket


def make_table(ddb, *, pitr: bool = True, range_key: bool = False) -> str:
    name = _name("tbl")
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return name


def table_arn(ddb, name: str) -> str:
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def put(ddb, name: str, item: dict) -> None:
    ddb.put_item(TableName=name, Item={k: SER.serialize(v) for k, v in item.items()})


def wait_terminal(ddb, arn: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if desc["ExportStatus"] != "IN_PROGRESS":
            return desc
        time.sleep(0.05)
    raise AssertionError(f"export {arn} still IN_PROGRESS after {timeout}s")


def export(ddb, name: str, bucket: str, **kwargs) -> dict:
    resp = ddb.export_table_to_point_in_time(
        TableArn=table_arn(ddb, name), S3Bucket=bucket, **kwargs
    )
    return wait_terminal(ddb, resp["ExportDescription"]["ExportArn"])


def read_json(s3, bucket: str, key: str):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def manifest_files(s3, bucket: str, summary: dict) -> list[dict]:
    body = s3.get_object(Bucket=bucket, Key=summary["manifestFilesS3Key"])["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def export_lines(s3, bucket: str, desc: dict) -> list[str]:
    summary = read_json(s3, bucket, desc["ExportManifest"])
    lines = []
    for entry in manifest_files(s3, bucket, summary):
        raw = s3.get_object(Bucket=bucket, Key=entry["dataFileS3Key"])["Body"].read()
        lines.extend(gzip.decompress(raw).decode("utf-8").splitlines())
    return lines


def export_items(s3, bucket: str, desc: dict) -> list[dict]:
    """Plain-Python items of a DYNAMODB_JSON full export."""
    return [
        plain({k: DESER.deserialize(v) for k, v in json.loads(line)["Item"].items()})
        for line in export_lines(s3, bucket, desc)
    ]


def plain(value):
    """boto3's Binary -> bytes, recursively, so values compare with Ion's."""
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return {plain(v) for v in value}
    return value


def by_pk(items: list[dict]) -> dict:
    return {item["pk"]: item for item in items}


# ---------------------------------------------------------------------------------------
# Layout and manifests, against DynamoDB's own manifest pair
# ---------------------------------------------------------------------------------------


def test_layout_and_manifests_match_the_aws_fixture(ddb, s3):
    fixture_summary = json.loads((FIXTURE / "manifest-summary.json").read_text())
    fixture_files = [
        json.loads(line)
        for line in (FIXTURE / "manifest-files.json").read_text().splitlines()
        if line.strip()
    ]
    bucket = make_bucket(s3)
    table = _name("sushi")
    written = create_sample_table(ddb, table_name=table, n_items=40, seed=3)

    desc = export(ddb, table, bucket)  # no S3Prefix
    assert desc["ExportStatus"] == "COMPLETED"
    arn_match = EXPORT_ARN_RE.match(desc["ExportArn"])
    assert arn_match and arn_match.group(1) == table
    export_id = arn_match.group(2)
    assert EXPORT_ID_RE.match(export_id)
    assert EXPORT_ID_RE.match(
        fixture_summary["exportArn"].rsplit("/", 1)[1]
    )  # the regex fits AWS's id
    assert desc["ExportManifest"] == f"AWSDynamoDB/{export_id}/manifest-summary.json"
    assert desc["ItemCount"] == 40 and desc["BilledSizeBytes"] > 0
    assert desc["EndTime"] >= desc["StartTime"]

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    base = f"AWSDynamoDB/{export_id}/"
    assert all(k.startswith(base) for k in keys)
    fixed = {k[len(base) :] for k in keys if "/data/" not in k}
    assert fixed == {
        "_started",
        "manifest-summary.json",
        "manifest-summary.md5",
        "manifest-files.json",
        "manifest-files.md5",
    }

    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert list(summary) == list(fixture_summary)  # same keys, same order
    for key, value in fixture_summary.items():
        assert type(summary[key]) is type(value), key
    assert summary["s3Prefix"] is None
    assert summary["manifestFilesS3Key"] == f"{base}manifest-files.json"
    assert summary["exportArn"] == desc["ExportArn"]
    assert summary["tableArn"] == table_arn(ddb, table)
    assert summary["tableId"] == ddb.describe_table(TableName=table)["Table"]["TableId"]
    assert summary["itemCount"] == 40 and summary["outputFormat"] == "DYNAMODB_JSON"
    assert summary["version"] == "2020-06-30" and summary["s3SseAlgorithm"] == "AES256"
    for field in ("startTime", "endTime", "exportTime"):
        assert TIME_RE.match(summary[field]), field

    files = manifest_files(s3, bucket, summary)
    assert files
    for entry in files:
        assert list(entry) == list(fixture_files[0])
        for key, value in fixture_files[0].items():
            assert type(entry[key]) is type(value), key
        assert entry["dataFileS3Key"].startswith(f"{base}data/") and DATA_FILE_RE.search(
            entry["dataFileS3Key"]
        )
        obj = s3.get_object(Bucket=bucket, Key=entry["dataFileS3Key"])
        raw = obj["Body"].read()
        assert entry["md5Checksum"] == base64.b64encode(hashlib.md5(raw).digest()).decode()
        assert entry["etag"] == obj["ETag"].strip('"') and entry["etag"].endswith("-1")
        assert entry["itemCount"] == len(gzip.decompress(raw).decode().splitlines())
    assert sum(e["itemCount"] for e in files) == 40

    for name in ("manifest-files", "manifest-summary"):
        body = s3.get_object(Bucket=bucket, Key=f"{base}{name}.json")["Body"].read()
        md5 = s3.get_object(Bucket=bucket, Key=f"{base}{name}.md5")["Body"].read().strip()
        assert md5 == base64.b64encode(hashlib.md5(body).digest())

    exported = export_items(s3, bucket, desc)
    key = lambda i: (i["tableid"], i["datetime"])  # noqa: E731
    assert sorted(exported, key=key) == sorted(plain(written), key=key)


def test_prefix_puts_everything_under_it(ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb)
    put(ddb, table, {"pk": "a"})
    desc = export(ddb, table, bucket, S3Prefix="exports/daily/2026-11-20")
    assert desc["S3Prefix"] == "exports/daily/2026-11-20"
    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert summary["s3Prefix"] == "exports/daily/2026-11-20"
    assert summary["manifestFilesS3Key"].startswith("exports/daily/2026-11-20/AWSDynamoDB/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("exports/daily/2026-11-20/AWSDynamoDB/") for k in keys)


def test_in_progress_lasts_export_seconds_and_files_land_first(aws, ddb, s3):
    aws.configure(export_seconds=1.0)
    bucket, table = make_bucket(s3), make_table(ddb)
    put(ddb, table, {"pk": "a"})
    began = time.monotonic()
    first = ddb.export_table_to_point_in_time(TableArn=table_arn(ddb, table), S3Bucket=bucket)[
        "ExportDescription"
    ]
    assert first["ExportStatus"] == "IN_PROGRESS"
    for absent in ("EndTime", "ItemCount", "BilledSizeBytes", "ExportManifest"):
        assert absent not in first
    assert "ExportType" not in first  # AWS omits it when the request did not set it
    assert first["ClientToken"]
    while True:
        desc = ddb.describe_export(ExportArn=first["ExportArn"])["ExportDescription"]
        if desc["ExportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.02)
    assert time.monotonic() - began >= 1.0
    assert desc["ExportStatus"] == "COMPLETED"
    # the moment it says COMPLETED, the manifests and data are readable
    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert summary["itemCount"] == desc["ItemCount"] == 1
    assert iso(desc["EndTime"]) == summary["endTime"]
    assert (desc["EndTime"] - desc["StartTime"]).total_seconds() >= 0.99


def iso(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------
# ExportTime and the PITR window
# ---------------------------------------------------------------------------------------


def test_export_time_returns_the_table_as_of_then(aws, ddb, s3):
    real_now = datetime.now(timezone.utc)
    bucket = make_bucket(s3)
    aws.set_now(real_now - timedelta(days=3))
    table = make_table(ddb)
    put(ddb, table, {"pk": "keep", "v": 1})
    put(ddb, table, {"pk": "upd", "v": 1})
    put(ddb, table, {"pk": "del", "v": 1})
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "v": {"N": "1"}}}},
        ]
    )
    aws.set_now(real_now - timedelta(days=2))
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "upd"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "del"}})
    ddb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "new"}, "v": {"N": "1"}}}}]}
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "tx"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "5"}},
                }
            },
        ]
    )
    with pytest.raises(ClientError):  # a failed conditional write must not enter the history
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "keep"}, "v": {"N": "99"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    aws.reset_clock()

    then = by_pk(
        export_items(
            s3,
            bucket,
            export(ddb, table, bucket, ExportTime=real_now - timedelta(days=2, hours=12)),
        )
    )
    assert set(then) == {"keep", "upd", "del", "tx"}
    assert then["upd"]["v"] == 1 and then["tx"]["v"] == 1

    now = by_pk(export_items(s3, bucket, export(ddb, table, bucket)))
    assert set(now) == {"keep", "upd", "new", "tx"}
    assert now["upd"]["v"] == 2 and now["tx"]["v"] == 5 and now["keep"]["v"] == 1


def test_export_time_outside_the_pitr_window(aws, ddb, s3):
    real_now = datetime.now(timezone.utc)
    aws.set_now(real_now - timedelta(days=1))
    bucket, table = make_bucket(s3), make_table(ddb)  # PITR enabled "a day ago"
    aws.reset_clock()
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    assert abs(pitr["EarliestRestorableDateTime"] - (real_now - timedelta(days=1))) < timedelta(
        seconds=5
    )
    assert abs(pitr["LatestRestorableDateTime"] - datetime.now(timezone.utc)) < timedelta(seconds=5)
    arn = table_arn(ddb, table)
    for when in (real_now - timedelta(days=2), real_now + timedelta(hours=1)):
        with pytest.raises(ClientError) as err:
            ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ExportTime=when)
        assert err.value.response["Error"]["Code"] == "InvalidExportTimeException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    desc = export(ddb, table, bucket, ExportTime=real_now - timedelta(hours=23))
    assert desc["ExportStatus"] == "COMPLETED"


def test_pitr_disabled_and_table_not_found(ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb, pitr=False)
    with pytest.raises(ClientError) as err:
        ddb.export_table_to_point_in_time(TableArn=table_arn(ddb, table), S3Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    missing = "arn:aws:dynamodb:us-east-1:123456789012:table/no_such_table"
    with pytest.raises(ClientError) as err:
        ddb.export_table_to_point_in_time(TableArn=missing, S3Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "TableNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_missing_bucket_is_accepted_then_fails(ddb):
    table = make_table(ddb)
    resp = ddb.export_table_to_point_in_time(
        TableArn=table_arn(ddb, table), S3Bucket=_name("nobucket")
    )
    assert resp["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"
    desc = wait_terminal(ddb, resp["ExportDescription"]["ExportArn"])
    assert desc["ExportStatus"] == "FAILED"
    assert desc["FailureCode"] == "S3NoSuchBucket"
    assert "bucket does not exist" in desc["FailureMessage"]
    assert "ItemCount" not in desc
    summaries = ddb.list_exports(TableArn=table_arn(ddb, table))["ExportSummaries"]
    assert summaries == [
        {"ExportArn": desc["ExportArn"], "ExportStatus": "FAILED", "ExportType": "FULL_EXPORT"}
    ]


# ---------------------------------------------------------------------------------------
# Idempotency, lookups, listing
# ---------------------------------------------------------------------------------------


def test_client_token_idempotency(ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb)
    arn = table_arn(ddb, table)
    token = str(uuid.uuid4())
    when = datetime.now(timezone.utc)  # after PITR was enabled, before the request
    first = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix="p", ExportTime=when, ClientToken=token
    )["ExportDescription"]
    again = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix="p", ExportTime=when, ClientToken=token
    )["ExportDescription"]
    assert again["ExportArn"] == first["ExportArn"] and again["ClientToken"] == token
    assert len(ddb.list_exports(TableArn=arn)["ExportSummaries"]) == 1

    with pytest.raises(ClientError) as err:
        ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=bucket, S3Prefix="other", ExportTime=when, ClientToken=token
        )
    assert err.value.response["Error"]["Code"] == "ExportConflictException"
    assert "Duplicate request detected" in err.value.response["Error"]["Message"]

    wait_terminal(ddb, first["ExportArn"])  # still idempotent after completion
    done = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix="p", ExportTime=when, ClientToken=token
    )["ExportDescription"]
    assert done["ExportArn"] == first["ExportArn"] and done["ExportStatus"] == "COMPLETED"

    other = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix="p", ExportTime=when, ClientToken=str(uuid.uuid4())
    )["ExportDescription"]
    assert other["ExportArn"] != first["ExportArn"]


def test_describe_export_errors(ddb):
    unknown = "arn:aws:dynamodb:us-east-1:123456789012:table/t1/export/01700000000000-0123abcd"
    with pytest.raises(ClientError) as err:
        ddb.describe_export(ExportArn=unknown)
    assert err.value.response["Error"]["Code"] == "ExportNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        ddb.describe_export(ExportArn="arn:aws:dynamodb:us-east-1:123456789012:table/t1")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_list_exports_filters_and_paginates(ddb, s3):
    bucket, table, other = make_bucket(s3), make_table(ddb), make_table(ddb)
    arns = [
        ddb.export_table_to_point_in_time(TableArn=table_arn(ddb, table), S3Bucket=bucket)[
            "ExportDescription"
        ]["ExportArn"]
        for _ in range(3)
    ]
    ddb.export_table_to_point_in_time(TableArn=table_arn(ddb, other), S3Bucket=bucket)
    seen, kwargs = [], {"TableArn": table_arn(ddb, table), "MaxResults": 2}
    pages = 0
    while True:
        page = ddb.list_exports(**kwargs)
        pages += 1
        assert len(page["ExportSummaries"]) <= 2
        for summary in page["ExportSummaries"]:
            assert set(summary) == {"ExportArn", "ExportStatus", "ExportType"}
        seen += [s["ExportArn"] for s in page["ExportSummaries"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages == 2 and seen == list(reversed(arns))  # newest first
    with pytest.raises(ClientError) as err:
        ddb.list_exports(NextToken="0123456789abcdef" * 4)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    for arn in arns:
        wait_terminal(ddb, arn)


# ---------------------------------------------------------------------------------------
# ION
# ---------------------------------------------------------------------------------------

EVERY_TYPE = {
    "pk": "ion-all",
    "s_unicode": 'まぐろ "quoted" back\\slash\nnew line\ttab é 🍣',
    "s_empty": "",
    "n_int": Decimal("3"),
    "n_dec": Decimal("1.5"),
    "n_neg38": Decimal("-12345678901234567890123456789012345678"),
    "n_tiny": Decimal("1E-130"),
    "n_big": Decimal("9.9999999999999999999999999999999999999E+125"),
    "n_zero": Decimal("0"),
    "b": b"\x00\x01\xfe\xff binary",
    "bool_t": True,
    "bool_f": False,
    "nul": None,
    "m": {"inner": {"deep": [Decimal("1"), "x", {"k": False}]}, "odd key!": "v", "true": "kw"},
    "l": ["a", Decimal("2.25"), None, [b"\x01"], {"z": "y"}],
    "ss": {"a", "b", "ü"},
    "ns": {Decimal("1"), Decimal("-0.5"), Decimal("1E+10")},
    "bs": {b"\x00", b"\xff\xfe"},
    "odd name with spaces": "ok",
    "$dollar": "ok",
}


def from_ion(value):
    from amazon.ion.core import IonType

    annotations = [getattr(a, "text", a) for a in getattr(value, "ion_annotations", ())]
    if "$dynamodb_SS" in annotations:
        return {str(v) for v in value}
    if "$dynamodb_NS" in annotations:
        return {Decimal(v) for v in value}
    if "$dynamodb_BS" in annotations:
        return {bytes(v) for v in value}
    kind = value.ion_type
    if kind is IonType.NULL:
        return None
    if kind is IonType.STRUCT:
        return {k: from_ion(v) for k, v in value.items()}
    if kind is IonType.LIST:
        return [from_ion(v) for v in value]
    if kind is IonType.DECIMAL:
        return Decimal(value)
    if kind is IonType.BLOB:
        return bytes(value)
    if kind is IonType.BOOL:
        return bool(value)
    if kind is IonType.STRING:
        return str(value)
    raise AssertionError(f"unexpected Ion type {kind}")


def test_ion_export_round_trips_every_type(ddb, s3):
    from amazon.ion import simpleion

    bucket, table = make_bucket(s3), make_table(ddb)
    put(ddb, table, EVERY_TYPE)
    put(ddb, table, {"pk": "plain", "n": Decimal("600")})
    desc = export(ddb, table, bucket, ExportFormat="ION")
    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert summary["outputFormat"] == "ION"
    assert all(e["dataFileS3Key"].endswith(".ion.gz") for e in manifest_files(s3, bucket, summary))
    lines = export_lines(s3, bucket, desc)
    assert len(lines) == 2 and all(line.startswith("$ion_1_0 {Item:{") for line in lines)
    items = {}
    for line in lines:
        (value,) = simpleion.loads(line, single_value=False)
        item = from_ion(value)["Item"]
        items[item["pk"]] = item
    assert items["ion-all"] == EVERY_TYPE
    for key in ("n_neg38", "n_tiny", "n_big"):
        assert str(items["ion-all"][key]) == str(EVERY_TYPE[key])
    assert items["plain"] == {"pk": "plain", "n": Decimal("600")}
    assert "tags" not in lines[0] and ":$dynamodb_SS::[" in "".join(lines)


def test_ion_text_details():
    from ddb_assets.local.ion_text import ion_decimal, ion_field_name, ion_line

    assert ion_decimal("3") == "3."
    assert ion_decimal("1.5") == "1.5"
    assert ion_decimal("600") == "6d2"
    assert ion_decimal("-0.001") == "-0.001"
    assert ion_decimal("1E-130") == "1d-130"
    assert (
        ion_decimal("-12345678901234567890123456789012345678")
        == "-12345678901234567890123456789012345678."
    )
    assert ion_field_name("pk") == "pk"
    assert ion_field_name("odd name") == "'odd name'"
    assert ion_field_name("it's") == "'it\\'s'"
    assert ion_field_name("null") == "'null'"
    assert ion_line({"Item": {"pk": {"S": "a"}, "qty": {"N": "3"}, "tags": {"SS": ["x"]}}}) == (
        '$ion_1_0 {Item:{pk:"a",qty:3.,tags:$dynamodb_SS::["x"]}}'
    )


# ---------------------------------------------------------------------------------------
# Files: split and empty
# ---------------------------------------------------------------------------------------


def test_export_is_split_over_several_files(aws, ddb, s3):
    aws.configure(items_per_file=7)
    bucket, table = make_bucket(s3), make_table(ddb)
    for i in range(20):
        put(ddb, table, {"pk": f"item{i:02d}", "n": i})
    desc = export(ddb, table, bucket)
    files = manifest_files(s3, bucket, read_json(s3, bucket, desc["ExportManifest"]))
    assert sorted(e["itemCount"] for e in files) == [6, 7, 7]
    assert len({e["dataFileS3Key"] for e in files}) == 3
    assert sorted(i["pk"] for i in export_items(s3, bucket, desc)) == [
        f"item{i:02d}" for i in range(20)
    ]


def test_empty_table_gives_a_valid_export(ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb)
    desc = export(ddb, table, bucket)
    assert (
        desc["ExportStatus"] == "COMPLETED"
        and desc["ItemCount"] == 0
        and desc["BilledSizeBytes"] == 0
    )
    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert summary["itemCount"] == 0
    files = manifest_files(s3, bucket, summary)
    # AWS: "For partitions that are empty, your export request will create an empty file."
    assert len(files) == 1 and files[0]["itemCount"] == 0
    raw = s3.get_object(Bucket=bucket, Key=files[0]["dataFileS3Key"])["Body"].read()
    assert gzip.decompress(raw) == b""


# ---------------------------------------------------------------------------------------
# Incremental exports
# ---------------------------------------------------------------------------------------


def _incremental_fixture(aws, ddb):
    """Writes around a window [start, start + 20 min). Returns (table, start)."""
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    aws.set_now(base)
    table = make_table(ddb, range_key=True)
    put(ddb, table, {"pk": "modify", "sk": 1, "v": "old"})
    put(ddb, table, {"pk": "delete", "sk": 1, "v": "old"})
    start = base + timedelta(hours=1)
    aws.set_now(start + timedelta(minutes=1))
    put(ddb, table, {"pk": "modify", "sk": 1, "v": "mid"})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "modify"}, "sk": {"N": "1"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "new"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "delete"}, "sk": {"N": "1"}})
    put(ddb, table, {"pk": "insert", "sk": 1, "v": "new"})
    put(ddb, table, {"pk": "flash", "sk": 1, "v": "gone"})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "flash"}, "sk": {"N": "1"}})
    aws.set_now(start + timedelta(minutes=30))  # after the window
    put(ddb, table, {"pk": "later", "sk": 1, "v": "new"})
    aws.reset_clock()
    return table, start


def _incremental_records(s3, bucket, desc):
    out = {}
    for line in export_lines(s3, bucket, desc):
        rec = json.loads(line)
        out[rec["Keys"]["pk"]["S"]] = rec
    return out


def test_incremental_export_records(aws, ddb, s3):
    bucket = make_bucket(s3)
    table, start = _incremental_fixture(aws, ddb)
    spec = {"ExportFromTime": start, "ExportToTime": start + timedelta(minutes=20)}
    desc = export(
        ddb,
        table,
        bucket,
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={**spec, "ExportViewType": "NEW_AND_OLD_IMAGES"},
    )
    assert desc["ExportStatus"] == "COMPLETED" and desc["ExportType"] == "INCREMENTAL_EXPORT"
    assert desc["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    records = _incremental_records(s3, bucket, desc)
    assert set(records) == {
        "modify",
        "delete",
        "insert",
    }  # created-and-deleted and later writes absent
    for rec in records.values():
        assert int(rec["Metadata"]["WriteTimestampMicros"]["N"]) >= int(
            start.timestamp() * 1_000_000
        )
        assert set(rec["Keys"]) == {"pk", "sk"}
    assert records["modify"]["OldImage"]["v"] == {"S": "old"}
    assert records["modify"]["NewImage"]["v"] == {"S": "new"}
    assert "NewImage" not in records["delete"] and records["delete"]["OldImage"]["v"] == {
        "S": "old"
    }
    assert "OldImage" not in records["insert"] and records["insert"]["NewImage"]["v"] == {
        "S": "new"
    }
    assert list(records["modify"]) == ["Metadata", "Keys", "NewImage", "OldImage"]

    summary = read_json(s3, bucket, desc["ExportManifest"])
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    assert summary["outputView"] == "NEW_AND_OLD_IMAGES"
    assert summary["exportFromTime"] == iso(start)
    assert summary["exportToTime"] == iso(start + timedelta(minutes=20))
    assert summary["itemCount"] == 3

    new_only = export(
        ddb,
        table,
        bucket,
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={**spec, "ExportViewType": "NEW_IMAGE"},
    )
    records = _incremental_records(s3, bucket, new_only)
    assert all("OldImage" not in r for r in records.values())
    assert set(records["delete"]) == {"Metadata", "Keys"}


def test_incremental_ion_and_window_rules(aws, ddb, s3):
    from amazon.ion import simpleion

    bucket = make_bucket(s3)
    table, start = _incremental_fixture(aws, ddb)
    arn = table_arn(ddb, table)
    desc = export(
        ddb,
        table,
        bucket,
        ExportType="INCREMENTAL_EXPORT",
        ExportFormat="ION",
        IncrementalExportSpecification={
            "ExportFromTime": start,
            "ExportToTime": start + timedelta(minutes=20),
        },
    )
    parsed = [
        from_ion(simpleion.loads(line, single_value=False)[0])
        for line in export_lines(s3, bucket, desc)
    ]
    by_key = {rec["Keys"]["pk"]: rec for rec in parsed}
    assert by_key["modify"]["OldImage"]["v"] == "old" and by_key["modify"]["NewImage"][
        "sk"
    ] == Decimal(1)
    assert isinstance(by_key["insert"]["Metadata"]["WriteTimestampMicros"], Decimal)

    bad_windows = [
        (start, start + timedelta(minutes=10)),  # shorter than 15 minutes
        (start - timedelta(hours=20), start + timedelta(hours=5)),  # longer than 24 hours
        (start - timedelta(hours=2), start - timedelta(hours=1)),  # before PITR was enabled
        (start, datetime.now(timezone.utc) + timedelta(hours=1)),  # ends in the future
        (start + timedelta(minutes=30), start),  # reversed
    ]
    for frm, to in bad_windows:
        with pytest.raises(ClientError) as err:
            ddb.export_table_to_point_in_time(
                TableArn=arn,
                S3Bucket=bucket,
                ExportType="INCREMENTAL_EXPORT",
                IncrementalExportSpecification={"ExportFromTime": frm, "ExportToTime": to},
            )
        assert err.value.response["Error"]["Code"] == "InvalidExportTimeException", (frm, to)


# ---------------------------------------------------------------------------------------
# Failure injection
# ---------------------------------------------------------------------------------------


def test_throttle_injection(aws, ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb)
    no_retry = aws.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    arn = table_arn(ddb, table)
    aws.throttle_next(2, code="LimitExceededException")
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            no_retry.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket)
        assert err.value.response["Error"]["Code"] == "LimitExceededException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    resp = no_retry.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket)
    aws.throttle_next(1, operation="DescribeExport")
    with pytest.raises(ClientError) as err:
        no_retry.describe_export(ExportArn=resp["ExportDescription"]["ExportArn"])
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert (
        len(ddb.list_exports(TableArn=arn)["ExportSummaries"]) == 1
    )  # throttled calls started nothing
    wait_terminal(ddb, resp["ExportDescription"]["ExportArn"])


def test_fail_next_export(aws, ddb, s3):
    bucket, table = make_bucket(s3), make_table(ddb)
    aws.fail_next_export("S3AccessDenied", "Access Denied (Service: Amazon S3; Status Code: 403)")
    first = export(ddb, table, bucket)
    assert first["ExportStatus"] == "FAILED"
    assert first["FailureCode"] == "S3AccessDenied" and first["FailureMessage"].startswith(
        "Access Denied"
    )
    second = export(ddb, table, bucket)  # only the next one
    assert second["ExportStatus"] == "COMPLETED"


# ---------------------------------------------------------------------------------------
# Sample table and environment
# ---------------------------------------------------------------------------------------


def test_sample_table_and_env(aws, monkeypatch):
    env = aws.env()
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint and re.match(
        r"^http://127\.0\.0\.1:\d+$", aws.endpoint
    )
    assert {
        k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    } == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("dynamodb")  # endpoint from AWS_ENDPOINT_URL only
    name = _name("sushi")
    fixed_now = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)
    items = create_sample_table(
        client, table_name=name, n_items=120, seed=11, days=3, now=fixed_now
    )
    assert items == sample_items(n_items=120, seed=11, days=3, now=fixed_now)  # deterministic
    assert len({(i["tableid"], i["datetime"]) for i in items}) == 120
    assert client.describe_table(TableName=name)["Table"]["ItemCount"] in (0, 120)
    assert client.scan(TableName=name, Select="COUNT")["Count"] == 120
    pitr = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    kinds = {k: type(v) for i in items for k, v in i.items()}
    assert kinds["quantity"] is Decimal and kinds["toppings"] is set and kinds["options"] is dict
    assert {"price", "is_takeout", "note", "extras", "coupon"} <= set(kinds)
    assert all(
        re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+09:00)$", i["datetime"])
        for i in items
    )
    assert len({i["menu"] for i in items}) == 10
