"""Athena SQL of the change history: every statement parses as Athena SQL, the MERGE deletes,
the change table is partitioned by day, and an applied window is not run again."""

from datetime import datetime, timezone

import sqlglot
from sqlglot import exp

from ddb_assets.athena.client import QueryResult, RecordingSqlRunner, check_athena_sql
from ddb_assets.incremental.athena_sql import apply_window_athena, ddl_statements, window_statements
from ddb_assets.incremental.windows import Window
from ddb_assets.tables.changes import plan_image_columns
from ddb_assets.tables.plan import AttributeStats

W = Window(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, 1, tzinfo=timezone.utc))
STATS = [AttributeStats("pk", {"S": 3}), AttributeStats("qty", {"N": 3}, 3, 2, 2),
         AttributeStats("Color Name", {"S": 1}), AttributeStats("tags", {"SS": 1}),
         AttributeStats("mixed", {"S": 1, "N": 1}, 1, 1, 0)]


def _plans():
    plans, conflicts = plan_image_columns(STATS)
    assert [c.attribute for c in conflicts] == ["mixed"]
    return plans


def test_ddl_and_window_statements_parse_and_have_the_right_shape():
    plans = _plans()
    ddl = ddl_statements("shop", "orders", plans, ["pk"], "s3://bucket/ddb/orders/")
    stmts = window_statements("shop", "orders", plans, ["pk"], generation=2, window=W,
                              export_arn="arn:aws:dynamodb:us-east-1:123456789012:table/o/export/01700000000000-abcdef12",
                              data_s3_uri="s3://bucket/x/AWSDynamoDB/01700000000000-abcdef12/data/", seq=7)
    for sql in ddl + stmts:
        check_athena_sql(sql)
    assert "PARTITIONED BY (change_date)" in ddl[1] and "'table_type' = 'ICEBERG'" in ddl[1]
    assert "color_name string" in ddl[2] and "new_tags array<string>" in ddl[1] and "mixed__type" in ddl[2]
    merge = sqlglot.parse_one(stmts[3], read="athena")
    assert isinstance(merge, exp.Merge)
    whens = merge.args["whens"].expressions
    assert [w.args.get("matched") for w in whens] == [True, True, False]
    assert "THEN DELETE" in stmts[3] and "s.operation = 'REMOVE'" in stmts[3]
    assert stmts[1].startswith('DELETE FROM "shop"."orders_changes" WHERE generation = 2')
    assert "'Color Name'" in stmts[2] and '"new_color_name"' in stmts[2]   # attribute bound as a literal
    assert stmts[4].startswith('INSERT INTO "shop"."orders__chain" VALUES (7, \'window\', 2')


def test_an_applied_window_is_not_run_again():
    plans = _plans()
    kw = dict(generation=0, window=W, export_arn="arn", data_s3_uri="s3://b/data/", seq=2)
    fresh = RecordingSqlRunner(lambda sql: QueryResult(rows=[(0,)]) if "count(*)" in sql else None)
    assert len(apply_window_athena(fresh, "shop", "orders", plans, ["pk"], **kw)) == 5
    done = RecordingSqlRunner(lambda sql: QueryResult(rows=[(1,)]) if "count(*)" in sql else None)
    assert apply_window_athena(done, "shop", "orders", plans, ["pk"], **kw) == []
    assert len(done.statements) == 1
