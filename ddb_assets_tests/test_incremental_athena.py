"""The change history on the Athena engine.

Generated SQL: every statement parses as Athena SQL and has the shape the design needs (the
change table partitioned by day, the MERGE deletes, each step's statements guarded so a
repeat is a no-op).
"""

from datetime import datetime, timezone

import sqlglot
from sqlglot import exp

from ddb_assets.athena.client import check_athena_sql
from ddb_assets.incremental import athena_compare
from ddb_assets.incremental import athena_sql as q
from ddb_assets.incremental.windows import Window
from ddb_assets.tables.changes import plan_image_columns
from ddb_assets.tables.plan import AttributeStats
from ddb_assets_tests.ddb_tables import create_pitr_table

W = Window(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, 1, tzinfo=timezone.utc))
STATS = [
    AttributeStats("pk", {"S": 3}),
    AttributeStats("qty", {"N": 3}, 3, 2, 2),
    AttributeStats("Color Name", {"S": 1}),
    AttributeStats("tags", {"SS": 1}),
    AttributeStats("mixed", {"S": 1, "N": 1}, 1, 1, 0),
]
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/o/export/01700000000000-abcdef12"


def _plans():
    plans, conflicts = plan_image_columns(STATS)
    assert [c.attribute for c in conflicts] == ["mixed"]
    return plans


def test_generated_statements_parse_and_have_the_right_shape():
    plans = _plans()
    n = q.Names("shop", "orders")
    ddl = q.ddl_statements("shop", "orders", plans, ["pk"], "s3://bucket/ddb/orders/")
    stmts = q.window_statements(
        "shop", "orders", plans, ["pk"], generation=2, window=W, export_arn=ARN
    )
    others = [
        q.add_partition_sql(
            "shop",
            "orders",
            "__increments",
            "window_label",
            W.label,
            "s3://bucket/x/AWSDynamoDB/01700000000000-abcdef12/data/",
        ),
        q.discovery_over(q.window_items_sql(n, W)),
        q.discovery_over(q.net_change_items_sql(n, ["pk"], "01700000000000-abcdef12", W.end)),
        q.seed_current_sql(n, plans, ["pk"], "01700000000000-abcdef12", W.start),
        q.insert_changes_sql(
            n,
            plans,
            ["pk"],
            q.net_change_sql(n, ["pk"], "01700000000000-abcdef12", W.end),
            source="reseed",
            generation=3,
            window_from=W.start,
            window_to=W.end,
            export_arn=ARN,
        ),
        q.ledger_insert_sql(
            n,
            [q.LedgerEntry(7, "window", 2, W.start, W.end, ARN, 3, None, "{}")],
            unless=q.window_applied_where(2, W),
        ),
        q.ledger_select_sql(n),
        q.add_columns_sql(
            "shop", "orders_current", [("color_name", "string"), ("qty", "decimal(38,2)")]
        ),
        q.drop_column_sql("shop", "orders_current", "qty"),
        q.rederive_sql(n.changes, [(c, root, p) for c, root, p in q.change_columns(plans, ["pk"])]),
        athena_compare.compare_sql(n, plans, ["pk"], "01700000000000-abcdef12", 5)[0],
    ]
    for sql in ddl + stmts + others:
        check_athena_sql(sql)
    assert "PARTITIONED BY (`change_date`)" in ddl[2] and "'table_type' = 'ICEBERG'" in ddl[2]
    assert (
        all("'table_type' = 'ICEBERG'" in d for d in ddl[2:])
        and "EXTERNAL" in ddl[0]
        and "EXTERNAL" in ddl[1]
    )
    assert (
        "`color_name` string" in ddl[3]
        and "`new_tags` array<string>" in ddl[2]
        and "mixed__type" in ddl[3]
    )
    assert "`plan` string" in ddl[4]
    # HiveQL DDL backticks every identifier, Trino DML double-quotes them
    assert "`_ddb_key` string" in ddl[3] and "`date`" not in ddl[3]
    insert, merge = stmts
    assert insert.startswith('INSERT INTO "shop"."orders_changes"') and "WHERE NOT EXISTS" in insert
    assert "'Color Name'" in insert and '"new_color_name"' in insert  # attribute bound as a literal
    assert "from_unixtime_nanos(ts * 1000)" in insert  # microseconds kept
    tree = sqlglot.parse_one(merge, read="athena")
    assert isinstance(tree, exp.Merge)
    whens = tree.args["whens"].expressions
    assert [w.args.get("matched") for w in whens] == [True, True, False]
    assert "THEN DELETE" in merge and "s.operation = 'REMOVE'" in merge
    assert (
        others[5].startswith('INSERT INTO "shop"."orders__chain"')
        and "WHERE NOT EXISTS" in others[5]
    )


