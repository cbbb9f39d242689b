"""A throw-away MariaDB server on loopback: the data of one local RDS DB instance.

``MariaDBServer`` runs Debian's ``mariadbd`` in a temporary folder (``mariadb-install-db`` into
a fresh datadir), on its own free port bound to 127.0.0.1, with a UNIX socket in the same folder.
The stack talks to it as ``root`` over the socket; clients of the "RDS instance" use the master
user created by :meth:`create_user` over TCP, as they would on AWS. ``stop()`` ends the server by
its PID (SIGTERM, then SIGKILL) and removes the folder: nothing is left behind.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "apt-get install -y mariadb-server"


class MariaDBNotInstalled(RuntimeError):
    """MariaDB's server binaries are missing: one line that names the fix."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"the local RDS stack needs a MariaDB server ({missing} not found): "
            f"install it with `{INSTALL_HINT}` (Debian's mariadb-server package)"
        )


class MariaDBStartError(RuntimeError):
    pass


def _find(name: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/bin")) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra_dirs:
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def binaries() -> tuple[str, str]:
    """``(mariadbd, mariadb-install-db)`` paths, or :class:`MariaDBNotInstalled`."""
    server = _find("mariadbd") or _find("mysqld")
    if server is None:
        raise MariaDBNotInstalled("mariadbd")
    install = _find("mariadb-install-db") or _find("mysql_install_db")
    if install is None:
        raise MariaDBNotInstalled("mariadb-install-db")
    return server, install


def available() -> bool:
    try:
        binaries()
    except MariaDBNotInstalled:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


class MariaDBServer:
    """One ``mariadbd`` process in a temporary folder. Use as a context manager or start/stop."""

    def __init__(self, *, port: int = 0, name: str = "rds", start_timeout: float = 60.0) -> None:
        self._requested_port = port
        self.name = name
        self.start_timeout = start_timeout
        self.folder: str | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def socket_path(self) -> str:
        if self.folder is None:
            raise RuntimeError("MariaDBServer is not started")
        return os.path.join(self.folder, "mysqld.sock")

    @property
    def endpoint(self) -> Endpoint:
        if self.port is None:
            raise RuntimeError("MariaDBServer is not started")
        return Endpoint("127.0.0.1", self.port)

    def start(self) -> MariaDBServer:
        if self._proc is not None:
            return self
        server_bin, install_bin = binaries()
        folder = tempfile.mkdtemp(prefix=f"ddb-assets-{self.name}-mariadb-")
        self.folder = folder
        try:
            self._start(server_bin, install_bin, folder)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, server_bin: str, install_bin: str, folder: str) -> None:
        datadir = os.path.join(folder, "data")
        user = getpass.getuser()
        self._log_path = os.path.join(folder, "mariadbd.err")
        install = subprocess.run(
            [
                install_bin,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if install.returncode != 0:
            tail = (install.stderr or install.stdout).strip().splitlines()[-3:]
            raise MariaDBStartError(f"mariadb-install-db failed: {' | '.join(tail)}")
        for _attempt in range(5):
            port = self._requested_port or _free_port()
            self._proc = subprocess.Popen(
                [
                    server_bin,
                    "--no-defaults",
                    f"--datadir={datadir}",
                    f"--socket={self.socket_path}",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    f"--user={user}",
                    f"--pid-file={os.path.join(folder, 'mariadbd.pid')}",
                    f"--log-error={self._log_path}",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_general_ci",
                    "--default-time-zone=+00:00",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=32M",
                    "--innodb-log-file-size=16M",
                    "--max-connections=200",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl+C in a terminal reaches us, not the server
            )
            self.port = port
            if self._wait_ready():
                return
            self._terminate()
            if self._requested_port or "Address already in use" not in self._log_tail():
                break
        raise MariaDBStartError(f"mariadbd did not become ready: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self._log_path or "", encoding="utf-8", errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if "ERROR" in ln]
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:]) or "(no error in log)"

    def _wait_ready(self) -> bool:
        import pymysql

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                conn = pymysql.connect(
                    unix_socket=self.socket_path, user="root", password="", connect_timeout=2
                )
            except pymysql.err.OperationalError:
                time.sleep(0.05)
                continue
            conn.close()
            return True
        return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop(self) -> None:
        """End the server by its PID and delete its folder (idempotent)."""
        try:
            self._terminate()
        finally:
            folder, self.folder = self.folder, None
            self.port = None
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- connections --------------------------------------------------------------------
    def admin(self, database: str | None = None, **kwargs: Any):
        """A PyMySQL connection as ``root`` over the socket (the stack's own access)."""
        import pymysql

        params: dict[str, Any] = {
            "unix_socket": self.socket_path,
            "user": "root",
            "password": "",
            "charset": "utf8mb4",
            "autocommit": True,
            "init_command": "SET time_zone = '+00:00'",
        }
        if database is not None:
            params["database"] = database
        params.update(kwargs)
        return pymysql.connect(**params)

    def connect(self, user: str, password: str, database: str | None = None, **kwargs: Any):
        """A PyMySQL connection over TCP, as a client of the RDS instance would open."""
        import pymysql

        params: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.endpoint.port,
            "user": user,
            "password": password,
            "charset": "utf8mb4",
            "autocommit": True,
        }
        if database is not None:
            params["database"] = database
        params.update(kwargs)
        return pymysql.connect(**params)

    def create_user(self, user: str, password: str) -> None:
        """The RDS master user: all privileges, from 127.0.0.1 and localhost."""
        with self.admin() as conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(
                    "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password)
                )
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (user, host))
