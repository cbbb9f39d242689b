"""An RDS source in the asset graph (issue 20), in the RDS instance's group::

    rds/<source>/export_request  ->  rds/<source>/export  ->  athena/<table> (one per table)

- ``export_request`` (a run materializes it): the export task RDS accepted for day D's
  snapshot (deterministic ExportTaskIdentifier; an existing export is reused; ``force``
  re-exports on purpose). It never waits for the export.
- ``export`` (external): the COMPLETE export, reported by ``rds_export_sensor``.
- ``athena/<table>``: one typed table per exported source table, all loaded by one run per
  export (a ``multi_asset``); each keeps one snapshot per day plus the latest view. Its
  blocking checks (the export reports the table COMPLETE; rows equal the export's
  statistics) are decided before the day becomes visible; schema drift is a warning.

The work is in :mod:`ddb_assets.rds`; the engines load or register the tables.
"""

from datetime import timedelta

import dagster as dg

from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    TABLE_TAG,
    partition_date,
    partitioned_checks,
    rds_export_key,
    rds_partitions_def,
    rds_request_key,
    rds_table_key,
)
from ddb_assets.assets.lateness import (
    ExportTimes,
    build_export_lateness_check,
    lateness_check_key,
)
from ddb_assets.assets.metadata import attempt_id, query_metadata, table_metadata
from ddb_assets.config import ProjectConfig, RdsSourceConfig, RdsTable
from ddb_assets.engines import Engine, engine_class
from ddb_assets.rds import naming
from ddb_assets.rds.exports import (
    COMPLETE,
    ExportError,
    ExportRequest,
    describe_export_task,
    request_export,
)
from ddb_assets.rds.load import read_exported_tables, skipped_message, table_export
from ddb_assets.rds.metadata import ExportMetadataError
from ddb_assets.rds.snapshots import automated_snapshot_for, manual_snapshot_for
from ddb_assets.resources import AwsResource
from ddb_assets.tables.checks import SnapshotCheckError

EXPORTED_CHECK = "exported_complete"
ROW_COUNT_CHECK = "row_count_matches_export"
DRIFT_CHECK = "schema_drift"


class RdsExportRequestConfig(dg.Config):
    force: bool = False
    """Start a new export even if this day already has one (a deliberate re-export)."""
    attempt: int = 0
    """Set by the sensor when it retries a FAILED or CANCELED export."""
    previous_export_id: str | None = None
    """The export this attempt retries (its FailureCause is shown in the run)."""


def _tags(src: RdsSourceConfig) -> dict[str, str]:
    return {TABLE_TAG: src.name}


def _freshness(cfg: ProjectConfig, src: RdsSourceConfig) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=cfg.freshness_hours_for(src)))


def export_identifier(src: RdsSourceConfig, day, generation) -> str:
    return naming.export_task_identifier(src.identifier, day, generation)


