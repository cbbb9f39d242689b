"""The one-pass load (``duckdb_load.load_direct``): a plan from a sample spread over the
files, one INSERT that parses and checks every line, statistics read back from the typed
columns. Every case is compared with the staged load of the same export (the one-pass load
switched off): the same snapshot, the same column metadata, the same result."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal, localcontext

import duckdb
import pytest

from ddb_assets.tables import load_snapshot_duckdb
from ddb_assets.tables.duckdb import ExportReadError
from ddb_assets.tables.duckdb import decoding as duckdb_decoding
from ddb_assets.tables.duckdb import load as duckdb_load
from ddb_assets.tables.duckdb import memory as duckdb_memory
from ddb_assets.tables.duckdb import onepass as duckdb_onepass
from ddb_assets.tables.duckdb import rowcheck as duckdb_rowcheck
from ddb_assets.tables.duckdb import sample as duckdb_sample
from ddb_assets.tables.duckdb import snapshot as duckdb_snapshot
from ddb_assets.tables.duckdb import staged as duckdb_staged
from ddb_assets_tests.exports import minified_export

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)


def minified(tmp_path, name, items, files=2):
    return minified_export(tmp_path, name, items, files)


def item(i):
    it = {
        "pk": {"S": f'p{i:04d} "q" é \\ {chr(0x2028)}'},
        "n": {"N": str(i % 7)},
        "amt": {"N": f"{i}.{i % 10}5"},
        "flag": {"BOOL": i % 3 == 0},
        "m": {"M": {"a": {"S": f"x{i}"}, "geo": {"M": {"lat": {"N": f"35.{i:04d}"}}}}},
        "l": {"L": [{"N": str(i)}, {"S": "s"}]},
    }
    if i % 2:
        it["tags"] = {"SS": ["a", f"b{i}"]}
    if i % 3 == 1:
        it["ns"] = {"NS": [str(i), f"{i}.5"]}
    if i % 4 == 0:
        it["gone"] = {"NULL": True}
    if i % 5 == 0:
        it["bin"] = {"B": "AAEC"}
    return it


class Spy:
    """Of the last load: how many one-pass attempts it made, and whether one of them loaded it."""

    def __init__(self, monkeypatch):
        self.attempts, self.one_pass = 0, False
        real_load, real_direct = duckdb_snapshot.write_snapshot, duckdb_load.load_direct

        def load(*a, **k):
            if a[-1] is not None and a[-1].direct is not None:
                self.attempts += 1
            return real_load(*a, **k)

        def direct(*a, **k):
            self.attempts = 0
            result = real_direct(*a, **k)
            self.one_pass = result is not None
            return result

        monkeypatch.setattr(duckdb_onepass, "write_snapshot", load)
        monkeypatch.setattr(duckdb_staged, "write_snapshot", load)
        monkeypatch.setattr(duckdb_load, "load_direct", direct)


def snapshot(con, table="t"):
    cur = con.execute(f"SELECT * FROM wh.{table} ORDER BY ALL")
    meta = con.execute(
        f"SELECT * EXCLUDE (load_seq) FROM wh.{table}__columns ORDER BY snapshot_date, ordinal"
    ).fetchall()
    counts = con.execute(
        f"SELECT snapshot_date, count(*) FROM wh.{table}__snapshots GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return [d[0] for d in cur.description], cur.fetchall(), meta, counts


def load_days(days, monkeypatch, one_pass: bool, overrides=None):
    """Load each (date, paths) in turn into a fresh warehouse; the last result and the state."""
    with monkeypatch.context() as m:
        if not one_pass:
            m.setattr(duckdb_load, "load_direct", lambda *a: None)
        con = duckdb.connect()
        for day, paths in days:
            res = load_snapshot_duckdb(
                con,
                schema="wh",
                table="t",
                snapshot_date=day,
                data_files=paths,
                overrides=overrides,
            )
        assert not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_ddb_stage%'"
        ).fetchone()[0]
        return res, snapshot(con)


def same_as_staged(days, monkeypatch, overrides=None):
    spy = Spy(monkeypatch)
    res, state = load_days(days, monkeypatch, True, overrides)
    monkeypatch.undo()
    res2, state2 = load_days(days, monkeypatch, False, overrides)
    assert state == state2
    assert res.columns == res2.columns and res.row_count == res2.row_count
    assert res.conflicts == res2.conflicts and res.schema_changes == res2.schema_changes
    return spy, res, state


def test_a_clean_export_takes_one_pass_and_matches_the_staged_load(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 8)
    items = [item(i) for i in range(120)]
    items[100]["n"] = {
        "N": "-1234567"
    }  # more integer digits than the sample: exact metadata anyway
    paths = minified(tmp_path, "d1", items, files=3)
    spy, res, (_, rows, meta, counts) = same_as_staged([(D1, paths)], monkeypatch)
    assert spy.one_pass and spy.attempts == 1
    assert counts == [(D1, 120)]
    types = {c.name: c.sql_type for c in res.columns}
    assert (
        types["n"] == "decimal(38,0)"
        and types["amt"] == "decimal(38,2)"
        and types["ns"] == "array<decimal(38,1)>"
    )
    assert {r[2]: r[9] for r in meta}["n"] == 7  # max_int_digits of every row, not of the sample


def test_an_attribute_only_later_files_have_is_in_the_spread_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 8)
    items = [item(i) for i in range(80)]
    for it in items[60:]:
        it["promo"] = {"S": "P1"}
    spy, res, _ = same_as_staged([(D1, minified(tmp_path, "d1", items, files=4))], monkeypatch)
    assert spy.one_pass and spy.attempts == 1
    assert "promo" in {c.attribute for c in res.columns}


@pytest.mark.parametrize(
    "late, attempts, one_pass",
    [
        ({"new": {"S": "attribute not sampled"}}, 2, True),
        (
            {"amt": {"N": "7.125"}},
            2,
            True,
        ),  # a larger scale: the plan's decimal(38,2) would round it
        ({"ns": {"NS": ["1.00001"]}}, 2, True),
        ({"m": {"M": {"a": {"S": "y"}, "extra": {"S": "key not sampled"}}}}, 2, True),
        ({"l": {"L": [{"BOOL": True}]}}, 2, True),
        ({"tags": {"SS": ['x "y" é']}, "new2": {"BS": ["AAEC"]}}, 2, True),
        ({"n": {"N": "1E+40"}}, 1, False),  # fits no DECIMAL(38): the staged load keeps its text
        ({"n": {"S": "seven"}}, 1, False),  # a type conflict: the staged load
    ],
)
def test_a_line_the_guess_misses_stops_the_insert_and_joins_the_sample(
    tmp_path, monkeypatch, late, attempts, one_pass
):
    """The first attempt rolls back (day 1 stays as it was); the line joins the sample and the
    second attempt loads every row (or the staged load does), exactly as the staged load does."""
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 6)
    day1 = minified(tmp_path, "d1", [item(i) for i in range(40)])
    items = [item(i) for i in range(60)]
    items[45] = {**items[45], **late}
    spy, res, (_, _, _, counts) = same_as_staged(
        [(D1, day1), (D2, minified(tmp_path, "d2", items))], monkeypatch
    )
    assert counts == [(D1, 40), (D2, 60)]
    assert (spy.attempts, spy.one_pass) == (attempts, one_pass)


def test_two_different_misses_fall_back_to_the_staged_load(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 6)  # items 0-2 and 30-32
    items = [item(i) for i in range(60)]
    items[40]["new"] = {"S": "one"}
    items[50]["amt"] = {"N": "0.000001"}
    spy, res, (_, _, meta, counts) = same_as_staged(
        [(D1, minified(tmp_path, "d1", items))], monkeypatch
    )
    assert spy.attempts == duckdb_onepass.DIRECT_ATTEMPTS and not spy.one_pass
    assert (
        counts == [(D1, 60)] and {c.name: c.sql_type for c in res.columns}["amt"] == "decimal(38,6)"
    )


@pytest.mark.parametrize("case", ["conflict", "override on a number", "not minified"])
def test_what_one_pass_leaves_to_the_staged_load(tmp_path, monkeypatch, case):
    from ddb_assets.tables.types import ColumnOverride

    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 6)
    items = [item(i) for i in range(30)]
    overrides = None
    if case == "conflict":
        items[1]["n"] = {"S": "seven"}
    elif case == "override on a number":
        overrides = {"amt": ColumnOverride(type="double")}
    paths = minified(tmp_path, "d1", items)
    if case == "not minified":
        for p in paths:
            lines = (
                gzip.open(p, "rt", encoding="utf-8").read().split("\n")
            )  # not splitlines: U+2028
            with gzip.open(p, "wt", encoding="utf-8") as out:
                out.writelines(json.dumps(json.loads(x)) + "\n" for x in lines if x)
    spy, res, (_, _, _, counts) = same_as_staged([(D1, paths)], monkeypatch, overrides)
    assert not spy.one_pass and spy.attempts == 0 and counts == [(D1, 30)]


def test_a_bad_line_is_reported_as_the_staged_load_reports_it_and_nothing_changes(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 4)
    con = duckdb.connect()
    load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=D1,
        data_files=minified(tmp_path, "d1", [item(i) for i in range(20)]),
    )
    before = snapshot(con)
    paths = minified(tmp_path, "d2", [item(i) for i in range(20)])
    with gzip.open(paths[1], "at", encoding="utf-8") as out:
        out.write('{"Item":{"pk":{"S":"broken"}\n')
    with pytest.raises(ExportReadError, match="cannot read the export as DYNAMODB_JSON"):
        load_snapshot_duckdb(con, schema="wh", table="t", snapshot_date=D2, data_files=paths)
    assert snapshot(con) == before


def test_free_text_that_often_needs_escapes_is_measured_exactly_and_still_checked(
    tmp_path, monkeypatch
):
    """An attribute whose sampled values often need JSON escapes (quotes, line breaks) is
    measured exactly on every row by the row length check, not through the fallback of
    every row it makes fall short; one that rarely or never does stays cheap. The check
    still catches what the guess misses on a row with such a value."""
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 40)  # the first 20 lines of each file
    chosen = []
    real = duckdb_onepass.exact_lengths
    monkeypatch.setattr(
        duckdb_onepass, "exact_lengths", lambda *a: chosen.append(real(*a)) or chosen[-1]
    )
    items = [
        {
            "pk": {"S": f"p{i:04d}"},
            "note": {"S": f'say "hi"\n{i}' if i % 3 else f"plain {i}"},
            "rare": {"S": 'a "quote"' if i == 0 else f"r{i}"},
            "n": {"N": str(i)},
        }
        for i in range(120)
    ]
    items[100]["new"] = {"S": "not sampled"}  # on a row whose note has escapes
    spy, res, (_, _, _, counts) = same_as_staged(
        [(D1, minified(tmp_path, "d1", items))], monkeypatch
    )
    assert (spy.attempts, spy.one_pass) == (2, True) and counts == [(D1, 120)]
    assert chosen == [{"note"}, {"note"}]
    assert "new" in {c.attribute for c in res.columns}
    # the cheap branch of the check renders exactly the chosen attributes
    sql = duckdb_rowcheck.length_ok_sql(
        ["note", "pk"], {"note": {"S": "VARCHAR"}, "pk": {"S": "VARCHAR"}}, {"note"}
    )
    cheap = sql[: sql.index(" THEN true ELSE ")]
    assert 'to_json(a1."S")' in cheap and 'to_json(a2."S")' not in cheap


NUMBERS = [
    "0",
    "-0",
    "5",
    "-12.5",
    "12.50",
    "0.001",
    "1.5E+3",
    "1.5e-3",
    "-2E2",
    "1e-40",
    "1E+40",
    "12345678901234567890123456789012345678",
    "1234567890123456789012345678901234567.8",
    "0.12345678901234567890123456789012345678",
    "00012.3400",
    "99999999999999999999999999999999999999",
]


@pytest.mark.parametrize("scale", [0, 1, 2, 6, 37])
def test_number_check_is_exactly_fits_the_decimal(scale):
    """The insert's number check says yes exactly when the text is a DECIMAL(38, scale) value
    without rounding (decided here with Python's decimal)."""
    con = duckdb.connect()
    duckdb_decoding.prepare(con)
    got = con.execute(
        f"SELECT x, {duckdb_rowcheck.number_check_sql('v', 'N', scale)} "
        f"FROM (SELECT x, {{'N': x}} AS v FROM unnest(?::VARCHAR[]) AS u(x))",
        [NUMBERS],
    ).fetchall()
    for x, ok in got:
        with localcontext() as ctx:
            ctx.prec = 200
            d = Decimal(x)
            want = d == d.quantize(Decimal(1).scaleb(-scale)) and abs(d) < Decimal(10) ** (
                38 - scale
            )
        assert ok == want, (x, scale)
    sets = con.execute(
        f"SELECT {duckdb_rowcheck.number_check_sql('v', 'NS', 1)} FROM (SELECT {{'NS': x}} AS v "
        f"FROM (VALUES (['1.5', '2']), (['1.5', '2.25']), (NULL)) AS t(x))"
    ).fetchall()
    assert [r[0] for r in sets] == [True, False, True]


@pytest.mark.parametrize(
    "late_amt, attempts, amt_type",
    [
        (
            None,
            1,
            "decimal(38,2)",
        ),  # yesterday's decimal(38,2) is kept though the sample only shows one digit
        ("3.25", 1, "decimal(38,2)"),  # a later row needs both digits: the column's scale covers it
        (
            "3.125",
            2,
            "decimal(38,3)",
        ),  # a later row needs three: stopped, learned, the column widened
    ],
)
def test_a_day_whose_sample_shows_a_smaller_scale(
    tmp_path, monkeypatch, late_amt, attempts, amt_type
):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 6)
    day1 = minified(tmp_path, "d1", [item(i) for i in range(40)])
    items = [{**item(i), "amt": {"N": f"{i}.5"}} for i in range(60)]
    if late_amt:
        items[45]["amt"] = {"N": late_amt}
    spy, res, (_, rows, _, _) = same_as_staged(
        [(D1, day1), (D2, minified(tmp_path, "d2", items))], monkeypatch
    )
    assert (spy.attempts, spy.one_pass) == (attempts, True)
    assert {c.name: c.sql_type for c in res.columns}["amt"] == amt_type


