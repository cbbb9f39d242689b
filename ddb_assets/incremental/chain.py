"""One chain, end to end, as plain functions: what the sensor asks for and what the asset applies.

* :func:`request_next` (the sensor's half, no warehouse access): reads PITR, detects a gap,
  and makes sure the next exports exist — the seed of the current generation, or the next
  ``max_windows_in_flight`` windows whose end is at or before LatestRestorableDateTime —
  through idempotent requests. It says whether the next step is ready to apply.
* :func:`apply_ready` (the asset's half): reads the ledger in the warehouse and applies, in
  order, the seed (or re-seed) and every consecutive window whose export is COMPLETED.
* :func:`advance` runs both (the CLI and tests); :func:`read_state` reads the ledger.
* Each takes an engine's chain (:class:`ChainWarehouse`): a
  :class:`~ddb_assets.incremental.duckdb_warehouse.DuckDBChain` (a DuckDB connection), or an
  :class:`~ddb_assets.incremental.athena_chain.AthenaChain` (Iceberg tables written by Athena;
  the exports' data stays in S3). The control flow is one function for both.
* :func:`comparison_export` / :func:`check_current`: the full export at the chain's position
  (the last To) and the comparison of the current table with it, for the
  ``matches_full_export`` asset check.

A FAILED export (window, seed or comparison) is retried with a new ClientToken up to
``max_export_retries`` times (:func:`ensure_with_retries`); after that
:class:`ChainExportFailedError` carries AWS's FailureCode and FailureMessage.

The chain position the sensor starts from is given by the caller (the Dagster layer reads it
from the change table's latest materialization; :func:`advance` from the ledger). Either way
a stale position is harmless: requests are idempotent and the ledger skips applied windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

from ddb_assets.dynamodb.exports import ExportDescription, ExportError, describe_export
from ddb_assets.incremental import model
from ddb_assets.incremental.exports import (
    ChainExport,
    ChainExportFailedError,
    ChainExportRequest,
    ensure_with_retries,
    find_completed,
    find_seed_exports,
)
from ddb_assets.incremental.windows import (
    PitrGap,
    PitrStatus,
    Window,
    detect_gap,
    next_windows,
    read_pitr,
    utc,
)
from ddb_assets.tables.types import ColumnOverride


def _latest_restorable(pitr: PitrStatus, table_name: str) -> datetime:
    """PITR's latest restorable time, which DynamoDB reports whenever PITR is enabled."""
    if pitr.latest is None:
        raise ExportError(
            f"point-in-time recovery on {table_name!r} reports no latest restorable time: "
            "check `aws dynamodb describe-continuous-backups` for the table, then retry"
        )
    return pitr.latest


def _chain_to(last_to: datetime | None) -> datetime:
    """The seeded chain's last To (a seeded ledger always has one)."""
    if last_to is None:
        raise model.ChainOrderError("the chain is seeded but its ledger has no last To")
    return last_to


class ChainWarehouse(Protocol):
    """One table's change history in an engine: what :func:`apply_ready`, :func:`advance`,
    :func:`check_current` and :func:`read_state` run on. The DuckDB engine's is
    :class:`~ddb_assets.incremental.duckdb_warehouse.DuckDBChain`, the Athena engine's
    :class:`~ddb_assets.incremental.athena_chain.AthenaChain`. Besides the steps: the rows of
    the two tables, the current table's columns, and what the engine billed (Athena query
    ids and bytes scanned; none on DuckDB) and where the tables live (``location``, None on
    DuckDB), for the materialization's metadata."""

    @property
    def query_ids(self) -> list: ...

    @property
    def bytes_scanned(self) -> int | None: ...

    @property
    def location(self) -> str | None: ...

    def chain_state(self) -> model.ChainState: ...

    def seed_step(
        self, ddb, s3, spec: ChainSpec, seed, generation: int, gap: str | None
    ) -> model.ApplyResult: ...

    def window_step(
        self, ddb, s3, spec: ChainSpec, generation: int, window: Window, m
    ) -> model.ApplyResult: ...

    def compare_step(self, ddb, s3, spec: ChainSpec, export) -> model.Comparison: ...

    def row_counts(self) -> dict[str, int]: ...

    def current_columns(self) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class ChainSpec:
    table_name: str  # DynamoDB table
    sql_name: str
    schema: str
    s3_bucket: str
    base_prefix: str
    window: timedelta = timedelta(hours=1)
    view_type: str = "NEW_AND_OLD_IMAGES"
    export_format: str = "DYNAMODB_JSON"
    max_in_flight: int = 3
    seed_export_arn: str | None = None
    overrides: Mapping[str, ColumnOverride] = field(default_factory=dict)
    tz: str = "UTC"
    max_export_retries: int = 2

    @classmethod
    def from_config(cls, cfg, t) -> ChainSpec:
        inc = t.incremental
        overrides = {
            a: ColumnOverride(type=c.type, rename=c.rename, drop=c.drop)
            for a, c in t.columns.items()
        }
        return cls(
            table_name=t.source_table,
            sql_name=t.name,
            schema=cfg.athena_for(t).database,
            s3_bucket=t.s3_bucket,
            base_prefix=t.s3_prefix,
            window=timedelta(minutes=inc.window_minutes),
            view_type=inc.view_type,
            export_format=t.export_format,
            max_in_flight=inc.max_windows_in_flight,
            seed_export_arn=inc.seed_export_arn,
            overrides=overrides,
            tz=t.schedule.timezone,
            max_export_retries=t.max_export_retries,
        )

    def window_request(self, generation: int, window: Window) -> ChainExportRequest:
        return ChainExportRequest.for_window(
            table_name=self.table_name,
            sql_name=self.sql_name,
            generation=generation,
            window=window,
            s3_bucket=self.s3_bucket,
            base_prefix=self.base_prefix,
            export_format=self.export_format,
            view_type=self.view_type,
        )

    def seed_request(self, generation: int, export_time: datetime) -> ChainExportRequest:
        return ChainExportRequest.for_seed(
            table_name=self.table_name,
            sql_name=self.sql_name,
            generation=generation,
            export_time=export_time,
            s3_bucket=self.s3_bucket,
            base_prefix=self.base_prefix,
            export_format=self.export_format,
        )

    def check_request(self, generation: int, export_time: datetime) -> ChainExportRequest:
        return ChainExportRequest.for_check(
            table_name=self.table_name,
            sql_name=self.sql_name,
            generation=generation,
            export_time=export_time,
            s3_bucket=self.s3_bucket,
            base_prefix=self.base_prefix,
            export_format=self.export_format,
        )


