"""Where a DuckDB snapshot lives: one folder of Parquet files per snapshot next to the
warehouse file (:func:`snapshot_root`, :func:`snapshot_folder`, :class:`SnapshotWriter`),
the metadata tables (``T__columns``, ``T__loads``, ``T__files``) and the views over the
files (``T__snapshots``, ``T``: :func:`snapshot_views`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import tempfile
from collections.abc import Sequence

from ddb_assets import table_names
from ddb_assets.sql.identifiers import qualified, quote_ident
from ddb_assets.sql.literals import path_literal
from ddb_assets.tables import orphans
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import diff_columns
from ddb_assets.tables.types import parse_type

META_DDL = """CREATE TABLE IF NOT EXISTS {meta} (
    snapshot_date DATE NOT NULL, ordinal INTEGER NOT NULL, column_name VARCHAR NOT NULL,
    physical_column VARCHAR NOT NULL, sql_type VARCHAR NOT NULL, physical_type VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL, role VARCHAR NOT NULL, dynamodb_types VARCHAR[],
    max_int_digits INTEGER, load_seq BIGINT NOT NULL, row_count BIGINT)"""


# One row per snapshot (also an empty one, which has no column rows): the latest snapshot
# and the previous one are read here, not from the column metadata.
LOADS_DDL = """CREATE TABLE IF NOT EXISTS {loads} (
    snapshot_date DATE NOT NULL, load_seq BIGINT NOT NULL, row_count BIGINT NOT NULL)"""


# The Parquet files of every snapshot (paths relative to the warehouse's snapshot folder).
FILES_DDL = """CREATE TABLE IF NOT EXISTS {files} (
    snapshot_date DATE NOT NULL, file VARCHAR NOT NULL, row_count BIGINT NOT NULL)"""


# zstd at level 1 writes as fast as snappy (1.86 vs 1.84 CPU-s for the benchmark's 1M typed
# rows) for files half the size (31 vs 56 MB; zstd's default level costs a fifth more);
# DuckDB's own table storage costs about a seventh more CPU for the whole load. Row groups
# are cut by bytes (items can be 400 KB each), within the load's capped memory.
PARQUET_OPTIONS = (
    "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE_BYTES '16MB'"
)


_MEMORY_ROOTS: dict[str, str] = {}


def snapshot_root(con) -> pathlib.Path:
    """The folder that holds the snapshot files of the connection's current database:
    ``<warehouse file>.snapshots`` next to the file, or (an in-memory database) a
    temporary folder removed when the process exits."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if row and row[0]:
        path = pathlib.Path(row[0]).resolve()
        return path.with_name(path.name + ".snapshots")
    if "memory" not in _MEMORY_ROOTS:
        import atexit
        import shutil

        root, pid = tempfile.mkdtemp(prefix="ddb_assets_memory_snapshots_"), os.getpid()
        _MEMORY_ROOTS["memory"] = root

        # Only the process that made it removes it (not a forked child that exits first).
        def _remove() -> None:
            if os.getpid() == pid:
                shutil.rmtree(root, True)

        atexit.register(_remove)
    return pathlib.Path(_MEMORY_ROOTS["memory"])


def snapshot_folder(schema: str, table: str, snapshot_date: dt.date) -> pathlib.PurePosixPath:
    """A snapshot's folder under the snapshot root (as the Athena engine's partitions)."""
    return pathlib.PurePosixPath(schema, table, f"{PARTITION_COLUMN}={snapshot_date.isoformat()}")


def read_files_sql(paths: Sequence[str]) -> str:
    """A FROM item over Parquet files (no Hive columns from the folder names)."""
    return f"read_parquet([{', '.join(path_literal(p) for p in paths)}], hive_partitioning = false)"


