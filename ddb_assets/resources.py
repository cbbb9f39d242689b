"""Dagster resources, and the one place where the environment chooses them.

``DDB_ASSETS_ENV`` picks a set from :data:`RESOURCES_BY_ENV`:

- ``local``: the local AWS stack (``ddb-assets local-aws``/``dev``/``demo``) — boto3 reaches
  it through ``AWS_ENDPOINT_URL``, which must point at loopback, and the DuckDB warehouse
  lives under ``.ddb_assets/``;
- ``aws``: real AWS with the default credential chain.

Nothing else in the project branches on the environment. The config's engine (DuckDB or
Athena, :mod:`ddb_assets.engines`) is the ``engine`` resource, built on these.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from pydantic import PrivateAttr

ENV_VAR = "DDB_ASSETS_ENV"


class AwsResource(dg.ConfigurableResource):
    """boto3 clients, made lazily (never at import time) and cached per run."""

    region_name: str | None = None
    endpoint_url: str | None = None  # None: boto3 honours AWS_ENDPOINT_URL itself
    require_loopback: bool = False  # the local environment refuses to reach real AWS
    max_attempts: int = 6

    _clients: dict = PrivateAttr(default_factory=dict)

    def _check_endpoint(self) -> None:
        if not self.require_loopback:
            return
        url = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        host = urlparse(url).hostname if url else None
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise dg.Failure(
                f"DDB_ASSETS_ENV=local but AWS_ENDPOINT_URL is {url!r}, not a loopback "
                "address: start the local stack (`ddb-assets local-aws`) and export the "
                "variables it prints, or set DDB_ASSETS_ENV=aws to use real AWS"
            )

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            self._check_endpoint()
            kwargs: dict[str, Any] = {
                "config": Config(retries={"mode": "standard", "max_attempts": self.max_attempts})
            }
            if self.region_name:
                kwargs["region_name"] = self.region_name
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]


class WarehouseResource(dg.ConfigurableResource):
    """The local DuckDB warehouse file (the embedded engine in Athena's place)."""

    path: str
    lock_timeout_seconds: float = 300.0

    def connect(self):
        import duckdb

        return self._retry_locked(lambda: duckdb.connect(self.path))

    def sandbox(self):
        """A connection for user SQL (summaries): DuckDB's sandbox, see
        :func:`ddb_assets.summaries.duckdb_engine.sandbox_connect`."""
        from ddb_assets.summaries.duckdb_engine import sandbox_connect

        return self._retry_locked(lambda: sandbox_connect(self.path))

    def _retry_locked(self, open_):
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                return open_()
            except duckdb.IOException as exc:  # another process holds the write lock
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)


class AthenaResource(dg.ConfigurableResource):
    """pyathena connections, one per (database, workgroup, output location)."""

    region_name: str | None = None
    endpoint_url: str | None = None

    def runner(self, *, database: str, workgroup: str, output_location: str | None):
        from ddb_assets.athena.client import AthenaClient

        return AthenaClient(
            database=database,
            workgroup=workgroup,
            output_location=output_location,
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
        )


def _local(warehouse: str) -> dict[str, Any]:
    return {
        "aws": AwsResource(require_loopback=True),
        "warehouse": WarehouseResource(path=warehouse),
        "athena": AthenaResource(),
    }


def _aws(warehouse: str) -> dict[str, Any]:
    return {
        "aws": AwsResource(),
        "warehouse": WarehouseResource(path=warehouse),
        "athena": AthenaResource(),
    }


RESOURCES_BY_ENV = {"local": _local, "aws": _aws}


def current_env() -> str:
    env = os.environ.get(ENV_VAR, "local")
    if env not in RESOURCES_BY_ENV:
        raise ValueError(
            f"{ENV_VAR}={env!r} is not one of {sorted(RESOURCES_BY_ENV)}; "
            "use 'local' for the local stack or 'aws' for real AWS"
        )
    return env


def resources_for(warehouse: str, env: str | None = None, cfg: Any = None) -> dict[str, Any]:
    """The environment's resources; with the project's config ``cfg`` also its ``engine``
    (:func:`ddb_assets.engines.engine_resource`, on these very resources)."""
    resources = RESOURCES_BY_ENV[env or current_env()](warehouse)
    if cfg is not None:
        from ddb_assets.engines import engine_resource

        resources["engine"] = engine_resource(cfg, resources)
    return resources
