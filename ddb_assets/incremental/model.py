"""What both engines' change history share: the ledger as read back (:class:`ChainState`),
one step's outcome (:class:`ApplyResult`), a comparison of the current table with a full
export (:class:`Comparison`), and the values both write. The DuckDB engine
(:mod:`.duckdb_chain`) and the Athena engine (:mod:`.athena_chain`) return these; the
control flow of :mod:`.chain` reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ddb_assets.incremental.windows import Window

# The ``source`` of a change row: a window of the chain, or the net change a re-seed found.
SOURCE_INCREMENTAL = "incremental"
SOURCE_RESEED = "reseed"


class ChainOrderError(RuntimeError):
    """A window does not continue the chain (its From is not the last To)."""


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    kind: str  # seed | window | gap
    generation: int
    window_from: datetime | None
    window_to: datetime
    export_arn: str | None
    records: int
    note: str | None


@dataclass
class ChainState:
    """What the warehouse says about the chain (survives any restart: it is the data)."""

    rows: list[LedgerRow] = field(default_factory=list)

    @property
    def seeded(self) -> bool:
        return any(r.kind == "seed" for r in self.rows)

    @property
    def generation(self) -> int:
        return max((r.generation for r in self.rows if r.kind == "seed"), default=-1)

    @property
    def last_to(self) -> datetime | None:
        return self.rows[-1].window_to if self.rows else None

    def windows(self, generation: int | None = None) -> list[LedgerRow]:
        return [
            r
            for r in self.rows
            if r.kind == "window" and (generation is None or r.generation == generation)
        ]

    def has_window(self, generation: int, window: Window) -> bool:
        return any(
            r.window_from == window.start and r.window_to == window.end
            for r in self.windows(generation)
        )


@dataclass
class ApplyResult:
    applied: bool
    kind: str
    generation: int
    window_from: datetime | None
    window_to: datetime
    records: int = 0
    operations: dict = field(default_factory=dict)
    columns: list = field(default_factory=list)  # (name, type) of the current table
    added_columns: list = field(default_factory=list)
    retyped_columns: list = field(default_factory=list)
    skipped_reason: str | None = None
    gap: str | None = None


@dataclass(frozen=True)
class Comparison:
    identical: bool
    current_rows: int
    export_items: int
    missing: int  # in the export, not in current
    extra: int  # in current, not in the export
    different: int  # same key, some typed column (or the set of attributes) differs
    examples: tuple = ()  # (kind, item key, {column: [current, export]} for "different")
    columns: tuple = ()  # the columns compared


# Examples kept per kind (missing / extra / different).
COMPARE_EXAMPLES = 5


def key_attributes_of(ddb, table_name: str) -> list[str]:
    """The table's key attributes (hash, then range) from DescribeTable."""
    from ddb_assets.dynamodb.exports import _call

    desc = _call(lambda: ddb.describe_table(TableName=table_name), table=table_name)["Table"]
    order = {"HASH": 0, "RANGE": 1}
    return [
        k["AttributeName"] for k in sorted(desc["KeySchema"], key=lambda k: order[k["KeyType"]])
    ]
