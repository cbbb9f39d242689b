"""Which snapshot partition D exports (DescribeDBSnapshots / DescribeDBClusterSnapshots).

- ``automated`` (the default): the automated snapshot RDS took on day D in the source's
  time zone (the newest, if there are several); RDS takes one a day in the backup window
  and keeps it for the backup retention period.
- ``manual``: the manual snapshot ``<identifier>-ddb-assets-<YYYYMMDD>`` taken for D; when
  it does not exist and D is the newest whole day, it is created now (CreateDBSnapshot).

For an Aurora cluster the same choice is made among its DB cluster snapshots
(DescribeDBClusterSnapshots, CreateDBClusterSnapshot): Aurora takes one automated cluster
snapshot a day and cannot turn automated backups off (retention 1 to 35 days).

Problems are :class:`SnapshotError` with the fix: no automated snapshot for D (backups off,
or D older than the retention period), no such instance or cluster (or an Aurora member
instance named where its cluster belongs), the snapshot still being created (retry later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from ddb_assets.rds.exports import ExportError


class SnapshotError(ExportError):
    """No usable snapshot for the day (the message says what to change)."""


class SnapshotNotReadyError(SnapshotError):
    """The snapshot exists but is still being created: the request can be retried."""

    def __init__(self, message: str):
        super().__init__(message, code="SnapshotCreating", retryable=True)


@dataclass(frozen=True)
class Snapshot:
    identifier: str
    arn: str
    status: str
    snapshot_type: str  # automated | manual
    created: datetime | None
    percent_progress: int | None = None
    engine: str | None = None

    @classmethod
    def from_api(cls, d: dict, cluster: bool) -> Snapshot:
        ident = d["DBClusterSnapshotIdentifier" if cluster else "DBSnapshotIdentifier"]
        arn = d["DBClusterSnapshotArn" if cluster else "DBSnapshotArn"]
        return cls(
            identifier=ident,
            arn=arn,
            status=d.get("Status", "available"),
            snapshot_type=d.get("SnapshotType", ""),
            created=d.get("SnapshotCreateTime"),
            percent_progress=d.get("PercentProgress"),
            engine=d.get("Engine"),
        )


def manual_snapshot_id(identifier: str, day: date) -> str:
    return f"{identifier}-ddb-assets-{day.strftime('%Y%m%d')}"


def _list(rds, identifier: str, cluster: bool, kind: str) -> list[Snapshot]:
    out: list[Snapshot] = []
    marker = None
    while True:
        kwargs: dict = {"SnapshotType": kind}
        kwargs["DBClusterIdentifier" if cluster else "DBInstanceIdentifier"] = identifier
        if marker:
            kwargs["Marker"] = marker
        try:
            page = (
                rds.describe_db_cluster_snapshots(**kwargs)
                if cluster
                else rds.describe_db_snapshots(**kwargs)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SnapshotError(
                f"cannot list the snapshots of {identifier!r}: {code}: "
                f"{exc.response.get('Error', {}).get('Message', '')}",
                code=code,
                retryable=code in ("Throttling", "ThrottlingException"),
            ) from exc
        key = "DBClusterSnapshots" if cluster else "DBSnapshots"
        out.extend(Snapshot.from_api(d, cluster) for d in page.get(key, []))
        marker = page.get("Marker")
        if not marker:
            return out


def _local_day(when: datetime | None, tz: str) -> date | None:
    if when is None:
        return None
    return when.astimezone(ZoneInfo(tz)).date()


def _ready(s: Snapshot, day: date) -> Snapshot:
    if s.status != "available":
        pct = f", {s.percent_progress}% done" if s.percent_progress is not None else ""
        raise SnapshotNotReadyError(
            f"snapshot {s.identifier} for {day} is {s.status}{pct}; the export can start "
            "once it is available (the request retries; or re-run the partition later)"
        )
    return s


def _missing_source(rds, identifier: str, cluster: bool) -> SnapshotError | None:
    """When a source has no snapshot at all: is it there, and of the configured kind? One
    Describe call, on this error path only; None when it exists (or cannot be checked)."""
    try:
        if cluster:
            rds.describe_db_clusters(DBClusterIdentifier=identifier)
            return None
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier).get("DBInstances", [])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault"):
            what, key = ("Aurora DB cluster", "cluster") if cluster else ("DB instance", "instance")
            other = "instance" if cluster else "cluster"
            return SnapshotError(
                f"there is no {what} {identifier!r} in this account and region ({code}): fix "
                f"{key}: in the rds source (if {identifier!r} is an {other}, write "
                f"{other}: {identifier} instead)",
                code=code,
            )
        return None
    member_of = found[0].get("DBClusterIdentifier") if found else None
    if member_of:
        return SnapshotError(
            f"DB instance {identifier!r} is a member of Aurora cluster {member_of!r}: Aurora "
            f"snapshots are DB cluster snapshots; write cluster: {member_of} (and db_engine: "
            "aurora-mysql) instead of instance:",
            code="AuroraMemberInstance",
        )
    return None


def automated_snapshot_for(
    rds, identifier: str, day: date, tz: str, *, cluster: bool = False
) -> Snapshot:
    """The automated snapshot RDS took on ``day`` (in ``tz``)."""
    snaps = _list(rds, identifier, cluster, "automated")
    of_day = [s for s in snaps if _local_day(s.created, tz) == day]
    if of_day:
        return _ready(max(of_day, key=lambda s: s.created or datetime.min), day)
    days = sorted(d for d in (_local_day(s.created, tz) for s in snaps) if d is not None)
    what = "cluster" if cluster else "instance"
    if not days:
        missing = _missing_source(rds, identifier, cluster)
        if missing is not None:
            raise missing
        if cluster:
            raise SnapshotError(
                f"Aurora cluster {identifier!r} has no automated cluster snapshot yet: Aurora "
                "takes one a day in the cluster's backup window (automated backups cannot be "
                "turned off), so a new or long-stopped cluster has none until its next window. "
                "Retry after the window, or set snapshot: manual for this source",
                code="NoAutomatedSnapshot",
            )
        raise SnapshotError(
            f"RDS {what} {identifier!r} has no automated snapshot at all: automated backups "
            "are off. Turn them on (backup retention period of 1 day or more, "
            "`aws rds modify-db-"
            f"{what} --db-{what}-identifier {identifier} --backup-retention-period 7`), "
            "or set snapshot: manual for this source",
            code="NoAutomatedSnapshot",
        )
    if day < days[0]:
        raise SnapshotError(
            f"RDS {what} {identifier!r} has no automated snapshot for {day}: the oldest kept "
            f"is from {days[0]} (the backup retention period is too short for this day). "
            "Raise the retention period (up to 35 days: `aws rds modify-db-"
            f"{what} --db-{what}-identifier {identifier} --backup-retention-period 35`) "
            f"or backfill only from {days[0]} on",
            code="NoAutomatedSnapshot",
        )
    raise SnapshotError(
        f"RDS {what} {identifier!r} has no automated snapshot taken on {day} ({tz}); it has "
        f"snapshots from {days[0]} to {days[-1]}. "
        + (
            "The day's backup window may not have passed yet: retry after it"
            if day > days[-1]
            else (
                "No backup was taken that day (the cluster was stopped then)"
                if cluster
                else "Automated backups were off that day"
            )
            + "; export a manual snapshot instead (snapshot: manual)"
        ),
        code="NoAutomatedSnapshot",
        retryable=day > days[-1],
    )


def manual_snapshot_for(
    rds,
    identifier: str,
    day: date,
    tz: str,
    *,
    cluster: bool = False,
    now: datetime | None = None,
) -> Snapshot:
    """The manual snapshot taken for ``day``; created when missing and ``day`` is the
    newest whole day (a snapshot taken now holds the data of the day that just ended)."""
    want = manual_snapshot_id(identifier, day)
    for s in _list(rds, identifier, cluster, "manual"):
        if s.identifier == want:
            return _ready(s, day)
    today = (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz)).date()
    if day != today - timedelta(days=1):
        raise SnapshotError(
            f"no manual snapshot {want!r} exists for {day}, and a snapshot taken now would "
            f"hold {today}'s data, not {day}'s: create {want!r} from a copy of that day, or "
            "use snapshot: automated for past days",
            code="NoManualSnapshot",
        )
    try:
        if cluster:
            rds.create_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=want, DBClusterIdentifier=identifier
            )
        else:
            rds.create_db_snapshot(DBSnapshotIdentifier=want, DBInstanceIdentifier=identifier)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("DBSnapshotAlreadyExists", "DBClusterSnapshotAlreadyExistsFault"):
            raise SnapshotError(
                f"cannot create snapshot {want!r} of {identifier!r}: {code}: "
                f"{exc.response.get('Error', {}).get('Message', '')}",
                code=code,
            ) from exc
    for s in _list(rds, identifier, cluster, "manual"):
        if s.identifier == want:
            return _ready(s, day)
    raise SnapshotNotReadyError(f"snapshot {want} for {day} is being created")
