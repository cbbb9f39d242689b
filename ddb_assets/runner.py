"""Running the chain in one process, as the daemon would: used by the CLI (``demo``,
``refresh``) and end-to-end tests.

It materializes the export requests, then ticks the *same* sensor function the daemon runs
(:func:`ddb_assets.sensors.evaluate_tick`) until every requested day is loaded from the
export its request named, executing the load runs the tick asks for (deduplicated by run
key, as the daemon does; loads of days that were not asked for are left to the daemon),
and finally materializes the summaries.

A day whose newest export is already loaded is reported at once (``already_loaded``);
a day whose load of that export already failed is an error at once, pointing to
``--force``, instead of a wait until the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    op_name,
    request_key,
    table_key,
    table_keys_with_history,
    table_tags,
)
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.sensor_frame import RUN_KEY_TAG
from ddb_assets.sensors import evaluate_tick, load_check_keys, load_state

PROGRESS_EVERY_SECONDS = 30.0
# What Dagster's console logger prints while the chain's runs execute in this process.
# Failures reach the caller as ChainError (one line); ``refresh --debug`` shows everything.
console_log_level = "CRITICAL"


class ChainError(RuntimeError):
    """A run of the chain failed (exit 1)."""


class ChainInputError(ChainError):
    """The request itself is wrong (a day outside the partitions, ...): exit 2."""


@dataclass
class ChainReport:
    loaded: list[str] = field(default_factory=list)
    already_loaded: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)  # partition -> loaded ExportArn
    runs: list[str] = field(default_factory=list)
    ticks: int = 0
    summaries: list[str] = field(default_factory=list)


def _execute(
    defs: dg.Definitions,
    instance,
    keys,
    *,
    partition_key=None,
    run_config=None,
    tags=None,
    check_keys=None,
):
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    if job is None:
        raise ChainError(f"no asset job of the definitions can run {keys}")
    if check_keys is not None:  # exactly these checks (a load run: the export's lateness too)
        job = job.get_subset(asset_selection=set(keys), asset_check_selection=set(check_keys))
        keys = None
    # The run's own events go to the instance; the terminal shows warnings and errors.
    run_config = {
        **(run_config or {}),
        "loggers": {"console": {"config": {"log_level": console_log_level}}},
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


def run_failure_text(instance, run_id: str) -> str:
    """The step failure of a stored run, in one line."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    for r in records:
        data = r.dagster_event.step_failure_data if r.dagster_event else None
        if data is None:
            continue
        if data.user_failure_data and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error:
            err = data.error.cause or data.error
            return err.message.strip().splitlines()[0]
    return "see the run's logs"


def _requested_arn(result, key: dg.AssetKey) -> str | None:
    for ev in result.get_asset_materialization_events():
        mat = ev.step_materialization_data.materialization
        if mat.asset_key == key:
            v = mat.metadata.get("export_arn")
            return getattr(v, "value", v)
    return None


def _loaded_from(instance, t: TableConfig, partition: str, arn: str) -> bool:
    for key in table_keys_with_history(t):  # a load recorded before the key's rename counts
        res = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=20
        )
        for r in res.records:
            m = r.asset_materialization
            v = m.metadata.get("export_arn") if m else None
            if getattr(v, "value", v) == arn:
                return True
    return False


