"""Daily schedules: at the table's cron time (04:00 Asia/Tokyo by default) request
yesterday's export partition, i.e. the table as of the end of the previous day."""

from datetime import datetime, timedelta

import dagster as dg

from ddb_assets.assets.keys import request_key, table_tags
from ddb_assets.config import TableConfig


def partition_for_tick(scheduled: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return (scheduled.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)).isoformat()


def build_export_schedule(t: TableConfig) -> dg.ScheduleDefinition:
    key = request_key(t)
    tz = t.schedule.timezone

    @dg.schedule(
        name=f"{t.name}_daily_export",
        cron_schedule=t.schedule.cron,
        execution_timezone=tz,
        target=dg.AssetSelection.assets(key),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Requests yesterday's export of {t.source_table} at '{t.schedule.cron}' ({tz}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        partition = partition_for_tick(context.scheduled_execution_time, tz)
        return dg.RunRequest(
            run_key=f"{t.name}:{partition}", partition_key=partition, tags=table_tags(t)
        )

    return _schedule
