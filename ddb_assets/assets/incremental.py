"""``athena/<table>_changes`` and ``athena/<table>_current``: change history from chained
incremental exports (tables with ``incremental: {enabled: true}``; docs/incremental.md).

One multi-asset applies, in order, every step whose export is COMPLETED (seed or re-seed,
then consecutive windows). On DuckDB, change rows, MERGE into current and the ledger row
commit in one transaction per window; on Athena (``engine: athena``) the tables are Iceberg
tables written by Athena under ``<typed_s3_uri>/<table>__history/``, the exports' data stays in
S3, and every statement of a step is idempotent with the ledger row written last
(:mod:`ddb_assets.incremental.athena_chain`). Either way a retried or duplicated run applies
nothing twice. Its
materializations carry the chain position (generation, last To), which is what the sensor
reads: the position lives in the Dagster event log and in the warehouse ledger, never only
in a cursor.

``incremental_export_sensor`` requests the next exports (idempotently: deterministic
ClientToken and S3 prefix per window; a FAILED export is retried with a new ClientToken up
to ``max_export_retries``), reports PITR gaps, and starts the apply run when the next step is
ready (one run key per step). When every attempt of the next export FAILED it starts the
apply run anyway, and that run fails with AWS's FailureCode and FailureMessage.

The asset check ``matches_full_export`` on ``athena/<table>_current`` (blocking, ERROR)
compares the current table with a full export whose ExportTime is the chain's position (the
last applied window's To), row by row in the table's engine (DuckDB, or Athena SQL). The
export is asynchronous, so the check runs in its own run: when the chain is caught up the
sensor requests the comparison export for the position (idempotent; the seed itself when the
position is the seed), and once it is COMPLETED launches a check-only run (run key ``<table>:check:g<gen>:<To>``); meanwhile no
apply run starts, so the current table stays at the position being compared.
"""

from datetime import datetime

import dagster as dg

from ddb_assets import table_names
from ddb_assets.assets.metadata import query_metadata, table_metadata
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.engines import Engine, TableTarget, engine_class
from ddb_assets.incremental import model
from ddb_assets.incremental.chain import (
    ChainSpec,
    apply_ready,
    check_current,
    comparison_export,
    comparison_in_flight,
    read_state,
    request_next,
)
from ddb_assets.incremental.exports import ChainExportFailedError
from ddb_assets.incremental.windows import _stamp
from ddb_assets.resources import AwsResource
from ddb_assets.tables.athena_engine import UnsupportedOnAthena

SENSOR_NAME = "incremental_export_sensor"
CHECK_NAME = "matches_full_export"
CHAIN_TAG = "ddb_assets/chain"  # the table of an apply or check run
CHECK_TAG = "ddb_assets/chain_check"  # "<generation>:<To>" of a check run
STEP_TAG = "ddb_assets/chain_step"  # "<table>:<step>" of an apply run the sensor launched
# Apply runs of one step the sensor launches again after the earlier ones ended without moving
# the chain (see _apply_run_key).
APPLY_RUN_RETRIES = 3


def changes_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["athena", table_names.changes(t.name)])


def current_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["athena", table_names.current(t.name)])


def check_key(t: TableConfig) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(current_key(t), CHECK_NAME)


def incremental_tables(cfg: ProjectConfig) -> list[TableConfig]:
    return [t for t in cfg.tables if t.incremental is not None and t.incremental.enabled]


def _position_metadata(state: model.ChainState) -> dict:
    return {
        "chain_seeded": state.seeded,
        "chain_generation": state.generation,
        "chain_last_to": state.last_to.isoformat() if state.last_to else "",
        "chain_windows": len(state.windows(state.generation)),
    }