def build_rds_request_asset(cfg: ProjectConfig, src: RdsSourceConfig) -> dg.AssetsDefinition:
    what = "Aurora cluster" if src.is_cluster else "DB instance"
    prefix = naming.export_s3_prefix(src.s3_prefix, src.name)

    @dg.asset(
        key=rds_request_key(src),
        partitions_def=rds_partitions_def(src),
        group_name=src.name,
        kinds={"rds", "s3"},
        owners=cfg.owners_for(src) or None,
        tags=_tags(src),
        freshness_policy=_freshness(cfg, src),
        # A snapshot still being created, or the account's export limit: ask again later.
        retry_policy=dg.RetryPolicy(max_retries=3, delay=600),
        description=(
            f"Requests the export of RDS {what} `{src.identifier}` ({src.db_engine}) for a day: "
            f"the {src.snapshot} snapshot of day D ({src.schedule.timezone}) goes to "
            f"`s3://{src.s3_bucket}/{prefix}/<ExportTaskIdentifier>/` (tables "
            f"{', '.join(src.export_only())}). The run ends when RDS accepted the request; "
            f"`rds/{src.name}/export` shows when the export is COMPLETE."
        ),
        metadata={
            "rds_identifier": src.identifier,
            "snapshot": src.snapshot,
            "export_only": ", ".join(src.export_only()),
            "s3_location": dg.MetadataValue.path(f"s3://{src.s3_bucket}/{prefix}/"),
        },
    )
    def _request(
        context: dg.AssetExecutionContext, config: RdsExportRequestConfig, aws: AwsResource
    ):
        day = partition_date(context.partition_key)
        rds = aws.client("rds")
        if config.previous_export_id:
            prev = describe_export_task(rds, config.previous_export_id)
            cause = prev.failure_cause if prev else "unknown"
            context.log.warning(
                f"export {config.previous_export_id} ended {prev.status if prev else '?'}: {cause} "
                f"(attempt {config.attempt} of {src.max_export_retries + 1})"
            )
            if config.attempt > src.max_export_retries:
                raise dg.Failure(
                    description=f"RDS export of {src.identifier} for {day} failed "
                    f"{config.attempt} time(s); last: {cause}",
                    metadata={"export_id": config.previous_export_id, "failure_cause": cause or ""},
                    allow_retries=False,
                )
        generation: int | str = config.attempt
        if config.force:
            generation = f"force:{context.run.run_id}"
        req = ExportRequest(
            identifier=export_identifier(src, day, generation),
            s3_bucket=src.s3_bucket,
            s3_prefix=prefix,
            iam_role_arn=src.iam_role_arn,
            kms_key_arn=src.kms_key_arn,
            export_only=tuple(src.export_only()),
            source=src.name,
            max_concurrent=src.max_concurrent_exports,
        )
        pick = automated_snapshot_for if src.snapshot == "automated" else manual_snapshot_for
        try:
            outcome = request_export(
                rds,
                req,
                lambda: pick(
                    rds, src.identifier, day, src.schedule.timezone, cluster=src.is_cluster
                ),
                force=config.force,
            )
        except ExportError as exc:
            raise dg.Failure(
                description=str(exc), metadata={"code": exc.code or ""}, allow_retries=exc.retryable
            ) from exc
        e = outcome.export
        context.log.info(
            f"{'reusing' if outcome.reused else 'requested'} export {e.identifier} ({e.status}) "
            f"of {outcome.snapshot_arn} into s3://{req.s3_bucket}/{e.root_key}"
        )
        return dg.MaterializeResult(
            metadata={
                "export_id": e.identifier,
                "export_status": e.status,
                "snapshot_arn": outcome.snapshot_arn or "",
                "s3_prefix": dg.MetadataValue.path(f"s3://{req.s3_bucket}/{e.root_key}"),
                "attempt": config.attempt,
                "reused": outcome.reused,
                "force": config.force,
            }
        )

    return _request


def build_rds_export_spec(cfg: ProjectConfig, src: RdsSourceConfig) -> dg.AssetSpec:
    prefix = naming.export_s3_prefix(src.s3_prefix, src.name)
    return dg.AssetSpec(
        key=rds_export_key(src),
        deps=[rds_request_key(src)],
        partitions_def=rds_partitions_def(src),
        group_name=src.name,
        kinds={"rds", "s3"},
        owners=cfg.owners_for(src) or None,
        tags=_tags(src),
        freshness_policy=_freshness(cfg, src),
        description=(
            f"The COMPLETE snapshot export of `{src.identifier}` for a day "
            f"(`s3://{src.s3_bucket}/{prefix}/<ExportTaskIdentifier>/`, Parquet). Reported by "
            "`rds_export_sensor` when DescribeExportTasks says COMPLETE: the export's tables "
            "and their status (export_tables_info), the snapshot, and the load run. Its "
            "`export_on_time` check (one result per day) runs in each load run."
        ),
        metadata={"dagster/uri": dg.MetadataValue.path(f"s3://{src.s3_bucket}/{prefix}/")},
    )


