"""Typed snapshots of a DynamoDB export in a local DuckDB warehouse.

Layout per DynamoDB table ``T`` in schema ``S``. The typed rows are Parquet files, one
folder per snapshot as the Athena engine's partitions, in a folder next to the warehouse
file (:func:`snapshot_root`: ``<warehouse>.snapshots/S/T/snapshot_date=<d>/``); the
warehouse holds the metadata and the views:

* ``"S"."T__snapshots"``: a view of every snapshot (column ``snapshot_date DATE`` and every
  physical column; older files are cast to a column's widened DECIMAL scale, a column a
  snapshot lacks reads NULL);
* ``"S"."T__columns"``: per snapshot, each column's name, physical column, type, source
  attribute, role and the DynamoDB types seen (the column -> attribute mapping);
* ``"S"."T__loads"``: one row per snapshot (date, load sequence, row count), empty ones too;
* ``"S"."T__files"``: each snapshot's files (relative to the folder) and their rows;
* ``"S"."T"``: a view of the latest snapshot with that snapshot's columns (what analysts use;
  only ``snapshot_date`` when the latest export was empty).

Writing Parquet (zstd level 1) costs about a seventh less CPU than DuckDB's own table storage,
whose string compression is the dearest part of a load (``bench/RESULTS.md``). A warehouse
from before keeps its snapshots in a table ``T__snapshots``; its next load moves them to
files (:func:`_migrate_table`).

:func:`load_snapshot_duckdb` reads the gzip export directly with DuckDB
(``read_ndjson_objects``: one JSON text per line, no schema inference, streamed) and parses
each line with ``json_transform`` into one STRUCT per attribute with a field per DynamoDB
type tag (attribute names only travel in the bound structure parameter). Two ways:

* **one pass** (:func:`_load_direct`, the common case): the first lines of files spread
  over the export give the attributes, their tags, the structure of M / L values and the
  shape of the numbers; the plan comes from them. One typed ``COPY (SELECT ...) TO`` parses
  every line once and checks it as it goes: the row's DynamoDB JSON length recomputed from
  the parsed values must be the line's (nothing the guess does not cover was dropped;
  strings are counted without their escapes first, and exactly when that falls short or
  when the sample shows the attribute often needs escapes), and
  every number must be exactly a value of its DECIMAL column. The first line that fails
  stops the write (its file is removed) and joins the sample for one more attempt.
  Afterwards the statistics of every row must give the same plan: the Parquet writer's own
  statistics of the file (counts, smallest and largest numbers), or the typed columns read
  back when a number's scale needs testing.
  Nothing is staged: the load streams, so its memory does not grow with the export.
* **staged** (everything else: type conflicts, numbers beyond DECIMAL(38), overrides on
  numbers, lines not written minified, a guess that missed twice):

  1. a sample of the first items (``json_group_structure``) guesses the attributes, their
     tags and the structure of M / L values; it decides nothing on its own;
  2. every line is parsed once into a temporary stage (rows the guess does not cover are
     staged again the general way); a pass over the stage counts every attribute's tags
     and the shape of its numbers;
  3. one typed ``COPY (SELECT ...) TO`` a file per stage part with explicit types. M / L values
     become plain JSON in SQL after the sampled structure; every row is checked (the value
     written back as DynamoDB JSON must have the source text's length, so nothing was
     dropped) and rows that fail go through :func:`ddb_assets.tables.codec.plain_json_many`
     (orjson, Arrow UDF).

Replacing a snapshot writes new files under fresh names; the metadata, the file list and
the views that switch to them change in one transaction, so a failed load leaves the
previous state and the views untouched (and removes the files it wrote); the replaced files
are removed after the commit. During a
load into a file-backed warehouse DuckDB's buffer pool is capped
by the number of DuckDB threads (:data:`DIRECT_MEMORY_PER_THREAD` for the one-pass load,
:data:`LOAD_MEMORY_PER_THREAD` for the staged one, which spills its stage; larger ones for
exports of long lines, :data:`LONG_LINE`) and insertion
order is not preserved; both settings are put back afterwards. ION exports are first
transcoded to DYNAMODB_JSON, one child interpreter per core (:mod:`ddb_assets.tables.codec`).

Attribute names never reach SQL text: structures and JSON paths are bound as parameters;
identifiers go through :func:`ddb_assets.sql.identifiers.quote_ident`. (Keys inside M values
reach the SQL only as a bound list of key texts.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Mapping, Sequence

from ddb_assets.sql.identifiers import qualified, quote_ident, validate_catalog_name
from ddb_assets.tables import codec
from ddb_assets.tables.athena_engine import sql_literal
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_RAW,
    ROLE_TYPE,
    ROLE_VALUE,
    AttributeStats,
    ColumnInfo,
    ColumnPlan,
    SnapshotResult,
    UnfitNumbers,
    diff_columns,
    plan_columns,
)
from ddb_assets.tables.types import DECIMAL_PRECISION, ColumnOverride, TypeSpec, parse_type

EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")

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


def _read_error(con, exc: Exception) -> Exception:
    """The error to raise for ``exc`` from a statement that reads the export: running out
    of DuckDB's memory is not a problem of the export."""
    import duckdb

    if isinstance(exc, duckdb.OutOfMemoryException):
        limit, threads = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
        return MemoryError(
            f"DuckDB ran out of memory loading the export (memory_limit {limit} during the load, threads {threads}). "
            f"The load caps DuckDB's buffer pool at the lower of the connection's memory_limit and an allowance per "
            f"thread (ddb_assets.tables.duckdb_engine.DIRECT_MEMORY_PER_THREAD for the one-pass load, "
            f"LOAD_MEMORY_PER_THREAD for the staged one; the *_LONG ones when the export's first lines are "
            f"LONG_LINE bytes or longer): raise the lower of the two, or use fewer threads ({exc})"
        )
    return ExportReadError(f"cannot read the export as DYNAMODB_JSON: {exc}")


