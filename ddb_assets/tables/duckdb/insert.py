"""The typed write of a snapshot: one ``COPY (SELECT ...) TO`` a Parquet file per part of
a stage, or straight from the export files (:func:`insert_rows`). The one-pass load's
insert checks every line as it reads it and stops at the first that fails with
:data:`MISSED` and the line."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from ddb_assets.sql.identifiers import quote_ident
from ddb_assets.tables.duckdb.decoding import (
    LOAD_TAG_TYPES,
    RENDER_MAX_NODES,
    TAGS,
    frame_sql,
    typed_structure,
)
from ddb_assets.tables.duckdb.recheck import GuessMissed
from ddb_assets.tables.duckdb.rowcheck import length_ok_sql, number_check_sql
from ddb_assets.tables.duckdb.stage import Stage, drop_stage, stage_export
from ddb_assets.tables.duckdb.storage import SnapshotWriter
from ddb_assets.tables.duckdb.values import plain_sql, value_sql
from ddb_assets.tables.naming import PARTITION_COLUMN
from ddb_assets.tables.plan import (
    ROLE_TYPE,
    ROLE_VALUE,
)

# How a line the guess does not cover stops the one-pass insert (the line follows).
MISSED = "ddb_assets: an item the sampled guess does not cover: "


def _direct_rows(part: Stage, plans, params: dict) -> str:
    """The FROM item of the one-pass insert: the files parsed after ``part.direct``, each
    line checked in column ``_ok`` (true, or the first line that fails raises
    :data:`MISSED` with the line)."""
    frame = frame_sql(part.attributes, part.direct, params, extra="json AS _line")
    params["files"] = list(part.files)
    checks = [length_ok_sql(part.attributes, part.direct, part.exact)]
    alias = part.alias
    for p in plans:
        if (
            p.role != ROLE_VALUE
            or p.override_type
            or p.needs_fit_check
            or p.source_tag not in ("N", "NS")
        ):
            continue
        checks.append(number_check_sql(alias[p.attribute], p.source_tag, p.decimal_scale))
    guard = " AND ".join(checks)
    # A column the insert writes (snapshot_date), not a WHERE: a filter would be pushed
    # into the parse and parse every line twice.
    return f"(SELECT *, CASE WHEN {guard} THEN true ELSE error('{MISSED}' || _line) END AS _ok FROM ({frame}))"


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


def insert_rows(
    con,
    writer: SnapshotWriter,
    snapshot_date,
    files,
    plans,
    stats,
    overrides,
    structures,
    stage=None,
) -> int:
    """One typed ``COPY (SELECT ...) TO`` a Parquet file of the snapshot per part of the
    stage (:func:`.stage.fast_stage`, :func:`.stage.stage_export`), or straight from the export files
    (one parse per line) when there is none. Returns the rows written."""
    tags_of = {st.attribute: [t for t in TAGS if t in st.type_counts] for st in stats}
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
            raise GuessMissed("a column needs an M / L value's text")
        # A column that needs an M / L value's text: stage the general way (raw text kept),
        # with every attribute and every tag the statistics found.
        general = stage_export(
            con, stage.files, stage.known, stage.sample or {}, attributes=attrs, tags=tags_of
        )
        drop_stage(con, stage)
        for f in dataclasses.fields(general):
            setattr(stage, f.name, getattr(general, f.name))
    if stage is not None:
        return sum(
            _insert_part(con, writer, snapshot_date, plans, tags_of, part) for part in stage.parts()
        )
    types: dict[str, dict] = {}
    typed: dict[str, dict | None] = {}
    for a in attrs:
        types[a] = {tag: LOAD_TAG_TYPES[tag] for tag in tags_of[a]}
        typed[a] = None
        single = _single_m_or_l(plans, a)
        if single:
            sample = structures.get(a)
            if isinstance(sample, dict) and single in sample:
                typed[a] = typed_structure({single: sample[single]}, [RENDER_MAX_NODES])
    params: dict = {"files": list(files), "date": snapshot_date}
    keys: list[str] = []
    alias = {a: f"a{i}" for i, a in enumerate(attrs, 1)}
    # Renderings of M / L values used by a column: computed once per row, in an inner SELECT.
    plain_cols = {a: plain_sql(alias[a], typed[a], keys) for a in attrs if typed[a] is not None}
    exprs = _columns_sql(
        plans,
        ["$date"]
        + [
            value_sql(
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
    frame = frame_sql(attrs, types, params, parsed=parsed)
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


def _insert_part(con, writer: SnapshotWriter, snapshot_date, plans, tags_of, part: Stage) -> int:
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
    plain_cols = {a: plain_sql(alias[a], typed[a], keys) for a in attrs if typed[a] is not None}
    exprs = ["$date" if part.direct is None else "CASE WHEN _ok THEN $date END"]
    for p in plans:
        a = p.attribute
        tags = [t for t in tags_of[a] if t in part.tags[a]] if a in alias else []
        if not tags or (p.source_tag is not None and p.source_tag not in tags):
            exprs.append("NULL")
            continue
        exprs.append(
            value_sql(
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
