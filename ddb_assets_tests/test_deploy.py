"""deploy/dagster.yaml, loaded by Dagster against a real PostgreSQL (Debian's package,
a throw-away cluster on its own port) and the local AWS stack: storages, run launcher and
compute logs are the production ones, and a run's records land in PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest

# A PostgreSQL cluster (subprocesses), the local stack, a Dagster instance.
pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is missing: apt-get install -y postgresql (.ci/run does)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the 'postgres' user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster in a temp dir, on 127.0.0.1 and its own port; stopped after."""
    data = Path(tempfile.mkdtemp(prefix="ddb-assets-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data / "db"), "-U", "dagster", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    ctl = _pg_bin("pg_ctl")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        _as_postgres(
            [ctl, "-D", str(data / "db"), "-o", opts, "-l", str(data / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "dagster",
                    "dagster",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield {"host": "127.0.0.1", "port": port, "db": "dagster", "user": "dagster"}
    finally:
        subprocess.run(
            _as_postgres([ctl, "-D", str(data / "db"), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@dg.asset
def probe() -> dg.MaterializeResult:
    print("hello from a step")  # captured by the compute log manager
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


def test_production_instance_loads_and_records_runs_in_postgres(
    postgres, local_env, monkeypatch, tmp_path
):
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    local_env.client("s3").create_bucket(Bucket="dagster-logs")
    env = {
        "DAGSTER_PG_HOST": postgres["host"],
        "DAGSTER_PG_PORT": str(postgres["port"]),
        "DAGSTER_PG_DB": postgres["db"],
        "DAGSTER_PG_USERNAME": postgres["user"],
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_COMPUTE_LOGS_BUCKET": "dagster-logs",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.use_current_ecs_task_config
        logs = instance.compute_log_manager
        assert isinstance(logs, S3ComputeLogManager)

        result = dg.materialize([probe], instance=instance)
        assert result.success
        run_id = result.run_id

    # A second instance (another process in production) reads it back from PostgreSQL.
    with dg.DagsterInstance.get() as again:
        run = again.get_run_by_id(run_id)
        assert run is not None and run.is_success
        mat = again.fetch_materializations(dg.AssetKey("probe"), limit=1).records[0]
        assert mat.asset_materialization.metadata["dagster/row_count"].value == 1
        assert again.get_runs_count() >= 1
        deadline = time.monotonic() + 10
        keys = []
        while time.monotonic() < deadline and not keys:
            listed = local_env.client("s3").list_objects_v2(
                Bucket="dagster-logs", Prefix="dagster/compute-logs/"
            )
            keys = [o["Key"] for o in listed.get("Contents", [])]
            time.sleep(0.2)
        assert keys, "no compute log was uploaded to S3"


def test_the_documented_container_context_gives_runs_the_role():
    """deploy/README.md's code-server command names the role in a container context that
    dagster-aws reads as the runs' task role."""
    import json
    import re

    from dagster_aws.ecs.container_context import EcsContainerContext

    notes = (DEPLOY / "README.md").read_text()
    [raw] = re.findall(r"--container-context '([^']+)'", notes)
    arn = "arn:aws:iam::123456789012:role/ddb-assets-DagsterRole-ABC"
    ctx = EcsContainerContext.create_from_config(json.loads(raw.replace("<DagsterRoleArn>", arn)))
    assert ctx.task_role_arn == arn
