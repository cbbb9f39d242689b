"""The export sensor: notices exports landing and starts their loads, exactly once.

Per tick it reads the requests that runs materialized since its cursor
(``dynamodb/T/export_request``, no AWS call), calls DescribeExport once per pending export,
and (when its cursor is new or corrupted, or every ``sensor.reconcile_minutes``) walks
ListExports for the recent exports of each table (newest first, stopping at the lookback).

For a COMPLETED export the next step is decided from what proves its load happened, never
from the export's own materialization:

- a materialization of ``athena/T/table`` (or the old ``athena/T``) for that export, or a run
  keyed ``load:<ExportArn>`` that is queued, starting, running or succeeded: the load happened (or is under way). The
  export's materialization is then reported, tagged with the request run and the load run,
  and the export leaves the pending set;
- a load run for it that failed or was canceled: the export is reported, the failure is
  said in the tick's log, and nothing is retried behind the user's back;
- a newer export of the same day (a forced re-export): this one is superseded, not loaded;
- otherwise the load is requested (run key ``load:<ExportArn>``, so the daemon never
  creates it twice) and the export stays pending until the proof exists.

Because an export leaves the pending set only once its proof exists, a daemon that dies
anywhere in a tick (after recording the events, after reserving or creating runs, before
saving the cursor) finds it again on the next tick, from the old cursor or from
ListExports: nothing is lost, and the run key stops anything from happening twice.
FAILED exports get AWS's FailureCode recorded and a retry run, up to
``max_export_retries``.

The frame of a tick (cursor, new requests, the completed export's next step, retries, the
sensor definition) is :mod:`ddb_assets.sensor_frame`, shared with the RDS sensor; this
module asks DynamoDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import dagster as dg

from ddb_assets import sensor_frame as frame
from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    export_key,
    load_run_key,
    request_key,
    table_key,
    table_keys_with_history,
    table_tags,
)
from ddb_assets.assets.lateness import LATENESS_CHECK
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.dynamodb.exports import (
    describe_export,
    export_started_at,
    partition_of_prefix,
    recent_exports,
)
from ddb_assets.dynamodb.tracking import PendingExport, SensorState, export_metadata, poll_pending
from ddb_assets.resources import AwsResource

SENSOR_NAME = "dynamodb_export_sensor"


def _started(arn: str) -> float:
    try:
        return export_started_at(arn).timestamp()
    except ValueError:
        return 0.0


# --- what the event log and the run storage prove ----------------------------------------


def load_state(instance, t: TableConfig, partition: str, arn: str) -> frame.LoadState:
    """Whether the load of export ``arn`` happened, is under way, or failed. A load
    recorded under the table's key before the rename (``athena/T``) counts too."""
    for key in table_keys_with_history(t):
        res = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=20
        )
        for r in res.records:
            m = r.asset_materialization
            if m is not None and frame.meta_value(m.metadata, "export_arn") == arn:
                return frame.LoadState(proven_by=r.run_id or frame.MATERIALIZED)
    return frame.run_key_state(instance, load_run_key(arn))


def _export_reported(instance, t: TableConfig, partition: str, arn: str) -> bool:
    return frame.names_export(instance, export_key(t), partition, "export_arn", arn)


def _failure_recorded(instance, t: TableConfig, partition: str, arn: str) -> bool:
    return frame.names_export(
        instance,
        export_key(t),
        partition,
        "export_arn",
        arn,
        observations=True,
        limit=100,
        want=lambda md: bool(frame.meta_value(md, "failure_code")),
    )


def _attempt_of(instance, t: TableConfig, partition: str, arn: str) -> int:
    r = frame.request_of(instance, request_key(t), partition, "export_arn", arn)
    return int(frame.meta_value(r.asset_materialization.metadata, "attempt") or 0) if r else 0


