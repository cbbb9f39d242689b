"""The fast paths of the DuckDB load against their reference implementations.

* M / L values rendered to plain JSON in SQL (after the first items' structure, every row
  checked) against the Python codec, including rows the structure does not cover;
* attributes and tags that first appear after the sampled items.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.tables import ExportReadError, codec, load_snapshot_duckdb
from ddb_assets.tables.duckdb import decoding as duckdb_decoding
from ddb_assets.tables.duckdb import load as duckdb_load
from ddb_assets.tables.duckdb import rowcheck as duckdb_rowcheck
from ddb_assets.tables.duckdb import sample as duckdb_sample
from ddb_assets.tables.duckdb import staged as duckdb_staged
from ddb_assets_tests.exports import minified_export

STRINGS = [
    "",
    "plain",
    'q"uote',
    "back\\slash",
    "tab\tnew\nline",
    "é ✓ 😀",
    "a'b",
    '{"S":"x"}',
    "nul\x00",
    "\x7f\x01",
    "/slash",
    "]},[{",
    "line\u2028sep",
]
NUMBERS = [
    "0",
    "-0",
    "1",
    "-42.5",
    "1.50",
    "12345678901234567890123456789012345678",
    "1E-130",
    "9.9E+125",
    "0.001",
    "100",
    "-0.000000000000000000000000000000000000001",
]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def random_value(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["S", "N", "BOOL", "NULL", "B", "SS", "NS", "BS"] + (
        ["M", "L"] * 2 if depth < 4 else []
    )
    k = rng.choice(kinds)
    if k == "S":
        return {"S": rng.choice(STRINGS)}
    if k == "N":
        return {"N": rng.choice(NUMBERS)}
    if k == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if k == "NULL":
        return {"NULL": True}
    if k == "B":
        return {"B": b64(bytes(rng.randrange(256) for _ in range(rng.randrange(5))))}
    if k == "SS":
        return {"SS": rng.sample(STRINGS, rng.randrange(1, 4))}
    if k == "NS":
        return {"NS": rng.sample(NUMBERS, rng.randrange(1, 4))}
    if k == "BS":
        return {"BS": [b64(bytes([i, rng.randrange(256)])) for i in range(rng.randrange(1, 3))]}
    if k == "M":
        return {
            "M": {
                rng.choice(["k", "K", "a b", "S", "M", "L", "数", "x'y", 'q"'])
                + str(i): random_value(rng, depth + 1)
                for i in range(rng.randrange(4))
            }
        }
    return {"L": [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]}


def random_items(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"pk": {"S": f"p{i}"}, **{f"a{j}": random_value(rng) for j in range(rng.randrange(1, 6))}}
        for i in range(n)
    ]


# --- the DuckDB load ------------------------------------------------------------------


def plain(v):
    ((tag, x),) = v.items()
    return {
        "S": lambda: x,
        "N": lambda: Decimal(x),
        "BOOL": lambda: x,
        "NULL": lambda: None,
        "B": lambda: x,
        "SS": lambda: list(x),
        "BS": lambda: list(x),
        "NS": lambda: [Decimal(n) for n in x],
        "M": lambda: {k: plain(y) for k, y in x.items()},
        "L": lambda: [plain(y) for y in x],
    }[tag]()


def write(tmp_path, items, name="data", files=2):
    d = tmp_path / name
    d.mkdir()
    paths = []
    per = (len(items) + files - 1) // files
    for f in range(files):
        p = d / f"part{f}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8") as out:
            for it in items[f * per : (f + 1) * per]:
                out.write(json.dumps({"Item": it}, ensure_ascii=False) + "\n")
        paths.append(p)
    return paths


@pytest.fixture
def small_sample(monkeypatch):
    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 3)


def test_m_and_l_values_are_exact_when_rows_differ_from_the_sampled_structure(
    tmp_path, small_sample, monkeypatch
):
    calls = []
    real = codec.plain_json_many
    monkeypatch.setattr(codec, "plain_json_many", lambda texts: calls.append(1) or real(texts))
    regular = [
        {
            "pk": {"S": f"r{i}"},
            "m": {
                "M": {"a": {"S": f"x{i}"}, "n": {"N": "1.50"}, "in": {"M": {"b": {"BOOL": True}}}}
            },
            "l": {"L": [{"N": str(i)}, {"S": "s"}]},
        }
        for i in range(6)
    ]
    odd = [
        {"pk": {"S": "o1"}, "m": {"M": {"a": {"S": "y"}, "new": {"S": "key not sampled"}}}},
        {
            "pk": {"S": "o2"},
            "m": {"M": {"a": {"N": "5"}}},
            "l": {"L": [{"M": {"deep": {"NULL": True}}}]},
        },
        {"pk": {"S": "o3"}, "m": {"M": {}}, "l": {"L": []}},
        {
            "pk": {"S": "o4"},
            "m": {"M": {"in": {"M": {"b": {"BOOL": False}, "c": {"NS": ["1", "2.5"]}}}}},
        },
        {"pk": {"S": "o5"}},
    ]
    items = regular + odd + random_items(300, seed=3)
    con = duckdb.connect()
    res = load_snapshot_duckdb(
        con,
        schema="w",
        table="t",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=write(tmp_path, items),
    )
    assert res.row_count == len(items)
    cols = {c.attribute: c.name for c in res.columns if c.role == "value"}
    cur = con.execute("SELECT * FROM w.t")
    names = [d[0] for d in cur.description]
    rows = {r[names.index("pk")]: dict(zip(names, r)) for r in cur.fetchall()}
    for it in items:
        row = rows[it["pk"]["S"]]
        for attr in ("m", "l"):
            got = row[cols[attr]]
            want = plain(it[attr]) if attr in it and set(it[attr]) == {attr.upper()} else None
            if attr in it and want is None:
                continue  # a conflict column (random items mix tags), checked elsewhere
            got = None if got is None else json.loads(got, parse_float=Decimal, parse_int=Decimal)
            assert got == want, (it["pk"], attr, got, want)
    assert calls  # the rows the sampled structure does not cover went through the codec


def test_attributes_and_tags_first_seen_after_the_sample(tmp_path, small_sample):
    items = [{"pk": {"S": f"p{i}"}, "v": {"S": f"s{i}"}} for i in range(10)]
    items += [
        {"pk": {"S": "q1"}, "v": {"N": "7"}, "late": {"BOOL": True}},
        {"pk": {"S": "q2"}, "v": {"NULL": True}, "late": {"NS": ["1.25"]}},
    ]
    con = duckdb.connect()
    res = load_snapshot_duckdb(
        con,
        schema="w",
        table="t",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=write(tmp_path, items, files=1),
    )
    conflicts = {c.attribute: c.type_counts for c in res.conflicts}
    assert conflicts == {"v": {"S": 10, "N": 1, "NULL": 1}, "late": {"BOOL": 1, "NS": 1}}
    got = dict(con.execute("SELECT pk, v FROM w.t").fetchall())
    assert got["q1"] == "7" and got["q2"] is None and got["p3"] == "s3"


def test_unknown_type_tag_is_named(tmp_path, small_sample):
    items = [{"pk": {"S": f"p{i}"}, "v": {"S": "x"}} for i in range(5)] + [
        {"pk": {"S": "z"}, "v": {"X": "?"}}
    ]
    with pytest.raises(ExportReadError, match="'X'"):
        load_snapshot_duckdb(
            duckdb.connect(),
            schema="w",
            table="t",
            snapshot_date=dt.date(2024, 1, 1),
            data_files=write(tmp_path, items, files=1),
        )


def test_load_restores_connection_settings(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("SET memory_limit = '3GB'")
    before = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')"
    ).fetchone()
    load_snapshot_duckdb(
        con,
        schema="w",
        table="t",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=write(tmp_path, [{"pk": {"S": "a"}}], files=1),
    )
    assert (
        con.execute(
            "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        ).fetchone()
        == before
    )


# --- the fast stage and its rest: rows the sampled guess does not cover -----------------


def _load_rows(
    tmp_path, items, monkeypatch=None, files=2, name="data", con=None, date=dt.date(2024, 1, 1)
):
    """Load ``items`` (minified lines, as exports write them); the snapshot by pk, the
    result, and the fast stage the load used (None when it took the general stage)."""
    paths = minified_export(tmp_path, name, items, files)
    stages = []
    if monkeypatch is not None:
        # These tests are about the staged load: the one-pass load steps aside.
        monkeypatch.setattr(duckdb_load, "load_direct", lambda *a: None)
        real = duckdb_staged.fast_stage
        monkeypatch.setattr(
            duckdb_staged, "fast_stage", lambda *a: stages.append(real(*a)) or stages[-1]
        )
    con = con or duckdb.connect()
    res = load_snapshot_duckdb(con, schema="w", table="t", snapshot_date=date, data_files=paths)
    cur = con.execute("SELECT * FROM w.t")
    names = [c[0] for c in cur.description]
    rows = {r[names.index("pk")]: dict(zip(names, r)) for r in cur.fetchall()}
    assert not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_ddb_stage%'"
    ).fetchone()[0]
    return rows, res, (stages[0] if stages else None)


def _base_items(n):
    return [
        {
            "pk": {"S": f"p{i:05d}"},
            "n": {"N": f"{i}.25"},
            "s": {"S": f'text {i} "q" \\ line\nbreak é'},
            "m": {"M": {"a": {"S": f"x{i}"}, "in": {"M": {"k": {"N": str(i)}}}}},
            "l": {"L": [{"N": str(i)}, {"S": "s"}]},
            "ss": {"SS": ["a", f"b{i}"]},
        }
        for i in range(n)
    ]


def _check_base(rows, items):
    for it in items:
        r = rows[it["pk"]["S"]]
        assert r["n"] == Decimal(it["n"]["N"]), r
        assert r["s"] == it["s"]["S"]
        assert json.loads(r["m"]) == {
            "a": it["m"]["M"]["a"]["S"],
            "in": {"k": int(it["m"]["M"]["in"]["M"]["k"]["N"])},
        }
        assert json.loads(r["l"]) == [int(it["l"]["L"][0]["N"]), "s"]
        assert sorted(r["ss"]) == sorted(it["ss"]["SS"])


def test_attribute_absent_from_the_sample_but_present_later_takes_the_rest(
    tmp_path, small_sample, monkeypatch
):
    items = _base_items(400)
    for i in range(240, 400, 2):
        items[i]["promo"] = {"S": f"P{i}"}
    rows, res, stage = _load_rows(tmp_path, items, monkeypatch, files=4)
    assert res.row_count == len(items) == len(rows)
    assert (
        stage is not None and stage.rest is not None
    )  # one parse; only the uncovered rows staged again
    _check_base(rows, items)
    for it in items:
        assert rows[it["pk"]["S"]]["promo"] == it.get("promo", {}).get("S")
    assert {c.name: c.sql_type for c in res.columns}["promo"] == "string"


def test_attribute_present_only_in_the_last_row(tmp_path, small_sample, monkeypatch):
    items = _base_items(50)
    items[-1]["last"] = {"NS": ["1.5", "12345678901234567890.125"]}
    items[-1]["n"] = {"N": "1E+3"}
    rows, res, stage = _load_rows(tmp_path, items, monkeypatch)
    assert stage is not None and stage.rest is not None
    types = {c.name: c.sql_type for c in res.columns}
    assert types["last"] == "array<decimal(38,3)>" and types["n"] == "decimal(38,2)"
    assert rows["p00049"]["last"] == [Decimal("1.5"), Decimal("12345678901234567890.125")]
    assert rows["p00049"]["n"] == Decimal(1000)
    assert all(rows[it["pk"]["S"]]["last"] is None for it in items[:-1])
    items[-1]["n"] = {"N": "1000"}
    _check_base(rows, items)


@pytest.mark.parametrize(
    "odd",
    [
        {
            "m": {"M": {"a": {"S": "y"}, "extra": {"S": "key not sampled"}}}
        },  # an M key outside the guess
        {"m": {"M": {"a": {"N": "5"}}}},  # a nested tag outside the guess
        {
            "l": {"L": [{"BOOL": True}, {"M": {"deep": {"NULL": True}}}]}
        },  # L elements outside the guess
        {"s": {"N": "7"}},  # a top-level tag outside the guess
        {"s": {"S": "tab\there \u2028 😀 \x01"}},  # escapes: the exact check passes it
        {"ss": {"SS": []}, "m": {"M": {}}, "l": {"L": []}},  # empty containers
    ],
)
def test_a_row_the_fast_path_cannot_represent_among_many_good_ones(
    tmp_path, small_sample, monkeypatch, odd
):
    items = _base_items(300)
    bad = {**items[150], **odd}
    items[150] = bad
    rows, res, stage = _load_rows(tmp_path, items, monkeypatch, files=3)
    assert res.row_count == len(items)
    assert stage is not None
    monkeypatch.setattr(duckdb_staged, "fast_stage", lambda *a: None)
    general_rows, general_res, _ = _load_rows(tmp_path, items, name="general", files=3)
    assert rows == general_rows and res.columns == general_res.columns
    _check_base(rows, items[:150] + items[151:])
    got = rows["p00150"]
    if "s" in odd and "N" in odd["s"]:
        assert got["s"] == "7" and got["s__type"] == "N"
        assert rows["p00001"]["s__type"] == "S"
    elif "s" in odd:
        assert got["s"] == odd["s"]["S"]
        assert stage.rest is None  # escapes alone are not a reason to leave the fast stage
    if "m" in odd and "M" in odd["m"]:
        want = {k: (Decimal(v["N"]) if "N" in v else v["S"]) for k, v in odd["m"]["M"].items()}
        assert json.loads(got["m"], parse_int=Decimal) == want
    if "l" in odd:
        want = [True, {"deep": None}] if odd["l"]["L"] else []
        assert json.loads(got["l"]) == want
    if "ss" in odd:
        assert got["ss"] == []


def test_conflict_between_covered_rows_and_the_rest_on_an_m_attribute(
    tmp_path, small_sample, monkeypatch
):
    """An M attribute that is a string in one uncovered row: the conflict columns need the
    M values' text, which the fast stage does not keep; the load stages it the general way."""
    items = _base_items(40)
    items[30]["m"] = {"S": "not a map"}
    rows, res, stage = _load_rows(tmp_path, items, monkeypatch)
    assert rows["p00030"]["m"] == "not a map" and rows["p00030"]["m__type"] == "S"
    assert (
        json.loads(rows["p00003"]["m"]) == {"a": "x3", "in": {"k": 3}}
        and rows["p00003"]["m__type"] == "M"
    )