def _check_partitions(t: TableConfig, defs: dg.Definitions, partitions: list[str]) -> None:
    pdef = defs.resolve_assets_def(request_key(t)).partitions_def
    if pdef is None:
        raise ChainError(f"{request_key(t).to_user_string()} is not partitioned")
    keys = set(pdef.get_partition_keys())
    bad = [p for p in partitions if p not in keys]
    if bad:
        first, last = min(keys), max(keys)
        raise ChainInputError(
            f"{', '.join(bad)} is not a partition of {t.name} (days {first} to {last}, in "
            f"{t.schedule.timezone}; today is not complete yet)"
        )


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
    _check_partitions(t, defs, partitions)
    report = ChainReport()
    targets: dict[str, str] = {}  # partition -> the export its request named
    rkey = request_key(t)
    for p in partitions:
        log(f"requesting {'a new ' if force else ''}export of {t.source_table} for {p}")
        res = _execute(
            defs,
            instance,
            [rkey],
            partition_key=p,
            run_config={"ops": {op_name(rkey): {"config": {"force": force}}}},
            tags=table_tags(t),
        )
        report.runs.append(res.run_id)
        if not res.success:
            raise ChainError(f"export request for {p} failed: {_failure_text(res)}")
        arn = _requested_arn(res, rkey)
        if arn is None:
            raise ChainError(f"export request for {p} recorded no ExportArn")
        targets[p] = arn

    remaining = set(partitions)
    for p, arn in targets.items():
        if _loaded_from(instance, t, p, arn):
            remaining.discard(p)
            report.already_loaded.append(p)
            report.exports[p] = arn
            log(f"{t.name} [{p}] is already loaded from export {arn} (--force re-exports)")
            continue
        ls = load_state(instance, t, p, arn)
        if ls.failed_run and not ls.proven_by:
            raise ChainError(
                f"the load of export {arn} for {p} failed before (run {ls.failed_run}: "
                f"{run_failure_text(instance, ls.failed_run)}); `refresh --force` requests "
                "a new export and loads it"
            )

    if ddb is None:
        if not defs.resources or "aws" not in defs.resources:
            raise ChainError("the definitions have no 'aws' resource to reach DynamoDB with")
        ddb = defs.resources["aws"].client("dynamodb")
    load_checks = {
        x.name: load_check_keys(x, defs.resolve_assets_def(table_key(x)).check_keys)
        for x in cfg.tables
    }
    cursor = None  # a fresh cursor: the tick reconciles with DynamoDB, as after a restart
    deadline = time.monotonic() + timeout
    last_note = ("", 0.0)
    while remaining:
        if time.monotonic() > deadline:
            raise ChainError(
                f"timed out after {timeout:.0f} s waiting for {', '.join(sorted(remaining))}: "
                f"{last_note[0]}"
            )
        outcome = evaluate_tick(instance, cursor, cfg, ddb, load_checks=load_checks)
        report.ticks += 1
        cursor = outcome.cursor
        for ev in outcome.events:
            instance.report_runless_asset_event(ev)
        if (
            outcome.summary != last_note[0]
            or time.monotonic() - last_note[1] > PROGRESS_EVERY_SECONDS
        ):
            if not outcome.runs:
                log(f"sensor: {outcome.summary}")
            last_note = (outcome.summary, time.monotonic())
        for rr in outcome.runs:
            keys = list(rr.asset_selection)
            if rr.partition_key not in remaining or keys[0] not in (table_key(t), rkey):
                continue  # another day's or table's work: the daemon's, not this command's
            arn = rr.tags.get(EXPORT_ARN_TAG)
            if keys[0] == table_key(t) and arn != targets[rr.partition_key]:
                continue  # an older export of the day: not what was asked for
            if instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rr.run_key})):
                continue  # the daemon skips a run key it has launched before
            log(f"sensor: {rr.run_key.split(':')[0]} {'/'.join(keys[0].path)} [{rr.partition_key}]")
            res = _execute(
                defs,
                instance,
                keys,
                partition_key=rr.partition_key,
                run_config=rr.run_config,
                tags={**rr.tags, RUN_KEY_TAG: rr.run_key},
                check_keys=rr.asset_check_keys,
            )
            report.runs.append(res.run_id)
            if not res.success:
                raise ChainError(
                    f"{'/'.join(keys[0].path)} [{rr.partition_key}] failed: {_failure_text(res)}"
                )
            if keys[0] == rkey:  # a retry of a FAILED export: load what it requested
                targets[rr.partition_key] = _requested_arn(res, rkey) or targets[rr.partition_key]
        for p in list(remaining):
            if _loaded_from(instance, t, p, targets[p]):
                remaining.discard(p)
                report.loaded.append(p)
                report.exports[p] = targets[p]
                log(f"loaded {t.name} [{p}] from export {targets[p]}")
        if remaining:
            time.sleep(poll_seconds)
    if report.loaded:
        # One more tick records the exports' materializations (with their load runs).
        outcome = evaluate_tick(instance, cursor, cfg, ddb, load_checks=load_checks)
        for ev in outcome.events:
            instance.report_runless_asset_event(ev)

    if summaries and report.loaded:
        keys = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "summaries"]
        if keys:
            res = _execute(defs, instance, keys, tags=table_tags(t))
            report.runs.append(res.run_id)
            if not res.success:
                raise ChainError(f"summaries failed: {_failure_text(res)}")
            report.summaries = ["/".join(k.path) for k in keys]
    return report
