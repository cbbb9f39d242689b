"""Named seams of a load where the fault-injection tests crash or starve the process.

Production code calls :func:`point` at each seam (``after_write``: the typed files are
written, nothing committed; ``before_commit``: every check passed, the COMMIT is next;
``after_commit``: committed, the replaced files not yet removed; ``after_download``: the
change history's step has downloaded and checked an export's files into its temporary
folder, nothing applied). Normally it does nothing.
A test sets ``DDB_ASSETS_FAULT_AT=<seam>`` in a child process's environment to have it
``kill -9`` itself there, or registers an in-process action (fill the disk, raise) with
:func:`injected`. Nothing here changes what a load does when no fault is asked for.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator

ENV_VAR = "DDB_ASSETS_FAULT_AT"
SEAMS = ("after_write", "before_commit", "after_commit")  # a snapshot load's
CHAIN_SEAMS = ("after_download",)  # a change-history step's
_actions: dict[str, Callable[[], None]] = {}


def point(seam: str) -> None:
    """The process reached ``seam``: run an injected action, or die if asked to."""
    action = _actions.get(seam)
    if action is not None:
        action()
    if os.environ.get(ENV_VAR) == seam:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def injected(seam: str, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` whenever a load in this process reaches ``seam`` (tests only)."""
    if seam not in SEAMS + CHAIN_SEAMS:
        raise ValueError(f"unknown seam {seam!r}; seams: {', '.join(SEAMS + CHAIN_SEAMS)}")
    _actions[seam] = action
    try:
        yield
    finally:
        _actions.pop(seam, None)
