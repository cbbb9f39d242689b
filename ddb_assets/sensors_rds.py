"""The RDS export sensor: waits for snapshot exports and starts their loads, exactly once.

The same rules as the DynamoDB sensor (:mod:`ddb_assets.sensors`), from the same frame
(:mod:`ddb_assets.sensor_frame`: cursor, new requests, a COMPLETE export's next step,
retries, the sensor definition); this module asks RDS. Per tick it reads the
requests runs materialized since its cursor (``rds/<source>/export_request``, no AWS call),
calls DescribeExportTasks once per pending export (O(pending)), and, when its cursor is new
or corrupted or every ``sensor.reconcile_minutes``, lists the source buckets' exports once
(DescribeExportTasks filtered by ``s3-bucket``) to find exports it was never told about.

For a COMPLETE export the next step is decided from what proves its load happened, never
from the export's own materialization: a run keyed ``rds-load:<export id>`` that is queued,
starting, running, succeeded (or failed: not retried behind the user's back), or a
materialization of every table for that export. With the proof, the export's
materialization is reported and it leaves the pending set; without it, the load is requested
(the run key stops the daemon from creating it twice) and it stays pending. A daemon that
dies anywhere in a tick finds it again next tick. FAILED / CANCELED exports get AWS's
FailureCause recorded and a retry run up to ``max_export_retries``.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import dagster as dg

from ddb_assets import sensor_frame as frame
from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    TABLE_TAG,
    rds_export_key,
    rds_load_run_key,
    rds_request_key,
    rds_table_key,
)
from ddb_assets.assets.rds import rds_load_check_keys
from ddb_assets.config import ProjectConfig, RdsSourceConfig
from ddb_assets.dynamodb.tracking import PendingExport, SensorState
from ddb_assets.rds import naming
from ddb_assets.rds.exports import CANCELED, COMPLETE, FAILED, RdsExport, describe_export_task
from ddb_assets.resources import AwsResource

SENSOR_NAME = "rds_export_sensor"


def load_proven(instance, src: RdsSourceConfig, partition: str, export_id: str) -> frame.LoadState:
    """What proves the load of ``export_id`` happened or is under way: a run keyed
    ``rds-load:<id>`` queued, running or succeeded, else a materialization of every table
    for that export; or a load run that failed (``failed_run``)."""
    state = frame.run_key_state(instance, rds_load_run_key(export_id))
    if state.proven_by:
        return state
    keys = [rds_table_key(t) for t in src.typed_tables()]
    loaded = sum(
        frame.names_export(instance, key, partition, "export_id", export_id, limit=20)
        for key in keys
    )
    if loaded == len(keys):
        return frame.LoadState(proven_by=frame.MATERIALIZED)
    return state


def _recorded(instance, src, partition, export_id, observations: bool) -> bool:
    return frame.names_export(
        instance, rds_export_key(src), partition, "export_id", export_id, observations=observations
    )


def _retry_requested(instance, export_id: str) -> bool:
    """A retry run of a FAILED / CANCELED export exists (whatever its status): what proves
    the failure was handled, not the failure's own observation."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={frame.RUN_KEY_TAG: f"rds-retry:{export_id}"}), limit=1
    )
    return bool(runs)


def _reconcile(instance, cfg, rds, state: SensorState, since: datetime) -> None:
    """Exports of the configured sources that RDS knows and the cursor does not (one
    paginated DescribeExportTasks per bucket)."""
    for bucket in sorted({s.s3_bucket for s in cfg.rds}):
        marker = None
        while True:
            kw: dict = {"Filters": [{"Name": "s3-bucket", "Values": [bucket]}]}
            if marker:
                kw["Marker"] = marker
            page = rds.describe_export_tasks(**kw)
            for d in page.get("ExportTasks", []):
                e = RdsExport.from_api(d)
                for src in cfg.rds:
                    day = naming.day_of_export_id(src.identifier, e.identifier)
                    if day is None or src.s3_bucket != bucket or e.identifier in state.pending:
                        continue
                    if e.start_time and e.start_time < since:
                        continue
                    p = day.isoformat()
                    if e.status == COMPLETE and load_proven(instance, src, p, e.identifier).settled:
                        if _recorded(instance, src, p, e.identifier, False):
                            continue
                    if e.status in (FAILED, CANCELED) and _retry_requested(instance, e.identifier):
                        continue
                    state.add(PendingExport(e.identifier, src.name, p, 0, "rds"))
            marker = page.get("Marker")
            if not marker:
                break


