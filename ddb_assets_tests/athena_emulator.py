"""A test-only Athena: a :class:`~ddb_assets.athena.client.SqlRunner` that EXECUTES Athena SQL.

moto's Athena records calls but runs no SQL, so the Athena code paths were only checked for
"every statement parses". :class:`AthenaEmulator` runs the statements for real, with DuckDB
as the engine and the Glue Data Catalog + S3 (moto in-process, or the ``LocalAWS`` stack;
it only needs boto3 ``glue`` and ``s3`` clients) as the storage, the way Athena does:

* ``SELECT`` / ``WITH``: every table reference is resolved through Glue (``get_table``,
  ``get_partitions``). TEXTFILE tables (``TextInputFormat`` / LazySimpleSerDe) are read
  line by line from every object under the table's or each partition's S3 location
  (recursively; ``.gz`` objects gunzipped; names starting with ``_`` or ``.`` skipped, as
  Athena does), split on the SerDe's ``field.delim``, with the partition values added.
  Parquet tables are downloaded and read with ``read_parquet``; columns are matched by name
  (missing ones read NULL) and each file column's type must be the catalog's type, else the
  query fails with ``HIVE_BAD_DATA`` like Athena. Views (Glue ``VIRTUAL_VIEW`` entries in
  Athena's ``/* Presto View: <base64> */`` form, or views created through this emulator)
  are expanded. Partitions are pruned for ``<partition key> = <literal>`` conjuncts of the
  WHERE of the SELECT that reads the table, so ``bytes_scanned`` (the size of the objects
  read; not column-pruned) is per partition as on Athena.
  The statement is transpiled with :func:`ddb_assets.sql.transpile.athena_to_duckdb` (the
  same translation the DuckDB engine uses) and run in a UTC DuckDB session.
* ``CREATE TABLE ... WITH (format = 'PARQUET', external_location = 's3://...') AS SELECT``:
  fails with ``HIVE_PATH_ALREADY_EXISTS`` if the location holds objects, ``TABLE_ALREADY_EXISTS``
  if the catalog has the table, ``COLUMN_NAME_NOT_SPECIFIED`` for an unnamed column,
  ``NOT_SUPPORTED`` for a type Hive cannot store (``timestamp with time zone``, ``json``
  is written as ``string`` because DuckDB has no distinct Trino json here); else writes the
  result as one Parquet object (``write_compression``, zstd by default; no object for zero
  rows, as Trino) and registers the table in Glue with Athena's Hive types and the Parquet
  SerDe.
* ``CREATE [OR REPLACE] VIEW db.v AS SELECT ...``: validated by binding, stored in Glue as
  Athena stores it (``VIRTUAL_VIEW``, Presto view text, Hive column types).
* ``DROP TABLE|VIEW [IF EXISTS]``: removes the catalog entry (the data stays, as for an
  external table; an Iceberg table's data is deleted with it, as Athena does).
* ``CREATE EXTERNAL TABLE [IF NOT EXISTS] (...) [PARTITIONED BY (col type)] [ROW FORMAT
  DELIMITED FIELDS TERMINATED BY ...] [STORED AS TEXTFILE|PARQUET] LOCATION ...``: a Hive table
  in Glue (LazySimpleSerDe with ``field.delim``, Hive escapes such as ``'\u0001'`` decoded).
  ``CREATE TABLE`` without ``EXTERNAL`` and without ``'table_type'='ICEBERG'`` is refused.
* ``ALTER TABLE ... ADD [IF NOT EXISTS] PARTITION (k = 'v') [LOCATION ...]`` on Hive tables
  (Glue ``create_partition``; an existing partition is ``ALREADY_EXISTS`` without IF NOT EXISTS).
* Iceberg: ``CREATE TABLE [IF NOT EXISTS] (...) [PARTITIONED BY (col)] LOCATION ...
  TBLPROPERTIES ('table_type'='ICEBERG', ...)`` is registered in Glue as Athena does
  (``Parameters``: ``table_type = ICEBERG``, ``metadata_location``, then
  ``previous_metadata_location``; no ``PartitionKeys``; each column's ``iceberg.field.id``);
  types Iceberg lacks (tinyint, smallint, char, varchar) and ``EXTERNAL`` are refused.
  Storage is emulated copy-on-write: every ``INSERT INTO`` / ``DELETE FROM`` / ``UPDATE`` /
  ``MERGE INTO`` loads the table, runs the statement in DuckDB (MERGE: DuckDB's own; a target
  row matched twice is ``MERGE_TARGET_ROW_MULTIPLE_MATCHES``) and writes the table's rows as new
  Parquet files under ``LOCATION/data/`` (one per identity-partition value), then a new
  ``LOCATION/metadata/<n>-<uuid>.metadata.json`` (schemas with field ids, partition spec,
  snapshots; each snapshot lists its data files inline, where Iceberg has Avro manifests)
  and swaps Glue's ``metadata_location`` to it, failing with ``ICEBERG_COMMIT_ERROR`` when
  another commit moved it meanwhile. Reads follow the current snapshot's file list (never a
  listing), resolve columns by field id (a dropped and re-added column reads NULL from older
  files) and prune files by ``<partition column> = <literal>``. ``ALTER TABLE ADD COLUMNS`` and
  ``DROP COLUMN`` change the schema only (a partition column cannot be dropped).
  An ``INSERT`` whose query types Trino cannot coerce to the table's fails with
  ``TYPE_MISMATCH`` (e.g. ``timestamp with time zone`` into ``timestamp``).
* ``DELETE`` / ``UPDATE`` / ``MERGE`` on a Hive table: ``NOT_SUPPORTED`` ("Modifying Hive table
  rows is only supported for transactional tables"), as Athena.
* Anything else raises :class:`AthenaQueryError` with ``NOT_SUPPORTED``. Not modelled: INSERT
  INTO Hive tables, ADD COLUMNS on Hive tables, Iceberg partition transforms other than
  identity, hidden metadata tables (``"t$snapshots"``), time travel, ``OPTIMIZE`` / ``VACUUM``,
  type checks of MERGE / UPDATE assignments (DuckDB casts them), merge-on-read delete files
  (Athena writes positional deletes; the result is the same rows).

Every statement is first checked with :func:`check_athena_sql`, as the real client does.
Results: column names as Trino gives them (lower case, ``_colN`` for unnamed expressions),
values as Python objects from DuckDB (``Decimal``, ``date``, ``bytes``, lists, dicts).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from ddb_assets.athena.client import AthenaQueryError, QueryResult, check_athena_sql
from ddb_assets.sql.transpile import TranspileError, athena_to_duckdb, prepare_duckdb_connection

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
PRESTO_VIEW_PREFIX = "/* Presto View: "
PRESTO_VIEW_SUFFIX = " */"

# ---------------------------------------------------------------------------------------
# Hive / Athena / DuckDB types


class _TypeParser:
    """Parses Hive type strings as Glue stores them: ``array<struct<a:decimal(38,2)>>``."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = [
            t for t in re.findall(r"`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[<>(),:]", text)
        ]
        self.i = 0

    def _next(self) -> str:
        if self.i >= len(self.tokens):
            raise ValueError(f"unexpected end of type {self.text!r}")
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _expect(self, tok: str) -> None:
        got = self._next()
        if got != tok:
            raise ValueError(f"expected {tok!r} in type {self.text!r}, got {got!r}")

    def parse(self) -> tuple:
        t = self._type()
        if self._peek() is not None:
            raise ValueError(f"trailing text in type {self.text!r}")
        return t

    def _type(self) -> tuple:
        name = self._next().lower()
        if name == "array":
            self._expect("<")
            inner = self._type()
            self._expect(">")
            return ("array", inner)
        if name == "map":
            self._expect("<")
            k = self._type()
            self._expect(",")
            v = self._type()
            self._expect(">")
            return ("map", k, v)
        if name == "struct":
            self._expect("<")
            fields = []
            while True:
                fname = self._next().strip("`")
                self._expect(":")
                fields.append((fname, self._type()))
                if self._peek() == ",":
                    self._next()
                    continue
                self._expect(">")
                break
            return ("struct", tuple(fields))
        if name == "decimal":
            if self._peek() == "(":
                self._next()
                p = int(self._next())
                s = 0
                if self._peek() == ",":
                    self._next()
                    s = int(self._next())
                self._expect(")")
                return ("decimal", p, s)
            return ("decimal", 10, 0)
        if name in ("varchar", "char"):
            if self._peek() == "(":
                self._next()
                self._next()
                self._expect(")")
            return ("string",)
        aliases = {"integer": "int", "real": "float"}
        name = aliases.get(name, name)
        if name not in _SCALARS:
            raise ValueError(f"unknown Hive type {name!r} in {self.text!r}")
        return (name,)


