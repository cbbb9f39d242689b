"""The export of one day, in two assets so that Dagster's bookkeeping tells the truth.

- ``dynamodb/<table>/export_request`` is what a run materializes: the request DynamoDB
  accepted (ExportArn, ExportTime, S3 prefix). A click, a schedule tick or a backfill ends
  Succeeded as soon as DynamoDB has the request; it never waits for the export itself.
- ``dynamodb/<table>/export`` is the completed export: an external asset (no run computes
  it) whose partition materializations the export sensor reports when DynamoDB says
  COMPLETED, with the manifest's numbers, ``dagster/row_count`` and links to the request
  run and the load run. Its lateness check is reported with it.

So each asset's partition bar says one thing: which days were requested, which days are
exported, and (``athena/<table>/table``) which days are loaded.

The request is idempotent (deterministic ClientToken and S3 prefix), so retried,
overlapping or repeated runs never start a second export; ``force: true`` (``refresh
--force``) re-exports on purpose.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ddb_assets.assets.keys import (
    export_key,
    partition_date,
    partitions_def,
    request_key,
    tag_run,
)
from ddb_assets.assets.lateness import ExportTimes, build_export_lateness_check
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.dynamodb.exports import (
    ExportError,
    ExportRequest,
    ExportTimeOutsideWindowError,
    describe_export,
    request_export,
)
from ddb_assets.resources import AwsResource


class ExportRequestConfig(dg.Config):
    force: bool = False
    """Start a new export even if this partition already has one (a deliberate re-export)."""
    attempt: int = 0
    """Set by the sensor when it retries a FAILED export."""
    previous_export_arn: str | None = None
    """The FAILED export this attempt retries (its FailureCode is shown in the run)."""


def earliest_exportable_day(ddb, t: TableConfig) -> str | None:
    """The first day whose end lies inside the table's point-in-time recovery window."""
    try:
        desc = ddb.describe_continuous_backups(TableName=t.source_table)
    except Exception:  # noqa: BLE001 - only for the message; the refusal itself stays
        return None
    pitr = desc["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    earliest = pitr.get("EarliestRestorableDateTime")
    if not isinstance(earliest, datetime):
        return None
    local = earliest.astimezone(ZoneInfo(t.schedule.timezone))
    # Day D's export time is the start of day D+1, so D is exportable when that is >= earliest.
    midnight = local.time() == datetime.min.time()
    return (local.date() - timedelta(days=1 if midnight else 0)).isoformat()


def _request_description(t: TableConfig) -> str:
    return (
        f"Requests the point-in-time export of DynamoDB table `{t.source_table}` for a day "
        f"into `s3://{t.s3_bucket}/{t.s3_prefix}/{t.name}/<day>/` ({t.export_format}). "
        f"Partition D is the table as of the end of day D ({t.schedule.timezone}). "
        "The run ends when DynamoDB has accepted the request; "
        f"`dynamodb/{t.name}/export` shows when the export COMPLETED.\n\n"
        f"Only days inside the table's point-in-time recovery window can be exported (at "
        f"most the last {t.pitr_days} days, and none from before PITR was enabled); a day "
        "outside it is refused with the earliest exportable day."
    )


def build_export_request_asset(cfg: ProjectConfig, t: TableConfig) -> dg.AssetsDefinition:
    key = request_key(t)

    @dg.asset(
        key=key,
        partitions_def=partitions_def(t),
        group_name=t.name,
        kinds={"dynamodb"},
        owners=cfg.owners_for(t) or None,
        tags={"ddb_assets/table": t.name},
        # The schedule requests a day every day: no request for this long means it stopped.
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=cfg.freshness_hours_for(t))
        ),
        description=_request_description(t),
        metadata={
            "dynamodb_table": t.source_table,
            "s3_location": dg.MetadataValue.path(f"s3://{t.s3_bucket}/{t.s3_prefix}/{t.name}/"),
            "export_format": t.export_format,
            "pitr_days": t.pitr_days,
        },
    )
    def _request(context: dg.AssetExecutionContext, config: ExportRequestConfig, aws: AwsResource):
        tag_run(context, t)
        day = partition_date(context.partition_key)
        ddb = aws.client("dynamodb")
        if config.previous_export_arn:
            prev = describe_export(ddb, config.previous_export_arn)
            context.log.warning(
                f"export {prev.arn} FAILED: {prev.failure_code}: {prev.failure_message} "
                f"(attempt {config.attempt} of {t.max_export_retries + 1})"
            )
            if config.attempt > t.max_export_retries:
                raise dg.Failure(
                    description=(
                        f"DynamoDB export of {t.source_table!r} for {day} FAILED "
                        f"{config.attempt} time(s); last: {prev.failure_code}: "
                        f"{prev.failure_message}"
                    ),
                    metadata={
                        "failure_code": prev.failure_code or "",
                        "failure_message": prev.failure_message or "",
                        "export_arn": prev.arn,
                    },
                    allow_retries=False,
                )
        generation: int | str = config.attempt
        if config.force:
            generation = f"force:{context.run.run_id}"
        req = ExportRequest.for_partition(
            table_name=t.source_table,
            sql_name=t.name,
            partition=day,
            tz=t.schedule.timezone,
            s3_bucket=t.s3_bucket,
            base_prefix=t.s3_prefix,
            export_format=t.export_format,
            generation=generation,
        )
        try:
            outcome = request_export(
                ddb,
                aws.client("s3"),
                req,
                force=config.force,
                max_concurrent=t.max_concurrent_exports,
            )
        except ExportTimeOutsideWindowError as exc:
            first = None if exc.retryable else earliest_exportable_day(ddb, t)
            where = f"; the earliest exportable day is {first}" if first else ""
            raise dg.Failure(
                description=f"partition {day} is not exportable: {exc}{where}",
                metadata={"code": exc.code or "", "earliest_exportable_day": first or ""},
                allow_retries=exc.retryable,
            ) from exc
        except ExportError as exc:
            raise dg.Failure(
                description=str(exc), metadata={"code": exc.code or ""}, allow_retries=exc.retryable
            ) from exc
        d = outcome.export
        context.log.info(
            f"{'reusing' if outcome.reused else 'requested'} export {d.arn} ({d.status}) "
            f"of {t.source_table} as of {req.export_time.isoformat()} into "
            f"s3://{req.s3_bucket}/{req.s3_prefix}/"
        )
        return dg.MaterializeResult(
            metadata={
                "export_arn": d.arn,
                "export_status": d.status,
                "export_time": req.export_time.isoformat(),
                "client_token": req.client_token,
                "s3_prefix": dg.MetadataValue.path(f"s3://{req.s3_bucket}/{req.s3_prefix}/"),
                "attempt": config.attempt,
                "reused": outcome.reused,
                "force": config.force,
            }
        )

    return _request