def build_rds_lateness_check(cfg: ProjectConfig, src: RdsSourceConfig) -> dg.AssetChecksDefinition:
    """``export_on_time`` of ``rds/<source>/export``: the DynamoDB check's code and meaning,
    measured from the export task's ``TaskStartTime`` (not the snapshot's time: see
    docs/rds.md, "Lateness")."""

    def times_of(aws: AwsResource, export_id: str) -> ExportTimes:
        e = describe_export_task(aws.client("rds"), export_id)
        if e is None:
            return ExportTimes(start=None, metadata={"export_status": "not found"})
        took = None
        if e.start_time and e.end_time:
            took = dg.MetadataValue.float(
                round((e.end_time - e.start_time).total_seconds() / 60, 2)
            )
        return ExportTimes(
            start=e.start_time,
            metadata={
                "task_start_time": e.start_time.isoformat() if e.start_time else None,
                "task_end_time": e.end_time.isoformat() if e.end_time else None,
                "export_minutes": took,
                "snapshot_time": e.snapshot_time.isoformat() if e.snapshot_time else None,
            },
        )

    return build_export_lateness_check(
        export_key=rds_export_key(src),
        partitions_def=rds_partitions_def(src),
        limit_minutes=cfg.export_late_after_minutes_for(src),
        id_key="export_id",
        times_of=times_of,
        measured_from="the export task's start (TaskStartTime)",
    )


def rds_load_check_keys(src: RdsSourceConfig) -> list[dg.AssetCheckKey]:
    """The checks a load run of ``src`` executes: every table's, and the export's lateness."""
    return [
        *(
            dg.AssetCheckKey(rds_table_key(t), name)
            for t in src.typed_tables()
            for name in (EXPORTED_CHECK, ROW_COUNT_CHECK, DRIFT_CHECK)
        ),
        lateness_check_key(rds_export_key(src)),
    ]


def _export_of_run(context, rds, src: RdsSourceConfig, partition: str) -> str:
    """The export this run loads: the run's tag (the sensor's load run), else the day's
    latest reported export (a run launched by hand)."""
    export_id = context.run.tags.get(EXPORT_ARN_TAG)
    if export_id:
        return export_id
    res = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=rds_export_key(src), asset_partitions=[partition]), limit=1
    )
    if not res.records:
        raise dg.Failure(
            f"no COMPLETE export is recorded for {src.name} [{partition}]: materialize "
            f"rds/{src.name}/export_request for this day and let rds_export_sensor see it complete"
        )
    md = res.records[0].asset_materialization.metadata
    return str(getattr(md["export_id"], "value", md["export_id"]))


def build_rds_tables_asset(cfg: ProjectConfig, src: RdsSourceConfig) -> dg.AssetsDefinition:
    tables = {rds_table_key(t): t for t in src.typed_tables()}
    engine_cls = engine_class(cfg)
    place = cfg.athena_for(src)
    parts = rds_partitions_def(src)
    specs, checks = [], []
    for key, t in tables.items():
        specs.append(
            dg.AssetSpec(
                key=key,
                deps=[rds_export_key(src)],
                partitions_def=parts,
                group_name=src.name,
                owners=cfg.owners_for(src) or None,
                tags={TABLE_TAG: t.name},
                kinds=set(engine_cls.TABLE_KINDS),
                freshness_policy=_freshness(cfg, src),
                description=(
                    f"Typed table `{place.database}.{t.name}` ({engine_cls.NAME}): the latest "
                    f"snapshot of `{t.source}` on RDS `{src.identifier}`, one `snapshot_date` per "
                    f"day in `{place.database}.{t.name}__snapshots`. Column descriptions say "
                    "what each MySQL type became."
                ),
                metadata={
                    "dagster/table_name": f"{place.database}.{t.name}",
                    "rds_table": t.source,
                },
            )
        )
        with partitioned_checks():
            checks += [
                dg.AssetCheckSpec(
                    EXPORTED_CHECK,
                    asset=key,
                    partitions_def=parts,
                    blocking=True,
                    description="The export reports this table COMPLETE (not skipped or failed).",
                ),
                dg.AssetCheckSpec(
                    ROW_COUNT_CHECK,
                    asset=key,
                    partitions_def=parts,
                    blocking=True,
                    description="Rows in the snapshot equal the export's statistics.",
                ),
                dg.AssetCheckSpec(
                    DRIFT_CHECK,
                    asset=key,
                    partitions_def=parts,
                    description="Warns when columns appear, disappear or change type.",
                ),
            ]

    @dg.multi_asset(
        name=f"rds__{src.name}__tables",
        specs=specs,
        check_specs=checks,
        can_subset=True,
        pool=engine_cls.POOL,
    )
    def _tables(context: dg.AssetExecutionContext, aws: AwsResource, engine: Engine):
        partition = context.partition_key
        day = partition_date(partition)
        rds, s3 = aws.client("rds"), aws.client("s3")
        export_id = _export_of_run(context, rds, src, partition)
        e = describe_export_task(rds, export_id)
        if e is None or e.status != COMPLETE:
            raise dg.Failure(f"export {export_id} of {src.name} [{partition}] is not COMPLETE")
        try:
            exported = read_exported_tables(s3, e)
        except ExportMetadataError as exc:
            raise dg.Failure(f"export {export_id}: {exc}") from exc
        failures = []
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            t = tables[key]
            st = exported.status(t.source)
            if st is None or st.status != COMPLETE:
                msg = (
                    skipped_message(export_id, st)
                    if st
                    else f"export {export_id} does not list {t.source}"
                )
                yield dg.AssetCheckResult(
                    asset_key=key, check_name=EXPORTED_CHECK, passed=False, description=msg
                )
                failures.append(msg)
                continue
            try:
                te, batches = table_export(s3, exported, t.source)
                res = engine.load_rds_table(
                    place, t.name, te, batches, day, run_id=attempt_id(context)
                )
            except SnapshotCheckError as exc:
                yield dg.AssetCheckResult(asset_key=key, check_name=EXPORTED_CHECK, passed=True)
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name=exc.check,
                    passed=False,
                    description=str(exc),
                    metadata={k: str(v) for k, v in exc.metadata.items()},
                )
                failures.append(str(exc))
                continue
            except ExportMetadataError as exc:
                failures.append(str(exc))
                continue
            yield _materialization(key, t, place.database, export_id, te, res)
        if failures:
            raise dg.Failure(
                f"{len(failures)} table(s) of export {export_id} not loaded (the others are):\n"
                + "\n".join(failures)
            )

    return _tables