# Every DynamoDB type tag, in the order the SQL tests them, and how json_transform reads it.
_TAGS = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L")
_LOAD_TAG_TYPES = {
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
# A JSON number as DynamoDB usually writes it; anything else goes through _ddb_json_number.
_JSON_NUMBER_RE = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
# Limits for rendering M / L values to plain JSON in SQL; beyond them a Python UDF does it.
_RENDER_MAX_NODES = 2000
_RENDER_MAX_DEPTH = 24


def _prepare(con) -> None:
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


def _source_sql() -> str:
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


def _frame(
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
    return f"SELECT {outer} FROM (SELECT {inner} FROM {source or _source_sql()})"


def _stats_pass(
    con,
    files: Sequence[str],
    attributes: Sequence[str],
    known: Sequence[str],
    tags_hint: Mapping[str, Sequence[str]] | None = None,
    stage: _Stage | None = None,
):
    """One scan: per-attribute type counts and N shapes for ``attributes``, plus the names
    of attributes present in the data but not in ``known``.

    ``tags_hint``: the tags to look for per attribute (the rest of the tags are not parsed,
    which is the bulk of the cost). A value with another tag is still counted (as an
    attribute present with none of the hinted tags): such attributes are returned in
    ``incomplete`` for a pass over every tag. Without a hint every tag is read and a value
    with none of them is an unknown tag (an error).

    ``stage``: read the already parsed rows of that staging table instead of the files
    (``attributes``, ``known`` and ``tags_hint`` are then the stage's own)."""
    fit = DECIMAL_PRECISION
    hint = dict(tags_hint or {})
    tags = {a: [t for t in _TAGS if t in hint[a]] if a in hint else list(_TAGS) for a in attributes}
    params: dict = {"files": list(files), "known": list(known)}
    if stage is not None:
        params = {}
        frame = f"SELECT * FROM {stage.rows}"
    else:
        # Every tag read as VARCHAR: only N needs its value, the others only their presence.
        frame = _frame(
            attributes,
            {a: {t: "VARCHAR" for t in tags[a]} for a in attributes},
            params,
            extra="list_filter(json_keys(json, '/Item'), lambda k: NOT list_contains($known, k)) AS u",
        )
    inner, aggs = [], []
    for i, a in enumerate(attributes, 1):
        inner.append(f"a{i}")
        aggs.append(f"count(a{i})")
        aggs += [f'count(a{i}."{t}")' for t in tags[a]]
        if "N" in tags[a]:
            inner.append(f"_ddb_numshape(a{i}.N) AS z{i}")
            aggs.append(
                f"max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.i END), "
                f"max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.s END), count_if(z{i}.i + z{i}.s > {fit})"
            )
    aggs.append("list_distinct(flatten(list(u) FILTER (WHERE len(u) > 0)))")
    sql = f"SELECT {', '.join(aggs)} FROM (SELECT {', '.join(inner + ['u'])} FROM ({frame}))"
    try:
        row = list(con.execute(sql, params).fetchone())
    except Exception as exc:
        raise _read_error(con, exc) from exc
    stats, incomplete = [], []
    for attr in attributes:
        present = int(row.pop(0))
        counts = {t: int(row.pop(0) or 0) for t in tags[attr]}
        max_int = max_scale = None
        unfit = 0
        if "N" in tags[attr]:
            max_int, max_scale, unfit = row.pop(0), row.pop(0), row.pop(0)
        if not present:
            continue  # a guessed attribute that is not in this export
        if sum(counts.values()) < present:
            if attr in hint:
                incomplete.append(attr)
                continue
            raise ExportReadError(
                f"attribute {attr!r} has an unknown DynamoDB type tag "
                f"{_unknown_tag(con, files, attr)!r}"
            )
        hist = {t: c for t, c in sorted(counts.items()) if c}
        stats.append(
            AttributeStats(
                attr,
                hist,
                counts.get("N", 0),
                None if max_int is None else int(max_int),
                None if max_scale is None else int(max_scale),
                int(unfit or 0),
            )
        )
    with_sets = [st for st in stats if "NS" in st.type_counts]
    if with_sets:
        _number_set_stats(con, files, with_sets, stage)
    return stats, incomplete, sorted(row[-1] or [])


def _unknown_tag(con, files: Sequence[str], attr: str) -> str:
    row = con.execute(
        f"SELECT t FROM (SELECT unnest(json_keys(json, $p)) AS t FROM {_source_sql()}) "
        f"WHERE NOT list_contains($tags, t) LIMIT 1",
        {"files": list(files), "p": _json_pointer(attr), "tags": list(_TAGS)},
    ).fetchone()
    return row[0] if row else "?"


def _number_set_stats(
    con, files: Sequence[str], stats: list[AttributeStats], stage: _Stage | None = None
) -> None:
    """Number shapes of NS elements (one more scan of the files, or of the stage, only
    when number sets exist)."""
    fit = DECIMAL_PRECISION
    params: dict = {"files": list(files)}
    if stage is not None:
        params = {}
        frame = (
            f"SELECT {', '.join(f'{stage.alias[st.attribute]} AS a{i}' for i, st in enumerate(stats, 1))} "
            f"FROM {stage.rows}"
        )
    else:
        frame = _frame(
            [st.attribute for st in stats],
            {st.attribute: {"NS": ["VARCHAR"]} for st in stats},
            params,
        )
    elems = ", ".join(f"unnest(a{i}.NS) AS x{i}" for i in range(1, len(stats) + 1))
    aggs = ", ".join(
        f"count(x{i}), max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.i END), "
        f"max(CASE WHEN z{i}.i + z{i}.s <= {fit} THEN z{i}.s END), count_if(z{i}.i + z{i}.s > {fit})"
        for i in range(1, len(stats) + 1)
    )
    shapes = ", ".join(f"x{i}, _ddb_numshape(x{i}) AS z{i}" for i in range(1, len(stats) + 1))
    sql = f"SELECT {aggs} FROM (SELECT {shapes} FROM (SELECT {elems} FROM ({frame})))"
    row = con.execute(sql, params).fetchone()
    for i, st in enumerate(stats):
        count, max_int, max_scale, unfit = row[4 * i : 4 * i + 4]
        st.numbers += int(count or 0)
        st.unfit_alone += int(unfit or 0)
        if max_int is not None:
            st.max_int_digits = max(st.max_int_digits or 0, int(max_int))
        if max_scale is not None:
            st.max_scale = max(st.max_scale or 0, int(max_scale))


def discover_attributes(
    con, files: Sequence[str], guess: Sequence[str] = (), structures: dict | None = None
) -> list[AttributeStats]:
    """Full pass over every item: each attribute, the DynamoDB types it appears with (and
    how often), and the shape of its numbers. ``guess`` (the attributes of the previous
    snapshot) plus the attributes of the first items let the common case take one scan;
    attributes outside them cost one more. ``structures`` (if given) receives the JSON
    structure of those first items' attributes (``json_group_structure``): the load renders
    M and L values after it in SQL, checking every row (a sample decides nothing)."""
    if not files:
        return []
    sample = _sample_structure(con, files)
    if structures is not None:
        structures.update(sample)
    hint = {
        a: list(w) for a, w in sample.items() if isinstance(w, dict) and w and set(w) <= set(_TAGS)
    }
    guess = sorted(set(guess) | set(sample))
    stats, incomplete, unknown = _stats_pass(con, files, guess, guess, hint)
    if unknown or incomplete:
        more, _, _ = _stats_pass(con, files, sorted(incomplete + unknown), guess + unknown)
        stats += more
    return sorted(stats, key=lambda s: s.attribute)


_SAMPLE_ITEMS = 10_000
# And at most this much JSON text: items can be 400 KB each (10,000 of them would be 4 GB,
# far beyond the load's capped memory). With such items the sample is a few dozen of them.
_SAMPLE_BYTES = 8 * 1024 * 1024


@dataclasses.dataclass
class _Stage:
    """An export parsed once into a temporary table: column ``a<i>`` is the i-th attribute's
    value as a STRUCT with a field per tag in ``tags[attribute]``, ``a<i>_t`` the value of a
    single-tag M / L attribute parsed after its sampled structure ``typed[attribute]``, and
    ``u`` the names of the item's attributes outside ``attributes``.

    A fast stage (:func:`_fast_stage`) holds the rows its guess covers; the others (kept as
    text in ``_bad`` while staging) are staged the general way in ``rest``, so every item
    is in exactly one of the two."""

    name: str
    attributes: list[str]
    hint: dict[str, list[str]]
    tags: dict[str, list[str]]
    typed: dict[str, dict]
    fast: bool = False
    files: Sequence[str] = ()
    known: Sequence[str] = ()
    sample: Mapping | None = None
    rest: _Stage | None = None
    filtered: bool = False  # rows whose _bad is set belong to ``rest``: read the others only
    # Not a table: the one-pass load (:func:`_load_direct`) inserts straight from ``files``
    # parsed after these structures, every line checked as it is read; the row length
    # check measures the attributes in ``exact`` exactly (:func:`_exact_lengths`).
    direct: dict | None = None
    exact: frozenset = frozenset()

    @property
    def alias(self) -> dict[str, str]:
        return {a: f"a{i}" for i, a in enumerate(self.attributes, 1)}

    @property
    def rows(self) -> str:
        """The stage's own rows, as a FROM item."""
        return f"(SELECT * FROM {self.name} WHERE _bad IS NULL)" if self.filtered else self.name

    def parts(self) -> list[_Stage]:
        return [self] + (self.rest.parts() if self.rest is not None else [])


_STAGE_SEQ = itertools.count(1)


def _stage_name() -> str:
    return f"_ddb_stage_{os.getpid()}_{next(_STAGE_SEQ)}"


def _drop_stage(con, stage: _Stage | None) -> None:
    if stage is None:
        return
    for part in stage.parts():
        con.execute(f"DROP TABLE IF EXISTS {part.name}")


def _hint(sample: Mapping) -> dict[str, list[str]]:
    """Per sampled attribute, the tags its values had (attributes whose values were not
    all DynamoDB wrappers have no hint)."""
    return {
        a: list(w) for a, w in sample.items() if isinstance(w, dict) and w and set(w) <= set(_TAGS)
    }


def _stage_export(
    con,
    files: Sequence[str],
    known: Sequence[str],
    sample: Mapping,
    *,
    attributes: Sequence[str] | None = None,
    tags: Mapping[str, Sequence[str]] | None = None,
    source: str | None = None,
) -> _Stage:
    """Parse every line once (``json_transform`` after the guessed attributes and tags)
    into a temporary table that both the statistics and the typed insert read. A temporary
    table of a file-backed warehouse spills to disk (compressed), so memory stays bounded.

    ``attributes``: exactly these attributes (every attribute of the rows read, so ``u`` is
    empty); ``tags``: instead of the sample's, the tags of every value of the rows read per
    attribute (every tag for an attribute not in it), so no value can have a tag outside
    the stage; ``source``: a FROM item with one ``json`` column per line to read instead of
    the files."""
    sampled = _hint(sample)
    hint = sampled if tags is None else {a: list(t) for a, t in tags.items()}
    if attributes is None:
        attributes = sorted(set(known) | set(sample))
        extra = "list_filter(json_keys(json, '/Item'), lambda k: NOT list_contains($known, k)) AS u"
    else:
        attributes = sorted(attributes)
        extra = "CAST(NULL AS VARCHAR[]) AS u"
    tags = {a: [t for t in _TAGS if t in hint[a]] if a in hint else list(_TAGS) for a in attributes}
    typed: dict[str, dict] = {}
    params: dict = (
        {"files": list(files), "known": attributes} if "$known" in extra else {"files": list(files)}
    )
    if source is not None:
        del params["files"]
    parsed = {}
    for i, a in enumerate(attributes, 1):
        non_null = [t for t in sampled.get(a, ()) if t != "NULL"]
        if (
            a in sampled
            and len(non_null) == 1
            and non_null[0] in ("M", "L")
            and non_null[0] in tags[a]
        ):
            structure = _typed_structure({non_null[0]: sample[a][non_null[0]]}, [_RENDER_MAX_NODES])
            if structure is not None:
                typed[a] = structure
                ((tag, content),) = structure.items()
                params[f"ta{i}"] = json.dumps(content, ensure_ascii=False)
                parsed[a] = (tag, f"$ta{i}")
    frame = _frame(
        attributes,
        {a: {t: _LOAD_TAG_TYPES[t] for t in tags[a]} for a in attributes},
        params,
        extra=extra,
        parsed=parsed,
        source=source,
    )
    name = _stage_name()
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS {frame}", params)
    except Exception as exc:
        con.execute(f"DROP TABLE IF EXISTS {name}")
        raise _read_error(con, exc) from exc
    return _Stage(name, list(attributes), hint, tags, typed)


def _fast_guess(sample: Mapping, known: Sequence[str] | Mapping = ()):
    """What one parse per line can read, from the sampled structure: (hint, attributes,
    tags, typed, structures), or None when the sample does not allow it (an attribute
    whose values are not all DynamoDB wrappers, an M / L attribute with another non-NULL
    tag or a structure too large to render). ``known`` with its types (a Mapping): the
    scalar and set attributes of earlier snapshots join the guess."""
    hint = _hint(sample)
    if not hint or set(sample) - set(hint):
        return None
    if isinstance(known, Mapping):
        # Attributes of earlier snapshots the sample missed, with the scalar and set types
        # they had: their values are read in the same parse (an M / L value, or another
        # type, is left to the rest).
        for a, was in known.items():
            if a not in hint and was and set(was) <= set(_TAGS) - {"M", "L"}:
                hint[a] = [t for t in _TAGS if t in was]
    attributes = sorted(hint)
    tags = {a: [t for t in _TAGS if t in hint[a]] for a in attributes}
    typed: dict[str, dict] = {}
    structures: dict[str, dict] = {}
    for a in attributes:
        non_null = [t for t in tags[a] if t != "NULL"]
        if {"M", "L"} & set(non_null):
            if len(non_null) != 1:
                return None
            structure = _typed_structure({non_null[0]: sample[a][non_null[0]]}, [_RENDER_MAX_NODES])
            if structure is None:
                return None
            typed[a] = structure
        structures[a] = {
            t: (typed[a][t] if a in typed and t in typed[a] else _LOAD_TAG_TYPES[t])
            for t in tags[a]
        }
    return hint, attributes, tags, typed, structures


def _fast_stage(con, files: Sequence[str], known: Sequence[str], sample: Mapping) -> _Stage | None:
    """The common case in one parse: when the sampled guess gives every attribute's tags
    and every M / L attribute a single-tag structure, each line is parsed once with the
    M / L structure nested in the attribute's (no raw M / L text, no ``json_keys``).

    Each row's DynamoDB JSON length is recomputed from the parsed values (every part at
    most as long as its source text) and compared with the line's length: a row that
    differs had something the guess dropped (an unknown attribute, key or tag, or another
    spelling). Such rows keep their line in ``_bad``; they alone are parsed again, as the
    stage's ``rest``: a second fast part when what the guess missed are scalar or set
    attributes or tags (the guess plus those), and the rows that still differ the general
    way (every attribute they have, with the tags read from them). A guess that misses
    something costs a second parse of those rows only. Attributes of earlier snapshots
    (``known`` with their types) join the guess. Returns None when the guess does not
    allow this (the caller then uses :func:`_stage_export`)."""
    guess = _fast_guess(sample, known)
    if guess is None:
        return None
    hint, attributes, tags, typed, structures = guess
    stage = _fast_part(con, files, None, attributes, tags, typed, structures)
    if stage is None:
        return None  # the general path reads (or reports) it
    stage.hint, stage.files, stage.known, stage.sample = hint, list(files), list(known), sample
    part = stage
    try:
        while part.filtered:
            rows = f"(SELECT _bad AS json FROM {part.name} WHERE _bad IS NOT NULL)"
            found = _rest_tags(con, part.name, part.attributes, part.alias, part.tags)
            if part is stage:
                # Attributes or tags the guess missed that are scalars or sets: the rows
                # that have them take one more fast part, after the guess plus those.
                more = {
                    a: [t for t in _TAGS if t in set(t_) | set(tags.get(a, ()))]
                    for a, t_ in found.items()
                }
                grown = [a for a in more if more[a] != tags.get(a)]
                if grown and all(
                    not ({"M", "L"} & set(more[a])) and set(more[a]) <= set(_TAGS) for a in grown
                ):
                    both = {**tags, **more}
                    nxt = _fast_part(
                        con,
                        None,
                        rows,
                        sorted(both),
                        both,
                        typed,
                        {
                            **structures,
                            **{a: {t: _LOAD_TAG_TYPES[t] for t in more[a]} for a in grown},
                        },
                    )
                    if nxt is not None:
                        part.rest = part = nxt
                        continue
            part.rest = _stage_export(
                con, files, known, sample, attributes=sorted(found), tags=found, source=rows
            )
            break
    except BaseException:
        _drop_stage(con, stage)
        raise
    return stage


def _fast_part(con, files, source, attributes, tags, typed, structures) -> _Stage | None:
    """Parse ``files`` (or the lines of ``source``) once after ``structures`` into a
    temporary table, with the row length check of :func:`_fast_stage`: a row that fails
    it keeps its line in ``_bad``. None when the parse fails."""
    params: dict = {"files": list(files)} if source is None else {}
    frame = _frame(attributes, structures, params, extra="json AS _line", source=source)
    alias = {a: f"a{i}" for i, a in enumerate(attributes, 1)}
    ok = _length_ok_sql(attributes, structures)
    cols = ", ".join(alias[a] for a in attributes)
    name = _stage_name()
    try:
        con.execute(
            f"CREATE TEMP TABLE {name} AS SELECT {cols}, CAST(NULL AS VARCHAR[]) AS u, "
            f"CASE WHEN {ok} THEN NULL ELSE _line END AS _bad FROM ({frame})",
            params,
        )
        bad = con.execute(f"SELECT count(_bad) FROM {name}").fetchone()[0]
    except Exception:
        con.execute(f"DROP TABLE IF EXISTS {name}")
        return None
    return _Stage(
        name, list(attributes), dict(tags), dict(tags), typed, fast=True, filtered=bool(bad)
    )


def _length_ok_sql(
    attributes: Sequence[str], structures: Mapping[str, dict], exact: Sequence[str] = ()
) -> str:
    """SQL boolean over a frame of ``attributes`` parsed after ``structures`` (column
    ``a<i>`` per attribute) and the line (``_line``): true when the line's DynamoDB JSON
    length equals the length recomputed from the parsed values, i.e. the parse dropped
    nothing (no attribute, key or tag outside the structures, no other spelling).
    Attributes in ``exact`` are measured exactly in the cheap total too (see
    :func:`_exact_lengths`)."""
    alias = {a: f"a{i}" for i, a in enumerate(attributes, 1)}

    def total(cheap: bool) -> str:
        # {"Item":{...}}: 10 characters, plus per attribute "name":<value> and a comma, one
        # comma less (an attribute whose value has no known tag counts 0: less than its text).
        parts = " + ".join(
            _len_wrapper(alias[a], structures[a], 0, cheap and a not in exact, _json_len(a) + 1)
            for a in attributes
        )
        return f"10 + greatest({parts}, 1)"

    # The cheap total counts strings without their escapes: never more than the exact
    # total, so when it already equals the line's length the exact one does too; the
    # exact total (escapes counted by rendering) is only computed for the other rows.
    return f"coalesce(CASE WHEN strlen(_line) = {total(True)} THEN true ELSE strlen(_line) = {total(False)} END, false)"


def _exact_lengths(con, part: _Stage, structures: Mapping[str, dict]) -> frozenset[str]:
    """The attributes that the row length check measures exactly on every row, from
    sampled fast stage ``part`` (parsed after ``structures``): those whose cheap length
    (strings without their escapes) falls short in at least one sampled row in
    ``len(attributes)``. A row whose cheap total falls short pays for the exact length of
    every attribute, so free text that often has quotes, backslashes or line breaks (a
    fifth of the rows of the benchmark's ``note``) is cheaper to render once per row: 6-8 %
    of the load's CPU time there. The check is the same either way; only its cost changes."""
    alias = part.alias
    shorts = [
        f"count(*) FILTER (WHERE {_len_wrapper(alias[a], structures[a], 0, True)} "
        f"<> {_len_wrapper(alias[a], structures[a], 0, False)})"
        for a in part.attributes
    ]
    row = con.execute(f"SELECT count(*), {', '.join(shorts)} FROM {part.rows}").fetchone()
    return frozenset(
        a
        for a, short in zip(part.attributes, row[1:])
        if short and short * len(part.attributes) >= row[0]
    )


def _rest_tags(
    con,
    name: str,
    attributes: Sequence[str],
    alias: Mapping[str, str],
    tags: Mapping[str, Sequence[str]],
) -> dict[str, list[str]]:
    """Every attribute of the rows of fast stage ``name`` that its guess did not cover
    (``_bad``), with every tag its values have there: a sampled attribute keeps the
    sampled tags unless one of those rows has a value with none of them (its parsed
    STRUCT is then all NULL); the others' tags are read from the rows (every known tag
    as JSON, only their presence is used). An attribute whose values have no known tag
    gets every tag (the statistics then name the unknown one)."""
    bad = f"{name} WHERE _bad IS NOT NULL"
    flags = [
        f"bool_or({alias[a]} IS NOT NULL AND "
        + " AND ".join(f'{alias[a]}."{t}" IS NULL' for t in tags[a])
        + ")"
        for a in attributes
    ]
    row = con.execute(f"SELECT {', '.join(flags)} FROM {bad}").fetchone()
    out = {a: list(tags[a]) for a, missed in zip(attributes, row) if not missed}
    found = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT unnest(json_keys(_bad, '/Item')) FROM {bad}"
        ).fetchall()
    ]
    other = sorted(a for a in found if a not in out)
    if other:
        params: dict = {}
        frame = _frame(
            other,
            {a: {t: "JSON" for t in _TAGS} for a in other},
            params,
            source=f"(SELECT _bad AS json FROM {bad})",
        )
        aggs = [f'bool_or(a{i}."{t}" IS NOT NULL)' for i in range(1, len(other) + 1) for t in _TAGS]
        row = con.execute(f"SELECT {', '.join(aggs)} FROM ({frame})", params).fetchone()
        for i, a in enumerate(other):
            seen = [t for t, hit in zip(_TAGS, row[i * len(_TAGS) : (i + 1) * len(_TAGS)]) if hit]
            out[a] = seen or list(_TAGS)
    return {a: out[a] for a in sorted(out) if a in found}


