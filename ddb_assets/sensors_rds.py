"""The RDS export sensor: waits for snapshot exports and starts their loads, exactly once.

The same rules as the DynamoDB sensor (:mod:`ddb_assets.sensors`). Per tick it reads the
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

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    TABLE_TAG,
    op_name,
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
from ddb_assets.sensors import FAILED_STATUSES, PROOF_STATUSES, RUN_KEY_TAG, TickOutcome

SENSOR_NAME = "rds_export_sensor"


def _v(md, key):
    v = md.get(key)
    return getattr(v, "value", v)


class _Counting:
    def __init__(self, client):
        self._client, self.calls = client, 0

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if callable(attr) and not name.startswith("_") and name not in ("exceptions", "meta"):

            def counted(*a, **k):
                self.calls += 1
                return attr(*a, **k)

            return counted
        return attr


def load_proven(instance, src: RdsSourceConfig, partition: str, export_id: str) -> str | None:
    """What proves the load of ``export_id`` happened or is under way (a run id, or
    "materializations"), or "failed:<run>" for a load run that failed; None otherwise."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: rds_load_run_key(export_id)}))
    failed = None
    for run in runs:
        if run.status in PROOF_STATUSES:
            return run.run_id
        if run.status in FAILED_STATUSES:
            failed = run.run_id
    keys = [rds_table_key(t) for t in src.typed_tables()]
    loaded = 0
    for key in keys:
        res = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=20
        )
        if any(_v(r.asset_materialization.metadata, "export_id") == export_id for r in res.records):
            loaded += 1
    if loaded == len(keys):
        return "materializations"
    return f"failed:{failed}" if failed else None


def _recorded(instance, src, partition, export_id, observations: bool) -> bool:
    fetch = instance.fetch_observations if observations else instance.fetch_materializations
    res = fetch(
        dg.AssetRecordsFilter(asset_key=rds_export_key(src), asset_partitions=[partition]), limit=50
    )
    for r in res.records:
        ev = r.asset_observation if observations else r.asset_materialization
        if ev is not None and _v(ev.metadata, "export_id") == export_id:
            return True
    return False


def _retry_requested(instance, export_id: str) -> bool:
    """A retry run of a FAILED / CANCELED export exists (whatever its status): what proves
    the failure was handled, not the failure's own observation."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: f"rds-retry:{export_id}"}), limit=1
    )
    return bool(runs)


def _request_run(instance, src, partition, export_id) -> str | None:
    res = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=rds_request_key(src), asset_partitions=[partition]),
        limit=50,
    )
    for r in res.records:
        if _v(r.asset_materialization.metadata, "export_id") == export_id:
            return r.run_id
    return None


def _new_requests(instance, src, state: SensorState, since: datetime) -> None:
    key = rds_request_key(src)
    upto = state.observed_upto.get(src.name)
    flt = (
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=upto)
        if upto is not None
        else dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp())
    )
    cursor = None
    while True:
        res = instance.fetch_materializations(flt, limit=500, cursor=cursor, ascending=True)
        for rec in res.records:
            state.observed_upto[src.name] = max(
                state.observed_upto.get(src.name, 0), rec.storage_id
            )
            m = rec.asset_materialization
            export_id = _v(m.metadata, "export_id") if m else None
            if export_id and m.partition and export_id not in state.pending:
                state.add(
                    PendingExport(
                        arn=export_id,
                        table=src.name,
                        partition=m.partition,
                        attempt=int(_v(m.metadata, "attempt") or 0),
                        kind="rds",
                    )
                )
        if not res.has_more:
            return
        cursor = res.cursor


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
                    if e.status == COMPLETE and load_proven(instance, src, p, e.identifier):
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
) -> TickOutcome:
    t0 = now()
    rds = _Counting(rds)
    state = SensorState.from_cursor(cursor)
    sources = {s.name: s for s in cfg.rds}
    since = t0 - timedelta(days=cfg.sensor.lookback_days)
    reconcile = state.recovered or (
        t0.timestamp() - state.last_reconcile >= cfg.sensor.reconcile_minutes * 60
    )
    for src in cfg.rds:
        _new_requests(instance, src, state, since)
    if reconcile:
        _reconcile(instance, cfg, rds, state, since)
        state.last_reconcile = t0.timestamp()
    for export_id in [i for i, p in state.pending.items() if p.table not in sources]:
        del state.pending[export_id]

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
            if proof is None:
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
                continue
            del state.pending[export_id]
            if not _recorded(instance, src, p.partition, export_id, False):
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
                dg.RunRequest(
                    run_key=f"rds-retry:{export_id}",
                    asset_selection=[rds_request_key(src)],
                    partition_key=p.partition,
                    tags={EXPORT_ARN_TAG: export_id, TABLE_TAG: src.name},
                    run_config={
                        "ops": {
                            op_name(rds_request_key(src)): {
                                "config": {
                                    "attempt": p.attempt + 1,
                                    "previous_export_id": export_id,
                                }
                            }
                        }
                    },
                )
            )
        else:
            pct = f" {e.percent_progress}%" if e.percent_progress is not None else ""
            notes.append(f"{e.status}{pct}: {src.name} {p.partition}")
    summary = "; ".join(notes) or "no RDS export is pending"
    summary += f" ({rds.calls} RDS call{'s' if rds.calls != 1 else ''})"
    return TickOutcome(
        events=events,
        runs=runs,
        cursor=state.to_cursor(),
        api_calls=rds.calls,
        pending=len(state.pending),
        summary=summary,
    )


def _materialization(instance, src, p: PendingExport, e: RdsExport, proof: str):
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
    tags = {}
    request_run = _request_run(instance, src, p.partition, e.identifier)
    if request_run:
        md["request_run"] = dg.MetadataValue.dagster_run(request_run)
    if proof not in ("materializations",) and not proof.startswith("failed:"):
        md["load_run"] = dg.MetadataValue.dagster_run(proof)
        tags["ddb_assets/load_run"] = proof
    return dg.AssetMaterialization(
        asset_key=rds_export_key(src),
        partition=p.partition,
        metadata=md,
        tags=tags or None,
        description=f"export {e.identifier} COMPLETE",
    )


def build_rds_sensor(cfg: ProjectConfig) -> dg.SensorDefinition:
    targets = [rds_request_key(s) for s in cfg.rds] + [
        rds_table_key(t) for s in cfg.rds for t in s.typed_tables()
    ]

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=cfg.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(*targets),
        description=(
            "Watches RDS snapshot exports (DescribeExportTasks per pending export). When one is "
            "COMPLETE it requests the load of every table of that day (once: run key "
            "rds-load:<export id>) and reports the export. FAILED / CANCELED exports are "
            "retried up to max_export_retries with AWS's FailureCause recorded."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
        started = time.monotonic()
        outcome = evaluate_rds_tick(context.instance, context.cursor, cfg, aws.client("rds"))
        context.log.info(f"{outcome.summary} in {time.monotonic() - started:.2f} s")
        return outcome.to_sensor_result()

    return _sensor