class SnapshotWriter:
    """The files one load writes: fresh names in the snapshot's folder, so nothing is
    overwritten; the caller removes them when the load fails (see :func:`.snapshot.write_snapshot`)."""

    def __init__(
        self, root: pathlib.Path, schema: str, table: str, snapshot_date: dt.date, load_seq: int
    ):
        import uuid

        self.root = root
        self.folder = snapshot_folder(schema, table, snapshot_date)
        self.prefix = f"{load_seq:06d}-{uuid.uuid4().hex[:12]}"
        self.written: list[tuple[str, int]] = []  # (path relative to root, rows)
        self.created: list[pathlib.Path] = []  # every file made, written or not
        self.stats: list[dict] = []  # per written file: the writer's column statistics

    def path(self, folder: pathlib.PurePosixPath | None = None) -> tuple[str, pathlib.Path]:
        rel = str((folder or self.folder) / f"{self.prefix}-{len(self.created):04d}.parquet")
        full = self.root / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        self.created.append(full)
        return rel, full

    def copy(
        self,
        con,
        select: str,
        params: dict | None = None,
        folder: pathlib.PurePosixPath | None = None,
    ) -> int:
        """``COPY (select) TO`` a new file of the snapshot; returns its rows."""
        rel, full = self.path(folder)
        cur = con.execute(
            f"COPY ({select}) TO {path_literal(full)} ({PARQUET_OPTIONS}, RETURN_STATS)",
            params or {},
        )
        names = [d[0] for d in cur.description]
        (row,) = cur.fetchall()
        rows = int(row[names.index("count")])
        self.written.append((rel, rows))
        self.stats.append(dict(row[names.index("column_statistics")] or {}))
        return rows

    def files(self) -> list[str]:
        return [str(self.root / rel) for rel, _ in self.written]

    def drop_empty(self) -> None:
        """Remove files without rows (a stage part can be empty), keeping one if all are:
        it carries the snapshot's typed columns."""
        keep = [i for i, (_, n) in enumerate(self.written) if n] or [0][: len(self.written)]
        for i, (rel, _) in enumerate(self.written):
            if i not in keep:
                with contextlib.suppress(OSError):
                    (self.root / rel).unlink()
        self.written = [self.written[i] for i in keep]
        self.stats = [self.stats[i] for i in keep]

    def discard(self) -> None:
        for f in self.created:
            with contextlib.suppress(OSError):
                f.unlink()
        self.written.clear()
        self.stats.clear()


def remove_files(root: pathlib.Path, rels: Sequence[str]) -> None:
    """Remove replaced snapshot files (after the commit that stopped using them) and the
    folders they leave empty. A file that cannot be removed stays, unused."""
    for rel in rels:
        full = root / rel
        with contextlib.suppress(OSError):
            full.unlink()
        with contextlib.suppress(OSError):
            full.parent.rmdir()


def migrate_table(
    con, schema: str, table: str, snapshots: str, meta: str, files_tbl: str, writer: SnapshotWriter
) -> None:
    """A warehouse written before snapshots were Parquet files keeps them in a table
    ``T__snapshots``: write every snapshot of it to its files (typed as its column
    metadata says) and drop the table, in the load's transaction."""
    rows = con.execute(
        f"SELECT snapshot_date, list(physical_column ORDER BY ordinal), "
        f"list(physical_type ORDER BY ordinal) FROM {meta} GROUP BY snapshot_date "
        f"ORDER BY snapshot_date"
    ).fetchall()
    for snapshot_date, physicals, types in rows:
        cols = ", ".join(
            [quote_ident(PARTITION_COLUMN)]
            + [
                f"CAST({quote_ident(c)} AS {parse_type(t).duckdb()}) AS {quote_ident(c)}"
                for c, t in zip(physicals, types)
            ]
        )
        n = writer.copy(
            con,
            f"SELECT {cols} FROM {snapshots} WHERE {quote_ident(PARTITION_COLUMN)} = $d",
            {"d": snapshot_date},
            folder=snapshot_folder(schema, table, snapshot_date),
        )
        con.execute(
            f"INSERT INTO {files_tbl} VALUES (?, ?, ?)", [snapshot_date, writer.written[-1][0], n]
        )
    writer.written.clear()
    writer.stats.clear()
    con.execute(f"DROP TABLE {snapshots}")


