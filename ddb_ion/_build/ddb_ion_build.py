"""PEP 517 backend of ddb_ion: maturin's, once Rust is known to be there.

Without cargo, maturin would try to download a Rust toolchain (which fails without a network
beyond the package registries) and print pages of output; this says what is missing in one
line instead."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import maturin

MIN_RUST = (1, 85)  # pyo3 0.30's rust-version; ion-rs 1.2 needs 1.82
FIX = "install Rust >= {}.{} (https://rustup.rs) so that cargo and rustc are on PATH, then run `uv sync --locked` again"


def _fail(problem: str) -> None:
    sys.stderr.write(f"ddb-ion (the ION reader, ./ddb_ion) cannot be built: {problem}: {FIX.format(*MIN_RUST)}\n")
    raise SystemExit(1)


def _check_rust() -> None:
    if shutil.which("cargo") is None or shutil.which("rustc") is None:
        _fail("Rust's cargo is not on PATH")
    out = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout
    m = re.match(r"rustc (\d+)\.(\d+)", out)
    if m is None or (int(m[1]), int(m[2])) < MIN_RUST:
        _fail(f"{out.strip() or 'rustc'} is too old")


def get_requires_for_build_wheel(config_settings=None):
    _check_rust()
    return maturin.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings=None):
    return get_requires_for_build_wheel(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _check_rust()
    return maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _check_rust()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _check_rust()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_sdist(config_settings=None):
    return maturin.get_requires_for_build_sdist(config_settings)


def build_sdist(sdist_directory, config_settings=None):
    return maturin.build_sdist(sdist_directory, config_settings)