def _event_arns(fetch, key: dg.AssetKey, since: datetime, want=lambda md: True) -> set[str]:
    arns: set[str] = set()
    cursor = None
    while True:
        res = fetch(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()),
            limit=1000,
            cursor=cursor,
        )
        for r in res.records:
            ev = r.asset_materialization or r.asset_observation
            if ev is not None and want(ev.metadata):
                arn = frame.meta_value(ev.metadata, "export_arn")
                if arn:
                    arns.add(arn)
        if not res.has_more:
            return arns
        cursor = res.cursor


@dataclass
class Settled:
    """What the event log already proves for a table's recent exports (no AWS call)."""

    loaded: set[str]  # a table materialization names the export
    reported: set[str]  # the export's materialization was reported
    failed: set[str]  # its FAILED status was recorded

    @classmethod
    def read(cls, instance, t: TableConfig, since: datetime) -> Settled:
        return cls(
            loaded=set().union(
                *(
                    _event_arns(instance.fetch_materializations, key, since)
                    for key in table_keys_with_history(t)
                )
            ),
            reported=_event_arns(instance.fetch_materializations, export_key(t), since),
            failed=_event_arns(
                instance.fetch_observations,
                export_key(t),
                since,
                want=lambda md: bool(frame.meta_value(md, "failure_code")),
            ),
        )

    def done(self, instance, arn: str, status: str | None = None) -> bool:
        """Nothing is left to do for this export (decided without describing it): its
        failure is recorded, or it was reported and its load proven (or failed)."""
        if status == "FAILED" or (status is None and arn in self.failed):
            return arn in self.failed
        if status not in (None, "COMPLETED") or arn not in self.reported:
            return False
        if arn in self.loaded:
            return True
        return frame.run_key_state(instance, load_run_key(arn)).settled


# --- reading new requests and reconciling with DynamoDB ----------------------------------


def _new_requests(
    instance, t: TableConfig, state: SensorState, since: datetime, settled: Settled | None
) -> None:
    """Add the exports that runs requested since the cursor (event log only, no AWS call).

    Without a cursor every request of the lookback is read again: ``settled`` leaves out
    those with nothing left to do."""
    frame.read_new_requests(
        instance,
        request_key(t),
        t.name,
        state,
        since,
        id_key="export_arn",
        kind="full",
        skip=None if settled is None else (lambda arn: settled.done(instance, arn)),
    )


def _reconcile(
    instance,
    cfg: ProjectConfig,
    ddb,
    state: SensorState,
    now: datetime,
    settled_by_table: dict[str, Settled],
) -> None:
    """Find recent exports of every table in DynamoDB itself (ListExports, newest first).

    Per day only the newest export that did not fail is a candidate: older ones were
    replaced on purpose (a forced re-export)."""
    since = now - timedelta(days=cfg.sensor.lookback_days)
    for t in cfg.tables:
        settled = settled_by_table[t.name]
        table_arn = ddb.describe_table(TableName=t.source_table)["Table"]["TableArn"]
        newest: dict[str, str] = {}  # partition -> newest non-FAILED export seen
        for arn, status in recent_exports(ddb, table_arn, since):
            if arn in state.pending or settled.done(instance, arn, status):
                continue
            d = describe_export(ddb, arn)
            owner = partition_of_prefix(d.s3_prefix)
            if d.export_type != "FULL_EXPORT" or owner is None or owner[0] != t.name:
                continue  # not one of this project's snapshot exports
            partition = owner[1].isoformat()
            if status != "FAILED":
                if partition in newest:
                    continue  # superseded by a newer export of the same day
                newest[partition] = arn
            state.add(
                PendingExport(
                    arn=arn,
                    table=t.name,
                    partition=partition,
                    attempt=_attempt_of(instance, t, partition, arn),
                )
            )
    state.last_reconcile = now.timestamp()


