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
