"""Parsing an export's lines in DuckDB SQL: every DynamoDB JSON line is read with
``read_ndjson_objects`` (:func:`source_sql`: one JSON text per line, no schema inference,
streamed) and parsed with ``json_transform`` into one STRUCT per attribute with a field per
DynamoDB type tag (:func:`frame_sql`); attribute names only travel in the bound structure
parameters. Also the macros and UDFs the value SQL needs (:func:`prepare`), the
json_transform structure of an M / L value that SQL can render exactly
(:func:`typed_structure`), and the errors of a read (:class:`ExportReadError`,
:func:`read_error`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ddb_assets.tables import codec
from ddb_assets.tables.diagnose import locate_problem
from ddb_assets.tables.types import DECIMAL_PRECISION

_MACROS = [
    r"""CREATE OR REPLACE TEMP MACRO _ddb_numparts(x) AS
        regexp_extract(x, '^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$', ['i', 'f', 'e'])""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape3(d1, p1) AS
        CASE WHEN rtrim(d1, '0') = '' THEN {'i': 0, 's': 0}
             ELSE {'i': greatest(p1, 0), 's': greatest(length(rtrim(d1, '0')) - p1, 0)} END""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape2(d, p) AS
        _ddb_numshape3(ltrim(d, '0'), p - (length(d) - length(ltrim(d, '0'))))""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape1(r) AS
        _ddb_numshape2(r.i || r.f, length(r.i) + coalesce(TRY_CAST(nullif(r.e, '') AS BIGINT), 0))""",
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape_slow(x) AS _ddb_numshape1(_ddb_numparts(x))""",
    # Plain decimals (no exponent; NULL included): integer digits without sign or leading
    # zeros, fraction digits without trailing zeros; exponents take the exact regex path.
    """CREATE OR REPLACE TEMP MACRO _ddb_numshape(x) AS
        CASE WHEN contains(x, 'E') OR contains(x, 'e') THEN _ddb_numshape_slow(x)
             ELSE {'i': length(ltrim(split_part(x, '.', 1), '+-0')), 's': length(rtrim(split_part(x, '.', 2), '0'))} END""",
    f"""CREATE OR REPLACE TEMP MACRO _ddb_fits(x, s) AS
        (_ddb_numshape(x).i <= {DECIMAL_PRECISION} - s AND _ddb_numshape(x).s <= s)""",
]


class ExportReadError(RuntimeError):
    """The export files cannot be read as the declared format."""


def read_error(con, exc: Exception, files: Sequence[str] = ()) -> Exception:
    """The error to raise for ``exc`` from a statement that reads the export: running out
    of DuckDB's memory or disk is not a problem of the export (raised as it is); a problem
    of the export names the file, the line and the attribute
    (:func:`ddb_assets.tables.diagnose.locate_problem`, a scan that runs only now)."""
    import duckdb

    if isinstance(exc, (duckdb.IOException, duckdb.FatalException)) and not is_read_failure(exc):
        return exc  # the disk or the database failed, not the export

    if isinstance(exc, duckdb.OutOfMemoryException):
        limit, threads = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
        return MemoryError(
            f"DuckDB ran out of memory loading the export (memory_limit {limit} during the load, threads {threads}). "
            f"The load caps DuckDB's buffer pool at the lower of the connection's memory_limit and an allowance per "
            f"thread (ddb_assets.tables.duckdb.memory.DIRECT_MEMORY_PER_THREAD for the one-pass load, "
            f"LOAD_MEMORY_PER_THREAD for the staged one; the *_LONG ones when the export's first lines are "
            f"LONG_LINE bytes or longer): raise the lower of the two, or use fewer threads ({exc})"
        )
    problem = locate_problem(files) if files else None
    if problem is not None:
        return ExportReadError(f"cannot read the export as DYNAMODB_JSON: {problem}")
    return ExportReadError(f"cannot read the export as DYNAMODB_JSON: {exc}")


def is_read_failure(exc: Exception) -> bool:
    """An IO error from reading an export file (a damaged gzip stream), not from writing."""
    text = str(exc).lower()
    return "gzip" in text or "compress" in text or "decompress" in text


# Every DynamoDB type tag, in the order the SQL tests them, and how json_transform reads it.
TAGS = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L")


LOAD_TAG_TYPES = {
    "S": "VARCHAR",
    "N": "VARCHAR",
    "B": "VARCHAR",
    "BOOL": "BOOLEAN",
    "NULL": "BOOLEAN",
    "SS": ["VARCHAR"],
    "NS": ["VARCHAR"],
    "BS": ["VARCHAR"],
    "M": "JSON",
    "L": "JSON",
}


# Limits for rendering M / L values to plain JSON in SQL; beyond them a Python UDF does it.
RENDER_MAX_NODES = 2000


_RENDER_MAX_DEPTH = 24


