"""What a load samples before it reads the whole export: the first lines of files spread
over the export (:func:`spread_sample`, the one-pass load) or of the first file
(:func:`sample_structure`, the staged load), bounded in lines (:data:`SAMPLE_ITEMS`) and in
bytes (:data:`SAMPLE_BYTES`)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

from ddb_assets.tables.duckdb.decoding import read_error, source_sql

SAMPLE_ITEMS = 10_000


# And at most this much JSON text: items can be 400 KB each (10,000 of them would be 4 GB,
# far beyond the load's capped memory). With such items the sample is a few dozen of them.
SAMPLE_BYTES = 8 * 1024 * 1024


def sample_structure(con, files: Sequence[str]) -> dict:
    """``json_group_structure`` of the first items' attributes (cheap: reads the start):
    :data:`SAMPLE_ITEMS` lines, fewer when the first lines are long
    (:data:`SAMPLE_BYTES`)."""
    params = {"files": list(files[:1])}
    try:
        size = (
            con.execute(
                f"SELECT avg(strlen(json)) FROM (SELECT json FROM {source_sql()} LIMIT 16)", params
            ).fetchone()[0]
            or 1
        )
        n = min(SAMPLE_ITEMS, max(16, int(SAMPLE_BYTES // size)))
        row = con.execute(
            f"SELECT json_group_structure(json -> '$.Item') FROM (SELECT json FROM {source_sql()} "
            f"LIMIT {n})",
            params,
        ).fetchone()
    except Exception as exc:
        raise read_error(con, exc, files) from exc
    structure = json.loads(row[0]) if row and row[0] else None
    return structure if isinstance(structure, dict) else {}


# Files the sample reads the first lines of (spread over the export), and one-pass attempts
# (each one after the first learns from the line that stopped the one before).
SAMPLE_FILES = 16


def spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indexes spread evenly over ``n`` files, the first and the last included."""
    return (
        sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
        if n > k >= 2
        else list(range(min(n, max(k, 1))))
    )


def spread_sample(con, name: str, files: Sequence[str]) -> None:
    """Temporary table ``name`` (one ``json`` column): the first lines of up to
    :data:`SAMPLE_FILES` files spread over the export (:data:`SAMPLE_ITEMS` in all, and
    at most :data:`SAMPLE_BYTES` of text), so an attribute that only some files have is seen. Read here (a few hundred KiB per
    file: DuckDB's reader would fill a buffer of megabytes per file)."""
    import gzip

    n = len(files)
    picks = spread(n, SAMPLE_FILES)
    per = max(1, -(-SAMPLE_ITEMS // len(picks)))
    budget = SAMPLE_BYTES // len(picks)  # per file; at least one line of each
    lines: list[str] = []
    for i in picks:
        used = 0
        with gzip.open(files[i], "rt", encoding="utf-8", newline="\n") as fh:
            for line in itertools.islice(fh, per):
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                    used += len(line)
                    if used >= budget:
                        break
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT CAST(unnest($lines) AS JSON) AS json", {"lines": lines}
    )
