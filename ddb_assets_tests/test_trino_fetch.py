"""Without Trino's prerequisites the Trino tests fail with what is missing and how to get
it (the fixture turns EngineUnavailable into a test failure, never a skip)."""

import pytest

from ddb_assets_tests.trino import fetch

pytestmark = pytest.mark.unit


def test_no_java_24_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("DDB_ASSETS_JAVA_HOME", str(tmp_path / "nojdk"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(fetch, "JDK_CANDIDATES", ("/usr/lib/jvm/java-17-openjdk-amd64",))
    with pytest.raises(fetch.EngineUnavailable, match=r"Java 24\+ JDK.*DDB_ASSETS_JAVA_HOME"):
        fetch.java_home()


def test_no_maven_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("DDB_ASSETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    with pytest.raises(fetch.EngineUnavailable, match=r"`mvn`.*ddb_assets_tests\.trino\.fetch"):
        fetch.ensure_trino(log=lambda _: None)
    assert not (tmp_path / "cache" / f"trino-{fetch.TRINO_VERSION}").exists()


def test_a_complete_cache_is_used_as_it_is(monkeypatch, tmp_path):
    monkeypatch.setenv("DDB_ASSETS_CACHE", str(tmp_path))
    home = tmp_path / f"trino-{fetch.TRINO_VERSION}"
    home.mkdir()
    (home / ".complete").write_text("ok\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # would fail if it tried to download
    assert fetch.ensure_trino() == home


def test_the_pinned_download_is_the_smaller_faithful_choice():
    assert fetch.download_size() == 798_575_823 < 821_045_832  # the full trino-server tarball