def build_incremental_assets(cfg: ProjectConfig, t: TableConfig) -> dg.AssetsDefinition:
    engine_cls = engine_class(cfg)
    target = TableTarget.of(cfg, t)
    database = target.database
    spec = ChainSpec.from_config(cfg, t)
    kinds = set(engine_cls.HISTORY_KINDS)

    @dg.multi_asset(
        name=f"{t.name}_change_history",
        specs=[
            dg.AssetSpec(
                changes_key(t),
                group_name=t.name,
                kinds=kinds | {"dynamodb"},
                description=(
                    f"`{database}.{table_names.changes(t.name)}`: one row per changed item per "
                    f"{t.incremental.window_minutes}-minute window (operation, write time, "
                    "keys, typed new_/old_ values), partitioned by change_date."
                ),
            ),
            dg.AssetSpec(
                current_key(t),
                group_name=t.name,
                kinds=kinds,
                deps=[changes_key(t)],
                description=(
                    f"`{database}.{table_names.current(t.name)}`: the table now, kept by MERGE-ing "
                    "each window (deletes included)."
                ),
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=current_key(t),
                blocking=True,
                description=(
                    "The current table equals a full export taken at the chain's position (the last "
                    "applied window's To): same keys, every typed column equal. Run by "
                    f"{SENSOR_NAME} once that export is COMPLETED; counts of missing / extra / "
                    "different rows and examples in the metadata."
                ),
            )
        ],
        # Subsettable only so the check can run on its own: the two assets always go together.
        can_subset=True,
        pool=engine_cls.POOL,
    )
    def _apply(context: dg.AssetExecutionContext, aws: AwsResource, engine: Engine):
        selected = set(context.selected_asset_keys)
        if selected and selected != {changes_key(t), current_key(t)}:
            raise dg.Failure(
                f"{changes_key(t).to_user_string()} and {current_key(t).to_user_string()} are "
                "written together (each window applied to both): select both"
            )
        if selected:
            yield from _materialize(context, aws, engine)
        if check_key(t) in context.selected_asset_check_keys:
            yield _check(context, aws, engine)

    def _check(context, aws: AwsResource, engine: Engine) -> dg.AssetCheckResult:
        tag = context.run.tags.get(CHECK_TAG)
        expect = None
        if tag:
            gen, to = tag.split(":", 1)
            expect = (int(gen), datetime.fromisoformat(to))
        with engine.change_history(target) as wh:
            try:
                outcome = check_current(
                    wh, aws.client("dynamodb"), aws.client("s3"), spec, expect=expect
                )
            except ChainExportFailedError as exc:
                return dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    asset_key=current_key(t),
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"not compared: the comparison export FAILED: {exc}",
                    metadata={
                        "compared": False,
                        "failure_code": exc.code or "",
                        "failure_message": exc.failure_message or "",
                    },
                )
            queries = _query_md(wh)
        pos = {
            "chain_generation": outcome.generation,
            "chain_last_to": outcome.position.isoformat() if outcome.position else "",
        }
        if outcome.status != "compared":
            why = {
                "not_seeded": "the chain is not seeded yet",
                "superseded": "the chain moved on before the comparison ran (a later check compares the new "
                "position)",
                "waiting": (
                    f"the comparison export {outcome.export.arn if outcome.export else ''} is "
                    f"{outcome.export.status if outcome.export else ''}; {SENSOR_NAME} runs this "
                    "check when it is COMPLETED"
                ),
            }[outcome.status]
            return dg.AssetCheckResult(
                check_name=CHECK_NAME,
                asset_key=current_key(t),
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"not compared: {why}",
                metadata={"compared": False, **pos},
            )
        c = outcome.comparison
        md = {
            "compared": True,
            **pos,
            "export_arn": outcome.export.arn,
            "current_rows": c.current_rows,
            "export_items": c.export_items,
            "missing_rows": c.missing,
            "extra_rows": c.extra,
            "different_rows": c.different,
            "examples": dg.MetadataValue.json(
                [{"kind": k, "key": key, "columns": d} for k, key, d in c.examples]
            ),
            "compared_columns": dg.MetadataValue.json(list(c.columns)),
            **queries,
        }
        desc = (
            (
                "identical to the full export at "
                if c.identical
                else "DIFFERS from the full export at "
            )
            + f"{pos['chain_last_to']}: {c.missing} missing, {c.extra} extra, {c.different} different row(s)"
        )
        return dg.AssetCheckResult(
            check_name=CHECK_NAME,
            asset_key=current_key(t),
            passed=c.identical,
            severity=dg.AssetCheckSeverity.ERROR,
            description=desc,
            metadata=md,
        )

    def _materialize(context, aws: AwsResource, engine: Engine):
        with engine.change_history(target) as wh:
            try:
                results = apply_ready(wh, aws.client("dynamodb"), aws.client("s3"), spec)
            except ChainExportFailedError as exc:
                raise dg.Failure(
                    str(exc),
                    metadata={
                        "failure_code": exc.code or "",
                        "failure_message": exc.failure_message or "",
                        "export_arns": [a.arn for a in exc.attempts],
                    },
                ) from exc
            except UnsupportedOnAthena as exc:
                raise dg.Failure(str(exc)) from exc
            state = read_state(wh)
            rows, cols = (wh.row_counts(), wh.current_columns()) if state.seeded else ({}, [])
            queries = _query_md(wh)
            uri = wh.location
        for r in results:
            if r.gap:
                context.log.warning(r.gap)
            context.log.info(
                f"{r.kind} g{r.generation} -> {r.window_to.isoformat()}: "
                f"{'applied ' + str(r.records) + ' records' if r.applied else r.skipped_reason}"
            )
        applied = [r for r in results if r.applied]
        pos = _position_metadata(state)
        steps = dg.MetadataValue.json(
            [
                {
                    "kind": r.kind,
                    "generation": r.generation,
                    "from": r.window_from.isoformat() if r.window_from else None,
                    "to": r.window_to.isoformat(),
                    "records": r.records,
                    "operations": r.operations,
                    "gap": r.gap,
                }
                for r in applied
            ]
        )
        yield dg.MaterializeResult(
            asset_key=changes_key(t),
            metadata={
                **table_metadata(
                    table_name=f"{database}.{table_names.changes(t.name)}",
                    row_count=rows.get("changes", 0),
                    columns=[],
                    uri=uri and uri + "changes/",
                ),
                **pos,
                "applied": steps,
                **queries,
            },
        )
        yield dg.MaterializeResult(
            asset_key=current_key(t),
            metadata={
                **table_metadata(
                    table_name=f"{database}.{table_names.current(t.name)}",
                    row_count=rows.get("current", 0),
                    columns=cols,
                    uri=uri and uri + "current/",
                ),
                **pos,
            },
        )

    return _apply


