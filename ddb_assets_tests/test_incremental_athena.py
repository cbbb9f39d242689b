"""The change history on the Athena engine.

Generated SQL: every statement parses as Athena SQL and has the shape the design needs (the
change table partitioned by day, the MERGE deletes, each step's statements guarded so a
repeat is a no-op).
"""

from datetime import datetime, timezone

import sqlglot
from sqlglot import exp

from ddb_assets.athena.client import check_athena_sql
from ddb_assets.incremental import athena_sql as q
from ddb_assets.incremental.windows import Window
from ddb_assets.tables.changes import plan_image_columns
from ddb_assets.tables.plan import AttributeStats

W = Window(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, 1, tzinfo=timezone.utc))
STATS = [AttributeStats("pk", {"S": 3}), AttributeStats("qty", {"N": 3}, 3, 2, 2),
         AttributeStats("Color Name", {"S": 1}), AttributeStats("tags", {"SS": 1}),
         AttributeStats("mixed", {"S": 1, "N": 1}, 1, 1, 0)]
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/o/export/01700000000000-abcdef12"


def _plans():
    plans, conflicts = plan_image_columns(STATS)
    assert [c.attribute for c in conflicts] == ["mixed"]
    return plans


def test_generated_statements_parse_and_have_the_right_shape():
    plans = _plans()
    n = q.Names("shop", "orders")
    ddl = q.ddl_statements("shop", "orders", plans, ["pk"], "s3://bucket/ddb/orders/")
    stmts = q.window_statements("shop", "orders", plans, ["pk"], generation=2, window=W, export_arn=ARN)
    others = [
        q.add_partition_sql("shop", "orders", "__increments", "window_label", W.label,
                            "s3://bucket/x/AWSDynamoDB/01700000000000-abcdef12/data/"),
        q.discovery_over(q.window_items_sql(n, W)),
        q.discovery_over(q.net_change_items_sql(n, ["pk"], "01700000000000-abcdef12", W.end)),
        q.seed_current_sql(n, plans, ["pk"], "01700000000000-abcdef12", W.start),
        q.insert_changes_sql(n, plans, ["pk"], q.net_change_sql(n, ["pk"], "01700000000000-abcdef12", W.end),
                             source="reseed", generation=3, window_from=W.start, window_to=W.end, export_arn=ARN),
        q.ledger_insert_sql(n, [q.LedgerEntry(7, "window", 2, W.start, W.end, ARN, 3, None, "{}")],
                            unless=q.window_applied_where(2, W)),
        q.ledger_select_sql(n),
        q.add_columns_sql("shop", "orders_current", [("color_name", "string"), ("qty", "decimal(38,2)")]),
        q.drop_column_sql("shop", "orders_current", "qty"),
        q.rederive_sql(n.changes, [(c, root, p) for c, root, p in q.change_columns(plans, ["pk"])]),
        q.compare_sql(n, plans, ["pk"], "01700000000000-abcdef12", 5)[0],
    ]
    for sql in ddl + stmts + others:
        check_athena_sql(sql)
    assert "PARTITIONED BY (change_date)" in ddl[2] and "'table_type' = 'ICEBERG'" in ddl[2]
    assert all("'table_type' = 'ICEBERG'" in d for d in ddl[2:]) and "EXTERNAL" in ddl[0] and "EXTERNAL" in ddl[1]
    assert "color_name string" in ddl[3] and "new_tags array<string>" in ddl[2] and "mixed__type" in ddl[3]
    assert "plan string" in ddl[4]
    insert, merge = stmts
    assert insert.startswith('INSERT INTO "shop"."orders_changes"') and "WHERE NOT EXISTS" in insert
    assert "'Color Name'" in insert and '"new_color_name"' in insert   # attribute bound as a literal
    assert "from_unixtime_nanos(ts * 1000)" in insert                  # microseconds kept
    tree = sqlglot.parse_one(merge, read="athena")
    assert isinstance(tree, exp.Merge)
    whens = tree.args["whens"].expressions
    assert [w.args.get("matched") for w in whens] == [True, True, False]
    assert "THEN DELETE" in merge and "s.operation = 'REMOVE'" in merge
    assert others[5].startswith('INSERT INTO "shop"."orders__chain"') and "WHERE NOT EXISTS" in others[5]


def test_key_text_is_the_canonical_json_of_the_keys_in_sorted_order():
    sql = q.key_text_sql(["sk", "pk"], "m")
    assert sql.index("'{\"pk\":'") < sql.index("',\"sk\":'")
    assert q.key_text_sql(["O'Brien"], "m").count("'{\"O''Brien\":'") == 1
