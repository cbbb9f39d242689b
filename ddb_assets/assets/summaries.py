"""``summaries/<name>``: one asset per ``.sql`` file, its upstream read from the SQL.

The SQL is Athena's dialect. On DuckDB it is transpiled and the table replaced inside one
transaction; on Athena a CTAS writes a new versioned location and the Glue table is swapped
to it in one catalog write. A summary refreshes after its tables get a new snapshot
(eager automation; the tables' blocking checks are decided by the load) and carries a freshness policy.

Each materialization records the snapshot(s) it read (``source_snapshots``: the day each
upstream table served). The automation refreshes a summary when the newest snapshot of
a table it reads changes; loading an older day (a backfill) leaves the served snapshot,
and so the summary, unchanged, and the table's materialization says so. Checks declared
in the file's header (``-- check: row_count > 0``, ``-- check: unique(a, b)``) run after
each build.
"""

from datetime import timedelta

import dagster as dg

from ddb_assets.assets.keys import TABLE_TAG, summary_key, typed_table_key
from ddb_assets.assets.metadata import attempt_id, query_metadata, table_metadata
from ddb_assets.config import ProjectConfig
from ddb_assets.engines import Engine, engine_class
from ddb_assets.summaries import SummarySpec, load_summaries
from ddb_assets.summaries.checks import HeaderCheck

# Refresh when the newest snapshot of a table it reads changes. The table's blocking checks
# are decided by the load itself, before the snapshot is committed (a failing check fails the
# load, so no materialization appears). Dagster 1.13's all_deps_blocking_checks_passed() does
# not see results of partitioned checks (it never turns true for them), so it is not used.
AUTOMATION = dg.AutomationCondition.eager()


def _upstream_key(cfg: ProjectConfig, name: str) -> dg.AssetKey:
    """A project table's key (DynamoDB or RDS: both are typed tables), else a summary's."""
    return typed_table_key(name) if name in cfg.typed_table_names() else summary_key(name)


def build_summary_asset(cfg: ProjectConfig, spec: SummarySpec) -> dg.AssetsDefinition:
    tables = cfg.typed_table_names()
    deps = [
        # A summary reads the latest snapshot (the table's view): the last partition.
        dg.AssetDep(typed_table_key(d), partition_mapping=dg.LastPartitionMapping())
        if d in tables
        else dg.AssetDep(summary_key(d))
        for d in spec.deps
    ]
    engine_cls = engine_class(cfg)  # the tables' engine (the config refuses mixed engines)
    place = cfg.defaults.athena
    database = place.database
    hours = spec.freshness_hours or cfg.freshness_hours_for(None)
    owners = list(spec.owners) or list(cfg.defaults.ops.owners or [])
    key = summary_key(spec.name)
    check_specs = [
        dg.AssetCheckSpec(
            c.name,
            asset=key,
            blocking=True,
            description=f"`-- check: {c.text}` ({spec.path.name} line {c.line}), run after each build.",
        )
        for c in spec.checks
    ]

    @dg.asset(
        key=key,
        deps=deps,
        check_specs=check_specs,
        group_name="summaries",
        kinds={engine_cls.NAME, "sql"},
        description=(spec.description or f"Summary built from {spec.path.name}.")
        + f"\n\n```sql\n{spec.sql}\n```",
        owners=owners or None,
        automation_condition=AUTOMATION,
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours)),
        metadata={
            "sql_file": str(spec.path),
            "dagster/table_name": f"{database}.{spec.name}",
        },
        pool=engine_cls.POOL,
    )
    def _summary(context: dg.AssetExecutionContext, engine: Engine) -> dg.MaterializeResult:
        snapshots = _source_snapshots(context.instance, cfg, spec)
        tables = sorted({d for d in spec.deps if d in cfg.typed_table_names()})
        if tables and TABLE_TAG not in context.run.tags:  # the run list filters by table
            context.instance.add_run_tags(context.run.run_id, {TABLE_TAG: ", ".join(tables)})
        result = engine.build_summary(spec, place, attempt_id(context))
        check_results = _run_checks(
            spec, result.row_count, database, lambda sql: engine.count(sql, place)
        )
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
        if snapshots:
            md["source_snapshots"] = dg.MetadataValue.json(snapshots)
            md["built_from"] = dg.MetadataValue.text(
                ", ".join(f"{k} @ {v}" for k, v in sorted(snapshots.items()))
            )
        return dg.MaterializeResult(metadata=md, check_results=check_results)

    return _summary


def _source_snapshots(instance, cfg: ProjectConfig, spec: SummarySpec) -> dict[str, str]:
    """The snapshot day each project table this summary reads serves (latest view)."""
    out: dict[str, str] = {}
    names = cfg.typed_table_names()
    for dep in spec.deps:
        if dep not in names:
            continue
        key = typed_table_key(dep)
        res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1)
        if not res.records:
            out[key.to_user_string()] = "no snapshot loaded"
            continue
        md = res.records[0].asset_materialization.metadata
        served = md.get("served_snapshot_date") or md.get("snapshot_date")
        out[key.to_user_string()] = str(getattr(served, "value", served))
    return out


def _run_checks(spec: SummarySpec, row_count: int, database: str, query) -> list:
    results = []
    for c in spec.checks:
        results.append(_check_result(c, spec, row_count, database, query))
    return results


def _check_result(c: HeaderCheck, spec, row_count, database, query) -> dg.AssetCheckResult:
    if c.kind == "row_count":
        return dg.AssetCheckResult(
            check_name=c.name,
            passed=c.passed_row_count(row_count),
            metadata={"row_count": row_count, "check": c.text},
            description=None if c.passed_row_count(row_count) else f"row_count is {row_count}",
        )
    bad = int(query(c.violations_sql(database, spec.name)))
    what = "duplicated key combinations" if c.kind == "unique" else "rows with a NULL"
    return dg.AssetCheckResult(
        check_name=c.name,
        passed=bad == 0,
        metadata={"violations": bad, "check": c.text},
        description=None if bad == 0 else f"{bad} {what} in {', '.join(c.columns)}",
    )


def build_summary_assets(cfg: ProjectConfig) -> list[dg.AssetsDefinition]:
    folder = cfg.summaries_path()
    if folder is None or not folder.exists():
        return []
    specs = load_summaries(
        folder, cfg.typed_table_names(), cfg.defaults.athena.database, cfg.occupied_names()
    )
    for spec in specs:  # e.g. a function DuckDB lacks: an error now, not after a load
        engine_class(cfg).check_summary(spec)
    return [build_summary_asset(cfg, s) for s in specs]
