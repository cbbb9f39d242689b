"""A reviewable snapshot of the asset graph: an unintended change to keys, kinds, groups,
partitions, checks, dependencies, owners, schedules or sensors fails here with a diff.

After an intended change: ``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest
ddb_assets_tests/test_definitions_snapshot.py`` and commit the new
``ddb_assets_tests/snapshots/definitions.json`` with the change, so the review shows it.
"""

import difflib
import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from ddb_assets.config import load_config
from ddb_assets.definitions import build_definitions

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(spec) -> dict | None:
    pd = spec.partitions_def
    if pd is None:
        return None
    out: dict = {"type": type(pd).__name__}
    for attr in ("cron_schedule", "timezone", "fmt", "end_offset", "name"):
        value = getattr(pd, attr, None)
        if value is not None:
            out[attr] = str(value)
    start = getattr(pd, "start", None)
    if start is not None:
        # The window rolls with the calendar: record how far back it starts, not the date.
        today = datetime.now(start.tzinfo).date()
        out["start"] = f"{(today - start.date()).days} days before today"
    return out


def describe(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        spec = node.to_asset_spec() if hasattr(node, "to_asset_spec") else None
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "executable": node.is_executable,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(spec) if spec is not None else None,
            "checks": sorted(c.name for c in node.check_keys),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/")},
            "freshness": node.freshness_policy is not None
            if hasattr(node, "freshness_policy")
            else None,
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone}
            for s in sorted(repo.schedule_defs, key=lambda s: s.name)
        },
        "sensors": {
            s.name: {"interval_seconds": s.minimum_interval_seconds}
            for s in sorted(repo.sensor_defs, key=lambda s: s.name)
        },
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    }


def test_the_asset_graph_matches_its_reviewed_snapshot():
    defs = build_definitions(load_config(ROOT / "ddb_assets.yaml"), env="local")
    got = json.dumps(describe(defs), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(got)
    want = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "snapshot", "definitions"
            )
        )
        pytest.fail(
            "the asset graph differs from ddb_assets_tests/snapshots/definitions.json; if the "
            "change is intended, rerun with UPDATE_SNAPSHOTS=1 and commit the snapshot:\n" + diff
        )
