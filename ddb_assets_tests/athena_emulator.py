"""A test-only Athena: what Athena adds to Trino, in front of the session's real Trino.

Athena engine v3 is Trino plus HiveQL DDL plus Athena's own query API and limits. This
front keeps only those and lets Trino (:mod:`ddb_assets_tests.trino.server`, Hive and
Iceberg connectors on the same Glue catalog and S3 the code under test writes) decide every
query's result:

* **Query API**: :meth:`AthenaEmulator.start_query_execution` /
  :meth:`~AthenaEmulator.get_query_execution` / :meth:`~AthenaEmulator.get_query_results`
  (Athena's query ids, states ``SUCCEEDED`` / ``FAILED`` with a state-change reason, bytes
  scanned = Trino's physical input bytes), and :meth:`~AthenaEmulator.execute`, the
  :class:`~ddb_assets.athena.client.SqlRunner` the engine code takes.
* **Limits**: query text over 262,144 bytes is refused (``InvalidRequestException``) before it
  runs; at most 100 partitions written per statement (Trino's writer limit, one writer
  per statement, ``HIVE_TOO_MANY_OPEN_PARTITIONS``); one statement per query.
* **HiveQL DDL** (``CREATE EXTERNAL TABLE``, Iceberg ``CREATE TABLE``, ``ALTER TABLE ADD
  PARTITION`` / ``ADD COLUMNS`` / ``DROP COLUMN``, ``DROP TABLE``): every statement is
  first checked by Hive's own parser (:mod:`ddb_assets_tests.trino.hive_grammar`) and by
  Athena's naming rule (a name beginning with a digit or ``_`` must be backticked), then
  applied to the catalog: Hive tables and partitions through Glue (as Athena's DDL does),
  Iceberg tables through Trino's Iceberg connector (which writes the metadata files and
  registers them in Glue, as Athena's Iceberg library does). Athena's Iceberg extensions
  to HiveQL (``PARTITIONED BY (column)`` without types, ``DROP COLUMN``) are checked
  separately, their identifiers still by Hive's grammar.
* Everything else (``SELECT``, ``WITH``, CTAS, ``INSERT``, ``MERGE``, ``UPDATE``, ``DELETE``,
  ``CREATE VIEW``, ``DROP VIEW``) is sent to Trino as written, in catalog
  ``awsdatacatalog`` and the query's database, with only Athena's documented renames of
  its own table properties: CTAS ``write_compression`` becomes the session's
  ``compression_codec``; a CTAS with ``table_type = 'ICEBERG'`` runs in the Iceberg catalog
  without ``table_type`` / ``is_external``. ``DELETE`` / ``UPDATE`` / ``MERGE`` on a table that
  is not Iceberg are refused as Athena refuses them.

Failures raise :class:`~ddb_assets.athena.client.AthenaQueryError` whose reason is
``<ERROR_NAME>: <message>`` as Athena reports Trino's errors.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from ddb_assets.athena.client import AthenaQueryError, QueryResult, check_athena_sql
from ddb_assets_tests.trino import hive_grammar, ion_serde
from ddb_assets_tests.trino import server as trino_server
from ddb_assets_tests.trino.hive_types import HiveTypeError, hive_to_trino
from ddb_assets_tests.trino.server import CATALOG, ICEBERG_CATALOG

MAX_QUERY_BYTES = 262_144
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_NOT_ICEBERG = {"tinyint", "smallint", "char", "varchar"}


class _Fail(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class EmulatedQuery:
    query_id: str
    sql: str
    state: str = "QUEUED"
    reason: str | None = None
    kind: str = ""  # "ddl" (HiveQL, applied by the front) or "trino"
    trino_sql: str | None = None
    trino_query_id: str | None = None
    bytes_scanned: int = 0
    elapsed_ms: int = 0
    result: QueryResult | None = field(default=None, repr=False)


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- the front ------------------------------------------------------------------------------

_DDL_HEAD = re.compile(
    r"^\s*(CREATE\s+EXTERNAL\s+TABLE|CREATE\s+TABLE|ALTER\s+TABLE|DROP\s+TABLE|MSCK|SHOW|DESCRIBE)\b",
    re.I,
)
_ATHENA_RENAMES = re.compile(r",?\s*write_compression\s*=\s*'([A-Za-z0-9_]+)'", re.I)
_NAME_NEEDS_TICKS = re.compile(r"\((?:tok_tabcol|tok_tabname(?: \S+)?) ([0-9_][^\s()]*)")


class AthenaEmulator:
    """Athena's query API, limits and HiveQL DDL in front of the session's Trino."""

    def __init__(
        self,
        glue,
        s3,
        *,
        database: str = "default",
        workdir: str | None = None,
        catalogs: tuple[str, str] = (CATALOG, ICEBERG_CATALOG),
    ):
        self.glue = glue
        self.s3 = s3
        self.database = database.lower()
        # Trino's Hive and Iceberg catalogs for Athena's AwsDataCatalog: the session's own,
        # or a pair whose Glue and S3 calls assume the caller's role (TrinoServer.add_catalogs).
        self.catalog, self.iceberg_catalog = catalogs
        self.trino = trino_server.current()
        self.statements: list[str] = []
        self.queries: list[EmulatedQuery] = []
        self._by_id: dict[str, EmulatedQuery] = {}

    def close(self) -> None:
        pass

    # -- Athena's query API ---------------------------------------------------------------
    def start_query_execution(self, sql: str) -> str:
        if len(sql.encode("utf-8")) > MAX_QUERY_BYTES:
            # Athena refuses the request itself: no query id, nothing runs.
            raise AthenaQueryError(
                "An error occurred (InvalidRequestException) when calling the "
                "StartQueryExecution operation: 1 validation error detected: Value at "
                "'queryString' failed to satisfy constraint: Member must have length less "
                f"than or equal to {MAX_QUERY_BYTES} (got {len(sql.encode('utf-8'))} bytes)",
                reason="InvalidRequestException",
                sql=sql,
            )
        check_athena_sql(sql)  # a ValueError before anything is sent, as the real client
        self.statements.append(sql)
        q = EmulatedQuery(query_id=str(uuid.uuid4()), sql=sql)
        self.queries.append(q)
        self._by_id[q.query_id] = q
        started = time.monotonic()
        q.state = "RUNNING"
        try:
            columns, rows = self._run(sql, q)
        except _Fail as f:
            q.state, q.reason = "FAILED", f.reason
        except HiveTypeError as exc:
            q.state, q.reason = "FAILED", str(exc)
        else:
            q.state = "SUCCEEDED"
            q.result = QueryResult(
                query_id=q.query_id, columns=columns, rows=rows, bytes_scanned=q.bytes_scanned
            )
        q.elapsed_ms = int((time.monotonic() - started) * 1000)
        if q.result is not None:
            q.result.elapsed_ms = q.elapsed_ms
        return q.query_id

    def get_query_execution(self, query_id: str) -> dict:
        q = self._by_id[query_id]
        status = {"State": q.state}
        if q.reason:
            status["StateChangeReason"] = q.reason
        return {
            "QueryExecution": {
                "QueryExecutionId": q.query_id,
                "Query": q.sql,
                "StatementType": "DDL" if q.kind == "ddl" else "DML",
                "Status": status,
                "Statistics": {
                    "DataScannedInBytes": q.bytes_scanned,
                    "EngineExecutionTimeInMillis": q.elapsed_ms,
                },
            }
        }

    def get_query_results(self, query_id: str) -> QueryResult:
        q = self._by_id[query_id]
        if q.state != "SUCCEEDED":
            raise AthenaQueryError(
                f"Query {query_id} is {q.state}: {q.reason}", query_id=query_id, state=q.state
            )
        return q.result

    # -- SqlRunner ------------------------------------------------------------------------
    def execute(self, sql: str) -> QueryResult:
        query_id = self.start_query_execution(sql)
        q = self._by_id[query_id]
        if q.state == "FAILED":
            raise AthenaQueryError(
                f"Athena query failed: {q.reason}",
                query_id=q.query_id,
                state="FAILED",
                reason=q.reason,
                sql=sql,
            )
        return self.get_query_results(query_id)

    # -- dispatch ---------------------------------------------------------------------------
    def _run(self, sql: str, q: EmulatedQuery):
        trees = [t for t in sqlglot.parse(sql, read="athena") if t is not None]
        if len(trees) != 1:
            raise _Fail(
                f"INVALID_SESSION_PROPERTY: Only one sql statement is allowed. Got: {len(trees)}"
            )
        tree = trees[0]
        is_ctas = isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query)
        if _DDL_HEAD.match(sql) and not is_ctas:
            q.kind = "ddl"
            self._ddl(sql, tree, q)
            return [], []
        q.kind = "trino"
        if isinstance(tree, (exp.Delete, exp.Update, exp.Merge)):
            self._require_iceberg_target(tree)
        catalog, session, text = self.catalog, {}, self._ion_tables(sql, tree)
        if is_ctas:
            catalog, session, text = self._ctas_renames(text)
        return self._trino(text, q, catalog=catalog, session=session)

    def _ion_tables(self, sql: str, tree: exp.Expression) -> str:
        """A table in Athena's Ion SerDe is read through the rows the SerDe gives
        (:mod:`ddb_assets_tests.trino.ion_serde`): Trino 476 has no Ion reader."""
        for t in tree.find_all(exp.Table):
            db, name = self._target(t)
            table = self._get_table(db, name) if name else None
            if table is None or not ion_serde.is_ion(table):
                continue
            try:
                shadow = ion_serde.shadow_table(self.glue, self.s3, db, table)
            except RuntimeError as exc:
                raise _Fail(str(exc)) from None
            ref = f"{_dq(db)}.{_dq(name)}"
            if ref not in sql:
                raise _Fail(f"NOT_SUPPORTED: the test front reads Ion tables named as {ref}")
            sql = sql.replace(ref, f"{_dq(db)}.{_dq(shadow)}")
        return sql

    def _trino(self, sql: str, q: EmulatedQuery, *, catalog: str | None = None, session=None):
        import trino.exceptions

        q.trino_sql = sql
        catalog = catalog or self.catalog
        try:
            res = self.trino.query(
                sql, schema=self.database, catalog=catalog, session_properties=session or {}
            )
        except trino.exceptions.TrinoQueryError as exc:
            q.trino_query_id = exc.query_id
            raise _Fail(_reason(exc)) from None
        q.trino_query_id = res.query_id
        q.bytes_scanned += res.physical_input_bytes
        return res.columns, res.rows

    def _ctas_renames(self, sql: str) -> tuple[str, dict, str]:
        """Athena's CTAS table properties that Trino spells otherwise."""
        session: dict[str, str] = {}
        catalog = self.catalog
        codec = None
        m = _ATHENA_RENAMES.search(sql.split(" AS ", 1)[0])
        if m:
            codec = m.group(1).upper()
            sql = sql[: m.start()] + sql[m.end() :]
        head, sep, rest = sql.partition(" AS ")
        if re.search(r"table_type\s*=\s*'ICEBERG'", head, re.I):
            catalog = self.iceberg_catalog
            head = re.sub(
                r",?\s*(table_type|is_external)\s*=\s*('[^']*'|\w+)", "", head, flags=re.I
            )
            head = head.replace("WITH (,", "WITH (").replace("( ", "(")
        sql = head + sep + rest
        sql = sql.replace("WITH (, ", "WITH (").replace("WITH ()", "")
        if codec:
            session[f"{catalog}.compression_codec"] = codec
        return catalog, session, sql

    # -- catalog helpers ------------------------------------------------------------------
    def _target(self, table: exp.Table) -> tuple[str, str]:
        return (table.db or self.database).lower(), table.name.lower()

    def _get_table(self, db: str, name: str) -> dict | None:
        try:
            return self.glue.get_table(DatabaseName=db, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def _require_database(self, db: str) -> None:
        try:
            self.glue.get_database(Name=db)
        except self.glue.exceptions.EntityNotFoundException:
            raise _Fail(f"SCHEMA_NOT_FOUND: Schema '{db}' does not exist") from None

    def _require_iceberg_target(self, tree: exp.Expression) -> None:
        target = tree.this if isinstance(tree.this, exp.Table) else tree.find(exp.Table)
        db, name = self._target(target)
        table = self._get_table(db, name)
        if table is not None and not _is_iceberg(table):
            raise _Fail(
                "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional "
                "tables (Athena runs DELETE, UPDATE and MERGE on Iceberg tables only)"
            )

    # -- HiveQL DDL -------------------------------------------------------------------------
    def _hive_check(self, sql: str) -> str:
        try:
            tree = hive_grammar.check(sql)
        except hive_grammar.HiveSyntaxError as exc:
            raise _Fail(f"FAILED: ParseException {exc}") from None
        bad = _NAME_NEEDS_TICKS.search(tree)
        if bad:
            raise _Fail(
                f"FAILED: ParseException the name {bad.group(1)!r} begins with a digit or an "
                "underscore: Athena's DDL needs it enclosed in backticks"
            )
        return tree

    def _ddl(self, sql: str, tree: exp.Expression, q: EmulatedQuery) -> None:
        if isinstance(tree, exp.Create):
            self._create_table(sql, tree, q)
        elif isinstance(tree, exp.Alter):
            self._alter(sql, tree, q)
        elif isinstance(tree, exp.Drop):
            self._hive_check(sql)
            self._drop_table(tree, q)
        else:
            raise _Fail(f"NOT_SUPPORTED: the test front does not run {sql.split()[0]} statements")

    def _create_table(self, sql: str, tree: exp.Create, q: EmulatedQuery) -> None:
        iceberg = re.search(r"'table_type'\s*=\s*'ICEBERG'", sql, re.I) is not None
        schema = tree.this
        target = schema.this
        db, name = self._target(target)
        spec: list[str] = []
        if iceberg:
            # Athena's Iceberg DDL partitions by columns (or transforms) without types; the
            # rest is HiveQL.
            m = re.search(r"\sPARTITIONED\s+BY\s*\(([^()]*)\)", sql, re.I)
            hive_sql = sql
            if m:
                spec = [s.strip() for s in m.group(1).split(",")]
                for s in spec:
                    if not re.fullmatch(r"`[^`]+`|[A-Za-z][A-Za-z0-9_]*", s):
                        raise _Fail(f"NOT_SUPPORTED: Iceberg partition field {s!r}")
                hive_sql = sql[: m.start()] + sql[m.end() :]
            self._hive_check(hive_sql)
        else:
            self._hive_check(sql)
        self._require_database(db)
        exists = self._get_table(db, name) is not None
        if exists and tree.args.get("exists"):
            return
        if exists:
            raise _Fail(f"TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.{db}.{name}' already exists")
        columns = []
        for cd in schema.expressions:
            columns.append((cd.name.lower(), cd.args["kind"].sql(dialect="hive").lower()))
        names = [c for c, _ in columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _Fail(f"DUPLICATE_COLUMN_NAME: Column name '{dup[0]}' specified more than once")
        props = {
            p.name.lower(): p
            for p in (tree.args.get("properties") or exp.Properties()).expressions
            if isinstance(p, exp.Property) and p.name
        }
        location = None
        external = False
        fmt = None
        delim = None
        serde, serde_params, io_formats = None, {}, None
        partition_defs = []
        for p in (tree.args.get("properties") or exp.Properties()).expressions:
            if isinstance(p, exp.LocationProperty):
                location = p.this.name
            elif isinstance(p, exp.ExternalProperty):
                external = True
            elif isinstance(p, exp.FileFormatProperty) and isinstance(
                p.this, exp.InputOutputFormat
            ):
                io_formats = (p.this.args["input_format"].name, p.this.args["output_format"].name)
            elif isinstance(p, exp.FileFormatProperty):
                fmt = (p.this.name if isinstance(p.this, exp.Expression) else str(p.this)).upper()
            elif isinstance(p, exp.RowFormatSerdeProperty):
                serde = p.this.name
                props_in = p.args.get("serde_properties")
                serde_params = {
                    e.this.name: e.args["value"].name
                    for e in (props_in.expressions if props_in is not None else [])
                }
            elif isinstance(p, exp.RowFormatDelimitedProperty):
                delim = p.args["fields"].name if p.args.get("fields") is not None else None
            elif isinstance(p, exp.PartitionedByProperty) and isinstance(p.this, exp.Schema):
                partition_defs = [
                    (cd.name.lower(), cd.args["kind"].sql(dialect="hive").lower())
                    for cd in p.this.expressions
                    if isinstance(cd, exp.ColumnDef) and cd.args.get("kind") is not None
                ]
        if not location:
            raise _Fail(f"SYNTAX_ERROR: table {db}.{name} needs a LOCATION")
        if iceberg:
            if external:
                raise _Fail(
                    "NOT_SUPPORTED: CREATE EXTERNAL TABLE cannot create an Iceberg table: use "
                    "CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG')"
                )
            for _, t in columns:
                bad = [w for w in re.findall(r"[a-z]+", t) if w in _NOT_ICEBERG]
                if bad:
                    raise _Fail(f"NOT_SUPPORTED: Iceberg tables do not support the type {bad[0]}")
            part = [s.strip("`").lower() for s in spec]
            for s in part:
                if s not in names:
                    raise _Fail(
                        f"COLUMN_NOT_FOUND: Partition column '{s}' is not a column of {db}.{name}"
                    )
            cols = ", ".join(f"{_dq(c)} {hive_to_trino(t)}" for c, t in columns)
            fmt_prop = props.get("format")
            with_ = [f"location = '{location}'", "format_version = 2"]
            if fmt_prop is not None:
                with_.append(f"format = '{fmt_prop.args['value'].name.upper()}'")
            if part:
                with_.append("partitioning = ARRAY[" + ", ".join(f"'{s}'" for s in part) + "]")
            session = {}
            codec = props.get("write_compression")
            if codec is not None:
                session[f"{self.iceberg_catalog}.compression_codec"] = codec.args[
                    "value"
                ].name.upper()
            self._trino(
                f"CREATE TABLE {_dq(db)}.{_dq(name)} ({cols}) WITH ({', '.join(with_)})",
                q,
                catalog=self.iceberg_catalog,
                session=session,
            )
            return
        if not external:
            raise _Fail(
                "NOT_SUPPORTED: Only external table creation is supported (CREATE EXTERNAL TABLE, "
                "or an Iceberg table with TBLPROPERTIES ('table_type'='ICEBERG'))"
            )
        if serde is not None and io_formats is not None:
            # ROW FORMAT SERDE '<class>' WITH SERDEPROPERTIES (...) STORED AS INPUTFORMAT ...
            # OUTPUTFORMAT ...: registered as declared, as Athena does (a table in Athena's Ion
            # SerDe is then read through ion_serde).
            sd = {
                "InputFormat": io_formats[0],
                "OutputFormat": io_formats[1],
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
            }
        elif fmt == "PARQUET":
            sd = {
                "InputFormat": PARQUET_INPUT,
                "OutputFormat": PARQUET_OUTPUT,
                "SerdeInfo": {
                    "SerializationLibrary": PARQUET_SERDE,
                    "Parameters": {"serialization.format": "1"},
                },
            }
        elif fmt in (None, "TEXTFILE"):
            d = "\u0001" if delim is None else delim.encode().decode("unicode_escape")
            sd = {
                "InputFormat": TEXT_INPUT,
                "OutputFormat": TEXT_OUTPUT,
                "SerdeInfo": {
                    "SerializationLibrary": TEXT_SERDE,
                    "Parameters": {"field.delim": d, "serialization.format": d},
                },
            }
        else:
            raise _Fail(
                f"NOT_SUPPORTED: the test front registers TEXTFILE and PARQUET tables, not {fmt}"
            )
        self.glue.create_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"EXTERNAL": "TRUE"},
                "PartitionKeys": [{"Name": n, "Type": t} for n, t in partition_defs],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in columns],
                    "Location": location,
                    **sd,
                },
            },
        )

    def _alter(self, sql: str, tree: exp.Alter, q: EmulatedQuery) -> None:
        target = tree.this
        db, name = self._target(target)
        actions = tree.args.get("actions") or []
        drops = [a for a in actions if isinstance(a, exp.Drop)]
        if drops:
            # Athena's DROP COLUMN (Iceberg only) is not HiveQL: its names are checked by
            # Hive's grammar in the equivalent CHANGE COLUMN form.
            m = re.match(
                r"^\s*ALTER\s+TABLE\s+(.+?)\s+DROP\s+COLUMN\s+(.+?)\s*;?\s*$", sql, re.I | re.S
            )
            if not m:
                raise _Fail(f"SYNTAX_ERROR: {sql[:80]!r}")
            self._hive_check(
                f"ALTER TABLE {m.group(1)} CHANGE COLUMN {m.group(2)} {m.group(2)} string"
            )
            dropped = m.group(2).strip("`").lower()
        else:
            self._hive_check(sql)
        glue_table = self._get_table(db, name)
        if glue_table is None:
            raise _Fail(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{name}' does not exist")
        iceberg = _is_iceberg(glue_table)
        for a in actions:
            if isinstance(a, exp.AddPartition):
                if iceberg:
                    raise _Fail(
                        "NOT_SUPPORTED: ALTER TABLE ADD PARTITION is not supported for Iceberg tables"
                    )
                self._add_partition(db, name, glue_table, a)
            elif isinstance(a, exp.Schema):  # ADD COLUMNS
                cols = [
                    (cd.name.lower(), cd.args["kind"].sql(dialect="hive").lower())
                    for cd in a.expressions
                ]
                if iceberg:
                    existing = {
                        c["Name"].lower() for c in glue_table["StorageDescriptor"]["Columns"]
                    }
                    for c, _ in cols:
                        if c in existing:
                            raise _Fail(f"COLUMN_ALREADY_EXISTS: Column '{c}' already exists")
                    for c, t in cols:
                        self._trino(
                            f"ALTER TABLE {_dq(db)}.{_dq(name)} ADD COLUMN {_dq(c)} {hive_to_trino(t)}",
                            q,
                            catalog=self.iceberg_catalog,
                        )
                else:
                    sd = dict(glue_table["StorageDescriptor"])
                    sd["Columns"] = sd["Columns"] + [{"Name": c, "Type": t} for c, t in cols]
                    self.glue.update_table(DatabaseName=db, TableInput=_table_input(glue_table, sd))
            elif isinstance(a, exp.Drop) and (a.args.get("kind") or "").upper() == "COLUMN":
                if not iceberg:
                    raise _Fail(
                        "NOT_SUPPORTED: ALTER TABLE DROP COLUMN is only supported for Iceberg tables"
                    )
                self._trino(
                    f"ALTER TABLE {_dq(db)}.{_dq(name)} DROP COLUMN {_dq(dropped)}",
                    q,
                    catalog=self.iceberg_catalog,
                )
            else:
                raise _Fail(f"NOT_SUPPORTED: the test front does not run {a.sql('athena')[:60]!r}")

    def _add_partition(
        self, db: str, name: str, glue_table: dict, action: exp.AddPartition
    ) -> None:
        spec = action.this
        given: dict[str, str] = {}
        for eq in spec.expressions if isinstance(spec, exp.Anonymous) else []:
            given[eq.this.name.lower()] = eq.expression.name
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
        sd = {k: sd[k] for k in ("Columns", "InputFormat", "OutputFormat", "SerdeInfo") if k in sd}
        self.glue.create_partition(
            DatabaseName=db,
            TableName=name,
            PartitionInput={"Values": values, "StorageDescriptor": dict(sd, Location=location)},
        )

    def _drop_table(self, tree: exp.Drop, q: EmulatedQuery) -> None:
        target = tree.this if isinstance(tree.this, exp.Table) else tree.find(exp.Table)
        db, name = self._target(target)
        existing = self._get_table(db, name)
        if existing is None:
            if tree.args.get("exists"):
                return
            raise _Fail(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{name}' does not exist")
        if existing.get("TableType") == "VIRTUAL_VIEW":
            raise _Fail(f"NOT_SUPPORTED: {db}.{name} is a view; use DROP VIEW")
        if _is_iceberg(existing):  # Athena deletes an Iceberg table's data with it
            self._trino(f"DROP TABLE {_dq(db)}.{_dq(name)}", q, catalog=self.iceberg_catalog)
        else:  # an external Hive table: the catalog entry only
            self.glue.delete_table(DatabaseName=db, Name=name)


def _reason(exc) -> str:
    """``<ERROR_NAME>: <message>``, and the root cause when the message does not say it (an
    S3 or Glue refusal under a connector's error: ``Access Denied (Service: S3, Status Code:
    403 ...)``), as Athena's state-change reasons carry it."""
    reason = f"{exc.error_name}: {exc.message}"
    info, cause = exc.failure_info or {}, None
    while info.get("cause"):
        info = info["cause"]
        cause = info.get("message") or cause
    if cause and cause not in reason:
        reason += f" ({cause})"
    return reason


def _is_iceberg(glue_table: dict) -> bool:
    return (glue_table.get("Parameters") or {}).get("table_type", "").upper() == "ICEBERG"


def _table_input(glue_table: dict, sd: dict) -> dict:
    keep = ("Name", "Description", "Owner", "Retention", "PartitionKeys", "TableType", "Parameters")
    out = {k: glue_table[k] for k in keep if k in glue_table}
    out["StorageDescriptor"] = sd
    return out
