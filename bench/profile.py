"""Where the DuckDB loader's time goes: every statement it runs, timed.

:func:`profile_load` passes :func:`load_snapshot_duckdb` a connection proxy that times
each ``execute`` (the loader's own code is not touched), and times the ION transcode
separately. Statements are grouped by what they do (stats pass, typed COPY, ...).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time


class TimingConnection:
    def __init__(self, con):
        self._con = con
        self.log: list[tuple[str, float]] = []
        self.params: list[tuple[str, object]] = []

    def execute(self, sql, params=None):
        t0 = time.perf_counter()
        res = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        self.log.append((sql, time.perf_counter() - t0))
        self.params.append((sql, params))
        return res

    def __getattr__(self, name):
        return getattr(self._con, name)


def classify(sql: str) -> str:
    s = " ".join(sql.split())
    if s.startswith("COPY (") and "FORMAT parquet" in s:
        if "__snapshots" in s:
            return "snapshot table of an older warehouse moved to files"
        return "typed COPY (SELECT ...) TO Parquet (the conversion)"
    if "json_group_structure" in s:
        return "structure of the sample"
    if "unnest($lines)" in s:
        return "sample: the first lines of files spread over the export"
    if s.startswith("CREATE TEMP TABLE _ddb_stage") and "FROM (SELECT json FROM _ddb_stage" in s:
        return "sample parsed and counted (one-pass plan)"
    if s.startswith("SELECT count(*), count(*) FILTER (WHERE") and "to_json(" in s:
        return "sample: attributes the length check measures exactly"
    if s.startswith("SELECT count(") and "read_parquet(" in s:
        return "statistics read back from the typed columns (one pass)"
    if "_bad AS json" in s or "_bad IS NOT NULL" in s:
        return "rest: rows the guess missed, parsed again (only those)"
    if s.startswith("CREATE TEMP TABLE _ddb_stage") and "read_ndjson_objects" in s:
        return "stage: one parse of the export (+ row length check)"
    if "unnest(" in s and ("'NS'" in s or ".NS" in s):
        return "number-set shapes pass"
    if "_ddb_numshape(" in s or "histogram(" in s or s.startswith("SELECT count(a1)"):
        return "stats pass (types, number shapes, unknown attributes)"
    if "read_ndjson_objects" in s:
        return "other scan of the export"
    return "metadata / DDL / view"


def profile_load(args: dict) -> dict:
    import duckdb

    from ddb_assets.tables.duckdb import load_snapshot_duckdb
    from ddb_assets.tables.duckdb.ion import ion_to_json_files

    out: dict = {"statements": {}}
    with tempfile.TemporaryDirectory(prefix="ddb_bench_prof_", dir=args.get("tmp")) as tmp:
        files = args["files"]
        if args["format"] == "ION":
            t0 = time.perf_counter()
            os.makedirs(os.path.join(tmp, "transcode"))
            ion_to_json_files(files, os.path.join(tmp, "transcode"))
            out["ion_transcode_seconds"] = time.perf_counter() - t0
        raw = duckdb.connect(os.path.join(tmp, "w.duckdb"))
        con = TimingConnection(raw)
        t0 = time.perf_counter()
        load_snapshot_duckdb(
            con,
            schema="bench",
            table="orders",
            snapshot_date=dt.date(2026, 1, 1),
            data_files=files,
            export_format=args["format"],
            work_dir=tmp,
        )
        out["total_seconds"] = time.perf_counter() - t0
        for sql, secs in con.log:
            k = classify(sql)
            out["statements"][k] = out["statements"].get(k, 0.0) + secs
        out["scans"] = sum(1 for sql, _ in con.log if "read_ndjson_objects" in sql)
        out["statement_count"] = {}
        for sql, _ in con.log:
            k = classify(sql)
            out["statement_count"][k] = out["statement_count"].get(k, 0) + 1
        if args.get("variants", True) and args["format"] != "ION":
            # The slowest statement of each kind is the one re-run below.
            slowest = sorted(range(len(con.log)), key=lambda i: -con.log[i][1])
            out["variants"] = _variants(raw, [con.params[i] for i in slowest], files)
        raw.close()
    return out


def _timed(raw, sql, params) -> float | str:
    if "_ddb_stage" in sql:  # the load's temporary stage is dropped when the load ends
        return "n/a (reads the load's temporary stage)"
    t0 = time.perf_counter()
    try:
        raw.execute(sql, params).fetchall()
    except Exception as exc:  # noqa: BLE001 - a variant that does not apply is reported
        return f"n/a ({type(exc).__name__})"
    return time.perf_counter() - t0


def _variants(raw, statements, files) -> dict:
    """Re-run the loader's own statements, and cheaper variants of them, to size their parts."""
    out: dict = {}
    out["only read_ndjson_objects (gunzip + split lines, no parse)"] = _timed(
        raw,
        "SELECT count(*), sum(length(json)) FROM read_ndjson_objects(?, compression = 'gzip')",
        [files],
    )
    out["only parse every line (json_keys of Item)"] = _timed(
        raw,
        "SELECT sum(len(json_keys(json, '/Item'))) FROM read_ndjson_objects(?, compression = 'gzip')",
        [files],
    )
    copies = [(q, p) for q, p in statements if classify(q).startswith("typed COPY")]
    if copies:
        q, p = copies[0]
        select = "CREATE OR REPLACE TEMP TABLE _bench_x AS " + q[len("COPY (") : q.rindex(") TO '")]
        out["typed SELECT as the loader writes it (into a temp table)"] = _timed(raw, select, p)
        out["python UDF calls in it"] = len(re.findall(r"_ddb_plain_json\w*\(", select))
    stats = [(q, p) for q, p in statements if classify(q).startswith("stats pass")]
    if stats:
        q, p = stats[0]
        out["stats pass as the loader writes it"] = _timed(raw, q, p)
        cheap = re.sub(r"_ddb_numshape\(([^()]*)\)", r"{'i': length(\1), 's': 0}", q)
        if cheap != q:
            out["same, number shapes replaced by length()"] = _timed(raw, cheap, p)
    return out
