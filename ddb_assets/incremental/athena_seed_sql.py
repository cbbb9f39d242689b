"""Athena SQL for seeding, re-seeding across a PITR gap, adding/dropping columns and counts.

Holds the seed of the current table from a full export, the net change between the current
table and a re-seed export, ``ALTER TABLE ADD COLUMNS`` / ``DROP COLUMN``, and the row-count
and per-operation count queries. Part of the Athena SQL described in
``ddb_assets.incremental.athena_sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ddb_assets.incremental.athena_layout_sql import (
    CURRENT_META,
    ITEM_JSON,
    TS,
    Names,
    ddl_col,
    ddl_cols,
    export_items_sql,
    export_lines_sql,
    json_map_sql,
    key_text_sql,
    ts_literal,
    typed_sql,
    with_fits,
)
from ddb_assets.incremental.athena_step_sql import (
    step_where,
)
from ddb_assets.incremental.windows import utc
from ddb_assets.sql.identifiers import (
    hive_qualified,
    quote_ident,
    validate_catalog_name,
)
from ddb_assets.tables.plan import ColumnPlan

# --- seed, re-seed -----------------------------------------------------------------------------


def seed_current_sql(
    n: Names,
    plans: Sequence[ColumnPlan],
    key_attributes: Sequence[str],
    export_id: str,
    seed_time: datetime,
) -> str:
    """Fill the (empty) current table from a full export (nothing when it has rows)."""
    cols = [quote_ident(p.column) for p in plans] + [quote_ident(c) for c, _ in CURRENT_META]
    items, fits = with_fits(
        plans,
        f"SELECT {ITEM_JSON} AS item_json, {json_map_sql(ITEM_JSON)} AS item FROM ({export_lines_sql(n, export_id)})",
        {"item": "fits"},
    )
    vals = [typed_sql(p, "item", fits["item"]) for p in plans] + [
        key_text_sql(key_attributes, "item"),
        "json_format(item_json)",
        f"CAST(NULL AS {TS})",
        f"CAST({ts_literal(seed_time)} AS {TS})",
    ]
    return (
        f"INSERT INTO {n.current} ({', '.join(cols)}) SELECT {', '.join(vals)} FROM ({items}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {n.current})"
    )


def net_change_sql(
    n: Names, key_attributes: Sequence[str], export_id: str, seed_time: datetime
) -> str:
    """(ts, keys_json, new_json, old_json) of every item whose image differs between the
    current table and a fresh full export (FULL OUTER JOIN on the key; images compared as
    canonical JSON: ``json_parse`` orders object keys), write time = the seed time."""
    micros = int(utc(seed_time).timestamp()) * 1_000_000 + utc(seed_time).microsecond
    return (
        f"SELECT CAST({micros} AS bigint) AS ts, json_parse(coalesce(c.k, s.k)) AS keys_json, s.item_json AS new_json, "
        f"json_parse(c.item) AS old_json FROM (SELECT _ddb_key AS k, _ddb_item AS item FROM {n.current}) AS c "
        f"FULL OUTER JOIN (SELECT {key_text_sql(key_attributes, 'item')} AS k, item_json FROM ("
        f"SELECT {ITEM_JSON} AS item_json, {json_map_sql(ITEM_JSON)} AS item "
        f"FROM ({export_lines_sql(n, export_id)}))) AS s ON c.k = s.k "
        f"WHERE c.k IS NULL OR s.k IS NULL "
        f"OR json_format(json_parse(c.item)) <> json_format(json_parse(json_format(s.item_json)))"
    )


def net_change_items_sql(
    n: Names, key_attributes: Sequence[str], export_id: str, seed_time: datetime
) -> str:
    """The re-seed's discovery input: every image of the net change plus the seed's items (as
    the DuckDB engine discovers over both)."""
    return (
        f"SELECT {json_map_sql('x')} AS item FROM ({net_change_sql(n, key_attributes, export_id, seed_time)}) "
        f"CROSS JOIN UNNEST(ARRAY[keys_json, new_json, old_json]) AS u(x) WHERE x IS NOT NULL "
        f"UNION ALL {export_items_sql(n, export_id)}"
    )


# --- schema evolution ----------------------------------------------------------------------


def add_columns_sql(
    database: str, table_suffix_name: str, columns: Sequence[tuple[str, str]]
) -> str:
    validate_catalog_name(database, "database")
    validate_catalog_name(table_suffix_name, "table")
    return f"ALTER TABLE {hive_qualified(database, table_suffix_name)} ADD COLUMNS ({ddl_cols(columns)})"


def drop_column_sql(database: str, table_suffix_name: str, column: str) -> str:
    validate_catalog_name(database, "database")
    validate_catalog_name(table_suffix_name, "table")
    return (
        f"ALTER TABLE {hive_qualified(database, table_suffix_name)} DROP COLUMN {ddl_col(column)}"
    )


def count_sql(qualified_table: str, where: str = "") -> str:
    return f"SELECT count(*) FROM {qualified_table}" + (f" WHERE {where}" if where else "")


def operations_sql(n: Names, generation: int, window_from: datetime, source: str) -> str:
    return (
        f"SELECT operation, count(*) FROM {n.changes} WHERE {step_where(generation, window_from, source)} "
        f"GROUP BY operation"
    )
