"""A sample MySQL database for the local stack: the sushi shop's menu, next to the DynamoDB
order log (:mod:`ddb_assets.local.sample`). ``shop.menu_items.menu`` is the order log's
``menu``, so a summary can join what was ordered with what it costs.

:func:`seed_sample_rds` creates what an RDS source needs on the local stack (the export
bucket, the IAM role and KMS key the export uses, the DB instance backed by MariaDB), writes
the schema and rows through the server, and takes yesterday's automated snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ddb_assets.local.sample import MENUS, PRICES

SCHEMA = """
CREATE TABLE menu_items (
    menu        VARCHAR(32)  NOT NULL PRIMARY KEY,
    name_ja     VARCHAR(64)  NOT NULL,
    category    ENUM('nigiri', 'gunkan', 'maki', 'other') NOT NULL,
    price       DECIMAL(8,2) NOT NULL,
    cost        DECIMAL(8,2) NULL,
    vegetarian  BOOL         NOT NULL DEFAULT 0,
    allergens   SET('fish', 'shellfish', 'egg', 'soy', 'wheat') NULL,
    details     JSON         NULL,
    sold_since  DATE         NULL,
    updated_at  DATETIME(6)  NOT NULL
)
"""
NAMES = {
    "maguro": ("鮪", "nigiri", "fish"),
    "salmon": ("鮭", "nigiri", "fish"),
    "hamachi": ("鰤", "nigiri", "fish"),
    "ebi": ("海老", "nigiri", "shellfish"),
    "ika": ("烏賊", "nigiri", "shellfish"),
    "tamago": ("玉子", "nigiri", "egg,soy"),
    "uni": ("雲丹", "gunkan", "shellfish"),
    "ikura": ("いくら", "gunkan", "fish,soy"),
    "anago": ("穴子", "nigiri", "fish,soy,wheat"),
    "kappa_maki": ("かっぱ巻", "maki", None),
}


def menu_rows() -> list[tuple]:
    rows = []
    for i, menu in enumerate(MENUS):
        name, category, allergens = NAMES[menu]
        price = PRICES[menu]
        rows.append(
            (
                menu,
                name,
                category,
                price,
                None if menu == "uni" else f"{float(price) * 0.4:.2f}",
                int(menu == "kappa_maki"),
                allergens,
                f'{{"pieces": {1 if category == "gunkan" else 2}, "seasonal": {str(menu == "uni").lower()}}}',
                f"2020-0{1 + i % 9}-15",
                datetime(2024, 1, 1, 12, 0, i, 123456),
            )
        )
    return rows


def seed_sample_rds(stack, src, *, log: Callable[[str], None] = print, day=None) -> dict[str, str]:
    """Create the RDS source ``src`` (an :class:`~ddb_assets.config.RdsSourceConfig`) on the
    local stack with the sample menu, and day ``day``'s automated snapshot (default:
    yesterday in the source's time zone). Returns the role and key ARNs the export needs."""
    from ddb_assets.local.rds.setup import (
        create_cluster,
        create_export_key,
        create_export_role,
        create_instance,
    )

    s3 = stack.client("s3")
    if src.s3_bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=src.s3_bucket)
    role = create_export_role(stack.client("iam"), src.s3_bucket, name=f"{src.name}-rds-export")
    key = create_export_key(stack.client("kms"), alias=f"alias/{src.name}-rds-export")
    if src.is_cluster:  # Aurora MySQL: one server for the cluster, a writer instance in it
        create_cluster(
            stack.client("rds"),
            src.identifier,
            db_name="shop",
            backup_retention_days=src.retention_days,
        )
        connect = stack.rds.connect_cluster
    else:
        create_instance(
            stack.client("rds"),
            src.identifier,
            db_name="shop",
            engine="mariadb",
            backup_retention_days=src.retention_days,
        )
        connect = stack.rds.connect
    with connect(src.identifier, "shop") as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        cur.executemany(
            "INSERT INTO menu_items VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", menu_rows()
        )
    tz = ZoneInfo(src.schedule.timezone)
    day = day or (datetime.now(tz).date() - timedelta(days=1))
    at = datetime.combine(day, time(3, 0), tzinfo=tz).astimezone(timezone.utc)
    if src.is_cluster:
        snap = stack.rds.take_automated_cluster_snapshot(src.identifier, at=at)
    else:
        snap = stack.rds.take_automated_snapshot(src.identifier, at=at)
    what = "Aurora cluster" if src.is_cluster else "RDS instance"
    log(
        f"{what} {src.identifier} (MariaDB): shop.menu_items with {len(MENUS)} rows; "
        f"automated snapshot {snap} for {day}; exports go to s3://{src.s3_bucket}/{src.s3_prefix}/"
    )
    return {"iam_role_arn": role, "kms_key_arn": key}
