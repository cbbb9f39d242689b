"""Asset keys and partitions per configured table: one source of naming for the layer."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ddb_assets.config import TableConfig


def export_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["dynamodb", t.name, "export"])


def table_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["athena", t.name])


def summary_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["summaries", name])


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def partitions_def(t: TableConfig) -> dg.DailyPartitionsDefinition:
    """Daily partitions in the table's time zone; the newest is yesterday (a whole day)."""
    tz = t.schedule.timezone
    if t.partitions_start:
        start = t.partitions_start
    else:
        today = datetime.now(ZoneInfo(tz)).date()
        start = (today - timedelta(days=t.pitr_days)).isoformat()
    return dg.DailyPartitionsDefinition(start_date=start, timezone=tz)


def partition_date(key: str) -> date:
    return date.fromisoformat(key)
