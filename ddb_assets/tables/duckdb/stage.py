"""Stages: an export parsed once into a temporary table that both the statistics and the
typed insert read (:class:`Stage`). The fast stage parses each line once after the sampled
guess and keeps the lines the guess does not cover for a second parse
(:func:`fast_stage`); the general stage reads every tag (:func:`stage_export`). The
one-pass load uses the fast guess and parts on its sample (:func:`fast_guess`,
:func:`fast_part`, :func:`exact_lengths`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Mapping, Sequence

from ddb_assets.tables.duckdb.decoding import (
    LOAD_TAG_TYPES,
    RENDER_MAX_NODES,
    TAGS,
    frame_sql,
    read_error,
    typed_structure,
)
from ddb_assets.tables.duckdb.rowcheck import len_wrapper, length_ok_sql


@dataclasses.dataclass
class Stage:
    """An export parsed once into a temporary table: column ``a<i>`` is the i-th attribute's
    value as a STRUCT with a field per tag in ``tags[attribute]``, ``a<i>_t`` the value of a
    single-tag M / L attribute parsed after its sampled structure ``typed[attribute]``, and
    ``u`` the names of the item's attributes outside ``attributes``.

    A fast stage (:func:`fast_stage`) holds the rows its guess covers; the others (kept as
    text in ``_bad`` while staging) are staged the general way in ``rest``, so every item
    is in exactly one of the two."""

    name: str
    attributes: list[str]
    hint: dict[str, list[str]]
    tags: dict[str, Sequence[str]]
    typed: dict[str, dict]
    fast: bool = False
    files: Sequence[str] = ()
    known: Sequence[str] = ()
    sample: Mapping | None = None
    rest: Stage | None = None
    filtered: bool = False  # rows whose _bad is set belong to ``rest``: read the others only
    # Not a table: the one-pass load (:func:`.onepass.load_direct`) inserts straight from ``files``
    # parsed after these structures, every line checked as it is read; the row length
    # check measures the attributes in ``exact`` exactly (:func:`exact_lengths`).
    direct: dict | None = None
    exact: frozenset = frozenset()

    @property
    def alias(self) -> dict[str, str]:
        return {a: f"a{i}" for i, a in enumerate(self.attributes, 1)}

    @property
    def rows(self) -> str:
        """The stage's own rows, as a FROM item."""
        return f"(SELECT * FROM {self.name} WHERE _bad IS NULL)" if self.filtered else self.name

    def parts(self) -> list[Stage]:
        return [self] + (self.rest.parts() if self.rest is not None else [])


_STAGE_SEQ = itertools.count(1)


def stage_name() -> str:
    return f"_ddb_stage_{os.getpid()}_{next(_STAGE_SEQ)}"


def drop_stage(con, stage: Stage | None) -> None:
    if stage is None:
        return
    for part in stage.parts():
        con.execute(f"DROP TABLE IF EXISTS {part.name}")


def _hint(sample: Mapping) -> dict[str, list[str]]:
    """Per sampled attribute, the tags its values had (attributes whose values were not
    all DynamoDB wrappers have no hint)."""
    return {
        a: list(w) for a, w in sample.items() if isinstance(w, dict) and w and set(w) <= set(TAGS)
    }


# Attributes of earlier snapshots: names, or names with the DynamoDB types they had.
Known = Sequence[str] | Mapping[str, Sequence[str]]


def stage_export(
    con,
    files: Sequence[str],
    known: Known,
    sample: Mapping,
    *,
    attributes: Sequence[str] | None = None,
    tags: Mapping[str, Sequence[str]] | None = None,
    source: str | None = None,
) -> Stage:
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
    tags = {a: [t for t in TAGS if t in hint[a]] if a in hint else list(TAGS) for a in attributes}
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
            structure = typed_structure({non_null[0]: sample[a][non_null[0]]}, [RENDER_MAX_NODES])
            if structure is not None:
                typed[a] = structure
                ((tag, content),) = structure.items()
                params[f"ta{i}"] = json.dumps(content, ensure_ascii=False)
                parsed[a] = (tag, f"$ta{i}")
    frame = frame_sql(
        attributes,
        {a: {t: LOAD_TAG_TYPES[t] for t in tags[a]} for a in attributes},
        params,
        extra=extra,
        parsed=parsed,
        source=source,
    )
    name = stage_name()
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS {frame}", params)
    except Exception as exc:
        con.execute(f"DROP TABLE IF EXISTS {name}")
        raise read_error(con, exc, files if source is None else ()) from exc
    return Stage(name, list(attributes), hint, tags, typed)