_SCALARS = {  # hive name -> DuckDB type
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "binary": "BLOB",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
_DUCK_SCALARS = {
    "varchar": "string",
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "integer": "int",
    "bigint": "bigint",
    "float": "float",
    "double": "double",
    "blob": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ms": "timestamp",
    "timestamp_ns": "timestamp",
    "timestamp_s": "timestamp",
    # integer types Hive has no unsigned/128-bit version of: Trino would say bigint
    "hugeint": "bigint",
    "ubigint": "bigint",
    "uinteger": "bigint",
    "usmallint": "int",
    "utinyint": "smallint",
}


def parse_hive_type(text: str) -> tuple:
    return _TypeParser(text).parse()


def hive_str(t: tuple) -> str:
    kind = t[0]
    if kind == "array":
        return f"array<{hive_str(t[1])}>"
    if kind == "map":
        return f"map<{hive_str(t[1])},{hive_str(t[2])}>"
    if kind == "struct":
        return "struct<" + ",".join(f"{n}:{hive_str(ft)}" for n, ft in t[1]) + ">"
    if kind == "decimal":
        return f"decimal({t[1]},{t[2]})"
    return kind


def trino_str(t: tuple) -> str:
    kind = t[0]
    if kind == "array":
        return f"array({trino_str(t[1])})"
    if kind == "map":
        return f"map({trino_str(t[1])}, {trino_str(t[2])})"
    if kind == "struct":
        return "row(" + ", ".join(f"{n} {trino_str(ft)}" for n, ft in t[1]) + ")"
    if kind == "decimal":
        return f"decimal({t[1]},{t[2]})"
    return {
        "string": "varchar",
        "binary": "varbinary",
        "int": "integer",
        "float": "real",
        "timestamp": "timestamp(3)",
    }.get(kind, kind)


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_str(t: tuple) -> str:
    kind = t[0]
    if kind == "array":
        return f"{duckdb_str(t[1])}[]"
    if kind == "map":
        return f"MAP({duckdb_str(t[1])}, {duckdb_str(t[2])})"
    if kind == "struct":
        return "STRUCT(" + ", ".join(f"{_dq(n)} {duckdb_str(ft)}" for n, ft in t[1]) + ")"
    if kind == "decimal":
        return f"DECIMAL({t[1]},{t[2]})"
    return _SCALARS[kind]


class UnsupportedHiveType(ValueError):
    pass


def from_duckdb_type(ty: Any) -> tuple:
    """A DuckDB (Python) type as the Hive type Athena would give the column."""
    tid = ty.id
    if str(ty) == "JSON":
        return ("string",)
    if tid == "decimal":
        d = dict(ty.children)
        return ("decimal", int(d["precision"]), int(d["scale"]))
    if tid in ("list", "array"):
        return ("array", from_duckdb_type(dict(ty.children)["child"]))
    if tid == "map":
        d = dict(ty.children)
        return ("map", from_duckdb_type(d["key"]), from_duckdb_type(d["value"]))
    if tid == "struct":
        return ("struct", tuple((n.lower(), from_duckdb_type(c)) for n, c in ty.children))
    if tid in _DUCK_SCALARS:
        return (_DUCK_SCALARS[tid],)
    if tid == "timestamp with time zone":
        raise UnsupportedHiveType("Unsupported Hive type: timestamp(3) with time zone")
    raise UnsupportedHiveType(f"Unsupported Hive type: {str(ty).lower()}")


# ---------------------------------------------------------------------------------------
# Errors


def _reason_of(exc: Exception) -> str:
    msg = str(exc).strip()
    first = msg.splitlines()[0] if msg else type(exc).__name__
    if "MERGE INTO command cannot affect the same target row more than once" in msg:
        return (
            "MERGE_TARGET_ROW_MULTIPLE_MATCHES: One MERGE target table row matched more than one source row "
            "(emulated with DuckDB)"
        )
    if isinstance(exc, duckdb.ConversionException):
        code = "INVALID_CAST_ARGUMENT"
    elif isinstance(exc, duckdb.BinderException):
        code = "COLUMN_NOT_FOUND" if "not found" in msg.lower() else "SYNTAX_ERROR"
    elif isinstance(exc, duckdb.CatalogException):
        code = "FUNCTION_NOT_FOUND" if "function" in msg.lower() else "TABLE_NOT_FOUND"
    elif isinstance(exc, (duckdb.InvalidInputException, duckdb.OutOfRangeException)):
        code = "INVALID_FUNCTION_ARGUMENT"
    elif isinstance(exc, duckdb.ParserException):
        code = "SYNTAX_ERROR"
    else:
        code = "GENERIC_INTERNAL_ERROR"
    return f"{code}: {first} (emulated with DuckDB)"


class _Fail(Exception):
    """Internal: a query failure with an Athena-like reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------
# The emulator


@dataclass
class EmulatedQuery:
    query_id: str
    sql: str
    duckdb_sql: str | None = None
    bytes_scanned: int = 0
    objects_read: list[str] = field(default_factory=list)
    state: str = "SUCCEEDED"
    reason: str | None = None


def _split_s3(uri: str) -> tuple[str, str]:
    m = re.match(r"^s3a?://([^/]+)/?(.*)$", uri or "")
    if not m:
        raise _Fail(f"INVALID_TABLE_PROPERTY: not an S3 location: {uri!r}")
    return m.group(1), m.group(2)


def _prefix(key: str) -> str:
    return key if key == "" or key.endswith("/") else key + "/"


_LINE_SPLIT = re.compile(r"\r\n|\n|\r")


class AthenaEmulator:
    """Runs Athena SQL on DuckDB over the Glue catalog and S3 (see the module docstring)."""

    def __init__(self, glue, s3, *, database: str = "default", workdir: str | None = None):
        self.glue = glue
        self.s3 = s3
        self.database = database.lower()
        self._tmp = tempfile.TemporaryDirectory(prefix="athena_emu_", dir=workdir)
        self.con = duckdb.connect()
        prepare_duckdb_connection(self.con)
        self.con.execute("SET threads = 2")
        self.views: dict[tuple[str, str], str] = {}  # views created through this emulator
        self.statements: list[str] = []
        self.queries: list[EmulatedQuery] = []
        self._downloads: dict[tuple[str, str, str], str] = {}
        self._metadata: dict[str, dict] = {}  # Iceberg metadata files (immutable) by URI

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()

    # -- SqlRunner ------------------------------------------------------------------------
    def execute(self, sql: str) -> QueryResult:
        check_athena_sql(sql)  # a ValueError before anything is sent, as the real client
        self.statements.append(sql)
        q = EmulatedQuery(query_id=f"emulated-{uuid.uuid4()}", sql=sql)
        self.queries.append(q)
        started = time.monotonic()
        try:
            trees = [t for t in sqlglot.parse(sql, read="athena") if t is not None]
            if len(trees) != 1:
                raise _Fail(
                    "INVALID_SESSION_PROPERTY: Only one sql statement is allowed. Got: "
                    f"{len(trees)}"
                )
            tree = trees[0]
            columns, rows = self._dispatch(tree, q)
        except _Fail as f:
            q.state, q.reason = "FAILED", f.reason
            raise AthenaQueryError(
                f"Athena query failed: {f.reason}",
                query_id=q.query_id,
                state="FAILED",
                reason=f.reason,
                sql=sql,
            ) from None
        except (duckdb.Error, TranspileError) as exc:
            reason = (
                f"NOT_SUPPORTED: the emulator cannot translate this statement: {exc}"
                if isinstance(exc, TranspileError)
                else _reason_of(exc)
            )
            q.state, q.reason = "FAILED", reason
            err = AthenaQueryError(
                f"Athena query failed: {reason}",
                query_id=q.query_id,
                state="FAILED",
                reason=reason,
                sql=sql,
            )
            err.duckdb_sql = q.duckdb_sql
            raise err from exc
        return QueryResult(
            query_id=q.query_id,
            columns=columns,
            rows=rows,
            bytes_scanned=q.bytes_scanned,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    def _dispatch(self, tree: exp.Expression, q: EmulatedQuery):
        if isinstance(tree, exp.Query):
            return self._select(tree, q)
        if isinstance(tree, exp.Create):
            kind = (tree.args.get("kind") or "").upper()
            if kind == "TABLE" and isinstance(tree.expression, exp.Query):
                self._ctas(tree, q)
                return [], []
            if kind == "VIEW":
                self._create_view(tree, q)
                return [], []
            if kind == "TABLE" and tree.expression is None:
                self._create_table(tree)
                return [], []
            raise _Fail(
                f"NOT_SUPPORTED: the emulator runs CREATE TABLE, CTAS and CREATE VIEW only, not "
                f"{tree.sql('athena')[:80]!r}"
            )
        if isinstance(tree, exp.Drop):
            self._drop(tree)
            return [], []
        if isinstance(tree, exp.Alter):
            self._alter(tree)
            return [], []
        if isinstance(tree, (exp.Insert, exp.Delete, exp.Update, exp.Merge)):
            self._dml(tree, q)
            return [], []
        raise _Fail(f"NOT_SUPPORTED: the emulator does not run {tree.key.upper()} statements")

    # -- catalog helpers ------------------------------------------------------------------
    def _db_of(self, table: exp.Table, default: str) -> str:
        return (table.db or default).lower()

    def _get_table(self, db: str, name: str) -> dict | None:
        try:
            return self.glue.get_table(DatabaseName=db, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def _partitions(self, db: str, name: str) -> list[dict]:
        out = []
        for page in self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=db, TableName=name
        ):
            out.extend(page["Partitions"])
        return out

    # -- sources --------------------------------------------------------------------------
    def _base_tables(self, tree: exp.Expression):
        """(Table node, its CTE-free identity) for every catalog table reference."""
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue
            if not table.db:
                node, ctes = table.parent, set()
                while node is not None:
                    w = node.args.get("with_") or node.args.get("with")
                    if isinstance(w, exp.With):
                        ctes.update(c.alias_or_name.lower() for c in w.expressions)
                    node = node.parent
                if table.name.lower() in ctes:
                    continue
            yield table

    @staticmethod
    def _literal_text(node: exp.Expression) -> str | None:
        if isinstance(node, exp.Literal):
            return node.this
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
            return node.this.this
        return None

    def _pruned_values(self, table: exp.Table, keys: list[str]) -> dict[str, str] | None:
        """Partition key values fixed by ``key = literal`` conjuncts of the WHERE that
        directly filters ``table``; None when nothing can be pruned."""
        select = table.parent_select
        if select is None or not keys:
            return None
        frm = select.args.get("from_") or select.args.get("from")
        in_from = frm is not None and table in list(frm.find_all(exp.Table)) and table.parent is frm
        if not in_from:
            return None
        where = select.args.get("where")
        if where is None:
            return None
        names = {table.alias_or_name.lower(), table.name.lower()}
        fixed: dict[str, str] = {}
        conj = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
        for c in conj:
            if not isinstance(c, exp.EQ):
                continue
            for col, other in ((c.this, c.expression), (c.expression, c.this)):
                if (
                    isinstance(col, exp.Column)
                    and col.name.lower() in keys
                    and (not col.table or col.table.lower() in names)
                ):
                    text = self._literal_text(other)
                    if text is not None:
                        fixed[col.name.lower()] = text
        return fixed or None

    def _collect(
        self, tree: exp.Expression, default_db: str, needs: dict, views: list, depth: int = 0
    ) -> None:
        """Fill ``needs[(db, name)]`` = (glue table, set of partition filters or None=all)
        and ``views`` (dependency order) for every table ``tree`` reads."""
        if depth > 20:
            raise _Fail("VIEW_IS_RECURSIVE: too deeply nested views")
        for table in self._base_tables(tree):
            db, name = self._db_of(table, default_db), table.name.lower()
            if table.catalog and table.catalog.lower() != "awsdatacatalog":
                raise _Fail(f"CATALOG_NOT_FOUND: Catalog '{table.catalog}' does not exist")
            glue_table = self._get_table(db, name)
            if glue_table is None:
                raise _Fail(
                    f"TABLE_NOT_FOUND: line {table.this.meta.get('line', 1)}:"
                    f"{table.this.meta.get('col', 1)}: Table 'awsdatacatalog.{db}.{name}' "
                    "does not exist"
                )
            if glue_table.get("TableType") == "VIRTUAL_VIEW":
                view_sql = self._view_sql(glue_table, db, name)
                vtree = sqlglot.parse_one(view_sql, read="athena")
                self._collect(vtree, db, needs, views, depth + 1)
                if (db, name) not in [(d, n) for d, n, _ in views]:
                    views.append((db, name, view_sql))
                continue
            keys = self._partition_keys(glue_table)
            fixed = self._pruned_values(table, keys)
            prev = needs.get((db, name))
            filters = None if fixed is None else [fixed]
            if prev is not None:
                filters = None if prev[1] is None or filters is None else prev[1] + filters
            needs[(db, name)] = (glue_table, filters)

    def _view_sql(self, glue_table: dict, db: str, name: str) -> str:
        text = glue_table.get("ViewOriginalText") or ""
        if text.startswith(PRESTO_VIEW_PREFIX) and text.endswith(PRESTO_VIEW_SUFFIX):
            payload = text[len(PRESTO_VIEW_PREFIX) : -len(PRESTO_VIEW_SUFFIX)]
            return json.loads(base64.b64decode(payload))["originalSql"]
        if (db, name) in self.views:
            return self.views[(db, name)]
        raise _Fail(f"HIVE_UNSUPPORTED_FORMAT: view {db}.{name} is not an Athena (Presto) view")

    def _prepare_sources(
        self, tree: exp.Expression, q: EmulatedQuery, needs: dict | None = None
    ) -> dict:
        needs = dict(needs or {})
        views: list = []
        self._collect(tree, self.database, needs, views)
        schema: dict[str, dict[str, str]] = {}
        for (db, name), (glue_table, filters) in needs.items():
            cols = self._load_table(db, name, glue_table, filters, q)
            schema[name] = cols
        for db, name, view_sql in views:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_dq(db)}")
            duck = self._to_duckdb(view_sql, schema, db)
            self._drop_duck(db, name)
            self.con.execute(f"CREATE VIEW {_dq(db)}.{_dq(name)} AS {duck}")
            rel = self.con.sql(f"SELECT * FROM {_dq(db)}.{_dq(name)}")
            schema[name] = {
                c.lower(): trino_str(_safe_hive(t)) for c, t in zip(rel.columns, rel.types)
            }
        return schema

    def _drop_duck(self, db: str, name: str) -> None:
        for kind, fn in (("VIEW", "duckdb_views"), ("TABLE", "duckdb_tables")):
            n = self.con.execute(
                f"SELECT count(*) FROM {fn}() WHERE schema_name = ? AND {fn[7:-1]}_name = ?",
                [db, name],
            ).fetchone()[0]
            if n:
                self.con.execute(f"DROP {kind} {_dq(db)}.{_dq(name)}")

    def _list_objects(self, location: str, hidden: bool = False) -> list[tuple[str, str, int, str]]:
        bucket, key = _split_s3(location)
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=_prefix(key)
        ):
            for o in page.get("Contents", []):
                rel = o["Key"][len(_prefix(key)) :]
                parts = rel.split("/")
                if not rel or rel.endswith("/") or o["Key"].endswith("_$folder$"):
                    continue
                if not hidden and any(p.startswith(("_", ".")) for p in parts):
                    continue  # Athena ignores hidden and underscore-prefixed files
                out.append((bucket, o["Key"], int(o["Size"]), o.get("ETag", "")))
        return sorted(out)

    def _load_table(self, db: str, name: str, glue_table: dict, filters, q: EmulatedQuery) -> dict:
        if _is_iceberg(glue_table):
            return self._load_iceberg(db, name, glue_table, filters, q)
        sd = glue_table.get("StorageDescriptor", {})
        columns = [(c["Name"].lower(), parse_hive_type(c["Type"])) for c in sd.get("Columns", [])]
        pkeys = [
            (k["Name"].lower(), parse_hive_type(k.get("Type", "string")))
            for k in glue_table.get("PartitionKeys", [])
        ]
        if pkeys:
            units = []
            for p in self._partitions(db, name):
                values = dict(zip([k for k, _ in pkeys], p["Values"]))
                if filters is not None and not any(
                    all(values.get(k) == v for k, v in f.items()) for f in filters
                ):
                    continue
                self._check_partition_schema(db, name, columns, p)
                units.append((p.get("StorageDescriptor", {}).get("Location", ""), p["Values"]))
        else:
            units = [(sd.get("Location", ""), [])]
        serde = (sd.get("SerdeInfo") or {}).get("SerializationLibrary", "")
        input_format = sd.get("InputFormat", "")
        if input_format == PARQUET_INPUT or "parquet" in serde.lower():
            kind = "parquet"
        elif input_format == TEXT_INPUT or serde.endswith("LazySimpleSerDe"):
            kind = "text"
        else:
            raise _Fail(
                f"HIVE_UNSUPPORTED_FORMAT: the emulator reads TEXTFILE and PARQUET tables, "
                f"not {db}.{name} ({input_format or serde or 'no format'})"
            )
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_dq(db)}")
        target = f"{_dq(db)}.{_dq(name)}"
        typed_cols = (
            ", ".join(f"{_dq(c)} {duckdb_str(t)}" for c, t in columns + pkeys) or '"_" INTEGER'
        )
        self._drop_duck(db, name)
        self.con.execute(f"CREATE OR REPLACE TABLE {target} ({typed_cols})")
        for location, values in units:
            objects = self._list_objects(location)
            for bucket, key, size, _ in objects:
                q.bytes_scanned += size
                q.objects_read.append(f"s3://{bucket}/{key}")
            consts = [f"CAST({_sql_str(v)} AS {duckdb_str(t)})" for v, (_, t) in zip(values, pkeys)]
            if kind == "text":
                self._insert_text(target, sd, columns, consts, objects)
            else:
                self._insert_parquet(target, db, name, columns, consts, objects)
        return {c: trino_str(t) for c, t in columns + pkeys}

    @staticmethod
    def _check_partition_schema(db: str, name: str, columns, partition: dict) -> None:
        """Athena maps a partition's columns to the table's by position and fails when the
        types differ (HIVE_PARTITION_SCHEMA_MISMATCH)."""
        pcols = partition.get("StorageDescriptor", {}).get("Columns") or []
        for c, t in zip(pcols, columns):
            pt = parse_hive_type(c["Type"])
            if pt != t[1] and not _widens(pt, t[1]):
                values = "/".join(partition["Values"])
                raise _Fail(
                    f"HIVE_PARTITION_SCHEMA_MISMATCH: There is a mismatch between the table and "
                    f"partition schemas. The types are incompatible and cannot be coerced. The "
                    f"column '{t[0]}' in table '{db}.{name}' is declared as type '{hive_str(t[1])}', "
                    f"but partition '{values}' declared column '{c['Name']}' as type "
                    f"'{hive_str(pt)}'."
                )

    def _insert_text(self, target: str, sd: dict, columns, consts, objects) -> None:
        params = (sd.get("SerdeInfo") or {}).get("Parameters") or {}
        delim = params.get("field.delim", "\u0001")
        null_format = params.get("serialization.null.format", "\\N")
        rows: list[list[str | None]] = [[] for _ in columns]
        for bucket, key, _, _ in objects:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            text = body.decode("utf-8", errors="replace")
            lines = _LINE_SPLIT.split(text)
            if lines and lines[-1] == "":
                lines.pop()
            for line in lines:
                fields = line.split(delim) if len(columns) > 1 else [line]
                for i in range(len(columns)):
                    v = fields[i] if i < len(fields) else None
                    rows[i].append(None if v == null_format else v)
        if not rows or not rows[0]:
            return
        import pyarrow as pa

        arrow = pa.table({f"c{i}": pa.array(r, type=pa.string()) for i, r in enumerate(rows)})
        self.con.register("__emu_text", arrow)
        try:
            sel = [
                f"TRY_CAST(c{i} AS {duckdb_str(t)})" if t != ("string",) else f"c{i}"
                for i, (_, t) in enumerate(columns)
            ]
            self.con.execute(
                f"INSERT INTO {target} SELECT {', '.join(sel + consts)} FROM __emu_text"
            )
        finally:
            self.con.unregister("__emu_text")

    def _download(self, bucket: str, key: str, etag: str) -> str:
        k = (bucket, key, etag)
        if k not in self._downloads:
            path = os.path.join(self._tmp.name, f"dl-{len(self._downloads):06d}.parquet")
            self.s3.download_file(bucket, key, path)
            self._downloads[k] = path
        return self._downloads[k]

    def _insert_parquet(self, target: str, db: str, name: str, columns, consts, objects) -> None:
        for bucket, key, _, etag in objects:
            path = self._download(bucket, key, etag)
            rel = self.con.sql(f"SELECT * FROM read_parquet({_sql_str(path)})")
            file_types = {c.lower(): (c, t) for c, t in zip(rel.columns, rel.types)}
            sel = []
            for col, t in columns:
                if col not in file_types:
                    sel.append(f"CAST(NULL AS {duckdb_str(t)})")
                    continue
                fname, ftype = file_types[col]
                try:
                    got = from_duckdb_type(ftype)
                except UnsupportedHiveType:
                    got = None
                if got != t and not _widens(got, t):
                    raise _Fail(
                        f"HIVE_BAD_DATA: Field {col}'s type {str(ftype)} in parquet file "
                        f"s3://{bucket}/{key} is incompatible with type {hive_str(t)} defined in "
                        f"table schema of {db}.{name}"
                    )
                sel.append(f"CAST({_dq(fname)} AS {duckdb_str(t)})")
            self.con.execute(
                f"INSERT INTO {target} SELECT {', '.join(sel + consts)} "
                f"FROM read_parquet({_sql_str(path)})"
            )

    # -- transpiling ----------------------------------------------------------------------
    def _to_duckdb(self, athena_sql: str | exp.Expression, schema: dict, default_db: str) -> str:
        tree = (
            athena_sql
            if isinstance(athena_sql, exp.Expression)
            else sqlglot.parse_one(athena_sql, read="athena")
        )
        tree = tree.copy()
        # unqualified names resolve in the statement's database, as in Athena
        for t in self._base_tables(tree):
            if not t.db:
                t.set("db", exp.to_identifier(default_db, quoted=True))
        duck = athena_to_duckdb(tree.sql(dialect="athena"), schema=schema)
        return duck

    def _run_query(self, tree: exp.Query, q: EmulatedQuery):
        schema = self._prepare_sources(tree, q)
        q.duckdb_sql = self._to_duckdb(tree, schema, self.database)
        return self.con.sql(q.duckdb_sql)

    def _select(self, tree: exp.Query, q: EmulatedQuery):
        rel = self._run_query(tree, q)
        names = _trino_column_names(tree, rel.columns)
        return names, rel.fetchall()

    # -- CTAS -----------------------------------------------------------------------------
    def _ctas(self, tree: exp.Create, q: EmulatedQuery) -> None:
        target = tree.this if isinstance(tree.this, exp.Table) else tree.this.find(exp.Table)
        db, name = self._db_of(target, self.database), target.name.lower()
        props = _properties(tree)
        fmt = (props.get("format") or "PARQUET").upper()
        if fmt != "PARQUET":
            raise _Fail(f"NOT_SUPPORTED: the emulator writes PARQUET only, not format {fmt!r}")
        unsupported = set(props) - {
            "format",
            "write_compression",
            "external_location",
            "parquet_compression",
        }
        if unsupported:
            raise _Fail(
                f"NOT_SUPPORTED: the emulator does not support table properties "
                f"{sorted(unsupported)}"
            )
        location = props.get("external_location")
        if not location:
            raise _Fail("NOT_SUPPORTED: the emulator needs an external_location for a CTAS")
        try:
            self.glue.get_database(Name=db)
        except self.glue.exceptions.EntityNotFoundException:
            raise _Fail(f"SCHEMA_NOT_FOUND: Schema '{db}' does not exist") from None
        if self._get_table(db, name) is not None:
            raise _Fail(
                f"TABLE_ALREADY_EXISTS: line 1:1: Table 'awsdatacatalog.{db}.{name}' already exists"
            )
        bucket, key = _split_s3(location)
        existing = self.s3.list_objects_v2(Bucket=bucket, Prefix=_prefix(key), MaxKeys=1)
        if existing.get("KeyCount", 0):
            raise _Fail(
                f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{db}.{name}' "
                f"already exists: {location}. You may need to manually clean the data at "
                "location before retrying. Athena will not delete data in your account."
            )
        query = tree.expression
        _check_named_columns(query)
        self._run_query(query, q)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE __emu_ctas AS {q.duckdb_sql}")
        rel = self.con.sql("SELECT * FROM __emu_ctas")
        names = [n.lower() for n in _trino_column_names(query, rel.columns)]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise _Fail(
                f"DUPLICATE_COLUMN_NAME: Column name '{sorted(dup)[0]}' specified more than once"
            )
        try:
            hive = [from_duckdb_type(t) for t in rel.types]
        except UnsupportedHiveType as exc:
            raise _Fail(f"NOT_SUPPORTED: {exc}") from None
        compression = props.get("write_compression") or props.get("parquet_compression") or "GZIP"
        compression = compression.upper()
        if compression not in ("ZSTD", "SNAPPY", "GZIP", "NONE", "UNCOMPRESSED", "LZ4"):
            raise _Fail(f"INVALID_TABLE_PROPERTY: unknown write_compression {compression!r}")
        count = self.con.execute("SELECT count(*) FROM __emu_ctas").fetchone()[0]
        if count:
            path = os.path.join(self._tmp.name, f"{q.query_id}.parquet")
            sel = ", ".join(
                f"CAST({_dq(c)} AS {duckdb_str(t)}) AS {_dq(n)}"
                for c, t, n in zip(rel.columns, hive, names)
            )
            codec = "UNCOMPRESSED" if compression == "NONE" else compression
            self.con.execute(
                f"COPY (SELECT {sel} FROM __emu_ctas) TO {_sql_str(path)} "
                f"(FORMAT PARQUET, COMPRESSION {codec})"
            )
            with open(path, "rb") as f:
                self.s3.put_object(
                    Bucket=bucket, Key=_prefix(key) + f"{q.query_id}_00000", Body=f.read()
                )
            os.remove(path)
        self.con.execute("DROP TABLE __emu_ctas")
        self.glue.create_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "has_encrypted_data": "false",
                    "parquet.compression": compression,
                    "classification": "parquet",
                },
                "PartitionKeys": [],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": hive_str(t)} for n, t in zip(names, hive)],
                    "Location": location,
                    "InputFormat": PARQUET_INPUT,
                    "OutputFormat": PARQUET_OUTPUT,
                    "Compressed": False,
                    "NumberOfBuckets": 0,
                    "SerdeInfo": {
                        "SerializationLibrary": PARQUET_SERDE,
                        "Parameters": {"serialization.format": "1"},
                    },
                },
            },
        )

    # -- CREATE TABLE without AS: Hive external tables and Iceberg tables -------------------
    def _require_database(self, db: str) -> None:
        try:
            self.glue.get_database(Name=db)
        except self.glue.exceptions.EntityNotFoundException:
            raise _Fail(f"SCHEMA_NOT_FOUND: Schema '{db}' does not exist") from None

    @staticmethod
    def _ddl_type(kind: exp.DataType, iceberg: bool) -> tuple:
        if iceberg:
            for dt in [kind, *kind.find_all(exp.DataType)]:
                if dt.this in _NOT_ICEBERG:
                    raise _Fail(
                        f"NOT_SUPPORTED: Iceberg tables do not support the type "
                        f"{dt.sql('hive').lower()} (use string, int, bigint, ...)"
                    )
        try:
            return parse_hive_type(kind.sql(dialect="hive"))
        except ValueError as exc:
            raise _Fail(f"NOT_SUPPORTED: {exc}") from None

    def _create_table(self, tree: exp.Create) -> None:
        schema = tree.this
        if not isinstance(schema, exp.Schema) or not isinstance(schema.this, exp.Table):
            raise _Fail("SYNTAX_ERROR: CREATE TABLE needs a column list (or AS SELECT)")
        target = schema.this
        db, name = self._db_of(target, self.database), target.name.lower()
        external, location, partitioned, fmt, delim = False, None, None, None, None
        tblprops: dict[str, str] = {}
        props = tree.args.get("properties")
        for p in props.expressions if props is not None else []:
            if isinstance(p, exp.ExternalProperty):
                external = True
            elif isinstance(p, exp.LocationProperty):
                location = p.this.name
            elif isinstance(p, exp.PartitionedByProperty):
                partitioned = (
                    list(p.this.expressions) if isinstance(p.this, exp.Schema) else [p.this]
                )
            elif isinstance(p, exp.FileFormatProperty):
                fmt = (p.this.name if isinstance(p.this, exp.Expression) else str(p.this)).upper()
            elif isinstance(p, exp.RowFormatDelimitedProperty):
                extra = [k for k, v in p.args.items() if v is not None and k != "fields"]
                if extra:
                    raise _Fail(
                        f"NOT_SUPPORTED: the emulator reads ROW FORMAT DELIMITED FIELDS only, not {extra}"
                    )
                delim = p.args["fields"].name if p.args.get("fields") is not None else None
            elif isinstance(p, exp.Property):
                key = p.name.lower() if p.name else str(p.this).lower()
                value = p.args.get("value")
                tblprops[key] = value.name if isinstance(value, exp.Expression) else str(value)
            else:
                raise _Fail(
                    f"NOT_SUPPORTED: the emulator does not support {p.sql('athena')!r} in CREATE TABLE"
                )
        iceberg = tblprops.get("table_type", "").upper() == "ICEBERG"
        self._require_database(db)
        if self._get_table(db, name) is not None:
            if tree.args.get("exists"):
                return
            raise _Fail(f"TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.{db}.{name}' already exists")
        columns = []
        for cd in schema.expressions:
            if not isinstance(cd, exp.ColumnDef) or cd.args.get("kind") is None:
                raise _Fail(f"SYNTAX_ERROR: column definition expected, got {cd.sql('athena')!r}")
            columns.append((cd.name.lower(), self._ddl_type(cd.args["kind"], iceberg)))
        names = [c for c, _ in columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _Fail(f"DUPLICATE_COLUMN_NAME: Column name '{dup[0]}' specified more than once")
        if not location:
            raise _Fail(f"NOT_SUPPORTED: the emulator needs a LOCATION for table {db}.{name}")
        _split_s3(location)
        if iceberg:
            if external:
                raise _Fail(
                    "NOT_SUPPORTED: CREATE EXTERNAL TABLE cannot create an Iceberg table: use "
                    "CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG')"
                )
            if fmt is not None or delim is not None:
                raise _Fail(
                    "NOT_SUPPORTED: Iceberg tables take the file format from TBLPROPERTIES "
                    "('format'), not STORED AS / ROW FORMAT"
                )
            spec = []
            for p in partitioned or []:
                if not isinstance(p, (exp.Identifier, exp.Column)):
                    raise _Fail(
                        f"NOT_SUPPORTED: the emulator partitions Iceberg tables by identity "
                        f"(a column name) only, not {p.sql('athena')!r}"
                    )
                if p.name.lower() not in names:
                    raise _Fail(
                        f"COLUMN_NOT_FOUND: Partition column '{p.name}' is not a column of "
                        f"{db}.{name}"
                    )
                spec.append(p.name.lower())
            self._iceberg_create(db, name, columns, spec, location, tblprops)
            return
        if not external:
            raise _Fail(
                "NOT_SUPPORTED: Only external table creation is supported (CREATE EXTERNAL TABLE, "
                "or an Iceberg table with TBLPROPERTIES ('table_type'='ICEBERG'))"
            )
        pkeys = []
        for p in partitioned or []:
            if not isinstance(p, exp.ColumnDef) or p.args.get("kind") is None:
                raise _Fail(
                    f"SYNTAX_ERROR: a Hive table's partition columns need a type: {p.sql('athena')!r}"
                )
            pkeys.append((p.name.lower(), self._ddl_type(p.args["kind"], False)))
        if fmt not in (None, "TEXTFILE", "PARQUET"):
            raise _Fail(f"NOT_SUPPORTED: the emulator reads TEXTFILE and PARQUET tables, not {fmt}")
        if fmt == "PARQUET":
            sd = {
                "InputFormat": PARQUET_INPUT,
                "OutputFormat": PARQUET_OUTPUT,
                "SerdeInfo": {
                    "SerializationLibrary": PARQUET_SERDE,
                    "Parameters": {"serialization.format": "1"},
                },
            }
        else:
            d = "\u0001" if delim is None else delim
            sd = {
                "InputFormat": TEXT_INPUT,
                "OutputFormat": TEXT_OUTPUT,
                "SerdeInfo": {
                    "SerializationLibrary": TEXT_SERDE,
                    "Parameters": {"field.delim": d, "serialization.format": d},
                },
            }
        self.glue.create_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"EXTERNAL": "TRUE", **{k: v for k, v in tblprops.items()}},
                "PartitionKeys": [{"Name": n, "Type": hive_str(t)} for n, t in pkeys],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": hive_str(t)} for n, t in columns],
                    "Location": location,
                    **sd,
                },
            },
        )

    # -- ALTER TABLE ------------------------------------------------------------------------
    def _alter(self, tree: exp.Alter) -> None:
        target = tree.this
        if not isinstance(target, exp.Table) or (tree.args.get("kind") or "").upper() != "TABLE":
            raise _Fail(
                f"NOT_SUPPORTED: the emulator runs ALTER TABLE only, not {tree.sql('athena')[:60]!r}"
            )
        db, name = self._db_of(target, self.database), target.name.lower()
        glue_table = self._get_table(db, name)
        if glue_table is None:
            raise _Fail(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{name}' does not exist")
        if glue_table.get("TableType") == "VIRTUAL_VIEW":
            raise _Fail(f"NOT_SUPPORTED: {db}.{name} is a view")
        iceberg = _is_iceberg(glue_table)
        actions = tree.args.get("actions") or []
        if iceberg:
            meta = self._iceberg_meta(glue_table)
            for a in actions:
                if isinstance(a, exp.AddPartition):
                    raise _Fail(
                        "NOT_SUPPORTED: ALTER TABLE ADD PARTITION is not supported for Iceberg tables "
                        "(Iceberg partitions follow from the data)"
                    )
                if isinstance(a, exp.Schema):
                    meta = _iceberg_add_columns(
                        meta,
                        [
                            (cd.name.lower(), self._ddl_type(cd.args["kind"], True))
                            for cd in a.expressions
                        ],
                    )
                elif isinstance(a, exp.Drop) and (a.args.get("kind") or "").upper() == "COLUMN":
                    for col in a.args.get("tables") or [a.this]:
                        meta = _iceberg_drop_column(
                            meta, col.name.lower(), bool(a.args.get("exists"))
                        )
                else:
                    raise _Fail(
                        f"NOT_SUPPORTED: the emulator runs ADD COLUMNS and DROP COLUMN on Iceberg "
                        f"tables, not {a.sql('athena')[:60]!r}"
                    )
            self._iceberg_commit(db, name, glue_table, meta)
            return
        for a in actions:
            if isinstance(a, exp.AddPartition):
                self._add_partition(db, name, glue_table, a)
            elif isinstance(a, exp.Drop) and (a.args.get("kind") or "").upper() == "COLUMN":
                raise _Fail(
                    "NOT_SUPPORTED: ALTER TABLE DROP COLUMN is only supported for Iceberg tables "
                    "(use REPLACE COLUMNS on a Hive table)"
                )
            else:
                raise _Fail(
                    f"NOT_SUPPORTED: the emulator runs ADD PARTITION on Hive tables only, not "
                    f"{a.sql('athena')[:60]!r}"
                )

    def _add_partition(
        self, db: str, name: str, glue_table: dict, action: exp.AddPartition
    ) -> None:
        spec = action.this
        given: dict[str, str] = {}
        for eq in spec.expressions if isinstance(spec, exp.Anonymous) else []:
            text = self._literal_text(eq.expression) if isinstance(eq, exp.EQ) else None
            if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column) or text is None:
                raise _Fail(f"SYNTAX_ERROR: partition spec {spec.sql('athena')!r}")
            given[eq.this.name.lower()] = text
        keys = [k["Name"].lower() for k in glue_table.get("PartitionKeys", [])]
        if sorted(given) != sorted(keys):
            raise _Fail(
                f"HIVE_METASTORE_ERROR: partition spec {sorted(given)} does not match the partition "
                f"keys {keys} of {db}.{name}"
            )
        values = [given[k] for k in keys]
        try:
            self.glue.get_partition(DatabaseName=db, TableName=name, PartitionValues=values)
        except self.glue.exceptions.EntityNotFoundException:
            pass
        else:
            if action.args.get("exists"):
                return
            raise _Fail(f"ALREADY_EXISTS: Partition already exists: {values}")
        sd = dict(glue_table.get("StorageDescriptor", {}))
        loc = action.args.get("location")
        if loc is not None:
            location = loc.this.name if isinstance(loc, exp.LocationProperty) else loc.name
        else:
            location = (
                sd.get("Location", "").rstrip("/")
                + "/"
                + "/".join(f"{k}={v}" for k, v in zip(keys, values))
            )
        _split_s3(location)
        sd = {k: sd[k] for k in ("Columns", "InputFormat", "OutputFormat", "SerdeInfo") if k in sd}
        self.glue.create_partition(
            DatabaseName=db,
            TableName=name,
            PartitionInput={"Values": values, "StorageDescriptor": dict(sd, Location=location)},
        )

    # -- INSERT / DELETE / UPDATE / MERGE (Iceberg) -----------------------------------------
    def _dml(self, tree: exp.Expression, q: EmulatedQuery) -> None:
        what = {
            exp.Insert: "INSERT",
            exp.Delete: "DELETE",
            exp.Update: "UPDATE",
            exp.Merge: "MERGE",
        }[type(tree)]
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        if not isinstance(target, exp.Table):
            raise _Fail(f"SYNTAX_ERROR: {what} needs a table")
        db, name = self._db_of(target, self.database), target.name.lower()
        glue_table = self._get_table(db, name)
        if glue_table is None:
            raise _Fail(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{name}' does not exist")
        if glue_table.get("TableType") == "VIRTUAL_VIEW":
            raise _Fail(f"NOT_SUPPORTED: Cannot {what.lower()} a view: {db}.{name}")
        if not _is_iceberg(glue_table):
            if what == "INSERT":
                raise _Fail(
                    f"NOT_SUPPORTED: the emulator inserts into Iceberg tables only ({db}.{name} is a "
                    "Hive table; Athena itself can INSERT INTO it)"
                )
            raise _Fail(
                "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables "
                f"({what} on {db}.{name}: Athena runs {what} on Iceberg tables only)"
            )
        meta = self._iceberg_meta(glue_table)
        schema = self._prepare_sources(tree, q, {(db, name): (glue_table, None)})
        if isinstance(tree, exp.Insert):
            self._check_insert_types(tree, db, name, schema)
        q.duckdb_sql = self._to_duckdb(tree, schema, self.database)
        self.con.execute(q.duckdb_sql)
        self._iceberg_write_data(db, name, glue_table, meta, what.lower())

    def _check_insert_types(self, tree: exp.Insert, db: str, name: str, schema: dict) -> None:
        """Trino refuses an INSERT whose query types cannot be coerced to the table's."""
        table_cols = [
            (c["Name"].lower(), parse_hive_type(c["Type"]))
            for c in self._iceberg_fields(self._iceberg_meta(self._get_table(db, name)))
        ]
        types = dict(table_cols)
        if isinstance(tree.this, exp.Schema):
            wanted = [i.name.lower() for i in tree.this.expressions]
            missing = [c for c in wanted if c not in types]
            if missing:
                raise _Fail(
                    f"COLUMN_NOT_FOUND: Insert column name does not exist in target table: {missing[0]}"
                )
        else:
            wanted = [c for c, _ in table_cols]
        query = tree.expression
        rel = self.con.sql(self._to_duckdb(query, schema, self.database))
        got = []
        for t in rel.types:
            try:
                got.append(from_duckdb_type(t))
            except UnsupportedHiveType as exc:
                got.append(
                    None
                    if str(t).strip('"').upper() == "NULL"
                    else str(exc).removeprefix("Unsupported Hive type: ")
                )
        ok = len(got) == len(wanted) and all(
            g is None or (not isinstance(g, str) and _coercible(g, types[c]))
            for g, c in zip(got, wanted)
        )
        if not ok:
            shown = [
                g if isinstance(g, str) else ("unknown" if g is None else trino_str(g)) for g in got
            ]
            raise _Fail(
                "TYPE_MISMATCH: Insert query has mismatched column types: Table: ["
                + ", ".join(trino_str(types[c]) for c in wanted)
                + "], Query: ["
                + ", ".join(shown)
                + "]"
            )

    # -- Iceberg storage (see the module docstring) -------------------------------------------
    def _partition_keys(self, glue_table: dict) -> list[str]:
        if _is_iceberg(glue_table):
            return _iceberg_spec(self._iceberg_meta(glue_table))
        return [k["Name"].lower() for k in glue_table.get("PartitionKeys", [])]

    def _iceberg_meta(self, glue_table: dict) -> dict:
        uri = (glue_table.get("Parameters") or {}).get("metadata_location")
        if not uri:
            raise _Fail(
                f"ICEBERG_INVALID_METADATA: table {glue_table.get('Name')} has no metadata_location"
            )
        if uri not in self._metadata:
            bucket, key = _split_s3(uri)
            try:
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except self.s3.exceptions.NoSuchKey:
                raise _Fail(f"ICEBERG_INVALID_METADATA: metadata file {uri} is missing") from None
            self._metadata[uri] = json.loads(body)
        meta = json.loads(json.dumps(self._metadata[uri]))
        meta["_uri"] = uri
        return meta

    @staticmethod
    def _iceberg_fields(meta: dict) -> list[dict]:
        schema = next(s for s in meta["schemas"] if s["schema-id"] == meta["current-schema-id"])
        return [{"Name": f["name"], "Type": f["type"], "id": f["id"]} for f in schema["fields"]]

    def _iceberg_create(
        self, db: str, name: str, columns, spec: list[str], location: str, tblprops: dict[str, str]
    ) -> None:
        fields = [
            {"id": i, "name": c, "required": False, "type": hive_str(t)}
            for i, (c, t) in enumerate(columns, 1)
        ]
        by_name = {f["name"]: f["id"] for f in fields}
        meta = {
            "format-version": 2,
            "table-uuid": str(uuid.uuid4()),
            "location": location.rstrip("/"),
            "last-updated-ms": int(time.time() * 1000),
            "last-column-id": len(fields),
            "current-schema-id": 0,
            "schemas": [{"schema-id": 0, "type": "struct", "fields": fields}],
            "default-spec-id": 0,
            "partition-specs": [
                {
                    "spec-id": 0,
                    "fields": [
                        {
                            "name": c,
                            "transform": "identity",
                            "source-id": by_name[c],
                            "field-id": 1000 + i,
                        }
                        for i, c in enumerate(spec)
                    ],
                }
            ],
            "properties": {k: v for k, v in tblprops.items() if k != "table_type"},
            "current-snapshot-id": -1,
            "snapshots": [],
            "metadata-version": 0,
        }
        uri = self._iceberg_write_metadata(meta)
        self.glue.create_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"table_type": "ICEBERG", "metadata_location": uri},
                "PartitionKeys": [],
                "StorageDescriptor": {"Columns": _glue_iceberg_columns(meta), "Location": location},
            },
        )

    def _iceberg_write_metadata(self, meta: dict) -> str:
        meta = {k: v for k, v in meta.items() if k != "_uri"}
        uri = f"{meta['location']}/metadata/{meta['metadata-version']:05d}-{uuid.uuid4()}.metadata.json"
        bucket, key = _split_s3(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(meta, indent=1).encode())
        self._metadata[uri] = meta
        return uri

    def _iceberg_commit(self, db: str, name: str, glue_table: dict, meta: dict) -> None:
        """Swap Glue's metadata_location from the metadata this statement read to a new file
        (optimistic: a concurrent commit in between fails this one, as Iceberg does)."""
        old = meta["_uri"]
        now = self._get_table(db, name)
        if now is None or (now.get("Parameters") or {}).get("metadata_location") != old:
            raise _Fail(
                f"ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table {db}.{name}: "
                "the table was changed concurrently"
            )
        meta = dict(
            meta,
            **{
                "metadata-version": meta["metadata-version"] + 1,
                "last-updated-ms": int(time.time() * 1000),
            },
        )
        uri = self._iceberg_write_metadata(meta)
        params = dict(
            now.get("Parameters") or {}, metadata_location=uri, previous_metadata_location=old
        )
        sd = dict(now.get("StorageDescriptor") or {})
        self.glue.update_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": now.get("TableType", "EXTERNAL_TABLE"),
                "Parameters": params,
                "PartitionKeys": [],
                "StorageDescriptor": {
                    "Columns": _glue_iceberg_columns(meta),
                    "Location": sd.get("Location", ""),
                },
            },
        )

    def _iceberg_files(self, meta: dict) -> list[dict]:
        sid = meta.get("current-snapshot-id", -1)
        snap = next((s for s in meta["snapshots"] if s["snapshot-id"] == sid), None)
        return list(snap["data-files"]) if snap else []

    def _load_iceberg(
        self, db: str, name: str, glue_table: dict, filters, q: EmulatedQuery
    ) -> dict:
        meta = self._iceberg_meta(glue_table)
        fields = self._iceberg_fields(meta)
        columns = [(f["Name"], parse_hive_type(f["Type"]), str(f["id"])) for f in fields]
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_dq(db)}")
        target = f"{_dq(db)}.{_dq(name)}"
        self._drop_duck(db, name)
        self.con.execute(
            f"CREATE OR REPLACE TABLE {target} ("
            + ", ".join(f"{_dq(c)} {duckdb_str(t)}" for c, t, _ in columns)
            + ")"
        )
        for f in self._iceberg_files(meta):
            if filters is not None and not any(
                all(f["partition"].get(k) == v for k, v in flt.items()) for flt in filters
            ):
                continue  # pruned by the partition values in the metadata, as Iceberg plans scans
            bucket, key = _split_s3(f["path"])
            q.bytes_scanned += int(f["file-size-in-bytes"])
            q.objects_read.append(f["path"])
            path = self._download(bucket, key, f["path"])
            sel = [
                f"CAST({_dq(f['columns'][i])} AS {duckdb_str(t)})"
                if i in f["columns"]
                else f"CAST(NULL AS {duckdb_str(t)})"
                for _, t, i in columns
            ]  # by field id
            self.con.execute(
                f"INSERT INTO {target} SELECT {', '.join(sel)} FROM read_parquet({_sql_str(path)})"
            )
        return {c: trino_str(t) for c, t, _ in columns}

    def _iceberg_write_data(
        self, db: str, name: str, glue_table: dict, meta: dict, operation: str
    ) -> None:
        """Copy-on-write: the table's rows after the statement become the new snapshot's files,
        one Parquet file per partition value (old files stay, as until snapshots expire)."""
        fields = self._iceberg_fields(meta)
        spec = _iceberg_spec(meta)
        target = f"{_dq(db)}.{_dq(name)}"
        cols = ", ".join(_dq(f["Name"]) for f in fields)
        groups = (
            [()]
            if not spec
            else self.con.execute(
                f"SELECT DISTINCT {', '.join(f'CAST({_dq(c)} AS VARCHAR)' for c in spec)} FROM {target}"
            ).fetchall()
        )
        files = []
        codec = (meta.get("properties", {}).get("write_compression") or "ZSTD").upper()
        codec = {"NONE": "UNCOMPRESSED"}.get(codec, codec)
        for values in groups:
            cond = (
                " AND ".join(
                    f"CAST({_dq(c)} AS VARCHAR) IS NOT DISTINCT FROM "
                    + ("NULL" if v is None else _sql_str(v))
                    for c, v in zip(spec, values)
                )
                or "true"
            )
            n = self.con.execute(f"SELECT count(*) FROM {target} WHERE {cond}").fetchone()[0]
            if not n:
                continue
            local = os.path.join(self._tmp.name, f"w-{uuid.uuid4().hex}.parquet")
            self.con.execute(
                f"COPY (SELECT {cols} FROM {target} WHERE {cond}) TO {_sql_str(local)} "
                f"(FORMAT PARQUET, COMPRESSION {codec})"
            )
            part = "/".join(f"{c}={'null' if v is None else v}" for c, v in zip(spec, values))
            uri = f"{meta['location']}/data/{part + '/' if part else ''}{uuid.uuid4().hex}.parquet"
            bucket, key = _split_s3(uri)
            with open(local, "rb") as fh:
                self.s3.put_object(Bucket=bucket, Key=key, Body=fh.read())
            files.append(
                {
                    "path": uri,
                    "partition": dict(zip(spec, values)),
                    "record-count": int(n),
                    "file-size-in-bytes": os.path.getsize(local),
                    "columns": {str(f["id"]): f["Name"] for f in fields},
                }
            )
            os.remove(local)
        snap = {
            "snapshot-id": uuid.uuid4().int >> 65,
            "parent-snapshot-id": meta.get("current-snapshot-id"),
            "timestamp-ms": int(time.time() * 1000),
            "summary": {"operation": operation},
            "schema-id": meta["current-schema-id"],
            "data-files": files,
        }
        meta = dict(meta, snapshots=meta["snapshots"] + [snap])
        meta["current-snapshot-id"] = snap["snapshot-id"]
        self._iceberg_commit(db, name, glue_table, meta)

    # -- views and drops ------------------------------------------------------------------
    def _create_view(self, tree: exp.Create, q: EmulatedQuery) -> None:
        target = tree.this if isinstance(tree.this, exp.Table) else tree.this.find(exp.Table)
        db, name = self._db_of(target, self.database), target.name.lower()
        query = tree.expression
        if not isinstance(query, exp.Query):
            raise _Fail("SYNTAX_ERROR: CREATE VIEW needs AS SELECT")
        existing = self._get_table(db, name)
        if existing is not None and not tree.args.get("replace"):
            raise _Fail(f"TABLE_ALREADY_EXISTS: View 'awsdatacatalog.{db}.{name}' already exists")
        if existing is not None and existing.get("TableType") != "VIRTUAL_VIEW":
            raise _Fail(
                f"TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.{db}.{name}' already exists "
                "and is not a view"
            )
        _check_named_columns(query)
        rel = self._run_query(query, q)  # binding validates the view, as Athena analyzes it
        q.bytes_scanned = 0  # Athena does not read data to create a view
        names = [n.lower() for n in _trino_column_names(query, rel.columns)]
        types = [_safe_hive(t) for t in rel.types]
        original = query.sql(dialect="athena")
        payload = {
            "originalSql": original,
            "catalog": "awsdatacatalog",
            "schema": db,
            "columns": [{"name": n, "type": trino_str(t)} for n, t in zip(names, types)],
            "owner": "emulator",
            "runAsInvoker": False,
            "properties": {},
        }
        text = (
            PRESTO_VIEW_PREFIX
            + base64.b64encode(json.dumps(payload).encode()).decode()
            + PRESTO_VIEW_SUFFIX
        )
        table_input = {
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": text,
            "ViewExpandedText": "/* Presto View */",
            "PartitionKeys": [],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": hive_str(t)} for n, t in zip(names, types)],
                "Location": "",
                "SerdeInfo": {},
            },
        }
        if existing is None:
            self.glue.create_table(DatabaseName=db, TableInput=table_input)
        else:
            self.glue.update_table(DatabaseName=db, TableInput=table_input)
        self.views[(db, name)] = original

    def _drop(self, tree: exp.Drop) -> None:
        kind = (tree.args.get("kind") or "").upper()
        if kind not in ("TABLE", "VIEW"):
            raise _Fail(f"NOT_SUPPORTED: the emulator does not run DROP {kind}")
        target = tree.this if isinstance(tree.this, exp.Table) else tree.find(exp.Table)
        db, name = self._db_of(target, self.database), target.name.lower()
        existing = self._get_table(db, name)
        if existing is None:
            if tree.args.get("exists"):
                return
            raise _Fail(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{name}' does not exist")
        is_view = existing.get("TableType") == "VIRTUAL_VIEW"
        if is_view != (kind == "VIEW"):
            raise _Fail(
                f"NOT_SUPPORTED: {db}.{name} is a {'view' if is_view else 'table'}; "
                f"use DROP {'VIEW' if is_view else 'TABLE'}"
            )
        self.glue.delete_table(DatabaseName=db, Name=name)
        self.views.pop((db, name), None)
        if _is_iceberg(existing):  # Athena deletes an Iceberg table's data with the table
            loc = (existing.get("StorageDescriptor") or {}).get("Location", "")
            for bucket, key, _, _ in self._list_objects(loc, hidden=True):
                self.s3.delete_object(Bucket=bucket, Key=key)


# ---------------------------------------------------------------------------------------
# helpers


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _safe_hive(t) -> tuple:
    try:
        return from_duckdb_type(t)
    except UnsupportedHiveType:
        return ("string",)


def _widens(got: tuple | None, want: tuple) -> bool:
    order = ["tinyint", "smallint", "int", "bigint"]
    if got and got[0] in order and want[0] in order:
        return order.index(got[0]) <= order.index(want[0])
    if got == ("float",) and want == ("double",):
        return True
    return False


def _properties(tree: exp.Create) -> dict[str, str]:
    out: dict[str, str] = {}
    props = tree.args.get("properties")
    if props is None:
        return out
    for p in props.expressions:
        if isinstance(p, exp.FileFormatProperty):
            out["format"] = p.this.name if isinstance(p.this, exp.Expression) else str(p.this)
        elif isinstance(p, exp.ExternalProperty):
            out["external_location"] = p.this.name if p.this is not None else ""
        elif isinstance(p, exp.LocationProperty):
            out["external_location"] = p.this.name
        elif isinstance(p, exp.Property):
            key = p.name.lower() if p.name else str(p.this).lower()
            value = p.args.get("value")
            out[key] = value.name if isinstance(value, exp.Expression) else str(value)
        else:
            raise _Fail(f"NOT_SUPPORTED: table property {p.sql('athena')!r}")
    return out


def _outer_select(query: exp.Expression) -> exp.Select | None:
    node = query
    while isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        node = node.this
    if isinstance(node, exp.Subquery):
        return _outer_select(node.this)
    return node if isinstance(node, exp.Select) else None


def _check_named_columns(query: exp.Expression) -> None:
    sel = _outer_select(query)
    if sel is None:
        return
    for i, e in enumerate(sel.expressions, 1):
        if isinstance(e, (exp.Alias, exp.Column, exp.Star)) or (
            isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
        ):
            continue
        raise _Fail(f"COLUMN_NAME_NOT_SPECIFIED: Column name not specified at position {i}")


def _trino_column_names(query: exp.Expression, duck_names: list[str]) -> list[str]:
    sel = _outer_select(query)
    if (
        sel is None
        or any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
            for e in sel.expressions
        )
        or len(sel.expressions) != len(duck_names)
    ):
        return [n.lower() for n in duck_names]
    out = []
    for i, e in enumerate(sel.expressions):
        if isinstance(e, exp.Alias):
            out.append(e.alias.lower())
        elif isinstance(e, exp.Column):
            out.append(e.name.lower())
        else:
            out.append(f"_col{i}")
    return out


