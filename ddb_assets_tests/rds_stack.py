"""Test helper: the local stack with one RDS instance ``shop-db`` (a real MariaDB server),
an export bucket, role and KMS key, and the project config of source ``shop`` over it."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from ddb_assets.config import parse_config
from ddb_assets.local import LocalAWS
from ddb_assets.local.rds.setup import create_export_key, create_export_role, create_instance


@contextmanager
def rds_stack(bucket: str, export_seconds: float = 0.3):
    with LocalAWS(export_seconds=export_seconds, rds=True) as s:
        s.client("s3").create_bucket(Bucket=bucket)
        s.role_arn = create_export_role(s.client("iam"), bucket)  # type: ignore[attr-defined]
        s.key_arn = create_export_key(s.client("kms"))  # type: ignore[attr-defined]
        create_instance(s.client("rds"), "shop-db", db_name="shop", backup_retention_days=35)
        yield s


def point_env_at(stack, monkeypatch):
    """This process's environment pointing at the stack (``DDB_ASSETS_ENV=local``)."""
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DDB_ASSETS_ENV", "local")
    return stack


def shop_config(stack, tmp_path, bucket: str, tables, **source):
    """Source ``shop`` (instance shop-db, MariaDB, UTC days) on the DuckDB engine."""
    today = dt.datetime.now(dt.timezone.utc).date()
    return parse_config(
        {
            "warehouse": str(tmp_path / "w.duckdb"),
            "summaries_dir": None,
            "defaults": {"athena": {"database": "sushi"}},
            "rds": [
                {
                    "name": "shop",
                    "instance": "shop-db",
                    "db_engine": "mariadb",
                    "tables": tables,
                    "s3_bucket": bucket,
                    "iam_role_arn": stack.role_arn,
                    "kms_key_arn": stack.key_arn,
                    "schedule": {"timezone": "UTC"},
                    "partitions_start": (today - dt.timedelta(days=30)).isoformat(),
                    **source,
                }
            ],
        }
    )