def test_key_text_is_the_canonical_json_of_the_keys_in_sorted_order():
    sql = q.key_text_sql(["sk", "pk"], "m")
    assert sql.index("'{\"pk\":'") < sql.index("',\"sk\":'")
    assert q.key_text_sql(["O'Brien"], "m").count("'{\"O''Brien\":'") == 1


# =======================================================================================
# The chain run on Athena for real: the Athena emulator (DuckDB executing the Athena SQL over
# Glue + S3 of the local stack), the scripted history of test_incremental_chain, and the DuckDB
# engine on the same exports for comparison.

import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import duckdb  # noqa: E402
import pytest  # noqa: E402

from ddb_assets.incremental import duckdb_chain as dc  # noqa: E402
from ddb_assets.incremental import model  # noqa: E402
from ddb_assets.incremental.athena_chain import AthenaChain  # noqa: E402
from ddb_assets.incremental.chain import (  # noqa: E402
    ChainSpec,
    advance,
    apply_ready,
    check_current,
    read_state,
    request_next,
)
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain  # noqa: E402
from ddb_assets.incremental.windows import GAP_PITR_REENABLED  # noqa: E402
from ddb_assets.local import LocalAWS  # noqa: E402
from ddb_assets_tests.athena_emulator import AthenaEmulator  # noqa: E402
from ddb_assets_tests.test_incremental_chain import (  # noqa: E402
    Q_INSERTS_OF_A_DAY,
    Q_KEY_HISTORY,
    Q_NEW_VALUE_PATTERN,
    Script,
    _model,
    _table,
    _typed,
    write_three_window_history,
)
from ddb_assets_tests.test_incremental_chain import (  # noqa: E402
    W as W15,
)

UTC = timezone.utc
ATTRS = ["pk", "sk", "qty", "name", "color", "tags"]


@pytest.fixture(scope="module")
def stack():
    with LocalAWS(export_seconds=0.2) as s:
        yield s


@pytest.fixture
def aws(stack):
    yield stack
    stack.reset_clock()


class Crash(RuntimeError):
    """The process died right after a statement committed."""


class CrashingRunner:
    """Runs statements through ``inner`` and dies once, after the first statement ``when`` matches
    has committed (the Athena query succeeded, the caller never heard back)."""

    def __init__(self, inner, when):
        self.inner, self.when, self.crashed = inner, when, False

    def execute(self, sql):
        res = self.inner.execute(sql)
        if not self.crashed and self.when(sql):
            self.crashed = True
            raise Crash(sql[:80])
        return res


def _rows(res) -> list[dict]:
    return [dict(zip(res.columns, r)) for r in res.rows]


