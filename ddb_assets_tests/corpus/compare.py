"""Compare one query's result on Trino with its result on the DuckDB engine.

Column types: Trino's type names (from its client protocol) and DuckDB's (from the cursor)
are both put in Trino's spelling and compared whole, recursively (``array(decimal(38, 2))``).
What is left out of a type, and why:

* ``varchar(n)`` / ``char(n)`` lengths: Trino types a literal ``'abc'`` as ``varchar(3)``;
  DuckDB has no lengths. The values decide.
* the precision of ``timestamp(p)`` / ``timestamp(p) with time zone``: DuckDB keeps
  microseconds, Trino's is per expression (3 for our data). Values are compared at Trino's
  precision, which a difference in fraction digits cannot pass.

DuckDB types Trino does not have (HUGEINT, UBIGINT, ...) keep their DuckDB name, so they
never match.

Values, by the column's Trino type:

* decimals exactly (``Decimal``), integers exactly;
* ``double`` within a relative 1e-12 (and absolute 1e-12 near zero), ``real`` within 1e-6;
  both NaN counts as equal;
* ``timestamp with time zone`` as instants (Trino prints each value in its own zone; DuckDB
  keeps the instant only, see ``ddb_assets.sql.transpile``);
* ``json`` parsed (numbers as decimals), so key order and spacing do not count;
* ``varbinary`` as bytes, maps as dicts with typed keys, rows as tuples.

Rows are compared in order when the statement's outermost query has ORDER BY (corpus
queries order by a unique key), otherwise as multisets.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

# ---------------------------------------------------------------------------------------
# Types


def _split_top(text: str) -> list[str]:
    """Split ``a, b(c, d), e`` at top-level commas."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def trino_type(text: str) -> str:
    """Trino's type name, canonical: lengths and timestamp precisions dropped."""
    t = text.strip()
    low = t.lower()
    m = re.fullmatch(r"(array|map|row)\((.*)\)", t, flags=re.S | re.I)
    if m:
        kind, inner = m.group(1).lower(), m.group(2)
        parts = _split_top(inner)
        if kind == "row":
            fields = []
            for p in parts:
                name, _, ty = p.strip().partition(" ")
                fields.append(f"{name.strip(chr(34)).lower()} {trino_type(ty)}")
            return f"row({', '.join(fields)})"
        return f"{kind}({', '.join(trino_type(p) for p in parts)})"
    if low.startswith(("varchar", "char")):
        return "varchar"
    m = re.fullmatch(r"timestamp(\(\d+\))?( with time zone)?", low)
    if m:
        return "timestamp" + (m.group(2) or "")
    m = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", low)
    if m:
        return f"decimal({m.group(1)}, {m.group(2)})"
    return low


_DUCK_SCALARS = {
    "VARCHAR": "varchar",
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "BLOB": "varbinary",
    "JSON": "json",
    "UUID": "uuid",
    "TIME": "time",
}


def duckdb_type(text: str) -> str:
    """A DuckDB type name in Trino's spelling (see :func:`trino_type`)."""
    t = text.strip()
    if t.endswith("[]"):
        return f"array({duckdb_type(t[:-2])})"
    m = re.fullmatch(r"MAP\((.*)\)", t, flags=re.S)
    if m:
        k, v = _split_top(m.group(1))
        return f"map({duckdb_type(k)}, {duckdb_type(v)})"
    m = re.fullmatch(r"STRUCT\((.*)\)", t, flags=re.S)
    if m:
        fields = []
        for p in _split_top(m.group(1)):
            if p.startswith('"'):
                end = p.index('"', 1)
                name, ty = p[1:end], p[end + 1 :]
            else:
                name, _, ty = p.partition(" ")
            fields.append(f"{name.lower()} {duckdb_type(ty)}")
        return f"row({', '.join(fields)})"
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return f"decimal({m.group(1)}, {m.group(2)})"
    return _DUCK_SCALARS.get(t.upper(), t.upper())


# ---------------------------------------------------------------------------------------
# Values

_TZ_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (.+)$")


