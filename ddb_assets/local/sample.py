"""A sample DynamoDB table for the local stack: a sushi restaurant's order log."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

MENUS = [
    "maguro",
    "salmon",
    "hamachi",
    "ebi",
    "ika",
    "tamago",
    "uni",
    "ikura",
    "anago",
    "kappa_maki",
]
PRICES = {
    "maguro": "3.5",
    "salmon": "2.75",
    "hamachi": "3.25",
    "ebi": "2.5",
    "ika": "2",
    "tamago": "1.5",
    "uni": "6.8",
    "ikura": "5.25",
    "anago": "4",
    "kappa_maki": "1.25",
}
TOPPINGS = ["wasabi", "ginger", "shiso", "negi", "ponzu", "mayo"]
NOTES = [
    "no wasabi",
    "extra ginger, please",
    'say "itadakimasu"',
    "アレルギー: えび",
    "line1\nline2",
    "",
]
JST = timezone(timedelta(hours=9))


def _iso(dt: datetime, rng: random.Random) -> str:
    if rng.random() < 0.5:
        local = dt.astimezone(JST)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+09:00"
    utc = dt.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sample_items(
    n_items: int = 3000, seed: int = 7, days: int = 3, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The items ``create_sample_table`` writes, in plain Python form (Decimal, set, bytes...)."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    seen: set[tuple[str, str]] = set()
    items: list[dict[str, Any]] = []
    span = max(1, int(days * 86_400_000))
    while len(items) < n_items:
        table_id = f"T{rng.randint(1, 30):02d}"
        when = now - timedelta(milliseconds=rng.randrange(span))
        stamp = _iso(when, rng)
        if (table_id, stamp) in seen:
            continue
        seen.add((table_id, stamp))
        menu = rng.choice(MENUS)
        item: dict[str, Any] = {
            "tableid": table_id,
            "datetime": stamp,
            "menu": menu,
            "quantity": Decimal(rng.randint(1, 5)),
        }
        if rng.random() < 0.6:
            item["price"] = Decimal(PRICES[menu])
        if rng.random() < 0.3:
            item["is_takeout"] = rng.random() < 0.5
        if rng.random() < 0.25:
            item["toppings"] = set(rng.sample(TOPPINGS, rng.randint(1, 3)))
        if rng.random() < 0.1:
            item["note"] = rng.choice(NOTES)
        if rng.random() < 0.2:
            item["options"] = {
                "wasabi": rng.random() < 0.7,
                "size": rng.choice(["regular", "large"]),
            }
        if rng.random() < 0.1:
            item["extras"] = [
                rng.choice(["miso_soup", "tea", "edamame"]),
                Decimal(rng.randint(1, 3)),
            ]
        if rng.random() < 0.05:
            item["coupon"] = None
        items.append(item)
    return items


def create_sample_table(
    dynamodb_client,
    table_name: str = "sushi_orders",
    n_items: int = 3000,
    seed: int = 7,
    days: int = 3,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Create the sushi order log table, enable PITR, write the items; return them (plain Python)."""
    from boto3.dynamodb.types import TypeSerializer

    dynamodb_client.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": "tableid", "KeyType": "HASH"},
            {"AttributeName": "datetime", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "tableid", "AttributeType": "S"},
            {"AttributeName": "datetime", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb_client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})
    dynamodb_client.update_continuous_backups(
        TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    items = sample_items(n_items=n_items, seed=seed, days=days, now=now)
    ser = TypeSerializer()
    for start in range(0, len(items), 25):
        requests = [
            {"PutRequest": {"Item": {k: ser.serialize(v) for k, v in item.items()}}}
            for item in items[start : start + 25]
        ]
        pending = {table_name: requests}
        while pending:
            resp = dynamodb_client.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
    return items


def seed_sample_tables(
    stack, tables, *, n_items: int = 3000, log: Callable[[str], None] = print
) -> dict[str, list[dict[str, Any]]]:
    """Fill a ``LocalAWS`` stack for the demo and ``ddb-assets dev``: per configured table,
    its export bucket and the sample order log; returns the items written per table.

    The items are written with the stack's clock 4 days back, so that point-in-time
    recovery covers yesterday and yesterday's partition is exportable.
    """
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    now = datetime.now(timezone.utc)
    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    written: dict[str, list[dict[str, Any]]] = {}
    for t in tables:
        if t.s3_bucket not in buckets:
            s3.create_bucket(Bucket=t.s3_bucket)
            buckets.add(t.s3_bucket)
        stack.set_now(now - timedelta(days=4))
        try:
            written[t.name] = create_sample_table(
                ddb,
                table_name=t.source_table,
                n_items=n_items,
                days=3,
                now=now - timedelta(days=1, hours=1),
            )
        finally:
            stack.reset_clock()
        log(
            f"DynamoDB table {t.source_table}: {len(written[t.name])} sample items; "
            f"exports go to s3://{t.s3_bucket}/{t.s3_prefix}/"
        )
    return written
