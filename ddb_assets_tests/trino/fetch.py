"""Fetch and cache the engines the Athena tests run on: Trino 476 and Hive's DDL parser.

Both come from Maven Central through the ordinary Maven client (``mvn dependency:copy``,
``-C``: a checksum mismatch fails the download) and are checked again here against the
SHA-256 values pinned below before anything is unpacked. The cache is
``$DDB_ASSETS_CACHE`` (default ``~/.cache/ddb_assets``):

* ``trino-476/``: ``trino-server-core`` (the server without plugins) with the ``hive`` and
  ``iceberg`` plugins unpacked into ``plugin/``. 798.6 MB downloaded (194.4 + 258.3 +
  345.9 MB), 0.8 GB unpacked; the full ``trino-server`` tarball is 821.0 MB and unpacks to
  every connector, so the three archives are the smaller faithful choice.
* ``hive-3.1.3/``: ``hive-exec`` 3.1.3 (Hive's parser, 41.9 MB) with ``antlr-runtime``
  3.5.2 and ``slf4j-api``, for :mod:`ddb_assets_tests.trino.hive_grammar`.
* ``ion-java-1.12.1/``: Amazon's Ion reader (0.8 MB), for the rows the test front gives
  Trino for tables in Athena's Ion SerDe (:mod:`ddb_assets_tests.trino.ion_serde`).

Idempotent: a complete cache (its ``.complete`` marker) is used as it is; an interrupted
fetch leaves only a staging folder, removed on the next try. Run
``python -m ddb_assets_tests.trino.fetch`` to prefetch (CI does); the test fixtures call
:func:`ensure_trino` / :func:`ensure_hive` themselves otherwise.

Trino 476 needs Java 24 or newer: :func:`java_home` takes ``$DDB_ASSETS_JAVA_HOME``, then
``$JAVA_HOME``, then the Temurin 25 JDK under ``/usr/lib/jvm``, whichever is Java 24+.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

TRINO_VERSION = "476"
HIVE_VERSION = "3.1.3"
MIN_JAVA = 24
JDK_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64", "/usr/lib/jvm/temurin-24-jdk-amd64")


@dataclass(frozen=True)
class Artifact:
    coords: str  # groupId:artifactId:version:type[:classifier]
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        group, artifact, version, kind = self.coords.split(":")[:4]
        return f"{artifact}-{version}.{kind}"


TRINO_ARTIFACTS = (
    Artifact(
        f"io.trino:trino-server-core:{TRINO_VERSION}:tar.gz",
        "0f388f9967c177ae70a47c099082fc95387f0c3cb96d8000d1d41fc3a5223158",
        194_358_953,
    ),
    Artifact(
        f"io.trino:trino-hive:{TRINO_VERSION}:zip",
        "611bacdb07d9f3cf7b9d47f97ecc76fa2e7ff8bfe8a9728c3d06adc1bfb8662e",
        258_326_133,
    ),
    Artifact(
        f"io.trino:trino-iceberg:{TRINO_VERSION}:zip",
        "99edba5b491ed94d599aeb61e0794272d3569d8b563f3bb8569e8a49daa87b6c",
        345_890_737,
    ),
)
HIVE_ARTIFACTS = (
    Artifact(
        f"org.apache.hive:hive-exec:{HIVE_VERSION}:jar",
        "de86f70a73d05070c01f902ed1293b5dfbc4c0fb4d2232d9e218dc7d13ff8d6a",
        41_873_154,
    ),
    Artifact(
        "org.antlr:antlr-runtime:3.5.2:jar",
        "ce3fc8ecb10f39e9a3cddcbb2ce350d272d9cd3d0b1e18e6fe73c3b9389c8734",
        167_761,
    ),
    Artifact(
        "org.slf4j:slf4j-api:1.7.36:jar",
        "d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0",
        41_125,
    ),
)
ION_JAVA_VERSION = "1.12.1"
# Amazon's Ion reader, which the Ion Hive SerDe bundles; Maven Central serves no
# ion-hive2/3-serde jar (checked: dependency:get of com.amazon.ion:ion-hive3-serde finds no
# version), so :mod:`ddb_assets_tests.trino.ion_serde` follows the SerDe's source with it.
ION_ARTIFACTS = (
    Artifact(
        f"com.amazon.ion:ion-java:{ION_JAVA_VERSION}:jar",
        "47f5d5b90690eb6fbff2b5946c1e20e22ba02b0dd9444a7e08de46f19c5b000e",
        835_811,
    ),
)
HOW_TO_GET = (
    "run `python -m ddb_assets_tests.trino.fetch` (needs `mvn` reaching Maven Central, and a "
    f"Java {MIN_JAVA}+ JDK: set DDB_ASSETS_JAVA_HOME or JAVA_HOME to it)"
)


class EngineUnavailable(RuntimeError):
    """Trino, Hive's parser or a new enough Java cannot be had; the message says how."""