def _json_len(text: str) -> int:
    """Bytes of ``text`` as a minimal JSON string (quotes included)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _len_tag(f: str, tag: str, sub, depth: int, cheap: bool = False) -> str:
    """SQL integer: the length of the value part of ``{"tag":<value>}`` written minified
    with minimal escapes, for ``f`` parsed after structure ``sub`` (NULL when ``f`` is);
    never more than the source text's. A node without a known tag counts 0, which is less
    than its text. ``cheap``: strings counted without escapes (a lower bound of the exact
    length, much cheaper to compute)."""
    if tag in ("S", "B"):
        return f"(strlen({f}) + 2)" if cheap else f"strlen(CAST(to_json({f}) AS VARCHAR))"
    if tag in ("SS", "BS", "NS"):
        if cheap:  # ["a","b"]: the elements, a comma between, two quotes each, the brackets
            return f"(strlen(array_to_string({f}, ',')) + 2 * len({f}) + 2)"
        return f"strlen(CAST(to_json({f}) AS VARCHAR))"
    if tag == "N":
        return f"(strlen({f}) + 2)"
    if tag in ("BOOL", "NULL"):
        return f"(5 - CAST({f} AS INTEGER))"
    if tag == "M":  # {"k":<v>,...}: each key with its colon and a comma, one comma less
        parts = [
            _len_wrapper(f"struct_extract_at({f}, {pos})", v, depth + 1, cheap, _json_len(k) + 1)
            for pos, (k, v) in enumerate(sub.items(), 1)
        ]
        return f"(CASE WHEN {f} IS NOT NULL THEN 1 + greatest({' + '.join(parts)}, 1) END)"
    if tag == "L":
        e = f"l{depth}"
        return (
            f"(CASE WHEN {f} IS NOT NULL THEN 1 + greatest(coalesce(list_sum(list_transform({f}, lambda {e}: "
            f"{_len_wrapper(e, sub[0], depth + 1, cheap, 0)})), 0), 1) END)"
        )
    raise ValueError(tag)  # pragma: no cover


def _len_wrapper(x: str, typed: dict, depth: int, cheap: bool = False, prefix: int = 0) -> str:
    """SQL integer: ``prefix`` (a key and its colon) plus the length of the wrapper
    ``{"tag":<value>}`` plus one (a comma) when ``x`` holds a value of a known tag, else 0
    (never NULL)."""
    branches = [
        f"coalesce({prefix + len(tag) + 6} + {_len_tag(f'{x}.{chr(34)}{tag}{chr(34)}', tag, sub, depth, cheap)}, 0)"
        for tag, sub in typed.items()
    ]
    return "(" + " + ".join(branches) + ")"


def _merge_stats(parts: Sequence[Sequence[AttributeStats]]) -> list[AttributeStats]:
    """One attribute's statistics from disjoint sets of rows, added up."""
    out: dict[str, AttributeStats] = {}
    for stats in parts:
        for st in stats:
            m = out.get(st.attribute)
            if m is None:
                out[st.attribute] = dataclasses.replace(st, type_counts=dict(st.type_counts))
                continue
            for t, c in st.type_counts.items():
                m.type_counts[t] = m.type_counts.get(t, 0) + c
            m.type_counts = dict(sorted(m.type_counts.items()))
            m.numbers += st.numbers
            m.unfit_alone += st.unfit_alone
            for f in ("max_int_digits", "max_scale"):
                a, b = getattr(m, f), getattr(st, f)
                setattr(m, f, b if a is None else a if b is None else max(a, b))
    return sorted(out.values(), key=lambda s: s.attribute)


def _discover_staged(con, files: Sequence[str], known: Sequence[str], structures: dict):
    """Statistics from one parse of the export, staged for the insert. Returns the stats
    and the stage, or None for the stage when the general stage's guess missed an attribute
    or a tag: the missed ones are then counted from the files and the insert reads the
    files again. (A fast stage never misses: rows its guess does not cover are in its
    ``rest``, staged with every attribute they have and every tag.)"""
    sample = _sample_structure(con, files)
    structures.update(sample)
    stage = _fast_stage(con, files, known, sample) or _stage_export(con, files, known, sample)
    try:
        per_part, incomplete, unknown = [], [], []
        for part in stage.parts():
            stats, inc, unk = _stats_pass(
                con, files, part.attributes, part.attributes, part.hint, stage=part
            )
            per_part.append(stats)
            incomplete += [a for a in inc if a not in incomplete]
            unknown += [a for a in unk if a not in unknown]
    except BaseException:
        _drop_stage(con, stage)
        raise
    stats = _merge_stats(per_part)
    if not (incomplete or unknown):
        return stats, stage
    _drop_stage(con, stage)
    more, _, _ = _stats_pass(con, files, sorted(incomplete + unknown), stage.attributes + unknown)
    return sorted(stats + more, key=lambda s: s.attribute), None


