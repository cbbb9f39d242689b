"""DuckDB's settings during a load: a buffer pool capped per DuckDB thread (larger for
exports of long lines) and no insertion order to keep (:func:`load_settings`, put back
afterwards)."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Sequence

from ddb_assets.sql.literals import setting_literal
from ddb_assets.tables.duckdb.sample import spread

# DuckDB's own memory during a load into a file-backed warehouse (the caller's limit if
# lower), per DuckDB thread: each thread reads with its own buffers and fills its own row
# groups. The one-pass load streams (files -> typed row groups written to the file), so a
# small buffer pool keeps its peak memory flat whatever the export's size; the staged load
# spills its stage to disk within a larger one. Each is (bytes per thread, bytes less in
# all, at least). Measured on the 1M-item benchmark export, the one-pass load needs 64 MiB
# with 1 thread, 144 with 2, 256 with 3, 352 with 4, 768 with 8 (less fails); the staged
# one 256 with 2, 512 with 4.
DIRECT_MEMORY_PER_THREAD = (104 * 1024 * 1024, 48 * 1024 * 1024, 64 * 1024 * 1024)


LOAD_MEMORY_PER_THREAD = (128 * 1024 * 1024, 0, 128 * 1024 * 1024)


# Exports whose lines are long (items with large attributes) need more per thread: DuckDB's
# JSON reader buffers and its 2,048-row vectors grow with the line. Measured with 2 threads
# on 12,000-24,000-item exports: lines of 0.57 KB load in one pass within 160 MiB; lines of
# 1.2 KB fail there, and lines of 2, 8, 35 and 350 KB need up to 512 MiB in one pass (peak
# RSS 355-415 MB) and up to 1 GiB staged. Chosen when the longest of the first lines of a
# few files is :data:`LONG_LINE` bytes or more.
LONG_LINE = 512


DIRECT_MEMORY_PER_THREAD_LONG = (288 * 1024 * 1024, 48 * 1024 * 1024, 240 * 1024 * 1024)


LOAD_MEMORY_PER_THREAD_LONG = (512 * 1024 * 1024, 0, 512 * 1024 * 1024)


def longest_line(files: Sequence[str], lines: int = 64, picks: int = 4) -> int:
    """The longest of the first ``lines`` lines of up to ``picks`` files spread over the
    export; 0 for a file that cannot be read (the load reports why)."""
    import gzip
    import zlib

    n = len(files)
    longest = 0
    for i in spread(n, picks):
        try:
            with gzip.open(files[i], "rb") as fh:
                longest = max([longest] + [len(line) for line in itertools.islice(fh, lines)])
        except (OSError, EOFError, zlib.error):
            continue
    return longest


def load_memory_limit(con, per_thread: tuple[int, int, int]) -> int:
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    each, less, least = per_thread
    return max(least, each * max(threads, 1) - less)


@contextlib.contextmanager
def load_settings(con, memory_limit: int):
    """Settings for the load, restored afterwards: no insertion order to keep, and a
    buffer pool of at most ``memory_limit`` bytes when the warehouse is a file (an
    in-memory one must hold its data)."""
    wanted: dict[str, bool | int | float | str] = {"preserve_insertion_order": False}
    in_file = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if in_file and in_file[0]:
        current = parse_size(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        if current is None or current > memory_limit:
            wanted["memory_limit"] = f"{memory_limit}B"
    old = {}
    for name, value in wanted.items():
        old[name] = con.execute("SELECT current_setting(?)", [name]).fetchone()[0]
        con.execute(f"SET {name} = {setting_literal(value)}")
    try:
        yield
    finally:
        for name, value in old.items():
            if name == "memory_limit":
                # DuckDB reports the limit truncated to 0.1 of its unit: put back the middle
                # of that interval, which reports the same text again.
                value = f"{parse_size(value, middle=True)}B"
            con.execute(f"SET {name} = {setting_literal(value)}")


_SIZE_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text, middle: bool = False) -> int | None:
    """Bytes of a DuckDB size setting such as ``'19.2 GiB'``; None if unreadable.
    ``middle``: the middle of the values DuckDB shows with that text (it truncates)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        return None
    number, unit = float(m.group(1)), _SIZE_UNITS[m.group(2).lower()]
    if middle and unit > 1 and "." in m.group(1):
        number += 0.5 * 10 ** -len(m.group(1).split(".")[1])
    return int(number * unit)
