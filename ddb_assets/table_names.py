"""Every table name derived from a configured table's name, in one place.

A configured table ``T`` occupies more names than its own in its database (or DuckDB
schema): the engines create the tables below, the asset keys and descriptions name some of
them, and the config refuses a table whose own name is one of another table's
(:func:`occupied`) or ends in a derived suffix (:data:`RESERVED_SUFFIXES`).

Snapshots (asset ``athena/T/table``), both engines unless noted:

* ``T`` itself: the latest snapshot (a view);
* ``T__snapshots``: every snapshot;
* ``T__columns``, ``T__loads``, ``T__files`` (DuckDB): the column metadata, the load log and
  the snapshot files;
* ``T__export`` (Athena): the raw export, registered as text;
* ``T__ctas_<run>`` (Athena): a load's transient CTAS table.

Change history (``athena/T_changes`` and ``athena/T_current``, tables with ``incremental``):

* ``T_changes``, ``T_current``: the history and the table now;
* ``T__chain``: the ledger; ``T__chain_plan`` (DuckDB): the column plan;
* ``T__increments``, ``T__full_exports`` (Athena): the raw exports the chain reads;
* ``T__history/`` (Athena): the S3 folder under ``typed_s3_uri`` of those tables.

Summaries write ``S__staging_<run>`` while they build (Athena).

Asset key paths (the Dagster layer makes its keys from these): the typed table is
``athena/T/table`` (:func:`table_asset_path`). The Dagster UI labels a node with the key's
last part only, so the last part says what the asset is inside the table's group
(``export_request`` -> ``export`` -> ``table``). The key used to be ``athena/T``
(:func:`legacy_table_asset_path`); its history stays in the instance under that key and
still counts as proof of a load (README, "Upgrading: the table's asset key").
"""

from __future__ import annotations

SNAPSHOTS = "__snapshots"
COLUMNS = "__columns"
LOADS = "__loads"
FILES = "__files"
EXPORT = "__export"
CTAS = "__ctas_"  # followed by the run id
CHANGES = "_changes"
CURRENT = "_current"
CHAIN = "__chain"
CHAIN_PLAN = "__chain_plan"
INCREMENTS = "__increments"
FULL_EXPORTS = "__full_exports"
HISTORY = "__history"  # an S3 folder, not a table
STAGING = "__staging_"  # a summary's, followed by the run id

# What each derived table is, for messages.
_SNAPSHOT_TABLES = {
    SNAPSHOTS: "every snapshot",
    COLUMNS: "column metadata",
    LOADS: "load log",
    FILES: "snapshot file list",
    EXPORT: "raw export",
}
_HISTORY_TABLES = {
    CHANGES: "change history",
    CURRENT: "current-state table",
    CHAIN: "chain ledger",
    CHAIN_PLAN: "chain column plan",
    INCREMENTS: "raw incremental exports",
    FULL_EXPORTS: "raw full exports",
}

# A configured table's own name cannot end in one of these (nor contain a transient
# table's marker, :data:`RESERVED_MARKERS`): they are names the engines derive. The change
# history's ``_changes`` and ``_current`` are ordinary endings; only another table's
# history can take them (:func:`occupied`).
RESERVED_SUFFIXES = tuple(
    s for s in (*_SNAPSHOT_TABLES, *_HISTORY_TABLES) if s.startswith("__")
) + (HISTORY,)
RESERVED_MARKERS = (CTAS, STAGING)


def derived(table: str, suffix: str) -> str:
    """The name of ``table``'s derived table ``suffix`` (one of this module's constants)."""
    return table + suffix


def snapshots(table: str) -> str:
    return table + SNAPSHOTS


def columns(table: str) -> str:
    return table + COLUMNS


def loads(table: str) -> str:
    return table + LOADS


def files(table: str) -> str:
    return table + FILES


def export(table: str) -> str:
    return table + EXPORT


def ctas(table: str, run: str) -> str:
    return table + CTAS + run


def changes(table: str) -> str:
    return table + CHANGES


def current(table: str) -> str:
    return table + CURRENT


def chain(table: str) -> str:
    return table + CHAIN


def chain_plan(table: str) -> str:
    return table + CHAIN_PLAN


def history_folder(table: str) -> str:
    """The folder (under ``typed_s3_uri``) of the Athena engine's change history tables."""
    return table + HISTORY


def staging(summary: str, run: str) -> str:
    return summary + STAGING + run


def reserved_ending(name: str) -> str | None:
    """The derived suffix or marker that ``name`` ends in or holds (so that a configured
    table of that name would collide with a derived table), or None."""
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    for marker in RESERVED_MARKERS:
        if marker in name:
            return marker
    return None


def occupied(table: str, *, incremental: bool) -> dict[str, str]:
    """Every table name a configured table takes in its database, with what it is: its own
    name, its snapshot tables and (``incremental``) its change history's tables."""
    out = {table: f"the typed table {table!r}"}
    for suffix, what in _SNAPSHOT_TABLES.items():
        out[table + suffix] = f"the {what} of table {table!r}"
    if incremental:
        for suffix, what in _HISTORY_TABLES.items():
            out[table + suffix] = f"the {what} of incremental table {table!r}"
    return out


ENGINE_PREFIX = "athena"  # the first part of every SQL table's asset key, both engines
TABLE_ASSET = "table"


def table_asset_path(table: str) -> tuple[str, ...]:
    """The asset key path of configured table ``table``'s typed table."""
    return (ENGINE_PREFIX, table, TABLE_ASSET)


def legacy_table_asset_path(table: str) -> tuple[str, ...]:
    """The typed table's key path before the rename (``athena/T``): read, never written."""
    return (ENGINE_PREFIX, table)
