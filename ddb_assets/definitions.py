"""The code location: everything Dagster shows, built from the YAML configuration.

``dagster dev -w workspace.yaml`` loads :func:`defs` (lazily, so importing this module
does no work). Per configured table T: ``dynamodb/T/export_request`` (what a run
materializes) → ``dynamodb/T/export`` (the completed export, reported by the sensor, with
its lateness check) → ``athena/T/table`` (with its checks), one ``summaries/<name>`` per SQL file,
a daily schedule; one export sensor and one automation sensor for the summaries.
"""

import dagster as dg

from ddb_assets.assets.exports import (
    build_export_request_asset,
    build_export_spec,
    build_lateness_check,
)
from ddb_assets.assets.incremental import (
    build_incremental_assets,
    build_incremental_sensor,
    incremental_tables,
)
from ddb_assets.assets.rds import (
    build_rds_export_spec,
    build_rds_lateness_check,
    build_rds_request_asset,
    build_rds_schedule,
    build_rds_tables_asset,
)
from ddb_assets.assets.summaries import build_summary_assets
from ddb_assets.assets.tables import build_table_asset
from ddb_assets.config import ProjectConfig, load_config
from ddb_assets.engines import engine_resource
from ddb_assets.resources import resources_for
from ddb_assets.schedules import build_export_schedule
from ddb_assets.sensors import build_export_sensor
from ddb_assets.sensors_rds import build_rds_sensor


def build_definitions(
    cfg: ProjectConfig, env: str | None = None, resources: dict | None = None
) -> dg.Definitions:
    """The Definitions for ``cfg``; ``resources`` replaces some of the environment's
    (tests pass an Athena stand-in, for example)."""
    assets: list = []
    checks: list = []
    table_checks: dict[str, list[dg.AssetCheckKey]] = {}
    for t in cfg.tables:
        assets.append(build_export_request_asset(cfg, t))
        assets.append(build_export_spec(cfg, t))
        checks.append(build_lateness_check(cfg, t))
        table_asset = build_table_asset(cfg, t)
        table_checks[t.name] = list(table_asset.check_keys)
        assets.append(table_asset)
    for src in cfg.rds:  # RDS snapshot exports (issue 20), in the instance's group
        assets.append(build_rds_request_asset(cfg, src))
        assets.append(build_rds_export_spec(cfg, src))
        checks.append(build_rds_lateness_check(cfg, src))
        assets.append(build_rds_tables_asset(cfg, src))
    assets.extend(build_summary_assets(cfg))
    sensors: list[dg.SensorDefinition] = [
        # Summaries refresh through their eager automation conditions. Dagster's own
        # automation sensor is created STOPPED, so declare one that runs by default.
        dg.AutomationConditionSensorDefinition(
            "summaries_automation",
            target=dg.AssetSelection.key_prefixes(["summaries"]),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=cfg.sensor.interval_seconds,
            description="Refreshes summaries after their tables get a new snapshot.",
        ),
    ]
    if cfg.tables:
        sensors.insert(0, build_export_sensor(cfg, table_checks))
    if cfg.rds:
        sensors.append(build_rds_sensor(cfg))
    if incremental_tables(cfg):  # change history (issue #7), only for tables that enable it
        assets.extend(build_incremental_assets(cfg, t) for t in incremental_tables(cfg))
        sensors.append(build_incremental_sensor(cfg))
    chosen = {**resources_for(str(cfg.warehouse_path()), env), **(resources or {})}
    if "engine" not in chosen:  # on the resources as replaced, so the engine uses those
        chosen["engine"] = engine_resource(cfg, chosen)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        schedules=[build_export_schedule(t) for t in cfg.tables]
        + [build_rds_schedule(src) for src in cfg.rds],
        sensors=sensors,
        resources=chosen,
        # A run here is one request, one load or a few summaries: executing its steps in the
        # run's own process saves a Python start per step (seconds) and changes nothing else
        # (the run worker is already its own process, apart from the daemon and the UI).
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_config())
