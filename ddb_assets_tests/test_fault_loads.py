"""Fault injection on the DuckDB load path, each fault followed by the exact state after it.

After every fault: the latest view serves exactly the previous snapshot (or, for a kill after
COMMIT, exactly the new one), ``T__files`` lists exactly the files on disk (no byte left
behind once the next load ran), and a rerun loads the export once (nothing lost, nothing
duplicated).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from ddb_assets.tables import faults
from ddb_assets.tables.checks import Expectation, ExpectedFile, SnapshotCheckError
from ddb_assets.tables.duckdb import ExportReadError, load_snapshot_duckdb

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.duckdb]

SCHEMA, TABLE = "shop", "orders"
DAY1, DAY2 = dt.date(2026, 7, 1), dt.date(2026, 7, 2)
ROOT = pathlib.Path(__file__).parent.parent


# --- exports and state -------------------------------------------------------------------


def items(n: int, tag: str = "a", noise: int = 0) -> list[dict]:
    """``n`` items; ``noise`` bytes of incompressible text each (to fill a disk)."""
    return [
        {
            "pk": {"S": f"{tag}{i:07d}"},
            "qty": {"N": str(i % 997)},
            "note": {"S": os.urandom(noise).hex() if noise else f"n{i % 13}"},
        }
        for i in range(n)
    ]


def write_export(folder: pathlib.Path, rows: list[dict], files: int = 2, lines=None) -> tuple:
    """gz data files as DynamoDB writes them, and the manifest's promises (Expectation)."""
    folder.mkdir(parents=True, exist_ok=True)
    per = max(1, -(-len(rows) // files))
    paths, expected = [], []
    for f in range(files):
        chunk = rows[f * per : (f + 1) * per]
        p = folder / f"part-{f}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8", compresslevel=1) as out:
            for it in chunk:
                out.write(json.dumps({"Item": it}, separators=(",", ":")) + "\n")
        paths.append(str(p))
        expected.append(ExpectedFile(f"exports/data/part-{f}.json.gz", len(chunk), str(p)))
    expect = Expectation(
        export=f"arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/{folder.name}",
        item_count=len(rows),
        files=tuple(expected),
        key_attributes=("pk",),
    )
    return paths, expect


def load(db, day, paths, expect, **kw):
    con = duckdb.connect(str(db))
    try:
        return load_snapshot_duckdb(
            con,
            schema=SCHEMA,
            table=TABLE,
            snapshot_date=day,
            data_files=paths,
            expect=expect,
            **kw,
        )
    finally:
        con.close()


def state(db) -> dict:
    """Everything a fault could damage, read from a fresh connection."""
    root = pathlib.Path(f"{db}.snapshots")
    con = duckdb.connect(str(db), read_only=True)
    try:
        listed = sorted(
            r[0] for r in con.execute(f'SELECT file FROM "{SCHEMA}"."{TABLE}__files"').fetchall()
        )
        latest = con.execute(
            f"SELECT count(*), count(DISTINCT pk), min(pk), max(pk), sum(qty), "
            f'max(snapshot_date) FROM "{SCHEMA}"."{TABLE}"'
        ).fetchone()
        loads = sorted(
            con.execute(
                f'SELECT snapshot_date, row_count FROM "{SCHEMA}"."{TABLE}__loads"'
            ).fetchall()
        )
    finally:
        con.close()
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    unlisted = sum((root / p).stat().st_size for p in set(on_disk) - set(listed))
    return {
        "listed": listed,
        "latest": latest,
        "loads": loads,
        "on_disk": on_disk,
        "unlisted_bytes": unlisted,
    }


def clean(s: dict) -> bool:
    """Every file on disk is listed and every listed file exists."""
    return s["listed"] == s["on_disk"] and s["unlisted_bytes"] == 0


@pytest.fixture
def base(tmp_path):
    """A warehouse holding a good DAY1 snapshot (3,000 items), and its state."""
    db = tmp_path / "w.duckdb"
    paths, expect = write_export(tmp_path / "good1", items(3000))
    res = load(db, DAY1, paths, expect)
    assert res.row_count == 3000
    s = state(db)
    assert clean(s) and s["latest"][:2] == (3000, 3000)
    return db, s


# --- corrupt exports: refused before anything is visible ---------------------------------


def _refused(db, before, day, paths, expect, exc_type, *needles):
    with pytest.raises(exc_type) as info:
        load(db, day, paths, expect)
    msg = str(info.value)
    for n in needles:
        assert n in msg, msg
    after = state(db)
    assert after == before, "a refused load changed the warehouse"
    return msg


def test_item_count_mismatch_is_refused_before_commit(base, tmp_path):
    db, before = base
    paths, expect = write_export(tmp_path / "short", items(3000, "b"))
    # the manifest says one more item in the second file than the file holds
    files = (expect.files[0], ExpectedFile(expect.files[1].name, 1501, expect.files[1].local_path))
    bad = Expectation(expect.export, 3001, files, ("pk",))
    msg = _refused(db, before, DAY1, paths, bad, SnapshotCheckError, bad.export, "3000 rows")
    assert "itemCount 3001" in msg and "part-1.json.gz: 1500 items, manifest says 1501" in msg
    assert "part-0" not in msg.split("itemCount")[1]  # only the file that differs is named


def test_duplicated_item_is_refused_before_commit(base, tmp_path):
    db, before = base
    rows = items(2000, "c")
    rows.insert(1500, dict(rows[10]))  # one item line repeated, as a corrupt export would
    paths, expect = write_export(tmp_path / "dup", rows)
    msg = _refused(db, before, DAY2, paths, expect, SnapshotCheckError, "repeat a primary key")
    assert "pk='c0000010'" in msg and "part-0.json.gz line 11" in msg
    assert "part-1.json.gz line" in msg  # the repeated line, in the second file


def test_truncated_gzip_names_the_file(base, tmp_path):
    db, before = base
    paths, expect = write_export(tmp_path / "trunc", items(3000, "d"))
    data = pathlib.Path(paths[1]).read_bytes()
    pathlib.Path(paths[1]).write_bytes(data[: len(data) // 2])
    msg = _refused(db, before, DAY2, paths, expect, ExportReadError, "part-1.json.gz")
    assert "cut short" in msg


def test_non_json_line_names_file_and_line(base, tmp_path):
    db, before = base
    paths, expect = write_export(tmp_path / "nonjson", items(100, "e"), files=1)
    with gzip.open(paths[0], "at", encoding="utf-8") as out:
        out.write('{"Item":{"pk":{"S":"zz"}\n')  # a cut line
    msg = _refused(db, before, DAY2, paths, expect, ExportReadError, "part-0.json.gz line 101")
    assert "not a JSON line" in msg


def test_unknown_type_tag_names_file_line_and_attribute(base, tmp_path):
    db, before = base
    rows = items(100, "f")
    rows[41]["qty"] = {"X": "3"}
    paths, expect = write_export(tmp_path / "tag", rows, files=1)
    msg = _refused(db, before, DAY2, paths, expect, ExportReadError, "part-0.json.gz line 42")
    assert "attribute qty" in msg and "unknown DynamoDB type tag 'X'" in msg


# --- kills: at 30 / 60 / 90 % of a load and at each seam ---------------------------------


def _child(db, day, paths, expect, env_extra=None):
    args = {
        "warehouse": str(db),
        "schema": SCHEMA,
        "table": TABLE,
        "day": day.isoformat(),
        "files": paths,
        "expect": {
            "export": expect.export,
            "item_count": expect.item_count,
            "files": [[f.name, f.item_count, f.local_path] for f in expect.files],
            "keys": list(expect.key_attributes),
        },
    }
    env = {**os.environ, **(env_extra or {})}
    env.pop(faults.ENV_VAR, None) if not env_extra else None
    return subprocess.Popen(
        [sys.executable, "-m", "ddb_assets_tests.fault_child", json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_start(proc) -> float:
    line = proc.stdout.readline()
    assert line.strip() == "START", (line, proc.stderr.read() if proc.poll() is not None else "")
    return time.monotonic()


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A larger export for the timed kills."""
    d = tmp_path_factory.mktemp("big")
    return write_export(d / "export", items(240_000, "g"), files=4)


def _copy_warehouse(db: pathlib.Path, to: pathlib.Path) -> pathlib.Path:
    to.mkdir()
    shutil.copy(db, to / db.name)
    shutil.copytree(f"{db}.snapshots", to / f"{db.name}.snapshots")
    return to / db.name


def _timed_load(db, paths, expect) -> float:
    """Seconds from START to the end of a whole load in a child (the reference for a kill)."""
    proc = _child(db, DAY2, paths, expect)
    started = _wait_start(proc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return time.monotonic() - started


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_kill_9_during_a_load_loses_and_duplicates_nothing(base, big, fraction, tmp_path):
    """The reference duration is a whole load of the same export into a copy of the same
    warehouse, just before (warm caches, the same machine load). The machine is shared, so a
    load can run faster than its reference and end before the kill: then that attempt is
    discarded (a fresh copy, the faster time as reference) and the kill tried again."""
    base_db, before = base
    paths, expect = big
    duration = _timed_load(_copy_warehouse(base_db, tmp_path / "ref"), paths, expect)
    for attempt in range(4):
        db = _copy_warehouse(base_db, tmp_path / f"try{attempt}")
        proc = _child(db, DAY2, paths, expect)
        started = _wait_start(proc)
        time.sleep(max(0.0, started + fraction * duration - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            break
        duration = min(duration, time.monotonic() - started)  # it ended first: too late
    assert proc.returncode == -signal.SIGKILL  # killed mid-load, not after it ended
    after_kill = state(db)
    committed = DAY2 in {d for d, _ in after_kill["loads"]}
    print(
        f"kill at {fraction:.0%} of {duration:.1f} s (attempt {attempt + 1}): "
        f"committed={committed}, left behind before the rerun: "
        f"{after_kill['unlisted_bytes']} bytes"
    )
    if committed:  # the kill came after COMMIT: the new snapshot, whole
        assert after_kill["latest"][:2] == (240_000, 240_000)
    else:  # before COMMIT: exactly the previous state (stray files at most)
        assert {k: after_kill[k] for k in ("listed", "latest", "loads")} == {
            k: before[k] for k in ("listed", "latest", "loads")
        }
    # the rerun loads the export exactly once and removes whatever the kill left behind
    res = load(db, DAY2, paths, expect)
    assert res.row_count == 240_000
    final = state(db)
    assert final["latest"][:2] == (240_000, 240_000)  # nothing lost, nothing duplicated
    assert final["loads"] == [(DAY1, 3000), (DAY2, 240_000)]
    assert clean(final), final


@pytest.mark.parametrize("seam", faults.SEAMS)
def test_kill_9_at_each_seam(base, tmp_path, seam):
    db, before = base
    paths, expect = write_export(tmp_path / "reload", items(3000, "h"))  # replaces DAY1
    proc = _child(db, DAY1, paths, expect, {faults.ENV_VAR: seam})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err
    after = state(db)
    if seam == "after_commit":
        assert after["latest"][2] == "h0000000"  # the new snapshot is committed
        assert after["unlisted_bytes"] > 0  # the replaced files were not removed yet
    else:
        assert {k: after[k] for k in ("listed", "latest", "loads")} == {
            k: before[k] for k in ("listed", "latest", "loads")
        }
        assert set(before["listed"]) <= set(after["on_disk"])  # previous files intact
    # the next load of the table removes what the crash left
    more, more_expect = write_export(tmp_path / "day2", items(10, "i"), files=1)
    load(db, DAY2, more, more_expect)
    final = state(db)
    assert clean(final), final


def test_two_concurrent_loads_of_the_same_day(base, tmp_path):
    db, _ = base
    a, ea = write_export(tmp_path / "ca", items(20_000, "j"))
    b, eb = write_export(tmp_path / "cb", items(20_000, "k"))
    procs = [_child(db, DAY2, a, ea), _child(db, DAY2, b, eb)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    s = state(db)
    assert s["latest"][:2] == (20_000, 20_000) and s["latest"][2][0] in "jk"  # one of them, whole
    assert s["loads"] == [(DAY1, 3000), (DAY2, 20_000)]
    assert clean(s), s


def test_two_concurrent_loads_of_different_days(base, tmp_path):
    db, _ = base
    a, ea = write_export(tmp_path / "da", items(20_000, "l"))
    b, eb = write_export(tmp_path / "db", items(15_000, "m"))
    procs = [_child(db, DAY2, a, ea), _child(db, dt.date(2026, 7, 3), b, eb)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    s = state(db)
    assert s["loads"] == [(DAY1, 3000), (DAY2, 20_000), (dt.date(2026, 7, 3), 15_000)]
    assert s["latest"][:2] == (15_000, 15_000)
    assert clean(s), s


def test_sweep_spares_a_concurrent_load_in_this_process(base, tmp_path):
    """Threads of one process share the warehouse: one load's sweep must not take the other
    one's not-yet-listed files for a crashed load's."""
    db, _ = base
    root = pathlib.Path(f"{db}.snapshots")
    orphan = root / SCHEMA / TABLE / "snapshot_date=2026-07-01" / "000099-deadbeef0000-0000.parquet"
    orphan.write_bytes(b"PAR1 left by a killed load")
    slow, slow_expect = write_export(tmp_path / "slow", items(60_000, "n"))
    fast, fast_expect = write_export(tmp_path / "fast", items(100, "o"), files=1)
    errors: list[BaseException] = []
    writing = threading.Event()
    release = threading.Event()
    shared = duckdb.connect(str(db))

    def hold():  # only the slow load's thread waits at the seam
        if threading.current_thread() is t:
            writing.set()
            release.wait(60)

    def run(paths, expect, day, hold_here):
        con = shared.cursor()
        try:
            if hold_here:
                with faults.injected("after_write", hold):
                    load_snapshot_duckdb(
                        con,
                        schema=SCHEMA,
                        table=TABLE,
                        snapshot_date=day,
                        data_files=paths,
                        expect=expect,
                    )
            else:
                load_snapshot_duckdb(
                    con,
                    schema=SCHEMA,
                    table=TABLE,
                    snapshot_date=day,
                    data_files=paths,
                    expect=expect,
                )
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            con.close()

    t = threading.Thread(target=run, args=(slow, slow_expect, DAY2, True))
    t.start()
    assert writing.wait(120)  # the slow load's files are written, not yet listed
    run(fast, fast_expect, dt.date(2026, 7, 3), False)  # its sweep runs now
    # the slow load's written, not yet listed files were spared by that sweep
    assert list((root / SCHEMA / TABLE / "snapshot_date=2026-07-02").glob("*.parquet"))
    assert not orphan.exists()  # while the dead load's file was removed
    release.set()
    t.join(120)
    shared.close()
    # A write-write conflict between the two transactions is DuckDB's right; a lost file is not.
    assert not orphan.exists()
    s = state(db)
    assert clean(s), s
    print("concurrent in-process loads:", [str(e)[:200] for e in errors])
    for exc in errors:
        assert "conflict" in str(exc).lower(), exc


# --- a disk that fills ---------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: pathlib.Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (root needed): {done.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: pathlib.Path) -> pathlib.Path:
    filler = path / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * (1 << 16))
            out.flush()
    return filler


def test_disk_fills_during_the_parquet_write(tmp_path):
    with small_disk(tmp_path / "disk", "6m") as disk:
        db = disk / "w.duckdb"
        paths, expect = write_export(tmp_path / "g1", items(2000, "p"), files=1)
        load(db, DAY1, paths, expect)
        before = state(db)
        big, big_expect = write_export(tmp_path / "huge", items(150_000, "q", noise=40), files=2)
        with pytest.raises(Exception) as info:  # noqa: B017 (the cause is asserted below)
            load(db, DAY2, big, big_expect)
        assert "No space left on device" in str(info.value) or "space" in str(info.value).lower()
        assert "no transaction is active" not in str(info.value)
        assert state(db) == before


def test_disk_fills_at_commit(tmp_path):
    with small_disk(tmp_path / "disk", "16m") as disk:
        db = disk / "w.duckdb"
        paths, expect = write_export(tmp_path / "g1", items(2000, "r"), files=1)
        load(db, DAY1, paths, expect)
        before = state(db)
        again, again_expect = write_export(tmp_path / "g2", items(30_000, "s"))
        filler: list[pathlib.Path] = []
        with faults.injected("before_commit", lambda: filler.append(_fill(disk))):
            with pytest.raises(Exception) as info:  # noqa: B017 (the cause is asserted below)
                load(db, DAY1, again, again_expect)
        msg = str(info.value)
        print("COMMIT on a full disk:", type(info.value).__name__, msg[:300], len(filler))
        assert "no transaction is active" not in msg
        assert "space" in msg.lower(), msg
        assert len(filler) == 1  # one attempt: a failed COMMIT is not retried another way
        filler[0].unlink()
        after = state(db)
        assert after == before, (before, after)
        # and the warehouse still loads
        load(db, DAY2, again, again_expect)
        assert clean(state(db))


def test_no_temporary_folders_outlive_a_load(base, tmp_path):
    db, _ = base
    import tempfile

    def ours() -> set[str]:
        return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("ddb_")}

    seen = ours()
    paths, expect = write_export(tmp_path / "t", items(100, "u"), files=1)
    load(db, DAY2, paths, expect)
    assert ours() <= seen
    shutil.rmtree(tmp_path / "t")


def test_gzip_cut_short_after_the_sampled_lines_names_the_file(base, tmp_path):
    """A file damaged past the lines the one-pass sample reads: the one-pass write meets
    it first, and the error still names the file."""
    db, before = base
    paths, expect = write_export(tmp_path / "late", items(60_000, "v"), files=1)
    data = pathlib.Path(paths[0]).read_bytes()
    pathlib.Path(paths[0]).write_bytes(data[: len(data) * 9 // 10])
    msg = _refused(db, before, DAY2, paths, expect, ExportReadError, "part-0.json.gz")
    assert "cut short" in msg