def _duck_rows(con, sql) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _drive(wh, ddb, s3, spec, until, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        report, _ = advance(wh, ddb, s3, spec)
        state = read_state(wh)
        if until(state):
            return report, state
        assert not report.failed, report.failed
        if time.monotonic() > deadline:
            raise AssertionError(f"chain did not get there: {report.waiting}")
        time.sleep(0.1)


def _new_chain(glue, s3, bucket, runner=None):
    """A fresh process: a new emulator session (nothing cached) and a new chain object."""
    emu = AthenaEmulator(glue, s3, database="shop")
    return emu, AthenaChain(
        runner(emu) if runner else emu,
        glue,
        "shop",
        "orders",
        f"s3://{bucket}/typed/orders__history/",
    )


def _same_rows(athena: list[dict], duck: list[dict], key) -> None:
    """The Athena engine's rows equal the DuckDB engine's (same columns, same values; raw images
    compared as JSON)."""
    assert {k for r in athena for k in r} == {k for r in duck for k in r}
    a = {key(r): r for r in athena}
    d = {key(r): r for r in duck}
    assert set(a) == set(d) and len(a) == len(athena) == len(duck)
    for k in a:
        for col, v in d[k].items():
            got = a[k][col]
            if col in ("new_image", "old_image", "_ddb_item"):
                v, got = (None if x is None else json.loads(x) for x in (v, got))
            assert got == v, (k, col, got, v)


@pytest.fixture(scope="module")
def history(stack, tmp_path_factory):
    """The scripted history of test_incremental_chain, applied on Athena (with two crashes and a
    restart) and on DuckDB, from the same exports."""
    aws = stack
    tmp = tmp_path_factory.mktemp("athena_chain")
    name = f"orders-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb = _table(aws, name, t0)
    s3, glue = aws.client("s3"), aws.client("glue")
    bucket = f"chain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": "shop"})
    sc = Script(aws, ddb, name)
    m = lambda minutes, s=0: t0 + timedelta(minutes=minutes, seconds=s)  # noqa: E731
    windows = write_three_window_history(sc, m)
    spec = ChainSpec(
        table_name=name,
        sql_name="orders",
        schema="shop",
        s3_bucket=bucket,
        base_prefix="exports",
        window=W15,
        max_in_flight=3,
    )
    out = {
        "aws": aws,
        "ddb": ddb,
        "s3": s3,
        "glue": glue,
        "bucket": bucket,
        "sc": sc,
        "m": m,
        "windows": windows,
        "spec": spec,
        "events": [],
    }

    # Seed at T0+10'; W1 with a crash right after its change rows were inserted.
    aws.set_now(m(10))
    emu, chain = _new_chain(glue, s3, bucket)
    _drive(chain, ddb, s3, spec, lambda st: st.seeded)
    out["seed_state"] = chain.read_state()
    aws.set_now(m(25, 1))
    _, crashing = _new_chain(
        glue,
        s3,
        bucket,
        lambda e: CrashingRunner(
            e, lambda sql: sql.startswith('INSERT INTO "shop"."orders_changes"')
        ),
    )
    with pytest.raises(Crash):
        _drive(crashing, ddb, s3, spec, lambda st: len(st.windows()) == 1)
    out["events"].append(("W1 crashed after INSERT", crashing.read_state()))
    emu, chain = _new_chain(glue, s3, bucket)  # restart
    _drive(chain, ddb, s3, spec, lambda st: len(st.windows()) == 1)

    # W2 dies half-way through its schema change (qty's scale widens: dropped, not yet re-added);
    # W3 dies after its MERGE, before its ledger row. Each time a fresh process continues.
    aws.set_now(m(55, 1))
    _, crashing = _new_chain(
        glue,
        s3,
        bucket,
        lambda e: CrashingRunner(
            e, lambda sql: sql.startswith("ALTER TABLE `shop`.`orders_changes` DROP COLUMN")
        ),
    )
    with pytest.raises(Crash):
        _drive(crashing, ddb, s3, spec, lambda st: len(st.windows()) == 3)
    out["events"].append(("W2 crashed in its schema change", crashing.read_state()))
    _, crashing = _new_chain(
        glue,
        s3,
        bucket,
        lambda e: CrashingRunner(
            e,
            lambda sql: (
                sql.startswith('MERGE INTO "shop"."orders_current"')
                and "window_from = CAST(TIMESTAMP '" + m(40).strftime("%Y-%m-%d %H:%M:%S") in sql
            ),
        ),
    )
    with pytest.raises(Crash):
        _drive(crashing, ddb, s3, spec, lambda st: len(st.windows()) == 3)
    out["events"].append(("W3 crashed after MERGE", crashing.read_state()))
    emu, chain = _new_chain(glue, s3, bucket)
    _drive(chain, ddb, s3, spec, lambda st: len(st.windows()) == 3)
    out["emu"], out["chain"] = emu, chain

    # The DuckDB engine on the same exports.
    con = duckdb.connect(str(tmp / "warehouse.duckdb"))
    _drive(
        DuckDBChain(con, spec.schema, spec.sql_name),
        ddb,
        s3,
        spec,
        lambda st: len(st.windows()) == 3,
    )
    out["duck"] = con
    yield out
    con.close()
    emu.close()
    aws.reset_clock()