def cache_root() -> Path:
    return Path(os.environ.get("DDB_ASSETS_CACHE") or Path.home() / ".cache" / "ddb_assets")


def download_size(artifacts: tuple[Artifact, ...] = TRINO_ARTIFACTS) -> int:
    return sum(a.size for a in artifacts)


def _java_major(home: Path) -> int | None:
    java = home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else None


def java_home() -> Path:
    """A JDK new enough for Trino 476 (and with ``javac`` for the Hive helper)."""
    tried = []
    for candidate in (
        os.environ.get("DDB_ASSETS_JAVA_HOME"),
        os.environ.get("JAVA_HOME"),
        *JDK_CANDIDATES,
    ):
        if not candidate:
            continue
        home = Path(candidate)
        major = _java_major(home)
        tried.append(f"{home} ({'no java' if major is None else f'Java {major}'})")
        if major is not None and major >= MIN_JAVA and (home / "bin" / "javac").exists():
            return home
    raise EngineUnavailable(
        f"Trino {TRINO_VERSION} needs a Java {MIN_JAVA}+ JDK; none found (tried: "
        f"{', '.join(tried) or 'nothing'}). Install one (e.g. Temurin 25) and set "
        "DDB_ASSETS_JAVA_HOME to it."
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mvn_copy(artifacts: tuple[Artifact, ...], dest: Path, log=print) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EngineUnavailable(f"`mvn` (Apache Maven) is not installed; {HOW_TO_GET}")
    for a in artifacts:
        log(f"fetching {a.coords} ({a.size / 1e6:.1f} MB) from Maven Central")
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-C",  # strict checksums: a .sha1 mismatch fails the download
                "dependency:copy",
                f"-Dartifact={a.coords}",
                f"-DoutputDirectory={dest}",
                "-Dmdep.overWriteReleases=true",
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise EngineUnavailable(
                f"`mvn dependency:copy -Dartifact={a.coords}` failed: {' / '.join(tail)}; "
                "is Maven Central reachable?"
            )
        got = _sha256(dest / a.filename)
        if got != a.sha256:
            raise EngineUnavailable(
                f"{a.filename}: SHA-256 {got} is not the pinned {a.sha256}; refusing to use it"
            )


def _install(target: Path, build, log=print) -> Path:
    """Build ``target`` in a staging folder, then rename it into place (atomic)."""
    marker = target / ".complete"
    if marker.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    build(staging)
    (staging / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def ensure_trino(log=print) -> Path:
    """The unpacked Trino server with the hive and iceberg plugins (fetched if missing)."""

    def build(staging: Path) -> None:
        downloads = staging / "downloads"
        downloads.mkdir()
        _mvn_copy(TRINO_ARTIFACTS, downloads, log)
        core, hive, iceberg = (downloads / a.filename for a in TRINO_ARTIFACTS)
        with tarfile.open(core) as tar:
            tar.extractall(staging / "unpacked", filter="tar")
        server = staging / "unpacked" / f"trino-server-core-{TRINO_VERSION}"
        for archive, name in ((hive, "hive"), (iceberg, "iceberg")):
            with zipfile.ZipFile(archive) as z:
                z.extractall(server / "plugin")
            (server / "plugin" / f"trino-{name}-{TRINO_VERSION}").rename(server / "plugin" / name)
        for item in server.iterdir():
            item.rename(staging / item.name)
        shutil.rmtree(staging / "unpacked")
        shutil.rmtree(downloads)

    return _install(cache_root() / f"trino-{TRINO_VERSION}", build, log)


def ensure_hive(log=print) -> Path:
    """A folder of the jars Hive's parser needs (fetched if missing)."""

    def build(staging: Path) -> None:
        _mvn_copy(HIVE_ARTIFACTS, staging, log)

    return _install(cache_root() / f"hive-{HIVE_VERSION}", build, log)


def ensure_ion(log=print) -> Path:
    """A folder with ion-java (fetched if missing)."""

    def build(staging: Path) -> None:
        _mvn_copy(ION_ARTIFACTS, staging, log)

    return _install(cache_root() / f"ion-java-{ION_JAVA_VERSION}", build, log)


def main() -> int:
    try:
        home = java_home()
        trino = ensure_trino()
        hive = ensure_hive()
        ion = ensure_ion()
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Trino {TRINO_VERSION}: {trino}")
    print(f"Hive {HIVE_VERSION} parser: {hive}")
    print(f"ion-java {ION_JAVA_VERSION}: {ion}")
    print(f"Java: {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