def _parse_naive(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _trino_instant(text: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    m = _TZ_RE.match(text)
    if not m:
        raise ValueError(f"not a Trino timestamp with time zone: {text!r}")
    wall = dt.datetime.fromisoformat(m.group(1))
    zone = m.group(2)
    if re.fullmatch(r"[+-]\d{2}:\d{2}", zone):
        sign = 1 if zone[0] == "+" else -1
        h, mi = int(zone[1:3]), int(zone[4:6])
        tz: dt.tzinfo = dt.timezone(sign * dt.timedelta(hours=h, minutes=mi))
    else:
        tz = ZoneInfo(zone)
    return wall.replace(tzinfo=tz).astimezone(dt.timezone.utc)


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ("json", json.loads(text, parse_float=Decimal, parse_int=Decimal))
    except ValueError:  # Trino's json_array_get sends a string element unquoted
        return ("text", text)


def _canon_json(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _canon_json(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_canon_json(x) for x in v)
    if isinstance(v, Decimal):
        return v.normalize() if v == v else v
    return v


def trino_value(v: Any, ty: str) -> Any:
    """A value from Trino (its client protocol's JSON text, or the Python client's objects)
    as a comparable Python value."""
    if v is None:
        return None
    if ty.startswith("array("):
        inner = _split_top(ty[6:-1])[0]
        return [trino_value(x, inner) for x in v]
    if ty.startswith("map("):
        k, val = _split_top(ty[4:-1])
        return {
            trino_value(_key_text(kk, k) if isinstance(kk, str) else kk, k): trino_value(x, val)
            for kk, x in v.items()
        }
    if ty.startswith("row("):
        types = [f.partition(" ")[2] for f in _split_top(ty[4:-1])]
        return tuple(trino_value(x, t) for x, t in zip(v, types))
    if ty.startswith("decimal"):
        return Decimal(v)
    if ty in ("double", "real"):
        return float(v)
    if ty == "timestamp with time zone":
        if isinstance(v, dt.datetime):
            return v.astimezone(dt.timezone.utc)
        return _trino_instant(v)
    if ty == "timestamp":
        return v if isinstance(v, dt.datetime) else _parse_naive(v)
    if ty == "date":
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(v)
    if ty == "varbinary":
        return bytes(v) if isinstance(v, (bytes, bytearray)) else base64.b64decode(v)
    if ty == "json":
        return _json_value(v)
    return v


def _key_text(k: str, ty: str) -> Any:
    """Trino sends map keys as JSON object keys (text); numbers and booleans need parsing."""
    if ty in ("integer", "bigint", "smallint", "tinyint"):
        return int(k)
    if ty == "boolean":
        return k == "true"
    return k


def duckdb_value(v: Any, ty: str) -> Any:
    """A value from DuckDB's Python client as a comparable Python value."""
    if v is None:
        return None
    if ty.startswith("array("):
        inner = _split_top(ty[6:-1])[0]
        return [duckdb_value(x, inner) for x in v]
    if ty.startswith("map("):
        k, val = _split_top(ty[4:-1])
        if isinstance(v, dict) and set(v) == {"key", "value"} and isinstance(v["key"], list):
            items = zip(v["key"], v["value"])
        else:
            items = v.items()
        return {duckdb_value(kk, k): duckdb_value(x, val) for kk, x in items}
    if ty.startswith("row("):
        types = [f.partition(" ")[2] for f in _split_top(ty[4:-1])]
        vals = list(v.values()) if isinstance(v, dict) else list(v)
        return tuple(duckdb_value(x, t) for x, t in zip(vals, types))
    if ty == "timestamp with time zone":
        return v.astimezone(dt.timezone.utc)
    if ty == "varbinary":
        return bytes(v)
    if ty == "json":
        return _json_value(v)
    if ty in ("double", "real"):
        return float(v)
    return v


def values_equal(a: Any, b: Any, ty: str) -> bool:
    """``a`` (Trino) equals ``b`` (DuckDB) for a column of Trino type ``ty``."""
    if a is None or b is None:
        return a is None and b is None
    if ty.startswith("array("):
        inner = _split_top(ty[6:-1])[0]
        return len(a) == len(b) and all(values_equal(x, y, inner) for x, y in zip(a, b))
    if ty.startswith("map("):
        _, val = _split_top(ty[4:-1])
        return a.keys() == b.keys() and all(values_equal(a[k], b[k], val) for k in a)
    if ty.startswith("row("):
        types = [f.partition(" ")[2] for f in _split_top(ty[4:-1])]
        return len(a) == len(b) and all(values_equal(x, y, t) for x, y, t in zip(a, b, types))
    if ty in ("double", "real"):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        tol = 1e-6 if ty == "real" else 1e-12
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    if ty == "json":
        return a[0] == b[0] and _canon_json(a[1]) == _canon_json(b[1])
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(a) == Decimal(b)
    return a == b


def _sort_key(row: Sequence[Any]) -> tuple:
    return tuple((x is None, repr(x)) for x in row)


# ---------------------------------------------------------------------------------------
# One query


@dataclass
class Result:
    columns: list[str]
    types: list[str]  # canonical, Trino spelling
    rows: list[tuple]


@dataclass
class Verdict:
    agrees: bool
    reason: str = ""


def is_ordered(sql: str) -> bool:
    tree = sqlglot.parse_one(sql, read="athena")
    return bool(tree.args.get("order")) and isinstance(tree, (exp.Select, exp.Union, exp.Query))


def compare(trino: Result, duck: Result, *, ordered: bool) -> Verdict:
    if len(trino.types) != len(duck.types):
        return Verdict(False, f"{len(trino.types)} columns on Trino, {len(duck.types)} on DuckDB")
    for i, (a, b) in enumerate(zip(trino.types, duck.types)):
        if a != b:
            return Verdict(False, f"column {i + 1} ({trino.columns[i]}): Trino {a}, DuckDB {b}")
    if len(trino.rows) != len(duck.rows):
        return Verdict(False, f"{len(trino.rows)} rows on Trino, {len(duck.rows)} on DuckDB")
    ra, rb = trino.rows, duck.rows
    if not ordered:
        ra, rb = sorted(ra, key=_sort_key), sorted(rb, key=_sort_key)
    for n, (x, y) in enumerate(zip(ra, rb)):
        for i, ty in enumerate(trino.types):
            if not values_equal(x[i], y[i], ty):
                return Verdict(
                    False,
                    f"row {n + 1}, column {trino.columns[i]} ({ty}): Trino {x[i]!r}, DuckDB {y[i]!r}",
                )
    return Verdict(True)


def trino_result(columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence]) -> Result:
    canon = [trino_type(t) for t in types]
    return Result(
        list(columns),
        canon,
        [tuple(trino_value(v, t) for v, t in zip(r, canon)) for r in rows],
    )


def duckdb_result(cursor: Any) -> Result:
    cols = [d[0] for d in cursor.description]
    canon = [duckdb_type(str(d[1])) for d in cursor.description]
    rows = cursor.fetchall()
    return Result(cols, canon, [tuple(duckdb_value(v, t) for v, t in zip(r, canon)) for r in rows])
