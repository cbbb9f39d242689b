"""Files of loads that died: found and removed by the next load of the same table.

A load writes its Parquet files under fresh names (``<load_seq>-<uuid>-<n>.parquet``) before
the transaction that lists them in ``T__files``; a process killed before that COMMIT leaves
files nobody lists, and one killed after it (before removing the files it replaced) leaves
the replaced ones. :func:`sweep` runs after every successful load's COMMIT: it removes every
file under the table's folder that ``T__files`` does not list, except the files of loads
still running in this process (:func:`running`). Other processes cannot be loading: a
DuckDB warehouse file is open read-write in one process at a time.

The race it avoids: a concurrent load in this process that commits while the sweep runs
stays registered until the sweep is over (deregistering waits for the sweep's lock), so its
freshly committed files are never taken for orphans.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from collections.abc import Callable, Iterable, Iterator

_lock = threading.Lock()
_running: set[str] = set()  # name prefixes of the loads writing files in this process


@contextlib.contextmanager
def running(prefix: str) -> Iterator[None]:
    """Register a load's file-name prefix for as long as it runs (its files are not
    orphans, listed or not)."""
    with _lock:
        _running.add(prefix)
    try:
        yield
    finally:
        with _lock:
            _running.discard(prefix)


def sweep(
    root: pathlib.Path, folder: pathlib.PurePosixPath, listed: Callable[[], Iterable[str]]
) -> list[tuple[str, int]]:
    """Remove the files under ``root/folder`` that ``listed()`` (paths relative to
    ``root``, read after the caller's COMMIT) does not name and no running load owns, and
    the folders left empty. Returns ``(relative path, bytes)`` of what was removed."""
    base = root / folder
    removed: list[tuple[str, int]] = []
    if not base.is_dir():
        return removed
    with _lock:
        keep = set(listed())
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if rel in keep or any(path.name.startswith(p) for p in _running):
                continue
            with contextlib.suppress(OSError):
                size = path.stat().st_size
                path.unlink()
                removed.append((rel, size))
        for d in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty
    return removed


def stale_temp_dirs(parent: str, prefix: str) -> list[str]:
    """Temporary folders ``<parent>/<prefix><pid>-*`` whose process is gone (a killed
    load's downloads), or whose process id now belongs to a process started after the
    folder was made (the id was reused): the caller removes them. A folder of a running
    process is never listed."""
    out = []
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            if not name.startswith(prefix):
                continue
            pid_text = name[len(prefix) :].split("-", 1)[0]
            if not pid_text.isdigit():
                continue
            path = os.path.join(parent, name)
            pid = int(pid_text)
            if not _alive(pid) or _started_after(pid, path):
                out.append(path)
    return out


def _started_after(pid: int, path: str) -> bool:
    """Whether process ``pid`` started after ``path`` was made (so it cannot own it). Linux
    only: the start time is ``/proc/<pid>/stat``'s field 22 (clock ticks after boot) plus
    the boot time from ``/proc/stat``; False wherever it cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            ticks = int(fp.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fp:
            boot = next(int(line.split()[1]) for line in fp if line.startswith("btime "))
        made = os.stat(path).st_mtime
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
    return started > made + 2.0  # btime is whole seconds: a margin


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
