"""``athena/<table>_changes`` and ``athena/<table>_current``: change history from chained
incremental exports (tables with ``incremental: {enabled: true}``; docs/incremental.md).

One multi-asset applies, in order, every step whose export is COMPLETED (seed or re-seed,
then consecutive windows): change rows, MERGE into current and the ledger row commit in one
transaction per window, so a retried or duplicated run applies nothing twice. Its
materializations carry the chain position (generation, last To), which is what the sensor
reads: the position lives in the Dagster event log and in the warehouse ledger, never only
in a cursor.

``incremental_export_sensor`` requests the next exports (idempotently: deterministic
ClientToken and S3 prefix per window), reports PITR gaps, and starts the apply run when the
next step is ready (one run key per step).
"""

from datetime import datetime
from typing import Optional

import dagster as dg

from ddb_assets.assets.metadata import table_metadata
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.incremental import duckdb_chain as dc
from ddb_assets.incremental.chain import ChainSpec, apply_ready, request_next
from ddb_assets.resources import AwsResource, WarehouseResource

SENSOR_NAME = "incremental_export_sensor"


def changes_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["athena", f"{t.name}_changes"])


def current_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["athena", f"{t.name}_current"])


def incremental_tables(cfg: ProjectConfig) -> list[TableConfig]:
    return [t for t in cfg.tables if t.incremental is not None and t.incremental.enabled]


def _position_metadata(state: dc.ChainState) -> dict:
    return {"chain_seeded": state.seeded, "chain_generation": state.generation,
            "chain_last_to": state.last_to.isoformat() if state.last_to else "",
            "chain_windows": len(state.windows(state.generation))}


def build_incremental_assets(cfg: ProjectConfig, t: TableConfig) -> dg.AssetsDefinition:
    engine = cfg.engine_for(t)
    database = cfg.athena_for(t).database
    spec = ChainSpec.from_config(cfg, t)

    @dg.multi_asset(
        name=f"{t.name}_change_history",
        specs=[
            dg.AssetSpec(changes_key(t), group_name=t.name, kinds={engine, "dynamodb"},
                         description=(f"`{database}.{t.name}_changes`: one row per changed item per "
                                      f"{t.incremental.window_minutes}-minute window (operation, write time, "
                                      "keys, typed new_/old_ values), partitioned by change_date.")),
            dg.AssetSpec(current_key(t), group_name=t.name, kinds={engine},
                         deps=[changes_key(t)],
                         description=(f"`{database}.{t.name}_current`: the table now, kept by MERGE-ing "
                                      "each window (deletes included).")),
        ],
        can_subset=False,
        pool="duckdb_warehouse" if engine == "duckdb" else None,
    )
    def _apply(context: dg.AssetExecutionContext, aws: AwsResource, warehouse: WarehouseResource):
        if engine != "duckdb":
            raise dg.Failure("the Athena engine's change history is generated SQL only "
                             "(ddb_assets.incremental.athena_sql) and not wired to a runner yet; "
                             "use engine: duckdb for this table")
        con = warehouse.connect()
        try:
            results = apply_ready(con, aws.client("dynamodb"), aws.client("s3"), spec)
            state = dc.read_chain_state(con, database, t.name)
            rows = {k: con.execute(f"SELECT count(*) FROM {q}").fetchone()[0]
                    for k, q in (("changes", dc.Names(database, t.name).changes),
                                 ("current", dc.Names(database, t.name).current))} if state.seeded else {}
            cols = dc._current_columns(con, dc.Names(database, t.name)) if state.seeded else []
        finally:
            con.close()
        for r in results:
            if r.gap:
                context.log.warning(r.gap)
            context.log.info(f"{r.kind} g{r.generation} -> {r.window_to.isoformat()}: "
                             f"{'applied ' + str(r.records) + ' records' if r.applied else r.skipped_reason}")
        applied = [r for r in results if r.applied]
        pos = _position_metadata(state)
        steps = dg.MetadataValue.json([{"kind": r.kind, "generation": r.generation,
                                        "from": r.window_from.isoformat() if r.window_from else None,
                                        "to": r.window_to.isoformat(), "records": r.records,
                                        "operations": r.operations, "gap": r.gap} for r in applied])
        yield dg.MaterializeResult(asset_key=changes_key(t), metadata={
            **table_metadata(table_name=f"{database}.{t.name}_changes", row_count=rows.get("changes", 0),
                             columns=[]), **pos, "applied": steps})
        yield dg.MaterializeResult(asset_key=current_key(t), metadata={
            **table_metadata(table_name=f"{database}.{t.name}_current", row_count=rows.get("current", 0),
                             columns=cols), **pos})

    return _apply


def _position(instance, t: TableConfig) -> tuple[bool, int, Optional[datetime]]:
    """The chain position recorded by the latest materialization of the change table."""
    res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=changes_key(t)), limit=1)
    if not res.records:
        return False, -1, None
    md = {k: getattr(v, "value", v) for k, v in res.records[0].asset_materialization.metadata.items()}
    last = md.get("chain_last_to") or None
    return bool(md.get("chain_seeded")), int(md.get("chain_generation", -1)), \
        datetime.fromisoformat(last) if last else None


def evaluate_incremental_tick(instance, cfg: ProjectConfig, ddb, s3):
    """One tick as a plain function: (run requests, messages)."""
    runs, messages = [], []
    for t in incremental_tables(cfg):
        seeded, gen, last_to = _position(instance, t)
        report = request_next(ddb, s3, ChainSpec.from_config(cfg, t), seeded=seeded, generation=gen,
                              last_to=last_to)
        if report.gap:
            messages.append(report.gap.message)
        messages += report.failed
        if report.ready:
            runs.append(dg.RunRequest(run_key=f"{t.name}:{report.ready}",
                                      asset_selection=[changes_key(t), current_key(t)]))
        elif report.waiting:
            messages.append(f"{t.name}: {report.waiting}")
    return runs, messages


def build_incremental_sensor(cfg: ProjectConfig) -> dg.SensorDefinition:
    tables = incremental_tables(cfg)

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=cfg.sensor.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(*[k for t in tables for k in (changes_key(t), current_key(t))]),
        description=("Requests each table's next incremental exports (windows ending at or before the "
                     "latest restorable time), reports PITR gaps, and applies a window once its "
                     "export is COMPLETED."),
    )
    def _sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
        runs, messages = evaluate_incremental_tick(context.instance, cfg, aws.client("dynamodb"),
                                                   aws.client("s3"))
        for m in messages:
            (context.log.warning if "gap" in m.lower() or "FAILED" in m else context.log.info)(m)
        if not runs:
            return dg.SkipReason("; ".join(messages) or "nothing to do")
        return dg.SensorResult(run_requests=runs)

    return _sensor