@pytest.mark.trino
def test_restart_and_crashes_apply_every_window_exactly_once(history):
    h = history
    ws = h["windows"]
    (_, after_w1_crash), (_, after_w2_crash), (_, after_w3_crash) = h["events"]
    assert [r.kind for r in after_w1_crash.rows] == ["seed"]  # the crash left no ledger row
    assert [(r.window_from, r.window_to) for r in after_w2_crash.windows()] == [
        (ws[0].start, ws[0].end)
    ]
    assert len(after_w3_crash.windows()) == 2  # W3's MERGE ran, its row did not
    state = h["chain"].read_state()
    assert [r.kind for r in state.rows] == ["seed", "window", "window", "window"]
    assert [r.seq for r in state.rows] == [1, 2, 3, 4]
    assert [(r.window_from, r.window_to) for r in state.windows()] == [(w.start, w.end) for w in ws]
    per_window = _rows(
        h["emu"].execute(
            "SELECT window_from, count(*) AS n FROM shop.orders_changes GROUP BY window_from"
        )
    )
    assert {r["window_from"].replace(tzinfo=UTC): r["n"] for r in per_window} == {
        w.start: len(h["sc"].changes(w)) for w in ws
    }
    assert [r.records for r in state.windows()] == [len(h["sc"].changes(w)) for w in ws]


@pytest.mark.trino
def test_a_repeated_apply_is_a_no_op(history):
    h = history
    emu, chain = _new_chain(h["glue"], h["s3"], h["bucket"])
    try:
        before = (
            _rows(emu.execute("SELECT * FROM shop.orders_changes")),
            _rows(emu.execute("SELECT * FROM shop.orders_current")),
        )
        h["aws"].set_now(h["m"](55, 30))
        report, applied = advance(chain, h["ddb"], h["s3"], h["spec"])
        assert applied == [] and "not requested yet" in report.waiting
        again = chain.apply_window(
            generation=0,
            window=h["windows"][0],
            export_arn="x",
            data_s3_uri=f"s3://{h['bucket']}/nowhere/data/",
        )
        assert not again.applied and "already applied" in again.skipped_reason
        with pytest.raises(model.ChainOrderError):
            chain.apply_window(
                generation=0,
                window=Window(h["m"](70), h["m"](85)),
                export_arn="x",
                data_s3_uri=f"s3://{h['bucket']}/nowhere/data/",
            )
        # Even the window's statements run again by hand change nothing (each is guarded).
        w = h["windows"][2]
        plan = chain._plans_now(chain._ledger()[1], {})
        for sql in q.window_statements(
            "shop",
            "orders",
            plan.plans,
            plan.key_attributes,
            generation=0,
            window=w,
            export_arn="arn",
        ):
            emu.execute(sql)
        after = (
            _rows(emu.execute("SELECT * FROM shop.orders_changes")),
            _rows(emu.execute("SELECT * FROM shop.orders_current")),
        )
        key = lambda r: json.dumps(r, default=str, sort_keys=True)  # noqa: E731
        assert sorted(map(key, after[0])) == sorted(map(key, before[0]))
        assert sorted(map(key, after[1])) == sorted(map(key, before[1]))
        assert len(chain.read_state().rows) == 4
    finally:
        emu.close()


