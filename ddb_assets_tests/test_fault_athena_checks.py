"""Athena engine: the blocking checks are decided on the CTAS output before the Glue swap;
a failure leaves the partition, the latest view and the previous files as they were."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from ddb_assets.athena.client import AthenaQueryError, QueryResult, RecordingSqlRunner
from ddb_assets.tables import load_snapshot_athena
from ddb_assets.tables.checks import Expectation, ExpectedFile, SnapshotCheckError

pytestmark = [pytest.mark.fault, pytest.mark.unit]

DATA = "s3://bucket/exports/orders/AWSDynamoDB/{}/data/"
TYPED = "s3://bucket/typed/orders/"
DISCOVERY = [("pk", "S", 3, 0, None, None, 0), ("qty", "N", 3, 3, 2, 0, 0)]
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/01700000000000-abcdef"


def responder(rows=3, duplicates=0, per_path=()):
    def respond(sql):
        if sql.startswith("WITH items AS"):
            cols = ["attribute", "tag", "items", "numbers", "max_int_digits", "max_scale", "unfit"]
            return QueryResult(columns=cols, rows=DISCOVERY, bytes_scanned=10)
        if sql.startswith("SELECT count(*)"):
            extra = (duplicates,) if "count(DISTINCT" in sql else ()
            return QueryResult(rows=[(rows,) + extra])
        if sql.startswith('SELECT "$path"'):
            return QueryResult(rows=list(per_path))
        if "HAVING count(*) > 1" in sql:
            return QueryResult(rows=[("k1", 2)])
        return None

    return respond


def load(glue, runner, export_id, expect, day=dt.date(2024, 1, 1), run_id="run-1"):
    return load_snapshot_athena(
        runner,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=day,
        data_s3_uri=DATA.format(export_id),
        typed_s3_uri=TYPED,
        run_id=run_id,
        expect=expect,
    )


def _state(glue):
    tables = sorted(t["Name"] for t in glue.get_tables(DatabaseName="analytics")["TableList"])
    if "orders__snapshots" not in tables:
        return tables, []
    parts = glue.get_partitions(DatabaseName="analytics", TableName="orders__snapshots")
    return tables, sorted(
        (p["Values"][0], p["StorageDescriptor"]["Location"]) for p in parts["Partitions"]
    )


def _expect(count, files=(), keys=("pk",)):
    return Expectation(export=ARN, item_count=count, files=tuple(files), key_attributes=keys)


@mock_aws
def test_item_count_mismatch_is_decided_before_the_glue_swap():
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    good = load(glue, RecordingSqlRunner(responder()), "e1", _expect(3))
    before = _state(glue)
    assert before[1] == [("2024-01-01", good.typed_location)]

    key = "exports/orders/AWSDynamoDB/e2/data/part-1.json.gz"
    runner = RecordingSqlRunner(responder(rows=2, per_path=[(f"s3://bucket/{key}", 2)]))
    files = [ExpectedFile(key, 3), ExpectedFile(key.replace("-1", "-0"), 0)]
    with pytest.raises(SnapshotCheckError) as info:
        load(glue, runner, "e2", _expect(3, files), run_id="run-2")
    msg = str(info.value)
    assert ARN in msg and "2 rows" in msg and "itemCount 3" in msg
    assert f"{key}: 2 items, manifest says 3" in msg
    # nothing swapped: the same partition location, no CTAS entry left, no view statement
    assert _state(glue) == before
    assert not any(s.startswith("CREATE OR REPLACE VIEW") for s in runner.statements)


@mock_aws
def test_duplicate_keys_are_refused_before_the_swap():
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    runner = RecordingSqlRunner(responder(rows=3, duplicates=1))
    with pytest.raises(SnapshotCheckError, match=r"1 row\(s\) repeat a primary key \(pk\)") as info:
        load(glue, runner, "e1", _expect(3))
    assert info.value.check == "unique_primary_keys" and "pk='k1'" in str(info.value)
    tables, parts = _state(glue)
    assert tables == ["orders__export"] and parts == []
    assert not any(s.startswith("CREATE OR REPLACE VIEW") for s in runner.statements)


# --- a refused run's files, on the local stack's Athena front (Trino) --------------------


def _objects(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="bucket", Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", ()))


class _FailingAfterCtas:
    """The front, with the statement after the CTAS failing (Athena reports a failed query):
    the CTAS has written its files when the run is refused."""

    def __init__(self, front):
        self.front, self.statements = front, []

    def execute(self, sql):
        self.statements.append(sql)
        if len(self.statements) > 2 and sql.startswith("SELECT count(*)"):
            raise AthenaQueryError(
                "query failed: GENERIC_INTERNAL_ERROR: worker lost", state="FAILED"
            )
        return self.front.execute(sql)


@pytest.mark.trino
@mock_aws
def test_a_refused_ctas_leaves_no_files_on_the_athena_front():
    """A refused run (failed check, failed statement) removes its own per-run folder and
    nothing else: the good snapshot's files, the export and everything else stay."""
    from ddb_assets_tests.athena_emulator import AthenaEmulator
    from ddb_assets_tests.test_tables_athena import DAY1, _put

    glue = boto3.client("glue", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "analytics"})
    s3.create_bucket(Bucket="bucket")
    for e in ("e1", "e2"):
        _put(s3, DATA.format(e), DAY1)
    # a neighbour of the per-run folder, listed by nothing we write: never touched
    s3.put_object(
        Bucket="bucket", Key="typed/orders/snapshot_date=2024-01-02/run_id=run-2x/x", Body=b"1"
    )
    created = []

    def s3_factory():
        created.append(1)
        return s3

    front = AthenaEmulator(glue, s3, database="analytics")
    good = load_snapshot_athena(
        front,
        glue,
        database="analytics",
        table="orders",
        snapshot_date=dt.date(2024, 1, 1),
        data_s3_uri=DATA.format("e1"),
        typed_s3_uri=TYPED,
        run_id="run-1",
        expect=_expect(3),
        s3=s3_factory,
    )
    assert created == []  # the client is made only when a run is refused
    before = _objects(s3, "")
    good_files = _objects(s3, "typed/orders/snapshot_date=2024-01-01/run_id=run-1/")
    assert good_files and all(k in before for k in good_files)

    # 1. a failed check: itemCount 4, the CTAS wrote 3 rows
    with pytest.raises(SnapshotCheckError, match="3 rows"):
        load_snapshot_athena(
            front,
            glue,
            database="analytics",
            table="orders",
            snapshot_date=dt.date(2024, 1, 2),
            data_s3_uri=DATA.format("e2"),
            typed_s3_uri=TYPED,
            run_id="run-2",
            expect=_expect(4),
            s3=s3_factory,
        )
    assert created == [1]
    assert _objects(s3, "typed/orders/snapshot_date=2024-01-02/run_id=run-2/") == []
    assert _objects(s3, "") == before  # everything else exactly as it was

    # 2. a failed statement after the CTAS wrote its files
    failing = _FailingAfterCtas(front)
    with pytest.raises(AthenaQueryError, match="worker lost"):
        load_snapshot_athena(
            failing,
            glue,
            database="analytics",
            table="orders",
            snapshot_date=dt.date(2024, 1, 2),
            data_s3_uri=DATA.format("e2"),
            typed_s3_uri=TYPED,
            run_id="run-3",
            expect=_expect(3),
            s3=s3_factory,
        )
    assert any(s.startswith("CREATE TABLE") for s in failing.statements)  # the CTAS ran
    assert _objects(s3, "typed/orders/snapshot_date=2024-01-02/run_id=run-3/") == []
    assert _objects(s3, "") == before
    # the served snapshot is the good one, whole
    assert _state(glue)[1] == [("2024-01-01", good.typed_location)]
    rows = front.execute('SELECT count(*) FROM "analytics"."orders"').rows
    assert int(rows[0][0]) == 3


