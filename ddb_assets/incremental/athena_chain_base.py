"""The Athena chain's tables, ledger and column plan: what each step is built on.

Holds ``check_format``, ``ChainPlan`` (the column plan a step writes with and what the ledger
committed before it) and ``AthenaChainBase``, the base of
:class:`~ddb_assets.incremental.athena_chain.AthenaChain`: running statements through the SQL
runner, reading tables and columns from Glue, reading the ledger, declaring the raw tables in
the chain's export format and registering export partitions, discovering attribute statistics,
planning columns, evolving the schema (adding, dropping and re-deriving columns), creating the
Iceberg tables, the row and operation counts, and re-deriving the plan the current table was
typed with. Described in ``ddb_assets.incremental.athena_chain``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddb_assets import table_names
from ddb_assets.incremental import athena_sql as q
from ddb_assets.incremental import model
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.tables import athena_ion
from ddb_assets.tables import changes as tch
from ddb_assets.tables.athena_engine import UnsupportedOnAthena, stats_from_rows
from ddb_assets.tables.checks import Expectation
from ddb_assets.tables.plan import ROLE_VALUE, AttributeStats, ColumnPlan
from ddb_assets.tables.types import ColumnOverride, parse_type


def check_format(export_format: str) -> None:
    if export_format not in ("DYNAMODB_JSON", "ION"):
        raise ValueError(f"unknown export_format {export_format!r}")


def norm_type(t: str) -> str:
    return re.sub(r"\s+", "", t or "").lower()


@dataclass
class ChainPlan:
    """The column plan a step writes with, and what the ledger committed before it."""

    plans: list[ColumnPlan]
    key_attributes: list[str]
    stats: list[AttributeStats]
    committed_types: dict[str, str]  # column -> canonical type, as of the ledger
    seen_attributes: set[str]

    def to_json(self) -> str:
        return json.dumps(
            {
                "key_attributes": self.key_attributes,
                "stats": json.loads(tch.stats_to_json(self.stats)),
                "columns": [
                    {
                        "column": p.column,
                        "attribute": p.attribute,
                        "role": p.role,
                        "type": p.type.canonical(),
                    }
                    for p in self.plans
                ],
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )


@dataclass
class AthenaChainBase:
    """What an ``AthenaChain`` step is built on: running statements (recording query ids and
    bytes scanned), the catalog, the ledger, the raw tables and the column plan."""

    runner: Any  # an Athena SQL runner (execute -> result with query_id, bytes_scanned)
    glue: Any  # a boto3 Glue client
    database: str
    table: str
    location: str  # S3 folder the Iceberg tables live under
    query_ids: list = field(default_factory=list)
    bytes_scanned: int = 0

    def __post_init__(self):
        self.n = q.Names(self.database, self.table)
        if not re.match(r"^s3://[^/]+/", self.location or ""):
            raise ValueError(
                f"location must be an S3 folder (s3://bucket/prefix/), got {self.location!r}"
            )

    # -- running -----------------------------------------------------------------------------
    def run(self, sql: str):
        res = self.runner.execute(sql)
        if res.query_id:
            self.query_ids.append(res.query_id)
        self.bytes_scanned += res.bytes_scanned or 0
        return res

    def _glue_table(self, suffix: str) -> dict | None:
        try:
            return self.glue.get_table(DatabaseName=self.database, Name=self.table + suffix)[
                "Table"
            ]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def _columns(self, suffix: str) -> dict[str, str]:
        t = self._glue_table(suffix)
        return (
            {}
            if t is None
            else {c["Name"].lower(): c["Type"] for c in t["StorageDescriptor"]["Columns"]}
        )

    # -- state -------------------------------------------------------------------------------
    def _ledger(self) -> tuple[model.ChainState, dict | None]:
        if self._glue_table(table_names.CHAIN) is None:
            return model.ChainState(), None
        rows = self.run(q.ledger_select_sql(self.n)).rows
        state = model.ChainState(
            [
                model.LedgerRow(
                    int(r[0]), r[1], int(r[2]), utc(r[3]), utc(r[4]), r[5], int(r[6] or 0), r[7]
                )
                for r in rows
            ]
        )
        plans = [r[8] for r in rows if r[8]]
        return state, (json.loads(plans[-1]) if plans else None)

    def read_state(self) -> model.ChainState:
        return self._ledger()[0]

    def _use_format(self, export_format: str) -> None:
        """Read this step's export as ``export_format``; a chain whose raw tables were
        declared for the other format is refused by name (they are declared once)."""
        check_format(export_format)
        self.n = q.Names(self.database, self.table, export_format)
        for suffix in (table_names.INCREMENTS, table_names.FULL_EXPORTS):
            try:
                t = self.glue.get_table(DatabaseName=self.database, Name=self.table + suffix)
            except self.glue.exceptions.EntityNotFoundException:
                continue
            serde = t["Table"]["StorageDescriptor"].get("SerdeInfo", {})
            ion = serde.get("SerializationLibrary") == athena_ion.ION_SERDE
            if ion != (export_format == "ION"):
                raise UnsupportedOnAthena(
                    f"the change history of {self.table!r} was started from "
                    f"{'ION' if ion else 'DYNAMODB_JSON'} exports and this export is "
                    f"{export_format}: keep export_format as it was, or re-seed the history "
                    f"after dropping {self.database}.{self.table + suffix}"
                )

    def _ensure_raw(self) -> None:
        for sql in q.ddl_statements(
            self.database, self.table, [], [], self.location, self.n.export_format
        )[:2]:
            self.run(sql)

    def _register(self, raw: str, key: str, value: str, data_s3_uri: str) -> None:
        self.run(q.add_partition_sql(self.database, self.table, raw, key, value, data_s3_uri))

    def _discover(self, items_sql: str) -> list[AttributeStats]:
        return stats_from_rows(self.run(q.discovery_over(items_sql)).rows)

    # -- planning and schema evolution ----------------------------------------------------------
    def _plan(
        self,
        new_stats: Sequence[AttributeStats],
        committed: dict | None,
        key_attributes: Sequence[str],
        overrides: Mapping[str, ColumnOverride],
    ) -> ChainPlan:
        old_stats = tch.stats_from_json(json.dumps(committed["stats"])) if committed else []
        old_cols = committed["columns"] if committed else []
        keys = list(committed["key_attributes"]) if committed else list(key_attributes)
        stats = tch.merge_stats(old_stats, new_stats)
        history = {c["attribute"]: c["column"] for c in old_cols if c["role"] == ROLE_VALUE}
        previous = {c["column"]: c["type"] for c in old_cols}
        plans, _ = tch.plan_image_columns(
            stats,
            overrides,
            history=history,
            previous_types={c: parse_type(t) for c, t in previous.items()},
        )
        return ChainPlan(plans, keys, stats, previous, {s.attribute for s in old_stats})

    def _evolve(self, plan: ChainPlan) -> tuple[list[str], list[str]]:
        """Make the change and current tables' columns match ``plan``; idempotent (decided
        against the ledger's committed plan and the catalog, see the module docs)."""
        added, retyped = [], []
        targets = {
            table_names.CHANGES: [
                (c, root, p) for c, root, p in q.change_columns(plan.plans, plan.key_attributes)
            ],
            table_names.CURRENT: [(p.column, "Item", p) for p in plan.plans],
        }
        for suffix, cols in targets.items():
            existing = self._columns(suffix)
            adds, fills = [], []
            for col, root, p in cols:
                want = p.type.canonical()
                committed = plan.committed_types.get(p.column)
                phys = existing.get(col)
                wrong = phys is not None and norm_type(phys) != norm_type(p.type.glue())
                if wrong:
                    self.run(q.drop_column_sql(self.database, self.table + suffix, col))
                if phys is None or wrong:
                    adds.append((col, p.type.hive()))
                if committed is None:
                    added.append(col)
                elif committed != want:
                    retyped.append(col)
                if (committed != want or phys is None or wrong) and (
                    committed is not None or p.attribute in plan.seen_attributes
                ):
                    fills.append((col, root, p))  # rows already stored may hold values
            if adds:
                self.run(q.add_columns_sql(self.database, self.table + suffix, adds))
            if fills:
                wheres = [""]
                if suffix == "_changes":  # at most 100 change_date partitions per statement
                    days = [r[0] for r in self.run(q.change_dates_sql(self.n)).rows]
                    wheres = q.partition_batches("change_date", days) or [""]
                for where in wheres:
                    for sql in q.rederive_statements(self.n.q(suffix), fills, where=where):
                        self.run(sql)
        return added, retyped

    def _create(self, plan: ChainPlan) -> None:
        for sql in q.ddl_statements(
            self.database,
            self.table,
            plan.plans,
            plan.key_attributes,
            self.location,
            self.n.export_format,
        ):
            self.run(sql)

    # -- results ---------------------------------------------------------------------------
    def current_columns(self) -> list[tuple[str, str]]:
        t = self._glue_table(table_names.CURRENT)
        return (
            [] if t is None else [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]]
        )

    def row_counts(self) -> dict[str, int]:
        return {
            "changes": int(self.run(q.count_sql(self.n.changes)).rows[0][0]),
            "current": int(self.run(q.count_sql(self.n.current)).rows[0][0]),
        }

    def _operations(self, generation: int, window_from: datetime, source: str) -> dict:
        return {
            r[0]: int(r[1])
            for r in self.run(q.operations_sql(self.n, generation, window_from, source)).rows
        }

    def _lines_per_file(self, window: Window, expect: Expectation) -> dict[str, int]:
        """The window's lines per data file (S3 key), for the message of a failed count."""
        rows = self.run(q.window_lines_per_file_sql(self.n, window)).rows
        by_key = {str(p).split("://", 1)[-1].split("/", 1)[-1]: int(c) for p, c in rows}
        return {f.name: by_key.get(f.name, 0) for f in expect.files}

    # -- the check -------------------------------------------------------------------------
    def _plans_now(self, committed: dict, overrides: Mapping[str, ColumnOverride]) -> ChainPlan:
        """The plan the current table was typed with, re-derived from the ledger's statistics."""
        plan = self._plan([], committed, (), overrides)
        got = [(p.column, p.type.canonical()) for p in plan.plans]
        want = [(c["column"], c["type"]) for c in committed["columns"]]
        if got != want:
            raise RuntimeError(
                f"the column plan of {self.n.current} cannot be re-derived (overrides changed since "
                f"the last window?): stored {want}, now {got}"
            )
        return plan