@pytest.mark.trino
def test_change_table_against_the_history(history):
    h = history
    rows = _rows(h["emu"].execute("SELECT * FROM shop.orders_changes ORDER BY write_ts"))
    for w in h["windows"]:
        got = {r["key_pk"]: r for r in rows if r["window_from"].replace(tzinfo=UTC) == w.start}
        want = h["sc"].changes(w)
        assert set(got) == set(want), w
        for pk, (op, new, old) in want.items():
            r = got[pk]
            assert r["operation"] == op, (pk, w)
            assert r["key_sk"] == 1 and r["item_key"] == json.dumps(
                {"pk": {"S": pk}, "sk": {"N": "1"}}, separators=(",", ":"), sort_keys=True
            )
            assert w.start <= r["write_ts"].replace(tzinfo=UTC) < w.end
            assert r["change_date"] == r["write_ts"].date() and r["source"] == "incremental"
            assert _typed(r, "new_", ATTRS) == (_model(new) if new else {}), (pk, w)
            assert _typed(r, "old_", ATTRS) == (_model(old) if old else {}), (pk, w)
            assert (r["new_image"] is None) == (new is None) and (r["old_image"] is None) == (
                old is None
            )
    assert "e" not in {r["key_pk"] for r in rows}  # created and deleted in W1
    types = {
        c["Name"]: c["Type"]
        for c in h["glue"].get_table(DatabaseName="shop", Name="orders_changes")["Table"][
            "StorageDescriptor"
        ]["Columns"]
    }
    assert types["new_qty"] == types["old_qty"] == "decimal(38,2)"  # widened, old rows re-derived
    assert types["new_color"] == "string" and types["new_tags"] == "array<string>"
    first_a = next(r for r in rows if r["key_pk"] == "a")
    assert first_a["old_qty"] == Decimal("1.00") and first_a["new_qty"] == Decimal("5.00")
    table = h["glue"].get_table(DatabaseName="shop", Name="orders_changes")["Table"]
    assert (
        table["Parameters"]["table_type"] == "ICEBERG" and table["Parameters"]["metadata_location"]
    )


@pytest.mark.trino
def test_current_table_against_the_history(history):
    h = history
    cur = {
        r["pk"]: _typed(r, "", ATTRS)
        for r in _rows(h["emu"].execute("SELECT * FROM shop.orders_current"))
    }
    assert cur == {
        pk: _model(item)
        for pk, item in h["sc"].state(h["m"](55) - timedelta(microseconds=1)).items()
    }


@pytest.mark.trino
def test_the_three_typical_questions_in_athena_sql(history):
    h = history
    emu = h["emu"]
    got = emu.execute(Q_KEY_HISTORY).rows
    assert [(op, new) for _, op, new, _ in got] == [
        ("MODIFY", Decimal("5.00")),
        ("MODIFY", Decimal("7.00")),
    ]
    day = emu.execute("SELECT min(change_date) FROM shop.orders_changes").rows[0][0]
    inserts = emu.execute(Q_INSERTS_OF_A_DAY.replace("2025-01-01", day.isoformat()))
    assert sorted(r[0] for r in inserts.rows) == sorted(
        pk for w in h["windows"] for pk, (op, _, _) in h["sc"].changes(w).items() if op == "INSERT"
    )
    # one day's partition is read; another day's reads nothing (Iceberg partition pruning)
    every_day = emu.execute("SELECT * FROM shop.orders_changes")
    assert 0 < inserts.bytes_scanned <= every_day.bytes_scanned
    none = emu.execute(
        Q_INSERTS_OF_A_DAY.replace("2025-01-01", (day - timedelta(days=1)).isoformat())
    )
    assert none.rows == [] and none.bytes_scanned == 0
    pattern = emu.execute(Q_NEW_VALUE_PATTERN).rows
    assert sorted(r[0] for r in pattern) == ["b", "f"]


def _check(h, chain):
    h["aws"].set_now(h["m"](70))
    deadline = time.monotonic() + 30
    while True:
        out = check_current(chain, h["ddb"], h["s3"], h["spec"])
        if out.status == "compared" or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


@pytest.mark.trino
def test_athena_engine_equals_the_duckdb_engine(history):
    h = history
    emu, duck = h["emu"], h["duck"]
    _same_rows(
        _rows(emu.execute("SELECT * FROM shop.orders_changes")),
        _duck_rows(duck, "SELECT * FROM shop.orders_changes"),
        key=lambda r: (r["window_from"], r["item_key"]),
    )
    _same_rows(
        _rows(emu.execute("SELECT * FROM shop.orders_current")),
        _duck_rows(duck, "SELECT * FROM shop.orders_current"),
        key=lambda r: r["_ddb_key"],
    )
    a_state, d_state = h["chain"].read_state(), dc.read_chain_state(duck, "shop", "orders")

    def strip(st):
        return [
            (r.seq, r.kind, r.generation, r.window_from, r.window_to, r.export_arn, r.records)
            for r in st.rows
        ]

    assert strip(a_state) == strip(d_state)


