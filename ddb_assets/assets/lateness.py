"""The export's lateness check (``export_on_time``), one definition for every source.

A day's export is late when its load was requested more than ``export_late_after_minutes``
(per table or source, default under ``defaults.ops``) after the export started:
DynamoDB's ``StartTime`` of DescribeExport, RDS's ``TaskStartTime`` of DescribeExportTasks.
The load request is when the sensor noticed the export COMPLETE, so the check catches a
slow export and a sensor that stopped looking alike.

The check is partitioned (one result per day) and runs in each load run, for the export that
run loads (the run's ``ddb_assets/export_arn`` tag; the load run's creation is when the
sensor requested it). Run by hand, it checks the day's latest reported export. It warns; it
never blocks the load.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg

from ddb_assets.assets.keys import EXPORT_ARN_TAG, partitioned_checks
from ddb_assets.resources import AwsResource

LATENESS_CHECK = "export_on_time"


@dataclass(frozen=True)
class ExportTimes:
    """When an export started (what lateness is measured from) and what else to show."""

    start: datetime | None
    metadata: dict = field(default_factory=dict)


def lateness(start: datetime | None, noticed: datetime | None, limit_minutes: int):
    """(on time?, minutes from the export's start to the sensor requesting its load)."""
    if start is None or noticed is None:
        return True, None
    minutes = round((noticed - start).total_seconds() / 60, 2)
    return minutes <= limit_minutes, minutes


def lateness_check_key(export_key: dg.AssetKey) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(export_key, LATENESS_CHECK)


def build_export_lateness_check(
    *,
    export_key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    limit_minutes: int,
    id_key: str,
    times_of: Callable[[AwsResource, str], ExportTimes],
    measured_from: str,
) -> dg.AssetChecksDefinition:
    """The ``export_on_time`` check of ``export_key``.

    ``id_key``: the metadata key naming the export on the export's materialization (and
    the value of the load run's ``ddb_assets/export_arn`` tag); ``times_of(aws, id)``
    describes that export; ``measured_from`` names its start in the description."""
    limit = limit_minutes

    decorate = dg.asset_check(
        asset=export_key,
        name=LATENESS_CHECK,
        partitions_def=partitions_def,
        description=(
            f"The export COMPLETED and its load was requested within {limit} minutes of "
            f"{measured_from} (`export_late_after_minutes`). Runs in each load run, for the "
            "export that run loads; run by hand, it checks the day's latest export."
        ),
    )

    def _check(context: dg.AssetCheckExecutionContext, aws: AwsResource) -> dg.AssetCheckResult:
        export_id = context.run.tags.get(EXPORT_ARN_TAG)
        noticed = None
        if export_id:  # a load run: the sensor requested it when it noticed the export COMPLETE
            record = context.instance.get_run_record_by_id(context.run.run_id)
            noticed = record.create_timestamp if record else None
        else:
            res = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=export_key, asset_partitions=[context.partition_key]
                ),
                limit=1,
            )
            if not res.records:
                return dg.AssetCheckResult(
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"no completed export is recorded for {context.partition_key}",
                )
            rec = res.records[0]
            export_id = getattr(rec.asset_materialization.metadata.get(id_key), "value", None)
            noticed = datetime.fromtimestamp(rec.timestamp, tz=timezone.utc)
        if not export_id:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"the export recorded for {context.partition_key} has no {id_key}",
            )
        times = times_of(aws, export_id)
        on_time, minutes = lateness(times.start, noticed, limit)
        return dg.AssetCheckResult(
            passed=on_time,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "minutes_to_load_request": dg.MetadataValue.float(minutes or 0.0),
                "limit_minutes": limit,
                id_key: export_id,
                **{k: v for k, v in times.metadata.items() if v is not None},
            },
            description=None
            if on_time
            else f"the export's load was requested {minutes} min after it started (limit {limit})",
        )

    with partitioned_checks():
        return decorate(_check)
