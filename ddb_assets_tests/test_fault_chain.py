"""The change history (DuckDB) under faults: a window whose records disagree with its
manifest is refused before its transaction; a COMMIT on a full disk raises its own cause."""

from __future__ import annotations

import gzip
import json
import pathlib
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental.windows import Window
from ddb_assets.tables.checks import Expectation, ExpectedFile, SnapshotCheckError
from ddb_assets_tests.test_fault_loads import _fill, small_disk

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.duckdb]

T0 = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
W1 = Window(T0, T0 + timedelta(minutes=15))
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/01700000000000-w1"


def _gz(path: pathlib.Path, lines) -> str:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return str(path)


def _seeded(db: str, tmp: pathlib.Path) -> duckdb.DuckDBPyConnection:
    seed = _gz(
        tmp / "seed.json.gz",
        [{"Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}} for i in range(3)],
    )
    con = duckdb.connect(db)
    dc.apply_seed(
        con,
        schema="shop",
        table="orders",
        generation=0,
        seed_time=T0,
        export_arn="seed",
        data_files=[seed],
        key_attributes=["pk"],
    )
    return con


def _window_file(tmp: pathlib.Path) -> str:
    micros = int((T0 + timedelta(minutes=1)).timestamp() * 1_000_000)
    return _gz(
        tmp / "w1.json.gz",
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


def _state(con):
    return (
        con.execute("SELECT pk, n FROM shop.orders_current ORDER BY pk").fetchall(),
        con.execute("SELECT count(*) FROM shop.orders_changes").fetchone()[0],
        [(r.kind, r.window_to) for r in dc.read_chain_state(con, "shop", "orders").rows],
    )


def test_a_window_whose_records_disagree_with_its_manifest_is_not_applied(tmp_path):
    con = _seeded(str(tmp_path / "w.duckdb"), tmp_path)
    before = _state(con)
    f = _window_file(tmp_path)
    expect = Expectation(ARN, 3, (ExpectedFile("exports/data/w1.json.gz", 3, f),))
    with pytest.raises(SnapshotCheckError) as info:
        dc.apply_window(
            con,
            schema="shop",
            table="orders",
            generation=0,
            window=W1,
            export_arn=ARN,
            data_files=[f],
            expect=expect,
        )
    msg = str(info.value)
    assert ARN in msg and "2 rows" in msg and "w1.json.gz: 2 items, manifest says 3" in msg
    assert _state(con) == before
    # the same window with the right count applies once
    ok = Expectation(ARN, 2, (ExpectedFile("exports/data/w1.json.gz", 2, f),))
    res = dc.apply_window(
        con,
        schema="shop",
        table="orders",
        generation=0,
        window=W1,
        export_arn=ARN,
        data_files=[f],
        expect=ok,
    )
    assert res.applied and _state(con)[0] == [("k1", 1), ("k2", 2), ("k9", 9)]


def test_commit_on_a_full_disk_raises_its_own_cause(tmp_path):
    with small_disk(tmp_path / "disk", "16m") as disk:
        db = str(disk / "w.duckdb")
        con = _seeded(db, tmp_path)
        before = _state(con)
        con.execute("CHECKPOINT")
        f = _window_file(tmp_path)
        filler = _fill(disk)
        with pytest.raises(Exception) as info:  # noqa: B017 (the cause is asserted)
            dc.apply_window(
                con,
                schema="shop",
                table="orders",
                generation=0,
                window=W1,
                export_arn=ARN,
                data_files=[f],
                work_dir=str(tmp_path),
            )
        msg = str(info.value)
        assert "no transaction is active" not in msg
        assert "space" in msg.lower(), msg
        con.close()
        filler.unlink()
        con = duckdb.connect(db)
        assert _state(con) == before  # nothing of the window was applied
        con.close()