def _sample_structure(con, files: Sequence[str]) -> dict:
    """``json_group_structure`` of the first items' attributes (cheap: reads the start):
    :data:`_SAMPLE_ITEMS` lines, fewer when the first lines are long
    (:data:`_SAMPLE_BYTES`)."""
    params = {"files": list(files[:1])}
    try:
        size = (
            con.execute(
                f"SELECT avg(strlen(json)) FROM (SELECT json FROM {_source_sql()} LIMIT 16)", params
            ).fetchone()[0]
            or 1
        )
        n = min(_SAMPLE_ITEMS, max(16, int(_SAMPLE_BYTES // size)))
        row = con.execute(
            f"SELECT json_group_structure(json -> '$.Item') FROM (SELECT json FROM {_source_sql()} "
            f"LIMIT {n})",
            params,
        ).fetchone()
    except Exception as exc:
        raise _read_error(con, exc) from exc
    structure = json.loads(row[0]) if row and row[0] else None
    return structure if isinstance(structure, dict) else {}


def _json_pointer(attribute: str) -> str:
    return "/Item/" + attribute.replace("~", "~0").replace("/", "~1")


# --- M / L values to plain JSON in SQL ---------------------------------------------------


def _typed_structure(w, budget: list[int], depth: int = 0):
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
                content = {k: _typed_structure(v, budget, depth + 1) for k, v in sub.items()}
                ok = all(v is not None for v in content.values())
                out[tag] = content
        elif tag == "L":
            ok = isinstance(sub, list) and len(sub) == 1
            if ok:
                out[tag] = [_typed_structure(sub[0], budget, depth + 1)]
                ok = out[tag][0] is not None
        else:
            ok = False
        if not ok:
            return None
    return out


def _render_number(x: str) -> str:
    return f"CASE WHEN regexp_full_match({x}, '{_JSON_NUMBER_RE}') THEN {x} ELSE _ddb_json_number({x}) END"


def _render_tag(f: str, tag: str, sub, keys: list[str], depth: int, typed_text: bool) -> str:
    """SQL text of a value ``f`` (not NULL) of DynamoDB type ``tag`` with json_transform
    structure ``sub``: as plain JSON, or (``typed_text``) exactly as the export writes
    the value part of ``{"tag": ...}`` once minified, which the load compares with the
    source text to prove that the structure dropped nothing."""
    if typed_text and tag in ("S", "N", "B", "SS", "NS", "BS"):
        return f"CAST(to_json({f}) AS VARCHAR)"
    if tag in ("S", "B", "SS", "BS"):
        return f"CAST(to_json({f}) AS VARCHAR)"
    if tag == "N":
        return _render_number(f)
    if tag == "BOOL":
        return f"CASE WHEN {f} THEN 'true' ELSE 'false' END"
    if tag == "NULL":
        return "'true'" if typed_text else "'null'"
    if tag == "NS":
        return f"'[' || array_to_string(list_transform({f}, lambda n{depth}: {_render_number(f'n{depth}')}), ',') || ']'"
    if tag == "M":
        parts = []
        for pos, (k, v) in enumerate(sub.items(), 1):
            keys.append(json.dumps(k, ensure_ascii=False) + ":")
            c = f"struct_extract_at({f}, {pos})"
            parts.append(
                f"CASE WHEN {c} IS NOT NULL THEN $keys[{len(keys)}] || "
                f"{_render_wrapper(c, v, keys, depth + 1, typed_text)} END"
            )
        return f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"
    if tag == "L":
        e = f"e{depth}"
        return (
            f"'[' || array_to_string(list_transform({f}, lambda {e}: "
            f"{_render_wrapper(e, sub[0], keys, depth + 1, typed_text)}), ',') || ']'"
        )
    raise ValueError(tag)  # pragma: no cover - _typed_structure only lets known tags through


def _render_wrapper(x: str, typed: dict, keys: list[str], depth: int, typed_text: bool) -> str:
    """Like :func:`_render_tag` for a wrapper STRUCT ``x`` (one field per possible tag)."""
    branches = []
    for tag, sub in typed.items():
        f = f'{x}."{tag}"'
        r = _render_tag(f, tag, sub, keys, depth, typed_text)
        if typed_text:
            r = f"'{{\"{tag}\":' || {r} || '}}'"
        branches.append(f"WHEN {f} IS NOT NULL THEN {r}")
    return "CASE " + " ".join(branches) + " END"


# Characters the DynamoDB wrapper adds to a value's plain JSON (minified): {"S":…} around
# a string, {"N":"…"} around a number, {"BOOL":true} for true, {"NULL":true} for null, ...
_WRAPPER_CHARS = {"S": 6, "B": 6, "N": 8, "BOOL": 9, "NULL": 9, "SS": 7, "BS": 7, "M": 6, "L": 6}


def _overhead_tag(f: str, tag: str, sub, depth: int) -> str:
    """SQL integer: how many characters the DynamoDB JSON of ``f`` (a value of type
    ``tag`` with json_transform structure ``sub``) has beyond its plain rendering
    (:func:`_render_tag`), over every node; NULL when a node has no known tag (so the
    comparison fails and the row takes the exact codec)."""
    if tag == "NS":  # {"NS":[…]} plus two quotes per number
        return f"(7 + 2 * len({f}))"
    if tag == "M":
        parts = [
            f"CASE WHEN struct_extract_at({f}, {pos}) IS NULL THEN 0 ELSE "
            f"{_overhead_wrapper(f'struct_extract_at({f}, {pos})', v, depth + 1)} END"
            for pos, (k, v) in enumerate(sub.items(), 1)
        ]
        return "(" + " + ".join(["6"] + parts) + ")"
    if tag == "L":
        e = f"o{depth}"
        # an element without a known tag counts -10^12: no text length can match then
        return (
            f"(6 + coalesce(list_sum(list_transform({f}, lambda {e}: "
            f"coalesce({_overhead_wrapper(e, sub[0], depth + 1)}, -1000000000000))), 0))"
        )
    return str(_WRAPPER_CHARS[tag])


def _overhead_wrapper(x: str, typed: dict, depth: int) -> str:
    branches = [
        f'WHEN {x}."{tag}" IS NOT NULL THEN {_overhead_tag(f"{x}.{chr(34)}{tag}{chr(34)}", tag, sub, depth)}'
        for tag, sub in typed.items()
    ]
    return "(CASE " + " ".join(branches) + " END)"


def _tag_sql(x: str, tags: Sequence[str]) -> str:
    return (
        "CASE "
        + " ".join(f"WHEN {x}.\"{t}\" IS NOT NULL THEN '{t}'" for t in _TAGS if t in tags)
        + " END"
    )


def _value_text_sql(x: str, tags: Sequence[str]) -> str:
    """The exact text of any value (conflict columns): S as is, N digits, BOOL true/false,
    B base64, NULL -> NULL, sets / M / L -> plain JSON."""
    branches = []
    for t in _TAGS:
        if t not in tags or t == "NULL":
            continue
        f = f'{x}."{t}"'
        if t in ("S", "N", "B"):
            r = f
        elif t == "BOOL":
            r = f"CASE WHEN {f} THEN 'true' ELSE 'false' END"
        elif t in ("SS", "BS"):
            r = f"CAST(to_json({f}) AS VARCHAR)"
        elif t == "NS":
            r = f"'[' || array_to_string(list_transform({f}, lambda n: {_render_number('n')}), ',') || ']'"
        else:
            r = f"_ddb_plain_json_batch('{{\"{t}\":' || CAST({f} AS VARCHAR) || '}}')"
        branches.append(f"WHEN {f} IS NOT NULL THEN {r}")
    return ("CASE " + " ".join(branches) + " END") if branches else "CAST(NULL AS VARCHAR)"


def _cast_text(text: str, target: TypeSpec, source_tag: str | None, x: str) -> str:
    """SQL that converts an attribute's text to an override type (strict casts)."""
    if target.name == "timestamp":
        return (
            f"CASE WHEN regexp_matches({text}, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') "
            f"THEN timezone('UTC', CAST({text} AS TIMESTAMPTZ)) ELSE CAST({text} AS TIMESTAMP) END"
        )
    if target.name == "json":
        return f"CAST({text} AS JSON)"
    if target.name == "binary":
        if source_tag == "B":
            return f'from_base64({x}."B")'
        return f"CAST({text} AS BLOB)"
    if target.name in ("struct", "array"):
        return f"CAST(CAST({text} AS JSON) AS {target.duckdb()})"
    return f"CAST({text} AS {target.duckdb()})"


def _value_sql(
    p: ColumnPlan,
    x: str,
    tags: Sequence[str],
    typed: dict | None,
    keys: list[str],
    plain: str | None = None,
    exact: bool = False,
) -> str:
    """SQL for one column given ``x``, the attribute's value as a STRUCT with a field per
    DynamoDB type tag in ``tags`` (NULL when the item lacks the attribute). ``typed``: the
    structure of a single-tag M / L attribute when it can be rendered in SQL (parsed in
    column ``<x>_t``); ``plain``: a column that already holds that rendering
    (:func:`_plain_sql`), so it is computed once per row rather than twice."""
    if p.role == ROLE_TYPE:
        return _tag_sql(x, tags)
    s = p.decimal_scale
    if p.role == ROLE_RAW:
        if p.source_tag == "N":
            return f"CASE WHEN NOT _ddb_fits({x}.N, {s}) THEN {x}.N END"
        ns = f"{x}.NS"
        return (
            f"CASE WHEN NOT coalesce(list_bool_and(list_transform({ns}, lambda n: _ddb_fits(n, {s}))), true) "
            f"THEN CAST(to_json({ns}) AS VARCHAR) END"
        )
    tag = p.source_tag
    if p.override_type:
        if tag in ("S", "N"):
            text = f'({x}."{tag}")'
        elif tag == "BOOL":
            text = f"(CASE WHEN {x}.\"BOOL\" THEN 'true' WHEN NOT {x}.\"BOOL\" THEN 'false' END)"
        else:
            text = _value_text_sql(x, tags)
        return _cast_text(text, p.type, tag, x)
    if tag is None:
        if len([t for t in p.dynamodb_types if t != "NULL"]) > 1:
            return _value_text_sql(x, tags)
        return "CAST(NULL AS VARCHAR)"
    if tag == "S":
        return f"{x}.S"
    if tag == "N":
        # Guarded casts are TRY_CASTs: the optimizer may hoist a common CAST out of the CASE.
        if p.needs_fit_check:
            return f"CASE WHEN _ddb_fits({x}.N, {s}) THEN TRY_CAST({x}.N AS {p.type.duckdb()}) END"
        return f"CAST({x}.N AS {p.type.duckdb()})"
    if tag == "BOOL":
        return f'{x}."BOOL"'
    if tag == "B":
        return f"from_base64({x}.B)"
    if tag == "SS":
        return f"{x}.SS"
    if tag == "NS":
        if p.needs_fit_check:
            return (
                f"CASE WHEN coalesce(list_bool_and(list_transform({x}.NS, lambda n: _ddb_fits(n, {s}))), true) "
                f"THEN TRY_CAST({x}.NS AS {p.type.duckdb()}) END"
            )
        return f"CAST({x}.NS AS {p.type.duckdb()})"
    if tag == "BS":
        return f"list_transform({x}.BS, lambda b: from_base64(b))"
    if tag in ("M", "L"):
        udf = f"_ddb_plain_json_batch('{{\"{tag}\":' || CAST({x}.\"{tag}\" AS VARCHAR) || '}}')"
        if typed is not None:
            # t: the value parsed after the first items' structure; rendered in SQL when
            # re-writing it as DynamoDB JSON gives back every byte of the source text.
            t = f"{x}_t"
            plain = plain or _plain_sql(x, typed, keys)
            if exact:  # every row's length was checked when staged (:func:`_fast_stage`)
                return f'CAST(CASE WHEN {x}."{tag}" IS NOT NULL THEN {plain} END AS JSON)'
            # The source text minus every wrapper is exactly as long as the rendering
            # only if the structure dropped nothing (an unknown key or tag drops text).
            extra = _overhead_tag(t, tag, typed[tag], 0)
            return (
                f'CAST(CASE WHEN {x}."{tag}" IS NULL THEN NULL '
                f'WHEN strlen(CAST({x}."{tag}" AS VARCHAR)) = strlen({plain}) + {extra} - 6 THEN {plain} '
                f"ELSE {udf} END AS JSON)"
            )
        return f"CAST(_ddb_plain_json_batch('{{\"{tag}\":' || CAST({x}.\"{tag}\" AS VARCHAR) || '}}') AS JSON)"
    raise ValueError(f"no conversion for DynamoDB type {tag!r}")


def _plain_sql(x: str, typed: dict, keys: list[str]) -> str:
    """Plain JSON text of a single-tag M / L value parsed in ``<x>_t`` after ``typed``."""
    ((tag, sub),) = typed.items()
    return _render_tag(f"{x}_t", tag, sub, keys, 0, False)


_META_DDL = """CREATE TABLE IF NOT EXISTS {meta} (
    snapshot_date DATE NOT NULL, ordinal INTEGER NOT NULL, column_name VARCHAR NOT NULL,
    physical_column VARCHAR NOT NULL, sql_type VARCHAR NOT NULL, physical_type VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL, role VARCHAR NOT NULL, dynamodb_types VARCHAR[],
    max_int_digits INTEGER, load_seq BIGINT NOT NULL, row_count BIGINT)"""

# One row per snapshot (also an empty one, which has no column rows): the latest snapshot
# and the previous one are read here, not from the column metadata.
_LOADS_DDL = """CREATE TABLE IF NOT EXISTS {loads} (
    snapshot_date DATE NOT NULL, load_seq BIGINT NOT NULL, row_count BIGINT NOT NULL)"""

# The Parquet files of every snapshot (paths relative to the warehouse's snapshot folder).
_FILES_DDL = """CREATE TABLE IF NOT EXISTS {files} (
    snapshot_date DATE NOT NULL, file VARCHAR NOT NULL, row_count BIGINT NOT NULL)"""


# --- storage: one folder of Parquet files per snapshot ---------------------------------

# zstd at level 1 writes as fast as snappy (1.86 vs 1.84 CPU-s for the benchmark's 1M typed
# rows) for files half the size (31 vs 56 MB; zstd's default level costs a fifth more);
# DuckDB's own table storage costs about a seventh more CPU for the whole load. Row groups
# are cut by bytes (items can be 400 KB each), within the load's capped memory.
PARQUET_OPTIONS = (
    "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE_BYTES '16MB'"
)
_MEMORY_ROOTS: dict[str, str] = {}


def snapshot_root(con) -> pathlib.Path:
    """The folder that holds the snapshot files of the connection's current database:
    ``<warehouse file>.snapshots`` next to the file, or (an in-memory database) a
    temporary folder removed when the process exits."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if row and row[0]:
        path = pathlib.Path(row[0]).resolve()
        return path.with_name(path.name + ".snapshots")
    if "memory" not in _MEMORY_ROOTS:
        import atexit
        import shutil

        root, pid = tempfile.mkdtemp(prefix="ddb_assets_memory_snapshots_"), os.getpid()
        _MEMORY_ROOTS["memory"] = root
        # Only the process that made it removes it (not a forked child that exits first).
        atexit.register(lambda: os.getpid() == pid and shutil.rmtree(root, True))
    return pathlib.Path(_MEMORY_ROOTS["memory"])


def _snapshot_folder(schema: str, table: str, snapshot_date: dt.date) -> pathlib.PurePosixPath:
    """A snapshot's folder under the snapshot root (as the Athena engine's partitions)."""
    return pathlib.PurePosixPath(schema, table, f"{PARTITION_COLUMN}={snapshot_date.isoformat()}")


def _read_files_sql(paths: Sequence[str]) -> str:
    """A FROM item over Parquet files (no Hive columns from the folder names)."""
    return f"read_parquet([{', '.join(sql_literal(p) for p in paths)}], hive_partitioning = false)"


class _SnapshotWriter:
    """The files one load writes: fresh names in the snapshot's folder, so nothing is
    overwritten; the caller removes them when the load fails (see :func:`_load`)."""

    def __init__(
        self, root: pathlib.Path, schema: str, table: str, snapshot_date: dt.date, load_seq: int
    ):
        import uuid

        self.root = root
        self.folder = _snapshot_folder(schema, table, snapshot_date)
        self.prefix = f"{load_seq:06d}-{uuid.uuid4().hex[:12]}"
        self.written: list[tuple[str, int]] = []  # (path relative to root, rows)
        self.created: list[pathlib.Path] = []  # every file made, written or not
        self.stats: list[dict] = []  # per written file: the writer's column statistics

    def path(self, folder: pathlib.PurePosixPath | None = None) -> tuple[str, pathlib.Path]:
        rel = str((folder or self.folder) / f"{self.prefix}-{len(self.created):04d}.parquet")
        full = self.root / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        self.created.append(full)
        return rel, full

    def copy(
        self,
        con,
        select: str,
        params: dict | None = None,
        folder: pathlib.PurePosixPath | None = None,
    ) -> int:
        """``COPY (select) TO`` a new file of the snapshot; returns its rows."""
        rel, full = self.path(folder)
        cur = con.execute(
            f"COPY ({select}) TO {sql_literal(str(full))} ({PARQUET_OPTIONS}, RETURN_STATS)",
            params or {},
        )
        names = [d[0] for d in cur.description]
        (row,) = cur.fetchall()
        rows = int(row[names.index("count")])
        self.written.append((rel, rows))
        self.stats.append(dict(row[names.index("column_statistics")] or {}))
        return rows

    def files(self) -> list[str]:
        return [str(self.root / rel) for rel, _ in self.written]

    def drop_empty(self) -> None:
        """Remove files without rows (a stage part can be empty), keeping one if all are:
        it carries the snapshot's typed columns."""
        keep = [i for i, (_, n) in enumerate(self.written) if n] or [0][: len(self.written)]
        for i, (rel, _) in enumerate(self.written):
            if i not in keep:
                with contextlib.suppress(OSError):
                    (self.root / rel).unlink()
        self.written = [self.written[i] for i in keep]
        self.stats = [self.stats[i] for i in keep]

    def discard(self) -> None:
        for f in self.created:
            with contextlib.suppress(OSError):
                f.unlink()
        self.written.clear()
        self.stats.clear()


def _remove_files(root: pathlib.Path, rels: Sequence[str]) -> None:
    """Remove replaced snapshot files (after the commit that stopped using them) and the
    folders they leave empty. A file that cannot be removed stays, unused."""
    for rel in rels:
        full = root / rel
        with contextlib.suppress(OSError):
            full.unlink()
        with contextlib.suppress(OSError):
            full.parent.rmdir()


def _migrate_table(
    con, schema: str, table: str, snapshots: str, meta: str, files_tbl: str, writer: _SnapshotWriter
) -> None:
    """A warehouse written before snapshots were Parquet files keeps them in a table
    ``T__snapshots``: write every snapshot of it to its files (typed as its column
    metadata says) and drop the table, in the load's transaction."""
    rows = con.execute(
        f"SELECT snapshot_date, list(physical_column ORDER BY ordinal), "
        f"list(physical_type ORDER BY ordinal) FROM {meta} GROUP BY snapshot_date "
        f"ORDER BY snapshot_date"
    ).fetchall()
    for snapshot_date, physicals, types in rows:
        cols = ", ".join(
            [quote_ident(PARTITION_COLUMN)]
            + [
                f"CAST({quote_ident(c)} AS {parse_type(t).duckdb()}) AS {quote_ident(c)}"
                for c, t in zip(physicals, types)
            ]
        )
        n = writer.copy(
            con,
            f"SELECT {cols} FROM {snapshots} WHERE {quote_ident(PARTITION_COLUMN)} = $d",
            {"d": snapshot_date},
            folder=_snapshot_folder(schema, table, snapshot_date),
        )
        con.execute(
            f"INSERT INTO {files_tbl} VALUES (?, ?, ?)", [snapshot_date, writer.written[-1][0], n]
        )
    writer.written.clear()
    writer.stats.clear()
    con.execute(f"DROP TABLE {snapshots}")


def _snapshot_views(
    con,
    root: pathlib.Path,
    snapshots: str,
    view: str,
    meta: str,
    files_tbl: str,
    latest: dt.date | None,
) -> None:
    """``T__snapshots`` (every snapshot) and ``T`` (the latest one) as views over the
    snapshot files. A physical column has the type of its latest load; older files whose
    column was narrower (a widened DECIMAL scale) are cast to it. Snapshots with the same
    columns and types share one ``read_parquet``."""
    rows = con.execute(
        f"SELECT snapshot_date, physical_column, physical_type, column_name FROM {meta} "
        f"ORDER BY load_seq, ordinal"
    ).fetchall()
    current: dict[str, str] = {}  # physical column -> its latest type (in the order first seen)
    per_date: dict[dt.date, dict[str, str]] = {}
    for d, phys, ptype, _ in rows:
        current[phys] = ptype
        per_date.setdefault(d, {})[phys] = ptype
    order = list(current)
    files: dict[dt.date, list[str]] = {}
    for d, rel in con.execute(
        f"SELECT snapshot_date, file FROM {files_tbl} ORDER BY snapshot_date, file"
    ).fetchall():
        files.setdefault(d, []).append(str(root / rel))
    date_col = quote_ident(PARTITION_COLUMN)

    def typed(phys: str) -> str:
        return parse_type(current[phys]).duckdb()

    def read(phys: str, in_file: str | None, name: str) -> str:
        """Physical column ``phys`` typed as now, from files that hold it as ``in_file``."""
        if in_file is None:
            return f"CAST(NULL AS {typed(phys)}) AS {quote_ident(name)}"
        value = (
            quote_ident(phys)
            if in_file == current[phys]
            else f"CAST({quote_ident(phys)} AS {typed(phys)})"
        )
        return f"{value} AS {quote_ident(name)}"

    groups: dict[tuple, list[str]] = {}
    for d, paths in files.items():
        groups.setdefault(tuple(sorted(per_date.get(d, {}).items())), []).extend(paths)
    branches = []
    for key, paths in groups.items():
        have = dict(key)
        cols = [date_col] + [read(p, have.get(p), p) for p in order]
        branches.append(f"SELECT {', '.join(cols)} FROM {_read_files_sql(paths)}")
    if not branches:
        cols = [f"CAST(NULL AS DATE) AS {date_col}"] + [read(p, None, p) for p in order]
        branches.append(f"SELECT {', '.join(cols)} WHERE false")
    con.execute(f"CREATE OR REPLACE VIEW {snapshots} AS {' UNION ALL '.join(branches)}")

    latest_cols = [(c, p, t) for d, p, t, c in rows if d == latest]
    if latest is not None and files.get(latest):
        select = ", ".join([read(p, t, c) for c, p, t in latest_cols] + [date_col])
        con.execute(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM {_read_files_sql(files[latest])}"
        )
    else:
        # No rows (an empty export): the latest snapshot's columns, typed, and no row.
        select = ", ".join(
            [read(p, None, c) for c, p, _ in latest_cols] + [f"CAST(NULL AS DATE) AS {date_col}"]
        )
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select} WHERE false")


# --- one pass: the sampled guess, checked on every line while it is inserted --------------

# How a line the guess does not cover stops the one-pass insert (the line follows).
_MISSED = "ddb_assets: an item the sampled guess does not cover: "
# Files the sample reads the first lines of (spread over the export), and one-pass attempts
# (each one after the first learns from the line that stopped the one before).
_SAMPLE_FILES = 16
_DIRECT_ATTEMPTS = 2


class _GuessMissed(Exception):
    """The one-pass load's guess does not describe the export (its transaction is rolled back)."""


def _spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indexes spread evenly over ``n`` files, the first and the last included."""
    return (
        sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
        if n > k >= 2
        else list(range(min(n, max(k, 1))))
    )


def _spread_sample(con, name: str, files: Sequence[str]) -> None:
    """Temporary table ``name`` (one ``json`` column): the first lines of up to
    :data:`_SAMPLE_FILES` files spread over the export (:data:`_SAMPLE_ITEMS` in all, and
    at most :data:`_SAMPLE_BYTES` of text), so an attribute that only some files have is seen. Read here (a few hundred KiB per
    file: DuckDB's reader would fill a buffer of megabytes per file)."""
    import gzip

    n = len(files)
    picks = _spread(n, _SAMPLE_FILES)
    per = max(1, -(-_SAMPLE_ITEMS // len(picks)))
    budget = _SAMPLE_BYTES // len(picks)  # per file; at least one line of each
    lines: list[str] = []
    for i in picks:
        used = 0
        with gzip.open(files[i], "rt", encoding="utf-8", newline="\n") as fh:
            for line in itertools.islice(fh, per):
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                    used += len(line)
                    if used >= budget:
                        break
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT CAST(unnest($lines) AS JSON) AS json", {"lines": lines}
    )


def _load_direct(con, schema, table, snapshot_date, files, overrides) -> SnapshotResult | None:
    """The common case in one pass: the plan comes from a sample spread over the files, and
    one ``COPY (SELECT ...) TO`` parses every line once and writes the typed rows, checking
    each line as it goes (:func:`_direct_rows`): nothing the guess does not cover (the row
    length check) and every number fits its column exactly. The first line that fails
    stops the write (its transaction rolls back, its file is removed) and joins the sample
    for one more attempt. After the write, the statistics of every row (the Parquet
    writer's, or read back from the typed columns: :func:`_direct_stats`) must give the
    same plan as the sample's.

    Returns None, with nothing written, when this does not apply or the attempts miss:
    the staged load (:func:`_discover_staged`) then reads the export, and reports what
    is wrong with it. Type conflicts, numbers that fit no DECIMAL(38, s) and overrides on
    numbers always take that path. Nothing carries over to it: this path makes no
    temporary table but its sample's, dropped at the end."""
    import zlib

    import duckdb

    name = _stage_name()
    try:
        _spread_sample(con, name, files)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, duckdb.Error):
        con.execute(f"DROP TABLE IF EXISTS {name}")
        return None
    try:
        for _ in range(_DIRECT_ATTEMPTS):
            # The whole line's structure, then its Item: a quarter faster than json -> '$.Item'
            # per line (which re-serializes every Item).
            row = con.execute(f"SELECT json_group_structure(json) FROM {name}").fetchone()
            whole = json.loads(row[0]) if row and row[0] else None
            sample = whole.get("Item") if isinstance(whole, dict) else None
            guess = _fast_guess(sample) if isinstance(sample, dict) else None
            if guess is None:
                return None
            hint, attributes, tags, typed, structures = guess
            if any(a in overrides and {"N", "NS"} & set(tags[a]) for a in attributes):
                return None
            part = _fast_part(
                con, None, f"(SELECT json FROM {name})", attributes, tags, typed, structures
            )
            if part is None:
                return None
            try:
                if part.filtered:
                    return None
                stats, incomplete, unknown = _stats_pass(
                    con, files, attributes, attributes, hint, stage=part
                )
                exact = _exact_lengths(con, part, structures)
            finally:
                _drop_stage(con, part)
            if (
                incomplete
                or unknown
                or any(
                    len(st.non_null_types) > 1
                    or st.unfit_alone
                    or (st.max_int_digits or 0) + (st.max_scale or 0) > DECIMAL_PRECISION
                    for st in stats
                )
            ):
                return None  # type conflicts, numbers that fit no DECIMAL(38, s) together: staged
            stage = _Stage(
                "",
                list(attributes),
                hint,
                tags,
                typed,
                fast=True,
                files=list(files),
                direct=structures,
                exact=exact,
            )
            try:
                return _load(
                    con, schema, table, snapshot_date, files, stats, overrides, sample, stage
                )
            except _GuessMissed:
                return None
            except duckdb.InterruptException:
                raise  # the caller stopped the load: no second attempt
            except duckdb.Error as exc:
                line = _missed_line(exc)
                if line is None:
                    return None
                con.execute(f"INSERT INTO {name} VALUES (?)", [line])
        return None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _missed_line(exc: Exception) -> str | None:
    """The line in the error that stopped a one-pass insert, or None (another error)."""
    text = str(exc)
    at = text.find(_MISSED)
    if at < 0:
        return None
    text = text[at + len(_MISSED) :]
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return text[:end]


def _fits_sql(x: str, scale: int) -> str:
    """SQL boolean: number text ``x`` (not NULL) is a plain decimal short enough to be
    exactly a DECIMAL(38, scale): at most 38 - scale characters, no exponent, at most
    ``scale`` digits after the point. (Cheap, and true for most numbers; the others are
    decided by their shape, :func:`_ddb_fits`.)"""
    return (
        f"(strlen({x}) <= {DECIMAL_PRECISION - scale} AND NOT contains({x}, 'e') AND NOT contains({x}, 'E') "
        f"AND (instr({x}, '.') = 0 OR strlen({x}) - instr({x}, '.') <= {scale}))"
    )


def _number_check_sql(x: str, tag: str, scale: int) -> str:
    """SQL boolean: the N (or every NS element) of ``x`` is exactly a DECIMAL(38, scale);
    true when there is none. CASE, not OR, so the exact test only runs when the cheap one
    fails (a projection evaluates every operand of OR, and a lambda every CASE branch)."""
    if tag == "N":
        return (
            f"CASE WHEN {x}.N IS NULL OR {_fits_sql(f'{x}.N', scale)} THEN true "
            f"ELSE _ddb_fits({x}.N, {scale}) END"
        )
    return (
        f"CASE WHEN {x}.NS IS NULL OR list_bool_and(list_transform({x}.NS, lambda e: {_fits_sql('e', scale)})) "
        f"THEN true ELSE coalesce(list_bool_and(list_transform({x}.NS, lambda e: _ddb_fits(e, {scale}))), true) END"
    )


def _direct_rows(part: _Stage, plans, params: dict) -> str:
    """The FROM item of the one-pass insert: the files parsed after ``part.direct``, each
    line checked in column ``_ok`` (true, or the first line that fails raises
    :data:`_MISSED` with the line)."""
    frame = _frame(part.attributes, part.direct, params, extra="json AS _line")
    params["files"] = list(part.files)
    checks = [_length_ok_sql(part.attributes, part.direct, part.exact)]
    alias = part.alias
    for p in plans:
        if (
            p.role != ROLE_VALUE
            or p.override_type
            or p.needs_fit_check
            or p.source_tag not in ("N", "NS")
        ):
            continue
        checks.append(_number_check_sql(alias[p.attribute], p.source_tag, p.decimal_scale))
    guard = " AND ".join(checks)
    # A column the insert writes (snapshot_date), not a WHERE: a filter would be pushed
    # into the parse and parse every line twice.
    return f"(SELECT *, CASE WHEN {guard} THEN true ELSE error('{_MISSED}' || _line) END AS _ok FROM ({frame}))"


def _plan_key(p: ColumnPlan) -> tuple:
    return (
        p.column,
        p.type.canonical(),
        p.attribute,
        p.role,
        tuple(p.dynamodb_types),
        p.source_tag,
        p.decimal_scale,
        p.needs_fit_check,
        p.override_type,
    )


def _footer_values(stats: Mapping, rows: int, p: ColumnPlan) -> tuple | None:
    """(values, numbers, largest absolute number) of plan ``p``'s column from the Parquet
    writer's own statistics of the file (``COPY ... RETURN_STATS``, counted over every
    row), or None when they are missing or inexact (then the file is read)."""
    top = stats.get(quote_ident(p.physical))
    if top is None or "null_count" not in top:
        return None
    values = rows - int(top["null_count"])
    if p.source_tag not in ("N", "NS"):
        return values, None, None
    num = top if p.source_tag == "N" else stats.get(f'{quote_ident(p.physical)}."element"')
    if num is None or "null_count" not in num or "num_values" not in num:
        return None
    numbers = values if p.source_tag == "N" else int(num["num_values"]) - int(num["null_count"])
    if not numbers:
        return values, 0, None
    if num.get("min_is_exact") != "true" or num.get("max_is_exact") != "true":
        return None
    from decimal import Decimal, InvalidOperation

    try:
        return values, numbers, max(abs(Decimal(num["min"])), abs(Decimal(num["max"])))
    except (KeyError, InvalidOperation):
        return None


def _direct_stats(
    con, written: str, plans, sampled, footer: tuple[int, Mapping] | None = None
) -> list[AttributeStats]:
    """Every row's statistics after a one-pass write, read from the typed columns of the
    snapshot's new files (``written``, a FROM item; every number was checked to fit its
    column exactly, so the column holds its exact value): per attribute the count of its
    value tag, and for N / NS the count of numbers, the most integer digits and the largest
    scale (only scales between the sample's and the column's are tested: the sample's is a
    lower bound, the column's an upper one). The tags themselves are the sample's (the row length check allowed no
    other). Kept from the sample: a dropped attribute's statistics, and the count of NULL
    values of an attribute whose column cannot tell them from an absent attribute (only
    type conflicts report counts, and those take the staged load).

    ``footer``: (rows, the Parquet writer's statistics) of the one file written: the counts
    and largest numbers come from them (no read of the file) when no scale needs testing."""
    by_attr = {p.attribute: p for p in plans if p.role == ROLE_VALUE}
    if footer is not None:
        from_footer = _direct_stats_from_footer(by_attr, sampled, *footer)
        if from_footer is not None:
            return from_footer
    out = [dataclasses.replace(st, type_counts=dict(st.type_counts)) for st in sampled]
    aggs: list[str] = []
    reads: list = []  # (stats, plan, position of its count, its number shapes (SQL, first scale tested))
    for st in out:
        p = by_attr.get(st.attribute)
        if p is None or p.source_tag is None:
            continue
        col = quote_ident(p.physical)
        scale = p.decimal_scale or 0
        low = min(st.max_scale or 0, scale)
        shapes = [f"count({col})", f"max(abs({col}))"] + [
            f"bool_and({col} = round({col}, {k}))" for k in range(low, scale)
        ]
        reads.append((st, p, len(aggs), shapes, low))
        aggs.append(f"count({col})")
        if p.source_tag == "N":
            aggs += shapes
    row = con.execute(f"SELECT {', '.join(aggs)} FROM {written}").fetchone() if aggs else ()
    for st, p, at, shapes, low in reads:
        st.type_counts[p.source_tag] = int(row[at])
        if p.source_tag == "N":
            values = row[at + 1 : at + 1 + len(shapes)]
        elif p.source_tag == "NS":
            col = quote_ident(p.physical)
            values = con.execute(
                f"SELECT {', '.join(shapes)} FROM (SELECT unnest({col}) AS {col} FROM {written})"
            ).fetchone()
        else:
            continue
        count, biggest, *whole = values
        st.numbers, st.unfit_alone = int(count), 0
        st.max_int_digits = (
            None if biggest is None else (len(str(int(biggest))) if biggest >= 1 else 0)
        )
        st.max_scale = (
            None
            if biggest is None
            else next((low + k for k, ok in enumerate(whole) if ok), p.decimal_scale or 0)
        )
    return out


def _direct_stats_from_footer(
    by_attr, sampled, rows: int, footer: Mapping
) -> list[AttributeStats] | None:
    """:func:`_direct_stats` from the writer's statistics; None when a column needs its
    file read."""
    out = [dataclasses.replace(st, type_counts=dict(st.type_counts)) for st in sampled]
    for st in out:
        p = by_attr.get(st.attribute)
        if p is None or p.source_tag is None:
            continue
        if p.source_tag in ("N", "NS") and min(st.max_scale or 0, p.decimal_scale or 0) < (
            p.decimal_scale or 0
        ):
            return None  # a scale to test: only the values tell
        got = _footer_values(footer, rows, p)
        if got is None:
            return None
        values, numbers, biggest = got
        st.type_counts[p.source_tag] = values
        if p.source_tag in ("N", "NS"):
            st.numbers, st.unfit_alone = numbers, 0
            st.max_int_digits = (
                None if biggest is None else (len(str(int(biggest))) if biggest >= 1 else 0)
            )
            st.max_scale = None if biggest is None else (p.decimal_scale or 0)
    return out


def load_snapshot_duckdb(
    con,
    *,
    schema: str,
    table: str,
    snapshot_date: dt.date,
    data_files: Sequence[pathlib.Path | str],
    export_format: str = "DYNAMODB_JSON",
    overrides: Mapping[str, ColumnOverride] | None = None,
    work_dir: pathlib.Path | str | None = None,
) -> SnapshotResult:
    """Load one export as the ``snapshot_date`` snapshot of ``schema.table`` (replacing it)."""
    validate_catalog_name(schema, "schema")
    validate_catalog_name(table, "table")
    if not isinstance(snapshot_date, dt.date) or isinstance(snapshot_date, dt.datetime):
        raise TypeError("snapshot_date must be a datetime.date")
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, got {export_format!r}")
    files = [str(f) for f in data_files]
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"export data file {f} does not exist")
    overrides = dict(overrides or {})
    with tempfile.TemporaryDirectory(prefix="ddb_ion_", dir=work_dir) as tmp:
        if export_format == "ION":
            files = _ion_to_json_files(files, tmp)
        _prepare(con)
        long = bool(files) and _longest_line(files) >= LONG_LINE
        if files:
            with _load_settings(
                con,
                _memory_limit(
                    con, DIRECT_MEMORY_PER_THREAD_LONG if long else DIRECT_MEMORY_PER_THREAD
                ),
            ):
                result = _load_direct(con, schema, table, snapshot_date, files, overrides)
            if result is not None:
                return result
        with _load_settings(
            con, _memory_limit(con, LOAD_MEMORY_PER_THREAD_LONG if long else LOAD_MEMORY_PER_THREAD)
        ):
            structures: dict = {}
            stats, stage = [], None
            if files:
                stats, stage = _discover_staged(
                    con, files, _known_attributes(con, schema, table), structures
                )
            try:
                return _load(
                    con, schema, table, snapshot_date, files, stats, overrides, structures, stage
                )
            finally:
                _drop_stage(con, stage)


# The child loads codec.py by its path: no package import, and the module's folder (which
# holds a types.py) never lands on sys.path.
_ION_CHILD = (
    "import importlib.util, sys; spec = importlib.util.spec_from_file_location('_ddb_codec', sys.argv[1]); "
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
    "m.ion_to_dynamodb_json(sys.argv[2], sys.argv[3])"
)


def _ion_to_json_files(files: Sequence[str], tmp: str) -> list[str]:
    """Transcode ION files to DYNAMODB_JSON. The reader is pure Python, so with several
    files one child interpreter per core runs :mod:`ddb_assets.tables.codec` (loaded by path)
    (no fork of this process and its threads, no re-import of the caller's main module)."""
    dsts = [os.path.join(tmp, f"part-{i:05d}.json.gz") for i in range(len(files))]
    workers = min(len(files), os.cpu_count() or 1)
    if workers <= 1:
        for f, d in zip(files, dsts):
            try:
                codec.ion_to_dynamodb_json(f, d)
            except Exception as exc:
                raise ExportReadError(f"cannot read {f} as an ION export: {exc}") from exc
        return dsts
    import subprocess
    import sys

    pending = list(zip(files, dsts))
    running: list = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                f, d = pending.pop(0)
                running.append(
                    (
                        f,
                        subprocess.Popen(
                            [sys.executable, "-c", _ION_CHILD, codec.__file__, f, d],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                        ),
                    )
                )
            f, proc = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines()
                raise ExportReadError(
                    f"cannot read {f} as an ION export: {lines[-1] if lines else proc.returncode}"
                )
    finally:
        for _, proc in running:
            proc.kill()
            proc.wait()
    return dsts


def _table_exists(con, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def _known_attributes(con, schema: str, table: str) -> dict[str, list[str]]:
    """The attributes of the table's earlier snapshots, each with the DynamoDB types it had."""
    if not _table_exists(con, schema, table + "__columns"):
        return {}
    rows = con.execute(
        f"SELECT attribute, list_distinct(flatten(list(dynamodb_types))) "
        f"FROM {qualified(schema, table + '__columns')} GROUP BY attribute ORDER BY attribute"
    ).fetchall()
    return {a: sorted(t or []) for a, t in rows}


def _load(
    con, schema, table, snapshot_date, files, stats, overrides, structures, stage=None
) -> SnapshotResult:
    snapshots = qualified(schema, table + "__snapshots")
    meta = qualified(schema, table + "__columns")
    loads = qualified(schema, table + "__loads")
    files_tbl = qualified(schema, table + "__files")
    view = qualified(schema, table)
    root = snapshot_root(con)
    writer: _SnapshotWriter | None = None
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        con.execute(_META_DDL.format(meta=meta))
        con.execute(_FILES_DDL.format(files=files_tbl))
        if not _table_exists(con, schema, table + "__loads"):
            # A warehouse written before the load log: rebuild it from the column metadata.
            con.execute(_LOADS_DDL.format(loads=loads))
            con.execute(
                f"INSERT INTO {loads} SELECT snapshot_date, max(load_seq), max(coalesce(row_count, 0)) "
                f"FROM {meta} GROUP BY snapshot_date"
            )
        hist_rows = con.execute(
            f"SELECT attribute, column_name, physical_column, physical_type, max_int_digits, load_seq, "
            f"snapshot_date, sql_type, role FROM {meta} ORDER BY load_seq, ordinal"
        ).fetchall()
        last_seq, prev_date = con.execute(
            f"SELECT max(load_seq), max(snapshot_date) FILTER (WHERE snapshot_date < ?) FROM {loads}",
            [snapshot_date],
        ).fetchone()
        load_seq = 1 + max([r[5] for r in hist_rows] + [last_seq or 0])
        writer = _SnapshotWriter(root, schema, table, snapshot_date, load_seq)
        if _table_exists(con, schema, table + "__snapshots"):  # a table, not the view
            _migrate_table(con, schema, table, snapshots, meta, files_tbl, writer)
        history = {a: c for a, c, _, _, _, _, _, _, role in hist_rows if role == "value"}
        # physical column -> (current canonical type, max integer digits ever stored)
        physical: dict[str, list] = {}
        by_column: dict[str, str] = {}  # column name -> its latest physical column
        for _attr, col, phys, ptype, mi, _seq, _sdate, _, _ in hist_rows:
            entry = physical.setdefault(phys, [ptype, mi])
            entry[0] = ptype
            if mi is not None:
                entry[1] = max(entry[1] or 0, mi)
            by_column[col] = phys
        previous_types = {c: parse_type(physical[p][0]) for c, p in by_column.items()}
        plans, conflicts = plan_columns(
            stats, overrides, history=history, previous_types=previous_types
        )

        # Physical columns: reuse when the type matches, widen a decimal scale when every
        # stored value still fits (the views cast older files to it), otherwise add a new
        # physical column (old snapshots keep theirs, typed as they were).
        for p in plans:
            want = p.type.canonical()
            phys = by_column.get(p.column)
            if phys is not None and physical[phys][0] == want:
                p.physical = phys
                continue
            if phys is not None and _can_widen(
                parse_type(physical[phys][0]),
                p.type,
                max(physical[phys][1] or 0, p.max_int_digits or 0),
            ):
                physical[phys][0] = want
                p.physical = phys
                continue
            name, n = p.column, 1
            while name in physical or name == PARTITION_COLUMN:
                n += 1
                name = f"{p.column}__v{n}"
            physical[name] = [want, p.max_int_digits]
            p.physical = name

        replaced = [
            r[0]
            for r in con.execute(
                f"SELECT file FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date]
            ).fetchall()
        ]
        con.execute(f"DELETE FROM {files_tbl} WHERE snapshot_date = ?", [snapshot_date])
        row_count = 0
        if files:
            row_count = _insert(
                con, writer, snapshot_date, files, plans, stats, overrides, structures, stage
            )
            writer.drop_empty()
        written = _read_files_sql(writer.files()) if writer.written else None
        if stage is not None and stage.direct is not None and written:
            # The plan came from the sample; the statistics of every row (the writer's, or
            # read back from the typed columns) must give the same plan (else rolled back).
            exact = _direct_stats(
                con,
                written,
                plans,
                stats,
                (writer.written[0][1], writer.stats[0]) if len(writer.stats) == 1 else None,
            )
            again, conflicts = plan_columns(
                exact, overrides, history=history, previous_types=previous_types
            )
            if [_plan_key(p) for p in again] != [_plan_key(p) for p in plans]:
                raise _GuessMissed(
                    "the statistics of every row give another plan than the sample's"
                )
            for p, q in zip(plans, again):
                p.max_int_digits = q.max_int_digits

        con.execute(f"DELETE FROM {meta} WHERE snapshot_date = ?", [snapshot_date])
        for i, p in enumerate(plans):
            con.execute(
                f"INSERT INTO {meta} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    snapshot_date,
                    i,
                    p.column,
                    p.physical,
                    p.type.canonical(),
                    physical[p.physical][0],
                    p.attribute,
                    p.role,
                    p.dynamodb_types,
                    p.max_int_digits,
                    load_seq,
                    row_count,
                ],
            )

        unfit: list[UnfitNumbers] = []
        for p in plans:
            if p.role != ROLE_RAW or not written:
                continue
            count, examples = con.execute(
                f"SELECT count({quote_ident(p.physical)}), "
                f"(list({quote_ident(p.physical)} ORDER BY {quote_ident(p.physical)}) "
                f"FILTER (WHERE {quote_ident(p.physical)} IS NOT NULL))[1:5] "
                f"FROM {written}"
            ).fetchone()
            unfit.append(
                UnfitNumbers(
                    p.attribute,
                    p.column[: -len("__raw")],
                    p.column,
                    int(count),
                    tuple(examples or ()),
                )
            )

        con.execute(f"DELETE FROM {loads} WHERE snapshot_date = ?", [snapshot_date])
        con.execute(f"INSERT INTO {loads} VALUES (?, ?, ?)", [snapshot_date, load_seq, row_count])
        for rel, n in writer.written:
            con.execute(f"INSERT INTO {files_tbl} VALUES (?, ?, ?)", [snapshot_date, rel, n])
        latest = con.execute(f"SELECT max(snapshot_date) FROM {loads}").fetchone()[0]
        _snapshot_views(con, root, snapshots, view, meta, files_tbl, latest)

        changes = []
        if prev_date is not None:
            old = {
                c: (t, a)
                for c, t, a in con.execute(
                    f"SELECT column_name, sql_type, attribute FROM {meta} WHERE snapshot_date = ?",
                    [prev_date],
                ).fetchall()
            }
            new = {p.column: (p.type.canonical(), p.attribute) for p in plans}
            changes = diff_columns(old, new)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        if writer is not None:
            writer.discard()
        raise
    # The replaced files: no view reads them since the commit.
    _remove_files(root, replaced)

    return SnapshotResult(
        engine="duckdb",
        snapshot_date=snapshot_date,
        row_count=int(row_count),
        columns=[
            ColumnInfo(
                p.column,
                p.type.canonical(),
                p.attribute,
                tuple(p.dynamodb_types),
                p.role,
                p.physical,
            )
            for p in plans
        ],
        name_map={p.column: p.attribute for p in plans},
        conflicts=conflicts,
        unfit_numbers=unfit,
        schema_changes=changes,
        previous_snapshot_date=prev_date,
        view_name=view,
        physical_table_name=snapshots,
        latest_snapshot_date=latest,
    )


def _columns_sql(plans, exprs: Sequence[str]) -> str:
    """The select list of a snapshot file: ``snapshot_date`` and every physical column,
    each cast to its column's type (a part may lack a column: its NULL is typed too)."""
    date, *values = exprs
    return ", ".join(
        [f"CAST({date} AS DATE) AS {quote_ident(PARTITION_COLUMN)}"]
        + [
            f"CAST({e} AS {p.type.duckdb()}) AS {quote_ident(p.physical)}"
            for p, e in zip(plans, values)
        ]
    )


def _insert(
    con,
    writer: _SnapshotWriter,
    snapshot_date,
    files,
    plans,
    stats,
    overrides,
    structures,
    stage=None,
) -> int:
    """One typed ``COPY (SELECT ...) TO`` a Parquet file of the snapshot per part of the
    stage (:func:`_fast_stage`, :func:`_stage_export`), or straight from the export files
    (one parse per line) when there is none. Returns the rows written."""
    tags_of = {st.attribute: [t for t in _TAGS if t in st.type_counts] for st in stats}
    attrs = sorted({p.attribute for p in plans})
    if (
        stage is not None
        and stage.fast
        and any(
            p.attribute in stage.typed
            and p.role != ROLE_TYPE
            and not (
                p.role == ROLE_VALUE
                and not p.override_type
                and p.source_tag in stage.typed[p.attribute]
            )
            for p in plans
        )
    ):
        if stage.direct is not None:
            raise _GuessMissed("a column needs an M / L value's text")
        # A column that needs an M / L value's text: stage the general way (raw text kept),
        # with every attribute and every tag the statistics found.
        general = _stage_export(
            con, stage.files, stage.known, stage.sample or {}, attributes=attrs, tags=tags_of
        )
        _drop_stage(con, stage)
        for f in dataclasses.fields(general):
            setattr(stage, f.name, getattr(general, f.name))
    if stage is not None:
        return sum(
            _insert_part(con, writer, snapshot_date, plans, tags_of, part) for part in stage.parts()
        )
    types: dict[str, dict] = {}
    typed: dict[str, dict | None] = {}
    for a in attrs:
        types[a] = {tag: _LOAD_TAG_TYPES[tag] for tag in tags_of[a]}
        typed[a] = None
        single = _single_m_or_l(plans, a)
        if single:
            sample = structures.get(a)
            if isinstance(sample, dict) and single in sample:
                typed[a] = _typed_structure({single: sample[single]}, [_RENDER_MAX_NODES])
    params: dict = {"files": list(files), "date": snapshot_date}
    keys: list[str] = []
    alias = {a: f"a{i}" for i, a in enumerate(attrs, 1)}
    # Renderings of M / L values used by a column: computed once per row, in an inner SELECT.
    plain_cols = {a: _plain_sql(alias[a], typed[a], keys) for a in attrs if typed[a] is not None}
    exprs = _columns_sql(
        plans,
        ["$date"]
        + [
            _value_sql(
                p,
                alias[p.attribute],
                tags_of[p.attribute],
                typed[p.attribute],
                keys,
                f"{alias[p.attribute]}_p" if p.attribute in plain_cols else None,
            )
            for p in plans
        ],
    )
    rendered = "".join(f", {sql} AS {alias[a]}_p" for a, sql in plain_cols.items())
    if keys:
        params["keys"] = keys
    parsed = {}
    for a in attrs:
        if typed[a] is not None:
            ((tag, content),) = typed[a].items()
            params[f"t{alias[a]}"] = json.dumps(content, ensure_ascii=False)
            parsed[a] = (tag, f"$t{alias[a]}")
    frame = _frame(attrs, types, params, parsed=parsed)
    return writer.copy(con, f"SELECT {exprs} FROM (SELECT *{rendered} FROM ({frame}))", params)


def _single_m_or_l(plans, attribute: str) -> str | None:
    """The tag (M or L) of the attribute's value column when it holds a single-tag M / L
    value (no override), else None."""
    single = [
        p.source_tag
        for p in plans
        if p.attribute == attribute
        and p.role == ROLE_VALUE
        and not p.override_type
        and p.source_tag in ("M", "L")
    ]
    return single[0] if single else None


def _insert_part(con, writer: _SnapshotWriter, snapshot_date, plans, tags_of, part: _Stage) -> int:
    """The typed ``COPY (SELECT ...) TO`` a file of the snapshot of one part of a stage. A
    column reads only the tags the part's structure has (the part's rows have no other: a fast part's length
    check, a general part reads every tag or reports the rest); a column whose attribute
    or tag the part lacks is NULL for all of its rows."""
    alias = part.alias
    attrs = sorted({p.attribute for p in plans})
    typed: dict[str, dict | None] = {}
    for a in attrs:
        single = _single_m_or_l(plans, a) if a in alias else None
        typed[a] = part.typed[a] if single and single in part.typed.get(a, {}) else None
    params: dict = {"date": snapshot_date}
    keys: list[str] = []
    # Renderings of M / L values used by a column: computed once per row, in an inner SELECT.
    plain_cols = {a: _plain_sql(alias[a], typed[a], keys) for a in attrs if typed[a] is not None}
    exprs = ["$date" if part.direct is None else "CASE WHEN _ok THEN $date END"]
    for p in plans:
        a = p.attribute
        tags = [t for t in tags_of[a] if t in part.tags[a]] if a in alias else []
        if not tags or (p.source_tag is not None and p.source_tag not in tags):
            exprs.append("NULL")
            continue
        exprs.append(
            _value_sql(
                p,
                alias[a],
                tags,
                typed[a],
                keys,
                f"{alias[a]}_p" if a in plain_cols else None,
                exact=part.fast,
            )
        )
    rendered = "".join(f", {sql} AS {alias[a]}_p" for a, sql in plain_cols.items())
    if keys:
        params["keys"] = keys
    source = part.rows
    if part.direct is not None:
        source = _direct_rows(part, plans, params)
    if part.fast:  # the M / L structure is nested in the value: <x>_t is its tag's field
        source = (
            "(SELECT *"
            + "".join(
                f', {alias[a]}."{next(iter(part.typed[a]))}" AS {alias[a]}_t'
                for a in attrs
                if typed[a] is not None
            )
            + f" FROM {source})"
        )
    return writer.copy(
        con, f"SELECT {_columns_sql(plans, exprs)} FROM (SELECT *{rendered} FROM {source})", params
    )


# DuckDB's own memory during a load into a file-backed warehouse (the caller's limit if
# lower), per DuckDB thread: each thread reads with its own buffers and fills its own row
# groups. The one-pass load streams (files -> typed row groups written to the file), so a
# small buffer pool keeps its peak memory flat whatever the export's size; the staged load
# spills its stage to disk within a larger one. Each is (bytes per thread, bytes less in
# all, at least). Measured on the 1M-item benchmark export, the one-pass load needs 64 MiB
# with 1 thread, 144 with 2, 256 with 3, 352 with 4, 768 with 8 (less fails); the staged
# one 256 with 2, 512 with 4.
DIRECT_MEMORY_PER_THREAD = (104 * 1024 * 1024, 48 * 1024 * 1024, 64 * 1024 * 1024)
LOAD_MEMORY_PER_THREAD = (128 * 1024 * 1024, 0, 128 * 1024 * 1024)
# Exports whose lines are long (items with large attributes) need more per thread: DuckDB's
# JSON reader buffers and its 2,048-row vectors grow with the line. Measured with 2 threads
# on 12,000-24,000-item exports: lines of 0.57 KB load in one pass within 160 MiB; lines of
# 1.2 KB fail there, and lines of 2, 8, 35 and 350 KB need up to 512 MiB in one pass (peak
# RSS 355-415 MB) and up to 1 GiB staged. Chosen when the longest of the first lines of a
# few files is :data:`LONG_LINE` bytes or more.
LONG_LINE = 512
DIRECT_MEMORY_PER_THREAD_LONG = (288 * 1024 * 1024, 48 * 1024 * 1024, 240 * 1024 * 1024)
LOAD_MEMORY_PER_THREAD_LONG = (512 * 1024 * 1024, 0, 512 * 1024 * 1024)


def _longest_line(files: Sequence[str], lines: int = 64, picks: int = 4) -> int:
    """The longest of the first ``lines`` lines of up to ``picks`` files spread over the
    export; 0 for a file that cannot be read (the load reports why)."""
    import gzip
    import zlib

    n = len(files)
    longest = 0
    for i in _spread(n, picks):
        try:
            with gzip.open(files[i], "rb") as fh:
                longest = max([longest] + [len(line) for line in itertools.islice(fh, lines)])
        except (OSError, EOFError, zlib.error):
            continue
    return longest


def _memory_limit(con, per_thread: tuple[int, int, int]) -> int:
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    each, less, least = per_thread
    return max(least, each * max(threads, 1) - less)


@contextlib.contextmanager
def _load_settings(con, memory_limit: int):
    """Settings for the load, restored afterwards: no insertion order to keep, and a
    buffer pool of at most ``memory_limit`` bytes when the warehouse is a file (an
    in-memory one must hold its data)."""
    wanted = {"preserve_insertion_order": "false"}
    in_file = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if in_file and in_file[0]:
        current = _parse_size(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        if current is None or current > memory_limit:
            wanted["memory_limit"] = f"'{memory_limit}B'"
    old = {}
    for name, value in wanted.items():
        old[name] = con.execute("SELECT current_setting(?)", [name]).fetchone()[0]
        con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        for name, value in old.items():
            if name == "memory_limit":
                # DuckDB reports the limit truncated to 0.1 of its unit: put back the middle
                # of that interval, which reports the same text again.
                value = f"{_parse_size(value, middle=True)}B"
            con.execute(f"SET {name} = {_sql_setting(value)}")


_SIZE_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def _parse_size(text, middle: bool = False) -> int | None:
    """Bytes of a DuckDB size setting such as ``'19.2 GiB'``; None if unreadable.
    ``middle``: the middle of the values DuckDB shows with that text (it truncates)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        return None
    number, unit = float(m.group(1)), _SIZE_UNITS[m.group(2).lower()]
    if middle and unit > 1 and "." in m.group(1):
        number += 0.5 * 10 ** -len(m.group(1).split(".")[1])
    return int(number * unit)


def _sql_setting(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _can_widen(old: TypeSpec, new: TypeSpec, max_int_digits: int) -> bool:
    """A DECIMAL(38, s) (or array of it) can take a larger scale if every value still fits."""
    if old.name == "array" and new.name == "array":
        old, new = old.element, new.element
    return (
        old.name == "decimal"
        and new.name == "decimal"
        and old.precision == new.precision == DECIMAL_PRECISION
        and new.scale > old.scale
        and max_int_digits <= DECIMAL_PRECISION - new.scale
    )
