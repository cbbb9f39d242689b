"""The RDS chain in one process, as the daemon would run it (the demo and tests): the export
request of each day, then ticks of the same sensor function the daemon runs
(:func:`ddb_assets.sensors_rds.evaluate_rds_tick`) until every day's export is loaded,
executing the load runs it asks for once per run key."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from ddb_assets.assets.keys import TABLE_TAG, op_name, rds_request_key, rds_table_key
from ddb_assets.config import ProjectConfig
from ddb_assets.runner import ChainError, _execute, _failure_text
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors_rds import evaluate_rds_tick, load_proven


def run_rds_chain(
    defs: dg.Definitions,
    cfg: ProjectConfig,
    instance,
    *,
    source: str,
    partitions: list[str],
    force: bool = False,
    rds=None,
    timeout: float = 600,
    poll_seconds: float = 0.5,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Export and load ``partitions`` of RDS source ``source``; partition -> export id."""
    src = cfg.rds_source(source)
    key = rds_request_key(src)
    targets: dict[str, str] = {}
    for p in partitions:
        log(f"requesting the snapshot export of {src.identifier} for {p}")
        res = _execute(
            defs,
            instance,
            [key],
            partition_key=p,
            run_config={"ops": {op_name(key): {"config": {"force": force}}}},
            tags={TABLE_TAG: src.name},
        )
        if not res.success:
            raise ChainError(f"export request for {p} failed: {_failure_text(res)}")
        mats = [
            e.step_materialization_data.materialization
            for e in res.get_asset_materialization_events()
        ]
        targets[p] = str(mats[0].metadata["export_id"].value)
    rds = rds or (defs.resources or {})["aws"].client("rds")
    cursor, deadline, last = None, time.monotonic() + timeout, ""
    remaining = set(partitions)
    while remaining:
        if time.monotonic() > deadline:
            raise ChainError(f"timed out waiting for {', '.join(sorted(remaining))}: {last}")
        o = evaluate_rds_tick(instance, cursor, cfg, rds)
        cursor = o.cursor
        for ev in o.events:
            instance.report_runless_asset_event(ev)
        if o.summary != last:
            log(f"sensor: {o.summary}")
            last = o.summary
        for rr in o.runs:
            if rr.partition_key not in remaining or rr.tags.get("ddb_assets/export_arn") not in (
                targets.get(rr.partition_key),
            ):
                continue
            if instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rr.run_key})):
                continue
            res = _execute(
                defs,
                instance,
                list(rr.asset_selection),
                partition_key=rr.partition_key,
                run_config=rr.run_config,
                tags={**rr.tags, RUN_KEY_TAG: rr.run_key},
                check_keys=rr.asset_check_keys,
            )
            if not res.success:
                raise ChainError(f"{rr.run_key} [{rr.partition_key}] failed: {_failure_text(res)}")
        for p in list(remaining):
            if load_proven(instance, src, p, targets[p]).proven_by:
                remaining.discard(p)
                tables = ", ".join(rds_table_key(t).to_user_string() for t in src.typed_tables())
                log(f"loaded {tables} [{p}] from export {targets[p]}")
        if remaining:
            time.sleep(poll_seconds)
    o = evaluate_rds_tick(instance, cursor, cfg, rds)  # records the exports' materializations
    for ev in o.events:
        instance.report_runless_asset_event(ev)
    return targets
