"""Change history through chained incremental exports, on the local AWS stack (issue #7).

A scripted history of puts, updates and deletes is placed in the past with ``set_now``;
the chain is then driven window by window. Expectations are computed here, from the script,
independently of the code under test.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.dynamodb.manifest import read_manifest
from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental import model
from ddb_assets.incremental.chain import ChainSpec, advance, apply_ready, request_next
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
from ddb_assets.incremental.windows import (
    GAP_FELL_BEHIND,
    GAP_PITR_DISABLED,
    GAP_PITR_REENABLED,
    PitrStatus,
    Window,
    detect_gap,
    next_windows,
)
from ddb_assets.local import LocalAWS
from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.sql.transpile import athena_to_duckdb, prepare_duckdb_connection

UTC = timezone.utc
W = timedelta(minutes=15)


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2) as s:
        yield s


@pytest.fixture
def aws(stack):
    yield stack
    stack.reset_clock()


def _table(aws, name: str, t0: datetime):
    ddb = aws.client("dynamodb")
    aws.set_now(t0)
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return ddb


class Script:
    """Writes through boto3 at chosen stack times, and the same history as a plain model."""

    def __init__(self, aws, ddb, table):
        self.aws, self.ddb, self.table = aws, ddb, table
        self.events: list[tuple[datetime, str, dict | None]] = []  # (time, pk, item or None)

    def put(self, at, item):
        self.aws.set_now(at)
        self.ddb.put_item(TableName=self.table, Item=_ddb(item))
        self.events.append((at, item["pk"], dict(item)))

    def update(self, at, pk, **attrs):
        self.aws.set_now(at)
        names = {f"#a{i}": k for i, k in enumerate(attrs)}
        values = {f":v{i}": _ddb_value(v) for i, v in enumerate(attrs.values())}
        self.ddb.update_item(
            TableName=self.table,
            Key=_ddb({"pk": pk, "sk": 1}),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        item = dict(self.state(at + timedelta(microseconds=-1))[pk])
        item.update(attrs)
        self.events.append((at, pk, item))

    def delete(self, at, pk):
        self.aws.set_now(at)
        self.ddb.delete_item(TableName=self.table, Key=_ddb({"pk": pk, "sk": 1}))
        self.events.append((at, pk, None))

    def state(self, at) -> dict:
        out: dict = {}
        for t, pk, item in self.events:
            if t <= at:
                out[pk] = item
        return {k: v for k, v in out.items() if v is not None}

    def changes(self, w: Window) -> dict:
        """pk -> (operation, new, old): the net change per item inside [start, end)."""
        before = self.state(w.start - timedelta(microseconds=1))
        touched = {pk for t, pk, _ in self.events if w.start <= t < w.end}
        after = {k: v for k, v in self.state(w.end - timedelta(microseconds=1)).items()}
        out = {}
        for pk in touched:
            old, new = before.get(pk), after.get(pk)
            if old is None and new is None:
                continue  # created and deleted inside the window
            op = "REMOVE" if new is None else ("MODIFY" if old is not None else "INSERT")
            out[pk] = (op, new, old)
        return out


def write_three_window_history(sc: Script, m) -> list[Window]:
    """The scripted history of three 15-minute windows after a seed at T0+10' (``m(minutes,
    seconds)`` is T0 + that); returns the windows. Shared by the DuckDB and Athena tests."""
    # before the seed (T0+10')
    sc.put(m(1), {"pk": "a", "sk": 1, "qty": 1, "name": "apple"})
    sc.put(m(1, 1), {"pk": "b", "sk": 1, "qty": 2, "name": "banana"})
    sc.put(m(1, 2), {"pk": "c", "sk": 1, "qty": 3, "name": "cherry"})
    # W1 [10', 25')
    sc.update(m(12), "a", qty=5)
    sc.put(m(13), {"pk": "d", "sk": 1, "qty": 4, "name": "durian"})
    sc.put(m(14), {"pk": "e", "sk": 1, "qty": 9, "name": "eggplant"})  # created ...
    sc.delete(m(15), "e")  # ... and deleted inside W1
    sc.delete(m(16), "b")
    # W2 [25', 40')
    sc.put(
        m(26), {"pk": "f", "sk": 1, "qty": 6, "name": "fig", "color": "red"}
    )  # attribute added mid-way
    sc.update(m(27), "c", qty=Decimal("3.25"))  # a wider decimal scale
    sc.put(m(28), {"pk": "b", "sk": 1, "qty": 2, "name": "blueberry"})  # back after its delete
    sc.update(m(29), "a", qty=6)
    sc.update(m(30), "a", qty=7)  # two writes, one record
    # W3 [40', 55')
    sc.delete(m(41), "d")
    sc.update(m(42), "f", color="blue")
    sc.put(m(43), {"pk": "g", "sk": 1, "qty": 1, "name": "grape", "tags": {"x", "y"}})
    sc.put(m(60), {"pk": "z", "sk": 1, "qty": 1, "name": "after the chain"})
    return [Window(m(10), m(25)), Window(m(25), m(40)), Window(m(40), m(55))]


def _ddb_value(v):
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, (int, Decimal)):
        return {"N": str(v)}
    if isinstance(v, set):
        return {"SS": sorted(v)}
    raise TypeError(v)


def _ddb(item):
    return {k: _ddb_value(v) for k, v in item.items()}


def _drive(aws, con, ddb, s3, spec, until, timeout=20.0):
    """Tick the chain (request + apply) until ``until(state)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        report, _ = advance(DuckDBChain(con, spec.schema, spec.sql_name), ddb, s3, spec)
        state = dc.read_chain_state(con, spec.schema, spec.sql_name)
        if until(state):
            return report, state
        assert not report.failed, report.failed
        if time.monotonic() > deadline:
            raise AssertionError(f"chain did not get there: {report.waiting}")
        time.sleep(0.1)


