"""From discovered attribute statistics (a full pass over the export) to a column plan.

Engine-neutral: both the DuckDB and the Athena engines discover the same statistics
(:class:`AttributeStats`) with SQL, call :func:`plan_columns`, and render the plan.

Type rules (defaults):
  S -> string, N -> decimal(38, s), BOOL -> boolean, B -> binary, SS -> array<string>,
  NS -> array<decimal(38, s)>, BS -> array<binary>, M / L -> json, NULL -> null.
  ``s`` is the largest number of fractional digits among the numbers that fit DECIMAL(38)
  on their own (see :func:`ddb_assets.tables.types.choose_scale`); if the table already has
  a decimal column for the attribute and the new numbers fit it, its scale is kept.

Conflict rule: an attribute seen with two or more DynamoDB types (NULL aside) becomes a
``string`` column holding every value's exact text (S as is, N as its exact digits, BOOL
``true``/``false``, B base64, sets, M and L as JSON), plus a ``<col>__type`` column holding
each row's DynamoDB type tag, so every value and its type survive. A type override on such
an attribute casts that text instead (strictly: a value that does not convert fails the load
loudly). Every conflict is listed in :attr:`SnapshotResult.conflicts`.

Unfit numbers: an N (or an NS element) that DECIMAL(38, s) cannot hold exactly is NULL in
the decimal column and its exact text is kept in ``<col>__raw`` (for NS, the whole set as a
JSON array of strings); they are counted in :attr:`SnapshotResult.unfit_numbers`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ddb_assets.tables.naming import assign_column_names
from ddb_assets.tables.types import (
    BINARY,
    BOOLEAN,
    DECIMAL_PRECISION,
    JSON,
    STRING,
    ColumnOverride,
    TypeSpec,
    array_of,
    choose_scale,
    decimal_type,
    parse_type,
)

ROLE_VALUE = "value"
ROLE_TYPE = "type"  # <col>__type: the DynamoDB type tag of a conflicted attribute
ROLE_RAW = "raw"  # <col>__raw: exact text of numbers that do not fit the decimal column


@dataclass
class AttributeStats:
    """What a full pass learned about one attribute."""

    attribute: str
    type_counts: dict[str, int] = field(default_factory=dict)
    numbers: int = 0  # N values plus NS elements
    max_int_digits: int | None = None  # among numbers that fit DECIMAL(38) on their own
    max_scale: int | None = None  # idem
    unfit_alone: int = 0  # numbers needing more than 38 digits

    @property
    def non_null_types(self) -> list[str]:
        return sorted(t for t in self.type_counts if t != "NULL")


@dataclass
class ColumnPlan:
    column: str  # the name analysts see
    type: TypeSpec
    attribute: str
    role: str = ROLE_VALUE
    dynamodb_types: list[str] = field(default_factory=list)
    source_tag: str | None = None  # the single non-NULL tag, None for conflicts / null-only
    decimal_scale: int | None = None
    needs_fit_check: bool = False  # some numbers may not fit -> guard the cast
    override_type: bool = False
    physical: str | None = None  # column in the snapshots table (set by the engine)
    max_int_digits: int | None = None

    @property
    def physical_column(self) -> str:
        """The physical column, which the engine names before it writes the plan."""
        if self.physical is None:
            raise ValueError(f"column {self.column!r} has no physical column yet")
        return self.physical

    def info(self) -> ColumnInfo:
        """What a load reports of this column (its result's ``columns``)."""
        return ColumnInfo(
            self.column,
            self.type.canonical(),
            self.attribute,
            tuple(self.dynamodb_types),
            self.role,
            self.physical,
        )

    def as_dict(self) -> dict:
        return {
            "column": self.column,
            "physical": self.physical,
            "type": self.type.canonical(),
            "attribute": self.attribute,
            "role": self.role,
            "dynamodb_types": list(self.dynamodb_types),
            "max_int_digits": self.max_int_digits,
        }


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    sql_type: str  # canonical (Hive spelling), e.g. decimal(38,2)
    attribute: str
    dynamodb_types: tuple[str, ...]
    role: str = ROLE_VALUE
    physical_name: str | None = None


@dataclass(frozen=True)
class TypeConflict:
    attribute: str
    column: str
    type_counts: dict[str, int]
    resolution: str


@dataclass(frozen=True)
class UnfitNumbers:
    attribute: str
    column: str
    raw_column: str
    count: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchemaChange:
    kind: str  # "added" | "removed" | "type_changed"
    column: str
    attribute: str | None
    old_type: str | None = None
    new_type: str | None = None


@dataclass
class SnapshotResult:
    engine: str
    snapshot_date: dt.date
    row_count: int
    columns: list[ColumnInfo]
    name_map: dict[str, str]  # column -> attribute
    conflicts: list[TypeConflict]
    unfit_numbers: list[UnfitNumbers]
    schema_changes: list[SchemaChange]
    previous_snapshot_date: dt.date | None
    view_name: str  # qualified, quoted
    physical_table_name: str  # qualified, quoted
    latest_snapshot_date: dt.date | None = None
    typed_location: str | None = None  # Athena: the Parquet location of this run
    query_ids: list[str] = field(default_factory=list)
    bytes_scanned: int = 0

    @property
    def added_columns(self) -> list[str]:
        return [c.column for c in self.schema_changes if c.kind == "added"]


def _default_type(tag: str, scale: int | None) -> TypeSpec:
    if tag == "S":
        return STRING
    if tag == "N":
        return decimal_type(scale or 0)
    if tag == "BOOL":
        return BOOLEAN
    if tag == "B":
        return BINARY
    if tag == "SS":
        return array_of(STRING)
    if tag == "NS":
        return array_of(decimal_type(scale or 0))
    if tag == "BS":
        return array_of(BINARY)
    if tag in ("M", "L"):
        return JSON
    return STRING  # NULL only


def plan_columns(
    stats: Iterable[AttributeStats],
    overrides: Mapping[str, ColumnOverride] | None = None,
    *,
    history: Mapping[str, str] | None = None,
    previous_types: Mapping[str, TypeSpec] | None = None,
    previous_int_digits: Mapping[str, int] | None = None,
) -> tuple[list[ColumnPlan], list[TypeConflict]]:
    """Columns for one snapshot.

    ``history``: attribute -> column name from earlier snapshots (names stay stable).
    ``previous_types``: column -> type of the column in the latest earlier snapshot (a
    decimal keeps its scale when the new numbers fit it).
    """
    overrides = dict(overrides or {})
    by_attr: dict[str, AttributeStats] = {s.attribute: s for s in stats}
    for attr, ov in overrides.items():
        if not isinstance(ov, ColumnOverride):
            raise TypeError(
                f"override for {attr!r} must be a ColumnOverride, got {type(ov).__name__}"
            )
        if ov.type is not None:
            parse_type(ov.type)  # fail early on a bad type, even if the attribute is absent
    kept = [a for a in by_attr if not overrides.get(a, ColumnOverride()).drop]
    renames = {a: r for a in kept if a in overrides and (r := overrides[a].rename)}
    names = assign_column_names(kept, history=history, renames=renames)
    previous_types = dict(previous_types or {})
    plans: list[ColumnPlan] = []
    conflicts: list[TypeConflict] = []
    for attr in sorted(kept, key=lambda a: names[a]):
        st = by_attr[attr]
        col = names[attr]
        ov = overrides.get(attr, ColumnOverride())
        tags = st.non_null_types
        seen = sorted(st.type_counts)
        plan = ColumnPlan(
            column=col,
            type=STRING,
            attribute=attr,
            dynamodb_types=seen,
            source_tag=tags[0] if len(tags) == 1 else None,
            max_int_digits=st.max_int_digits,
        )
        if ov.type is not None:
            plan.type = parse_type(ov.type)
            plan.override_type = True
        elif len(tags) == 1:
            tag = tags[0]
            scale = None
            if tag in ("N", "NS"):
                scale = choose_scale(st.max_int_digits, st.max_scale)
                prev = previous_types.get(col)
                prev_dec = prev.element if prev is not None and prev.name == "array" else prev
                if (
                    prev_dec is not None
                    and prev_dec.name == "decimal"
                    and prev_dec.precision == DECIMAL_PRECISION
                    and prev_dec.scale is not None
                    and (st.max_scale or 0) <= prev_dec.scale
                    and (st.max_int_digits or 0) <= DECIMAL_PRECISION - prev_dec.scale
                ):
                    scale = prev_dec.scale
                plan.decimal_scale = scale
                mi, ms = st.max_int_digits or 0, st.max_scale or 0
                plan.needs_fit_check = (
                    st.unfit_alone > 0 or ms > scale or mi > DECIMAL_PRECISION - scale
                )
            plan.type = _default_type(tag, scale)
        plans.append(plan)
        if len(tags) > 1:
            conflicts.append(
                TypeConflict(
                    attribute=attr,
                    column=col,
                    type_counts=dict(st.type_counts),
                    resolution=(
                        f"cast to {plan.type.canonical()} from each value's text"
                        if ov.type
                        else f"string column {col!r} with each value's exact text; "
                        f"DynamoDB type per row in {col + '__type'!r}"
                    ),
                )
            )
            if ov.type is None:
                plans.append(
                    ColumnPlan(
                        column=col + "__type",
                        type=STRING,
                        attribute=attr,
                        role=ROLE_TYPE,
                        dynamodb_types=seen,
                    )
                )
        if plan.needs_fit_check and not plan.override_type:
            plans.append(
                ColumnPlan(
                    column=col + "__raw",
                    type=STRING,
                    attribute=attr,
                    role=ROLE_RAW,
                    dynamodb_types=seen,
                    source_tag=plan.source_tag,
                    decimal_scale=plan.decimal_scale,
                )
            )
    return plans, conflicts


def diff_columns(
    old: Mapping[str, tuple[str, str | None]], new: Mapping[str, tuple[str, str | None]]
) -> list[SchemaChange]:
    """Schema changes between two snapshots' columns, each column -> (type, attribute)."""
    changes: list[SchemaChange] = []
    for col in sorted(new.keys() - old.keys()):
        changes.append(SchemaChange("added", col, new[col][1], None, new[col][0]))
    for col in sorted(old.keys() - new.keys()):
        changes.append(SchemaChange("removed", col, old[col][1], old[col][0], None))
    for col in sorted(old.keys() & new.keys()):
        if old[col][0] != new[col][0]:
            changes.append(SchemaChange("type_changed", col, new[col][1], old[col][0], new[col][0]))
    return changes
