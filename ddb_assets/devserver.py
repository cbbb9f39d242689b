"""``ddb-assets dev``: the Dagster UI against the local AWS stack, in one command.

It starts the local AWS stack (moto + the export fidelity layer) in this process on
127.0.0.1, seeds it as ``ddb-assets demo`` does (each configured table filled with the
sample sushi order log, written "4 days ago" so that yesterday's partition is exportable,
and its export bucket created), prepares a Dagster instance folder, then runs
``dagster dev -w workspace.yaml`` as a child with the environment pointing at the stack
(``AWS_ENDPOINT_URL``..., ``DDB_ASSETS_ENV=local``, ``DDB_ASSETS_CONFIG``).

The instance's ``dagster.yaml`` turns the welcome dialog off and gives the
``duckdb_warehouse`` pool a limit of 1 (the DuckDB file has one writer at a time). On a
fresh instance the automation condition sensor is switched on through the webserver (Dagster
declares it stopped), so the eager ``summaries/*`` refresh after each new snapshot.

``dagster dev`` runs in its own session (process group); Ctrl-C or SIGTERM stops it
through that group, then anything it left behind (found by a per-session marker in the
environment of every descendant) is killed, so no process outlives the command.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the repository, in an editable install
DEFAULT_HOME = Path(".ddb_assets") / "dagster_home"
SESSION_ENV = "DDB_ASSETS_DEV_SESSION"  # marks every process this command starts
POOL = "duckdb_warehouse"

DAGSTER_YAML = f"""\
# Written by `ddb-assets dev` at every start; edits here are overwritten.
nux:
  enabled: false          # no welcome dialog over the asset graph
telemetry:
  enabled: false
concurrency:
  pools:
    # Every pool the project declares is `{POOL}` (one DuckDB writer at a time);
    # `dagster.yaml` has no per-pool limits, so the default limit is that pool's limit.
    default_limit: 1
"""


# -- seeding ------------------------------------------------------------------------------
# -- files ----------------------------------------------------------------------------------
WORKSPACE_YAML = """\
# Written by `ddb-assets dev` (no workspace.yaml in the current folder or the project).
load_from:
  - python_module:
      module_name: ddb_assets.definitions
      location_name: ddb_assets
