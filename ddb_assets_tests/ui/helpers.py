"""Helpers for ``test_ui.py``: the webserver's GraphQL API, headless Chromium, /proc scans."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for p in (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if p and Path(p).exists():
            return p
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"{url}/graphql",
        method="POST",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        body = json.load(r)
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def wait_until(
    what: str,
    fn: Callable[[], object],
    timeout: float,
    every: float = 1.0,
    on_timeout: Callable[[], str] = lambda: "",
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}. {on_timeout()}"
            )
        time.sleep(every)


def processes_with_env(name: str, value: str) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose environment has ``name=value``: (pid, command line)."""
    needle = f"{name}={value}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            if "State:\tZ" in (d / "status").read_text():
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append((int(d.name), cmd.strip()))
    return out


@contextmanager
def chromium_page(executable: str, *, width: int = 1400, height: int = 900) -> Iterator:
    """A Playwright page in Debian's Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="ddb-assets-ui-chromium-")
    try:
        with sync_playwright() as p:
            # launch_persistent_context is how Playwright takes --user-data-dir.
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": height},
            )
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                yield page
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_text(page) -> str:
    return page.inner_text("body")


def wait_for_text(
    page, needles: list[str], timeout: float = 60.0, absent: tuple[str, ...] = ("Loading...",)
) -> str:
    """Wait until the page's visible text contains every needle and none of ``absent``
    (by default: until live data has loaded); returns that text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page_text(page)
        if all(n in text for n in needles) and not any(a in text for a in absent):
            return text
        page.wait_for_timeout(500)
    missing = [n for n in needles if n not in text] + [f"(not) {a}" for a in absent if a in text]
    raise AssertionError(f"page {page.url} never showed {missing}; it shows:\n{text[:3000]}")


def screenshot(page, path: Path) -> str:
    """Save a PNG and return the page text at that moment (what the PNG shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    text = page_text(page)
    path.with_suffix(".txt").write_text(text)
    return text