def prepare(con) -> None:
    import duckdb

    for sql in _MACROS:
        con.execute(sql)

    def plain_json_arrow(texts):
        import pyarrow as pa  # here, not above: most loads never call this UDF, and importing costs 0.1 s

        return pa.array(codec.plain_json_many(texts.to_pylist()), type=pa.string())

    udfs = [
        ("_ddb_json_number", codec.json_number, {}),
        ("_ddb_plain_json_batch", plain_json_arrow, {"type": "arrow"}),
    ]
    for name, fn, kw in udfs:
        try:
            con.create_function(name, fn, ["VARCHAR"], "VARCHAR", side_effects=False, **kw)
        except (
            duckdb.CatalogException,
            duckdb.NotImplementedException,
            duckdb.InvalidInputException,
        ) as exc:
            if "already" not in str(exc).lower():
                raise


def source_sql() -> str:
    return "read_ndjson_objects($files, compression = 'gzip', maximum_object_size = 16777216)"


def _groups(attributes: Sequence[str]) -> tuple[list[list[str]], dict[str, tuple[int, int]]]:
    """Split attributes into groups whose names differ even ignoring case (a DuckDB STRUCT
    cannot hold ``name`` and ``Name``); each group is one ``json_transform`` of the line.
    Returns the groups and, per attribute, (group, 1-based field position)."""
    groups: list[list[str]] = []
    where: dict[str, tuple[int, int]] = {}
    seen: dict[str, int] = {}
    for a in attributes:
        g = seen.get(a.lower(), 0)
        seen[a.lower()] = g + 1
        while len(groups) <= g:
            groups.append([])
        groups[g].append(a)
        where[a] = (g, len(groups[g]))
    return groups, where


def frame_sql(
    attributes: Sequence[str],
    types: Mapping[str, object],
    params: dict,
    extra: str = "",
    parsed: Mapping[str, tuple[str, str]] | None = None,
    source: str | None = None,
) -> str:
    """``SELECT a1, a2, ... [, extra] FROM <export>``: ``a<i>`` is the i-th attribute's
    DynamoDB value as a STRUCT with one field per type tag (``types[attr]`` gives the
    json_transform structure of each), parsed once per line. Attribute names only travel
    in the bound structure parameters."""
    groups, where = _groups(attributes)
    transforms = []
    for g, members in enumerate(groups):
        params[f"s{g}"] = json.dumps({"Item": {a: types[a] for a in members}}, ensure_ascii=False)
        transforms.append(f"json_transform(json, $s{g}) AS j{g}")
    cols = [
        f"struct_extract_at(j{where[a][0]}.Item, {where[a][1]}) AS a{i}"
        for i, a in enumerate(attributes, 1)
    ]
    for i, a in enumerate(attributes, 1):
        if parsed and a in parsed:  # a{i}_t: the a{i}.<tag> JSON text parsed after a structure
            tag, structure = parsed[a]
            cols.append(
                f'json_transform(struct_extract_at(j{where[a][0]}.Item, {where[a][1]})."{tag}", '
                f"{structure}) AS a{i}_t"
            )
    inner = ", ".join(["json"] + transforms)
    outer = ", ".join(cols + ([extra] if extra else [])) or "1 AS one"
    return f"SELECT {outer} FROM (SELECT {inner} FROM {source or source_sql()})"


def json_pointer(attribute: str) -> str:
    return "/Item/" + attribute.replace("~", "~0").replace("/", "~1")


def typed_structure(w, budget: list[int], depth: int = 0):
    """The json_transform structure for a DynamoDB value whose json_group_structure is
    ``w`` (the wrapper object), or None when it cannot be rendered in SQL exactly."""
    budget[0] -= 1
    if not isinstance(w, dict) or not w or budget[0] < 0 or depth > _RENDER_MAX_DEPTH:
        return None
    out: dict = {}
    for tag, sub in w.items():
        if tag in ("S", "N", "B"):
            ok = sub == "VARCHAR"
            out[tag] = "VARCHAR"
        elif tag in ("BOOL", "NULL"):
            ok = sub == "BOOLEAN"
            out[tag] = "BOOLEAN"
        elif tag in ("SS", "NS", "BS"):
            ok = sub in (["VARCHAR"], ["NULL"])
            out[tag] = ["VARCHAR"]
        elif tag == "M":
            ok = isinstance(sub, dict) and bool(sub) and "" not in sub
            if ok:
                lowered = [k.lower() for k in sub]
                ok = len(set(lowered)) == len(lowered)
            if ok:
                content = {k: typed_structure(v, budget, depth + 1) for k, v in sub.items()}
                ok = all(v is not None for v in content.values())
                out[tag] = content
        elif tag == "L":
            ok = isinstance(sub, list) and len(sub) == 1
            if ok:
                out[tag] = [typed_structure(sub[0], budget, depth + 1)]
                ok = out[tag][0] is not None
        else:
            ok = False
        if not ok:
            return None
    return out
