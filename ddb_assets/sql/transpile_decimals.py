"""Trino's decimal (and integer) result types, found missing by the differential corpus.

Each numeric node of the annotated Athena tree gets its Trino type in
``node.meta['tdec']`` (``("dec" | "int", p, s)``) before the rewrite; the handlers cast
DuckDB's results to it and divide exactly.

Decimal typing follows Trino's documented rules (``decimal(p, s)``; integers count as
``decimal(10, 0)`` / ``decimal(19, 0)``; a literal ``1.50`` is ``decimal(3, 2)``):

* ``a + b``, ``a - b``: ``decimal(min(38, 1 + max(s1, s2) + max(p1 - s1, p2 - s2)), max(s1, s2))``
* ``a * b``: ``decimal(min(38, p1 + p2), s1 + s2)``
* ``a / b``: ``decimal(min(38, p1 + s2 + max(0, s2 - s1)), max(s1, s2))``, rounded half up
  (DuckDB divides decimals in DOUBLE: here the division is exact, in integers)
* ``a % b``: ``decimal(min(p2 - s2, p1 - s1) + max(s1, s2), max(s1, s2))``
* ``avg(decimal(p, s))``: ``decimal(p, s)``, rounded half up (DuckDB: DOUBLE)
* ``round(x, n)``: ``decimal(p + 1, s)``; ``round(x)``, ``floor``, ``ceil``: ``decimal(p - s + min(s, 1), 0)``;
  ``truncate(x)``: ``decimal(p - s, 0)``; ``sign(x)``: ``decimal(1, 0)``
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ddb_assets.sql._sqlgen import _dd

# Trino decimal types, computed on the annotated Athena tree before the rewrite

_INT_DIGITS = {
    exp.DataType.Type.TINYINT: 3,
    exp.DataType.Type.SMALLINT: 5,
    exp.DataType.Type.INT: 10,
    exp.DataType.Type.BIGINT: 19,
}
_NUM_LITERAL = re.compile(r"^([0-9]*)\.([0-9]*)$")


def literal_decimal(text: str, integers: bool = False) -> tuple[int, int] | None:
    """Trino's type of a decimal literal ``1.50`` → (3, 2); None for other text.
    ``integers``: digits without a point are a decimal too (``DECIMAL '10'``)."""
    t = text.strip().lstrip("+-")
    if integers and re.fullmatch(r"[0-9]+", t):
        t += "."
    m = _NUM_LITERAL.match(t)
    if not m or not (m.group(1) or m.group(2)):
        return None
    int_digits = len(m.group(1).lstrip("0"))
    scale = len(m.group(2))
    return max(int_digits + scale, 1), scale


def _ps_of_type(t: exp.DataType | None) -> tuple[str, int, int] | None:
    if t is None:
        return None
    if t.this in _INT_DIGITS:
        return "int", _INT_DIGITS[t.this], 0
    if t.this == exp.DataType.Type.DECIMAL:
        params = [
            int(e.this.this) if isinstance(e, exp.DataTypeParam) else None for e in t.expressions
        ]
        if len(params) == 2 and params[0] is not None and params[1] is not None:
            return "dec", params[0], params[1]
    return None


def tdec(node: exp.Expr) -> tuple[str, int, int] | None:
    """("dec" | "int", p, s): the node's Trino numeric type, when known."""
    return node.meta.get("tdec") if node.meta else None


def _set(node: exp.Expr, kind: str, p: int, s: int) -> None:
    node.meta["tdec"] = (kind, min(38, p), s)


def annotate_decimals(tree: exp.Expr) -> None:
    """Store each numeric node's Trino type in ``node.meta['tdec']`` (deepest first)."""
    for node in reversed(list(tree.dfs())):
        t = _decimal_of(node)
        if t is not None:
            _set(node, *t)


