"""Measurements that run in a fresh child process, so each gets its own peak RSS.

``python -m bench.child <task> '<json args>'`` prints one JSON line (the result) last.
Peak RSS is ``ru_maxrss`` of the child itself (and, for the multi-process parse limit, of
its worker processes), read at the end; ``rss_start_mb`` is the interpreter with the
task's imports loaded, before any data is read.

Tasks:

* ``load``      :func:`ddb_assets.tables.duckdb.load_snapshot_duckdb` into a fresh
                DuckDB file (DuckDB's default threads = cores); optionally then reads the
                column chunk sizes of the typed snapshot's own Parquet files for the
                bytes-scanned figure.
* ``baseline``  what users write today: gzip + ``json.loads`` + boto3 ``TypeDeserializer``
                per item, rows held in a list, ``pandas.DataFrame`` -> Parquet (pyarrow).
                Sets become sorted lists, Binary becomes bytes and M/L become JSON text
                (pyarrow cannot convert Python sets, ``Binary`` or mixed-type lists).
* ``parse``     the machine's limit: gunzip + JSON parse of every line (orjson, a project
                dependency; stdlib json if it is missing), results discarded, one process
                per core over the files.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import resource
import sys
import tempfile
import time


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (user + system)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def task_load(args: dict) -> dict:
    import duckdb

    from ddb_assets.tables.duckdb import load_snapshot_duckdb
    from ddb_assets.tables.types import ColumnOverride

    rss0 = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="ddb_bench_load_", dir=args.get("tmp")) as tmp:
        con = duckdb.connect(os.path.join(tmp, "warehouse.duckdb"))
        overrides = (
            {"created_at": ColumnOverride(type="timestamp")} if args.get("overrides") else None
        )
        c0, t0 = _cpu(), time.perf_counter()
        res = load_snapshot_duckdb(
            con,
            schema="bench",
            table="orders",
            snapshot_date=dt.date(2026, 1, 1),
            data_files=args["files"],
            export_format=args["format"],
            overrides=overrides,
            work_dir=tmp,
        )
        secs = time.perf_counter() - t0
        out = {
            "seconds": secs,
            "cpu_seconds": _cpu() - c0,
            "rows": res.row_count,
            "rss_start_mb": rss0,
            "peak_rss_mb": _rss_mb(),
            "columns": [(c.name, c.sql_type) for c in res.columns],
            "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        }
        if args.get("warm"):
            # The daily case: the next day's snapshot, with yesterday's snapshot in place.
            c0, t0 = _cpu(), time.perf_counter()
            res2 = load_snapshot_duckdb(
                con,
                schema="bench",
                table="orders",
                snapshot_date=dt.date(2026, 1, 2),
                data_files=args["files"],
                export_format=args["format"],
                overrides=overrides,
                work_dir=tmp,
            )
            out["warm"] = {
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": _cpu() - c0,
                "rows": res2.row_count,
                "peak_rss_mb": _rss_mb(),
            }
        if args.get("parquet"):
            out["parquet"] = _parquet_bytes(con, args["queries"])
        con.close()
    return out


def _parquet_bytes(con, queries: list[list[str]]) -> dict:
    """Bytes a scan of each column pair reads in the latest snapshot's own Parquet files
    (the loader writes them; the query runs on the typed table over them)."""
    import pyarrow.parquet as pq

    from ddb_assets.sql.identifiers import quote_ident
    from ddb_assets.tables.duckdb import snapshot_root

    root = snapshot_root(con)
    paths = [
        str(root / f)
        for (f,) in con.execute(
            "SELECT file FROM bench.orders__files WHERE snapshot_date = (SELECT max(snapshot_date) FROM bench.orders__files)"
        ).fetchall()
    ]
    sizes: dict[str, int] = {}
    row_groups = 0
    for path in paths:
        md = pq.ParquetFile(path).metadata
        row_groups += md.num_row_groups
        for rg in range(md.num_row_groups):
            g = md.row_group(rg)
            for c in range(g.num_columns):
                col = g.column(c)
                name = col.path_in_schema.split(".")[0]
                sizes[name] = sizes.get(name, 0) + col.total_compressed_size
    result = {
        "file_bytes": sum(os.path.getsize(p) for p in paths),
        "files": len(paths),
        "row_groups": row_groups,
        "column_bytes": sizes,
        "queries": [],
    }
    for cols in queries:
        missing = [c for c in cols if c not in sizes]
        if missing:
            raise KeyError(f"columns {missing} not in the typed table: {sorted(sizes)}")
        # The query itself, on the typed table, to show it runs on the typed columns.
        sql = (
            f"SELECT {quote_ident(cols[0])}, sum({quote_ident(cols[1])}) FROM bench.orders "
            f"GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )
        top = con.execute(sql).fetchone()
        result["queries"].append(
            {
                "columns": cols,
                "bytes": sum(sizes[c] for c in cols),
                "top_group": [str(v) for v in top],
            }
        )
    return result


def _item_to_row(item: dict, des) -> dict:
    row = {}
    for k, v in item.items():
        if "B" in v:  # exports carry base64 text; TypeDeserializer wants bytes
            v = {"B": base64.b64decode(v["B"])}
        elif "BS" in v:
            v = {"BS": [base64.b64decode(b) for b in v["BS"]]}
        x = des.deserialize(v)
        if isinstance(x, set):
            x = sorted(x)
        elif hasattr(x, "value") and isinstance(x.value, bytes):  # boto3 Binary
            x = x.value
        elif isinstance(x, (dict, list)):
            x = json.dumps(x, default=str)
        row[k] = x
    return row


def task_baseline(args: dict) -> dict:
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    rss0 = _rss_mb()
    des = TypeDeserializer()
    with tempfile.TemporaryDirectory(prefix="ddb_bench_base_", dir=args.get("tmp")) as tmp:
        c0, t0 = _cpu(), time.perf_counter()
        rows = []
        for p in args["files"]:
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                for line in fh:
                    rows.append(_item_to_row(json.loads(line)["Item"], des))
        t_parse = time.perf_counter() - t0
        df = pd.DataFrame(rows)
        del rows
        df.to_parquet(os.path.join(tmp, "orders.parquet"), engine="pyarrow", index=False)
        secs = time.perf_counter() - t0
        n = len(df)
    return {
        "seconds": secs,
        "cpu_seconds": _cpu() - c0,
        "rows": n,
        "deserialize_seconds": t_parse,
        "rss_start_mb": rss0,
        "peak_rss_mb": _rss_mb(),
    }


def _parse_file(path: str) -> int:
    try:  # the fastest parser available: the machine's limit, not stdlib's
        from orjson import loads
    except ImportError:
        loads = json.loads
    n = 0
    with gzip.open(path, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


def task_parse(args: dict) -> dict:
    import multiprocessing as mp

    rss0 = _rss_mb()
    procs = int(args.get("processes") or os.cpu_count() or 1)
    c0, t0 = _cpu(), time.perf_counter()
    if procs > 1:
        with mp.get_context("fork").Pool(procs) as pool:
            n = sum(pool.map(_parse_file, args["files"], chunksize=1))
    else:
        n = sum(_parse_file(p) for p in args["files"])
    secs = time.perf_counter() - t0
    return {
        "seconds": secs,
        "cpu_seconds": _cpu() - c0,
        "rows": n,
        "processes": procs,
        "rss_start_mb": rss0,
        "peak_rss_mb": max(_rss_mb(), _rss_mb(resource.RUSAGE_CHILDREN)),
    }


def task_profile(args: dict) -> dict:
    """Where the loader's time goes: the statements it runs, timed (see bench.profile)."""
    from bench.profile import profile_load

    return profile_load(args)


def task_freshness(args: dict) -> dict:
    from bench.stack import freshness

    return freshness(args)


def task_sensor(args: dict) -> dict:
    from bench.stack import sensor_tick

    return sensor_tick(args)


TASKS = {
    "load": task_load,
    "baseline": task_baseline,
    "parse": task_parse,
    "profile": task_profile,
    "freshness": task_freshness,
    "sensor": task_sensor,
}


def main(argv: list[str]) -> None:
    task, raw = argv[0], argv[1]
    out = TASKS[task](json.loads(raw))
    sys.stdout.write("\n" + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
