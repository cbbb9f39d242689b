"""The frame both export sensors share: DynamoDB's (:mod:`ddb_assets.sensors`) and RDS's
(:mod:`ddb_assets.sensors_rds`). Each asks its own service about its exports; how a tick
keeps its cursor, reads new requests, and decides what a finished export needs is here,
once.

- The cursor (:class:`~ddb_assets.dynamodb.tracking.SensorState`) is a hint, never the truth:
  a fresh or corrupted one, or ``sensor.reconcile_minutes`` since the last time, makes the
  tick reconcile with the service (:func:`open_tick`).
- New requests are read from the event log since the cursor, no AWS call
  (:func:`read_new_requests`).
- A COMPLETE export's next step (:func:`completed_step`) is decided from what proves its
  load (:func:`run_key_state`, plus the source's table materializations), never from the
  export's own materialization: with the proof (or a load run that failed: not retried
  behind the user's back) the export is reported once and leaves the pending set; without
  it the load is requested and the export stays pending. So an export whose materialization
  exists but whose load run was never reserved still gets its load, and the run key stops
  the daemon from creating it twice.
- A FAILED export gets a retry run of its request, keyed by the failed export
  (:func:`retry_run_request`).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from ddb_assets.assets.keys import EXPORT_ARN_TAG, LOAD_RUN_TAG, REQUEST_RUN_TAG, op_name
from ddb_assets.dynamodb.tracking import PendingExport, SensorState
from ddb_assets.resources import AwsResource

RUN_KEY_TAG = "dagster/run_key"

# Run states that prove a load happened or will happen without another request.
PROOF_STATUSES = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
}
FAILED_STATUSES = {
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
    dg.DagsterRunStatus.CANCELING,
}
MATERIALIZED = "materialization"  # LoadState.proven_by when the tables' events prove it


def meta_value(metadata, key):
    v = metadata.get(key)
    return getattr(v, "value", v)


class CountingClient:
    """Counts every AWS API call made through it (the tick's cost, reported)."""

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


# --- the cursor and new requests ----------------------------------------------------------


def open_tick(cursor: str | None, t0: datetime, reconcile_minutes: float):
    """``(state, reconcile?)``: the cursor's state, and whether this tick reconciles."""
    state = SensorState.from_cursor(cursor)
    due = t0.timestamp() - state.last_reconcile >= reconcile_minutes * 60
    return state, state.recovered or due


def forget_unconfigured(state: SensorState, names) -> None:
    """Forget pending exports of tables or sources that are no longer configured."""
    for export_id in [i for i, p in state.pending.items() if p.table not in names]:
        del state.pending[export_id]


def read_new_requests(
    instance,
    key: dg.AssetKey,
    name: str,
    state: SensorState,
    since: datetime,
    *,
    id_key: str,
    kind: str,
    skip: Callable[[str], bool] | None = None,
) -> None:
    """Add the exports that runs requested (materializations of ``key``) since the cursor;
    without a cursor, since ``since``. ``skip(id)`` leaves out those with nothing to do."""
    upto = state.observed_upto.get(name)
    flt = (
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=upto)
        if upto is not None
        else dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp())
    )
    cursor = None
    while True:
        res = instance.fetch_materializations(flt, limit=500, cursor=cursor, ascending=True)
        for rec in res.records:
            state.observed_upto[name] = max(state.observed_upto.get(name, 0), rec.storage_id)
            m = rec.asset_materialization
            export_id = meta_value(m.metadata, id_key) if m else None
            if not export_id or m.partition is None or export_id in state.pending:
                continue
            if skip is not None and skip(export_id):
                continue
            state.add(
                PendingExport(
                    arn=export_id,
                    table=name,
                    partition=m.partition,
                    attempt=int(meta_value(m.metadata, "attempt") or 0),
                    kind=kind,
                )
            )
        if not res.has_more:
            return
        cursor = res.cursor


# --- what the event log and the run storage prove -----------------------------------------


@dataclass
class LoadState:
    proven_by: str | None = None  # run id (or MATERIALIZED) that proves the load
    failed_run: str | None = None  # a load run that failed or was canceled

    @property
    def settled(self) -> bool:
        """The load needs no request: it is proven, or it failed (not retried silently)."""
        return bool(self.proven_by or self.failed_run)

    @property
    def proven_run(self) -> str | None:
        return self.proven_by if self.proven_by != MATERIALIZED else None