def test_next_day_with_a_late_attribute_and_schema_evolution(tmp_path, small_sample, monkeypatch):
    con = duckdb.connect()
    items = _base_items(60)
    _load_rows(tmp_path, items, con=con, name="d1")
    items[59]["n"] = {"N": "0.125"}  # a larger scale, only in the last row: the column widens
    items[59]["late"] = {"BOOL": False}
    rows, res, stage = _load_rows(
        tmp_path, items, monkeypatch, con=con, name="d2", date=dt.date(2024, 1, 2)
    )
    assert rows["p00059"]["n"] == Decimal("0.125") and rows["p00059"]["late"] is False
    assert rows["p00003"]["n"] == Decimal("3.25") and rows["p00003"]["late"] is None
    assert {c.name: c.sql_type for c in res.columns}["n"] == "decimal(38,3)"
    assert con.execute("SELECT count(*) FROM w.t__snapshots").fetchone()[0] == 120


def test_length_check_cheap_total_never_exceeds_the_exact_one():
    """The fast stage's row check: the cheap total (strings without their escapes) is a
    lower bound of the exact total, which is the text's length when nothing was dropped;
    a value the structure drops counts less. Checked value by value on random values."""
    con = duckdb.connect()
    rng = random.Random(5)
    checked = 0
    for _ in range(300):
        v = random_value(rng)
        text = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        doc = json.dumps({"x": v}, ensure_ascii=False, separators=(",", ":"))
        w = json.loads(
            con.execute("SELECT json_structure(CAST(? AS JSON) -> '$.x')", [doc]).fetchone()[0]
        )
        typed = duckdb_decoding.typed_structure(w, [duckdb_decoding.RENDER_MAX_NODES])
        if typed is None:
            continue
        want = len(text.encode("utf-8")) + 1  # the wrapper and its comma
        x = "json_transform(CAST($d AS JSON), $s).x"
        cheap, exact = (duckdb_rowcheck.len_wrapper(x, typed, 0, c) for c in (True, False))
        got = con.execute(
            f"SELECT {cheap}, {exact}", {"d": doc, "s": json.dumps({"x": typed})}
        ).fetchone()
        assert got[0] <= got[1] == want, (text, got, want)
        if not any(ch in text for ch in "\\"):
            assert got[0] == got[1], text
        # a structure that misses one of the value's keys or tags counts less than the text
        ((tag, sub),) = typed.items()
        if tag == "M" and sub:
            k = next(iter(sub))
            narrow = {tag: {kk: vv for kk, vv in sub.items() if kk != k}} if len(sub) > 1 else None
            if narrow:
                e = duckdb_rowcheck.len_wrapper(x, narrow, 0, False)
                got = con.execute(
                    f"SELECT {e}", {"d": doc, "s": json.dumps({"x": narrow})}
                ).fetchone()[0]
                assert got < want, text
        checked += 1
    assert checked > 100


def test_attributes_of_earlier_snapshots_join_the_guess_and_a_changed_type_is_still_seen(
    tmp_path, small_sample, monkeypatch
):
    con = duckdb.connect()
    day1 = _base_items(30)
    day1[20]["promo"] = {"S": "P20"}
    _load_rows(tmp_path, day1, con=con, name="d1")
    day2 = _base_items(30)
    day2[25]["promo"] = {"S": "P25"}  # known from day 1 as S: read in the first parse
    day2[26]["promo"] = {"N": "26"}  # another type: the row goes to the rest, the conflict is seen
    rows, res, stage = _load_rows(
        tmp_path, day2, monkeypatch, con=con, name="d2", date=dt.date(2024, 1, 2)
    )
    assert "promo" in stage.attributes
    assert rows["p00025"]["promo"] == "P25" and rows["p00025"]["promo__type"] == "S"
    assert rows["p00026"]["promo"] == "26" and rows["p00026"]["promo__type"] == "N"
    assert rows["p00001"]["promo"] is None and rows["p00001"]["promo__type"] is None
    _check_base(rows, day2)