def _pointer(glue, table):
    return glue.get_table(DatabaseName="shop", Name=table)["Table"]["Parameters"][
        "metadata_location"
    ]


def _roll_back(glue, table, metadata_location):
    """Point the Iceberg table back at an earlier metadata file (what a rollback to a snapshot does)."""
    t = glue.get_table(DatabaseName="shop", Name=table)["Table"]
    glue.update_table(
        DatabaseName="shop",
        TableInput={
            "Name": table,
            "TableType": t["TableType"],
            "Parameters": dict(t["Parameters"], metadata_location=metadata_location),
            "StorageDescriptor": {
                "Columns": t["StorageDescriptor"]["Columns"],
                "Location": t["StorageDescriptor"]["Location"],
            },
        },
    )


@pytest.mark.trino
def test_check_passes_and_detects_a_tampered_row(history):
    h = history
    emu, chain = _new_chain(h["glue"], h["s3"], h["bucket"])
    untouched = _pointer(h["glue"], "orders_current")
    try:
        ok = _check(h, chain)
        assert ok.status == "compared" and ok.passed, ok
        c = ok.comparison
        assert c.current_rows == c.export_items == 5 and ok.position == h["m"](55)
        assert "(attributes)" in c.columns and "qty" in c.columns
        assert any(s.startswith("WITH e AS") for s in emu.statements)  # compared in Athena SQL
        emu.execute("UPDATE shop.orders_current SET qty = 99, name = 'APPLE' WHERE pk = 'a'")
        emu.execute("DELETE FROM shop.orders_current WHERE pk = 'g'")
        bad = check_current(chain, h["ddb"], h["s3"], h["spec"])
        c = bad.comparison
        assert bad.status == "compared" and not bad.passed
        assert (c.missing, c.extra, c.different, c.current_rows, c.export_items) == (1, 0, 1, 4, 5)
        kinds = {k: (key, d) for k, key, d in c.examples}
        assert kinds["different"][1] == {"qty": ["99.00", "7.00"], "name": ["APPLE", "apple"]}
        assert kinds["missing"][0] == '{"pk":{"S":"g"},"sk":{"N":"1"}}'
        _roll_back(h["glue"], "orders_current", untouched)
        assert check_current(chain, h["ddb"], h["s3"], h["spec"]).passed
    finally:
        _roll_back(h["glue"], "orders_current", untouched)
        emu.close()


