"""The corpus's sample export: two DynamoDB tables written as DynamoDB writes them.

``orders`` carries every type the type mapping produces (S, N with and without fractions,
negative N, BOOL, B, SS, NS, M, L, NULL, an attribute seen with two types, attributes
missing from some items) and the values users query: ISO timestamps with ``Z``, numeric
offsets, fractions and no offset; dates; epoch seconds; JSON kept as a string attribute
(one of them not JSON); e-mail addresses, phone numbers, empty and non-ASCII strings.
``customers`` is the dimension the joins use. Items come from a fixed seed, so every run
sees the same export.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random

SNAPSHOT_DATE = dt.date(2024, 6, 30)
N_ORDERS = 240
N_CUSTOMERS = 24

_STATUSES = ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "returned"]
_CHANNELS = ["web", "ios", "android", "store"]
_TAGS = ["gift", "sale", "express", "fragile", "bulk", "vip", "eco"]
_CITIES = ["Tokyo", "Osaka", "Sapporo", "New York", "Berlin", "São Paulo"]
_SKUS = ["SKU-001", "SKU-002", "SKU-010", "SKU-105", "SKU-999"]
_OFFSETS = ["Z", "+09:00", "-05:00", "+05:30", ""]
_NOTES = ["", "leave at door", "Call before delivery!", "置き配希望", "N/A", "  padded  "]
_TIERS = ["gold", "silver", "bronze", None]


def _s(v: str) -> dict:
    return {"S": v}


def _n(v) -> dict:
    return {"N": str(v)}


def _created(rnd: random.Random, i: int) -> str:
    base = dt.datetime(2024, 5, 25, 0, 0, 0) + dt.timedelta(minutes=rnd.randrange(0, 36 * 24 * 60))
    # the day boundaries matter: some orders sit minutes around midnight UTC and JST
    if i % 17 == 0:
        base = base.replace(hour=23, minute=59, second=59)
    if i % 19 == 0:
        base = base.replace(hour=15, minute=0, second=0)  # midnight in Tokyo
    off = _OFFSETS[i % len(_OFFSETS)]
    frac = ["", ".5", ".123", ".000"][i % 4]
    return base.strftime("%Y-%m-%dT%H:%M:%S") + frac + off


def _payload(rnd: random.Random, i: int) -> str:
    if i % 53 == 0:
        return "not json {"
    items = [
        {"sku": rnd.choice(_SKUS), "price": round(rnd.uniform(1, 80), 2), "qty": rnd.randint(1, 4)}
        for _ in range(rnd.randint(0, 3))
    ]
    doc: dict = {
        "device": rnd.choice(["ios", "android", "web", None]),
        "version": f"{rnd.randint(1, 18)}.{rnd.randint(0, 9)}",
        "items": items,
        "utm": {"source": rnd.choice(["google", "newsletter", "direct"]), "campaign": None},
        "score": rnd.choice([0, 1, 2.5, -1, 10]),
        "beta": rnd.choice([True, False]),
    }
    if i % 7 == 0:
        doc.pop("utm")
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def orders(n: int = N_ORDERS) -> list[dict]:
    rnd = random.Random(20240630)
    out = []
    for i in range(1, n + 1):
        qty = rnd.randint(1, 12)
        price = rnd.choice(["0.99", "12.50", "7.25", "100.00", "19.99", "3.3", "1234.56"])
        item: dict = {
            "order_id": _s(f"o{i:04d}"),
            "customer_id": _s(f"c{rnd.randint(1, N_CUSTOMERS):02d}"),
            "status": _s(_STATUSES[rnd.randrange(len(_STATUSES))]),
            "created_at": _s(_created(rnd, i)),
            "qty": _n(qty),
            "unit_price": _n(price),
            "total": _n(f"{(qty * float(price)):.2f}"),
            "discount_rate": _n(rnd.choice(["0", "0.05", "0.125", "0.0825", "0.3333"])),
            "temperature_c": _n(rnd.choice(["-18.5", "4", "21.0", "-0.5", "3.75"])),
            "updated_epoch": _n(1717200000 + rnd.randrange(0, 30 * 86400)),
            "paid": {"BOOL": rnd.random() < 0.7},
            "email": _s(
                rnd.choice(["alice", "Bob.Smith", "carol+shop", "dave_99", "eve"])
                + "@"
                + rnd.choice(["example.com", "mail.example.co.jp", "EXAMPLE.org"])
            ),
            "payload": _s(_payload(rnd, i)),
        }
        if i % 5:
            item["channel"] = _s(_CHANNELS[i % len(_CHANNELS)])
        if i % 3 == 0:
            item["ship_date"] = _s((dt.date(2024, 6, 1) + dt.timedelta(days=i % 29)).isoformat())
        if i % 4 != 1:
            item["gift"] = {"BOOL": i % 4 == 2}
        if i % 6:
            item["note"] = _s(_NOTES[i % len(_NOTES)])
        if i % 2:
            k = rnd.randint(1, 3)
            item["tags"] = {"SS": sorted(rnd.sample(_TAGS, k))}
        if i % 3:
            item["ratings"] = {
                "NS": sorted({str(rnd.choice([1, 2, 3, 4, 5, 4.5, 3.5])) for _ in range(3)})
            }
        if i % 4:
            item["address"] = {
                "M": {
                    "city": _s(rnd.choice(_CITIES)),
                    "zip": _s(f"{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}"),
                }
            }
            item["lines"] = {"L": [_s(rnd.choice(_SKUS)), _n(rnd.randint(1, 5))]}
        if i % 10 == 0:
            item["cancel_reason"] = {"NULL": True}
        elif i % 10 == 5:
            item["cancel_reason"] = _s("customer request")
        # an attribute seen with two types: a string column plus ref__type
        if i % 8 == 0:
            item["ref"] = _n(1000 + i)
        elif i % 8 == 4:
            item["ref"] = _s(f"R-{i}")
        if i % 9 == 0:
            item["thumb"] = {"B": base64.b64encode(bytes([i % 256, 0, 255, 7])).decode()}
        if i % 11 == 0:
            item["phone"] = _s(rnd.choice(["+81-90-1234-5678", "03 1234 5678", "(212) 555-0100"]))
        out.append(item)
    return out


def customers(n: int = N_CUSTOMERS) -> list[dict]:
    rnd = random.Random(7)
    out = []
    for i in range(1, n + 1):
        item: dict = {
            "customer_id": _s(f"c{i:02d}"),
            "name": _s(rnd.choice(["Aiko", "Ben", "Chloé", "Daichi", "Emma", "Farid"]) + f" {i}"),
            "signup_date": _s((dt.date(2022, 1, 1) + dt.timedelta(days=37 * i)).isoformat()),
            "credit_limit": _n(rnd.choice(["500", "1000.00", "2500.5", "0"])),
            "country": _s(rnd.choice(["JP", "US", "DE", "BR"])),
        }
        tier = _TIERS[i % len(_TIERS)]
        if tier is not None:
            item["tier"] = _s(tier)
        out.append(item)
    return out


TABLES = {"orders": orders, "customers": customers}
