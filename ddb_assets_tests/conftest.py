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


# Layer of every test module (unit / integration / ui), and the engines it runs. A module may
# instead set its own ``pytestmark``; a module with neither fails collection, so a new file
# cannot silently fall outside `pytest -m unit` / `-m integration`.
LAYERS = {
    "unit": {
        "test_config",
        "test_incremental_typing",
        "test_manifest",
        "test_sql_refs_lineage",
        "test_sql_transpile",
        "test_summaries_spec",
        "test_summary_header_checks",
        "test_tables_duckdb_parity",
        "test_tables_fastpaths",
        "test_tables_storage",
        "test_tables_units",
    },
    "integration": {
        "test_athena_chain",
        "test_corpus_trino",
        "test_trino_fixture",
        "test_athena_emulated",
        "test_backfill",
        "test_bench_smoke",
        "test_boundaries",
        "test_definitions",
        "test_demo_e2e",
        "test_export_lifecycle",
        "test_incremental_athena",
        "test_incremental_chain",
        "test_incremental_check",
        "test_incremental_dagster",
        "test_local_lifecycle",
        "test_local_stack",
        "test_summaries_athena",
        "test_summaries_duckdb",
        "test_refresh_cli",
        "test_sensor_crashes",
        "test_tables_athena",
        "test_tables_duckdb",
        "test_tables_onepass",
    },
    "ui": {"test_ui"},
}
DUCKDB_ENGINE = {
    "test_backfill",
    "test_refresh_cli",
    "test_sensor_crashes",
    "test_demo_e2e",
    "test_incremental_chain",
    "test_incremental_check",
    "test_incremental_dagster",
    "test_incremental_typing",
    "test_summaries_duckdb",
    "test_tables_duckdb",
    "test_tables_duckdb_parity",
    "test_tables_fastpaths",
    "test_tables_onepass",
    "test_tables_storage",
    "test_tables_units",
    "test_ui",
}


def pytest_collection_modifyitems(config, items):
    unclassified = set()
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        own = {m.name for m in item.iter_markers()} & set(LAYERS)
        if not own:
            layer = next((k for k, mods in LAYERS.items() if module in mods), None)
            if layer is None:
                unclassified.add(module)
                continue
            item.add_marker(getattr(pytest.mark, layer))
        if module in DUCKDB_ENGINE:
            item.add_marker(pytest.mark.duckdb)
        if item.get_closest_marker("trino") is not None and "trino_server" not in item.fixturenames:
            # the session's Trino before any other fixture (session scope first), so module
            # fixtures can use the Athena front
            item.fixturenames.insert(0, "trino_server")
    if unclassified:
        raise pytest.UsageError(
            "test modules without a layer marker: "
            + ", ".join(sorted(unclassified))
            + ": add `pytestmark = pytest.mark.unit` (or integration / ui) to the module, "
            "or list it in LAYERS in ddb_assets_tests/conftest.py"
        )


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


def pytest_terminal_summary(terminalreporter):
    if _TRINO_FIGURES:
        f = _TRINO_FIGURES
        rss = f["peak_rss_bytes"]
        terminalreporter.write_line(
            f"Trino: started in {f['start_seconds']:.1f}s, peak RSS "
            f"{(rss or 0) / 2**20:.0f} MiB, {f['distinct_statements']} distinct statements "
            f"({f['statements']} in all)"
        )
