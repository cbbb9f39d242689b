"""HiveQL's own grammar: Hive 3.1.3's parser (``hive-exec``), one JVM for the test session.

Athena's DDL is HiveQL. :func:`check` sends a statement to a long-running
``HiveDdlCheck`` process (``HiveDdlCheck.java`` beside this file, compiled with the Java
24+ JDK's ``javac`` into the cache on first use) and returns Hive's abstract syntax tree,
or raises :class:`HiveSyntaxError` with Hive's own message (``line 1:16 cannot recognize
input near '_a' 'string' ...``).
"""

from __future__ import annotations

import base64
import subprocess
import threading
from pathlib import Path

from ddb_assets_tests.trino import fetch

_SOURCE = Path(__file__).with_name("HiveDdlCheck.java")


class HiveSyntaxError(ValueError):
    pass


class HiveGrammar:
    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.checked: list[str] = []

    def _classpath(self) -> str:
        jars = fetch.ensure_hive()
        jdk = fetch.java_home()
        classes = jars / "classes"
        compiled = classes / "HiveDdlCheck.class"
        if not compiled.exists() or compiled.stat().st_mtime < _SOURCE.stat().st_mtime:
            classes.mkdir(exist_ok=True)
            cp = ":".join(str(p) for p in sorted(jars.glob("*.jar")))
            proc = subprocess.run(
                [str(jdk / "bin" / "javac"), "-cp", cp, "-d", str(classes), str(_SOURCE)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise fetch.EngineUnavailable(f"javac HiveDdlCheck.java failed: {proc.stderr}")
        return ":".join([*(str(p) for p in sorted(jars.glob("*.jar"))), str(classes)])

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            cp = self._classpath()
            java = fetch.java_home() / "bin" / "java"
            self._proc = subprocess.Popen(
                [
                    str(java),
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-cp",
                    cp,
                    "HiveDdlCheck",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # Hive prints its recognition exceptions there
                text=True,
                encoding="utf-8",
            )
        return self._proc

    def check(self, sql: str) -> str:
        """Hive's syntax tree of ``sql``; :class:`HiveSyntaxError` if Hive's grammar refuses it."""
        with self._lock:
            proc = self._start()
            proc.stdin.write(base64.b64encode(sql.encode("utf-8")).decode("ascii") + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline().rstrip("\n")
        self.checked.append(sql)
        if answer.startswith("OK "):
            return answer[3:]
        if answer.startswith("ERR "):
            raise HiveSyntaxError(answer[4:])
        raise fetch.EngineUnavailable(f"the Hive parser process ended unexpectedly: {answer!r}")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


_grammar: HiveGrammar | None = None


def grammar() -> HiveGrammar:
    global _grammar
    if _grammar is None:
        _grammar = HiveGrammar()
    return _grammar


def check(sql: str) -> str:
    return grammar().check(sql)
