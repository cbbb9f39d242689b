"""No statement the Athena engine generates for a very wide table exceeds Athena's
262,144-byte query text limit: 1,000 attributes, 200 of them numbers with fractional values
that need a fit check, 300 sets or maps."""

from __future__ import annotations

import datetime as dt
from datetime import datetime, timezone

import pytest

from ddb_assets.incremental import athena_compare
from ddb_assets.incremental import athena_sql as q
from ddb_assets.incremental.windows import Window
from ddb_assets.tables import athena_engine as ae
from ddb_assets.tables.changes import plan_image_columns
from ddb_assets.tables.plan import AttributeStats, plan_columns

pytestmark = pytest.mark.unit

ATHENA_LIMIT = 262_144
W = Window(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, 1, tzinfo=timezone.utc))


def wide_stats() -> list[AttributeStats]:
    out = [AttributeStats("pk", {"S": 10})]
    # 200 numbers with 12 fraction digits, one of which has more digits than DECIMAL(38) holds
    out += [AttributeStats(f"amount_{i:03d}", {"N": 10}, 10, 30, 12, 1) for i in range(200)]
    out += [AttributeStats(f"tags_{i:03d}", {"SS": 10}) for i in range(100)]
    out += [AttributeStats(f"measures_{i:03d}", {"NS": 10}, 30, 30, 12, 1) for i in range(100)]
    out += [AttributeStats(f"profile_{i:03d}", {"M": 10}) for i in range(100)]
    out += [AttributeStats(f"note_{i:03d}", {"S": 10}) for i in range(499)]
    return out


def _longest(statements: dict[str, str]) -> tuple[str, int]:
    name = max(statements, key=lambda k: len(statements[k].encode("utf-8")))
    return name, len(statements[name].encode("utf-8"))


def test_snapshot_statements_of_a_1000_attribute_table_fit_athena():
    plans, _ = plan_columns(wide_stats())
    assert (
        sum(p.needs_fit_check for p in plans) == 300 and len({p.attribute for p in plans}) == 1000
    )
    for p in plans:
        p.physical = p.column
    statements = {
        "discovery": ae.discovery_sql("db", "t__export", dt.date(2024, 1, 1)),
        "ctas": ae.ctas_sql("db", "t__ctas", "t__export", dt.date(2024, 1, 1), plans, "s3://b/x/"),
    }
    name, size = _longest(statements)
    print(f"longest snapshot statement for 1,000 attributes: {name}, {size:,} bytes")
    assert size < ATHENA_LIMIT
    assert size < 170_000  # the fit checks are shared (one map per row), not per attribute


def test_change_history_step_statements_of_a_1000_attribute_table_fit_athena():
    plans, _ = plan_image_columns(wide_stats())
    n = q.Names("db", "t")
    statements = {
        f"ddl{i}": s for i, s in enumerate(q.ddl_statements("db", "t", plans, ["pk"], "s3://b/h/"))
    }
    window = q.window_statements("db", "t", plans, ["pk"], generation=1, window=W, export_arn="a")
    statements.update({f"window{i}": s for i, s in enumerate(window)})
    statements["seed"] = q.seed_current_sql(n, plans, ["pk"], "e1", W.start)
    rederive = q.rederive_statements(n.changes, q.change_columns(plans, ["pk"]))
    statements.update({f"rederive{i}": s for i, s in enumerate(rederive)})
    statements["compare"] = athena_compare.compare_sql(n, plans, ["pk"], "e1", 5)[0]
    details = athena_compare.compare_details_statements(
        n, plans, ["pk"], "e1", [f"k{i}" for i in range(5)]
    )
    statements.update({f"details{i}": s for i, (s, _) in enumerate(details)})
    assert [c for _, cols in details for c in cols] == [p.column for p in plans] + ["(attributes)"]
    name, size = _longest(statements)
    print(f"longest change-history step statement for 1,000 attributes: {name}, {size:,} bytes")
    assert size < ATHENA_LIMIT
    # the window's INSERT is one statement plus UPDATEs of the same step's rows
    assert window[0].startswith('INSERT INTO "db"."t_changes"') and window[-1].startswith("MERGE")
    assert all(
        s.startswith('UPDATE "db"."t_changes"') and "WHERE generation = 1" in s
        for s in window[1:-1]
    )