# ---------------------------------------------------------------------------------------
# Iceberg metadata (pure functions over the emulator's metadata JSON)

_NOT_ICEBERG = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.VARCHAR,
}


def _is_iceberg(glue_table: dict) -> bool:
    return str((glue_table.get("Parameters") or {}).get("table_type", "")).upper() == "ICEBERG"


def _iceberg_spec(meta: dict) -> list[str]:
    """Identity partition columns of the default spec, by their current names."""
    names = {f["id"]: f["name"] for s in meta["schemas"] for f in s["fields"]}
    spec = next(s for s in meta["partition-specs"] if s["spec-id"] == meta["default-spec-id"])
    return [names[f["source-id"]] for f in spec["fields"]]


def _current_fields(meta: dict) -> list[dict]:
    return list(
        next(s for s in meta["schemas"] if s["schema-id"] == meta["current-schema-id"])["fields"]
    )


def _new_schema(meta: dict, fields: list[dict]) -> dict:
    sid = max(s["schema-id"] for s in meta["schemas"]) + 1
    return dict(
        meta,
        schemas=meta["schemas"] + [{"schema-id": sid, "type": "struct", "fields": fields}],
        **{"current-schema-id": sid},
    )


def _iceberg_add_columns(meta: dict, columns: list[tuple[str, tuple]]) -> dict:
    """New columns get new field ids: rows written before read them as NULL."""
    fields = _current_fields(meta)
    last = meta["last-column-id"]
    for name, t in columns:
        if any(f["name"] == name for f in fields):
            raise _Fail(f"COLUMN_ALREADY_EXISTS: Column '{name}' already exists")
        last += 1
        fields.append({"id": last, "name": name, "required": False, "type": hive_str(t)})
    return dict(_new_schema(meta, fields), **{"last-column-id": last})


