"""The change table, the current table and the chain ledger on Athena (Iceberg), run through a
:class:`~ddb_assets.athena.client.SqlRunner`: the Athena twin of
:mod:`ddb_assets.incremental.duckdb_chain`, with the same tables, columns, typing and rules.

The exports' data never passes through this process: each export's ``data/`` folder is
registered as a partition of a raw text table (``T__increments`` for windows,
``T__full_exports`` for seeds and comparison exports) and Athena reads it. Everything the
DuckDB engine does in Python or DuckDB is done in Athena SQL here (:mod:`.athena_sql`):

* attribute discovery: the snapshot loader's statistics query
  (:func:`ddb_assets.tables.athena_engine.discovery_sql`) over the window's key, new and old
  images (or the seed's items), merged with the cumulative statistics, planned with the
  snapshot table's rules (:func:`ddb_assets.tables.changes.plan_image_columns`);
* schema evolution: ``ALTER TABLE ADD COLUMNS`` for new columns; a column whose type changes
  (a wider decimal scale, an attribute seen with a second type) is dropped and added again
  (Iceberg gives it a new field id, so old data files read NULL for it) and re-derived from
  the stored raw images with ``UPDATE``, which is what the DuckDB engine does and what the
  snapshot table's conflict rule needs (Iceberg cannot change a decimal's scale in place);
* the re-seed after a PITR gap: the net change between current and the fresh full export is
  a FULL OUTER JOIN in Athena, written as ``source = 'reseed'`` change rows and MERGEd;
* :meth:`AthenaChain.compare`: the current table against a full export typed the same way,
  FULL OUTER JOIN on the key, counts and up to five examples per kind in one query.

State is the ledger ``T__chain`` (read at the start of every step, so a new process or a new
runner continues exactly where the last commit left off). Athena has no multi-statement
transaction: each statement of a step is idempotent and the ledger row is written last
(:mod:`.athena_sql` explains why each is safe to repeat).

ION exports: the raw tables are declared in Athena's Ion SerDe and every statement reads the
records' DynamoDB JSON lines built from their Ion images (:mod:`ddb_assets.tables.athena_ion`).
A chain keeps the format it was started with: its raw tables are declared once.

The running, catalog, ledger and column-plan plumbing is in ``athena_chain_base``
(``AthenaChainBase``, ``ChainPlan``, ``check_format``; re-exported here); this module holds
the steps (seed, window) and the comparison with a full export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ddb_assets import table_names
from ddb_assets.dynamodb.exports import export_id_of
from ddb_assets.incremental import athena_compare, model
from ddb_assets.incremental import athena_sql as q
from ddb_assets.incremental.athena_chain_base import (  # noqa: F401 - re-exported
    AthenaChainBase,
    ChainPlan,
    check_format,
)
from ddb_assets.incremental.windows import Window, utc
from ddb_assets.tables.checks import Expectation, ExpectedFile, require_row_count
from ddb_assets.tables.types import ColumnOverride


@dataclass
class AthenaChain(AthenaChainBase):
    """One table's chain on Athena. Holds no state of its own besides the query ids and bytes
    scanned of the statements it ran (for materialization metadata): a new instance reads
    everything from the ledger."""

    # -- steps -------------------------------------------------------------------------------
    def apply_window(
        self,
        *,
        generation: int,
        window: Window,
        export_arn: str,
        data_s3_uri: str,
        export_format: str = "DYNAMODB_JSON",
        view_type: str = "NEW_AND_OLD_IMAGES",
        overrides: Mapping[str, ColumnOverride] | None = None,
        tz: str = "UTC",
        expected_items: int | None = None,
        expect: Expectation | None = None,
    ) -> model.ApplyResult:
        """Apply one incremental export. A window already in the ledger is skipped; one that
        does not start at the chain's last To raises :class:`~.duckdb_chain.ChainOrderError`.
        ``expect`` (the manifest's itemCount and its files' counts; or only the itemCount,
        ``expected_items``) is compared with the window's records before anything is written
        (:class:`~ddb_assets.tables.checks.SnapshotCheckError`, naming the files whose count
        differs)."""
        self._use_format(export_format)
        state, committed = self._ledger()
        if state.has_window(generation, window):
            return model.ApplyResult(
                False,
                "window",
                generation,
                window.start,
                window.end,
                skipped_reason=f"window {window.label} is already applied (generation {generation})",
            )
        if not state.seeded or state.generation != generation or state.last_to != window.start:
            raise model.ChainOrderError(
                f"window {window.label} (generation {generation}) does not continue the chain of "
                f"{self.table!r}: the chain is at generation {state.generation}, last To "
                f"{state.last_to.isoformat() if state.last_to else 'unseeded'}; windows apply in order"
            )
        self._register(table_names.INCREMENTS, "window_label", window.label, data_s3_uri)
        if expect is None and expected_items is not None:
            expect = Expectation(export_arn, expected_items)
        if expect is not None and expect.item_count is not None:  # before any statement writes
            (n,) = self.run(f"SELECT count(*) FROM ({q.window_lines_sql(self.n, window)})").rows[0]
            if int(n) != expect.item_count:
                require_row_count(expect, int(n), self._lines_per_file(window, expect))
        plan = self._plan(
            self._discover(q.window_items_sql(self.n, window)), committed, (), overrides or {}
        )
        added, retyped = self._evolve(plan)
        for sql in q.window_statements(
            self.database,
            self.table,
            plan.plans,
            plan.key_attributes,
            generation=generation,
            window=window,
            export_arn=export_arn,
            view_type=view_type,
            tz=tz,
            export_format=self.n.export_format,
        ):
            self.run(sql)
        ops = self._operations(generation, window.start, model.SOURCE_INCREMENTAL)
        count = sum(ops.values())
        self.run(
            q.ledger_insert_sql(
                self.n,
                [
                    q.LedgerEntry(
                        state.rows[-1].seq + 1,
                        "window",
                        generation,
                        window.start,
                        window.end,
                        export_arn,
                        count,
                        None,
                        plan.to_json(),
                    )
                ],
                unless=q.window_applied_where(generation, window),
            )
        )
        return model.ApplyResult(
            True,
            "window",
            generation,
            window.start,
            window.end,
            count,
            ops,
            self.current_columns(),
            added,
            retyped,
        )

    def apply_seed(
        self,
        *,
        generation: int,
        seed_time: datetime,
        export_arn: str,
        data_s3_uri: str,
        key_attributes: Sequence[str],
        export_format: str = "DYNAMODB_JSON",
        overrides: Mapping[str, ColumnOverride] | None = None,
        tz: str = "UTC",
        gap: str | None = None,
    ) -> model.ApplyResult:
        """Seed the chain (generation 0: the current table is the full export) or re-seed it
        after a PITR gap (generation + 1): the net difference between current and the fresh
        export becomes ``source = 'reseed'`` change rows over ``[last To, seed time)``, MERGEd,
        and the gap is a ledger row with its reason."""
        self._use_format(export_format)
        seed_time = utc(seed_time)
        overrides = overrides or {}
        state, committed = self._ledger()
        if any(r.kind == "seed" and r.generation == generation for r in state.rows):
            return model.ApplyResult(
                False,
                "seed",
                generation,
                None,
                seed_time,
                skipped_reason=f"seed of generation {generation} is already applied",
            )
        if state.seeded and generation != state.generation + 1:
            raise model.ChainOrderError(
                f"seed generation {generation} does not follow {state.generation}"
            )
        export_id = export_id_of(export_arn)
        self._ensure_raw()
        self._register(table_names.FULL_EXPORTS, "export_id", export_id, data_s3_uri)
        seq = state.rows[-1].seq + 1 if state.rows else 1
        if not state.seeded:
            plan = self._plan(
                self._discover(q.export_items_sql(self.n, export_id)),
                None,
                key_attributes,
                overrides,
            )
            self._create(plan)
            added, retyped = self._evolve(plan)
            self.run(
                q.seed_current_sql(self.n, plan.plans, plan.key_attributes, export_id, seed_time)
            )
            count = int(self.run(q.count_sql(self.n.current)).rows[0][0])
            self.run(
                q.ledger_insert_sql(
                    self.n,
                    [_seed_entry(seq, generation, seed_time, export_arn, count, plan)],
                    unless=q.seed_applied_where(generation),
                )
            )
            return model.ApplyResult(
                True,
                "seed",
                generation,
                None,
                seed_time,
                count,
                {},
                self.current_columns(),
                added,
                retyped,
            )
        last_to = state.last_to
        if last_to is None:
            raise model.ChainOrderError(
                "a re-seed continues a seeded chain, and this one has no last To"
            )
        if seed_time < last_to:
            raise model.ChainOrderError(
                f"re-seed time {seed_time.isoformat()} is before the chain's last To "
                f"{last_to.isoformat()}"
            )
        keys = committed["key_attributes"] if committed else list(key_attributes)
        plan = self._plan(
            self._discover(q.net_change_items_sql(self.n, keys, export_id, seed_time)),
            committed,
            keys,
            overrides,
        )
        added, retyped = self._evolve(plan)
        for sql in q.insert_changes_statements(
            self.n,
            plan.plans,
            plan.key_attributes,
            q.net_change_sql(self.n, plan.key_attributes, export_id, seed_time),
            source=model.SOURCE_RESEED,
            generation=generation,
            window_from=last_to,
            window_to=seed_time,
            export_arn=export_arn,
            tz=tz,
        ):
            self.run(sql)
        self.run(
            q.merge_sql(
                self.n,
                plan.plans,
                generation=generation,
                window_from=last_to,
                source=model.SOURCE_RESEED,
            )
        )
        ops = self._operations(generation, last_to, model.SOURCE_RESEED)
        count = sum(ops.values())
        self.run(
            q.ledger_insert_sql(
                self.n,
                [
                    q.LedgerEntry(
                        seq,
                        "gap",
                        generation,
                        last_to,
                        seed_time,
                        None,
                        count,
                        gap or "re-seeded",
                        plan.to_json(),
                    ),
                    _seed_entry(seq + 1, generation, seed_time, export_arn, count, plan),
                ],
                unless=q.seed_applied_where(generation),
            )
        )
        return model.ApplyResult(
            True,
            "seed",
            generation,
            last_to,
            seed_time,
            count,
            ops,
            self.current_columns(),
            added,
            retyped,
            gap=gap or "re-seeded",
        )

    # -- the check -------------------------------------------------------------------------
    def compare(
        self,
        *,
        export_arn: str,
        data_s3_uri: str,
        export_format: str = "DYNAMODB_JSON",
        overrides: Mapping[str, ColumnOverride] | None = None,
        examples: int = model.COMPARE_EXAMPLES,
    ) -> model.Comparison:
        """The current table against a full export (taken at the chain's last To), in Athena:
        the export typed with the current table's plan and value SQL, FULL OUTER JOIN on the
        key; rows missing / extra / different (a typed column, set columns as sets, or the
        item's attribute names). Only counts and examples come back."""
        self._use_format(export_format)
        state, committed = self._ledger()
        if not state.seeded or committed is None:
            raise ValueError(f"{self.n.current} does not exist: the chain is not seeded")
        plan = self._plans_now(committed, overrides or {})
        export_id = export_id_of(export_arn)
        self._ensure_raw()
        self._register(table_names.FULL_EXPORTS, "export_id", export_id, data_s3_uri)
        sql, names = athena_compare.compare_sql(
            self.n, plan.plans, plan.key_attributes, export_id, examples
        )
        rows = self.run(sql).rows
        counts = {r[0]: int(r[2]) for r in rows}
        current_rows = int(rows[0][3]) if rows else 0
        export_items = int(rows[0][4]) if rows else 0
        details: dict[str, dict] = {r[1]: {} for r in rows if r[0] == "different"}
        if details:
            for detail_sql, chunk in athena_compare.compare_details_statements(
                self.n, plan.plans, plan.key_attributes, export_id, sorted(details)
            ):
                for r in self.run(detail_sql).rows:
                    for i, name in enumerate(chunk):
                        flag, cv, ev = r[1 + 3 * i : 4 + 3 * i]
                        if flag:
                            details[r[0]][name] = [cv, ev]
        out = [(r[0], r[1], details.get(r[1], {})) for r in rows if r[0] != "same"]
        missing, extra, different = (counts.get(x, 0) for x in ("missing", "extra", "different"))
        return model.Comparison(
            not (missing or extra or different),
            current_rows,
            export_items,
            missing,
            extra,
            different,
            tuple(out),
            tuple(names),
        )

    # -- the engine-neutral steps of ddb_assets.incremental.chain ------------------------------
    def chain_state(self) -> model.ChainState:
        return self.read_state()

    def seed_step(self, ddb, s3, spec, seed, generation: int, gap: str | None) -> model.ApplyResult:
        from ddb_assets.dynamodb.manifest import read_manifest

        m = read_manifest(s3, seed.s3_bucket, seed.manifest_key).summary
        return self.apply_seed(
            generation=generation,
            seed_time=seed.export_time,
            export_arn=seed.arn,
            data_s3_uri=m.data_uri,
            key_attributes=model.key_attributes_of(ddb, spec.table_name),
            export_format=m.output_format,
            overrides=spec.overrides,
            tz=spec.tz,
            gap=gap,
        )

    def window_step(self, ddb, s3, spec, generation: int, window: Window, m) -> model.ApplyResult:
        from ddb_assets.dynamodb.manifest import read_manifest

        files = read_manifest(s3, m.s3_bucket, m.manifest_summary_key).files
        return self.apply_window(
            generation=generation,
            window=window,
            export_arn=m.export_arn,
            data_s3_uri=m.data_uri,
            export_format=m.output_format,
            view_type=spec.view_type,
            overrides=spec.overrides,
            tz=spec.tz,
            expect=Expectation(
                export=m.export_arn,
                item_count=m.item_count,
                files=tuple(ExpectedFile(f.key, f.item_count) for f in files),
            ),
        )

    def compare_step(self, ddb, s3, spec, export) -> model.Comparison:
        from ddb_assets.dynamodb.manifest import read_manifest

        m = read_manifest(s3, spec.s3_bucket, export.manifest_key).summary
        return self.compare(
            export_arn=m.export_arn,
            data_s3_uri=m.data_uri,
            export_format=m.output_format,
            overrides=spec.overrides,
        )


def _seed_entry(seq, generation, seed_time, export_arn, count, plan) -> q.LedgerEntry:
    """The ledger row of a (re-)seed: the full export that the chain's generation starts from."""
    return q.LedgerEntry(
        seq, "seed", generation, None, seed_time, export_arn, count, None, plan.to_json()
    )
