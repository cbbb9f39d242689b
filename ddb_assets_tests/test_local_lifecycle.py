"""LocalAWS lifecycle: patches come and go with the stack; serve_forever runs and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from ddb_assets.local import EXPORT_SECONDS_ENV, LocalAWS

REPO = Path(__file__).resolve().parents[1]


def test_patches_are_installed_only_while_running():
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.__dict__["export_table_to_point_in_time"]
    with LocalAWS(export_seconds=0) as stack:
        assert DynamoHandler.__dict__["export_table_to_point_in_time"] is not original
        with pytest.raises(RuntimeError):
            LocalAWS().start()  # moto's backends are process-global: one stack at a time
        assert stack.client("dynamodb").list_tables()["TableNames"] == []
        stack.client("dynamodb").create_table(
            TableName="leftover",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert DynamoHandler.__dict__["export_table_to_point_in_time"] is original
    with LocalAWS() as again:  # restartable, and starts from empty backends
        assert again.client("dynamodb").list_tables()["TableNames"] == []


def test_export_seconds_from_environment(monkeypatch):
    monkeypatch.setenv(EXPORT_SECONDS_ENV, "0.7")
    assert LocalAWS().export_seconds == 0.7
    assert LocalAWS(export_seconds=3).export_seconds == 3.0
    monkeypatch.delenv(EXPORT_SECONDS_ENV)
    assert LocalAWS().export_seconds == 2.0


def test_serve_forever_prints_env_and_stops_on_sigterm():
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ddb_assets.local import serve_forever; serve_forever(port=0, export_seconds=0.5)",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        exported = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                exported[key] = value
            if line.startswith("Press Ctrl+C"):
                break
        assert set(exported) == {
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
        }
        client = boto3.client(
            "dynamodb", endpoint_url=exported["AWS_ENDPOINT_URL"], region_name="us-east-1"
        )
        assert client.list_tables()["TableNames"] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "Stopping local AWS stack." in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