def _full_export_files(aws, ddb, s3, table, bucket, at, tmp):
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    d = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix=f"check/{uuid.uuid4().hex}", ExportTime=at
    )["ExportDescription"]
    assert aws.wait_for_export(d["ExportArn"]) == "COMPLETED"
    d = ddb.describe_export(ExportArn=d["ExportArn"])["ExportDescription"]
    m = read_manifest(s3, bucket, d["ExportManifest"])
    files = []
    for i, f in enumerate(m.files):
        p = os.path.join(tmp, f"full-{uuid.uuid4().hex}-{i}.json.gz")
        s3.download_file(bucket, f.key, p)
        files.append(p)
    return files


def _plain(v):
    if isinstance(v, Decimal):
        return v.normalize() if v != v.to_integral_value() else Decimal(int(v))
    if isinstance(v, list):
        return set(v)
    return v


def _rows(con, sql, params=()):
    cur = con.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _typed(row: dict, prefix: str, attrs) -> dict:
    return {a: _plain(row[prefix + a]) for a in attrs if row.get(prefix + a) is not None}


def _model(item) -> dict:
    return {
        k: _plain(Decimal(str(v)) if isinstance(v, (int, Decimal)) else v) for k, v in item.items()
    }


# ---------------------------------------------------------------------------------------
# pure functions


def test_windows_are_consecutive_and_never_end_after_latest_restorable():
    t = datetime(2025, 1, 1, tzinfo=UTC)
    ws = next_windows(t, W, t + timedelta(minutes=44), limit=10)
    assert [(w.start, w.end) for w in ws] == [
        (t, t + W),
        (t + W, t + 2 * W),
    ]  # the third would end at 45'
    assert next_windows(t, W, t + W - timedelta(microseconds=1), limit=10) == []
    assert len(next_windows(t, W, t + timedelta(days=1), limit=3)) == 3
    with pytest.raises(ValueError):
        next_windows(t, timedelta(minutes=10), t + timedelta(days=1), limit=1)
    with pytest.raises(ValueError):
        next_windows(t, timedelta(hours=25), t + timedelta(days=3), limit=1)


