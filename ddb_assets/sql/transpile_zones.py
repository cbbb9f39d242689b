"""Time zones that Trino keeps per value and DuckDB does not.

A Trino ``timestamp with time zone`` carries its zone: ``from_iso8601_timestamp('…+09:00')``
is shown, truncated, formatted and split into fields in +09:00. DuckDB's TIMESTAMPTZ is an
instant only. Where the zone is visible in the SQL itself, the transpiler carries it along
in the node's ``meta``:

* ``meta['wall']``: the value's wall-clock time in its own zone (a DuckDB TIMESTAMP), and
  ``meta['zone_text']``: Trino's name of that zone (``UTC`` or ``+09:00``). Set on
  ``from_iso8601_timestamp(s)`` (from the offset written in ``s``) and kept by
  ``date_trunc``. Field functions, ``date_trunc``, ``format_datetime``, ``date_format``,
  ``to_iso8601``, ``timezone_hour``/``timezone_minute`` and ``CAST`` to varchar /
  timestamp / date read the wall clock. A value that went through a CTE column or a
  subquery has lost its zone here and is read in UTC (documented in ``transpile.py``).
* ``meta['zone']``: on the naive wall-clock value DuckDB gives for ``x AT TIME ZONE z`` /
  ``at_timezone(x, z)``: the zone ``z``. Selected as an output column, such a value is
  turned back into the instant (a TIMESTAMPTZ), the type Trino returns.
"""

from __future__ import annotations

from sqlglot import exp

from ddb_assets.sql._sqlgen import _TZ, _dd, _type_of

_OFFSET_AT_END = r"(T[0-9:.,]*)([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_NUMERIC_OFFSET = r"T[0-9:.,]*[+-][0-9]{2}(:?[0-9]{2})?$"
ISO_MS = "'%Y-%m-%d %H:%M:%S.%g'"


def utc_wall_clock(x: exp.Expr) -> exp.Expr:
    """An instant as its UTC wall-clock time, whatever the DuckDB session zone."""
    if _type_of(x) == _TZ:
        return _dd("timezone('UTC', __x__)", "TIMESTAMP", x=x)
    return x


def wall_of(x: exp.Expr) -> exp.Expr:
    """The wall-clock time Trino would show for ``x`` (its own zone when known, else UTC)."""
    wall = x.meta.get("wall") if x.meta else None
    if wall is not None:
        return wall.copy()
    return utc_wall_clock(x)


def zone_text_of(x: exp.Expr) -> exp.Expr:
    z = x.meta.get("zone_text") if x.meta else None
    return z.copy() if z is not None else exp.Literal.string("UTC")


def remember_iso_zone(new: exp.Expr, text: exp.Expr) -> exp.Expr:
    """Attach the wall clock and zone name written in ISO 8601 string ``text`` to ``new``."""
    wall = _dd(
        "date_trunc('millisecond', CAST(regexp_replace(__s__, '"
        + _OFFSET_AT_END
        + "', '\\1') AS TIMESTAMP))",
        "TIMESTAMP",
        s=text,
    )
    minutes = _dd("date_diff('minute', timezone('UTC', __i__), __w__)", i=new, w=wall)
    zone = _dd(
        "CASE WHEN regexp_matches(__s__, '" + _NUMERIC_OFFSET + "') THEN "
        "printf('%s%02d:%02d', CASE WHEN __m__ < 0 THEN '-' ELSE '+' END, "
        "abs(__m__) // 60, abs(__m__) % 60) ELSE 'UTC' END",
        "VARCHAR",
        s=text,
        m=minutes,
    )
    new.meta["wall"] = wall
    new.meta["zone_text"] = zone
    return new


def keep_zone(new: exp.Expr, old: exp.Expr, wall: exp.Expr) -> exp.Expr:
    if old.meta and "zone_text" in old.meta:
        new.meta["wall"] = wall
        new.meta["zone_text"] = old.meta["zone_text"]
    return new


def has_own_zone(x: exp.Expr) -> bool:
    return bool(x.meta) and "wall" in x.meta


def iso_offset(x: exp.Expr) -> exp.Expr:
    """'Z' or '+09:00' as ``to_iso8601`` prints the zone of ``x``."""
    return _dd(
        "CASE WHEN __z__ = 'UTC' THEN 'Z' ELSE __z__ END",
        "VARCHAR",
        z=zone_text_of(x),
    )


def tz_to_varchar(x: exp.Expr) -> exp.Expr:
    return _dd(
        f"strftime(__w__, {ISO_MS}) || ' ' || __z__",
        "VARCHAR",
        w=wall_of(x),
        z=zone_text_of(x),
    )


def zone_offset_minutes(x: exp.Expr) -> exp.Expr:
    return _dd("date_diff('minute', timezone('UTC', __x__), __w__)", "BIGINT", x=x, w=wall_of(x))


# Field functions: applied to the wall clock of a value with a zone.
FIELD_NODES = (
    exp.Year,
    exp.Month,
    exp.Day,
    exp.Hour,
    exp.Minute,
    exp.Second,
    exp.DayOfWeekIso,
    exp.DayOfWeek,
    exp.DayOfYear,
    exp.WeekOfYear,
    exp.Week,
    exp.Quarter,
)


def field_of_wall(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.Extract):
        arg = node.expression
        if _type_of(arg) != _TZ:
            return None
        extract = node.copy()
        extract.set("expression", wall_of(arg))
        return extract
    arg = node.this
    if _type_of(arg) != _TZ:
        return None
    new = node.copy()
    new.set("this", wall_of(arg))
    return new


def timezone_hour_minute(unit: str):
    def handler(node: exp.Anonymous) -> exp.Expr:
        (x,) = node.expressions
        m = zone_offset_minutes(x)
        if unit == "hour":
            return _dd("CAST(trunc(__m__ / 60) AS BIGINT)", "BIGINT", m=m)
        return _dd("CAST(__m__ - trunc(__m__ / 60) * 60 AS BIGINT)", "BIGINT", m=m)

    return handler


def cast_from_tz(node: exp.Cast) -> exp.Expr | None:
    """CAST of a timestamp with time zone to varchar / timestamp / date, in its zone."""
    x = node.this
    if _type_of(x) != _TZ:
        return None
    to = node.args["to"]
    if not isinstance(to, exp.DataType):
        return None
    if to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        return tz_to_varchar(x)
    if not has_own_zone(x):
        return None
    if to.this == exp.DataType.Type.DATE:
        return _dd("CAST(__w__ AS DATE)", "DATE", w=wall_of(x))
    if to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):
        return _dd("CAST(__w__ AS TIMESTAMP)", "TIMESTAMP", w=wall_of(x))
    return None


def output_instants(tree: exp.Expr) -> exp.Expr:
    """Output columns that are AT TIME ZONE wall clocks become instants, as in Trino."""
    selects = [tree] if isinstance(tree, exp.Select) else []
    if isinstance(tree, exp.SetOperation):
        selects = [s for s in tree.find_all(exp.Select) if s.parent_select is None]
    for sel in selects:
        for i, proj in enumerate(sel.expressions):
            inner = proj.this if isinstance(proj, exp.Alias) else proj
            zone = inner.meta.get("zone") if inner.meta else None
            if zone is None:
                continue
            inst = _dd("timezone(__z__, __w__)", "TIMESTAMPTZ", z=zone, w=inner)
            if isinstance(proj, exp.Alias):
                proj.set("this", inst)
            else:
                name = proj.output_name or f"_col{i}"  # Trino's name for an unnamed column
                inner.replace(exp.Alias(this=inst, alias=exp.to_identifier(name)))
    return tree
