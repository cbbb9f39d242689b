"""One snapshot written in one transaction (:func:`write_snapshot`): the column plan and
its physical columns (reused, widened or added), the typed files, the metadata, the file
list and the views switch together, so a failed load leaves the previous state and views
untouched (and removes the files it wrote); the replaced files are removed after the
commit.

Verified before visible: the blocking checks (the manifest's itemCount, unique primary
keys; :mod:`ddb_assets.tables.checks`) are decided on the written files inside the
transaction, before the COMMIT; a failure rolls back and removes the new files, so the
latest view, the file list and the previous snapshot's files stay exactly as they were.
No leaks: after every COMMIT the files of loads that died earlier (killed before their
COMMIT, or after it before removing what they replaced) are swept
(:mod:`ddb_assets.tables.orphans`); a failed COMMIT raises its own error (the disk is full,
say), never the ROLLBACK's. The seams a crash can hit are named in
:mod:`ddb_assets.tables.faults`."""

from __future__ import annotations

import contextlib

from ddb_assets import table_names
from ddb_assets.sql.identifiers import qualified, quote_ident
from ddb_assets.tables import faults, orphans
from ddb_assets.tables.checks import Expectation, require_row_count, require_unique_keys
from ddb_assets.tables.duckdb.insert import insert_rows
from ddb_assets.tables.duckdb.recheck import GuessMissed, direct_stats, plan_key
from ddb_assets.tables.duckdb.storage import (
    FILES_DDL,
    LOADS_DDL,
    META_DDL,
    SnapshotWriter,
    changed_columns,
    migrate_table,
    read_files_sql,
    record_snapshot,
    remove_files,
    snapshot_root,
    sweep_dead_loads,
    table_exists,
)
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_RAW,
    SnapshotResult,
    UnfitNumbers,
    plan_columns,
)
from ddb_assets.tables.transactions import rollback_quietly
from ddb_assets.tables.types import DECIMAL_PRECISION, TypeSpec, parse_type


def write_snapshot(
    con,
    schema,
    table,
    snapshot_date,
    files,
    stats,
    overrides,
    structures,
    stage=None,
    *,
    expect: Expectation | None = None,
) -> SnapshotResult:
    snapshots = qualified(schema, table_names.snapshots(table))
    meta = qualified(schema, table_names.columns(table))
    loads = qualified(schema, table_names.loads(table))
    files_tbl = qualified(schema, table_names.files(table))
    view = qualified(schema, table)
    root = snapshot_root(con)
    running = contextlib.ExitStack()
    with running:
        return _write(
            con,
            schema,
            table,
            snapshot_date,
            files,
            stats,
            overrides,
            structures,
            stage,
            expect,
            running,
            (snapshots, meta, loads, files_tbl, view, root),
        )