def test_gap_detection_reasons():
    now = datetime(2025, 3, 1, tzinfo=UTC)
    chain_to = now - timedelta(days=2)
    ok = PitrStatus(True, now - timedelta(days=10), now)
    assert detect_gap(ok, chain_to, "t", now=now) is None
    off = detect_gap(PitrStatus(False, None, None), chain_to, "t", now=now)
    assert off.reason == GAP_PITR_DISABLED and "disabled" in off.message
    re = detect_gap(PitrStatus(True, now - timedelta(days=1), now), chain_to, "t", now=now)
    assert (
        re.reason == GAP_PITR_REENABLED and "re-enabled" in re.message and "re-seed" in re.message
    )
    behind = detect_gap(
        PitrStatus(True, now - timedelta(days=35), now), now - timedelta(days=40), "t", now=now
    )
    assert behind.reason == GAP_FELL_BEHIND and "35-day" in behind.message


# ---------------------------------------------------------------------------------------
# the chain on the local stack


def test_three_windows_change_table_current_table_restart_and_full_export(aws, tmp_path):
    name = f"orders-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb = _table(aws, name, t0)
    s3 = aws.client("s3")
    bucket = f"chain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sc = Script(aws, ddb, name)
    m = lambda minutes, s=0: t0 + timedelta(minutes=minutes, seconds=s)  # noqa: E731
    windows = write_three_window_history(sc, m)

    db = str(tmp_path / "warehouse.duckdb")
    spec = ChainSpec(
        table_name=name,
        sql_name="orders",
        schema="shop",
        s3_bucket=bucket,
        base_prefix="exports",
        window=W,
        max_in_flight=3,
    )
    con = duckdb.connect(db)

    # Seed at T0+10' (the stack's latest restorable time, to the minute).
    aws.set_now(m(10))
    _drive(aws, con, ddb, s3, spec, lambda st: st.seeded)
    state = dc.read_chain_state(con, "shop", "orders")
    assert state.last_to == m(10) and state.generation == 0
    assert {r["pk"] for r in _rows(con, "SELECT pk FROM shop.orders_current")} == {"a", "b", "c"}

    # A window whose end is later than LatestRestorableDateTime is not requested.
    aws.set_now(m(24, 50))
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    before = len(ddb.list_exports(TableArn=arn)["ExportSummaries"])
    report, applied = advance(DuckDBChain(con, spec.schema, spec.sql_name), ddb, s3, spec)
    assert report.exports == [] and applied == [] and "not requested yet" in report.waiting
    assert len(ddb.list_exports(TableArn=arn)["ExportSummaries"]) == before

    # W1 lands; then a restart: a fresh connection and fresh objects continue from the ledger.
    aws.set_now(m(25, 1))
    _drive(aws, con, ddb, s3, spec, lambda st: len(st.windows()) == 1)
    con.close()
    con = duckdb.connect(db)
    spec = ChainSpec(
        table_name=name,
        sql_name="orders",
        schema="shop",
        s3_bucket=bucket,
        base_prefix="exports",
        window=W,
        max_in_flight=3,
    )
    aws.set_now(m(55, 1))
    _drive(aws, con, ddb, s3, spec, lambda st: len(st.windows()) == 3)
    report, applied = advance(
        DuckDBChain(con, spec.schema, spec.sql_name), ddb, s3, spec
    )  # nothing left: no window applied twice
    assert applied == [] and "not requested yet" in report.waiting

    state = dc.read_chain_state(con, "shop", "orders")
    assert [(r.window_from, r.window_to) for r in state.windows()] == [
        (w.start, w.end) for w in windows
    ]
    assert [r.kind for r in state.rows] == ["seed", "window", "window", "window"]
    per_window = dict(
        con.execute("SELECT window_from, count(*) FROM shop.orders_changes GROUP BY 1").fetchall()
    )
    assert {k.replace(tzinfo=UTC): v for k, v in per_window.items()} == {
        w.start: len(sc.changes(w)) for w in windows
    }

    # Re-applying an applied window is skipped; applying one out of order is refused.
    w1_files = _window_files(s3, bucket, tmp_path, windows[0], spec)
    again = dc.apply_window(
        con,
        schema="shop",
        table="orders",
        generation=0,
        window=windows[0],
        export_arn="x",
        data_files=w1_files,
    )
    assert not again.applied and "already applied" in again.skipped_reason
    with pytest.raises(model.ChainOrderError):
        dc.apply_window(
            con,
            schema="shop",
            table="orders",
            generation=0,
            window=Window(m(70), m(85)),
            export_arn="x",
            data_files=w1_files,
        )

    # The change table against the script.
    rows = _rows(con, "SELECT * FROM shop.orders_changes ORDER BY write_ts")
    attrs = ["pk", "sk", "qty", "name", "color", "tags"]
    for w in windows:
        got = {r["key_pk"]: r for r in rows if r["window_from"].replace(tzinfo=UTC) == w.start}
        want = sc.changes(w)
        assert set(got) == set(want), w
        for pk, (op, new, old) in want.items():
            r = got[pk]
            assert r["operation"] == op, (pk, w)
            assert r["key_sk"] == 1 and r["item_key"] == json.dumps(
                {"pk": {"S": pk}, "sk": {"N": "1"}}, separators=(",", ":"), sort_keys=True
            )
            assert w.start <= r["write_ts"].replace(tzinfo=UTC) < w.end
            assert r["change_date"] == r["write_ts"].date()
            assert _typed(r, "new_", attrs) == (_model(new) if new else {}), (pk, w)
            assert _typed(r, "old_", attrs) == (_model(old) if old else {}), (pk, w)
            assert (r["new_image"] is None) == (new is None) and (r["old_image"] is None) == (
                old is None
            )
    assert "e" not in {r["key_pk"] for r in rows}  # created and deleted in W1
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'shop' "
            "AND table_name = 'orders_changes'"
        ).fetchall()
    )
    assert types["new_qty"] == types["old_qty"] == "DECIMAL(38,2)"  # widened, old rows re-derived
    assert types["new_color"] == "VARCHAR" and types["new_tags"] == "VARCHAR[]"
    first_a = next(r for r in rows if r["key_pk"] == "a")
    assert first_a["old_qty"] == Decimal("1.00") and first_a["new_qty"] == Decimal("5.00")

    # The current table against the script and against a full export at the chain's end.
    cur = {r["pk"]: _typed(r, "", attrs) for r in _rows(con, "SELECT * FROM shop.orders_current")}
    assert cur == {
        pk: _model(item) for pk, item in sc.state(m(55) - timedelta(microseconds=1)).items()
    }
    aws.set_now(m(70))
    files = _full_export_files(aws, ddb, s3, name, bucket, m(55), str(tmp_path))
    cmp = dc.compare_with_full_export(
        con, schema="shop", table="orders", data_files=files, key_attributes=["pk", "sk"]
    )
    assert cmp.identical and cmp.current_rows == cmp.export_items == 5, cmp

    # The three typical questions, in Athena SQL (as in docs/incremental.md), run on DuckDB.
    prepare_duckdb_connection(con)
    history = con.execute(athena_to_duckdb(Q_KEY_HISTORY)).fetchall()
    assert [(op, new) for _, op, new, _ in history] == [
        ("MODIFY", Decimal("5.00")),
        ("MODIFY", Decimal("7.00")),
    ]
    day = rows[0]["change_date"].isoformat()
    inserts = con.execute(
        athena_to_duckdb(Q_INSERTS_OF_A_DAY.replace("2025-01-01", day))
    ).fetchall()
    assert sorted(r[0] for r in inserts) == sorted(
        pk for w in windows for pk, (op, _, _) in sc.changes(w).items() if op == "INSERT"
    )
    pattern = con.execute(athena_to_duckdb(Q_NEW_VALUE_PATTERN)).fetchall()
    assert sorted(r[0] for r in pattern) == ["b", "f"]  # blueberry and fig's blue color
    con.close()


