"""Attribute statistics from a full pass (every attribute, the DynamoDB types it appears
with and the shape of its numbers): over the export files or over a stage
(:func:`stats_pass`), and :func:`discover_attributes` for callers outside the load (the
change history types its item images with it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ddb_assets.tables.diagnose import locate_problem
from ddb_assets.tables.duckdb.decoding import (
    TAGS,
    ExportReadError,
    frame_sql,
    json_pointer,
    read_error,
    source_sql,
)
from ddb_assets.tables.duckdb.sample import sample_structure
from ddb_assets.tables.duckdb.stage import Stage
from ddb_assets.tables.plan import (
    AttributeStats,
)
from ddb_assets.tables.types import DECIMAL_PRECISION


def stats_pass(
    con,
    files: Sequence[str],
    attributes: Sequence[str],
    known: Sequence[str],
    tags_hint: Mapping[str, Sequence[str]] | None = None,
    stage: Stage | None = None,
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
    tags = {a: [t for t in TAGS if t in hint[a]] if a in hint else list(TAGS) for a in attributes}
    params: dict = {"files": list(files), "known": list(known)}
    if stage is not None:
        params = {}
        frame = f"SELECT * FROM {stage.rows}"
    else:
        # Every tag read as VARCHAR: only N needs its value, the others only their presence.
        frame = frame_sql(
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
        raise read_error(con, exc, files) from exc
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
            problem = locate_problem(files)
            raise ExportReadError(
                f"cannot read the export as DYNAMODB_JSON: {problem}"
                if problem is not None
                else f"attribute {attr!r} has an unknown DynamoDB type tag "
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
        f"SELECT t FROM (SELECT unnest(json_keys(json, $p)) AS t FROM {source_sql()}) "
        f"WHERE NOT list_contains($tags, t) LIMIT 1",
        {"files": list(files), "p": json_pointer(attr), "tags": list(TAGS)},
    ).fetchone()
    return row[0] if row else "?"


def _number_set_stats(
    con, files: Sequence[str], stats: list[AttributeStats], stage: Stage | None = None
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
        frame = frame_sql(
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
    sample = sample_structure(con, files)
    if structures is not None:
        structures.update(sample)
    hint = {
        a: list(w) for a, w in sample.items() if isinstance(w, dict) and w and set(w) <= set(TAGS)
    }
    guess = sorted(set(guess) | set(sample))
    stats, incomplete, unknown = stats_pass(con, files, guess, guess, hint)
    if unknown or incomplete:
        more, _, _ = stats_pass(con, files, sorted(incomplete + unknown), guess + unknown)
        stats += more
    return sorted(stats, key=lambda s: s.attribute)


def merge_stats(parts: Sequence[Sequence[AttributeStats]]) -> list[AttributeStats]:
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