def _decimal_of(node: exp.Expr) -> tuple[str, int, int] | None:  # noqa: C901
    if isinstance(node, exp.Literal) and not node.is_string:
        text = str(node.this)
        if re.fullmatch(r"[0-9]+", text):
            return ("int", 10, 0) if int(text) <= 2**31 - 1 else ("int", 19, 0)
        lit = literal_decimal(text)
        return ("dec", *lit) if lit else None
    if isinstance(node, exp.Cast) and isinstance(node.args.get("to"), exp.DataType):
        return _ps_of_type(node.args["to"])
    if isinstance(node, (exp.Paren, exp.Neg, exp.Alias)):
        return tdec(node.this)
    if isinstance(node, (exp.Column, exp.Dot, exp.Bracket)):
        return _ps_of_type(getattr(node, "type", None))
    if isinstance(node, exp.Subquery):
        sel = node.this
        if isinstance(sel, exp.Select) and len(sel.expressions) == 1:
            return tdec(sel.expressions[0])
        return None
    if isinstance(node, exp.Window):
        return tdec(node.this)
    if isinstance(node, (exp.Min, exp.Max, exp.Abs, exp.AnyValue)):
        return tdec(node.this)
    if isinstance(node, (exp.Case, exp.If, exp.Coalesce)):
        return _common_decimal(_branches(node))
    if isinstance(node, (exp.Count, exp.CountIf, exp.Length, exp.ArraySize)):
        return "int", 19, 0  # bigint
    if isinstance(node, exp.Sum):
        a = tdec(node.this)
        if a is None:
            return None
        return ("int", 19, 0) if a[0] == "int" else ("dec", 38, a[2])
    if isinstance(node, exp.Avg):
        a = tdec(node.this)
        return a if a and a[0] == "dec" else None
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
        a, b = tdec(node.this), tdec(node.expression)
        if a is None or b is None:
            return None
        if a[0] == "int" and b[0] == "int":
            return ("int", max(a[1], b[1]), 0)
        _, p1, s1 = a
        _, p2, s2 = b
        if isinstance(node, (exp.Add, exp.Sub)):
            return "dec", 1 + max(s1, s2) + max(p1 - s1, p2 - s2), max(s1, s2)
        if isinstance(node, exp.Mul):
            return "dec", p1 + p2, s1 + s2
        if isinstance(node, exp.Div):
            return "dec", p1 + s2 + max(0, s2 - s1), max(s1, s2)
        return "dec", min(p2 - s2, p1 - s1) + max(s1, s2), max(s1, s2)
    if isinstance(node, exp.Round):
        a = tdec(node.this)
        if a is None or a[0] != "dec":
            return a
        if node.args.get("decimals") is not None:
            return "dec", a[1] + 1, a[2]  # room for the carry: round(9.99, 1) = 10.0
        return "dec", a[1] - a[2] + min(a[2], 1), 0
    if isinstance(node, (exp.Floor, exp.Ceil)):
        a = tdec(node.this)
        if a is None or a[0] != "dec" or node.args.get("decimals") is not None:
            return a
        return "dec", a[1] - a[2] + min(a[2], 1), 0
    if isinstance(node, exp.Trunc):
        a = tdec(node.this)
        if a is None or a[0] != "dec" or node.args.get("decimals") is not None:
            return a
        return "dec", max(a[1] - a[2], 1), 0
    if isinstance(node, exp.Sign):
        a = tdec(node.this)
        return ("dec", 1, 0) if a and a[0] == "dec" else a
    return None


def _branches(node: exp.Expr) -> list[exp.Expr]:
    """The value branches of CASE / IF / COALESCE."""
    if isinstance(node, exp.Case):
        out = [i.args["true"] for i in node.args.get("ifs") or []]
        return out + ([node.args["default"]] if node.args.get("default") else [])
    if isinstance(node, exp.If):
        return [node.args["true"]] + ([node.args["false"]] if node.args.get("false") else [])
    return [node.this, *node.expressions]


def _common_decimal(values: list[exp.Expr]) -> tuple[str, int, int] | None:
    """Trino's common type of decimal (and integer) values: enough integer digits and
    fraction digits for every one of them (NULL literals do not count)."""
    types = [tdec(v) for v in values if not isinstance(v, exp.Null)]
    if not types or None in types:
        return None
    known = [t for t in types if t is not None]
    if all(t[0] == "int" for t in known):
        return "int", max(t[1] for t in known), 0
    s = max(t[2] for t in known)
    return "dec", min(38, max(t[1] - t[2] for t in known) + s), s


def _supertype_branches(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's common type of DECIMAL(38,2) and DECIMAL(38,4) keeps scale 2 (it cuts
    digits); Trino's is decimal(38, 4): each branch is cast to Trino's common type."""
    t = tdec(node)
    if t is None or t[0] != "dec":
        return None
    new = node.copy()
    for b in _branches(new):
        if not isinstance(b, exp.Null) and tdec(b) != t:
            b.replace(_as_decimal(b.copy(), t))
    return new


def _set_operation(node: exp.SetOperation) -> exp.Expr | None:
    """UNION / INTERSECT / EXCEPT of decimals of different scales: Trino's common type."""
    left, right = node.left, node.right
    if not isinstance(left, exp.Select) or not isinstance(right, exp.Select):
        return None
    changed = False
    for a, b in zip(left.expressions, right.expressions):
        t = _common_decimal(
            [
                a.unalias() if isinstance(a, exp.Alias) else a,
                b.unalias() if isinstance(b, exp.Alias) else b,
            ]
        )
        if t is None or t[0] != "dec":
            continue
        for side in (a, b):
            inner = side.this if isinstance(side, exp.Alias) else side
            if tdec(inner) != t:
                cast = _as_decimal(inner.copy(), t)
                if isinstance(side, exp.Alias):
                    side.set("this", cast)
                else:
                    side.replace(
                        exp.Alias(this=cast, alias=exp.to_identifier(side.output_name or "_col"))
                    )
                changed = True
    return None if not changed else node


