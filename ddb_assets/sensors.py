"""The export sensor: notices exports landing and starts the downstream work.

Per tick it reads the "export requested" observations that runs logged since its cursor
(no AWS call), calls DescribeExport once per pending export, and — only when its cursor is
new or corrupted, or every ``sensor.reconcile_minutes`` — walks ListExports for the recent
exports of each table (newest first, stopping at the lookback). For a COMPLETED export it
reports the export partition's materialization and requests the table load for that
partition; for a FAILED one it records AWS's FailureCode and requests a retry run, which
fails with that code once the retries are spent.

"Already done" is read from the Dagster event log, and run requests carry a run key per
export, so a restart, a lost cursor or a tick that raised part-way never loses an export
and never processes one twice.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg

from ddb_assets.assets.keys import export_key, op_name, table_key
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.dynamodb.exports import describe_export, partition_of_prefix, recent_exports
from ddb_assets.dynamodb.tracking import PendingExport, SensorState, export_metadata, poll_pending
from ddb_assets.resources import AwsResource

SENSOR_NAME = "dynamodb_export_sensor"
EXPORT_ARN_TAG = "ddb_assets/export_arn"


def _meta_value(metadata, key):
    v = metadata.get(key)
    return getattr(v, "value", v)


def _new_requests(
    instance, t: TableConfig, state: SensorState, since: datetime, settled: set[str]
) -> None:
    """Add the exports requested by runs since the cursor (event log only, no AWS call)."""
    key = export_key(t)
    upto = state.observed_upto.get(t.name)
    flt = (
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=upto)
        if upto is not None
        else dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp())
    )
    cursor = None
    while True:
        res = instance.fetch_observations(flt, limit=500, cursor=cursor, ascending=True)
        for rec in res.records:
            obs = rec.asset_observation
            state.observed_upto[t.name] = max(state.observed_upto.get(t.name, 0), rec.storage_id)
            if obs is None:
                continue
            arn = _meta_value(obs.metadata, "export_arn")
            if not arn or arn in settled or _meta_value(obs.metadata, "failure_code"):
                continue
            status = _meta_value(obs.metadata, "export_status")
            if status == "COMPLETED" and _already_reported(instance, t, obs.partition, arn):
                continue
            state.add(
                PendingExport(
                    arn=arn,
                    table=t.name,
                    partition=obs.partition,
                    attempt=int(_meta_value(obs.metadata, "attempt") or 0),
                )
            )
        if not res.has_more:
            break
        cursor = res.cursor


def _already_reported(instance, t: TableConfig, partition: str, arn: str) -> bool:
    res = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=export_key(t), asset_partitions=[partition]), limit=50
    )
    return any(
        _meta_value(r.asset_materialization.metadata, "export_arn") == arn
        for r in res.records
        if r.asset_materialization
    )


def _failure_recorded(instance, t: TableConfig, partition: str, arn: str) -> bool:
    res = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=export_key(t), asset_partitions=[partition]), limit=100
    )
    return any(
        _meta_value(r.asset_observation.metadata, "export_arn") == arn
        and _meta_value(r.asset_observation.metadata, "failure_code")
        for r in res.records
        if r.asset_observation
    )


def _attempt_of(instance, t: TableConfig, partition: str, arn: str) -> int:
    res = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=export_key(t), asset_partitions=[partition]), limit=100
    )
    for r in res.records:
        if r.asset_observation and _meta_value(r.asset_observation.metadata, "export_arn") == arn:
            return int(_meta_value(r.asset_observation.metadata, "attempt") or 0)
    return 0


def _settled_arns(instance, t: TableConfig, since: datetime) -> set[str]:
    """Exports of ``t`` already reported (COMPLETED) or recorded as FAILED since ``since``,
    read from the event log, so reconciliation spends no DescribeExport on them."""
    arns: set[str] = set()
    for fetch, failed_only in (
        (instance.fetch_materializations, False),
        (instance.fetch_observations, True),
    ):
        cursor = None
        while True:
            res = fetch(
                dg.AssetRecordsFilter(asset_key=export_key(t), after_timestamp=since.timestamp()),
                limit=1000,
                cursor=cursor,
            )
            for r in res.records:
                ev = r.asset_materialization or r.asset_observation
                if ev is None or (failed_only and not _meta_value(ev.metadata, "failure_code")):
                    continue
                arn = _meta_value(ev.metadata, "export_arn")
                if arn:
                    arns.add(arn)
            if not res.has_more:
                break
            cursor = res.cursor
    return arns


def _reconcile(
    instance,
    cfg: ProjectConfig,
    ddb,
    state: SensorState,
    now: datetime,
    settled: dict[str, set[str]],
) -> None:
    """Find recent exports of every table in DynamoDB itself (ListExports, newest first)."""
    since = now - timedelta(days=cfg.sensor.lookback_days)
    for t in cfg.tables:
        table_arn = ddb.describe_table(TableName=t.source_table)["Table"]["TableArn"]
        for arn, status in recent_exports(ddb, table_arn, since):
            if arn in state.pending or arn in settled[t.name]:
                continue
            d = describe_export(ddb, arn)
            owner = partition_of_prefix(d.s3_prefix)
            if d.export_type != "FULL_EXPORT" or owner is None or owner[0] != t.name:
                continue  # not one of this project's snapshot exports
            partition = owner[1].isoformat()
            if status == "COMPLETED" and _already_reported(instance, t, partition, arn):
                continue
            if status == "FAILED" and _failure_recorded(instance, t, partition, arn):
                continue
            state.add(
                PendingExport(
                    arn=arn,
                    table=t.name,
                    partition=partition,
                    attempt=_attempt_of(instance, t, partition, arn),
                )
            )
    state.last_reconcile = now.timestamp()


class _CountingClient:
    """Counts every DynamoDB API call made through it (the tick's cost, reported)."""

    def __init__(self, client):
        self._client = client
        self.calls = 0

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if callable(attr) and not name.startswith("_") and name not in ("exceptions", "meta"):

            def counted(*args, **kwargs):
                self.calls += 1
                return attr(*args, **kwargs)

            return counted
        return attr


def evaluate_tick(
    instance,
    cursor: str | None,
    cfg: ProjectConfig,
    ddb,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
):
    """One sensor tick, as a plain function (tests and the CLI call it directly)."""
    t0 = now()
    ddb = _CountingClient(ddb)
    state = SensorState.from_cursor(cursor)
    tables = {t.name: t for t in cfg.tables}
    lookback = t0 - timedelta(days=cfg.sensor.lookback_days)
    reconcile = (
        state.recovered
        or t0.timestamp() - state.last_reconcile >= cfg.sensor.reconcile_minutes * 60
    )
    # Reading "already settled" costs event-log reads, no AWS call; only a reconciliation
    # (or a fresh cursor re-reading the lookback) needs it.
    settled = (
        {t.name: _settled_arns(instance, t, lookback - timedelta(days=1)) for t in cfg.tables}
        if reconcile
        else {t.name: set() for t in cfg.tables}
    )
    for t in cfg.tables:
        _new_requests(instance, t, state, lookback, settled[t.name])
    if reconcile:
        _reconcile(instance, cfg, ddb, state, t0, settled)

    # Forget pending exports of tables that are no longer configured.
    for arn in [a for a, p in state.pending.items() if p.table not in tables]:
        del state.pending[arn]

    completed, failed = poll_pending(ddb, state)
    events: list = []
    runs: list[dg.RunRequest] = []
    noticed = now()
    for f in completed:
        t = tables[f.pending.table]
        del state.pending[f.pending.arn]
        if not _already_reported(instance, t, f.pending.partition, f.export.arn):
            md = export_metadata(f.export, now=noticed)
            md["attempt"] = f.pending.attempt
            events.append(
                dg.AssetMaterialization(
                    asset_key=export_key(t),
                    partition=f.pending.partition,
                    metadata={
                        **{k: v for k, v in md.items() if v is not None},
                        "dagster/uri": dg.MetadataValue.path(md["data_uri"] or ""),
                    },
                    description=f"export {md['export_id']} COMPLETED",
                )
            )
        runs.append(
            dg.RunRequest(
                run_key=f"load:{f.export.arn}",
                asset_selection=[table_key(t)],
                partition_key=f.pending.partition,
                tags={EXPORT_ARN_TAG: f.export.arn},
            )
        )
    for f in failed:
        t = tables[f.pending.table]
        del state.pending[f.pending.arn]
        d = f.export
        if not _failure_recorded(instance, t, f.pending.partition, d.arn):
            events.append(
                dg.AssetObservation(
                    asset_key=export_key(t),
                    partition=f.pending.partition,
                    description=f"export FAILED: {d.failure_code}: {d.failure_message}",
                    metadata={
                        "export_arn": d.arn,
                        "failure_code": d.failure_code or "",
                        "failure_message": d.failure_message or "",
                        "attempt": f.pending.attempt,
                    },
                )
            )
        runs.append(
            dg.RunRequest(
                run_key=f"retry:{d.arn}",
                asset_selection=[export_key(t)],
                partition_key=f.pending.partition,
                tags={EXPORT_ARN_TAG: d.arn},
                run_config={
                    "ops": {
                        op_name(export_key(t)): {
                            "config": {
                                "attempt": f.pending.attempt + 1,
                                "previous_export_arn": d.arn,
                            }
                        }
                    }
                },
            )
        )

    new_cursor = state.to_cursor()
    summary = (
        f"{len(completed)} completed, {len(failed)} failed, "
        f"{len(state.pending)} in progress; {ddb.calls} DynamoDB calls"
    )
    return TickOutcome(
        events=events,
        runs=runs,
        cursor=new_cursor,
        api_calls=ddb.calls,
        pending=len(state.pending),
        summary=summary,
    )


@dataclass
class TickOutcome:
    """What one tick decided: events to record, runs to request, the next cursor."""

    events: list
    runs: list
    cursor: str
    api_calls: int  # DynamoDB calls this tick made
    pending: int  # exports still in progress
    summary: str

    def to_sensor_result(self) -> dg.SensorResult:
        if not self.events and not self.runs:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"nothing new: {self.summary}"), cursor=self.cursor
            )
        return dg.SensorResult(asset_events=self.events, run_requests=self.runs, cursor=self.cursor)


def build_export_sensor(cfg: ProjectConfig) -> dg.SensorDefinition:
    targets = [export_key(t) for t in cfg.tables] + [table_key(t) for t in cfg.tables]

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=cfg.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(*targets),
        description=(
            "Watches DynamoDB exports (DescribeExport per pending export; ListExports "
            "only to reconcile) and, when one COMPLETES, records the export's "
            "materialization and loads that partition's typed table. FAILED exports are "
            "retried up to max_export_retries, then fail with AWS's FailureCode."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
        started = time.monotonic()
        outcome = evaluate_tick(context.instance, context.cursor, cfg, aws.client("dynamodb"))
        context.log.info(f"{outcome.summary} in {time.monotonic() - started:.2f} s")
        return outcome.to_sensor_result()

    return _sensor
