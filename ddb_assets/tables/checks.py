"""Plain check functions (the Dagster asset checks wrap them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ddb_assets.tables.plan import ColumnInfo, SchemaChange, diff_columns


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def check_row_count(row_count: int, manifest_item_count: int) -> CheckOutcome:
    """A snapshot must hold exactly the items the export's manifest says it wrote."""
    ok = int(row_count) == int(manifest_item_count)
    desc = f"snapshot has {row_count} rows, manifest itemCount is {manifest_item_count}" + (
        "" if ok else f" (difference {int(row_count) - int(manifest_item_count):+d})"
    )
    return CheckOutcome(
        ok, desc, {"row_count": int(row_count), "manifest_item_count": int(manifest_item_count)}
    )


def schema_drift(old: Iterable[ColumnInfo], new: Iterable[ColumnInfo]) -> list[SchemaChange]:
    """New, removed and type-changed columns between two snapshots' column lists."""
    return diff_columns(
        {c.name: (c.sql_type, c.attribute) for c in old},
        {c.name: (c.sql_type, c.attribute) for c in new},
    )


def check_schema_drift(
    old: Iterable[ColumnInfo], new: Iterable[ColumnInfo], *, allow_added: bool = True
) -> CheckOutcome:
    """Passes when nothing was removed or retyped (and, unless allowed, nothing added)."""
    changes = schema_drift(old, new)
    bad = [c for c in changes if c.kind != "added" or not allow_added]
    desc = (
        "; ".join(
            f"{c.kind} {c.column}"
            + (f" {c.old_type} -> {c.new_type}" if c.kind == "type_changed" else "")
            for c in changes
        )
        or "no schema change"
    )
    return CheckOutcome(not bad, desc, {"changes": [c.__dict__ for c in changes]})