def load_limits(tmp_path, monkeypatch, threads: int, items: list) -> dict:
    """Load ``items`` on a ``threads``-thread file warehouse, through the one-pass load (made
    to give up) and the staged one; the memory limit (whole MiB) each ran under."""
    seen = {}
    real_staged = duckdb_staged.discover_staged

    def limit(con):
        # DuckDB shows the limit to 0.1 of its unit: compare in whole MiB.
        return round(
            duckdb_memory.parse_size(
                con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            )
            / (1024 * 1024)
        )

    def direct(con, *a):
        seen["one pass"] = limit(con)
        return None  # the staged load runs too

    def staged(con, *a):
        seen["staged"] = limit(con)
        return real_staged(con, *a)

    monkeypatch.setattr(duckdb_load, "load_direct", direct)
    monkeypatch.setattr(duckdb_staged, "discover_staged", staged)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"SET threads = {threads}")
    res = load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=D1, data_files=minified(tmp_path, "d1", items)
    )
    assert res.row_count == len(items)
    return seen


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_load_memory_limits_follow_duckdbs_threads(tmp_path, monkeypatch, threads):
    """Each DuckDB thread reads and fills row groups with its own buffers: a fixed limit that
    suits two threads fails a large load on four (measured). Both loads scale theirs."""
    seen = load_limits(tmp_path, monkeypatch, threads, [item(i) for i in range(10)])
    assert seen["one pass"] == {1: 64, 2: 160, 4: 368}[threads]
    assert seen["staged"] == 128 * threads


