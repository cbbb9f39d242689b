"""Running the chain in one process, as the daemon would: used by the CLI (``demo``,
``refresh``) and end-to-end tests.

It requests the export partitions, then ticks the *same* sensor function the daemon runs
(:func:`ddb_assets.sensors.evaluate_tick`) until every requested partition is loaded,
executing the run requests it returns (deduplicated by run key, as the daemon does), and
finally materializes the summaries.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ddb_assets.assets.keys import export_key, table_key
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.sensors import evaluate_tick

RUN_KEY_TAG = "dagster/run_key"


class ChainError(RuntimeError):
    pass


@dataclass
class ChainReport:
    loaded: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    ticks: int = 0
    summaries: list[str] = field(default_factory=list)


def _execute(
    defs: dg.Definitions, instance, keys, *, partition_key=None, run_config=None, tags=None
):
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    if job is None:
        raise ChainError(f"no asset job of the definitions can run {keys}")
    # The run's own events go to the instance; the terminal shows warnings and errors.
    run_config = {
        **(run_config or {}),
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    return job.execute_in_process(
        asset_selection=keys,
        partition_key=partition_key,
        run_config=run_config,
        instance=instance,
        tags=tags or {},
        raise_on_error=False,
    )


def _failure_text(result) -> str:
    for ev in result.all_events:
        if ev.is_failure and ev.step_failure_data:
            err = ev.step_failure_data.error
            user = ev.step_failure_data.user_failure_data
            if user and user.description:
                return user.description
            if err:
                return (err.cause.message if err.cause else err.message).strip()
    return "run failed"


def _loaded(instance, t: TableConfig, partition: str, after: float) -> bool:
    res = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=table_key(t), asset_partitions=[partition], after_timestamp=after
        ),
        limit=1,
    )
    return bool(res.records)


def run_chain(
    defs: dg.Definitions,
    cfg: ProjectConfig,
    instance,
    *,
    table: str,
    partitions: list[str],
    force: bool = False,
    timeout: float = 1800,
    poll_seconds: float = 1.0,
    ddb=None,
    summaries: bool = True,
    log: Callable[[str], None] = print,
) -> ChainReport:
    """Export → typed table → summaries for ``partitions`` of ``table``; raise on failure."""
    t = cfg.table(table)
    report = ChainReport()
    started = time.time()
    for p in partitions:
        log(f"requesting export of {t.source_table} for {p}")
        res = _execute(
            defs,
            instance,
            [export_key(t)],
            partition_key=p,
            run_config={"ops": {"__".join(export_key(t).path): {"config": {"force": force}}}},
        )
        report.runs.append(res.run_id)
        if not res.success:
            raise ChainError(f"export request for {p} failed: {_failure_text(res)}")

    if ddb is None:
        if not defs.resources or "aws" not in defs.resources:
            raise ChainError("the definitions have no 'aws' resource to reach DynamoDB with")
        ddb = defs.resources["aws"].client("dynamodb")
    cursor = None  # a fresh cursor: the tick reconciles with DynamoDB, as after a restart
    remaining = set(partitions)
    deadline = time.monotonic() + timeout
    while remaining:
        if time.monotonic() > deadline:
            raise ChainError(f"timed out after {timeout:.0f} s waiting for {sorted(remaining)}")
        outcome = evaluate_tick(instance, cursor, cfg, ddb)
        report.ticks += 1
        cursor = outcome.cursor
        for ev in outcome.events:
            instance.report_runless_asset_event(ev)
        for rr in outcome.runs:
            if instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rr.run_key})):
                continue  # the daemon skips a run key it has launched before
            keys = list(rr.asset_selection)
            log(
                f"sensor: run {rr.run_key.split(':')[0]} of {'/'.join(keys[0].path)} [{rr.partition_key}]"
            )
            res = _execute(
                defs,
                instance,
                keys,
                partition_key=rr.partition_key,
                run_config=rr.run_config,
                tags={**rr.tags, RUN_KEY_TAG: rr.run_key},
            )
            report.runs.append(res.run_id)
            if not res.success:
                raise ChainError(
                    f"{'/'.join(keys[0].path)} [{rr.partition_key}] failed: {_failure_text(res)}"
                )
        for p in list(remaining):
            if _loaded(instance, t, p, started):
                remaining.discard(p)
                report.loaded.append(p)
                log(f"loaded {t.name} [{p}]")
        if remaining:
            time.sleep(poll_seconds)

    if summaries:
        keys = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "summaries"]
        if keys:
            res = _execute(defs, instance, keys)
            report.runs.append(res.run_id)
            if not res.success:
                raise ChainError(f"summaries failed: {_failure_text(res)}")
            report.summaries = ["/".join(k.path) for k in keys]
    return report
