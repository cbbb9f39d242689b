"""Summary tables: plain Athena ``.sql`` files, materialized on Athena or DuckDB."""

from ddb_assets.summaries.athena_engine import ctas_sql, materialize_athena, staging_table_name
from ddb_assets.summaries.duckdb_engine import materialize_duckdb
from ddb_assets.summaries.result import SummaryResult, markdown_table
from ddb_assets.summaries.spec import (
    HEADER_KEYS,
    SummaryError,
    SummarySpec,
    load_summaries,
    load_summary,
    parse_header,
)

__all__ = [
    "HEADER_KEYS",
    "SummaryError",
    "SummaryResult",
    "SummarySpec",
    "ctas_sql",
    "load_summaries",
    "load_summary",
    "markdown_table",
    "materialize_athena",
    "materialize_duckdb",
    "parse_header",
    "staging_table_name",
]