def _materialization(key, t: RdsTable, database, export_id, te, res) -> dg.MaterializeResult:
    md = table_metadata(
        table_name=f"{database}.{t.name}",
        row_count=res.row_count,
        columns=[(c.column, c.type.canonical()) for c in res.columns],
        uri=res.uri,
        column_descriptions={c.column: c.description for c in res.columns},
    )
    md.update(query_metadata(query_ids=res.query_ids, bytes_scanned=res.bytes_scanned))
    served = res.latest_snapshot_date or res.snapshot_date
    md.update(
        {
            "export_id": export_id,
            "rds_table": t.source,
            "snapshot_date": res.snapshot_date.isoformat(),
            "served_snapshot_date": served.isoformat(),
            "export_rows": te.footer_rows,
            "column_to_source": dg.MetadataValue.json({c.column: c.source for c in res.columns}),
            "schema_changes": dg.MetadataValue.json([s.__dict__ for s in res.schema_changes]),
        }
    )
    changes = res.schema_changes
    return dg.MaterializeResult(
        asset_key=key,
        metadata=md,
        check_results=[
            dg.AssetCheckResult(asset_key=key, check_name=EXPORTED_CHECK, passed=True),
            dg.AssetCheckResult(
                asset_key=key,
                check_name=ROW_COUNT_CHECK,
                passed=True,  # decided before the commit: a mismatch never gets here
                metadata={"rows": res.row_count, "export_rows": te.footer_rows},
            ),
            dg.AssetCheckResult(
                asset_key=key,
                check_name=DRIFT_CHECK,
                passed=not changes,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"summary": ", ".join(f"{s.kind} {s.column}" for s in changes) or "none"},
            ),
        ],
    )


def build_rds_schedule(src: RdsSourceConfig) -> dg.ScheduleDefinition:
    from ddb_assets.schedules import partition_for_tick

    tz = src.schedule.timezone

    @dg.schedule(
        name=f"{src.name}_daily_rds_export",
        cron_schedule=src.schedule.cron,
        execution_timezone=tz,
        target=dg.AssetSelection.assets(rds_request_key(src)),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Requests yesterday's snapshot export of {src.identifier} ({tz}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        partition = partition_for_tick(context.scheduled_execution_time, tz)
        return dg.RunRequest(
            run_key=f"rds:{src.name}:{partition}", partition_key=partition, tags=_tags(src)
        )

    return _schedule