@pytest.mark.trino
def test_pitr_gap_reseed_on_athena_writes_the_net_change_computed_in_sql(aws, tmp_path):
    name = f"gappy-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb = _table(aws, name, t0)
    s3, glue = aws.client("s3"), aws.client("glue")
    bucket = f"gap-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    try:
        glue.create_database(DatabaseInput={"Name": "shop"})
    except glue.exceptions.AlreadyExistsException:
        pass
    sc = Script(aws, ddb, name)
    m = lambda minutes, s=0, ms=0: t0 + timedelta(minutes=minutes, seconds=s, milliseconds=ms)  # noqa: E731
    sc.put(m(1), {"pk": "a", "sk": 1, "qty": 1, "name": "apple"})
    sc.put(m(2), {"pk": "b", "sk": 1, "qty": 2, "name": "banana"})
    sc.put(
        m(3), {"pk": "d", "sk": 1, "qty": 5, "name": "date", "tags": {"x", "y"}}
    )  # never changes
    sc.update(m(12), "a", qty=2)
    spec = ChainSpec(
        table_name=name,
        sql_name="gappy",
        schema="shop",
        s3_bucket=bucket,
        base_prefix="exports",
        window=W15,
    )
    emu = AthenaEmulator(glue, s3, database="shop")
    chain = AthenaChain(emu, glue, "shop", "gappy", f"s3://{bucket}/typed/gappy__history/")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        aws.set_now(m(10))
        for wh in (chain, DuckDBChain(con, spec.schema, spec.sql_name)):
            _drive(wh, ddb, s3, spec, lambda st: st.seeded)
        aws.set_now(m(25, 1))
        for wh in (chain, DuckDBChain(con, spec.schema, spec.sql_name)):
            _drive(wh, ddb, s3, spec, lambda st: len(st.windows()) == 1)

        aws.set_now(m(30))
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        )
        sc.update(m(35), "a", qty=Decimal("3.5"))  # a wider scale across the gap
        sc.delete(m(36), "b")
        sc.put(
            m(37), {"pk": "c", "sk": 1, "qty": 3, "name": "cherry", "color": "red"}
        )  # a new attribute
        assert apply_ready(chain, ddb, s3, spec) == []  # nothing skipped, nothing applied
        aws.set_now(m(49, 59, 500))
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        state = chain.read_state()
        report = request_next(ddb, s3, spec, seeded=True, generation=0, last_to=state.last_to)
        assert report.gap is not None and report.gap.reason == GAP_PITR_REENABLED
        for wh in (chain, DuckDBChain(con, spec.schema, spec.sql_name)):
            _drive(wh, ddb, s3, spec, lambda st: st.generation == 1)

        state = chain.read_state()
        assert [r.kind for r in state.rows] == ["seed", "window", "gap", "seed"]
        gap_row = state.rows[2]
        assert (
            gap_row.window_from == m(25)
            and gap_row.window_to == m(50)
            and "re-enabled" in gap_row.note
        )
        rows = {
            r["key_pk"]: r
            for r in _rows(
                emu.execute(
                    "SELECT key_pk, operation, new_qty, old_qty, new_name, old_name, new_color, write_ts, window_from, "
                    "window_to FROM shop.gappy_changes WHERE source = 'reseed'"
                )
            )
        }
        assert {k: r["operation"] for k, r in rows.items()} == {
            "a": "MODIFY",
            "b": "REMOVE",
            "c": "INSERT",
        }
        assert (rows["a"]["new_qty"], rows["a"]["old_qty"]) == (Decimal("3.5"), Decimal("2"))
        assert (rows["b"]["new_name"], rows["b"]["old_name"]) == (None, "banana")
        assert (rows["c"]["new_name"], rows["c"]["new_color"]) == ("cherry", "red")
        assert {r["write_ts"] for r in rows.values()} == {m(50).replace(tzinfo=None)}
        assert {(r["window_from"], r["window_to"]) for r in rows.values()} == {
            (m(25).replace(tzinfo=None), m(50).replace(tzinfo=None))
        }
        assert any(
            "json_parse(coalesce(c.k, s.k))" in s for s in emu.statements
        )  # the net change, in SQL
        cur = {
            r["pk"]: _typed(r, "", ATTRS)
            for r in _rows(emu.execute("SELECT * FROM shop.gappy_current"))
        }
        assert cur == {pk: _model(item) for pk, item in sc.state(m(50)).items()}
        _same_rows(
            _rows(emu.execute("SELECT * FROM shop.gappy_changes")),
            _duck_rows(con, "SELECT * FROM shop.gappy_changes"),
            key=lambda r: (r["window_from"], r["item_key"]),
        )
        _same_rows(
            _rows(emu.execute("SELECT * FROM shop.gappy_current")),
            _duck_rows(con, "SELECT * FROM shop.gappy_current"),
            key=lambda r: r["_ddb_key"],
        )

        # The chain goes on from the new seed; a repeated re-seed is skipped.
        again = chain.apply_seed(
            generation=1,
            seed_time=m(50),
            export_arn=state.rows[-1].export_arn,
            data_s3_uri=f"s3://{bucket}/x/data/",
            key_attributes=["pk", "sk"],
        )
        assert not again.applied
        sc.update(m(55), "c", qty=4)
        aws.set_now(m(65, 1))
        _drive(chain, ddb, s3, spec, lambda st: len(st.windows(1)) == 1)
        assert emu.execute("SELECT qty FROM shop.gappy_current WHERE pk = 'c'").rows == [
            (Decimal("4.0"),)
        ]
    finally:
        emu.close()
        con.close()


