"""``dynamodb/<table>/export``: requests the partition's point-in-time export.

Materializing a partition *asks* DynamoDB for the export and returns at once; nothing is
marked materialized yet. The request is logged as an observation (ExportArn, attempt) on
the asset, and the export sensor reports the materialization when DynamoDB says the export
COMPLETED. The request is idempotent (deterministic ClientToken and S3 prefix), so retried,
overlapping or repeated runs never start a second export; ``force: true`` re-exports.
"""

import dagster as dg

from ddb_assets.assets.keys import export_key, partition_date, partitions_def
from ddb_assets.config import TableConfig
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


def build_export_asset(t: TableConfig) -> dg.AssetsDefinition:
    key = export_key(t)

    @dg.asset(
        key=key,
        partitions_def=partitions_def(t),
        group_name=t.name,
        kinds={"dynamodb", "s3"},
        output_required=False,
        description=(
            f"Point-in-time export of DynamoDB table `{t.source_table}` to "
            f"`s3://{t.s3_bucket}/{t.s3_prefix}/{t.name}/<day>/` ({t.export_format}). "
            "Partition D is the table as of the end of day D "
            f"({t.schedule.timezone}). Requesting returns at once; the export sensor "
            "records the materialization when DynamoDB reports the export COMPLETED."
        ),
        metadata={
            "dynamodb_table": t.source_table,
            "s3_bucket": t.s3_bucket,
            "export_format": t.export_format,
        },
    )
    def _export(context: dg.AssetExecutionContext, config: ExportRequestConfig, aws: AwsResource):
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
        generation = config.attempt
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
            raise dg.Failure(
                description=f"partition {day} is not exportable: {exc}",
                metadata={"code": exc.code or ""},
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
        # Yield the observation and no output: the asset is a generator that produces no
        # value, so the partition is not marked materialized until the sensor says so.
        yield dg.AssetObservation(
            asset_key=key,
            partition=context.partition_key,
            metadata={
                "export_arn": d.arn,
                "export_status": d.status,
                "export_time": req.export_time.isoformat(),
                "client_token": req.client_token,
                "s3_prefix": f"s3://{req.s3_bucket}/{req.s3_prefix}/",
                "attempt": config.attempt,
                "reused": outcome.reused,
            },
        )

    return _export
