"""One single-node Trino per test session, reading the local stack's Glue catalog and S3.

:class:`CatalogEndpoint` serves moto's process-global backends on a loopback port (moto's
backends are shared by every moto server and every ``mock_aws()`` in this process, so what a
test registers through boto3, in-process or through a ``LocalAWS``, is what Trino sees).
:class:`TrinoServer` runs Trino 476 (:mod:`ddb_assets_tests.trino.fetch`) on the Java 24+
JDK with a bounded heap, listening on 127.0.0.1 on a free port, with:

* catalog ``awsdatacatalog``: the Hive connector on the Glue metastore (``hive.metastore=glue``,
  Glue endpoint = the catalog endpoint) and the native S3 file system (same endpoint, path
  style); Iceberg tables found there are redirected to
* catalog ``iceberg``: the Iceberg connector on the same Glue catalog (and back: Hive tables
  found there are redirected to ``awsdatacatalog``),

so a statement written for Athena (catalog ``awsdatacatalog``, unqualified names in the
query's database) runs unchanged. Catalog management is dynamic:
:meth:`TrinoServer.add_catalogs` adds another such pair at run time (``CREATE CATALOG``),
e.g. one whose Glue and S3 calls are made as an IAM role that Trino assumes through the
local stack's STS (:func:`aws_properties` with ``iam_role``), as Athena acts with the
caller's permissions; :meth:`TrinoServer.drop_catalogs` removes it. Athena's
100-partitions-per-statement limit is Trino's own writer limit with one writer per
statement. moto's Glue lacks the column-statistics calls
Trino makes after every write; :mod:`ddb_assets_tests.trino.glue_statistics` adds them.

The ``trino_server`` session fixture (``ddb_assets_tests/conftest.py``) starts both once;
:meth:`TrinoServer.query` returns column names, Trino's type names and rows.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddb_assets_tests.trino import fetch

CATALOG = "awsdatacatalog"
ICEBERG_CATALOG = "iceberg"
HEAP = "2G"
START_TIMEOUT = 120.0
REGION = "us-east-1"
# The key the session's own catalogs sign with. It names no IAM user: with the local stack's
# request authorization on (ddb_assets.local.authz), its requests are refused like any
# unknown key's; tests that switch authorization on use catalogs that assume a role
# (TrinoServer.add_catalogs with aws_properties(iam_role=...)).
ACCESS_KEY = "trino-athena-front"

_current: TrinoServer | None = None


def current() -> TrinoServer:
    """The session's running Trino (started by the ``trino_server`` fixture)."""
    if _current is None or not _current.running:
        raise fetch.EngineUnavailable(
            "no Trino is running in this test session: use the `trino_server` fixture "
            "(or mark the test `trino`), which starts one"
        )
    return _current


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CatalogEndpoint:
    """moto's server on loopback, over this process's moto backends, for Trino to call."""

    def __init__(self) -> None:
        self._server = None
        self.url: str | None = None

    def start(self) -> CatalogEndpoint:
        import logging

        from moto.server import ThreadedMotoServer

        from ddb_assets_tests.trino import glue_statistics

        glue_statistics.install()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@dataclass
class TrinoResult:
    query_id: str
    columns: list[str]
    types: list[str]
    rows: list[tuple]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def physical_input_bytes(self) -> int:
        return int(self.stats.get("physicalInputBytes") or 0)