def _as_decimal(node: exp.Expr, t: tuple[str, int, int]) -> exp.Expr:
    new = exp.Cast(this=node, to=exp.DataType.build(f"DECIMAL({t[1]}, {t[2]})"))
    new.type = exp.DataType.build(f"DECIMAL({t[1]}, {t[2]})")
    new.meta["tdec"] = t
    return new


def _unscaled(x: exp.Expr, t: tuple[str, int, int]) -> exp.Expr:
    """The integer (HUGEINT) whose digits are ``x``'s at scale ``t[2]``."""
    if t[0] == "int" or t[2] == 0:
        return _dd("CAST(__x__ AS HUGEINT)", x=x)
    return _dd(f"CAST(__x__ * CAST(1{'0' * t[2]} AS DECIMAL(38, 0)) AS HUGEINT)", x=x)


def _from_unscaled(r: exp.Expr, p: int, s: int) -> exp.Expr:
    scale_one = "1" if s == 0 else "0." + "0" * (s - 1) + "1"
    return _dd(
        f"CAST(CAST(__r__ AS DECIMAL(38, 0)) * CAST('{scale_one}' AS DECIMAL(38, {s})) "
        f"AS DECIMAL({p}, {s}))",
        f"DECIMAL({p}, {s})",
        r=r,
    )


def _div_half_up(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    """round(a / b) half away from zero, in integers (a, b HUGEINT); NULL when b = 0."""
    return _dd(
        "CASE WHEN __b__ = 0 THEN NULL ELSE sign(__a__) * sign(__b__) * "
        "((abs(__a__) * 2 + abs(__b__)) // (abs(__b__) * 2)) END",
        a=a,
        b=b,
    )


def _decimal_div(node: exp.Div) -> exp.Expr | None:
    t, a, b = tdec(node), tdec(node.this), tdec(node.expression)
    if t is not None and t[0] == "int" and t[1] <= 10:
        # integer / integer is an integer in Trino (sqlglot's truncation gives BIGINT)
        return _dd("CAST(__x__ AS INTEGER)", "INT", x=node.copy())
    if t is None or a is None or b is None or t[0] != "dec":
        return None
    _, p, s = t
    shift = s + b[2] - a[2]  # ≥ 0 since s = max(s1, s2)
    num = _unscaled(node.this, a)
    if shift:
        num = _dd(f"__n__ * CAST(1{'0' * shift} AS HUGEINT)", n=num)
    return _from_unscaled(_div_half_up(num, _unscaled(node.expression, b)), p, s)


def _cast_to_trino_decimal(node: exp.Expr) -> exp.Expr | None:
    t = tdec(node)
    if t is None or t[0] != "dec":
        return None
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)) and not (
        tdec(node.this) and tdec(node.expression)
    ):
        return None
    return _as_decimal(node.copy(), t)


def _decimal_literal(node: exp.Literal) -> exp.Expr | None:
    t = tdec(node)
    if node.is_string or t is None or t[0] != "dec":
        return None
    return _dd(f"CAST('{node.this}' AS DECIMAL({t[1]}, {t[2]}))", f"DECIMAL({t[1]}, {t[2]})")


# -- aggregates (and the same aggregates over a window) ---------------------------------

Over = Callable[[exp.Expr], exp.Expr]


def _avg(node: exp.Avg, over: Over) -> exp.Expr | None:
    t = tdec(node)
    if t is None or t[0] != "dec":
        return None
    x = node.this
    total = over(exp.Sum(this=x.copy()))
    count = over(exp.Count(this=x.copy()))
    return _from_unscaled(_div_half_up(_unscaled(total, ("dec", 38, t[2])), count), t[1], t[2])


def _to_bigint(agg: exp.Expr, over: Over) -> exp.Expr:
    return _dd("CAST(__x__ AS BIGINT)", "BIGINT", x=over(agg.copy()))


def _sum(node: exp.Sum, over: Over) -> exp.Expr | None:
    t = tdec(node.this)
    if t is not None and t[0] == "int":
        return _to_bigint(node, over)
    return None


_AGGS: dict[type, Callable[[Any, Over], exp.Expr | None]] = {
    exp.Avg: _avg,
    exp.Sum: _sum,
    exp.CountIf: _to_bigint,
}


def _plain_agg(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node.parent, exp.Window) and node.arg_key == "this":
        return None  # the window handler rewrites it with its window
    return _AGGS[type(node)](node, lambda e: e)


def _window(node: exp.Window) -> exp.Expr | None:
    agg = node.this
    fix = _AGGS.get(type(agg))
    if fix is None:
        return None

    def over(e: exp.Expr) -> exp.Expr:
        w = node.copy()
        w.set("this", e)
        return w

    return fix(agg, over)