def fast_guess(sample: Mapping, known: Known = ()):
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
            if a not in hint and was and set(was) <= set(TAGS) - {"M", "L"}:
                hint[a] = [t for t in TAGS if t in was]
    attributes = sorted(hint)
    tags = {a: [t for t in TAGS if t in hint[a]] for a in attributes}
    typed: dict[str, dict] = {}
    structures: dict[str, dict] = {}
    for a in attributes:
        non_null = [t for t in tags[a] if t != "NULL"]
        if {"M", "L"} & set(non_null):
            if len(non_null) != 1:
                return None
            structure = typed_structure({non_null[0]: sample[a][non_null[0]]}, [RENDER_MAX_NODES])
            if structure is None:
                return None
            typed[a] = structure
        structures[a] = {
            t: (typed[a][t] if a in typed and t in typed[a] else LOAD_TAG_TYPES[t]) for t in tags[a]
        }
    return hint, attributes, tags, typed, structures


def fast_stage(con, files: Sequence[str], known: Known, sample: Mapping) -> Stage | None:
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
    allow this (the caller then uses :func:`stage_export`)."""
    guess = fast_guess(sample, known)
    if guess is None:
        return None
    hint, attributes, tags, typed, structures = guess
    stage = fast_part(con, files, None, attributes, tags, typed, structures)
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
                    a: [t for t in TAGS if t in set(t_) | set(tags.get(a, ()))]
                    for a, t_ in found.items()
                }
                grown = [a for a in more if more[a] != tags.get(a)]
                if grown and all(
                    not ({"M", "L"} & set(more[a])) and set(more[a]) <= set(TAGS) for a in grown
                ):
                    both = {**tags, **more}
                    nxt = fast_part(
                        con,
                        None,
                        rows,
                        sorted(both),
                        both,
                        typed,
                        {
                            **structures,
                            **{a: {t: LOAD_TAG_TYPES[t] for t in more[a]} for a in grown},
                        },
                    )
                    if nxt is not None:
                        part.rest = part = nxt
                        continue
            part.rest = stage_export(
                con, files, known, sample, attributes=sorted(found), tags=found, source=rows
            )
            break
    except BaseException:
        drop_stage(con, stage)
        raise
    return stage


def fast_part(con, files, source, attributes, tags, typed, structures) -> Stage | None:
    """Parse ``files`` (or the lines of ``source``) once after ``structures`` into a
    temporary table, with the row length check of :func:`fast_stage`: a row that fails
    it keeps its line in ``_bad``. None when the parse fails."""
    params: dict = {"files": list(files)} if source is None else {}
    frame = frame_sql(attributes, structures, params, extra="json AS _line", source=source)
    alias = {a: f"a{i}" for i, a in enumerate(attributes, 1)}
    ok = length_ok_sql(attributes, structures)
    cols = ", ".join(alias[a] for a in attributes)
    name = stage_name()
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
    return Stage(
        name, list(attributes), dict(tags), dict(tags), typed, fast=True, filtered=bool(bad)
    )


def exact_lengths(con, part: Stage, structures: Mapping[str, dict]) -> frozenset[str]:
    """The attributes that the row length check measures exactly on every row, from
    sampled fast stage ``part`` (parsed after ``structures``): those whose cheap length
    (strings without their escapes) falls short in at least one sampled row in
    ``len(attributes)``. A row whose cheap total falls short pays for the exact length of
    every attribute, so free text that often has quotes, backslashes or line breaks (a
    fifth of the rows of the benchmark's ``note``) is cheaper to render once per row: 6-8 %
    of the load's CPU time there. The check is the same either way; only its cost changes."""
    alias = part.alias
    shorts = [
        f"count(*) FILTER (WHERE {len_wrapper(alias[a], structures[a], 0, True)} "
        f"<> {len_wrapper(alias[a], structures[a], 0, False)})"
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
        frame = frame_sql(
            other,
            {a: {t: "JSON" for t in TAGS} for a in other},
            params,
            source=f"(SELECT _bad AS json FROM {bad})",
        )
        aggs = [f'bool_or(a{i}."{t}" IS NOT NULL)' for i in range(1, len(other) + 1) for t in TAGS]
        row = con.execute(f"SELECT {', '.join(aggs)} FROM ({frame})", params).fetchone()
        for i, a in enumerate(other):
            seen = [t for t, hit in zip(TAGS, row[i * len(TAGS) : (i + 1) * len(TAGS)]) if hit]
            out[a] = seen or list(TAGS)
    return {a: out[a] for a in sorted(out) if a in found}
