"""``summaries/<name>``: one asset per ``.sql`` file, its upstream read from the SQL.

The SQL is Athena's dialect. On DuckDB it is transpiled and the table replaced inside one
transaction; on Athena a CTAS writes a new versioned location and the Glue table is swapped
to it in one catalog write. A summary refreshes after its tables get a new snapshot
(eager automation, gated on the tables' blocking checks) and carries a freshness policy.
"""

from datetime import timedelta

import dagster as dg

from ddb_assets.assets.keys import summary_key, table_key
from ddb_assets.assets.metadata import attempt_id, query_metadata, table_metadata
from ddb_assets.config import ProjectConfig
from ddb_assets.engines import Engine, engine_class
from ddb_assets.summaries import SummarySpec, load_summaries

DEFAULT_FRESHNESS_HOURS = 26  # a daily table, plus time for the export to land

AUTOMATION = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)


def _upstream_key(cfg: ProjectConfig, name: str) -> dg.AssetKey:
    return table_key(cfg.table(name)) if name in {t.name for t in cfg.tables} else summary_key(name)


def build_summary_asset(cfg: ProjectConfig, spec: SummarySpec) -> dg.AssetsDefinition:
    tables = {t.name for t in cfg.tables}
    deps = [
        # A summary reads the latest snapshot (the table's view): the last partition.
        dg.AssetDep(table_key(cfg.table(d)), partition_mapping=dg.LastPartitionMapping())
        if d in tables
        else dg.AssetDep(summary_key(d))
        for d in spec.deps
    ]
    engine_cls = engine_class(cfg)  # the tables' engine (the config refuses mixed engines)
    place = cfg.defaults.athena
    hours = spec.freshness_hours or DEFAULT_FRESHNESS_HOURS

    @dg.asset(
        key=summary_key(spec.name),
        deps=deps,
        group_name="summaries",
        kinds={engine_cls.NAME, "sql"},
        description=(spec.description or f"Summary built from {spec.path.name}.")
        + f"\n\n```sql\n{spec.sql}\n```",
        owners=list(spec.owners) or None,
        automation_condition=AUTOMATION,
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours)),
        metadata={"sql_file": str(spec.path)},
        pool=engine_cls.POOL,
    )
    def _summary(context: dg.AssetExecutionContext, engine: Engine) -> dg.MaterializeResult:
        result = engine.build_summary(spec, place, attempt_id(context))
        lineage = {
            col: [(_upstream_key(cfg, tbl), c) for tbl, c in deps_]
            for col, deps_ in result.column_lineage.items()
        }
        # The open-source UI does not draw dagster/column_lineage; say it in each
        # column's description too, so the Columns table shows where values come from.
        sources = {
            col: "from " + ", ".join(f"{k.to_user_string()}.{c}" for k, c in deps_)
            for col, deps_ in lineage.items()
            if deps_
        }
        md = table_metadata(
            table_name=result.table_name,
            row_count=result.row_count,
            columns=result.columns,
            uri=result.location,
            lineage=lineage,
            column_descriptions=sources,
        )
        md.update(
            query_metadata(
                query_ids=result.query_ids,
                bytes_scanned=result.bytes_scanned,
                elapsed_ms=result.elapsed_ms,
            )
        )
        md["sql"] = dg.MetadataValue.md(f"```sql\n{result.sql}\n```")
        md["preview"] = dg.MetadataValue.md(result.preview or "(no rows)")
        return dg.MaterializeResult(metadata=md)

    return _summary


def build_summary_assets(cfg: ProjectConfig) -> list[dg.AssetsDefinition]:
    folder = cfg.summaries_path()
    if folder is None or not folder.exists():
        return []
    specs = load_summaries(
        folder, {t.name for t in cfg.tables}, cfg.defaults.athena.database, cfg.occupied_names()
    )
    return [build_summary_asset(cfg, s) for s in specs]