def _query_md(wh) -> dict:
    """What the engine billed for the statements of a run (Athena query ids and bytes
    scanned; nothing on DuckDB)."""
    return query_metadata(query_ids=wh.query_ids, bytes_scanned=wh.bytes_scanned)


def _position(instance, t: TableConfig) -> tuple[bool, int, datetime | None]:
    """The chain position recorded by the latest materialization of the change table."""
    res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=changes_key(t)), limit=1)
    if not res.records:
        return False, -1, None
    md = {
        k: getattr(v, "value", v) for k, v in res.records[0].asset_materialization.metadata.items()
    }
    last = md.get("chain_last_to") or None
    return (
        bool(md.get("chain_seeded")),
        int(md.get("chain_generation", -1)),
        datetime.fromisoformat(last) if last else None,
    )


_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _check_run_key(t: TableConfig, gen: int, last_to: datetime) -> str:
    return f"{t.name}:check:g{gen}:{_stamp(last_to)}"


def _check_done(instance, t: TableConfig, gen: int, last_to: datetime) -> bool:
    """Whether the check of this position already ran (an evaluation with its position) or
    its run was launched (a crashed run is not re-launched: the run key is spent)."""
    rec = instance.get_latest_asset_check_evaluation_record(check_key(t))
    ev = (
        rec.event.dagster_event.event_specific_data
        if rec and rec.event and rec.event.dagster_event
        else None
    )
    if ev is not None:
        md = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
        if (
            md.get("compared")
            and md.get("chain_generation") == gen
            and md.get("chain_last_to") == last_to.isoformat()
        ):
            return True
    key = _check_run_key(t, gen, last_to)
    return bool(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1))


def _check_running(instance, t: TableConfig) -> bool:
    """A check run of this table is queued or running (apply runs wait for it)."""
    return any(
        CHECK_TAG in r.tags
        for r in instance.get_runs(
            filters=dg.RunsFilter(tags={CHAIN_TAG: t.name}, statuses=_ACTIVE), limit=20
        )
    )


def evaluate_incremental_tick(instance, cfg: ProjectConfig, ddb, s3):
    """One tick as a plain function: (run requests, messages)."""
    runs, messages = [], []
    for t in incremental_tables(cfg):
        spec = ChainSpec.from_config(cfg, t)
        seeded, gen, last_to = _position(instance, t)
        report = request_next(ddb, s3, spec, seeded=seeded, generation=gen, last_to=last_to)
        if report.gap:
            messages.append(report.gap.message)
        messages += report.retried + report.failed
        check = _check_request(instance, t, spec, ddb, s3, report, seeded, gen, last_to, messages)
        if check is not None:
            runs.append(check)
            continue  # apply next tick: the current table stays at the compared position
        if _check_running(instance, t):
            messages.append(
                f"{t.name}: the {CHECK_NAME} check is running; windows are applied after it"
            )
            continue
        if report.ready or report.exhausted is not None:
            # Exhausted retries: the apply run fails with AWS's FailureCode / FailureMessage.
            step = f"{t.name}:" + (
                report.ready
                or f"export-failed:g{report.generation}:{report.exhausted.attempts[-1].arn}"
            )
            run_key = _apply_run_key(
                instance, step, retry=report.ready is not None, messages=messages
            )
            if run_key is not None:
                runs.append(
                    dg.RunRequest(
                        run_key=run_key,
                        asset_selection=[changes_key(t), current_key(t)],
                        asset_check_keys=[],
                        tags={CHAIN_TAG: t.name, STEP_TAG: step},
                    )
                )
        elif report.waiting:
            messages.append(f"{t.name}: {report.waiting}")
    return runs, messages