Q_KEY_HISTORY = """SELECT write_ts, operation, new_qty, old_qty
FROM shop.orders_changes
WHERE key_pk = 'a' AND key_sk = 1
ORDER BY write_ts"""

Q_INSERTS_OF_A_DAY = """SELECT key_pk, write_ts, new_name
FROM shop.orders_changes
WHERE change_date = DATE '2025-01-01' AND operation = 'INSERT'
ORDER BY write_ts"""

Q_NEW_VALUE_PATTERN = """SELECT DISTINCT key_pk
FROM shop.orders_changes
WHERE regexp_like(new_name, '^blue') OR regexp_like(new_color, '^blue')"""


def _window_files(s3, bucket, tmp_path, w, spec):
    from ddb_assets.incremental.exports import find_completed

    m = find_completed(s3, spec.window_request(0, w))
    out = []
    for i, f in enumerate(read_manifest(s3, bucket, m.manifest_summary_key).files):
        p = str(tmp_path / f"w-{i}.json.gz")
        s3.download_file(bucket, f.key, p)
        out.append(p)
    return out


def test_pitr_gap_is_reported_and_resolved_by_reseeding(aws, tmp_path):
    name = f"gappy-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb = _table(aws, name, t0)
    s3 = aws.client("s3")
    bucket = f"gap-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sc = Script(aws, ddb, name)
    m = lambda minutes, s=0, ms=0: t0 + timedelta(minutes=minutes, seconds=s, milliseconds=ms)  # noqa: E731
    sc.put(m(1), {"pk": "a", "sk": 1, "qty": 1, "name": "apple"})
    sc.put(m(2), {"pk": "b", "sk": 1, "qty": 2, "name": "banana"})
    sc.put(
        m(3), {"pk": "d", "sk": 1, "qty": 5, "name": "date", "tags": {"x", "y"}}
    )  # never changes
    sc.update(m(12), "a", qty=2)  # in W1 [10', 25')
    spec = ChainSpec(
        table_name=name,
        sql_name="gappy",
        schema="shop",
        s3_bucket=bucket,
        base_prefix="exports",
        window=W,
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    aws.set_now(m(10))
    _drive(aws, con, ddb, s3, spec, lambda st: st.seeded)
    aws.set_now(m(25, 1))
    _drive(aws, con, ddb, s3, spec, lambda st: len(st.windows()) == 1)

    # PITR goes off at 30', changes happen meanwhile, PITR comes back at 50'.
    aws.set_now(m(30))
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    sc.update(m(35), "a", qty=3)
    sc.delete(m(36), "b")
    sc.put(m(37), {"pk": "c", "sk": 1, "qty": 3, "name": "cherry"})
    state = dc.read_chain_state(con, "shop", "gappy")
    report = request_next(ddb, s3, spec, seeded=True, generation=0, last_to=state.last_to)
    assert (
        report.gap.reason == GAP_PITR_DISABLED
        and report.exports == []
        and "disabled" in report.waiting
    )
    assert (
        apply_ready(DuckDBChain(con, spec.schema, spec.sql_name), ddb, s3, spec) == []
    )  # nothing skipped, nothing applied

    aws.set_now(m(49, 59, 500))  # the re-seed is at the first whole second PITR covers: 50'
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    report = request_next(ddb, s3, spec, seeded=True, generation=0, last_to=state.last_to)
    assert report.gap is not None and report.gap.reason == GAP_PITR_REENABLED
    assert report.gap.chain_to == m(25) and report.generation == 1
    assert "re-enabled" in report.gap.message and m(25).isoformat() in report.gap.message
    _drive(aws, con, ddb, s3, spec, lambda st: st.generation == 1)

    state = dc.read_chain_state(con, "shop", "gappy")
    assert [r.kind for r in state.rows] == ["seed", "window", "gap", "seed"]
    gap_row = state.rows[2]
    assert (
        gap_row.window_from == m(25) and gap_row.window_to == m(50) and "re-enabled" in gap_row.note
    )
    reseed = {
        r["key_pk"]: r["operation"]
        for r in _rows(
            con, "SELECT key_pk, operation FROM shop.gappy_changes WHERE source = 'reseed'"
        )
    }
    assert reseed == {"a": "MODIFY", "b": "REMOVE", "c": "INSERT"}  # the net change across the gap
    rows = {
        r["key_pk"]: r
        for r in _rows(
            con,
            "SELECT key_pk, new_qty, old_qty, new_name, old_name, write_ts, window_from, window_to "
            "FROM shop.gappy_changes WHERE source = 'reseed'",
        )
    }
    assert (rows["a"]["new_qty"], rows["a"]["old_qty"]) == (3, 2)  # typed both ways
    assert (rows["b"]["new_name"], rows["b"]["old_name"]) == (None, "banana")
    assert (rows["c"]["new_name"], rows["c"]["old_name"]) == ("cherry", None)
    assert {r["write_ts"] for r in rows.values()} == {
        m(50).replace(tzinfo=None)
    }  # the re-seed time
    assert {(r["window_from"], r["window_to"]) for r in rows.values()} == {
        (m(25).replace(tzinfo=None), m(50).replace(tzinfo=None))
    }
    files = _full_export_files(aws, ddb, s3, name, bucket, m(50), str(tmp_path))
    cmp = dc.compare_with_full_export(
        con, schema="shop", table="gappy", data_files=files, key_attributes=["pk", "sk"]
    )
    assert cmp.identical, cmp

    # The chain goes on from the new seed.
    aws.set_now(m(65, 1))
    sc.update(m(55), "c", qty=4)
    aws.set_now(m(65, 1))
    _drive(aws, con, ddb, s3, spec, lambda st: len(st.windows(1)) == 1)
    w = dc.read_chain_state(con, "shop", "gappy").windows(1)[0]
    assert (w.window_from, w.window_to) == (m(50), m(65))
    assert con.execute("SELECT qty FROM shop.gappy_current WHERE pk = 'c'").fetchone()[0] == 4
    con.close()


def test_staging_round_trip_keeps_absent_images_absent(tmp_path):
    from ddb_assets.incremental.records import ChangeRecord, write_staging

    recs = [ChangeRecord({"pk": {"S": "x"}}, 5, None, {"pk": {"S": "x"}, "v": {"N": "1"}})]
    n = write_staging(recs, str(tmp_path / "i.gz"), str(tmp_path / "r.gz"))
    line = json.loads(gzip.open(tmp_path / "r.gz", "rt").read())
    assert (
        n == 1
        and "New" not in line
        and line["Old"]["v"] == {"N": "1"}
        and recs[0].operation == "REMOVE"
    )


# ---------------------------------------------------------------------------------------
# The same history through ION exports and through the NEW_IMAGE view


def _table_rows(con, schema: str, table: str, skip=()) -> list[tuple]:
    cols = [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND "
            "table_name = ? ORDER BY column_name",
            [schema, table],
        ).fetchall()
        if c not in skip
    ]
    order = "item_key, write_micros" if table.endswith("_changes") else "_ddb_key"
    return cols, con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {schema}.{table} ORDER BY {order}"
    ).fetchall()