"""


def find_workspace(explicit: str | None = None) -> Path | None:
    """``workspace.yaml``: the given one, else the current folder's, else the repository's
    (None: there is none, e.g. a non-editable install run outside the repository)."""
    if explicit:
        p = Path(explicit)
        if not p.exists():
            raise SystemExit(f"error: workspace file {p} not found")
        return p.resolve()
    for folder in (Path.cwd(), PROJECT_ROOT):
        if (folder / "workspace.yaml").exists():
            return (folder / "workspace.yaml").resolve()
    return None


def find_config(explicit: str | None, project: Path) -> Path:
    from ddb_assets.config import CONFIG_ENV_VAR

    raw = explicit or os.environ.get(CONFIG_ENV_VAR)
    if raw:
        p = Path(raw)
    else:
        p = Path.cwd() / "ddb_assets.yaml"
        if not p.exists():
            p = project / "ddb_assets.yaml"
    if not p.exists():
        raise SystemExit(
            f"error: config file {p} not found (pass --config or set {CONFIG_ENV_VAR})"
        )
    return p.resolve()


def config_with_sensor_interval(config: Path, interval: int, out_dir: Path) -> Path:
    """A copy of ``config`` with ``sensor.interval_seconds`` set and its paths made absolute."""
    data = yaml.safe_load(config.read_text()) or {}
    for key in ("warehouse", "summaries_dir"):
        if data.get(key) and not Path(data[key]).is_absolute():
            data[key] = str((config.parent / data[key]).resolve())
    if "warehouse" not in data:
        data["warehouse"] = str((config.parent / ".ddb_assets" / "warehouse.duckdb").resolve())
    if "summaries_dir" not in data:
        data["summaries_dir"] = str((config.parent / "summaries").resolve())
    data["sensor"] = {**(data.get("sensor") or {}), "interval_seconds": int(interval)}
    out = out_dir / "ddb_assets.yaml"
    out.write_text(
        f"# `ddb-assets dev --sensor-interval {interval}`: a copy of {config}\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    return out


def config_with_local_rds(config: Path, arns: dict[str, dict[str, str]], out_dir: Path) -> Path:
    """A copy of ``config`` whose RDS sources use the export role and KMS key the local stack
    created (``arns``: source name -> ``iam_role_arn`` / ``kms_key_arn``), paths absolute."""
    data = yaml.safe_load(config.read_text()) or {}
    for key in ("warehouse", "summaries_dir"):
        if data.get(key) and not Path(data[key]).is_absolute():
            data[key] = str((config.parent / data[key]).resolve())
    for src in data.get("rds") or []:
        src.update(arns.get(src.get("name"), {}))
    out = out_dir / "ddb_assets.rds-local.yaml"
    out.write_text(
        f"# `ddb-assets dev`: {config} with the local stack's RDS export role and key\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    return out


def prepare_home(home: Path, *, keep: bool) -> None:
    """The instance folder: wiped unless ``keep`` (the local stack starts empty each time,
    so old runs would point at exports that no longer exist), and a fresh ``dagster.yaml``."""
    if home.exists() and not keep and any(home.iterdir()):
        mine = home / "dagster.yaml"
        if not (mine.exists() and mine.read_text().startswith(DAGSTER_YAML.splitlines()[0])):
            raise SystemExit(
                f"error: {home} is not a Dagster home made by `ddb-assets dev`, so it is not "
                "emptied: choose another --dagster-home, or pass --keep-home to use it as is"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)


# -- processes ------------------------------------------------------------------------------
def session_processes(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``SESSION_ENV=marker`` (Linux /proc)."""
    needle = f"{SESSION_ENV}={marker}".encode()
    found: list[int] = []
    proc = Path("/proc")
    if not proc.exists():
        return found
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
            status = (d / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:  # a zombie is already dead; its parent reaps it
            continue
        if needle in env.split(b"\0"):
            found.append(int(d.name))
    return found


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process_group(
    proc: subprocess.Popen, marker: str, *, grace: float = 20.0, log: Callable[[str], None] = print
) -> None:
    """Stop ``dagster dev`` and everything it started.

    SIGINT to the whole group (``dagster dev`` then shuts its webserver, daemon and code
    servers down in order), SIGTERM after ``grace`` seconds, SIGKILL 5 s later; finally
    SIGKILL whatever still carries the session marker (e.g. a run worker that left the
    group).
    """
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    if proc.poll() is None:
        _killpg(pgid, signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log("dagster dev did not stop in time: SIGTERM")
            _killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _killpg(pgid, signal.SIGKILL)
                proc.wait(timeout=5)
    # The leader is gone; give the rest of the group a moment to follow it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = session_processes(marker)
        if not left:
            return
        time.sleep(0.25)
    _killpg(pgid, signal.SIGKILL)
    left = session_processes(marker)
    for pid in left:
        _kill(pid, signal.SIGKILL)
    if left:
        log(f"killed {len(left)} leftover process(es): {', '.join(map(str, left))}")


def wait_for_webserver(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


# -- the command ------------------------------------------------------------------------------
def run_dev(
    *,
    port: int = 3000,
    host: str = "127.0.0.1",
    export_seconds: float = 5.0,
    sensor_interval: int | None = None,
    config: str | None = None,
    workspace: str | None = None,
    dagster_home: str | None = None,
    keep_home: bool = False,
    items: int = 3000,
    aws_port: int = 0,
    log: Callable[[str], None] = print,
) -> int:
    """Run ``ddb-assets dev`` until Ctrl-C / SIGTERM (or until ``dagster dev`` exits)."""
    from ddb_assets.config import CONFIG_ENV_VAR, ConfigError, load_config
    from ddb_assets.local import EXPORT_SECONDS_ENV, LocalAWS, seed_sample_tables
    from ddb_assets.resources import ENV_VAR

    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            log(f"error: {host}:{port} is already in use (another `dagster dev`?); pick --port")
            return 2
    ws = find_workspace(workspace)
    project = ws.parent if ws else Path.cwd()
    cfg_path = find_config(config, project)
    home = Path(dagster_home or os.environ.get("DDB_ASSETS_DEV_HOME") or (project / DEFAULT_HOME))
    home = home.resolve()
    prepare_home(home, keep=keep_home)
    if ws is None:
        ws = home / "workspace.yaml"
        ws.write_text(WORKSPACE_YAML)
    if sensor_interval is not None:
        cfg_path = config_with_sensor_interval(cfg_path, sensor_interval, home)
    try:
        cfg = load_config(cfg_path)
    except ConfigError as exc:
        log(f"error: {exc}")
        return 2

    stop = threading.Event()
    received: list[int] = []

    def _on_signal(signum, frame):  # noqa: ARG001
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    marker = uuid.uuid4().hex
    proc: subprocess.Popen | None = None
    try:
        with LocalAWS(port=aws_port, export_seconds=export_seconds, rds=bool(cfg.rds)) as stack:
            log(
                f"local AWS stack on {stack.endpoint} (exports stay IN_PROGRESS "
                f"{stack.export_seconds:g} s)"
            )
            seed_sample_tables(stack, cfg.tables, n_items=items, log=log)
            if cfg.rds:  # RDS sources: an instance on MariaDB with the sample menu
                from ddb_assets.local.rds_sample import seed_sample_rds

                arns = {src.name: seed_sample_rds(stack, src, log=log) for src in cfg.rds}
                cfg_path = config_with_local_rds(cfg_path, arns, home)
            if stop.is_set():
                return 130
            env = {
                **os.environ,
                **stack.env(),
                ENV_VAR: "local",
                CONFIG_ENV_VAR: str(cfg_path),
                "DAGSTER_HOME": str(home),
                EXPORT_SECONDS_ENV: str(export_seconds),
                SESSION_ENV: marker,
                "PYTHONUNBUFFERED": "1",
            }
            cmd = [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(ws),
                "-h",
                host,
                "-p",
                str(port),
            ]
            log(f"config {cfg_path} (sensor every {cfg.sensor.interval_seconds} s)")
            log(f"DAGSTER_HOME {home}")
            log("starting: dagster dev -w " + f"{ws} -h {host} -p {port}")
            # Its own session: the terminal's Ctrl-C reaches only us, and we stop the group.
            proc = subprocess.Popen(cmd, cwd=str(project), env=env, start_new_session=True)
            url = f"http://{host}:{port}"

            def _announce():
                if not wait_for_webserver(url, proc) or stop.is_set():
                    return
                log(
                    f"\nDagster UI: {url}   (Ctrl-C stops the UI, the daemon and the local "
                    "AWS stack)\n"
                )

            threading.Thread(target=_announce, daemon=True).start()
            while not stop.wait(0.5):
                if proc.poll() is not None:
                    log(f"dagster dev exited with code {proc.returncode}")
                    break
            if received:
                log(
                    f"\nstopping ({signal.Signals(received[0]).name}): dagster dev, "
                    "then the local AWS stack"
                )
            stop_process_group(proc, marker, log=log)
    finally:
        if proc is not None and proc.poll() is None:  # an exception got us here
            stop_process_group(proc, marker, log=log)
        for s, old in previous.items():
            signal.signal(s, old)
    log("stopped")
    if received or proc is None:
        return 0 if received else 1
    return proc.returncode or 0