def build_export_spec(cfg: ProjectConfig, t: TableConfig) -> dg.AssetSpec:
    """The completed export: external, reported by the export sensor."""
    return dg.AssetSpec(
        key=export_key(t),
        deps=[request_key(t)],
        partitions_def=partitions_def(t),
        group_name=t.name,
        kinds={"dynamodb", "s3"},
        owners=cfg.owners_for(t) or None,
        tags={"ddb_assets/table": t.name},
        description=(
            f"The completed point-in-time export of `{t.source_table}` for a day "
            f"(`s3://{t.s3_bucket}/{t.s3_prefix}/{t.name}/<day>/AWSDynamoDB/<ExportId>/`). "
            "Reported by `dynamodb_export_sensor` when DynamoDB says COMPLETED: ExportArn, "
            "item count (`dagster/row_count`), billed bytes, manifest and data URIs, and "
            "the request and load runs."
        ),
        metadata={
            "dagster/uri": dg.MetadataValue.path(f"s3://{t.s3_bucket}/{t.s3_prefix}/{t.name}/"),
            "dynamodb_table": t.source_table,
            "export_format": t.export_format,
        },
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=cfg.freshness_hours_for(t))
        ),
    )


def build_lateness_check(cfg: ProjectConfig, t: TableConfig) -> dg.AssetChecksDefinition:
    """``export_on_time`` from the export's StartTime (:mod:`ddb_assets.assets.lateness`)."""

    def times_of(aws: AwsResource, arn: str) -> ExportTimes:
        d = describe_export(aws.client("dynamodb"), arn)
        return ExportTimes(start=d.start_time)

    return build_export_lateness_check(
        export_key=export_key(t),
        partitions_def=partitions_def(t),
        limit_minutes=cfg.export_late_after_minutes_for(t),
        id_key="export_arn",
        times_of=times_of,
        measured_from="the export's start",
    )
