"""ION exports transcoded to DYNAMODB_JSON before a load (:func:`ion_to_json_files`).

The reader is Amazon's ion-rs, in the small Rust extension ``ddb_ion`` (``./ddb_ion``,
built by ``uv sync``): each ION file (gzip, text or binary Ion) becomes one gzip
DYNAMODB_JSON file, exactly as :func:`ddb_assets.tables.codec.ion_lines_to_dynamodb_json`
(the amazon.ion reference) writes it, byte for byte, so both formats share one typed-load
path. The files are spread over the DuckDB connection's threads, with the GIL released,
and streamed (memory does not grow with the export). There is no fallback reader: without
the extension an ION load fails with one line naming the fix (a silent fallback would be
~8x slower; ``bench/RESULTS.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ddb_assets.tables.duckdb.decoding import ExportReadError

# The transcoded files are temporary and read once, by DuckDB's gzip reader (the export
# path's only reader). Level 0 (stored blocks) costs ~0.1 CPU-s per million items where
# level 1 costs ~0.9 and DuckDB inflates it ~0.4 CPU-s slower: the ION load's speed target
# (half the JSON load's) needs that second. The price is temporary disk: ~320 MB per million
# benchmark items instead of ~80 MB (bench/RESULTS.md, "ION").
GZIP_LEVEL = 0

MISSING = (
    "ION exports need ddb_ion (Amazon's ion-rs as a Python extension, ./ddb_ion), which is "
    "not installed: install Rust (cargo) and run `uv sync --locked`"
)


class IonReaderMissing(RuntimeError):
    """The compiled ION reader is not installed."""


def reader():
    """The ``ddb_ion`` module, or :class:`IonReaderMissing` with the fix."""
    try:
        import ddb_ion
    except ImportError:
        raise IonReaderMissing(MISSING) from None
    return ddb_ion


def ion_to_json_files(files: Sequence[str], tmp: str, threads: int | None = None) -> list[str]:
    """Transcode ION export files to gzip DYNAMODB_JSON files in ``tmp`` (their paths, in
    order), over ``threads`` threads (default: the machine's cores, at most one per file).
    A file that is not a DynamoDB ION export raises :class:`ExportReadError` naming it."""
    ion = reader()
    dsts = [os.path.join(tmp, f"part-{i:05d}.json.gz") for i in range(len(files))]
    if not files:
        return dsts
    threads = max(1, min(len(files), threads or os.cpu_count() or 1))
    try:
        ion.transcode_files(list(files), dsts, threads, GZIP_LEVEL)
    except ValueError as exc:
        src, _, what = str(exc).partition(": ")
        raise ExportReadError(f"cannot read {src} as an ION export: {what}") from None
    return dsts
