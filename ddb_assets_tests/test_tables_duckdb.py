"""DuckDB typed snapshots: values, names, conflicts, evolution, replacement, failure safety."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.local.ion_text import dynamodb_number
from ddb_assets.tables import ColumnOverride, ExportReadError, load_snapshot_duckdb
from ddb_assets.tables.codec import item_to_ion_line

LATE_FROM = 30_001
N_ITEMS = 30_050


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def deep(level: int) -> dict:
    return {"M": {"leaf": {"S": "bottom"}}} if level == 0 else {"M": {f"k{level}": deep(level - 1)}}


ODD_NAMES = {
    "first name": "first_name",
    "a.b": "a_b",
    'say "hi"': "say_hi",
    "back`tick": "back_tick",
    "semi;colon": "semi_colon",
    "UPPER": "upper",
    "select": "select_",
    "数量": "u6570_u91cf",
    "1st": "_1st",
    "name": "name",
    "Name": "name_2",
    "O'Brien": "o_brien",
}


def make_items() -> list[dict]:
    items = []
    special = {
        "pk": {"S": "p0"},
        "s": {"S": 'héllo ✓ 😀 "quoted" \\ back'},
        "empty": {"S": ""},
        "n_big": {"N": "12345678901234567890123456789012345678"},
        "n_neg": {"N": "-42.5"},
        "n_tiny": {"N": "1E-130"},
        "n_huge": {"N": "9.9E+125"},
        "flag": {"BOOL": True},
        "bin": {"B": b64(b"\x00\x01\xff")},
        "ss": {"SS": ["x", "ÿ", ""]},
        "ns": {"NS": ["1.5", "-2", "0.25"]},
        "bs": {"BS": [b64(b"a"), b64(b"\x00")]},
        "m": deep(12),
        "l": {
            "L": [
                {"N": "1.10"},
                {"S": "two"},
                {"NULL": True},
                {"M": {"x": {"BOOL": False}}},
                {"SS": ["q"]},
                {"B": b64(b"z")},
            ]
        },
        "nul": {"NULL": True},
        "empty_ss": {"SS": []},
        "mixed": {"N": "10"},
        "when": {"S": "2024-03-04T05:06:07Z"},
    }
    for i, attr in enumerate(ODD_NAMES):
        special[attr] = {"S": f"odd-{i}"}
    items.append(special)
    items.append(
        {
            "pk": {"S": "p1"},
            "mixed": {"S": "ten"},
            "flag": {"BOOL": False},
            "nul": {"S": "not null now"},
            "ns": {"NS": []},
            "when": {"S": "2024-03-04T14:06:07+09:00"},
        }
    )
    items.append({"pk": {"S": "p2"}, "mixed": {"BOOL": True}, "m": {"M": {}}, "l": {"L": []}})
    for i in range(3, N_ITEMS):
        it = {"pk": {"S": f"p{i}"}, "qty": {"N": str(i) if i % 7 else f"{i}.25"}}
        if i >= LATE_FROM:
            it["late"] = {"S": f"late-{i}"}
        items.append(it)
    return items


def write_export(tmp_path, items, fmt="DYNAMODB_JSON", files=3, name="data"):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    paths = []
    per = (len(items) + files - 1) // files
    for f in range(files):
        chunk = items[f * per : (f + 1) * per]
        p = d / (f"part{f}.json.gz" if fmt == "DYNAMODB_JSON" else f"part{f}.ion.gz")
        with gzip.open(p, "wt", encoding="utf-8") as out:
            for it in chunk:
                out.write(
                    (
                        json.dumps({"Item": it}, ensure_ascii=False)
                        if fmt == "DYNAMODB_JSON"
                        else item_to_ion_line(it)
                    )
                    + "\n"
                )
        paths.append(p)
    return paths


# --- independent expectations ---------------------------------------------------------


def plain(v):
    """Expected plain-JSON value (numbers as Decimal) of a DynamoDB value."""
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


def expected_typed(v):
    ((tag, x),) = v.items()
    if tag == "S":
        return x
    if tag == "N":
        return Decimal(x)
    if tag == "BOOL":
        return x
    if tag == "B":
        return base64.b64decode(x)
    if tag == "SS":
        return list(x)
    if tag == "NS":
        return [Decimal(n) for n in x]
    if tag == "BS":
        return [base64.b64decode(b) for b in x]
    if tag == "NULL":
        return None
    raise AssertionError(tag)


@pytest.fixture(scope="module")
def items():
    return make_items()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, items):
    tmp = tmp_path_factory.mktemp("export")
    paths = write_export(tmp, items)
    con = duckdb.connect(str(tmp / "w.duckdb"))
    res = load_snapshot_duckdb(
        con,
        schema="wh",
        table="orders",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=paths,
        export_format="DYNAMODB_JSON",
    )
    return con, res


def rows_by_pk(con, relation="wh.orders"):
    cur = con.execute(f"SELECT * FROM {relation}")
    names = [d[0] for d in cur.description]
    return {r[names.index("pk")]: dict(zip(names, r)) for r in cur.fetchall()}


def test_every_item_is_there_and_typed_value_by_value(loaded, items):
    con, res = loaded
    assert res.row_count == len(items)
    rows = rows_by_pk(con)
    assert len(rows) == len(items)
    cols = {c.attribute: c for c in res.columns if c.role == "value"}
    simple = [
        "s",
        "empty",
        "n_big",
        "n_neg",
        "flag",
        "bin",
        "ss",
        "ns",
        "bs",
        "qty",
        "late",
    ] + list(ODD_NAMES)
    for it in items:
        row = rows[it["pk"]["S"]]
        for attr in simple:
            got = row[cols[attr].name]
            want = expected_typed(it[attr]) if attr in it else None
            if attr in ("ns",) and got is not None:
                got = [Decimal(g) for g in got]
            assert got == want, (attr, it["pk"], got, want)
            if isinstance(want, Decimal):
                assert str(got.normalize()) == str(want.normalize())
        for attr in ("m", "l"):
            got = row[cols[attr].name]
            want = plain(it[attr]) if attr in it else None
            got = None if got is None else json.loads(got, parse_float=Decimal, parse_int=Decimal)
            assert got == want, (attr, got, want)
        assert row[cols["nul"].name] == (
            it["nul"]["S"] if "nul" in it and "S" in it["nul"] else None
        )


def test_column_types(loaded):
    _, res = loaded
    types = {c.attribute: c.sql_type for c in res.columns if c.role == "value"}
    assert types["s"] == "string"
    assert types["n_big"] == "decimal(38,0)"
    assert types["n_neg"] == "decimal(38,1)"
    assert types["qty"] == "decimal(38,2)"
    assert types["flag"] == "boolean"
    assert types["bin"] == "binary"
    assert types["ss"] == "array<string>" and types["empty_ss"] == "array<string>"
    assert types["ns"] == "array<decimal(38,2)>"
    assert types["bs"] == "array<binary>"
    assert types["m"] == "json" and types["l"] == "json"
    assert types["late"] == "string"  # first seen after row 30,000: a sampled schema misses it


def test_numbers_that_do_not_fit_are_kept_exactly_and_reported(loaded):
    con, res = loaded
    row = rows_by_pk(con)["p0"]
    assert row["n_tiny"] is None and row["n_tiny__raw"] == "1E-130"
    assert row["n_huge"] is None and row["n_huge__raw"] == "9.9E+125"
    assert row["n_big"] == Decimal("12345678901234567890123456789012345678")
    unfit = {u.attribute: u for u in res.unfit_numbers}
    assert set(unfit) == {"n_tiny", "n_huge"}
    assert unfit["n_tiny"].count == 1 and unfit["n_tiny"].examples == ("1E-130",)


def test_type_conflict_keeps_every_value_and_is_reported(loaded):
    con, res = loaded
    rows = rows_by_pk(con)
    assert [(rows[p]["mixed"], rows[p]["mixed__type"]) for p in ("p0", "p1", "p2")] == [
        ("10", "N"),
        ("ten", "S"),
        ("true", "BOOL"),
    ]
    conflict = {c.attribute: c for c in res.conflicts}
    assert conflict["mixed"].type_counts == {"N": 1, "S": 1, "BOOL": 1}
    assert set(conflict) == {"mixed"}  # NULL beside one type is not a conflict ("nul": NULL + S)


def test_odd_attribute_names_get_safe_deterministic_columns(loaded):
    _, res = loaded
    for attr, col in ODD_NAMES.items():
        assert res.name_map[col] == attr
    import re

    for c in res.columns:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", c.name), c.name
    assert len({c.name for c in res.columns}) == len(res.columns)
    assert "snapshot_date" not in res.name_map


def test_ion_export_loads_to_the_same_table(tmp_path, loaded, items):
    con, _ = loaded
    paths = write_export(tmp_path, items, fmt="ION")
    con2 = duckdb.connect()
    res = load_snapshot_duckdb(
        con2,
        schema="wh",
        table="orders",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=paths,
        export_format="ION",
    )
    assert res.row_count == len(items)
    a, b = rows_by_pk(con), rows_by_pk(con2)
    assert a.keys() == b.keys()
    for pk in a:
        ra, rb = a[pk], b[pk]
        for k in ra:
            if k in ("m", "l") and ra[k] is not None:
                assert json.loads(ra[k], parse_float=Decimal) == json.loads(
                    rb[k], parse_float=Decimal
                )
            elif k.endswith("__raw") and ra[k] is not None and NUMBER.fullmatch(ra[k]):
                # the fixture's JSON export keeps the items' own spelling ("9.9E+125"); the
                # ION load gives DynamoDB's canonical digits, as its JSON export would hold
                assert dynamodb_number(ra[k]) == rb[k], (pk, k, ra[k], rb[k])
            else:
                assert ra[k] == rb[k], (pk, k, ra[k], rb[k])


NUMBER = re.compile(r"-?[0-9.]+(E[+-]?[0-9]+)?")


def test_overrides_type_rename_drop(tmp_path, items):
    paths = write_export(tmp_path, items[:3])
    con = duckdb.connect()
    res = load_snapshot_duckdb(
        con,
        schema="wh",
        table="o",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=paths,
        overrides={
            "when": ColumnOverride(type="timestamp", rename="created_at"),
            "s": ColumnOverride(drop=True),
            "n_neg": ColumnOverride(type="double"),
            "n_big": ColumnOverride(type="string"),
            "m": ColumnOverride(type="json"),
            "mixed": ColumnOverride(type="string"),
        },
    )
    rows = rows_by_pk(con, "wh.o")
    assert rows["p0"]["created_at"] == dt.datetime(2024, 3, 4, 5, 6, 7)
    assert rows["p1"]["created_at"] == dt.datetime(2024, 3, 4, 5, 6, 7)  # +09:00 -> UTC
    assert "s" not in rows["p0"] and "s" not in res.name_map.values()
    assert rows["p0"]["n_neg"] == -42.5
    assert rows["p0"]["n_big"] == "12345678901234567890123456789012345678"
    assert "mixed__type" not in rows["p0"] and rows["p1"]["mixed"] == "ten"
    assert {c.name: c.sql_type for c in res.columns}["created_at"] == "timestamp"


def test_bad_override_value_fails_and_leaves_previous_snapshot_and_view(tmp_path, items):
    con = duckdb.connect()
    good = write_export(tmp_path, items[:3], name="good")
    load_snapshot_duckdb(
        con, schema="wh", table="t", snapshot_date=dt.date(2024, 1, 1), data_files=good
    )
    bad = write_export(tmp_path, [{"pk": {"S": "x"}, "when": {"S": "not a time"}}], name="bad")
    with pytest.raises(duckdb.Error):
        load_snapshot_duckdb(
            con,
            schema="wh",
            table="t",
            snapshot_date=dt.date(2024, 1, 2),
            data_files=bad,
            overrides={"when": ColumnOverride(type="timestamp")},
        )
    assert sorted(rows_by_pk(con, "wh.t")) == ["p0", "p1", "p2"]
    assert con.execute("SELECT DISTINCT snapshot_date FROM wh.t__snapshots").fetchall() == [
        (dt.date(2024, 1, 1),)
    ]
    with pytest.raises(ExportReadError):
        broken = tmp_path / "broken.json.gz"
        with gzip.open(broken, "wt") as f:
            f.write("{not json\n")
        load_snapshot_duckdb(
            con, schema="wh", table="t", snapshot_date=dt.date(2024, 1, 2), data_files=[broken]
        )
    assert sorted(rows_by_pk(con, "wh.t")) == ["p0", "p1", "p2"]


def test_schema_evolution_and_rematerialization(tmp_path):
    con = duckdb.connect()
    d1 = [
        {"pk": {"S": f"k{i}"}, "a": {"N": str(i)}, "gone": {"S": f"g{i}"}, "dec": {"N": "1.5"}}
        for i in range(5)
    ]
    d2 = [
        {
            "pk": {"S": f"k{i}"},
            "a": {"S": f"s{i}"} if i == 0 else {"N": str(i)},
            "new": {"BOOL": True},
            "dec": {"N": "1.25"},
        }
        for i in range(4)
    ]
    r1 = load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=write_export(tmp_path, d1, name="d1"),
    )
    assert r1.schema_changes == [] and r1.previous_snapshot_date is None
    r2 = load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2024, 1, 2),
        data_files=write_export(tmp_path, d2, name="d2"),
    )
    changes = {(c.kind, c.column) for c in r2.schema_changes}
    assert ("added", "new") in changes and ("removed", "gone") in changes
    assert ("type_changed", "a") in changes and ("type_changed", "dec") in changes
    assert r2.previous_snapshot_date == dt.date(2024, 1, 1)
    # the view is the latest snapshot, with its columns
    view = rows_by_pk(con, "wh.t")
    assert len(view) == 4 and view["k0"]["a"] == "s0" and view["k1"]["new"] is True
    assert "gone" not in view["k0"] and view["k1"]["dec"] == Decimal("1.25")
    # old snapshot: its values intact, new attribute reads null
    old = con.execute(
        "SELECT pk, a, gone, new, dec FROM wh.t__snapshots WHERE snapshot_date = DATE '2024-01-01' "
        "ORDER BY pk"
    ).fetchall()
    assert old[1] == ("k1", Decimal(1), "g1", None, Decimal("1.5"))
    # re-materialize day 2 with other data: replaced exactly, no duplicates
    d2b = [{"pk": {"S": f"z{i}"}, "a": {"N": "7"}} for i in range(3)]
    r3 = load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2024, 1, 2),
        data_files=write_export(tmp_path, d2b, name="d2b"),
    )
    assert r3.row_count == 3
    counts = dict(
        con.execute("SELECT snapshot_date, count(*) FROM wh.t__snapshots GROUP BY 1").fetchall()
    )
    assert counts == {dt.date(2024, 1, 1): 5, dt.date(2024, 1, 2): 3}
    assert sorted(rows_by_pk(con, "wh.t")) == ["z0", "z1", "z2"]
    # backfilling an older day does not move the view
    load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2023, 12, 31),
        data_files=write_export(tmp_path, d1, name="d0"),
    )
    assert sorted(rows_by_pk(con, "wh.t")) == ["z0", "z1", "z2"]


def test_names_stay_stable_when_a_colliding_attribute_appears_later(tmp_path):
    con = duckdb.connect()
    load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2024, 1, 1),
        data_files=write_export(tmp_path, [{"pk": {"S": "a"}, "Name": {"S": "x"}}], name="a"),
    )
    r = load_snapshot_duckdb(
        con,
        schema="wh",
        table="t",
        snapshot_date=dt.date(2024, 1, 2),
        data_files=write_export(
            tmp_path, [{"pk": {"S": "a"}, "Name": {"S": "x"}, "name": {"S": "y"}}], name="b"
        ),
    )
    assert r.name_map["name"] == "Name" and r.name_map["name_2"] == "name"