def _superseded_by(instance, t: TableConfig, p: PendingExport, state: SensorState) -> str | None:
    """A newer export of the same day that did not fail, if one is known."""
    mine = _started(p.arn)
    candidates = [
        o.arn
        for o in state.pending.values()
        if o.table == p.table and o.partition == p.partition and o.arn != p.arn
    ]
    reqs = frame.requests_of(instance, request_key(t), p.partition)
    if reqs:
        latest = frame.meta_value(reqs[0].asset_materialization.metadata, "export_arn")
        if latest and latest != p.arn:
            candidates.append(latest)
    for arn in candidates:
        if _started(arn) > mine and not _failure_recorded(instance, t, p.partition, arn):
            return arn
    return None


def _export_materialization(cfg, t, f, request_run, load_run, noticed):
    md = export_metadata(f.export, now=noticed)
    md["attempt"] = f.pending.attempt
    metadata = {k: v for k, v in md.items() if v is not None}
    metadata["dagster/uri"] = dg.MetadataValue.path(md["data_uri"] or "")
    if f.export.item_count is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(int(f.export.item_count))
    tags = frame.link_runs(metadata, request_run, load_run)
    mat = dg.AssetMaterialization(
        asset_key=export_key(t),
        partition=f.pending.partition,
        metadata=metadata,
        tags=tags or None,
        description=f"export {md['export_id']} COMPLETED",
    )
    return [mat]


