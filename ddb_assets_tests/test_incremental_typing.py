"""The change history types item images exactly like the snapshot loader: the same items,
loaded as a snapshot (``load_snapshot_duckdb``) and as a chain seed (the current table),
give the same columns, types and values. This pins ``ddb_assets.tables.changes`` to
the value SQL of :mod:`ddb_assets.tables.duckdb`, which it uses through its public names."""

import datetime as dt
import gzip
import json

import duckdb

from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.tables import load_snapshot_duckdb

ITEMS = [
    {
        "pk": {"S": "a"},
        "s": {"S": "x'y\"z"},
        "n": {"N": "1"},
        "d": {"N": "2.50"},
        "b": {"B": "AAEC"},
        "ok": {"BOOL": True},
        "nul": {"NULL": True},
        "ss": {"SS": ["p", "q"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": ["AAE="]},
        "m": {"M": {"k": {"S": "v"}, "n": {"N": "3"}}},
        "l": {"L": [{"S": "x"}, {"N": "1e2"}]},
        "mixed": {"S": "text"},
        "big": {"N": "123456789012345678901234567890123456789012"},
    },
    {
        "pk": {"S": "b"},
        "n": {"N": "-7"},
        "d": {"N": "0.001"},
        "ok": {"BOOL": False},
        "mixed": {"N": "12"},
        "m": {"M": {}},
        "l": {"L": []},
        "big": {"N": "5"},
    },
    {"pk": {"S": "c"}},
]


def test_seed_and_snapshot_type_every_dynamodb_type_the_same(tmp_path):
    f = tmp_path / "part-0.json.gz"
    with gzip.open(f, "wt") as fp:
        for it in ITEMS:
            fp.write(json.dumps({"Item": it}) + "\n")
    con = duckdb.connect()
    snap = load_snapshot_duckdb(
        con, schema="snap", table="t", snapshot_date=dt.date(2025, 1, 1), data_files=[f]
    )
    dc.apply_seed(
        con,
        schema="shop",
        table="t",
        generation=0,
        seed_time=dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc),
        export_arn="arn:seed",
        data_files=[str(f)],
        key_attributes=["pk"],
        work_dir=str(tmp_path),
    )
    cols = [c.name for c in snap.columns]
    assert {"mixed__type", "big__raw"} <= set(cols)  # a conflict and an unfit number are in play

    def typed(table):
        return dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
                "AND table_name = ?",
                table,
            ).fetchall()
        )

    snap_types, cur_types = typed(["snap", "t__snapshots"]), typed(["shop", "t_current"])
    assert {c: cur_types[c] for c in cols} == {c: snap_types[c] for c in cols}
    sel = ", ".join(f'"{c}"' for c in cols)
    want = con.execute(f"SELECT {sel} FROM snap.t ORDER BY pk").fetchall()
    got = con.execute(f"SELECT {sel} FROM shop.t_current ORDER BY pk").fetchall()
    assert got == want
