"""What a MariaDB server holds, and frozen copies of it (the local RDS snapshots).

Identifiers reach SQL only through :func:`quote_ident` (MariaDB: backticks, always); values are
bound parameters. A snapshot copies every base table of the instance's user databases into
databases of its own (``CREATE DATABASE`` + ``CREATE TABLE ... LIKE`` + ``INSERT ... SELECT``),
so later writes to the source never change it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Databases RDS never exports (the server's own) plus the copies this module makes.
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
SNAPSHOT_DB_PREFIX = "rdslocal_snap_"


def quote_ident(name: str) -> str:
    """A MariaDB identifier in backticks (any name MariaDB allows; backticks doubled)."""
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name:
        raise ValueError(f"not a MariaDB identifier: {name!r}")
    return "`" + name.replace("`", "``") + "`"


def is_user_database(name: str) -> bool:
    return name.lower() not in SYSTEM_DATABASES and not name.startswith(SNAPSHOT_DB_PREFIX)


@dataclass(frozen=True)
class Column:
    """One row of information_schema.COLUMNS (what the type mapping needs)."""

    name: str
    data_type: str  # e.g. "bigint", "decimal", "enum"
    column_type: str  # e.g. "bigint(20) unsigned", "decimal(65,30)", "enum('a','b')"
    numeric_precision: int | None
    numeric_scale: int | None
    char_max_length: int | None
    datetime_precision: int | None
    generated: bool

    @property
    def unsigned(self) -> bool:
        return " unsigned" in self.column_type.lower()


@dataclass(frozen=True)
class Table:
    database: str
    name: str
    columns: tuple[Column, ...]


def user_databases(conn) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        return [r[0] for r in cur.fetchall() if is_user_database(r[0])]


def tables(conn, database: str) -> list[Table]:
    """Base tables of ``database`` with their columns in ordinal order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (database,),
        )
        names = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, "
            "NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH, DATETIME_PRECISION, EXTRA "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        by_table: dict[str, list[Column]] = {}
        for tname, cname, dtype, ctype, prec, scale, clen, dtp, extra in cur.fetchall():
            extra_l = (extra or "").lower()
            by_table.setdefault(tname, []).append(
                Column(
                    name=cname,
                    data_type=dtype.lower(),
                    column_type=ctype,
                    numeric_precision=None if prec is None else int(prec),
                    numeric_scale=None if scale is None else int(scale),
                    char_max_length=None if clen is None else int(clen),
                    datetime_precision=None if dtp is None else int(dtp),
                    generated="generated" in extra_l
                    or "virtual" in extra_l
                    or "persistent" in extra_l
                    or "stored" in extra_l,
                )
            )
    return [Table(database, n, tuple(by_table.get(n, ()))) for n in names]


# --------------------------------------------------------------------------------------
# Snapshot copies
# --------------------------------------------------------------------------------------


@dataclass
class SnapshotCopy:
    """Where a snapshot's databases live on the server: source database → copy database."""

    databases: dict[str, str] = field(default_factory=dict)

    def copy_of(self, database: str) -> str:
        return self.databases[database]


_SAFE = re.compile(r"[^0-9a-z_]")


def snapshot_database_name(snapshot_seq: int, index: int) -> str:
    return f"{SNAPSHOT_DB_PREFIX}{snapshot_seq:06d}_{index:03d}"


def capture(conn, snapshot_seq: int, databases: list[str] | None = None) -> SnapshotCopy:
    """Copy ``databases`` (default: every user database) into fresh databases.

    All copy tables are created first (DDL commits implicitly), then the rows of every table are
    copied inside one transaction, so the copies agree with each other. A failure drops every
    copy made so far: a snapshot exists whole or not at all.
    """
    dbs = user_databases(conn) if databases is None else list(databases)
    copy = SnapshotCopy()
    plan: list[tuple[str, str, Table]] = []
    try:
        with conn.cursor() as cur:
            for i, db in enumerate(dbs):
                target = snapshot_database_name(snapshot_seq, i)
                cur.execute(
                    f"CREATE DATABASE {quote_ident(target)} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
                copy.databases[db] = target
                for table in tables(conn, db):
                    cur.execute(
                        f"CREATE TABLE {quote_ident(target)}.{quote_ident(table.name)} "
                        f"LIKE {quote_ident(db)}.{quote_ident(table.name)}"
                    )
                    plan.append((db, target, table))
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            for db, target, table in plan:
                cols = [c for c in table.columns if not c.generated]
                names = ", ".join(quote_ident(c.name) for c in cols)
                cur.execute(
                    f"INSERT INTO {quote_ident(target)}.{quote_ident(table.name)} ({names}) "
                    f"SELECT {names} FROM {quote_ident(db)}.{quote_ident(table.name)}"
                )
            cur.execute("COMMIT")
    except BaseException:
        drop(conn, copy)
        raise
    return copy


def drop(conn, copy: SnapshotCopy) -> None:
    with conn.cursor() as cur:
        for target in copy.databases.values():
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(target)}")


def row_count(conn, database: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(database)}.{quote_ident(table)}")
        return int(cur.fetchone()[0])


def select_rows(conn, database: str, table: Table, batch: int = 10_000) -> Any:
    """Yield lists of row tuples, every value as MariaDB's own text or bytes (see export)."""
    import pymysql.cursors

    exprs = []
    for c in table.columns:
        q = quote_ident(c.name)
        # Binary types come back as bytes; everything else as the server's text for the value.
        if c.data_type in (
            "binary",
            "varbinary",
            "tinyblob",
            "blob",
            "mediumblob",
            "longblob",
            "bit",
            "geometry",
            "point",
            "linestring",
            "polygon",
            "multipoint",
            "multilinestring",
            "multipolygon",
            "geometrycollection",
        ):
            exprs.append(q)
        else:
            exprs.append(f"CAST({q} AS CHAR CHARACTER SET utf8mb4)")
    sql = f"SELECT {', '.join(exprs)} FROM {quote_ident(database)}.{quote_ident(table.name)}"
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(sql)
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                break
            yield rows
