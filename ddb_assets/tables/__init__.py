"""DynamoDB export -> typed SQL tables (Dagster-free).

Entry points: :func:`load_snapshot_duckdb` (local warehouse), :func:`load_snapshot_athena`
(production), the checks in :mod:`ddb_assets.tables.checks`, and :class:`ColumnOverride`.
"""

from ddb_assets.tables.athena_engine import UnsupportedOnAthena, load_snapshot_athena
from ddb_assets.tables.checks import (
    Expectation,
    ExpectedFile,
    SnapshotCheckError,
    check_row_count,
    check_schema_drift,
    schema_drift,
)
from ddb_assets.tables.duckdb import ExportReadError, load_snapshot_duckdb
from ddb_assets.tables.plan import (
    ColumnInfo,
    SchemaChange,
    SnapshotResult,
    TypeConflict,
    UnfitNumbers,
)
from ddb_assets.tables.types import ColumnOverride

__all__ = [
    "ColumnInfo",
    "Expectation",
    "ExpectedFile",
    "SnapshotCheckError",
    "ColumnOverride",
    "ExportReadError",
    "SchemaChange",
    "SnapshotResult",
    "TypeConflict",
    "UnfitNumbers",
    "UnsupportedOnAthena",
    "check_row_count",
    "check_schema_drift",
    "load_snapshot_athena",
    "load_snapshot_duckdb",
    "schema_drift",
]