def test_ion_exports_and_the_new_image_view_give_the_same_history(aws, tmp_path):
    """The chain driven three times over one history, side by side: DYNAMODB_JSON with
    NEW_AND_OLD_IMAGES (the reference), ION, and the NEW_IMAGE view. ION must give the very
    same change and current rows; NEW_IMAGE the same operations (INSERT vs MODIFY decided
    against the current table), new values and current table, with no old values."""
    name = f"fmt-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb = _table(aws, name, t0)
    s3 = aws.client("s3")
    bucket = f"fmt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sc = Script(aws, ddb, name)
    m = lambda minutes, s=0: t0 + timedelta(minutes=minutes, seconds=s)  # noqa: E731
    sc.put(m(1), {"pk": "a", "sk": 1, "qty": 1, "name": "apple"})
    sc.put(m(2), {"pk": "b", "sk": 1, "qty": 2, "name": "banana", "tags": {"x"}})
    sc.update(m(12), "a", qty=Decimal("5.5"))  # W1 [10', 25')
    sc.put(m(13), {"pk": "c", "sk": 1, "qty": 3, "name": "cherry"})
    sc.put(m(14), {"pk": "e", "sk": 1, "qty": 9, "name": "eggplant"})
    sc.delete(m(15), "e")  # created and deleted in W1
    sc.delete(m(26), "b")  # W2 [25', 40')
    sc.put(m(27), {"pk": "f", "sk": 1, "qty": 6, "name": "fig", "color": "red", "tags": {"p", "q"}})
    sc.update(m(28), "c", name="cherry pie")
    variants = {
        "ref": ("DYNAMODB_JSON", "NEW_AND_OLD_IMAGES"),
        "ion": ("ION", "NEW_AND_OLD_IMAGES"),
        "newimg": ("DYNAMODB_JSON", "NEW_IMAGE"),
    }
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema, (fmt, view) in variants.items():
        spec = ChainSpec(
            table_name=name,
            sql_name="orders",
            schema=schema,
            s3_bucket=bucket,
            base_prefix=schema,
            window=W,
            export_format=fmt,
            view_type=view,
        )
        aws.set_now(m(10))
        _drive(aws, con, ddb, s3, spec, lambda st: st.seeded)
        aws.set_now(m(40, 1))
        _drive(aws, con, ddb, s3, spec, lambda st: len(st.windows()) == 2)
        # The exports really are in the variant's format and view.
        from ddb_assets.incremental.exports import find_completed

        w1 = find_completed(s3, spec.window_request(0, Window(m(10), m(25))))
        d = ddb.describe_export(ExportArn=w1.export_arn)["ExportDescription"]
        assert d["ExportFormat"] == fmt
        assert d["IncrementalExportSpecification"]["ExportViewType"] == view

    ref_cols, ref = _table_rows(con, "ref", "orders_changes", skip={"export_arn"})
    cols, ion = _table_rows(con, "ion", "orders_changes", skip={"export_arn"})
    assert cols == ref_cols and ion == ref and len(ref) == 5
    assert _table_rows(con, "ion", "orders_current") == _table_rows(con, "ref", "orders_current")

    old = {"old_image"} | {c for c in ref_cols if c.startswith("old_")}
    ref_cols_n, ref_n = _table_rows(con, "ref", "orders_changes", skip={"export_arn"} | old)
    cols, newimg = _table_rows(con, "newimg", "orders_changes", skip={"export_arn"} | old)
    assert cols == ref_cols_n and newimg == ref_n
    assert (
        con.execute(
            "SELECT count(*) FROM newimg.orders_changes WHERE old_image IS NOT NULL OR "
            "old_qty IS NOT NULL OR old_name IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    ops = sorted(
        con.execute("SELECT key_pk, window_from, operation FROM newimg.orders_changes").fetchall()
    )
    want = sorted(
        (pk, w.start.replace(tzinfo=None), op)
        for w in (Window(m(10), m(25)), Window(m(25), m(40)))
        for pk, (op, _, _) in sc.changes(w).items()
    )
    assert ops == want and {op for _, _, op in ops} == {"INSERT", "MODIFY", "REMOVE"}
    assert _table_rows(con, "newimg", "orders_current") == _table_rows(con, "ref", "orders_current")
    con.close()