@pytest.mark.parametrize("doc, long", [(50, False), (1_000, True)])
def test_exports_of_long_lines_get_the_larger_memory_allowances(tmp_path, monkeypatch, doc, long):
    """Items with large attributes need larger buffers per DuckDB thread (measured: lines of
    1.2 KB and more run out of the default one-pass allowance); the first lines decide."""
    seen = load_limits(
        tmp_path, monkeypatch, 2, [{**item(i), "doc": {"S": "y" * doc}} for i in range(10)]
    )
    assert (seen["one pass"], seen["staged"]) == ((528, 1024) if long else (160, 256))


def test_the_sample_is_bounded_in_bytes_as_well_as_in_lines(tmp_path, monkeypatch):
    """Items can be 400 KB: 10,000 of them would be 4 GB of sample (measured: the sample
    alone ran out of memory with 35 KB items). The sample stops at a byte budget per file."""
    monkeypatch.setattr(duckdb_sample, "SAMPLE_BYTES", 24_000)
    items = [{**item(i), "doc": {"S": "y" * 1_000}} for i in range(200)]
    files = [str(f) for f in minified(tmp_path, "d", items)]  # 2 files, lines of ~1.3 KB
    con = duckdb.connect()
    duckdb_sample.spread_sample(con, "s", files)
    assert 2 * 9 <= con.execute("SELECT count(*) FROM s").fetchone()[0] <= 2 * 10
    res = load_snapshot_duckdb(con, schema="wh", table="t", snapshot_date=D1, data_files=files)
    assert res.row_count == 200 and con.execute("SELECT count(doc) FROM wh.t").fetchone()[0] == 200