def _apply_run_key(instance, step: str, *, retry: bool, messages: list) -> str | None:
    """The run key of the apply run for ``step`` (``<table>:<step>``), or None to launch nothing.

    The chain position comes from the latest materialization, so a run that ended without one
    (it failed, was canceled, or died after its window committed) leaves the sensor asking for
    the same step; Dagster never launches a spent run key again, so without a new key the chain
    would stall. When every earlier run of the step has ended, the step gets a new key
    (``<step>:retry<n>``), up to :data:`APPLY_RUN_RETRIES` times: the ledger skips whatever that
    run had already committed, and its materialization records the position. A step whose
    export FAILED every attempt (``retry`` False) is not retried: its run fails on purpose."""
    earlier = instance.get_runs(
        filters=dg.RunsFilter(tags={STEP_TAG: step}), limit=APPLY_RUN_RETRIES + 2
    )
    if not earlier or not retry or any(r.status in _ACTIVE for r in earlier):
        return step
    if len(earlier) > APPLY_RUN_RETRIES:
        last = earlier[0]
        messages.append(
            f"{step}: {len(earlier)} apply runs of this step ended ({last.status.value}, last run {last.run_id}) "
            f"without moving the chain; the sensor stops launching it after {APPLY_RUN_RETRIES} retries. Read that run's logs, fix the cause and materialize "
            "athena/<table>_changes and athena/<table>_current (the ledger skips what is already applied)"
        )
        return None
    messages.append(
        f"{step}: the earlier apply run {earlier[0].run_id} ended {earlier[0].status.value} without "
        f"moving the chain; launching it again (retry {len(earlier)} of {APPLY_RUN_RETRIES})"
    )
    return f"{step}:retry{len(earlier)}"


def _check_request(
    instance, t, spec, ddb, s3, report, seeded, gen, last_to, messages
) -> dg.RunRequest | None:
    """The check-only run for the chain's position, when its comparison export is COMPLETED.
    The export is requested only when the chain is caught up (no step ready): a position the
    chain is about to leave is not worth a full export."""
    if (
        not seeded
        or last_to is None
        or report.gap is not None
        or _check_done(instance, t, gen, last_to)
    ):
        return None
    caught_up = report.ready is None and report.exhausted is None
    try:
        e = comparison_export(ddb, s3, spec, gen, last_to, request=caught_up)
    except ChainExportFailedError as exc:
        messages.append(f"{t.name}: {exc}")
        e = None
        status = "FAILED"  # the check run reports the failure (not compared)
    else:
        status = e.status if e is not None else None
    if status in ("COMPLETED", "FAILED"):
        return dg.RunRequest(
            run_key=_check_run_key(t, gen, last_to),
            asset_selection=[],
            asset_check_keys=[check_key(t)],
            tags={CHAIN_TAG: t.name, CHECK_TAG: f"{gen}:{last_to.isoformat()}"},
        )
    if status == "IN_PROGRESS" or (
        status is None and comparison_in_flight(ddb, spec, gen, last_to)
    ):
        # Hold the next window: applying it would leave the position being compared.
        report.ready = None
        report.waiting = f"comparison export for {last_to.isoformat()} is IN_PROGRESS; the next window waits for its check"
    return None


def build_incremental_sensor(cfg: ProjectConfig) -> dg.SensorDefinition:
    tables = incremental_tables(cfg)

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=cfg.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(
            *[k for t in tables for k in (changes_key(t), current_key(t))]
        ),
        description=(
            "Requests each table's next incremental exports (windows ending at or before the "
            "latest restorable time), reports PITR gaps, and applies a window once its "
            "export is COMPLETED."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
        runs, messages = evaluate_incremental_tick(
            context.instance, cfg, aws.client("dynamodb"), aws.client("s3")
        )
        for m in messages:
            if "max_export_retries" in m or "stops launching" in m:
                context.log.error(m)
            else:
                (context.log.warning if "gap" in m.lower() or "FAILED" in m else context.log.info)(
                    m
                )
        if not runs:
            return dg.SkipReason("; ".join(messages) or "nothing to do")
        return dg.SensorResult(run_requests=runs)

    return _sensor
