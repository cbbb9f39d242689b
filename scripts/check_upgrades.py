"""Run the test suite against the newest releases of every dependency, and say what broke.

Not part of CI: the lock (uv.lock) is what CI and the README install. This script answers
"what would an upgrade break?" so that moving the lock is a decision:

    python scripts/check_upgrades.py            # the whole suite
    python scripts/check_upgrades.py -m unit    # any pytest arguments

It resolves the newest versions allowed by pyproject.toml's bounds (ignoring uv.lock and its
constraints) into a throw-away virtual environment, prints every package whose version differs
from the lock, runs pytest there, and prints the failing tests. If everything passes, upgrade
the lock with `uv lock --upgrade` (or `uv lock --upgrade-package NAME`) and commit it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _uv() -> str:
    for candidate in (ROOT / ".tools" / "bin" / "uv", Path(sys.prefix) / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    return "uv"


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p.get("version", "") for p in lock.get("package", [])}


def installed_versions(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [_uv(), "pip", "list", "--python", str(python), "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, _, version = line.partition("==")
        if version:
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="ddb-assets-upgrades-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([_uv(), "venv", "-q", str(venv)], check=True)
        python = venv / "bin" / "python"
        # --no-config: ignore [tool.uv]'s constraints, so the newest releases are tried.
        subprocess.run(
            [
                _uv(),
                "pip",
                "install",
                "-q",
                "--no-config",
                "--python",
                str(python),
                "--upgrade",
                "-e",
                f"{ROOT}[test]",
            ],
            check=True,
        )
        locked, newest = locked_versions(), installed_versions(python)
        moved = sorted(
            (name, locked[name], version)
            for name, version in newest.items()
            if name in locked and locked[name] and locked[name] != version
        )
        print(f"{len(moved)} packages newer than uv.lock:")
        for name, old, new in moved:
            print(f"  {name}: {old} -> {new}")
        report = Path(tmp) / "report.txt"
        rc = subprocess.run(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-rf",
                f"--junitxml={Path(tmp) / 'junit.xml'}",
                *argv,
            ],
            cwd=ROOT,
            stdout=report.open("w"),
            stderr=subprocess.STDOUT,
        ).returncode
        text = report.read_text()
        failed = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR"))]
        summary = text.strip().splitlines()[-1] if text.strip() else "(no output)"
        print(f"pytest against the newest releases: {summary}")
        for line in failed:
            print(f"  {line}")
        if rc == 0:
            print("nothing broke: `uv lock --upgrade` and commit uv.lock to take these versions")
        return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