def test_only_a_per_run_folder_can_be_removed():
    from ddb_assets.athena.run_files import run_folder_parts

    assert run_folder_parts("s3://b/typed/t/snapshot_date=2024-01-01/run_id=r-1/") == (
        "b",
        "typed/t/snapshot_date=2024-01-01/run_id=r-1/",
    )
    for bad in ("s3://b/typed/t/", "s3://b/typed/t/run_id=r-1", "s3://b/run_id=../", "s3://b/"):
        with pytest.raises(ValueError, match="not a per-run folder"):
            run_folder_parts(bad)


# --- the change history's window count on Athena (Trino front) ---------------------------


def _gz_lines(s3, key: str, lines) -> None:
    import gzip
    import json

    body = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines).encode()
    s3.put_object(Bucket="bucket", Key=key, Body=gzip.compress(body))


class _Recording:
    def __init__(self, front):
        self.front, self.statements = front, []

    def execute(self, sql):
        self.statements.append(sql)
        return self.front.execute(sql)


W_ARN = ARN.replace("01700000000000-abcdef", "01700000000001-0000000a")


@pytest.mark.trino
@mock_aws
def test_a_window_whose_counts_disagree_is_refused_before_anything_is_visible():
    """Athena's change history: a window whose records disagree with its manifest's
    itemCount is refused before any statement writes (ledger, change and current tables
    as they were); the message names the export, the file whose count differs and the
    counts. The same window with the right counts then applies once."""
    from datetime import UTC, datetime, timedelta

    from ddb_assets.incremental.athena_chain import AthenaChain
    from ddb_assets.incremental.windows import Window
    from ddb_assets_tests.athena_emulator import AthenaEmulator

    glue = boto3.client("glue", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "shop"})
    s3.create_bucket(Bucket="bucket")
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    w1 = Window(t0, t0 + timedelta(minutes=15))
    micros = int((t0 + timedelta(minutes=1)).timestamp() * 1_000_000)
    _gz_lines(
        s3,
        "seed/data/s.json.gz",
        [{"Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}} for i in range(3)],
    )
    _gz_lines(
        s3,
        "w1/data/a.json.gz",
        [
            {
                "Metadata": {"WriteTimestampMicros": {"N": str(micros)}},
                "Keys": {"pk": {"S": "k9"}},
                "NewImage": {"pk": {"S": "k9"}, "n": {"N": "9"}},
            },
            {
                "Metadata": {"WriteTimestampMicros": {"N": str(micros + 1)}},
                "Keys": {"pk": {"S": "k0"}},
                "OldImage": {"pk": {"S": "k0"}, "n": {"N": "0"}},
            },
        ],
    )
    _gz_lines(
        s3,
        "w1/data/b.json.gz",
        [
            {
                "Metadata": {"WriteTimestampMicros": {"N": str(micros + 2)}},
                "Keys": {"pk": {"S": "k1"}},
                "NewImage": {"pk": {"S": "k1"}, "n": {"N": "10"}},
                "OldImage": {"pk": {"S": "k1"}, "n": {"N": "1"}},
            }
        ],
    )
    front = _Recording(AthenaEmulator(glue, s3, database="shop"))
    chain = AthenaChain(front, glue, "shop", "orders", "s3://bucket/typed/orders__history/")
    chain.apply_seed(
        generation=0,
        seed_time=t0,
        export_arn=ARN.replace("abcdef", "5eed0000"),
        data_s3_uri="s3://bucket/seed/data/",
        key_attributes=["pk"],
    )

    def state():
        return (
            [(r.kind, r.window_to) for r in chain.read_state().rows],
            sorted(front.front.execute('SELECT pk, n FROM "shop"."orders_current"').rows),
            front.front.execute('SELECT count(*) FROM "shop"."orders_changes"').rows,
        )

    before = state()
    wrong = Expectation(
        export=W_ARN,
        item_count=4,
        files=(ExpectedFile("w1/data/a.json.gz", 2), ExpectedFile("w1/data/b.json.gz", 2)),
    )
    front.statements.clear()
    with pytest.raises(SnapshotCheckError) as info:
        chain.apply_window(
            generation=0,
            window=w1,
            export_arn=W_ARN,
            data_s3_uri="s3://bucket/w1/data/",
            expect=wrong,
        )
    msg = str(info.value)
    assert W_ARN in msg and "3 rows" in msg and "itemCount 4" in msg, msg
    assert "w1/data/b.json.gz: 1 items, manifest says 2" in msg and "a.json.gz" not in msg, msg
    # nothing written: only reads, and the raw window's registration (not a visible table)
    writes = [s for s in front.statements if not s.startswith(("SELECT", "WITH", "ALTER TABLE"))]
    assert writes == [], writes
    assert state() == before
    right = Expectation(
        export=W_ARN,
        item_count=3,
        files=(ExpectedFile("w1/data/a.json.gz", 2), ExpectedFile("w1/data/b.json.gz", 1)),
    )
    res = chain.apply_window(
        generation=0, window=w1, export_arn=W_ARN, data_s3_uri="s3://bucket/w1/data/", expect=right
    )
    assert res.applied and res.records == 3
    after = state()
    assert after[1] == [("k1", 10), ("k2", 2), ("k9", 9)]
    assert [k for k, _ in after[0]] == ["seed", "window"]
