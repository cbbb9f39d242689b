"""Throughput check for the DuckDB typed load (not part of the test suite).

    python -m ddb_assets.tables.bench --items 200000 [--format ION] [--baseline] [--data DIR]

Generates an export (4 gzip files) shaped like a typical table, loads it with
:func:`load_snapshot_duckdb` and prints items/s, CPU seconds (this process and its children)
and peak RSS (ru_maxrss of this process). ``--baseline`` runs gzip + json.loads + boto3
TypeDeserializer into pandas for comparison. ``--data DIR`` keeps the generated export in DIR
and reuses it (same items, format and seed) on later runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import resource
import tempfile
import time

from ddb_assets.tables.codec import item_to_ion_line


def make_item(i: int, rng: random.Random) -> dict:
    item = {
        "pk": {"S": f"user#{i:09d}"},
        "sk": {"S": f"order#{rng.randrange(10**6):06d}"},
        "status": {"S": rng.choice(["NEW", "PAID", "SHIPPED", "CANCELLED"])},
        "amount": {"N": f"{rng.randrange(10**7) / 100:.2f}"},
        "quantity": {"N": str(rng.randrange(1, 50))},
        "createdAt": {
            "S": f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T0{rng.randrange(10)}:00:00Z"
        },
        "gift": {"BOOL": rng.random() < 0.1},
        "tags": {"SS": rng.sample(["a", "b", "c", "d", "e"], 2)},
        "address": {
            "M": {
                "city": {"S": "Tokyo"},
                "zip": {"S": f"{rng.randrange(10**7):07d}"},
                "geo": {"M": {"lat": {"N": "35.6"}, "lon": {"N": "139.7"}}},
            }
        },
    }
    if i % 3 == 0:
        item["lines"] = {
            "L": [{"M": {"sku": {"S": f"s{k}"}, "n": {"N": str(k)}}} for k in range(2)]
        }
    return item


def write_export(
    directory: str, items: int, files: int = 4, fmt: str = "DYNAMODB_JSON", seed: int = 7
) -> list[str]:
    rng = random.Random(seed)
    paths = []
    per = (items + files - 1) // files
    for f in range(files):
        ext = "ion.gz" if fmt == "ION" else "json.gz"
        path = os.path.join(directory, f"part-{f}.{ext}")
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
            for i in range(f * per, min(items, (f + 1) * per)):
                item = make_item(i, rng)
                if fmt == "ION":
                    out.write(item_to_ion_line(item) + "\n")
                else:
                    out.write(json.dumps({"Item": item}, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths


def baseline(paths: list[str]) -> int:
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    rows = []
    for p in paths:
        with gzip.open(p, "rt") as fh:
            for line in fh:
                item = json.loads(line)["Item"]
                rows.append({k: des.deserialize(v) for k, v in item.items()})
    return len(pd.DataFrame(rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--format", default="DYNAMODB_JSON", choices=["DYNAMODB_JSON", "ION"])
    ap.add_argument("--data", help="directory to keep (and reuse) the generated export in")
    args = ap.parse_args()
    import duckdb

    from ddb_assets.tables.duckdb import load_snapshot_duckdb
    from ddb_assets.tables.types import ColumnOverride

    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            data = os.path.join(args.data, f"{args.format}-{args.items}")
            ext = "ion.gz" if args.format == "ION" else "json.gz"
            paths = [os.path.join(data, f"part-{f}.{ext}") for f in range(4)]
            if not all(os.path.exists(p) for p in paths):
                os.makedirs(data, exist_ok=True)
                paths = write_export(data, args.items, fmt=args.format)
        else:
            paths = write_export(tmp, args.items, fmt=args.format)
        size = sum(os.path.getsize(p) for p in paths)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0, c0 = time.perf_counter(), os.times()
        if args.baseline:
            n = baseline(paths)
        else:
            con = duckdb.connect(os.path.join(tmp, "w.duckdb"))
            con.execute(f"SET threads = {args.threads}")
            res = load_snapshot_duckdb(
                con,
                schema="bench",
                table="orders",
                snapshot_date=dt.date(2024, 1, 1),
                data_files=paths,
                export_format=args.format,
                overrides={"createdAt": ColumnOverride(type="timestamp")},
            )
            n = res.row_count
        secs, c1 = time.perf_counter() - t0, os.times()
        cpu = sum(c1[:4]) - sum(c0[:4])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "items": n,
                    "gz_bytes": size,
                    "seconds": round(secs, 2),
                    "cpu_seconds": round(cpu, 2),
                    "items_per_s": round(n / secs),
                    "peak_rss_mb": round(rss / 1024),
                    "rss_before_load_mb": round(rss0 / 1024),
                    "mode": "baseline" if args.baseline else "duckdb",
                }
            )
        )


if __name__ == "__main__":
    main()