@dataclass
class RequestReport:
    generation: int
    pitr: PitrStatus
    gap: PitrGap | None = None
    exports: list[ChainExport] = field(default_factory=list)
    ready: str | None = None  # label of the next step that can be applied now
    waiting: str | None = None  # why nothing is ready
    failed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # FAILED attempts that were retried
    exhausted: ChainExportFailedError | None = None  # every attempt of the next step FAILED


def _floor_minute(t: datetime) -> datetime:
    return utc(t).replace(second=0, microsecond=0)


def _ceil_second(t: datetime) -> datetime:
    t = utc(t)
    return t if t.microsecond == 0 else t.replace(microsecond=0) + timedelta(seconds=1)


def request_next(
    ddb, s3, spec: ChainSpec, *, seeded: bool, generation: int, last_to: datetime | None
) -> RequestReport:
    """Request what the chain needs next (idempotently) and say what is ready."""
    pitr = read_pitr(ddb, spec.table_name)
    table_arn = ddb.describe_table(TableName=spec.table_name)["Table"]["TableArn"]
    gap = detect_gap(pitr, _chain_to(last_to), spec.table_name) if seeded else None
    if not seeded or gap is not None:
        gen = 0 if not seeded else generation + 1
        report = RequestReport(gen, pitr, gap)
        if not pitr.enabled:
            report.waiting = (
                gap.message
                if gap
                else f"point-in-time recovery is disabled on {spec.table_name!r}: the chain "
                "cannot be seeded until it is enabled"
            )
            return report
        if gen == 0 and spec.seed_export_arn:
            d = describe_export(ddb, spec.seed_export_arn)
            report.ready = f"seed:g0:{d.arn}" if d.status == "COMPLETED" else None
            report.waiting = (
                None if report.ready else f"seed export {d.arn} is {d.status}{_cause(d)}"
            )
            return report
        seeds = find_seed_exports(
            ddb, s3, table_arn, spec.s3_bucket, spec.base_prefix, spec.sql_name, gen
        )
        done = [d for d in seeds if d.status == "COMPLETED"]
        if done:
            report.ready = f"seed:g{gen}:{done[0].arn}"
            return report
        if seeds:
            report.waiting = (
                f"seed export {seeds[0].arn} of generation {gen} is {seeds[0].status}"
                f"{_cause(seeds[0])}"
            )
            return report
        # To the minute, so ticks of the same minute ask for the same export; never before the
        # earliest restorable time (rounded up to a whole second: ExportTime travels in ms).
        latest = _latest_restorable(pitr, spec.table_name)
        seed_time = _floor_minute(latest)
        if pitr.earliest is not None and seed_time < pitr.earliest:
            seed_time = _ceil_second(pitr.earliest)
        if last_to is not None and seed_time < last_to:
            seed_time = _ceil_second(last_to)
        if seed_time > latest:
            report.waiting = (
                f"the seed of generation {gen} waits until {seed_time.isoformat()} is restorable"
            )
            return report
        e, failed = ensure_with_retries(
            ddb,
            s3,
            spec.seed_request(gen, seed_time),
            max_retries=spec.max_export_retries,
            table_arn=table_arn,
        )
        report.retried += [f"seed: export {f.arn} FAILED ({f.failure}), retried" for f in failed]
        report.exports.append(e)
        if e.status == "FAILED":
            report.exhausted = ChainExportFailedError(failed + [e])
            report.failed.append(str(report.exhausted))
            report.waiting = str(report.exhausted)
            return report
        report.waiting = f"seed export {e.arn} requested (ExportTime {seed_time.isoformat()})"
        return report

    report = RequestReport(generation, pitr)
    chain_to, latest = _chain_to(last_to), _latest_restorable(pitr, spec.table_name)
    windows = next_windows(chain_to, spec.window, latest, spec.max_in_flight)
    if not windows:
        report.waiting = (
            f"next window [{chain_to.isoformat()}, {(chain_to + spec.window).isoformat()}) ends "
            f"after the latest restorable time {latest.isoformat()}: not requested yet"
        )
        return report
    for w in windows:
        try:
            e, failed = ensure_with_retries(
                ddb,
                s3,
                spec.window_request(generation, w),
                max_retries=spec.max_export_retries,
                table_arn=table_arn,
                pitr=pitr,
            )
        except ExportError as exc:
            report.failed.append(f"{w.label}: {exc}")
            break
        report.retried += [
            f"{w.label}: export {f.arn} FAILED ({f.failure}), retried with a new ClientToken"
            for f in failed
        ]
        report.exports.append(e)
        if e.status == "FAILED":
            err = ChainExportFailedError(failed + [e])
            report.failed.append(str(err))
            if w == windows[0]:
                report.exhausted = err
            break
    first = report.exports[0] if report.exports else None
    if first is not None and first.status == "COMPLETED":
        report.ready = f"window:g{generation}:{windows[0].label}"
    elif report.exhausted is not None:
        report.waiting = str(report.exhausted)
    elif first is not None:
        report.waiting = f"window {windows[0].label} export {first.arn} is {first.status}"
    return report


