"""`ddb-assets demo --source rds` end to end (its own local stack, so its own module)."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.mariadb, pytest.mark.duckdb]


def test_rds_demo_joins_the_rds_table_with_the_dynamodb_sample_table(tmp_path):
    """`ddb-assets demo --source rds`: the summary equals what was written to both sources."""
    from collections import defaultdict

    from ddb_assets.cli import run_rds_demo
    from ddb_assets.local.rds_sample import NAMES
    from ddb_assets.local.sample import PRICES

    columns, rows, items = run_rds_demo(
        workdir=tmp_path, n_items=600, export_seconds=0.5, log=lambda *_: None
    )
    assert columns == ["menu", "name_ja", "category", "pieces", "revenue"]
    want = defaultdict(lambda: [0, Decimal(0)])
    for it in items:
        want[it["menu"]][0] += int(it["quantity"])
        want[it["menu"]][1] += Decimal(it["quantity"]) * Decimal(PRICES[it["menu"]])
    got = {r[0]: (r[1], r[2], int(r[3]), Decimal(r[4])) for r in rows}
    assert got == {
        m: (NAMES[m][0], NAMES[m][1], q, rev.quantize(Decimal("0.01")))
        for m, (q, rev) in want.items()
    }
