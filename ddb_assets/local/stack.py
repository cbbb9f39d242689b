"""``LocalAWS``: moto's server on loopback plus the DynamoDB export fidelity layer."""

from __future__ import annotations

import logging
import os
import signal
import threading
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ddb_assets.local import fidelity
from ddb_assets.local.clock import StackClock
from ddb_assets.local.rds import fidelity as rds_fidelity
from ddb_assets.local.rds.control import RdsControl

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

ACCOUNT_ID = "123456789012"  # moto's default account
EXPORT_SECONDS_ENV = "DDB_ASSETS_LOCAL_EXPORT_SECONDS"
DEFAULT_EXPORT_SECONDS = 2.0


def _default_export_seconds() -> float:
    raw = os.environ.get(EXPORT_SECONDS_ENV)
    return float(raw) if raw not in (None, "") else DEFAULT_EXPORT_SECONDS


class LocalAWS:
    """A local DynamoDB + S3 + Glue (+ Athena calls) endpoint whose exports behave like AWS's.

    moto's server also answers CloudFormation, IAM and STS (the template of `ddb-assets infra`
    deploys into it); :mod:`ddb_assets.local.authz` switches request authorization on.

    Use as a context manager, or call ``start()`` / ``stop()``. Only one instance can run per
    process (moto's backends are process-global). Starting resets moto's backends.
    """

    def __init__(
        self,
        port: int = 0,
        export_seconds: float | None = None,
        region: str = "us-east-1",
        items_per_file: int = 10_000,
        *,
        pitr_lag_seconds: float = 0.0,
        quiet: bool = True,
        reset: bool = True,
        rds: bool = False,
        rds_snapshot_seconds: float = 0.0,
    ) -> None:
        self._port = port
        self.export_seconds = (
            _default_export_seconds() if export_seconds is None else float(export_seconds)
        )
        self.region = region
        self.items_per_file = items_per_file
        self.pitr_lag_seconds = pitr_lag_seconds
        self.account_id = ACCOUNT_ID
        self.clock = StackClock()
        self._quiet = quiet
        self._reset = reset
        self._server: ThreadedMotoServer | None = None
        self._state: fidelity.FidelityState | None = None
        self._rds_state: rds_fidelity.RdsState | None = None
        self._rds_required = rds
        self.rds_snapshot_seconds = rds_snapshot_seconds
        self._endpoint: str | None = None
        self._old_log_level: int | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> LocalAWS:
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        if self._rds_required:
            RdsControl.require_mariadb()  # one clear line before anything starts
        if self._quiet:
            wz = logging.getLogger("werkzeug")
            self._old_log_level = wz.level
            wz.setLevel(logging.WARNING)
        state = fidelity.FidelityState(
            endpoint="",
            export_seconds=self.export_seconds,
            items_per_file=self.items_per_file,
            pitr_lag_seconds=self.pitr_lag_seconds,
            clock=self.clock,
        )
        rds_state = rds_fidelity.RdsState(
            endpoint="",
            clock=self.clock,
            export_seconds=self.export_seconds,
            snapshot_seconds=self.rds_snapshot_seconds,
        )
        fidelity.install(state)  # before the first request can arrive
        try:
            rds_fidelity.install(rds_state)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
            server.start()
        except BaseException:
            rds_fidelity.uninstall(rds_state)
            fidelity.uninstall(state)
            raise
        host, port = server.get_host_and_port()
        self._server, self._state, self._rds_state = server, state, rds_state
        self._endpoint = f"http://{host}:{port}"
        state.endpoint = self._endpoint
        rds_state.endpoint = self._endpoint
        if self._reset:
            req = urllib.request.Request(
                f"{self._endpoint}/moto-api/reset", data=b"", method="POST"
            )
            urllib.request.urlopen(req, timeout=10).read()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self._server.stop()
        finally:
            if self._rds_state is not None:
                rds_fidelity.uninstall(self._rds_state)  # also stops the MariaDB servers
            if self._state is not None:
                fidelity.uninstall(self._state)
            self._server = None
            self._state = None
            self._rds_state = None
            if self._old_log_level is not None:
                logging.getLogger("werkzeug").setLevel(self._old_log_level)
                self._old_log_level = None

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- connection details -------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("LocalAWS is not started")
        return self._endpoint

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def env(self) -> dict[str, str]:
        """Environment variables a client process needs (boto3 honours AWS_ENDPOINT_URL)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str, **kwargs: Any):
        """A boto3 client for this stack (fresh session; credentials and endpoint explicit)."""
        import boto3

        params = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_session_token": "testing",
        }
        params.update(kwargs)
        return boto3.session.Session().client(service, **params)

    def configure(
        self, *, export_seconds: float | None = None, items_per_file: int | None = None
    ) -> None:
        """Change the IN_PROGRESS duration / data-file split for exports requested from now on."""
        if export_seconds is not None:
            self.export_seconds = float(export_seconds)
        if items_per_file is not None:
            self.items_per_file = int(items_per_file)
        if self._state is not None:
            self._state.export_seconds = self.export_seconds
            self._state.items_per_file = self.items_per_file

    # -- clock --------------------------------------------------------------------------
    def set_now(self, dt: datetime) -> None:
        """Time-travel: from now on the stack's clock reads ``dt`` plus real elapsed time."""
        self.clock.set_now(dt)

    def reset_clock(self) -> None:
        self.clock.reset()

    def now(self) -> datetime:
        return self.clock.now()

    # -- failure injection --------------------------------------------------------------
    def _require_state(self) -> fidelity.FidelityState:
        if self._state is None:
            raise RuntimeError("LocalAWS is not started")
        return self._state

    def fail_next_export(
        self, code: str = "S3NoSuchBucket", message: str = "The specified bucket does not exist"
    ) -> None:
        """The next accepted export ends FAILED with this FailureCode / FailureMessage."""
        self._require_state().fail_next_export(code, message)

    def throttle_next(
        self,
        n: int = 1,
        operation: str = "ExportTableToPointInTime",
        code: str = "ThrottlingException",
        message: str | None = None,
    ) -> None:
        """The next ``n`` calls of DynamoDB ``operation`` fail with HTTP 400 ``code``.

        botocore retries ThrottlingException/LimitExceededException by itself; use a client
        with ``Config(retries={"total_max_attempts": 1})`` to see each error.
        """
        msg = message or (
            "Rate of requests exceeds the allowed throughput."
            if code == "ThrottlingException"
            else "Too many operations for a given subscriber."
        )
        self._require_state().throttle_next(n, operation, code, msg)

    @property
    def rds(self) -> RdsControl:
        """The local RDS instances: MariaDB connections, automated snapshots, export tasks."""
        if self._rds_state is None:
            raise RuntimeError("LocalAWS is not started")
        return RdsControl(self._rds_state, self.account_id, self.region)

    # -- introspection for tests and benchmarks -----------------------------------------
    def export_job(self, export_arn: str) -> fidelity.ExportJob:
        return self._require_state().exports[export_arn]

    def wait_for_export(self, export_arn: str, timeout: float = 60.0) -> str:
        """Block until an export is terminal; returns its status."""
        return self.export_job(export_arn).wait(timeout)


def serve_forever(
    port: int = 4566,
    export_seconds: float | None = None,
    region: str = "us-east-1",
    items_per_file: int = 10_000,
) -> None:
    """Run the local stack in the foreground until SIGINT/SIGTERM, then stop it cleanly."""
    stop = threading.Event()
    stack = LocalAWS(
        port=port, export_seconds=export_seconds, region=region, items_per_file=items_per_file
    )
    previous = {}

    def _handler(signum, frame):  # noqa: ARG001
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, _handler)
    try:
        with stack:
            print(
                f"Local AWS stack (moto + DynamoDB export fidelity) on {stack.endpoint}", flush=True
            )
            print(
                f"Exports stay IN_PROGRESS for {stack.export_seconds:g}s. Point clients at it with:",
                flush=True,
            )
            for key, value in stack.env().items():
                print(f"export {key}={value}", flush=True)
            print("Press Ctrl+C to stop.", flush=True)
            while not stop.wait(0.5):
                pass
            print("Stopping local AWS stack.", flush=True)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
