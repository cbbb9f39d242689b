"""A MERGE source with two rows for one key is refused by both engines, whatever DuckDB
version is installed (Athena: MERGE_TARGET_ROW_MULTIPLE_MATCHES; DuckDB 2.0.1 would apply
one of them silently)."""

from datetime import datetime

import duckdb
import pytest

from ddb_assets.incremental import duckdb_chain

pytestmark = [pytest.mark.unit, pytest.mark.duckdb]


def test_duckdb_chain_refuses_a_step_with_two_rows_for_one_key():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA shop")
    con.execute(
        "CREATE TABLE shop.orders_changes (item_key VARCHAR, generation INTEGER, "
        "window_from TIMESTAMP, source VARCHAR)"
    )
    start = datetime(2025, 1, 1)
    con.execute(
        'INSERT INTO shop.orders_changes VALUES (\'{"pk":{"S":"a"}}\', 1, $1, \'incremental\'), '
        '(\'{"pk":{"S":"a"}}\', 1, $1, \'incremental\'), (\'{"pk":{"S":"b"}}\', 1, $1, \'incremental\')',
        [start],
    )
    n = duckdb_chain.Names("shop", "orders")
    with pytest.raises(ValueError, match=r'2 change rows for the key \{"pk":\{"S":"a"\}\}'):
        duckdb_chain._merge_current(
            con, n, None, generation=1, window_from=start, source="incremental"
        )
