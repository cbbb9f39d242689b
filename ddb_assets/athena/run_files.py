"""Removing what a refused Athena statement wrote: one run's own S3 folder, nothing else.

A CTAS writes its Parquet files under a folder of its own
(``<typed_s3_uri>/<table>/snapshot_date=<d>/run_id=<run>/``). When that CTAS fails, or the
blocking checks refuse its output, the files are referenced by nothing (no Glue partition
points there), so the load removes them. Only keys under exactly that folder are listed and
deleted: the folder must end in a ``run_id=<run>/`` segment, so a typo can never widen the
deletion to the table's other snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_RUN_FOLDER = re.compile(r"^s3://([^/]+)/((?:[^/]+/)*run_id=[A-Za-z0-9_-]{1,64}/)$")


def run_folder_parts(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of a per-run folder URI; ValueError for anything else."""
    m = _RUN_FOLDER.match(uri)
    if not m:
        raise ValueError(f"{uri!r} is not a per-run folder (s3://bucket/.../run_id=<run>/)")
    return m.group(1), m.group(2)


def remove_run_folder(s3: Any, uri: str) -> int:
    """Delete every object under the per-run folder ``uri``; returns how many were deleted."""
    bucket, prefix = run_folder_parts(uri)
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
        if not keys:
            continue
        out = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        errors = out.get("Errors") or []
        if errors:
            first = errors[0]
            raise OSError(
                f"could not delete s3://{bucket}/{first.get('Key')} of a refused run "
                f"({first.get('Code')}: {first.get('Message')})"
            )
        deleted += len(keys)
    return deleted


def remove_refused_output(s3_factory: Callable[[], Any] | None, uri: str) -> str | None:
    """Best effort for the failure path: remove the per-run folder and return None, or return
    one line saying what is left (the caller adds it to the error it raises). The S3 client is
    only created here, when a run is refused."""
    if s3_factory is None:
        return f"its files stay in {uri} (no S3 client to remove them)"
    try:
        remove_run_folder(s3_factory(), uri)
    except Exception as exc:  # the refusal is the error to raise; say what is left
        return f"its files could not be removed from {uri}: {exc}"
    return None
