"""Arrays, maps and lambdas: UNNEST of maps and of several arrays, Trino's three-valued
any_match / all_match / none_match, reduce with an output function, zip_with."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from ddb_assets.sql._sqlgen import TranspileError, _dd, _fn

# -- UNNEST ------------------------------------------------------------------------------


def _unnest_kind(arg: exp.Expr, n_args: int, n_cols: int) -> tuple[str, int]:
    """('map', 2) | ('rows', n_fields) | ('array', 1) for one UNNEST argument."""
    t = getattr(arg, "type", None)
    if t is not None and t.this == exp.DataType.Type.MAP:
        return "map", 2
    if isinstance(arg, (exp.Map, exp.VarMap, exp.MapFromEntries)):
        return "map", 2
    if t is not None and t.this in (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
        inner = t.expressions[0] if t.expressions else None
        if isinstance(inner, exp.DataType) and inner.this == exp.DataType.Type.STRUCT:
            return "rows", len(inner.expressions)
        return "array", 1
    if isinstance(arg, exp.Array):
        return "array", 1
    # Unknown type: a lone argument with more column names than one is a map (two names)
    # or an array of rows (more names). Several arguments of unknown type are arrays.
    if n_args == 1 and n_cols == 2:
        return "map", 2
    if n_args == 1 and n_cols > 2:
        return "rows", n_cols
    return "array", 1


def _unnest(node: exp.Unnest) -> exp.Expr | None:
    parent = node.parent
    if not isinstance(parent, (exp.Join, exp.From)) or node.arg_key != "this":
        return None
    args = node.expressions
    alias = node.args.get("alias")
    cols = list(alias.columns) if alias is not None else []
    offset = node.args.get("offset")
    kinds = [
        _unnest_kind(
            a,
            len(args),
            len(cols) - (1 if offset and not isinstance(offset, exp.Expr) else 0),
        )
        for a in args
    ]
    if len(args) == 1 and kinds[0][0] == "array":
        return None  # DuckDB's own UNNEST (and WITH ORDINALITY) means the same
    selects: list[exp.Expr] = []
    lengths: list[exp.Expr] = []
    for a, (kind, _) in zip(args, kinds):
        if kind == "map":
            selects += [_dd("unnest(map_keys(__m__))", m=a), _dd("unnest(map_values(__m__))", m=a)]
            lengths.append(_dd("CAST(cardinality(__m__) AS BIGINT)", m=a))
        elif kind == "rows":
            selects.append(_dd("unnest(__a__, max_depth := 2)", a=a))
            lengths.append(_fn("len", a))
        else:
            selects.append(_fn("unnest", a))
            lengths.append(_fn("len", a))
    names = [c.copy() for c in cols]
    if offset:
        longest = lengths[0] if len(lengths) == 1 else _fn("greatest", *lengths)
        selects.append(_dd("unnest(range(1, __n__ + 1))", n=longest))
        if isinstance(offset, exp.Expr):
            names.append(offset.copy())
        elif names:
            pass  # the ordinality column is already the last alias column
        else:
            names.append(exp.to_identifier("ordinality"))
    width = sum(n for _, n in kinds) + (1 if offset else 0)
    if names and len(names) != width:
        raise TranspileError(f"UNNEST gives {width} columns but is aliased with {len(names)} names")
    table_alias = exp.TableAlias(
        this=(
            alias.this.copy() if alias is not None and alias.this else exp.to_identifier("_unnest")
        ),
        columns=names,
    )
    select = exp.Select(expressions=selects)
    if isinstance(parent, exp.From):
        return exp.Subquery(this=select, alias=table_alias)
    return exp.Lateral(this=exp.Subquery(this=select), alias=table_alias)


# -- Lambdas -----------------------------------------------------------------------------


def _lambda_body(lam: exp.Expr, values: list[exp.Expr]) -> exp.Expr:
    """The body of ``lam`` with its parameters replaced by ``values``."""
    if not isinstance(lam, exp.Lambda):
        raise TranspileError(f"expected a lambda, got {lam.sql('athena')}")
    params = [p.name for p in lam.expressions]
    if len(params) != len(values):
        raise TranspileError(
            f"lambda {lam.sql('athena')} takes {len(params)} arguments, {len(values)} given"
        )
    mapping = dict(zip(params, values))
    body = lam.this.copy()

    def sub(n: exp.Expr) -> exp.Expr:
        if (
            isinstance(n, (exp.Identifier, exp.Column))
            and not isinstance(n.parent, (exp.Column, exp.Dot))
            and (not isinstance(n, exp.Column) or not n.table)
            and n.name in mapping
        ):
            return mapping[n.name].copy()
        return n

    if isinstance(body, (exp.Identifier, exp.Column)) and body.name in mapping:
        return mapping[body.name].copy()
    return body.transform(sub)


def _match(name: str) -> Callable[[exp.Anonymous], exp.Expr]:
    fold = {
        "all_match": ("AND", "true"),
        "any_match": ("OR", "false"),
        "none_match": ("OR", "false"),
    }[name]

    def handler(node: exp.Anonymous) -> exp.Expr:
        if len(node.expressions) != 2:
            raise TranspileError(f"{name} takes (array, predicate)")
        arr, pred = node.expressions
        op, init = fold
        # Three-valued AND/OR fold: false AND NULL = false, true AND NULL = NULL, etc.
        reduced = _dd(
            f"list_reduce(list_transform(__a__, __f__), lambda _acc, _b: _acc {op} _b, {init})",
            "BOOLEAN",
            a=arr,
            f=pred,
        )
        if name == "none_match":
            return _dd("NOT (__r__)", "BOOLEAN", r=reduced)
        return reduced

    return handler


def _reduce(node: exp.Reduce) -> exp.Expr | None:
    finish = node.args.get("finish")
    if finish is None:
        return None
    reduced = exp.Reduce(
        this=node.this.copy(), initial=node.args["initial"].copy(), merge=node.args["merge"].copy()
    )
    return _lambda_body(finish, [reduced])


def _zip_with(node: exp.Anonymous) -> exp.Expr:
    if len(node.expressions) != 3:
        raise TranspileError("zip_with takes (array, array, function)")
    a, b, fn = node.expressions
    body = _lambda_body(fn, [_dd("_p[1]"), _dd("_p[2]")])
    lam = exp.Lambda(this=body, expressions=[exp.to_identifier("_p")])
    return _dd(
        "CASE WHEN __a__ IS NULL OR __b__ IS NULL THEN NULL "
        "ELSE list_transform(list_zip(__a__, __b__), __f__) END",
        a=a,
        b=b,
        f=lam,
    )