def _iceberg_drop_column(meta: dict, name: str, if_exists: bool) -> dict:
    fields = _current_fields(meta)
    if not any(f["name"] == name for f in fields):
        if if_exists:
            return meta
        raise _Fail(f"COLUMN_NOT_FOUND: Column '{name}' does not exist")
    if name in _iceberg_spec(meta):
        raise _Fail(f"NOT_SUPPORTED: Cannot drop partition field: {name}")
    return _new_schema(meta, [f for f in fields if f["name"] != name])


def _glue_iceberg_columns(meta: dict) -> list[dict]:
    """Columns as Athena mirrors an Iceberg schema into Glue."""
    return [
        {
            "Name": f["name"],
            "Type": f["type"],
            "Parameters": {
                "iceberg.field.id": str(f["id"]),
                "iceberg.field.optional": "true",
                "iceberg.field.current": "true",
            },
        }
        for f in _current_fields(meta)
    ]


_INT_ORDER = ["tinyint", "smallint", "int", "bigint"]


def _coercible(got: tuple, want: tuple) -> bool:
    """Trino's implicit coercion (what an INSERT accepts), for the types the emulator sees."""
    if got == want:
        return True
    g, w = got[0], want[0]
    if g in _INT_ORDER and w in _INT_ORDER:
        return _INT_ORDER.index(g) <= _INT_ORDER.index(w)
    if g in _INT_ORDER and w in ("decimal", "float", "double"):
        return True
    if g == "decimal" and w == "decimal":
        return got[2] <= want[2] and got[1] - got[2] <= want[1] - want[2]
    if g in ("decimal", "float") and w == "double":
        return True
    if g == "date" and w == "timestamp":
        return True
    if g == "array" and w == "array":
        return _coercible(got[1], want[1])
    if g == "map" and w == "map":
        return _coercible(got[1], want[1]) and _coercible(got[2], want[2])
    if g == "struct" and w == "struct":
        return len(got[1]) == len(want[1]) and all(
            _coercible(a[1], b[1]) for a, b in zip(got[1], want[1])
        )
    return False