def _apply_steps(wh, ddb, s3, spec: ChainSpec, max_windows: int) -> list[model.ApplyResult]:
    """The body of :func:`apply_ready` (``wh``: an engine's chain)."""
    results: list[model.ApplyResult] = []
    state = wh.chain_state()
    pitr = read_pitr(ddb, spec.table_name)
    gap = detect_gap(pitr, _chain_to(state.last_to), spec.table_name) if state.seeded else None
    if not state.seeded or gap is not None:
        gen = 0 if not state.seeded else state.generation + 1
        seed = None
        if gen == 0 and spec.seed_export_arn:
            d = describe_export(ddb, spec.seed_export_arn)
            seed = d if d.status == "COMPLETED" else None
        elif pitr.enabled:
            table_arn = ddb.describe_table(TableName=spec.table_name)["Table"]["TableArn"]
            done = [
                d
                for d in find_seed_exports(
                    ddb, s3, table_arn, spec.s3_bucket, spec.base_prefix, spec.sql_name, gen
                )
                if d.status == "COMPLETED"
            ]
            seed = done[0] if done else None
        if seed is None:
            return results
        results.append(wh.seed_step(ddb, s3, spec, seed, gen, gap.message if gap else None))
        state = wh.chain_state()
    latest = _latest_restorable(pitr, spec.table_name)
    for w in next_windows(_chain_to(state.last_to), spec.window, latest, max_windows):
        m = find_completed(s3, spec.window_request(state.generation, w))
        if m is None:
            _raise_if_exhausted(ddb, s3, spec, spec.window_request(state.generation, w), pitr)
            break
        results.append(wh.window_step(ddb, s3, spec, state.generation, w, m))
    return results


def read_state(warehouse: ChainWarehouse) -> model.ChainState:
    """The chain's ledger as ``warehouse`` (an engine's chain) has it."""
    return warehouse.chain_state()


def apply_ready(
    warehouse: ChainWarehouse, ddb, s3, spec: ChainSpec, *, max_windows: int = 100
) -> list[model.ApplyResult]:
    """Apply, in order, every step whose export is COMPLETED: a pending (re-)seed, then the
    consecutive windows after the ledger's last To. Already-applied steps are skipped by the
    ledger, so running this twice (a retried or duplicated run) changes nothing."""
    return _apply_steps(warehouse, ddb, s3, spec, max_windows)


def _raise_if_exhausted(
    ddb, s3, spec: ChainSpec, req: ChainExportRequest, pitr: PitrStatus
) -> None:
    """Fail loudly when every attempt of the next window's export FAILED (the walk through
    the attempts is idempotent: it starts an export only for an attempt not yet made)."""
    table_arn = ddb.describe_table(TableName=spec.table_name)["Table"]["TableArn"]
    e, failed = ensure_with_retries(
        ddb, s3, req, max_retries=spec.max_export_retries, table_arn=table_arn, pitr=pitr
    )
    if e.status == "FAILED":
        raise ChainExportFailedError(failed + [e])