def snapshot_views(
    con,
    root: pathlib.Path,
    snapshots: str,
    view: str,
    meta: str,
    files_tbl: str,
    latest: dt.date | None,
) -> None:
    """``T__snapshots`` (every snapshot) and ``T`` (the latest one) as views over the
    snapshot files. A physical column has the type of its latest load; older files whose
    column was narrower (a widened DECIMAL scale) are cast to it. Snapshots with the same
    columns and types share one ``read_parquet``."""
    rows = con.execute(
        f"SELECT snapshot_date, physical_column, physical_type, column_name FROM {meta} "
        f"ORDER BY load_seq, ordinal"
    ).fetchall()
    current: dict[str, str] = {}  # physical column -> its latest type (in the order first seen)
    per_date: dict[dt.date, dict[str, str]] = {}
    for d, phys, ptype, _ in rows:
        current[phys] = ptype
        per_date.setdefault(d, {})[phys] = ptype
    order = list(current)
    files: dict[dt.date, list[str]] = {}
    for d, rel in con.execute(
        f"SELECT snapshot_date, file FROM {files_tbl} ORDER BY snapshot_date, file"
    ).fetchall():
        files.setdefault(d, []).append(str(root / rel))
    date_col = quote_ident(PARTITION_COLUMN)

    def typed(phys: str) -> str:
        return parse_type(current[phys]).duckdb()

    def read(phys: str, in_file: str | None, name: str) -> str:
        """Physical column ``phys`` typed as now, from files that hold it as ``in_file``."""
        if in_file is None:
            return f"CAST(NULL AS {typed(phys)}) AS {quote_ident(name)}"
        value = (
            quote_ident(phys)
            if in_file == current[phys]
            else f"CAST({quote_ident(phys)} AS {typed(phys)})"
        )
        return f"{value} AS {quote_ident(name)}"

    groups: dict[tuple, list[str]] = {}
    for d, paths in files.items():
        groups.setdefault(tuple(sorted(per_date.get(d, {}).items())), []).extend(paths)
    branches = []
    for key, paths in groups.items():
        have = dict(key)
        cols = [date_col] + [read(p, have.get(p), p) for p in order]
        branches.append(f"SELECT {', '.join(cols)} FROM {read_files_sql(paths)}")
    if not branches:
        cols = [f"CAST(NULL AS DATE) AS {date_col}"] + [read(p, None, p) for p in order]
        branches.append(f"SELECT {', '.join(cols)} WHERE false")
    con.execute(f"CREATE OR REPLACE VIEW {snapshots} AS {' UNION ALL '.join(branches)}")

    latest_cols = [(c, p, t) for d, p, t, c in rows if d == latest]
    if latest is not None and files.get(latest):
        select = ", ".join([read(p, t, c) for c, p, t in latest_cols] + [date_col])
        con.execute(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM {read_files_sql(files[latest])}"
        )
    else:
        # No rows (an empty export): the latest snapshot's columns, typed, and no row.
        select = ", ".join(
            [read(p, None, c) for c, p, _ in latest_cols] + [f"CAST(NULL AS DATE) AS {date_col}"]
        )
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select} WHERE false")


def table_exists(con, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def known_attributes(con, schema: str, table: str) -> dict[str, list[str]]:
    """The attributes of the table's earlier snapshots, each with the DynamoDB types it had."""
    if not table_exists(con, schema, table_names.columns(table)):
        return {}
    rows = con.execute(
        f"SELECT attribute, list_distinct(flatten(list(dynamodb_types))) "
        f"FROM {qualified(schema, table_names.columns(table))} GROUP BY attribute ORDER BY attribute"
    ).fetchall()
    return {a: sorted(t or []) for a, t in rows}


def record_snapshot(
    con,
    root: pathlib.Path,
    *,
    snapshots: str,
    view: str,
    meta: str,
    files_tbl: str,
    loads: str,
    snapshot_date: dt.date,
    load_seq: int,
    rows: int,
    written: Sequence[tuple[str, int]],
) -> dt.date:
    """Inside a load's transaction: record day D's load and its files, then re-point the
    snapshots view and the latest view; returns the newest loaded day (what the view serves)."""
    con.execute(f"DELETE FROM {loads} WHERE snapshot_date = ?", [snapshot_date])
    con.execute(f"INSERT INTO {loads} VALUES (?, ?, ?)", [snapshot_date, load_seq, rows])
    for rel, n in written:
        con.execute(f"INSERT INTO {files_tbl} VALUES (?, ?, ?)", [snapshot_date, rel, n])
    latest = con.execute(f"SELECT max(snapshot_date) FROM {loads}").fetchone()[0]
    snapshot_views(con, root, snapshots, view, meta, files_tbl, latest)
    return latest


def changed_columns(
    con, meta: str, prev_date: dt.date | None, new: dict[str, tuple[str, str]]
) -> list:
    """The column changes from the previous loaded day's metadata to ``new``
    (column -> (SQL type, source attribute)); none for a first load."""
    if prev_date is None:
        return []
    old = {
        c: (t, a)
        for c, t, a in con.execute(
            f"SELECT column_name, sql_type, attribute FROM {meta} WHERE snapshot_date = ?",
            [prev_date],
        ).fetchall()
    }
    return diff_columns(old, new)


def sweep_dead_loads(con, root: pathlib.Path, schema: str, table: str, files_tbl: str) -> None:
    """After a commit: remove what loads of this table that died left behind (file-backed
    warehouses only: an in-memory one's folder is shared by the process's in-memory
    databases and removed at exit)."""
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not (path and path[0]):
        return
    orphans.sweep(
        root,
        pathlib.PurePosixPath(schema, table),
        lambda: [r[0] for r in con.execute(f"SELECT file FROM {files_tbl}").fetchall()],
    )
