"""Asset keys, partitions and run tags per configured table: one source of naming for the layer.

Per table T the chain reads, in the asset graph::

    dynamodb/T/export_request  ->  dynamodb/T/export  ->  athena/T/table  ->  summaries/<name>

``export_request`` is what a run materializes (the request DynamoDB accepted);
``export`` is the completed export, an external asset that the export sensor reports.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ddb_assets import table_names
from ddb_assets.config import RdsSourceConfig, RdsTable, TableConfig

# Run tags the Dagster layer sets (the run list filters on them).
TABLE_TAG = "ddb_assets/table"
EXPORT_ARN_TAG = "ddb_assets/export_arn"
# Event tags on the export's materialization: the runs it came from and led to.
REQUEST_RUN_TAG = "ddb_assets/request_run"
LOAD_RUN_TAG = "ddb_assets/load_run"


def request_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["dynamodb", t.name, "export_request"])


def export_key(t: TableConfig) -> dg.AssetKey:
    return dg.AssetKey(["dynamodb", t.name, "export"])


def typed_table_key(name: str) -> dg.AssetKey:
    """The key of a typed SQL table (a DynamoDB table's or an RDS table's): one layer."""
    return dg.AssetKey(list(table_names.table_asset_path(name)))


def table_key(t: TableConfig) -> dg.AssetKey:
    return typed_table_key(t.name)


# RDS sources (issue 20): rds/<source>/export_request -> rds/<source>/export -> athena/<table>
def rds_request_key(src: RdsSourceConfig) -> dg.AssetKey:
    return dg.AssetKey(["rds", src.name, "export_request"])


def rds_export_key(src: RdsSourceConfig) -> dg.AssetKey:
    return dg.AssetKey(["rds", src.name, "export"])


def rds_table_key(t: RdsTable) -> dg.AssetKey:
    return typed_table_key(t.name)


def rds_load_run_key(export_id: str) -> str:
    """The run key of the load of one RDS export (all its tables): never launched twice."""
    return f"rds-load:{export_id}"


def rds_partitions_def(src: RdsSourceConfig) -> dg.DailyPartitionsDefinition:
    """Daily partitions in the source's time zone, back to the backup retention period."""
    tz = src.schedule.timezone
    start = (
        src.partitions_start
        or (datetime.now(ZoneInfo(tz)).date() - timedelta(days=src.retention_days)).isoformat()
    )
    return dg.DailyPartitionsDefinition(start_date=start, timezone=tz)


def legacy_table_key(t: TableConfig) -> dg.AssetKey:
    """The typed table's key before the rename: its materializations still prove loads."""
    return dg.AssetKey(list(table_names.legacy_table_asset_path(t.name)))


def table_keys_with_history(t: TableConfig) -> tuple[dg.AssetKey, dg.AssetKey]:
    """The keys whose materializations record the table's loads, newest naming first."""
    return table_key(t), legacy_table_key(t)


def summary_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["summaries", name])


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def load_run_key(export_arn: str) -> str:
    """The run key of the load of one export: the daemon never launches it twice."""
    return f"load:{export_arn}"


def table_tags(t: TableConfig) -> dict[str, str]:
    return {TABLE_TAG: t.name}


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


def tag_run(context, t: TableConfig) -> None:
    """Put the table tag on the current run, however it was launched (a click in the
    UI, a backfill, a schedule or a sensor), so the run list can filter by table."""
    if context.run.tags.get(TABLE_TAG) != t.name:
        context.instance.add_run_tags(context.run.run_id, table_tags(t))


@contextmanager
def partitioned_checks():
    """Declare partitioned asset checks (one result per day) without Dagster 1.13's
    preview warning: we use them on purpose, so it would only be noise in every log."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Specifying a partitions_def on an AssetCheckSpec",
            category=dg.PreviewWarning,
        )
        yield