def evaluate_tick(
    instance,
    cursor: str | None,
    cfg: ProjectConfig,
    ddb,
    *,
    load_checks: dict[str, list[dg.AssetCheckKey]] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
):
    """One sensor tick, as a plain function (tests and the CLI call it directly)."""
    t0 = now()
    ddb = frame.CountingClient(ddb)
    state, reconcile = frame.open_tick(cursor, t0, cfg.sensor.reconcile_minutes)
    tables = {t.name: t for t in cfg.tables}
    lookback = t0 - timedelta(days=cfg.sensor.lookback_days)
    # Reading what is settled costs event-log reads, no AWS call; only a reconciliation
    # (or a fresh cursor re-reading the lookback) needs it.
    settled = (
        {t.name: Settled.read(instance, t, lookback - timedelta(days=1)) for t in cfg.tables}
        if reconcile
        else {}
    )
    for t in cfg.tables:
        _new_requests(instance, t, state, lookback, settled.get(t.name))
    if reconcile:
        _reconcile(instance, cfg, ddb, state, t0, settled)

    frame.forget_unconfigured(state, tables)

    completed, failed = poll_pending(ddb, state)
    events: list = []
    runs: list[dg.RunRequest] = []
    notes = TickNotes()
    noticed = now()
    for f in completed:
        t = tables[f.pending.table]
        p = f.pending
        newer = _superseded_by(instance, t, p, state)
        if newer is not None:
            del state.pending[p.arn]
            notes.superseded.append(f"{t.name} {p.partition}: {p.arn} (newer: {newer})")
            continue
        ls = load_state(instance, t, p.partition, p.arn)
        reported = partial(_export_reported, instance, t, p.partition, p.arn)
        step = frame.completed_step(state, p.arn, ls, reported)
        if step != frame.REQUEST_LOAD:
            if ls.failed_run and not ls.proven_by:
                notes.failed_loads.append(f"{t.name} {p.partition} (run {ls.failed_run})")
            if step != frame.DONE:
                notes.reported.append(f"{t.name} {p.partition}")
                request = frame.request_of(
                    instance, request_key(t), p.partition, "export_arn", p.arn
                )
                load_run = ls.proven_run or ls.failed_run
                events.extend(
                    _export_materialization(
                        cfg, t, f, request.run_id if request else None, load_run, noticed
                    )
                )
            continue
        notes.loads.append(f"{t.name} {p.partition}")
        runs.append(
            dg.RunRequest(
                run_key=load_run_key(f.export.arn),
                asset_selection=[table_key(t)],
                # The table's own checks, and the export's lateness check for this export.
                asset_check_keys=(load_checks or {}).get(t.name),
                partition_key=p.partition,
                tags={EXPORT_ARN_TAG: f.export.arn, **table_tags(t)},
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
        notes.failed_exports.append(f"{t.name} {f.pending.partition}: {d.failure_code}")
        runs.append(
            frame.retry_run_request(
                f"retry:{d.arn}",
                request_key(t),
                f.pending.partition,
                d.arn,
                table_tags(t),
                {"attempt": f.pending.attempt + 1, "previous_export_arn": d.arn},
            )
        )

    done_polling = {f.pending.arn for f in completed}
    notes.in_progress = [
        f"{p.table} {p.partition}" for p in state.pending.values() if p.arn not in done_polling
    ]
    summary = notes.summary(ddb.calls, reconciled=reconcile)
    return frame.TickOutcome(
        events=events,
        runs=runs,
        cursor=state.to_cursor(),
        api_calls=ddb.calls,
        pending=len(state.pending),
        summary=summary,
    )


@dataclass
class TickNotes:
    """What a tick saw, for its log line and its skip reason."""

    loads: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    failed_exports: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)

    def summary(self, calls: int, *, reconciled: bool) -> str:
        parts = []
        if self.reported:
            parts.append(f"export COMPLETED and loading or loaded: {', '.join(self.reported)}")
        if self.loads:
            parts.append(f"load requested: {', '.join(self.loads)}")
        if self.in_progress:
            parts.append(f"exports in progress: {', '.join(self.in_progress)}")
        if self.failed_exports:
            parts.append(f"exports FAILED: {', '.join(self.failed_exports)}")
        if self.failed_loads:
            parts.append(
                f"loads that failed (not retried; re-run the table's partition or "
                f"`ddb-assets refresh --force`): {', '.join(self.failed_loads)}"
            )
        if self.superseded:
            parts.append(f"superseded by a newer export, not loaded: {', '.join(self.superseded)}")
        if not parts:
            parts.append(
                "no export is pending: nothing was requested since the last tick"
                + (" and ListExports found nothing to load" if reconciled else "")
            )
        return "; ".join(parts) + " " + frame.calls_text(calls, "DynamoDB")


def load_check_keys(t: TableConfig, table_checks=()) -> list[dg.AssetCheckKey]:
    """The checks a load run executes: the table's, and the export's lateness check."""
    return [*table_checks, dg.AssetCheckKey(export_key(t), LATENESS_CHECK)]


def build_export_sensor(
    cfg: ProjectConfig, table_checks: dict[str, list[dg.AssetCheckKey]] | None = None
) -> dg.SensorDefinition:
    """``table_checks``: per table name, the check keys of ``athena/<table>/table`` (from its
    definition), so a load run executes every one of them."""
    load_checks = {
        t.name: load_check_keys(t, (table_checks or {}).get(t.name, ())) for t in cfg.tables
    }

    def evaluate(context: dg.SensorEvaluationContext, aws: AwsResource) -> frame.TickOutcome:
        return evaluate_tick(
            context.instance, context.cursor, cfg, aws.client("dynamodb"), load_checks=load_checks
        )

    return frame.build_tick_sensor(
        name=SENSOR_NAME,
        interval_seconds=cfg.sensor.interval_seconds,
        targets=[request_key(t) for t in cfg.tables] + [table_key(t) for t in cfg.tables],
        description=(
            "Watches DynamoDB exports (DescribeExport per pending export; ListExports "
            "only to reconcile). When one COMPLETES it requests the load of that day's "
            "typed table (once: run key load:<ExportArn>) and, once the load run exists, "
            "reports the export's materialization with its request and load runs. FAILED "
            "exports are retried up to max_export_retries, then fail with AWS's FailureCode. "
            "A skipped tick says why (what is in progress, what failed)."
        ),
        evaluate=evaluate,
    )
