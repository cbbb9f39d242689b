"""`ddb-assets demo` end to end: the summary equals what the items we wrote say."""

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ddb_assets.cli import run_demo


def expected_summary(items):
    totals = defaultdict(lambda: [0, 0])
    for it in items:
        day = (
            datetime.fromisoformat(it["datetime"].replace("Z", "+00:00"))
            .astimezone(ZoneInfo("Asia/Tokyo"))
            .date()
        )
        totals[(day, it["menu"])][0] += int(it["quantity"])
        totals[(day, it["menu"])][1] += 1
    return {k: tuple(v) for k, v in totals.items()}


@pytest.mark.parametrize("fmt", ["DYNAMODB_JSON", "ION"])
def test_demo_summary_matches_the_items_written(tmp_path, fmt):
    columns, rows, items = run_demo(
        workdir=tmp_path, export_format=fmt, n_items=1500, export_seconds=1.0, log=lambda *_: None
    )
    assert columns == ["order_date", "menu", "total_quantity", "orders"]
    got = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}
    assert got == expected_summary(items)
    assert sum(v[1] for v in got.values()) == 1500
