"""RDS as a source, end to end on the local stack: values written through a real MariaDB
server, automated snapshots of three days, StartExportTask writing RDS's layout through the
local S3, the request asset, rds_export_sensor and the load run, on the DuckDB engine."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from ddb_assets.assets.keys import op_name, rds_request_key
from ddb_assets.assets.rds import build_rds_request_asset, build_rds_tables_asset
from ddb_assets.resources import resources_for
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors_rds import evaluate_rds_tick
from ddb_assets_tests.rds_stack import point_env_at, rds_stack, shop_config

pytestmark = [pytest.mark.integration, pytest.mark.mariadb, pytest.mark.duckdb]

BUCKET = "rds-exports"
# Recent days: the stack deletes automated snapshots older than the retention period.
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in (6, 5, 4)]

# Every MySQL type AWS's conversion table lists: DDL, a value written through the server,
# and what the typed table must hold (DuckDB's Python value).
TYPES = [
    ("c_tinyint", "TINYINT", "-128", -128, "int"),
    ("c_tinyint_u", "TINYINT UNSIGNED", "255", 255, "int"),
    ("c_bool", "BOOL", "1", 1, "int"),
    ("c_smallint", "SMALLINT", "-32768", -32768, "int"),
    ("c_smallint_u", "SMALLINT UNSIGNED", "65535", 65535, "int"),
    ("c_mediumint", "MEDIUMINT", "-8388608", -8388608, "int"),
    ("c_mediumint_u", "MEDIUMINT UNSIGNED", "16777215", 16777215, "bigint"),
    ("c_int", "INT", "-2147483648", -2147483648, "int"),
    ("c_int_u", "INT UNSIGNED", "4294967295", 4294967295, "bigint"),
    ("c_bigint", "BIGINT", "-9223372036854775808", -9223372036854775808, "bigint"),
    (
        "c_bigint_u",
        "BIGINT UNSIGNED",
        "18446744073709551615",
        Decimal("18446744073709551615"),
        "decimal(20,0)",
    ),
    ("c_dec9", "DECIMAL(9,2)", "-1234567.89", Decimal("-1234567.89"), "decimal(9,2)"),
    (
        "c_dec18",
        "DECIMAL(18,6)",
        "123456789012.345678",
        Decimal("123456789012.345678"),
        "decimal(18,6)",
    ),
    (
        "c_numeric38",
        "NUMERIC(38,10)",
        "1234567890123456789012345678.0123456789",
        Decimal("1234567890123456789012345678.0123456789"),
        "decimal(38,10)",
    ),
    ("c_dec65", "DECIMAL(65,30)", "-12.5", "-12.500000000000000000000000000000", "string"),
    ("c_float", "FLOAT", "1.5", 1.5, "double"),
    ("c_double", "DOUBLE", "-2.25e100", -2.25e100, "double"),
    ("c_bit", "BIT(10)", "b'1000000001'", b"\x02\x01", "binary"),
    ("c_char", "CHAR(4)", "'寿司'", "寿司", "string"),
    ("c_varchar", "VARCHAR(20)", "'maguro'", "maguro", "string"),
    ("c_tinytext", "TINYTEXT", "'t'", "t", "string"),
    ("c_text", "TEXT", "'text'", "text", "string"),
    ("c_mediumtext", "MEDIUMTEXT", "'m'", "m", "string"),
    ("c_longtext", "LONGTEXT", "'l'", "l", "string"),
    ("c_enum", "ENUM('small','large')", "'large'", "large", "string"),
    ("c_set", "SET('a','b','c')", "'a,c'", "a,c", "string"),
    ("c_json", "JSON", "'{\"k\": [1, 2]}'", '{"k": [1, 2]}', "string"),
    ("c_binary", "BINARY(3)", "'ab'", b"ab\x00", "binary"),
    ("c_varbinary", "VARBINARY(8)", "x'00ff'", b"\x00\xff", "binary"),
    ("c_tinyblob", "TINYBLOB", "x'01'", b"\x01", "binary"),
    ("c_blob", "BLOB", "x'0203'", b"\x02\x03", "binary"),
    ("c_mediumblob", "MEDIUMBLOB", "x'04'", b"\x04", "binary"),
    ("c_longblob", "LONGBLOB", "x'05'", b"\x05", "binary"),
    ("c_date", "DATE", "'2024-02-29'", dt.date(2024, 2, 29), "date"),
    ("c_time", "TIME(6)", "'-838:59:59.000000'", "-838:59:59.000000", "string"),
    (
        "c_datetime",
        "DATETIME(6)",
        "'2024-01-02 03:04:05.123456'",
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
        "timestamp",
    ),
    (
        "c_timestamp",
        "TIMESTAMP(3)",
        "'2038-01-19 03:14:07.500'",
        dt.datetime(2038, 1, 19, 3, 14, 7, 500000),
        "timestamp",
    ),
    ("c_year", "YEAR", "2155", 2155, "int"),
    ("c_point", "POINT", "ST_GeomFromText('POINT(1 2)')", None, "binary"),
]


@pytest.fixture(scope="module")
def stack():
    with rds_stack(BUCKET) as s:
        yield s


@pytest.fixture
def env(stack, monkeypatch):
    return point_env_at(stack, monkeypatch)


def _cfg(stack, tmp_path, tables):
    return shop_config(stack, tmp_path, BUCKET, tables)


def _run_day(cfg, instance, resources, day, **config):
    src = cfg.rds[0]
    return dg.materialize(
        [build_rds_request_asset(cfg, src)],
        partition_key=day.isoformat(),
        instance=instance,
        resources=resources,
        run_config={"ops": {op_name(rds_request_key(src)): {"config": config}}} if config else None,
    )


def _sensor_and_loads(cfg, instance, resources, rds, want_loads, timeout=90, days=None):
    """Tick like the daemon; launch each load run it requests for ``days`` (once per run
    key) in process. Other days' exports (earlier tests of this module, in the same bucket)
    are the daemon's business, not this test's."""
    cursor, loads, deadline = None, 0, time.monotonic() + timeout
    tables_asset = build_rds_tables_asset(cfg, cfg.rds[0])
    while True:
        o = evaluate_rds_tick(instance, cursor, cfg, rds)
        cursor = o.cursor
        for ev in o.events:
            instance.report_runless_asset_event(ev)
        for rr in o.runs:
            if days is not None and rr.partition_key not in {d.isoformat() for d in days}:
                continue
            if instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rr.run_key})):
                continue
            dg.materialize(
                [tables_asset],
                partition_key=rr.partition_key,
                instance=instance,
                resources=resources,
                tags={**rr.tags, RUN_KEY_TAG: rr.run_key},
            )
            loads += 1
        if loads >= want_loads or time.monotonic() > deadline:
            return loads, o
        time.sleep(0.3)


def test_three_day_backfill_each_day_shows_its_rows_and_requests_are_idempotent(env, tmp_path):
    with env.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE menu_items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2))"
        )
    for i, day in enumerate(DAYS):
        with env.rds.connect("shop-db") as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO menu_items VALUES (%s, %s, %s)", (i, f"item of {day}", f"{i}.50")
            )
        env.rds.take_automated_snapshot(
            "shop-db", at=dt.datetime.combine(day, dt.time(3), tzinfo=dt.timezone.utc)
        )
    cfg = _cfg(env, tmp_path, [{"source": "shop.menu_items", "name": "menu_items"}])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    rds = env.client("rds")
    with dg.instance_for_test() as instance:
        for day in DAYS:
            assert _run_day(cfg, instance, resources, day).success
        # a repeated request (a retried run, a second click) reuses the day's export
        again = _run_day(cfg, instance, resources, DAYS[1])
        md = again.asset_materializations_for_node("rds__shop__export_request")[0].metadata
        assert md["reused"].value is True
        assert md["export_id"].value == f"shop-db-{DAYS[1]:%Y%m%d}"
        tasks = rds.describe_export_tasks(Filters=[{"Name": "s3-bucket", "Values": [BUCKET]}])
        ids = sorted(t["ExportTaskIdentifier"] for t in tasks["ExportTasks"])
        assert ids == [f"shop-db-{d:%Y%m%d}" for d in DAYS]

        loads, last = _sensor_and_loads(cfg, instance, resources, rds, want_loads=3, days=DAYS)
        assert loads == 3
    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    per_day = con.execute(
        "SELECT snapshot_date, count(*), max(name) FROM sushi.menu_items__snapshots "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [(d, i + 1, f"item of {d}") for i, d in enumerate(DAYS)]
    assert con.execute("SELECT sum(price) FROM sushi.menu_items").fetchone()[0] == Decimal("4.50")


def test_every_documented_mysql_type_round_trips_through_the_real_server(env, tmp_path):
    cols = ", ".join(f"{n} {t} NULL" for n, t, *_ in TYPES)
    with env.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"CREATE TABLE all_types (id INT PRIMARY KEY, {cols})")
        cur.execute(
            f"INSERT INTO all_types (id, {', '.join(n for n, *_ in TYPES)}) VALUES "
            f"(1, {', '.join(v for _, _, v, *_ in TYPES)})"
        )
        cur.execute("INSERT INTO all_types (id) VALUES (2)")  # NULL in every column
    day = TODAY - dt.timedelta(days=2)
    env.rds.take_automated_snapshot(
        "shop-db", at=dt.datetime.combine(day, dt.time(3), tzinfo=dt.timezone.utc)
    )
    cfg = _cfg(env, tmp_path, [{"source": "shop.all_types", "name": "all_types"}])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    with dg.instance_for_test() as instance:
        assert _run_day(cfg, instance, resources, day).success
        loads, _ = _sensor_and_loads(
            cfg, instance, resources, env.client("rds"), want_loads=1, days=[day]
        )
        assert loads == 1
        (mat,) = [
            r.asset_materialization
            for r in instance.fetch_materializations(
                dg.AssetKey(["athena", "all_types", "table"]), limit=1
            ).records
        ]
    schema = {
        c.name: (c.type, c.description) for c in mat.metadata["dagster/column_schema"].value.columns
    }
    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    row = dict(
        zip(
            [d[0] for d in con.execute("SELECT * FROM sushi.all_types WHERE id = 1").description],
            con.execute("SELECT * FROM sushi.all_types WHERE id = 1").fetchone(),
        )
    )
    nulls = con.execute("SELECT * FROM sushi.all_types WHERE id = 2").fetchone()
    for name, _ddl, _, value, sql_type in TYPES:
        assert schema[name][0] == sql_type, name
        assert schema[name][1].startswith("MySQL "), name
        if value is not None:
            assert row[name] == value, (name, row[name])
    assert row["c_point"] is not None and len(row["c_point"]) == 25  # SRID + WKB
    assert set(nulls[1:-1]) == {None}
    assert "zero date" in schema["c_date"][1] and "UNSIGNED" in schema["c_bigint_u"][1]


@pytest.mark.trino
def test_both_engines_give_identical_tables_from_the_same_export(env, tmp_path, trino_server):
    """The same export of every type, loaded on DuckDB and registered for Athena (Trino reads
    the Parquet files in place): identical column names, types and values (Athena reads
    timestamps to the millisecond, as its documentation says)."""
    from ddb_assets.rds.athena import register_rds_snapshot_athena
    from ddb_assets.rds.exports import describe_export_task
    from ddb_assets.rds.load import read_exported_tables, table_export
    from ddb_assets_tests.athena_emulator import AthenaEmulator

    with env.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cols = ", ".join(f"{n} {t} NULL" for n, t, *_ in TYPES)
        cur.execute(f"CREATE TABLE both_engines (id INT PRIMARY KEY, {cols})")
        cur.execute(
            f"INSERT INTO both_engines (id, {', '.join(n for n, *_ in TYPES)}) VALUES "
            f"(1, {', '.join(v for _, _, v, *_ in TYPES)})"
        )
        cur.execute("INSERT INTO both_engines (id) VALUES (2)")
    day = TODAY - dt.timedelta(days=1)
    env.rds.take_automated_snapshot(
        "shop-db", at=dt.datetime.combine(day, dt.time(3), tzinfo=dt.timezone.utc)
    )
    cfg = _cfg(env, tmp_path, [{"source": "shop.both_engines", "name": "both_engines"}])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    with dg.instance_for_test() as instance:
        assert _run_day(cfg, instance, resources, day).success
        loads, _ = _sensor_and_loads(
            cfg, instance, resources, env.client("rds"), want_loads=1, days=[day]
        )
        assert loads == 1
    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    cur = con.execute("SELECT * FROM sushi.both_engines ORDER BY id")
    duck_cols = [d[0] for d in cur.description]
    duck_rows = cur.fetchall()
    duck_types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'sushi' AND table_name = 'both_engines'"
        ).fetchall()
    )

    s3, glue = env.client("s3"), env.client("glue")
    glue.create_database(DatabaseInput={"Name": "sushi"})
    runner = AthenaEmulator(glue, s3, database="sushi")
    e = describe_export_task(env.client("rds"), f"shop-db-{day:%Y%m%d}")
    te, batches = table_export(s3, read_exported_tables(s3, e), "shop.both_engines")
    res = register_rds_snapshot_athena(
        runner,
        glue,
        database="sushi",
        table="both_engines",
        snapshot_date=day,
        export=te,
        batches=batches,
        run_id="run-1",
    )
    assert res.row_count == 2
    got = runner.execute('SELECT * FROM "sushi"."both_engines" ORDER BY id')
    assert got.columns == duck_cols
    trino_types = dict(
        runner.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'sushi' AND table_name = 'both_engines'"
        ).rows
    )
    for c, t in duck_types.items():  # the same SQL types, spelled by each engine
        assert parse_sql_type(t) == parse_sql_type(trino_types[c]), (c, t, trino_types[c])

    def ms(v):
        return (
            v.replace(microsecond=v.microsecond // 1000 * 1000) if isinstance(v, dt.datetime) else v
        )

    for d_row, a_row in zip(duck_rows, got.rows):
        for name, dv, av in zip(duck_cols, d_row, a_row):
            assert ms(dv) == av, (name, dv, av)
    # a second day replaces nothing of the first and moves the latest view
    every = runner.execute('SELECT count(*) FROM "sushi"."both_engines__snapshots"').rows
    assert every == [(2,)]


_SPELLING = {
    "integer": "int",
    "int": "int",
    "bigint": "bigint",
    "double": "double",
    "varchar": "string",
    "blob": "binary",
    "varbinary": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp(3)": "timestamp",
}


def parse_sql_type(t: str) -> str:
    t = t.lower().replace(" ", "")
    return t if t.startswith("decimal") else _SPELLING.get(t, t)


def test_a_table_rds_skips_fails_its_check_with_the_reason_and_the_others_load(env, tmp_path):
    with env.rds.connect("shop-db") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE skipped_t (id INT PRIMARY KEY, `bad name` INT)")
        cur.execute("CREATE TABLE kept_t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO kept_t VALUES (1), (2)")
    day = TODAY - dt.timedelta(days=3)
    env.rds.take_automated_snapshot(
        "shop-db", at=dt.datetime.combine(day, dt.time(4), tzinfo=dt.timezone.utc)
    )
    cfg = _cfg(env, tmp_path, ["shop.skipped_t", "shop.kept_t"])
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    with dg.instance_for_test() as instance:
        assert _run_day(cfg, instance, resources, day).success
        tables_asset = build_rds_tables_asset(cfg, cfg.rds[0])
        deadline = time.monotonic() + 60
        while env.rds.wait_for_export(f"shop-db-{day:%Y%m%d}", timeout=60) != "COMPLETE":
            assert time.monotonic() < deadline
        from ddb_assets.assets.keys import rds_export_key

        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=rds_export_key(cfg.rds[0]),
                partition=day.isoformat(),
                metadata={"export_id": f"shop-db-{day:%Y%m%d}"},
            )
        )
        res = dg.materialize(
            [tables_asset],
            partition_key=day.isoformat(),
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert not res.success
        checks = {(e.asset_key.path[1], e.check_name): e for e in res.get_asset_check_evaluations()}
        bad = checks[("shop_skipped_t", "exported_complete")]
        assert not bad.passed and "SKIPPED" in bad.description and "'bad name'" in bad.description
        assert checks[("shop_kept_t", "exported_complete")].passed
        mats = [
            m.asset_key.path[1] for m in res.asset_materializations_for_node("rds__shop__tables")
        ]
        assert mats == ["shop_kept_t"]


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"iam_role_arn": "arn:aws:iam::123456789012:role/no-such-role"},
            "the IAM role arn:aws:iam::123456789012:role/no-such-role does not exist",
        ),
        (
            {
                "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000000ff"
            },
            "cannot be used",
        ),
    ],
)
def test_role_or_key_missing_fails_the_request_with_the_fix(env, tmp_path, change, words):
    day = TODAY - dt.timedelta(days=7)
    minute = 10 if "iam_role_arn" in change else 20  # one snapshot per case
    env.rds.take_automated_snapshot(
        "shop-db", at=dt.datetime.combine(day, dt.time(5, minute), tzinfo=dt.timezone.utc)
    )
    cfg = _cfg(env, tmp_path, ["shop.menu_items"])
    src = cfg.rds[0].model_copy(update=change)
    cfg = cfg.model_copy(update={"rds": [src]})
    resources = resources_for(str(cfg.warehouse_path()), "local", cfg)
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            [build_rds_request_asset(cfg, src)],
            partition_key=day.isoformat(),
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert not res.success
        (failure,) = [e for e in res.all_events if e.is_step_failure]
        text = failure.step_failure_data.user_failure_data.description
        assert words in text and "\n" not in text
