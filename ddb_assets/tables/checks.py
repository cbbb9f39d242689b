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


# --- Decided before the snapshot becomes visible ------------------------------------------
#
# The engines call these inside the load, after the typed files are written and before the
# transaction (DuckDB) or catalog swap (Athena) that makes them visible. A failure raises
# SnapshotCheckError: the load rolls back, the latest view and the previous snapshot stay
# as they were, and the Dagster asset reports the failed check from the error's fields.

ROW_COUNT = "row_count_matches_export"
UNIQUE_KEYS = "unique_primary_keys"


class SnapshotCheckError(RuntimeError):
    """A blocking check failed before the snapshot became visible (nothing changed)."""

    def __init__(self, check: str, message: str, metadata: dict | None = None):
        super().__init__(message)
        self.check = check
        self.metadata = dict(metadata or {})


@dataclass(frozen=True)
class ExpectedFile:
    name: str  # how messages cite the file (its S3 key)
    item_count: int | None  # manifest-files.json's itemCount
    local_path: str | None = None  # where the DuckDB engine read it from


@dataclass(frozen=True)
class Expectation:
    """What the export's manifest promises, and the table's key: the blocking checks."""

    export: str  # the export ARN (messages name it)
    item_count: int | None = None  # manifest-summary.json's itemCount
    files: tuple[ExpectedFile, ...] = ()
    key_attributes: tuple[str, ...] = ()  # hash key, then range key


def require_row_count(
    expect: Expectation | None, rows: int, rows_per_file: dict[str, int] | None = None
) -> CheckOutcome:
    """Raise :class:`SnapshotCheckError` unless the snapshot holds the manifest's itemCount.

    ``rows_per_file`` (file name -> items read), when the engine can tell, lets the message
    name the files whose count differs from manifest-files.json; otherwise the DuckDB
    engine's local files are counted line by line (only on failure)."""
    if expect is None or expect.item_count is None:
        return CheckOutcome(True, "no itemCount to compare", {"row_count": int(rows)})
    outcome = check_row_count(rows, expect.item_count)
    if outcome.passed:
        return outcome
    if rows_per_file is None:
        from ddb_assets.tables.diagnose import ExportProblem, count_items

        rows_per_file = {}
        for f in expect.files:
            if f.local_path:
                try:
                    rows_per_file[f.name] = count_items(f.local_path)
                except ExportProblem:
                    continue
    off = [
        f"{f.name}: {rows_per_file[f.name]} items, manifest says {f.item_count}"
        for f in expect.files
        if f.item_count is not None
        and f.name in rows_per_file
        and rows_per_file[f.name] != f.item_count
    ]
    listed = sum(f.item_count or 0 for f in expect.files)
    where = (
        "; ".join(off[:5])
        if off
        else (
            f"the data files list {listed} items in manifest-files.json"
            if expect.files
            else "no per-file counts available"
        )
    )
    raise SnapshotCheckError(
        ROW_COUNT,
        f"export {expect.export}: the snapshot would hold {rows} rows but manifest-summary.json "
        f"says itemCount {expect.item_count} ({int(rows) - int(expect.item_count):+d}); {where}. "
        "Nothing was made visible: the latest view and the previous snapshot are unchanged. "
        "Re-export the partition (force: true).",
        {**outcome.metadata, "files_off": off},
    )


def require_unique_keys(
    expect: Expectation | None, duplicates: int, examples: Iterable[tuple] = ()
) -> CheckOutcome:
    """Raise :class:`SnapshotCheckError` when a primary key appears on more than one row
    (a full export holds every item once). ``examples``: (key values..., count) rows."""
    if expect is None or not expect.key_attributes:
        return CheckOutcome(True, "no key attributes to check", {})
    if not duplicates:
        return CheckOutcome(True, "every primary key is unique", {"duplicate_rows": 0})
    shown = list(examples)[:5]
    where = ""
    paths = [f.local_path for f in expect.files if f.local_path]
    if paths:
        where = "; " + "; ".join(
            _locate_keys(paths, expect.key_attributes, [tuple(e[:-1]) for e in shown])
        )
    keys = ", ".join(
        "(" + ", ".join(f"{a}={v!r}" for a, v in zip(expect.key_attributes, e[:-1])) + f") x{e[-1]}"
        for e in shown
    )
    raise SnapshotCheckError(
        UNIQUE_KEYS,
        f"export {expect.export}: {duplicates} row(s) repeat a primary key "
        f"({', '.join(expect.key_attributes)}): {keys}{where}. A full export holds each item "
        "once; nothing was made visible. Re-export the partition (force: true).",
        {"duplicate_rows": int(duplicates), "examples": [list(map(str, e)) for e in shown]},
    )


def _locate_keys(paths, key_attributes, keys) -> list[str]:
    """``file line a, line b`` for each duplicated key (a scan that runs only on failure)."""
    import orjson

    from ddb_assets.tables.diagnose import ExportProblem, iter_lines

    wanted: dict[tuple[str, ...], list[str]] = {tuple(str(v) for v in k): [] for k in keys}
    for p in paths:
        try:
            for n, raw in iter_lines(p):
                item = orjson.loads(raw).get("Item", {})
                k = tuple(str(next(iter(item.get(a, {}).values()), None)) for a in key_attributes)
                if k in wanted:
                    wanted[k].append(f"{p.rsplit('/', 1)[-1]} line {n}")
        except (ExportProblem, orjson.JSONDecodeError, AttributeError):
            continue
    return [f"{'/'.join(k)} at {', '.join(v)}" for k, v in wanted.items() if v]
