"""The staged load (:func:`load_staged`): everything the one-pass load does not take (type
conflicts, numbers beyond DECIMAL(38), overrides on numbers, lines not written minified, a
guess that missed twice). Every line is parsed once into a stage, the statistics are
counted over the stage, and the typed write reads it."""

from __future__ import annotations

from collections.abc import Sequence

from ddb_assets.tables.duckdb.sample import sample_structure
from ddb_assets.tables.duckdb.snapshot import write_snapshot
from ddb_assets.tables.duckdb.stage import Known, drop_stage, fast_stage, stage_export
from ddb_assets.tables.duckdb.stats import merge_stats, stats_pass
from ddb_assets.tables.duckdb.storage import known_attributes
from ddb_assets.tables.plan import (
    SnapshotResult,
)


def discover_staged(con, files: Sequence[str], known: Known, structures: dict):
    """Statistics from one parse of the export, staged for the insert. Returns the stats
    and the stage, or None for the stage when the general stage's guess missed an attribute
    or a tag: the missed ones are then counted from the files and the insert reads the
    files again. (A fast stage never misses: rows its guess does not cover are in its
    ``rest``, staged with every attribute they have and every tag.)"""
    sample = sample_structure(con, files)
    structures.update(sample)
    stage = fast_stage(con, files, known, sample) or stage_export(con, files, known, sample)
    try:
        per_part, incomplete, unknown = [], [], []
        for part in stage.parts():
            stats, inc, unk = stats_pass(
                con, files, part.attributes, part.attributes, part.hint, stage=part
            )
            per_part.append(stats)
            incomplete += [a for a in inc if a not in incomplete]
            unknown += [a for a in unk if a not in unknown]
    except BaseException:
        drop_stage(con, stage)
        raise
    stats = merge_stats(per_part)
    if not (incomplete or unknown):
        return stats, stage
    drop_stage(con, stage)
    more, _, _ = stats_pass(con, files, sorted(incomplete + unknown), stage.attributes + unknown)
    return sorted(stats + more, key=lambda s: s.attribute), None


def load_staged(con, schema, table, snapshot_date, files, overrides, expect=None) -> SnapshotResult:
    """The staged load (everything the one-pass load does not take): statistics from one
    parse of the export into a stage (:func:`discover_staged`), then the snapshot written
    from the stage (:func:`ddb_assets.tables.duckdb.snapshot.write_snapshot`)."""
    structures: dict = {}
    stats, stage = [], None
    if files:
        stats, stage = discover_staged(con, files, known_attributes(con, schema, table), structures)
    try:
        return write_snapshot(
            con,
            schema,
            table,
            snapshot_date,
            files,
            stats,
            overrides,
            structures,
            stage,
            expect=expect,
        )
    finally:
        drop_stage(con, stage)
