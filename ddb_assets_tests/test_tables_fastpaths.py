"""The fast paths of the DuckDB load against their reference implementations.

* the hand-written ION line reader (:func:`codec.fast_ion_line_to_dynamodb_json`) against
  amazon.ion (:func:`codec.ion_lines_to_dynamodb_json`), line by line, on lines written by
  our writer and by amazon.ion itself, and its fall-back for Ion outside its subset;
* M / L values rendered to plain JSON in SQL (after the first items' structure, every row
  checked) against the Python codec, including rows the structure does not cover;
* attributes and tags that first appear after the sampled items.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import random
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.tables import ExportReadError, load_snapshot_duckdb
from ddb_assets.tables import codec, duckdb_engine

STRINGS = ["", "plain", 'q"uote', "back\\slash", "tab\tnew\nline", "é ✓ 😀", "a'b", "{\"S\":\"x\"}", "nul\x00",
           "\x7f\x01", "/slash", "]},[{", "line\u2028sep"]
NUMBERS = ["0", "-0", "1", "-42.5", "1.50", "12345678901234567890123456789012345678", "1E-130", "9.9E+125",
           "0.001", "100", "-0.000000000000000000000000000000000000001"]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def random_value(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["S", "N", "BOOL", "NULL", "B", "SS", "NS", "BS"] + (["M", "L"] * 2 if depth < 4 else [])
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
        return {"M": {rng.choice(["k", "K", "a b", "S", "M", "L", "数", "x'y", 'q"']) + str(i): random_value(rng, depth + 1)
                      for i in range(rng.randrange(4))}}
    return {"L": [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]}


def random_items(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"pk": {"S": f"p{i}"}, **{f"a{j}": random_value(rng) for j in range(rng.randrange(1, 6))}}
            for i in range(n)]


def slow(line: str) -> dict:
    return json.loads(next(codec.ion_lines_to_dynamodb_json(io.BytesIO(line.encode("utf-8")))))


def to_ion_value(v: dict):
    """The Ion value amazon.ion should write for a DynamoDB value (for its own text)."""
    from amazon.ion.core import IonType
    from amazon.ion.simple_types import IonPyList, IonPyNull

    (tag, x), = v.items()
    if tag == "S":
        return x
    if tag == "N":
        return Decimal(x)
    if tag == "BOOL":
        return x
    if tag == "NULL":
        return IonPyNull()
    if tag == "B":
        return base64.b64decode(x)
    if tag in ("SS", "NS", "BS"):
        conv = {"SS": str, "NS": Decimal, "BS": base64.b64decode}[tag]
        lst = IonPyList.from_value(IonType.LIST, [conv(e) for e in x], annotations=("$dynamodb_" + tag,))
        return lst
    if tag == "M":
        return {k: to_ion_value(e) for k, e in x.items()}
    return [to_ion_value(e) for e in x]


def test_fast_ion_reader_matches_amazon_ion_on_our_lines():
    for item in random_items(400):
        line = codec.item_to_ion_line(item)
        fast = json.loads(codec.fast_ion_line_to_dynamodb_json(line))
        assert fast == slow(line), line
        assert plain({"M": fast["Item"]}) == plain({"M": item})  # and both give the item back


def test_fast_ion_reader_matches_amazon_ion_on_its_own_text():
    from amazon.ion import simpleion

    for item in random_items(200, seed=2):
        line = simpleion.dumps({"Item": to_ion_value({"M": item})}, binary=False)
        fast = codec.fast_ion_line_to_dynamodb_json(line)
        assert json.loads(fast) == slow(line), line


@pytest.mark.parametrize("line", [
    "$ion_1_0 {Item:{pk:\"a\",n:3.,i:42,neg:-0,big:1_000,e:9.9d+125,f:1.5e0,'odd key':'sym',s:sym,"
    "b:{{ AP8= }},ss:$dynamodb_SS::[\"x\",\"y\"],ns:$dynamodb_NS::[1.50,2d-1],bs:$dynamodb_BS::[{{YQ==}}],"
    "m:{x:null,y:[true,false,],},u:\"\\x41\\u00e9\\U0001F600\\0\\a\"}}",
    "{Item:{pk:\"no version marker\"}}",
])
def test_fast_ion_reader_matches_amazon_ion_on_handwritten_lines(line):
    assert json.loads(codec.fast_ion_line_to_dynamodb_json(line)) == slow(line)


@pytest.mark.parametrize("line", [
    "{Item:{a:null.string}}",            # typed null
    "{Item:{a:'''long'''}}",             # long string
    "{Item:{a:(x y)}}",                  # s-expression
    "{Item:{a:2024-01-01T00:00Z}}",      # timestamp
    "{Item:{a:{{\"clob\"}}}}",           # clob
    "{Item:{a:other::[1]}}",             # an annotation DynamoDB does not write
    "{Item:{a:\"x\"}} {Item:{b:\"y\"}}",  # two values on a line
    "{Item:{a:\"x\"}",                   # cut short
])
def test_fast_ion_reader_refuses_what_it_does_not_know_and_the_file_falls_back(tmp_path, line):
    with pytest.raises(ValueError):
        codec.fast_ion_line_to_dynamodb_json(line)
    if line.count("{Item") > 1 or not line.endswith("}}"):
        return  # not a valid export line for amazon.ion either
    src, dst = tmp_path / "a.ion.gz", tmp_path / "a.json.gz"
    with gzip.open(src, "wt") as f:
        f.write("$ion_1_0 {Item:{pk:\"first\"}}\n" + line + "\n")
    try:
        slow(line)
    except ValueError:  # amazon.ion's path cannot map it to DynamoDB types either
        with pytest.raises(ValueError):
            codec.ion_to_dynamodb_json(str(src), str(dst))
        return
    assert codec.ion_to_dynamodb_json(str(src), str(dst)) == 2
    with gzip.open(dst, "rt") as f:
        got = [json.loads(x) for x in f]
    assert got[1] == slow(line)


def test_typed_null_reads_as_null_in_the_amazon_ion_path():
    assert slow("{Item:{a:null.string}}") == {"Item": {"a": {"NULL": True}}}


# --- the DuckDB load ------------------------------------------------------------------

def plain(v):
    (tag, x), = v.items()
    return {"S": lambda: x, "N": lambda: Decimal(x), "BOOL": lambda: x, "NULL": lambda: None,
            "B": lambda: x, "SS": lambda: list(x), "BS": lambda: list(x),
            "NS": lambda: [Decimal(n) for n in x],
            "M": lambda: {k: plain(y) for k, y in x.items()}, "L": lambda: [plain(y) for y in x]}[tag]()


def write(tmp_path, items, name="data", files=2):
    d = tmp_path / name
    d.mkdir()
    paths = []
    per = (len(items) + files - 1) // files
    for f in range(files):
        p = d / f"part{f}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8") as out:
            for it in items[f * per:(f + 1) * per]:
                out.write(json.dumps({"Item": it}, ensure_ascii=False) + "\n")
        paths.append(p)
    return paths


@pytest.fixture
def small_sample(monkeypatch):
    monkeypatch.setattr(duckdb_engine, "_SAMPLE_ITEMS", 3)


def test_m_and_l_values_are_exact_when_rows_differ_from_the_sampled_structure(tmp_path, small_sample, monkeypatch):
    calls = []
    real = codec.plain_json_many
    monkeypatch.setattr(codec, "plain_json_many", lambda texts: calls.append(1) or real(texts))
    regular = [{"pk": {"S": f"r{i}"},
                "m": {"M": {"a": {"S": f"x{i}"}, "n": {"N": "1.50"}, "in": {"M": {"b": {"BOOL": True}}}}},
                "l": {"L": [{"N": str(i)}, {"S": "s"}]}} for i in range(6)]
    odd = [
        {"pk": {"S": "o1"}, "m": {"M": {"a": {"S": "y"}, "new": {"S": "key not sampled"}}}},
        {"pk": {"S": "o2"}, "m": {"M": {"a": {"N": "5"}}}, "l": {"L": [{"M": {"deep": {"NULL": True}}}]}},
        {"pk": {"S": "o3"}, "m": {"M": {}}, "l": {"L": []}},
        {"pk": {"S": "o4"}, "m": {"M": {"in": {"M": {"b": {"BOOL": False}, "c": {"NS": ["1", "2.5"]}}}}}},
        {"pk": {"S": "o5"}},
    ]
    items = regular + odd + random_items(300, seed=3)
    con = duckdb.connect()
    res = load_snapshot_duckdb(con, schema="w", table="t", snapshot_date=dt.date(2024, 1, 1),
                               data_files=write(tmp_path, items))
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
    items += [{"pk": {"S": "q1"}, "v": {"N": "7"}, "late": {"BOOL": True}},
              {"pk": {"S": "q2"}, "v": {"NULL": True}, "late": {"NS": ["1.25"]}}]
    con = duckdb.connect()
    res = load_snapshot_duckdb(con, schema="w", table="t", snapshot_date=dt.date(2024, 1, 1),
                               data_files=write(tmp_path, items, files=1))
    conflicts = {c.attribute: c.type_counts for c in res.conflicts}
    assert conflicts == {"v": {"S": 10, "N": 1, "NULL": 1}, "late": {"BOOL": 1, "NS": 1}}
    got = dict(con.execute("SELECT pk, v FROM w.t").fetchall())
    assert got["q1"] == "7" and got["q2"] is None and got["p3"] == "s3"


def test_unknown_type_tag_is_named(tmp_path, small_sample):
    items = [{"pk": {"S": f"p{i}"}, "v": {"S": "x"}} for i in range(5)] + [{"pk": {"S": "z"}, "v": {"X": "?"}}]
    with pytest.raises(ExportReadError, match="'X'"):
        load_snapshot_duckdb(duckdb.connect(), schema="w", table="t", snapshot_date=dt.date(2024, 1, 1),
                             data_files=write(tmp_path, items, files=1))


def test_load_restores_connection_settings(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("SET memory_limit = '3GB'")
    before = con.execute("SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')").fetchone()
    load_snapshot_duckdb(con, schema="w", table="t", snapshot_date=dt.date(2024, 1, 1),
                         data_files=write(tmp_path, [{"pk": {"S": "a"}}], files=1))
    assert con.execute("SELECT current_setting('memory_limit'), "
                       "current_setting('preserve_insertion_order')").fetchone() == before
