"""The engines behind the assets (see :mod:`ddb_assets.engines.base`): DuckDB (the embedded
default) and Athena (production). The config decides which one a project runs on
(:attr:`ddb_assets.config.ProjectConfig.engine`), once: :func:`engine_class` for what the
asset definitions need, :func:`engine_resource` for the ``engine`` resource."""

from __future__ import annotations

from collections.abc import Mapping

from ddb_assets.config import ProjectConfig
from ddb_assets.engines.athena import AthenaEngine
from ddb_assets.engines.base import Engine, LoadedSnapshot, TableTarget
from ddb_assets.engines.duckdb import DuckDBEngine

ENGINES: dict[str, type[Engine]] = {"duckdb": DuckDBEngine, "athena": AthenaEngine}


def engine_class(cfg: ProjectConfig) -> type[Engine]:
    return ENGINES[cfg.engine]


def engine_resource(cfg: ProjectConfig, resources: Mapping[str, object]) -> Engine:
    """The ``engine`` resource for ``cfg``, on the environment's other ``resources``."""
    return engine_class(cfg).from_resources(cfg, resources)


__all__ = [
    "ENGINES",
    "AthenaEngine",
    "DuckDBEngine",
    "Engine",
    "LoadedSnapshot",
    "TableTarget",
    "engine_class",
    "engine_resource",
]
