"""DuckDB engine cases found by comparing it with the Athena engine on the same exports:
empty exports (first day and after a full day), type conflicts that include NULL, and
NULL values of M / L attributes."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import pytest

from ddb_assets.tables import load_snapshot_duckdb
from ddb_assets_tests.exports import minified_export

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
NULL = {"NULL": True}


def export(tmp_path, name, items, files=1):
    d = tmp_path / name
    d.mkdir()
    paths = []
    for f in range(files):
        p = d / f"part{f}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8") as out:
            for it in items[f::files]:
                out.write(json.dumps({"Item": it}) + "\n")
        paths.append(p)
    return paths


def load(con, day, paths, table="t"):
    return load_snapshot_duckdb(con, schema="wh", table=table, snapshot_date=day, data_files=paths)


def view(con, table="t"):
    cur = con.execute(f"SELECT * FROM wh.{table} ORDER BY ALL")
    return [d[0] for d in cur.description], cur.fetchall()


@pytest.mark.parametrize("files", [0, 1, 2])
def test_empty_first_export_gives_an_empty_snapshot_and_a_view(tmp_path, files):
    con = duckdb.connect()
    res = load(con, D1, export(tmp_path, "e", [], files=files))
    assert res.row_count == 0 and res.columns == []
    assert res.latest_snapshot_date == D1 and res.previous_snapshot_date is None
    assert view(con) == (["snapshot_date"], [])


def test_empty_export_after_a_full_day_moves_the_view_to_the_empty_day(tmp_path):
    con = duckdb.connect()
    load(con, D1, export(tmp_path, "d1", [{"pk": {"S": "a"}}]))
    res = load(con, D2, export(tmp_path, "d2", []))
    assert (
        res.row_count == 0 and res.latest_snapshot_date == D2 and res.previous_snapshot_date == D1
    )
    assert [(c.kind, c.column) for c in res.schema_changes] == [("removed", "pk")]
    assert view(con) == (["snapshot_date"], [])
    # the next day's previous snapshot is the empty one, and the view follows it
    res = load(con, D3, export(tmp_path, "d3", [{"pk": {"S": "b"}}]))
    assert res.previous_snapshot_date == D2 and res.latest_snapshot_date == D3
    assert [(c.kind, c.column) for c in res.schema_changes] == [("added", "pk")]
    assert view(con) == (["pk", "snapshot_date"], [("b", D3)])
    # backfilling an empty older day leaves the view alone
    res = load(con, dt.date(2023, 12, 31), export(tmp_path, "d0", []))
    assert res.latest_snapshot_date == D3
    assert view(con) == (["pk", "snapshot_date"], [("b", D3)])


def test_warehouse_without_the_load_log_keeps_its_latest_snapshot(tmp_path):
    """A warehouse written before the per-snapshot load log existed: the log is rebuilt
    from the column metadata on the next load."""
    con = duckdb.connect()
    load(con, D2, export(tmp_path, "d2", [{"pk": {"S": "a"}}]))
    con.execute("DROP TABLE wh.t__loads")
    res = load(con, D1, export(tmp_path, "d1", [{"pk": {"S": "old"}}]))
    assert res.latest_snapshot_date == D2
    assert view(con) == (["pk", "snapshot_date"], [("a", D2)])
    assert con.execute(
        "SELECT snapshot_date, row_count FROM wh.t__loads ORDER BY 1"
    ).fetchall() == [(D1, 1), (D2, 1)]


def test_type_conflict_with_null_values_loads(tmp_path):
    items = [
        {"pk": {"S": "a"}, "x": {"S": "1"}},
        {"pk": {"S": "b"}, "x": NULL},
        {"pk": {"S": "c"}, "x": {"N": "2"}},
        {"pk": {"S": "d"}, "y": {"M": {"k": {"S": "v"}}}},
        {"pk": {"S": "e"}, "y": NULL},
        {"pk": {"S": "f"}, "y": {"NS": ["1", "2.50"]}},
        {"pk": {"S": "g"}, "y": {"L": [NULL]}},
        {"pk": {"S": "h"}},
    ]
    con = duckdb.connect()
    res = load(con, D1, export(tmp_path, "c", items))
    assert {c.attribute for c in res.conflicts} == {"x", "y"}
    got = con.execute("SELECT pk, x, x__type, y, y__type FROM wh.t ORDER BY pk").fetchall()
    assert got == [
        ("a", "1", "S", None, None),
        ("b", None, "NULL", None, None),
        ("c", "2", "N", None, None),
        ("d", None, None, '{"k":"v"}', "M"),
        ("e", None, None, None, "NULL"),
        ("f", None, None, "[1,2.50]", "NS"),
        ("g", None, None, "[null]", "L"),
        ("h", None, None, None, None),
    ]


@pytest.mark.parametrize("null_first", [False, True])
def test_m_and_l_null_values_are_sql_null(tmp_path, null_first):
    rows = [
        {
            "pk": {"S": "a"},
            "m": {"M": {"k": {"S": "v"}, "z": NULL}},
            "l": {"L": [{"N": "1"}, NULL]},
        },
        {"pk": {"S": "b"}, "m": NULL, "l": NULL},
        {"pk": {"S": "c"}, "m": {"M": {"k": {"N": "1e400"}}}, "l": {"L": [{"M": {"q": NULL}}]}},
        {"pk": {"S": "d"}},
    ]
    if null_first:
        rows = rows[1:2] + rows[:1] + rows[2:]
    con = duckdb.connect()
    res = load(con, D1, export(tmp_path, "m", rows))
    assert {c.name: c.sql_type for c in res.columns} == {"pk": "string", "m": "json", "l": "json"}
    got = con.execute(
        "SELECT pk, m IS NULL, l IS NULL, CAST(m AS VARCHAR), CAST(l AS VARCHAR) "
        "FROM wh.t ORDER BY pk"
    ).fetchall()
    assert got == [
        ("a", False, False, '{"k":"v","z":null}', "[1,null]"),
        ("b", True, True, None, None),
        ("c", False, False, '{"k":1e400}', '[{"q":null}]'),
        ("d", True, True, None, None),
    ]


@pytest.mark.parametrize("ascii_only", [False, True])
def test_staged_m_and_l_values_are_exact_when_rows_differ_from_the_sample(
    tmp_path, monkeypatch, ascii_only
):
    """One parse, staged: rows the sampled structure does not fully cover (a key or a tag
    it never saw, escapes) are caught by the length check and rendered by the codec."""
    from decimal import Decimal

    from ddb_assets.tables import codec
    from ddb_assets.tables.duckdb import sample as duckdb_sample
    from ddb_assets.tables.duckdb import snapshot as duckdb_snapshot

    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 2)
    calls = []
    real = codec.plain_json_many
    monkeypatch.setattr(codec, "plain_json_many", lambda texts: calls.append(1) or real(texts))
    staged = []
    real_insert = duckdb_snapshot.insert_rows
    monkeypatch.setattr(
        duckdb_snapshot,
        "insert_rows",
        lambda *a: staged.append(a[-1] is not None) or real_insert(*a),
    )
    regular = {"M": {"a": {"S": "x"}, "n": {"N": "1.50"}, "in": {"M": {"b": {"BOOL": True}}}}}
    lst = {"L": [{"M": {"k": {"S": "v"}}}]}
    odd = [
        {"M": {"a": {"S": "y"}, "new": {"S": "key not sampled"}}},
        {"M": {"a": {"N": "5"}}},
        {"M": {"a": {"S": 'é "q" \\ / \u2028 😀 \t'}}},
        {"M": {"a": {"S": "x"}, "n": {"N": "1e400"}}},
        {"M": {}},
        {"M": {"in": {"M": {"b": {"NULL": True}}}}},
    ]
    odd_l = [
        {"L": [{"S": "tag not sampled"}]},
        {"L": [{"M": {"k": {"S": "v"}, "z": {"N": "1"}}}]},
        {"L": []},
        {"L": [{"M": {}}, {"M": {"k": {"S": "w"}}}]},
    ]
    items = [{"pk": {"S": f"r{i}"}, "m": regular, "l": lst} for i in range(4)]
    items += [{"pk": {"S": f"o{i}"}, "m": m} for i, m in enumerate(odd)]
    items += [{"pk": {"S": f"q{i}"}, "l": v} for i, v in enumerate(odd_l)]
    d = tmp_path / "x"
    d.mkdir()
    with gzip.open(d / "p.json.gz", "wt", encoding="utf-8") as out:
        for it in items:
            out.write(json.dumps({"Item": it}, ensure_ascii=ascii_only) + "\n")
    con = duckdb.connect()
    load(con, D1, [d / "p.json.gz"])
    assert staged == [True]
    got = dict(
        ((pk, "m"), m)
        for pk, m in con.execute("SELECT pk, CAST(m AS VARCHAR) FROM wh.t").fetchall()
    )
    got.update(
        ((pk, "l"), v)
        for pk, v in con.execute("SELECT pk, CAST(l AS VARCHAR) FROM wh.t").fetchall()
    )

    def plain(v):
        ((tag, x),) = v.items()
        return {
            "S": lambda: x,
            "N": lambda: Decimal(x),
            "BOOL": lambda: x,
            "NULL": lambda: None,
            "M": lambda: {k: plain(y) for k, y in x.items()},
            "L": lambda: [plain(y) for y in x],
        }[tag]()

    for it in items:
        for attr in ("m", "l"):
            want = plain(it[attr]) if attr in it else None
            text = got[(it["pk"]["S"], attr)]
            assert (
                None if text is None else json.loads(text, parse_float=Decimal, parse_int=Decimal)
            ) == want
    assert calls


def test_no_staging_table_is_left_behind(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    load(con, D1, export(tmp_path, "a", [{"pk": {"S": "a"}, "n": {"N": "1"}}]))
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"Item":{"pk":{"S":"b"}}}\n{not json\n')
    with pytest.raises(Exception):  # noqa: B017 (any refusal will do; the point is the cleanup)
        load(con, D2, [bad])
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_ddb_stage%'"
        ).fetchone()[0]
        == 0
    )


def _minified_export(tmp_path, name, items, ascii_only=False):
    return minified_export(tmp_path, name, items, ascii_only=ascii_only)


_FAST_BASE = [
    {
        "pk": {"S": f"r{i}"},
        "n": {"N": f"{i}.5"},
        "b": {"BOOL": i % 2 == 0},
        "z": NULL,
        "ss": {"SS": ["a", 'b"q']},
        "ns": {"NS": ["1", "2.25"]},
        "bin": {"B": "AAE="},
        "m": {"M": {"a": {"S": "x"}, "n": {"N": "1.50"}, "in": {"M": {"b": {"BOOL": False}}}}},
        "l": {"L": [{"M": {"k": {"S": "v"}}}, {"M": {"k": {"S": "w"}}}]},
    }
    for i in range(4)
]


@pytest.mark.parametrize(
    "late",
    [
        None,
        {"pk": {"S": "late"}, "new": {"S": "attribute not sampled"}},
        {"pk": {"S": "late"}, "n": {"S": "tag not sampled"}},
        {"pk": {"S": "late"}, "m": {"M": {"a": {"S": "y"}, "extra": {"S": "key not sampled"}}}},
        {"pk": {"S": "late"}, "l": {"L": [{"M": {"k": {"S": "v"}, "z": {"N": "1"}}}, {"S": "x"}]}},
        {
            "pk": {"S": 'late é "q" \\ / \u2028 😀 \t'},
            "m": {"M": {"a": {"S": "é \u2028 \t"}}},
            "l": {"L": []},
        },
        {"pk": {"S": "late"}, "m": {"M": {}}, "l": {"L": [{"M": {}}]}, "z": {"NULL": True}},
    ],
)
@pytest.mark.parametrize("ascii_only", [False, True])
def test_fast_stage_matches_the_general_stage(tmp_path, monkeypatch, late, ascii_only):
    """Minified exports the sample covers take the one-parse stage (length check per line);
    a line the guess does not fully cover is staged again on its own (the rest); both give the
    same snapshot as the general stage."""
    from ddb_assets.tables.duckdb import load as duckdb_load
    from ddb_assets.tables.duckdb import sample as duckdb_sample
    from ddb_assets.tables.duckdb import staged as duckdb_staged

    monkeypatch.setattr(duckdb_sample, "SAMPLE_ITEMS", 2)
    monkeypatch.setattr(
        duckdb_load, "load_direct", lambda *a: None
    )  # the staged load (one-pass: test_tables_onepass)
    items = _FAST_BASE + ([late] if late else [])
    paths = _minified_export(tmp_path, "x", items, ascii_only)
    fast = []
    real_fast = duckdb_staged.fast_stage
    monkeypatch.setattr(
        duckdb_staged, "fast_stage", lambda *a: fast.append(real_fast(*a)) or fast[-1]
    )
    con = duckdb.connect()
    res = load(con, D1, paths)
    got = view(con)
    monkeypatch.setattr(duckdb_staged, "fast_stage", lambda *a: None)
    con2 = duckdb.connect()
    res2 = load(con2, D1, paths)
    assert got == view(con2)
    assert res.columns == res2.columns
    assert res.row_count == len(items)
    assert fast[0] is not None  # one parse of every line
    if late is None:
        assert fast[0].rest is None
    elif (
        "new" in late
        or "n" in late
        or "extra" in late.get("m", {}).get("M", {})
        or len(late.get("l", {"L": []})["L"]) == 2
    ):
        assert (
            fast[0].rest is not None
        )  # not covered by the guess: the length check sends that row to the rest


def test_fast_stage_restages_when_a_column_needs_the_m_text(tmp_path):
    """An override on an M attribute needs its text: the load stages the general way."""
    from ddb_assets.tables.types import ColumnOverride

    paths = _minified_export(tmp_path, "x", _FAST_BASE)
    con = duckdb.connect()
    load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=D1,
        data_files=paths,
        overrides={"m": ColumnOverride(type="json")},
    )
    got = con.execute("SELECT pk, CAST(m AS VARCHAR) FROM wh.t ORDER BY pk").fetchall()
    assert got == [(f"r{i}", '{"a":"x","n":1.50,"in":{"b":false}}') for i in range(4)]
    assert not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_ddb_stage%'"
    ).fetchone()[0]