def advance(
    warehouse: ChainWarehouse, ddb, s3, spec: ChainSpec
) -> tuple[RequestReport, list[model.ApplyResult]]:
    """One step of the whole chain from the ledger's position: request, then apply."""
    state = read_state(warehouse)
    report = request_next(
        ddb, s3, spec, seeded=state.seeded, generation=state.generation, last_to=state.last_to
    )
    return report, apply_ready(warehouse, ddb, s3, spec)


# ---------------------------------------------------------------------------------------
# The current table against a full export at the chain's position


def comparison_export(
    ddb, s3, spec: ChainSpec, generation: int, at: datetime, *, request: bool = True
) -> ChainExport | None:
    """The full export with ExportTime ``at`` (the chain's last To) to compare the current
    table with: the generation's seed when it was taken at exactly ``at`` (the position right
    after seeding), else the ``check`` export, requested idempotently (and retried) when
    ``request``. None when ``request`` is False and none is COMPLETED. Raises
    :class:`ChainExportFailedError` when every attempt FAILED."""
    seed = spec.seed_request(generation, at)
    m = find_completed(s3, seed)
    if m is None:
        seed = spec.check_request(generation, at)
        m = find_completed(s3, seed)
    if m is not None:
        return ChainExport(seed, m.export_arn, "COMPLETED", m.manifest_summary_key, reused=True)
    if not request:
        return None
    table_arn = ddb.describe_table(TableName=spec.table_name)["Table"]["TableArn"]
    e, failed = ensure_with_retries(
        ddb,
        s3,
        spec.check_request(generation, at),
        max_retries=spec.max_export_retries,
        table_arn=table_arn,
    )
    if e.status == "FAILED":
        raise ChainExportFailedError(failed + [e])
    return e


def comparison_in_flight(ddb, spec: ChainSpec, generation: int, at: datetime) -> bool:
    """Whether a comparison export for ``at`` is IN_PROGRESS (ListExports since ``at``: it
    can only have started after the position existed; no new request)."""
    from ddb_assets.dynamodb.exports import recent_exports

    prefix = spec.check_request(generation, at).s3_prefix
    table_arn = ddb.describe_table(TableName=spec.table_name)["Table"]["TableArn"]
    for arn, status in recent_exports(ddb, table_arn, at - timedelta(minutes=1)):
        if status == "IN_PROGRESS":
            d = describe_export(ddb, arn)
            if d.s3_bucket == spec.s3_bucket and (d.s3_prefix or "").rstrip("/") == prefix:
                return True
    return False


@dataclass
class CheckOutcome:
    """What :func:`check_current` found: ``compared`` (see ``comparison``), ``waiting`` (the
    comparison export is IN_PROGRESS) or ``not_seeded``."""

    status: str
    generation: int = -1
    position: datetime | None = None
    export: ChainExport | None = None
    comparison: model.Comparison | None = None

    @property
    def passed(self) -> bool:
        return (
            self.status == "compared" and self.comparison is not None and self.comparison.identical
        )


def _check(wh, ddb, s3, spec: ChainSpec, expect: tuple[int, datetime] | None) -> CheckOutcome:
    state = wh.chain_state()
    if not state.seeded:
        return CheckOutcome("not_seeded")
    gen, at = state.generation, state.last_to
    if expect is not None and (expect[0], utc(expect[1])) != (gen, at):
        return CheckOutcome("superseded", gen, at)
    e = comparison_export(ddb, s3, spec, gen, at)
    assert e is not None, "a requested comparison export is returned or raises"
    if e.status != "COMPLETED":
        return CheckOutcome("waiting", gen, at, e)
    return CheckOutcome("compared", gen, at, e, wh.compare_step(ddb, s3, spec, e))


def check_current(
    warehouse: ChainWarehouse,
    ddb,
    s3,
    spec: ChainSpec,
    *,
    expect: tuple[int, datetime] | None = None,
) -> CheckOutcome:
    """Compare ``<table>_current`` with a full export taken at the chain's last To (row by
    row, in the warehouse's engine). ``expect``: the (generation, To) the caller means to
    check; when the chain has moved on since, the outcome is ``superseded`` and nothing is
    compared."""
    return _check(warehouse, ddb, s3, spec, expect)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _cause(d: ExportDescription) -> str:
    """AWS's FailureCode / FailureMessage of a FAILED export, for the waiting line."""
    if d.status != "FAILED" or not (d.failure_code or d.failure_message):
        return ""
    return f" ({d.failure_code}: {d.failure_message})"
