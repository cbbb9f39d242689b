from ddb_assets.sql.lineage import column_lineage
from ddb_assets.sql.refs import table_refs

SQL = """WITH recent AS (
  SELECT o.id, o.amount * 2 AS amt, u.name
  FROM mydb.orders o JOIN users u ON o.uid = u.uid
), again AS (SELECT * FROM recent)
SELECT id, SUM(amt) AS total, max(name) AS n, count(*) AS c
FROM again
WHERE id IN (SELECT id FROM
   items)
GROUP BY id"""


def test_refs_exclude_ctes_and_carry_lines():
    refs = table_refs(SQL)
    assert [(r.name, r.db, r.line) for r in refs] == [
        ("orders", "mydb", 3),
        ("users", None, 3),
        ("items", None, 8),
    ]


def test_cte_name_only_shadows_inside_its_scope():
    refs = table_refs(
        "SELECT * FROM (WITH c AS (SELECT 1 AS x FROM y) SELECT * FROM c) s\nJOIN c ON true"
    )
    assert [(r.name, r.line) for r in refs] == [("y", 1), ("c", 2)]


SCHEMA = {
    "orders": {"id": "bigint", "amount": "decimal(38,2)", "uid": "varchar"},
    "users": {"uid": "varchar", "name": "varchar"},
    "items": {"id": "bigint"},
}


def test_lineage_through_ctes_joins_and_aggregates():
    assert column_lineage(SQL, SCHEMA, database="mydb") == {
        "id": [("orders", "id")],
        "total": [("orders", "amount")],
        "n": [("users", "name")],
        "c": [],
    }


def test_lineage_star_and_expression_of_two_tables():
    assert column_lineage("SELECT * FROM users", SCHEMA) == {
        "uid": [("users", "uid")],
        "name": [("users", "name")],
    }
    got = column_lineage(
        "SELECT o.amount || u.name AS label FROM orders o JOIN users u ON o.uid = u.uid", SCHEMA
    )
    assert got == {"label": [("orders", "amount"), ("users", "name")]}
