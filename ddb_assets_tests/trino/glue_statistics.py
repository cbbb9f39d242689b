"""Glue's column-statistics calls, which moto 5.2's Glue lacks and Trino's Glue metastore makes.

Trino's Hive and Iceberg connectors, with ``hive.metastore=glue``, keep column statistics in
the catalog: after a CTAS or INSERT they call ``UpdateColumnStatisticsForTable`` /
``...ForPartition`` and before they replace or drop them ``DeleteColumnStatistics...``;
planning calls ``GetColumnStatistics...``. moto 5.2's Glue answers each of these with
``NotImplementedError`` (HTTP 500), which fails every statement that writes. These four
handlers store the statistics per table (and partition) in moto's Glue backend, as Glue
does, and raise Glue's ``EntityNotFoundException`` for an unknown table or partition. With
the local stack's request authorization on they are authorized as Glue's (catalog, database,
table), like every other call: Athena itself does not make them with the caller's
permissions, so the authz test grants them to its role apart from the generated policy
(``ENGINE_HOUSEKEEPING_ACTIONS`` in :mod:`ddb_assets_tests.infra_chain`). Installed
process-wide (moto's responses are process-global) by the Trino test fixture; production
code never imports this.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.glue.responses import GlueResponse

_STORE_ATTR = "_ddb_assets_column_statistics"


def _store(backend: Any) -> dict:
    store = getattr(backend, _STORE_ATTR, None)
    if store is None:
        store = {}
        setattr(backend, _STORE_ATTR, store)
    return store


def _key(self: GlueResponse, with_partition: bool) -> tuple:
    db = self._get_param("DatabaseName")
    table = self._get_param("TableName")
    self.glue_backend.get_table(db, table)  # EntityNotFoundException, as Glue
    values: tuple = ()
    if with_partition:
        values = tuple(self._get_param("PartitionValues") or [])
        self.glue_backend.get_partition(db, table, list(values))
    return (db.lower(), table.lower(), values)


def _update(self: GlueResponse, with_partition: bool) -> ActionResult:
    stats = _store(self.glue_backend).setdefault(_key(self, with_partition), {})
    for entry in self._get_param("ColumnStatisticsList") or []:
        stats[entry["ColumnName"].lower()] = entry
    return ActionResult({"Errors": []})


def _get(self: GlueResponse, with_partition: bool) -> ActionResult:
    stats = _store(self.glue_backend).get(_key(self, with_partition), {})
    found = [stats[c.lower()] for c in self._get_param("ColumnNames") or [] if c.lower() in stats]
    return ActionResult({"ColumnStatisticsList": found, "Errors": []})


def _delete(self: GlueResponse, with_partition: bool) -> ActionResult:
    stats = _store(self.glue_backend).get(_key(self, with_partition), {})
    # A column without statistics is no error: Trino deletes the statistics of every
    # column it wrote none for, and it runs against Glue itself.
    stats.pop(self._get_param("ColumnName").lower(), None)
    return EmptyResult()


def install() -> None:
    """Add the handlers to moto's GlueResponse (idempotent)."""
    handlers = {
        "update_column_statistics_for_table": lambda self: _update(self, False),
        "update_column_statistics_for_partition": lambda self: _update(self, True),
        "get_column_statistics_for_table": lambda self: _get(self, False),
        "get_column_statistics_for_partition": lambda self: _get(self, True),
        "delete_column_statistics_for_table": lambda self: _delete(self, False),
        "delete_column_statistics_for_partition": lambda self: _delete(self, True),
    }
    for name, fn in handlers.items():
        setattr(GlueResponse, name, fn)
