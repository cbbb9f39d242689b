"""Where the DuckDB loader's time goes: every statement it runs, timed.

:func:`profile_load` passes :func:`load_snapshot_duckdb` a connection proxy that times
each ``execute`` (the loader's own code is not touched), and times the ION transcode
separately. Statements are grouped by what they do (stats pass, typed INSERT, ...).
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
    if "histogram(" in s:
        return "stats pass (types, number shapes, unknown attributes)"
    if "unnest(json_transform" in s:
        return "number-set shapes pass"
    if s.startswith("INSERT INTO") and "read_ndjson_objects" in s:
        return "typed INSERT ... SELECT (the conversion)"
    if "read_ndjson_objects" in s:
        return "other scan of the export"
    return "metadata / DDL / view"


def profile_load(args: dict) -> dict:
    import duckdb

    from ddb_assets.tables import codec
    from ddb_assets.tables.duckdb_engine import load_snapshot_duckdb

    out: dict = {"statements": {}}
    with tempfile.TemporaryDirectory(prefix="ddb_bench_prof_", dir=args.get("tmp")) as tmp:
        files = args["files"]
        if args["format"] == "ION":
            t0 = time.perf_counter()
            for i, f in enumerate(files):
                codec.ion_to_dynamodb_json(f, os.path.join(tmp, f"t{i}.json.gz"))
            out["ion_transcode_seconds"] = time.perf_counter() - t0
        raw = duckdb.connect(os.path.join(tmp, "w.duckdb"))
        con = TimingConnection(raw)
        calls = {"plain_json": 0, "value_text": 0}
        orig = {"plain_json": codec.plain_json, "value_text": codec.value_text}
        t0 = time.perf_counter()
        load_snapshot_duckdb(con, schema="bench", table="orders", snapshot_date=dt.date(2026, 1, 1),
                             data_files=files, export_format=args["format"], work_dir=tmp)
        out["total_seconds"] = time.perf_counter() - t0
        for sql, secs in con.log:
            k = classify(sql)
            out["statements"][k] = out["statements"].get(k, 0.0) + secs
        out["scans"] = sum(1 for sql, _ in con.log if "read_ndjson_objects" in sql)
        # Variants of the typed INSERT, to size its parts (each into a temp table).
        inserts = [(sql, params) for sql, params in con.params if classify(sql).startswith("typed INSERT")]
        if inserts and args.get("variants", True):
            sql, params = inserts[-1]
            select = "CREATE OR REPLACE TEMP TABLE _bench_x AS " + sql[sql.index(") SELECT ") + 2:]
            src = sql[sql.index(" FROM (SELECT v[1]"):] if " FROM (SELECT v[1]" in sql else None
            no_udf = re.sub(r"CAST\(_ddb_plain_json\((CAST\(\w+ AS VARCHAR\))\) AS JSON\)", r"CAST(\1 AS JSON)", select)
            variants = {"typed SELECT as the loader writes it": (select, params),
                        "same, M/L kept as DynamoDB JSON (no Python UDF)": (no_udf, params)}
            if src:
                variants["only json_extract of the attributes (no conversion)"] = (
                    "CREATE OR REPLACE TEMP TABLE _bench_x AS SELECT *" + src, params[1:])
            variants["only read_ndjson_objects (parse, keep text)"] = (
                "SELECT count(*), sum(length(json)) FROM read_ndjson_objects(?, compression = 'gzip')", [files if args["format"] != "ION" else None])
            out["insert_variants"] = {}
            for name, (q, ps) in variants.items():
                if None in ps:
                    continue
                t0 = time.perf_counter()
                raw.execute(q, ps)
                out["insert_variants"][name] = time.perf_counter() - t0
            out["udf_calls_in_insert"] = select.count("_ddb_plain_json(")
        stats = [(sql, params) for sql, params in con.params if classify(sql).startswith("stats pass")]
        if stats and args.get("variants", True):
            sql, params = stats[-1]
            cheap = re.sub(r"_ddb_numshape\((n\d+)\)", r"{'i': length(\1), 's': 0}", sql)
            out["stats_variants"] = {}
            for name, q in (("stats pass as the loader writes it", sql),
                            ("same, number shapes replaced by length()", cheap)):
                t0 = time.perf_counter()
                raw.execute(q, params).fetchall()
                out["stats_variants"][name] = time.perf_counter() - t0
        raw.close()
    return out