def _write(
    con,
    schema,
    table,
    snapshot_date,
    files,
    stats,
    overrides,
    structures,
    stage,
    expect,
    running,
    names,
) -> SnapshotResult:
    snapshots, meta, loads, files_tbl, view, root = names
    writer: SnapshotWriter | None = None
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        con.execute(META_DDL.format(meta=meta))
        con.execute(FILES_DDL.format(files=files_tbl))
        if not table_exists(con, schema, table_names.loads(table)):
            # A warehouse written before the load log: rebuild it from the column metadata.
            con.execute(LOADS_DDL.format(loads=loads))
            con.execute(
                f"INSERT INTO {loads} SELECT snapshot_date, max(load_seq), max(coalesce(row_count, 0)) "
                f"FROM {meta} GROUP BY snapshot_date"
            )
        hist_rows = con.execute(
            f"SELECT attribute, column_name, physical_column, physical_type, max_int_digits, load_seq, "
            f"snapshot_date, sql_type, role FROM {meta} ORDER BY load_seq, ordinal"
        ).fetchall()
        last_seq, prev_date = con.execute(
            f"SELECT max(load_seq), max(snapshot_date) FILTER (WHERE snapshot_date < ?) FROM {loads}",
            [snapshot_date],
        ).fetchone()
        load_seq = 1 + max([r[5] for r in hist_rows] + [last_seq or 0])
        writer = SnapshotWriter(root, schema, table, snapshot_date, load_seq)
        running.enter_context(orphans.running(writer.prefix))  # not an orphan while it runs
        if table_exists(con, schema, table_names.snapshots(table)):  # a table, not the view
            migrate_table(con, schema, table, snapshots, meta, files_tbl, writer)
        history = {a: c for a, c, _, _, _, _, _, _, role in hist_rows if role == "value"}
        # physical column -> (current canonical type, max integer digits ever stored)
        physical: dict[str, list] = {}
        by_column: dict[str, str] = {}  # column name -> its latest physical column
        for _attr, col, phys, ptype, mi, _seq, _sdate, _, _ in hist_rows:
            entry = physical.setdefault(phys, [ptype, mi])
            entry[0] = ptype
            if mi is not None:
                entry[1] = max(entry[1] or 0, mi)
            by_column[col] = phys
        previous_types = {c: parse_type(physical[p][0]) for c, p in by_column.items()}
        plans, conflicts = plan_columns(
            stats, overrides, history=history, previous_types=previous_types
        )

        # Physical columns: reuse when the type matches, widen a decimal scale when every
        # stored value still fits (the views cast older files to it), otherwise add a new
        # physical column (old snapshots keep theirs, typed as they were).
        for p in plans:
            want = p.type.canonical()
            phys = by_column.get(p.column)
            if phys is not None and physical[phys][0] == want:
                p.physical = phys
                continue
            if phys is not None and _can_widen(
                parse_type(physical[phys][0]),
                p.type,
                max(physical[phys][1] or 0, p.max_int_digits or 0),
            ):
                physical[phys][0] = want
                p.physical = phys
                continue
            name, n = p.column, 1
            while name in physical or name == PARTITION_COLUMN:
                n += 1
                name = f"{p.column}__v{n}"
            physical[name] = [want, p.max_int_digits]
            p.physical = name

        replaced = [
            r[0]
            for r in con.execute(
                f"SELECT file FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date]
            ).fetchall()
        ]
        con.execute(f"DELETE FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date])
        row_count = 0
        if files:
            row_count = insert_rows(
                con, writer, snapshot_date, files, plans, stats, overrides, structures, stage
            )
            writer.drop_empty()
        written = read_files_sql(writer.files()) if writer.written else None
        if stage is not None and stage.direct is not None and written:
            # The plan came from the sample; the statistics of every row (the writer's, or
            # read back from the typed columns) must give the same plan (else rolled back).
            exact = direct_stats(
                con,
                written,
                plans,
                stats,
                (writer.written[0][1], writer.stats[0]) if len(writer.stats) == 1 else None,
            )
            again, conflicts = plan_columns(
                exact, overrides, history=history, previous_types=previous_types
            )
            if [plan_key(p) for p in again] != [plan_key(p) for p in plans]:
                raise GuessMissed("the statistics of every row give another plan than the sample's")
            for p, q in zip(plans, again):
                p.max_int_digits = q.max_int_digits
        faults.point("after_write")
        # The blocking checks, decided before anything is visible (a failure rolls back).
        require_row_count(expect, row_count)
        _require_unique_keys(con, expect, plans, written)

        con.execute(f"DELETE FROM {meta} WHERE snapshot_date = ?", [snapshot_date])
        for i, p in enumerate(plans):
            con.execute(
                f"INSERT INTO {meta} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    snapshot_date,
                    i,
                    p.column,
                    p.physical,
                    p.type.canonical(),
                    physical[p.physical_column][0],
                    p.attribute,
                    p.role,
                    p.dynamodb_types,
                    p.max_int_digits,
                    load_seq,
                    row_count,
                ],
            )

        unfit: list[UnfitNumbers] = []
        for p in plans:
            if p.role != ROLE_RAW or not written:
                continue
            count, examples = con.execute(
                f"SELECT count({quote_ident(p.physical_column)}), "
                f"(list({quote_ident(p.physical_column)} ORDER BY {quote_ident(p.physical_column)}) "
                f"FILTER (WHERE {quote_ident(p.physical_column)} IS NOT NULL))[1:5] "
                f"FROM {written}"
            ).fetchone()
            unfit.append(
                UnfitNumbers(
                    p.attribute,
                    p.column[: -len("__raw")],
                    p.column,
                    int(count),
                    tuple(examples or ()),
                )
            )

        latest = record_snapshot(
            con,
            root,
            snapshots=snapshots,
            view=view,
            meta=meta,
            files_tbl=files_tbl,
            loads=loads,
            snapshot_date=snapshot_date,
            load_seq=load_seq,
            rows=row_count,
            written=writer.written,
        )
        changes = changed_columns(
            con, meta, prev_date, {p.column: (p.type.canonical(), p.attribute) for p in plans}
        )
        faults.point("before_commit")
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)  # a failed COMMIT already ended it: its own error is raised
        if writer is not None:
            writer.discard()
        raise
    faults.point("after_commit")
    # The replaced files: no view reads them since the commit.
    remove_files(root, replaced)
    sweep_dead_loads(con, root, schema, table, files_tbl)

    return SnapshotResult(
        engine="duckdb",
        snapshot_date=snapshot_date,
        row_count=int(row_count),
        columns=[p.info() for p in plans],
        name_map={p.column: p.attribute for p in plans},
        conflicts=conflicts,
        unfit_numbers=unfit,
        schema_changes=changes,
        previous_snapshot_date=prev_date,
        view_name=view,
        physical_table_name=snapshots,
        latest_snapshot_date=latest,
    )


def _require_unique_keys(con, expect: Expectation | None, plans, written) -> None:
    """Repeated primary keys in the written files (a full export holds each item once)."""
    if expect is None or not expect.key_attributes or not written:
        return
    cols = [
        quote_ident(p.physical)
        for a in expect.key_attributes
        for p in plans
        if p.attribute == a and p.role != ROLE_RAW
    ]
    if len(cols) != len(expect.key_attributes):
        return  # a key attribute dropped by an override: the rows carry no key to compare
    keys = ", ".join(cols)
    groups = f"SELECT {keys}, count(*) AS n FROM {written} GROUP BY {keys} HAVING count(*) > 1"
    duplicates = con.execute(f"SELECT coalesce(sum(n - 1), 0) FROM ({groups})").fetchone()[0]
    if duplicates:
        examples = con.execute(f"{groups} ORDER BY {keys} LIMIT 5").fetchall()
        require_unique_keys(expect, int(duplicates), [tuple(r) for r in examples])


def _can_widen(old: TypeSpec, new: TypeSpec, max_int_digits: int) -> bool:
    """A DECIMAL(38, s) (or array of it) can take a larger scale if every value still fits."""
    if old.name == "array" and new.name == "array":
        assert old.element is not None and new.element is not None
        old, new = old.element, new.element
    return (
        old.name == "decimal"
        and new.name == "decimal"
        and old.precision == new.precision == DECIMAL_PRECISION
        and old.scale is not None
        and new.scale is not None
        and new.scale > old.scale
        and max_int_digits <= DECIMAL_PRECISION - new.scale
    )