def test_out_of_memory_is_not_reported_as_an_unreadable_export():
    con = duckdb.connect()
    err = duckdb_decoding.read_error(
        con, duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")
    )
    assert isinstance(err, MemoryError)
    assert all(
        w in str(err)
        for w in ("memory_limit", "threads", "LOAD_MEMORY_PER_THREAD", "DIRECT_MEMORY_PER_THREAD")
    )
    assert isinstance(
        duckdb_decoding.read_error(con, duckdb.InvalidInputException("bad line")), ExportReadError
    )


def test_a_load_that_renders_everything_in_sql_never_imports_pyarrow(tmp_path):
    """Importing pyarrow costs 0.1 s: the arrow UDF imports it when it first runs (M / L
    values beyond the SQL rendering limits), not when the load registers the UDFs."""
    import subprocess
    import sys

    paths = [str(p) for p in minified(tmp_path, "d1", [item(i) for i in range(20)])]
    code = (
        "import sys, datetime, duckdb\n"
        "from ddb_assets.tables.duckdb import load_snapshot_duckdb\n"
        "con = duckdb.connect()\n"
        f"load_snapshot_duckdb(con, schema='w', table='t', snapshot_date=datetime.date(2024, 1, 1), data_files={paths!r})\n"
        "assert con.execute('SELECT count(*) FROM w.t WHERE m IS NOT NULL AND l IS NOT NULL').fetchone()[0] == 20\n"
        "print('pyarrow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
