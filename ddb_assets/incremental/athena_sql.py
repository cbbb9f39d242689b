"""Athena (production) SQL for the change history: Iceberg tables, the per-window statements,
attribute discovery, schema evolution, the re-seed's net change and the comparison with a
full export. SQL generation only; :mod:`ddb_assets.incremental.athena_chain` runs it.

Layout per table ``T`` in database ``D`` (the same columns as the DuckDB engine):

* ``D.T__increments``: the raw incremental exports, one ``line string`` column (text, a field
  delimiter JSON lines cannot contain), partition ``window_label`` = the window's export
  ``data/`` folder only;
* ``D.T__full_exports``: the raw full exports the chain reads (seeds, re-seeds, comparison
  exports), the same shape, partition ``export_id`` = that export's ``data/`` folder;
* ``D.T_changes``: Iceberg, ``PARTITIONED BY (change_date)``: a query for one day reads one day;
* ``D.T_current``: Iceberg, maintained with ``MERGE INTO`` (deletes included);
* ``D.T__chain``: Iceberg ledger, one row per seed / window / gap; each row also carries the
  column plan in force after it (``plan``: key attributes, cumulative attribute statistics,
  columns), so the plan commits with the step that made it.

Athena has no multi-statement transaction, so applying a step is a sequence of statements
each of which is safe to repeat after a crash (every Iceberg statement is one atomic commit):

1. ``ALTER TABLE T__increments ADD IF NOT EXISTS PARTITION``;
2. schema evolution (``ALTER TABLE ADD COLUMNS`` / ``DROP COLUMN`` + ``UPDATE``), decided by
   comparing the new plan with the ledger's (committed) plan and with the catalog, so a
   repeated run re-does exactly what is not committed yet;
3. ``INSERT INTO T_changes ... WHERE NOT EXISTS`` (rows of this window): inserted once; the
   operation of a NEW_IMAGE record is decided against current *before* the MERGE, and a
   retry never re-decides it;
4. ``MERGE INTO T_current`` from those change rows: sets every key the window touches to its
   NewImage or deletes it, whatever the previous state, so repeating it is harmless;
5. the ledger row (``INSERT ... WHERE NOT EXISTS``) comes last and is what marks the step
   applied; a window is only applied when its From is the ledger's last To.

DDL (HiveQL) backticks every identifier with :func:`ddb_assets.sql.identifiers.hive_ident`
(``_ddb_key``, a column named after an attribute ``date`` or ``1st``: HiveQL reads none of them
bare); DML (Trino) double-quotes them with :func:`~ddb_assets.sql.identifiers.quote_ident`; values from
data only reach SQL through :func:`~ddb_assets.sql.literals.sql_literal`. Every
statement is checked with sqlglot's athena dialect by the runner (``check_athena_sql``).

Timestamps: ``write_ts`` is ``from_unixtime_nanos(WriteTimestampMicros * 1000)`` cast to
``timestamp(6)`` (``from_unixtime`` would round to milliseconds); Iceberg's ``timestamp`` is
``timestamp(6)``, so every timestamp written is cast to that precision.

The statements live in ``athena_layout_sql`` (tables, DDL, item images, discovery),
``athena_step_sql`` (change rows, MERGE, ledger, re-deriving columns) and ``athena_seed_sql``
(seed, re-seed, adding/dropping columns, counts); this module re-exports their public names.
"""

from __future__ import annotations

from ddb_assets.incremental.athena_layout_sql import (  # noqa: F401 - re-exported
    CURRENT_META,
    FIXED_COLUMNS,
    ITEM_JSON,
    LEDGER,
    STATEMENT_BUDGET,
    TS,
    Names,
    add_partition_sql,
    change_columns,
    ddl_col,
    ddl_cols,
    ddl_statements,
    discovery_over,
    export_items_sql,
    export_lines_sql,
    json_map_sql,
    key_text_sql,
    records_from_lines,
    ts_literal,
    typed_sql,
    window_items_sql,
    window_lines_per_file_sql,
    window_lines_sql,
    with_fits,
)
from ddb_assets.incremental.athena_seed_sql import (  # noqa: F401 - re-exported
    add_columns_sql,
    count_sql,
    drop_column_sql,
    net_change_items_sql,
    net_change_sql,
    operations_sql,
    seed_current_sql,
)
from ddb_assets.incremental.athena_step_sql import (  # noqa: F401 - re-exported
    MAX_PARTITIONS,
    RAW_SOURCES,
    LedgerEntry,
    change_date_sql,
    change_dates_sql,
    insert_changes_sql,
    insert_changes_statements,
    ledger_insert_sql,
    ledger_select_sql,
    merge_sql,
    partition_batches,
    rederive_sql,
    rederive_statements,
    seed_applied_where,
    step_where,
    window_applied_where,
    window_statements,
)