def evaluate_rds_tick(
    instance,
    cursor: str | None,
    cfg: ProjectConfig,
    rds,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> frame.TickOutcome:
    t0 = now()
    rds = frame.CountingClient(rds)
    state, reconcile = frame.open_tick(cursor, t0, cfg.sensor.reconcile_minutes)
    sources = {s.name: s for s in cfg.rds}
    since = t0 - timedelta(days=cfg.sensor.lookback_days)
    for src in cfg.rds:
        frame.read_new_requests(
            instance, rds_request_key(src), src.name, state, since, id_key="export_id", kind="rds"
        )
    if reconcile:
        _reconcile(instance, cfg, rds, state, since)
        state.last_reconcile = t0.timestamp()
    frame.forget_unconfigured(state, sources)

    events, runs, notes = [], [], []
    for export_id, p in sorted(state.pending.items()):
        src = sources[p.table]
        e = describe_export_task(rds, export_id)  # the O(pending) part
        if e is None:
            del state.pending[export_id]
            notes.append(f"{src.name} {p.partition}: {export_id} no longer exists")
            continue
        if e.status == COMPLETE:
            proof = load_proven(instance, src, p.partition, export_id)
            reported = partial(_recorded, instance, src, p.partition, export_id, False)
            step = frame.completed_step(state, export_id, proof, reported)
            if step == frame.REQUEST_LOAD:
                runs.append(
                    dg.RunRequest(
                        run_key=rds_load_run_key(export_id),
                        asset_selection=[rds_table_key(t) for t in src.typed_tables()],
                        # Every table's checks, and the export's lateness check for this export.
                        asset_check_keys=rds_load_check_keys(src),
                        partition_key=p.partition,
                        tags={EXPORT_ARN_TAG: export_id, TABLE_TAG: src.name},
                    )
                )
                notes.append(f"load requested: {src.name} {p.partition}")
            else:
                if proof.failed_run and not proof.proven_by:
                    notes.append(f"load failed: {src.name} {p.partition} (run {proof.failed_run})")
                if step != frame.DONE:
                    events.append(_materialization(instance, src, p, e, proof))
                    notes.append(f"export COMPLETE, loading or loaded: {src.name} {p.partition}")
        elif e.status in (FAILED, CANCELED):
            del state.pending[export_id]
            if not _recorded(instance, src, p.partition, export_id, True):
                events.append(
                    dg.AssetObservation(
                        asset_key=rds_export_key(src),
                        partition=p.partition,
                        description=f"export {e.status}: {e.failure_cause or 'no cause given'}",
                        metadata={
                            "export_id": export_id,
                            "status": e.status,
                            "failure_cause": e.failure_cause or "",
                            "attempt": p.attempt,
                        },
                    )
                )
            notes.append(f"export {e.status}: {src.name} {p.partition}: {e.failure_cause}")
            if _retry_requested(instance, export_id):
                continue  # handled: its retry run exists
            runs.append(
                frame.retry_run_request(
                    f"rds-retry:{export_id}",
                    rds_request_key(src),
                    p.partition,
                    export_id,
                    {TABLE_TAG: src.name},
                    {"attempt": p.attempt + 1, "previous_export_id": export_id},
                )
            )
        else:
            pct = f" {e.percent_progress}%" if e.percent_progress is not None else ""
            notes.append(f"{e.status}{pct}: {src.name} {p.partition}")
    summary = "; ".join(notes) or "no RDS export is pending"
    summary += " " + frame.calls_text(rds.calls, "RDS")
    return frame.TickOutcome(
        events=events,
        runs=runs,
        cursor=state.to_cursor(),
        api_calls=rds.calls,
        pending=len(state.pending),
        summary=summary,
    )


def _materialization(instance, src, p: PendingExport, e: RdsExport, proof: frame.LoadState):
    md: dict = {
        "export_id": e.identifier,
        "snapshot_arn": e.source_arn or "",
        "dagster/uri": dg.MetadataValue.path(e.root_uri),
        "attempt": p.attempt,
        "export_only": ", ".join(e.export_only),
    }
    if e.snapshot_time:
        md["snapshot_time"] = e.snapshot_time.isoformat()
    if e.warning:
        md["warning"] = e.warning
    request = frame.request_of(
        instance, rds_request_key(src), p.partition, "export_id", e.identifier
    )
    # The load run that proves it, or the one that failed (linked so the failure is found).
    load_run = proof.proven_run or proof.failed_run
    tags = frame.link_runs(md, request.run_id if request else None, load_run)
    return dg.AssetMaterialization(
        asset_key=rds_export_key(src),
        partition=p.partition,
        metadata=md,
        tags=tags or None,
        description=f"export {e.identifier} COMPLETE",
    )


def build_rds_sensor(cfg: ProjectConfig) -> dg.SensorDefinition:
    def evaluate(context: dg.SensorEvaluationContext, aws: AwsResource) -> frame.TickOutcome:
        return evaluate_rds_tick(context.instance, context.cursor, cfg, aws.client("rds"))

    return frame.build_tick_sensor(
        name=SENSOR_NAME,
        interval_seconds=cfg.sensor.interval_seconds,
        targets=[rds_request_key(s) for s in cfg.rds]
        + [rds_table_key(t) for s in cfg.rds for t in s.typed_tables()],
        description=(
            "Watches RDS snapshot exports (DescribeExportTasks per pending export). When one is "
            "COMPLETE it requests the load of every table of that day (once: run key "
            "rds-load:<export id>) and reports the export. FAILED / CANCELED exports are "
            "retried up to max_export_retries with AWS's FailureCause recorded."
        ),
        evaluate=evaluate,
    )
