"""ION exports transcoded to DYNAMODB_JSON before a load, one child interpreter per core
(:func:`ion_to_json_files`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ddb_assets.tables import codec
from ddb_assets.tables.duckdb.decoding import ExportReadError

# The child loads codec.py by its path: no package import, and the module's folder (which
# holds a types.py) never lands on sys.path.
_ION_CHILD = (
    "import importlib.util, sys; spec = importlib.util.spec_from_file_location('_ddb_codec', sys.argv[1]); "
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
    "m.ion_to_dynamodb_json(sys.argv[2], sys.argv[3])"
)


def ion_to_json_files(files: Sequence[str], tmp: str) -> list[str]:
    """Transcode ION files to DYNAMODB_JSON. The reader is pure Python, so with several
    files one child interpreter per core runs :mod:`ddb_assets.tables.codec` (loaded by path)
    (no fork of this process and its threads, no re-import of the caller's main module)."""
    dsts = [os.path.join(tmp, f"part-{i:05d}.json.gz") for i in range(len(files))]
    workers = min(len(files), os.cpu_count() or 1)
    if workers <= 1:
        for f, d in zip(files, dsts):
            try:
                codec.ion_to_dynamodb_json(f, d)
            except Exception as exc:
                raise ExportReadError(f"cannot read {f} as an ION export: {exc}") from exc
        return dsts
    import subprocess
    import sys

    pending = list(zip(files, dsts))
    running: list = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                f, d = pending.pop(0)
                running.append(
                    (
                        f,
                        subprocess.Popen(
                            [sys.executable, "-c", _ION_CHILD, codec.__file__, f, d],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                        ),
                    )
                )
            f, proc = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines()
                raise ExportReadError(
                    f"cannot read {f} as an ION export: {lines[-1] if lines else proc.returncode}"
                )
    finally:
        for _, proc in running:
            proc.kill()
            proc.wait()
    return dsts