def run_key_state(instance, run_key: str) -> LoadState:
    """What the runs keyed ``run_key`` prove: one queued, running or succeeded, or failed."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}))
    state = LoadState()
    for run in runs:
        if run.status in PROOF_STATUSES:
            return LoadState(proven_by=run.run_id)
        if run.status in FAILED_STATUSES:
            state.failed_run = run.run_id
    return state


def names_export(
    instance,
    key: dg.AssetKey,
    partition: str,
    id_key: str,
    export_id: str,
    *,
    observations: bool = False,
    limit: int = 50,
    want: Callable[[dict], bool] | None = None,
) -> bool:
    """An event of ``key`` for ``partition`` (a materialization, or an observation) names
    the export (and satisfies ``want``)."""
    fetch = instance.fetch_observations if observations else instance.fetch_materializations
    res = fetch(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=limit)
    for r in res.records:
        ev = r.asset_observation if observations else r.asset_materialization
        if ev is not None and meta_value(ev.metadata, id_key) == export_id:
            if want is None or want(ev.metadata):
                return True
    return False


def requests_of(instance, key: dg.AssetKey, partition: str) -> list:
    """The partition's request materializations, newest first."""
    res = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=50
    )
    return [r for r in res.records if r.asset_materialization]


def request_of(instance, key: dg.AssetKey, partition: str, id_key: str, export_id: str):
    """The request materialization that started the export, if recorded."""
    for r in requests_of(instance, key, partition):
        if meta_value(r.asset_materialization.metadata, id_key) == export_id:
            return r
    return None


# --- a finished export's next step --------------------------------------------------------

REQUEST_LOAD, REPORT, DONE = "request_load", "report", "done"


def completed_step(
    state: SensorState, export_id: str, load: LoadState, reported: Callable[[], bool]
) -> str:
    """What a COMPLETE export needs, from its load's proof (never from its own
    materialization): REQUEST_LOAD (no proof: it stays pending), REPORT (proof, not yet
    reported) or DONE; for REPORT and DONE it leaves the pending set."""
    if not load.settled:
        return REQUEST_LOAD
    del state.pending[export_id]
    return DONE if reported() else REPORT


def link_runs(metadata: dict, request_run: str | None, load_run: str | None) -> dict:
    """Link the export's materialization to its request and load runs; returns its tags."""
    tags = {}
    if request_run:
        metadata["request_run"] = dg.MetadataValue.dagster_run(request_run)
        tags[REQUEST_RUN_TAG] = request_run
    if load_run:
        metadata["load_run"] = dg.MetadataValue.dagster_run(load_run)
        tags[LOAD_RUN_TAG] = load_run
    return tags


def retry_run_request(
    run_key: str, request_key: dg.AssetKey, partition: str, export_id: str, tags: dict, config
) -> dg.RunRequest:
    """A run of the request asset that retries the failed ``export_id`` (``config``: the
    request's run config, attempt and previous export)."""
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=[request_key],
        partition_key=partition,
        tags={EXPORT_ARN_TAG: export_id, **tags},
        run_config={"ops": {op_name(request_key): {"config": config}}},
    )


# --- what a tick returns, and the sensor around it ----------------------------------------


@dataclass
class TickOutcome:
    """What one tick decided: events to record, runs to request, the next cursor."""

    events: list
    runs: list
    cursor: str
    api_calls: int  # AWS calls this tick made
    pending: int  # exports still pending (in progress, or waiting for their load's proof)
    summary: str

    def to_sensor_result(self) -> dg.SensorResult:
        if not self.runs:
            return dg.SensorResult(
                asset_events=self.events,
                skip_reason=dg.SkipReason(self.summary),
                cursor=self.cursor,
            )
        return dg.SensorResult(asset_events=self.events, run_requests=self.runs, cursor=self.cursor)


def calls_text(calls: int, service: str) -> str:
    return f"({calls} {service} call{'s' if calls != 1 else ''})"


def build_tick_sensor(
    *,
    name: str,
    interval_seconds: int,
    targets: list[dg.AssetKey],
    description: str,
    evaluate: Callable[[dg.SensorEvaluationContext, AwsResource], TickOutcome],
) -> dg.SensorDefinition:
    """A sensor, running by default, whose tick is ``evaluate``; it logs the tick's summary
    and says it as the skip reason when no run is requested."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(*targets),
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
        started = time.monotonic()
        outcome = evaluate(context, aws)
        context.log.info(f"{outcome.summary} in {time.monotonic() - started:.2f} s")
        return outcome.to_sensor_result()

    return _sensor
