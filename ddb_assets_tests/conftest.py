from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    """No test may reach real AWS: fake credentials and a fixed region, always."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield


@pytest.fixture
def local_env(monkeypatch):
    """A fresh local AWS stack, with this process's environment pointing at it
    (``DDB_ASSETS_ENV=local``), as ``ddb-assets dev`` sets it up."""
    from ddb_assets.local import LocalAWS

    with LocalAWS(export_seconds=0.5) as stack:
        for k, v in stack.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("DDB_ASSETS_ENV", "local")
        yield stack


@pytest.fixture(scope="session")
def trino_server():
    """One single-node Trino for the session (see ``ddb_assets_tests/trino/server.py``).

    If Trino, Hive's parser or a Java 24+ JDK cannot be had, every test that needs them
    FAILS with what is missing and how to get it: they are never skipped."""
    from ddb_assets_tests.trino import fetch
    from ddb_assets_tests.trino.server import CatalogEndpoint, TrinoServer

    endpoint = CatalogEndpoint().start()
    try:
        server = TrinoServer(endpoint.url).start()
    except fetch.EngineUnavailable as exc:
        endpoint.stop()
        pytest.fail(f"Trino is not available: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        endpoint.stop()
        _TRINO_FIGURES.update(
            start_seconds=server.start_seconds,
            peak_rss_bytes=server.peak_rss_bytes,
            statements=len(server.statements),
            distinct_statements=len(set(server.statements)),
        )


_TRINO_FIGURES: dict = {}


@pytest.fixture(autouse=True)
def _trino_for_marked_tests(request):
    """Tests marked ``trino`` get the session's Trino (the Athena front finds it itself)."""
    if request.node.get_closest_marker("trino") is not None:
        request.getfixturevalue("trino_server")
    yield


def pytest_terminal_summary(terminalreporter):
    if _TRINO_FIGURES:
        f = _TRINO_FIGURES
        rss = f["peak_rss_bytes"]
        terminalreporter.write_line(
            f"Trino: started in {f['start_seconds']:.1f}s, peak RSS "
            f"{(rss or 0) / 2**20:.0f} MiB, {f['distinct_statements']} distinct statements "
            f"({f['statements']} in all)"
        )
