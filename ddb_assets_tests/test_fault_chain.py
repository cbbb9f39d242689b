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
from ddb_assets_tests.ddb_tables import create_pitr_table
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


# --- a change-history step killed with its downloads on disk ----------------------------


@pytest.fixture(scope="module")
def stack():
    from ddb_assets.local import LocalAWS

    with LocalAWS(export_seconds=0.2) as s:
        yield s


def _full_export(stack, table: str, n: int) -> dict:
    """A full export of a ``table`` of ``n`` items from the local stack (real manifests)."""
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    create_pitr_table(ddb, table)
    for i in range(n):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
    s3.create_bucket(Bucket="chain-kill")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    d = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="chain-kill", S3Prefix="seed", ExportTime=stack.now()
    )["ExportDescription"]
    assert stack.wait_for_export(d["ExportArn"]) == "COMPLETED"
    d = ddb.describe_export(ExportArn=d["ExportArn"])["ExportDescription"]
    return {
        "table": table,
        "bucket": "chain-kill",
        "manifest_key": d["ExportManifest"],
        "arn": d["ExportArn"],
        "export_time": d["ExportTime"].isoformat(),
    }


def _chain_dirs(tmp: pathlib.Path) -> dict[str, list[str]]:
    return {
        d.name: sorted(p.name for p in d.rglob("*") if p.is_file())
        for d in tmp.iterdir()
        if d.name.startswith("ddb-chain-")
    }


_HOLD = """
import sys, time
from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
with DuckDBChain(None, "shop", "orders")._tmp() as d:
    open(d + "/part.json.gz", "wb").write(b"x")
    print("READY", d, flush=True)
    time.sleep(600)
"""


def test_a_killed_steps_download_folder_is_swept_by_the_next_step(stack, tmp_path, monkeypatch):
    """``kill -9`` of a change-history step after it downloaded the export leaves its folder
    behind; the next step (another process) removes it and spares the folder of a step
    that is still running, then cleans up its own."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    import boto3

    from ddb_assets.incremental.chain import ChainSpec
    from ddb_assets.incremental.duckdb_warehouse import DuckDBChain
    from ddb_assets.tables import faults
    from ddb_assets_tests.fault_child import __file__ as child_file

    root = pathlib.Path(child_file).parent.parent
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    export = _full_export(stack, "chain_kill", 40)
    env = {**os.environ, **stack.env(), "TMPDIR": str(tmp)}
    env.pop(faults.ENV_VAR, None)
    args = {**export, "warehouse": str(tmp_path / "w.duckdb")}
    killed = subprocess.Popen(
        [sys.executable, "-m", "ddb_assets_tests.fault_chain_child", json.dumps(args)],
        cwd=root,
        env={**env, faults.ENV_VAR: "after_download"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, err
    assert out.split() == ["START"]
    left = _chain_dirs(tmp)
    (dead,) = left
    assert dead.startswith(f"ddb-chain-{killed.pid}-orders-") and left[dead], left

    live = subprocess.Popen(
        [sys.executable, "-c", _HOLD], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        ready = live.stdout.readline().split()
        assert ready[0] == "READY", ready
        running = pathlib.Path(ready[1]).name
        assert running.startswith(f"ddb-chain-{live.pid}-")

        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        for k, v in stack.env().items():
            monkeypatch.setenv(k, v)
        spec = ChainSpec(
            table_name="chain_kill",
            sql_name="orders",
            schema="shop",
            s3_bucket="chain-kill",
            base_prefix="chain",
        )
        seed = type("Seed", (), {})()
        seed.s3_bucket, seed.manifest_key, seed.arn = (
            "chain-kill",
            export["manifest_key"],
            export["arn"],
        )
        seed.export_time = datetime.fromisoformat(export["export_time"])
        con = duckdb.connect(args["warehouse"])
        res = DuckDBChain(con, "shop", "orders").seed_step(
            boto3.client("dynamodb"), boto3.client("s3"), spec, seed, 0, None
        )
        assert res.applied and res.records == 40
        assert con.execute("SELECT count(*) FROM shop.orders_current").fetchone()[0] == 40
        con.close()
        # the dead step's folder is gone; the running step's folder is untouched; the
        # step that just ran left nothing
        assert _chain_dirs(tmp) == {running: ["part.json.gz"]}
    finally:
        live.kill()
        live.wait()


def test_stale_download_folders_are_those_no_running_process_can_own(tmp_path):
    """Dead process: stale. Live process that started before the folder: its own (kept).
    Live process started after the folder was made (the id was reused): stale."""
    import os
    import subprocess
    import sys

    from ddb_assets.tables.orphans import stale_temp_dirs

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    mine = tmp_path / f"ddb-chain-{os.getpid()}-orders-a"
    dead = tmp_path / f"ddb-chain-{int(gone.stdout)}-orders-b"
    reused = tmp_path / f"ddb-chain-{os.getpid()}-orders-c"
    other = tmp_path / "ddb-chain-orders-d"  # no process id: not ours to judge
    for d in (mine, dead, reused, other):
        d.mkdir()
    os.utime(reused, (0, 0))  # made long before this process started
    assert sorted(stale_temp_dirs(str(tmp_path), "ddb-chain-")) == sorted([str(dead), str(reused)])