@pytest.mark.trino
def test_dagster_assets_and_check_run_the_athena_engine(stack, tmp_path, monkeypatch):
    import dagster as dg

    from ddb_assets.assets.incremental import (
        build_incremental_assets,
        changes_key,
        current_key,
        evaluate_incremental_tick,
    )
    from ddb_assets.config import ConfigError, parse_config
    from ddb_assets.resources import AthenaResource, resources_for
    from ddb_assets_tests.test_incremental_dagster import _check_md, _execute, _ready_runs

    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    name, bucket = f"dga-{uuid.uuid4().hex[:8]}", f"dga-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    ddb, s3, glue = stack.client("dynamodb"), stack.client("s3"), stack.client("glue")
    s3.create_bucket(Bucket=bucket)
    emulators = []

    def runner(self, *, database, workgroup, output_location):
        emulators.append(AthenaEmulator(glue, s3, database=database))
        return emulators[-1]

    monkeypatch.setattr(AthenaResource, "runner", runner)
    try:
        stack.set_now(t0)
        create_pitr_table(ddb, name)
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        stack.set_now(t0 + timedelta(minutes=12))
        ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "n": {"N": "2.5"}})
        ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
        raw = {
            "defaults": {"engine": "athena", "athena": {"database": "dgshop"}},
            "warehouse": str(tmp_path / "wh.duckdb"),
            "summaries_dir": None,
            "tables": [
                {
                    "name": "orders",
                    "dynamodb_table": name,
                    "s3_bucket": bucket,
                    "s3_prefix": "ex",
                    "schedule": {"timezone": "UTC"},
                    "incremental": {"enabled": True, "window_minutes": 15},
                }
            ],
        }
        with dg.instance_for_test() as instance:
            with pytest.raises(ConfigError, match="typed_s3_uri"):  # refused when loading
                parse_config(raw, base_dir=tmp_path)
            stack.set_now(t0 + timedelta(minutes=10))
            cfg = parse_config({**raw, "typed_s3_uri": f"s3://{bucket}/typed/"}, base_dir=tmp_path)
            resources = resources_for(str(tmp_path / "wh.duckdb"), "local", cfg)
            runs, _ = _ready_runs(instance, cfg, ddb, s3)
            assert runs and runs[0].run_key.startswith("orders:seed:g0:")
            t = cfg.tables[0]
            asset = build_incremental_assets(cfg, t)
            assert dg.materialize([asset], instance=instance, resources=resources).success
            stack.set_now(t0 + timedelta(minutes=25, seconds=1))
            runs, _ = _ready_runs(instance, cfg, ddb, s3)
            assert [r.run_key for r in runs] and ":window:g0:" in runs[0].run_key
            assert dg.materialize([asset], instance=instance, resources=resources).success
            ch = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=changes_key(t)), limit=1
            )
            md = ch.records[0].asset_materialization.metadata
            assert md["chain_last_to"].value == (t0 + timedelta(minutes=25)).isoformat()
            assert md["dagster/row_count"].value == 2  # a REMOVE and an INSERT
            assert md["dagster/uri"].value == f"s3://{bucket}/typed/orders__history/changes/"
            assert (
                re.fullmatch(r"[0-9a-f-]{36}(, [0-9a-f-]{36})*", md["query_ids"].value)
                and md["bytes_scanned"].value > 0
            )
            cur = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=current_key(t)), limit=1
            )
            cmd = cur.records[0].asset_materialization.metadata
            assert cmd["dagster/row_count"].value == 1
            assert ("n", "decimal(38,1)") in [
                (c.name, c.type) for c in cmd["dagster/column_schema"].schema.columns
            ]
            assert (
                glue.get_table(DatabaseName="dgshop", Name="orders_current")["Table"]["Parameters"][
                    "table_type"
                ]
                == "ICEBERG"
            )

            deadline = time.monotonic() + 20
            while True:
                runs, _ = evaluate_incremental_tick(instance, cfg, ddb, s3)
                if runs or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert runs and runs[0].asset_check_keys
            assert _execute(asset, runs[0], instance, resources).success
            ev, md = _check_md(instance, t)
            assert ev.passed and md["compared"] and md["current_rows"] == md["export_items"] == 1
            assert re.fullmatch(r"[0-9a-f-]{36}(, [0-9a-f-]{36})*", md["query_ids"])
    finally:
        for e in emulators:
            e.close()
        stack.reset_clock()