def _properties(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def aws_properties(
    endpoint: str,
    *,
    access_key: str,
    secret_key: str,
    iam_role: str | None = None,
    role_session_name: str = "athena",
) -> dict[str, str]:
    """Glue metastore and native S3 file system properties: signed with ``access_key``, or,
    with ``iam_role``, with the credentials of that role, which Trino's AWS SDK assumes
    through the local stack's STS (``AssumeRole`` signed with ``access_key``), as Athena
    acts with the caller's role."""
    props = {
        "hive.metastore.glue.region": REGION,
        "hive.metastore.glue.endpoint-url": endpoint,
        "hive.metastore.glue.aws-access-key": access_key,
        "hive.metastore.glue.aws-secret-key": secret_key,
        "fs.native-s3.enabled": "true",
        "s3.endpoint": endpoint,
        "s3.region": REGION,
        "s3.path-style-access": "true",
        "s3.aws-access-key": access_key,
        "s3.aws-secret-key": secret_key,
    }
    if iam_role:
        props |= {
            "hive.metastore.glue.iam-role": iam_role,
            "hive.metastore.glue.sts.endpoint": endpoint,
            "hive.metastore.glue.sts.region": REGION,
            "s3.iam-role": iam_role,
            "s3.role-session-name": role_session_name,
            "s3.sts.endpoint": endpoint,
            "s3.sts.region": REGION,
        }
    return props


def catalogs(hive: str, iceberg: str, aws: dict[str, str]) -> dict[str, dict[str, str]]:
    """The two catalogs of one Athena data catalog: the Hive connector (Iceberg tables found
    there redirected to ``iceberg``) and the Iceberg connector (Hive tables redirected back)."""
    return {
        hive: {
            "connector.name": "hive",
            "hive.metastore": "glue",
            **aws,
            "hive.iceberg-catalog-name": iceberg,
            "hive.non-managed-table-writes-enabled": "true",
            "hive.max-partitions-per-writers": "100",
            "hive.collect-column-statistics-on-write": "false",
        },
        iceberg: {
            "connector.name": "iceberg",
            "iceberg.catalog.type": "glue",
            **aws,
            "iceberg.hive-catalog-name": hive,
            "iceberg.max-partitions-per-writer": "100",
            "iceberg.compression-codec": "ZSTD",
            "iceberg.glue.cache-table-metadata": "true",  # Glue lists the columns, as Athena does
        },
    }


def _ident(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"catalog name {name!r}: lower-case letters, digits and _ only")
    return '"' + name + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class TrinoServer:
    def __init__(self, endpoint: str, *, workdir: str | None = None, heap: str = HEAP):
        self.endpoint = endpoint
        self.heap = heap
        self._tmp = tempfile.mkdtemp(prefix="trino-", dir=workdir)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self.peak_rss_bytes: int | None = None
        self.statements: list[str] = []  # every statement this server was asked to run
        self.log_path = Path(self._tmp) / "server.log"

    # -- lifecycle ----------------------------------------------------------------------
    def _write_config(self, home: Path) -> Path:
        etc = Path(self._tmp) / "etc"
        (etc / "catalog").mkdir(parents=True)
        (Path(self._tmp) / "data").mkdir()
        self.port = free_port()
        (etc / "config.properties").write_text(
            _properties(
                {
                    "node.environment": "test",
                    "node.id": f"ddb-assets-{os.getpid()}",
                    "node.bind-ip": "127.0.0.1",
                    "node.internal-address": "127.0.0.1",
                    "coordinator": "true",
                    "node-scheduler.include-coordinator": "true",
                    "http-server.http.port": str(self.port),
                    "discovery.uri": f"http://127.0.0.1:{self.port}",
                    "plugin.dir": str(home / "plugin"),
                    # CREATE CATALOG / DROP CATALOG: the authz chain's catalogs, which assume
                    # the caller's role (add_catalogs), come and go with its tests.
                    "catalog.management": "dynamic",
                    "catalog.store": "file",
                    "query.max-memory": "1GB",
                    "query.max-memory-per-node": "1GB",
                    # One writer per statement: the connectors' 100-partitions-per-writer
                    # limit is then Athena's 100 partitions per statement.
                    "task.scale-writers.enabled": "false",
                    "task.min-writer-count": "1",
                    "task.max-writer-count": "1",
                    "task.concurrency": "2",
                }
            )
        )
        # The file catalog store's own configuration (Trino reads it from the working
        # directory's etc/): the catalogs below, and those CREATE CATALOG adds.
        (etc / "catalog-store.properties").write_text(
            _properties({"catalog.config-dir": str(etc / "catalog")})
        )
        aws = aws_properties(self.endpoint, access_key=ACCESS_KEY, secret_key=ACCESS_KEY)
        for name, props in catalogs(CATALOG, ICEBERG_CATALOG, aws).items():
            (etc / "catalog" / f"{name}.properties").write_text(_properties(props))
        return etc

    def start(self) -> TrinoServer:
        home = fetch.ensure_trino()
        jdk = fetch.java_home()
        etc = self._write_config(home)
        cmd = [
            str(jdk / "bin" / "java"),
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-Duser.timezone=UTC",
            "-Djdk.attach.allowAttachSelf=true",
            f"-Dconfig={etc / 'config.properties'}",
            "-cp",
            str(home / "lib" / "*"),
            "io.trino.server.TrinoServer",
        ]
        started = time.monotonic()
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self._tmp
        )
        log.close()
        deadline = started + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise fetch.EngineUnavailable(
                    f"Trino exited with code {self.proc.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            if self._started() and self._takes_work():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise fetch.EngineUnavailable(
                    f"Trino did not start within {START_TIMEOUT:.0f}s:\n{self._log_tail()}"
                )
            time.sleep(0.25)
        self.start_seconds = time.monotonic() - started
        global _current
        _current = self
        return self

    def _started(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/info", timeout=2) as resp:
                return b'"starting":false' in resp.read()
        except (urllib.error.URLError, OSError):
            return False

    def _takes_work(self, names: tuple[str, ...] = (CATALOG, ICEBERG_CATALOG)) -> bool:
        """/v1/info says "starting": false before the node has announced its catalogs to the
        scheduler; a query on a catalog then fails with NO_NODES_AVAILABLE (Trino's catalog
        registration race at startup). Ready means a query that needs splits runs on each of
        our catalogs."""
        from trino.exceptions import TrinoQueryError

        conn = self.connect(catalog="system")
        try:
            cur = conn.cursor()
            for catalog in names:
                cur.execute(f'SELECT count(*) FROM "{catalog}".information_schema.schemata')
                cur.fetchall()
            return True
        except TrinoQueryError as exc:
            if exc.error_name == "NO_NODES_AVAILABLE":
                return False
            raise
        finally:
            conn.close()

    def add_catalogs(self, hive: str, iceberg: str, aws: dict[str, str]) -> None:
        """Create a Hive + Iceberg catalog pair at run time (``CREATE CATALOG``), ready when a
        query that needs splits runs on each (call with request authorization off: the probe
        lists the databases, which a least-privilege role may not)."""
        self.drop_catalogs(hive, iceberg)
        for name, props in catalogs(hive, iceberg, aws).items():
            connector = props.pop("connector.name")
            with_ = ", ".join(f'"{k}" = {_literal(v)}' for k, v in props.items())
            self.query(f"CREATE CATALOG {_ident(name)} USING {connector} WITH ({with_})")
        deadline = time.monotonic() + START_TIMEOUT
        while not self._takes_work((hive, iceberg)):
            if time.monotonic() > deadline:
                raise fetch.EngineUnavailable(f"catalogs {hive}, {iceberg} never took work")
            time.sleep(0.25)

    def drop_catalogs(self, *names: str) -> None:
        for name in names:
            self.query(f"DROP CATALOG IF EXISTS {_ident(name)}")

    def _log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> tuple[int, int]:
        """(current, peak) resident set size of the Trino JVM."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = {}
        for line in status.splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    def stop(self) -> None:
        global _current
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.peak_rss_bytes = self.rss_bytes()[1]
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if _current is self:
            _current = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- queries ------------------------------------------------------------------------
    def connect(
        self,
        *,
        schema: str | None = None,
        catalog: str = CATALOG,
        session_properties: dict[str, str] | None = None,
    ):
        import trino

        return trino.dbapi.connect(
            host="127.0.0.1",
            port=self.port,
            user="ddb_assets_tests",
            catalog=catalog,
            schema=schema,
            timezone="UTC",
            session_properties=session_properties or {},
            legacy_primitive_types=False,
            request_timeout=600,
        )

    def query(
        self,
        sql: str,
        *,
        schema: str | None = None,
        catalog: str = CATALOG,
        session_properties: dict[str, str] | None = None,
    ) -> TrinoResult:
        """Run one statement; raises ``trino.exceptions.TrinoQueryError`` when Trino refuses."""
        self.statements.append(sql)
        conn = self.connect(schema=schema, catalog=catalog, session_properties=session_properties)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            rows = [tuple(r) for r in cur.fetchall()]
            desc = cur.description or []
            return TrinoResult(
                query_id=cur.query_id,
                columns=[d[0] for d in desc],
                types=[d[1] for d in desc],
                rows=rows,
                stats=dict(cur.stats or {}),
            )
        finally:
            conn.close()
