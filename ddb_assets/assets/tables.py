"""``athena/<table>/table``: the typed SQL table analysts query, one snapshot per daily partition.

Loads the export that the sensor reported for the partition: checks every data file
against manifest-files.json (MD5), writes the ``snapshot_date`` snapshot (replacing it
exactly if it existed) and points the latest view ``<database>.<table>`` at the newest
snapshot. On DuckDB the load streams the files; on Athena the raw export is registered in
Glue and Athena writes the typed Parquet itself, so data never passes through Dagster.

The blocking checks (row count against the manifest, unique primary keys) are decided by the
engine before the snapshot becomes visible; the asset checks report those decisions (a
failed one leaves everything as it was, and the run fails with the engine's message).
"""

from datetime import timedelta

import dagster as dg

from ddb_assets import table_names
from ddb_assets.assets.keys import (
    EXPORT_ARN_TAG,
    export_key,
    partition_date,
    partitioned_checks,
    partitions_def,
    table_key,
    tag_run,
)
from ddb_assets.assets.metadata import attempt_id, query_metadata, table_metadata
from ddb_assets.config import ProjectConfig, TableConfig
from ddb_assets.dynamodb.exports import ExportError, describe_export
from ddb_assets.dynamodb.manifest import ManifestError, read_manifest, verify_data_files
from ddb_assets.engines import Engine, TableTarget, engine_class
from ddb_assets.incremental.model import key_attributes_of
from ddb_assets.resources import AwsResource
from ddb_assets.tables.checks import UNIQUE_KEYS, Expectation, ExpectedFile, SnapshotCheckError
from ddb_assets.tables.naming import PARTITION_COLUMN, check_rename, safe_name
from ddb_assets.tables.types import parse_type

ROW_COUNT_CHECK = "row_count_matches_export"
FILES_CHECK = "data_files_match_manifest"
DRIFT_CHECK = "schema_drift"
UNIQUE_KEYS_CHECK = UNIQUE_KEYS


def _export_to_load(context, aws, t: TableConfig, partition: str) -> dict:
    """The export this run loads: the one named by the run's tag (the sensor's load run
    of one export), else the partition's latest reported export (a manual run)."""
    arn = context.run.tags.get(EXPORT_ARN_TAG)
    if arn:
        try:
            d = describe_export(aws.client("dynamodb"), arn)
        except ExportError as exc:
            raise dg.Failure(f"export {arn} of {t.name} [{partition}]: {exc}") from exc
        if d.status != "COMPLETED" or not d.manifest_uri:
            raise dg.Failure(f"export {arn} of {t.name} [{partition}] is {d.status}, not COMPLETED")
        return {"export_arn": d.arn, "manifest_uri": d.manifest_uri}
    res = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=export_key(t), asset_partitions=[partition]), limit=1
    )
    if not res.records:
        raise dg.Failure(
            f"no completed export is recorded for {t.name} [{partition}]: materialize "
            f"dynamodb/{t.name}/export_request for this partition and let the export sensor "
            "see it complete (or run `ddb-assets refresh`)"
        )
    md = res.records[0].asset_materialization.metadata
    return {k: getattr(v, "value", v) for k, v in md.items()}


def _table_uri(cfg: ProjectConfig, t: TableConfig, database: str) -> str:
    if cfg.engine_for(t) == "duckdb":
        return f"duckdb://{cfg.warehouse_path()}#{database}.{t.name}"
    return f"{(cfg.typed_s3_uri or '').rstrip('/')}/{t.name}/"


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


SNAPSHOT_DATE_DESCRIPTION = "the snapshot's day (the partition); every snapshot has it"


def declared_schema(t: TableConfig) -> dg.TableSchema:
    """The columns known before any load, for the Overview: ``snapshot_date``, which every
    snapshot has, and the attributes the config gives a type (``columns: {a: {type: ...}}``),
    under the name the load gives them. Nothing else is assumed: the other columns come
    from the data, and each load's materialization shows the real schema (which the UI
    prefers once it exists)."""
    cols = []
    for attr, c in t.columns.items():
        if c.drop or not c.type:
            continue
        name = check_rename(c.rename, attr) if c.rename else safe_name(attr)
        cols.append(
            dg.TableColumn(
                name=name,
                type=parse_type(c.type).canonical(),
                description=f"DynamoDB attribute {attr!r}, typed {c.type} by the config "
                "(a column once an export holds the attribute)",
            )
        )
    cols.append(
        dg.TableColumn(name=PARTITION_COLUMN, type="date", description=SNAPSHOT_DATE_DESCRIPTION)
    )
    return dg.TableSchema(columns=cols)


def build_table_asset(cfg: ProjectConfig, t: TableConfig) -> dg.AssetsDefinition:
    key = table_key(t)
    engine_cls = engine_class(cfg)
    target = TableTarget.of(cfg, t)
    database = target.database
    parts = partitions_def(t)
    with partitioned_checks():
        checks = [
            dg.AssetCheckSpec(
                ROW_COUNT_CHECK,
                asset=key,
                partitions_def=parts,
                blocking=True,
                description="Rows in the snapshot equal the export manifest's itemCount.",
            ),
            dg.AssetCheckSpec(
                UNIQUE_KEYS_CHECK,
                asset=key,
                partitions_def=parts,
                blocking=True,
                description="Every primary key (the table's hash and range key) appears once.",
            ),
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=key,
                partitions_def=parts,
                description="Warns when attributes appear, disappear or change type.",
            ),
        ]
        if t.verify_checksums:
            checks.append(
                dg.AssetCheckSpec(
                    FILES_CHECK,
                    asset=key,
                    partitions_def=parts,
                    blocking=True,
                    description="Every data file in manifest-files.json exists and its MD5 matches.",
                )
            )

    @dg.asset(
        key=key,
        partitions_def=parts,
        deps=[export_key(t)],
        group_name=t.name,
        owners=cfg.owners_for(t) or None,
        tags={"ddb_assets/table": t.name},
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=cfg.freshness_hours_for(t))
        ),
        # Shown on the Overview before (and between) loads; each load adds the served
        # snapshot and the real column schema (which the UI then prefers).
        metadata={
            "dagster/table_name": f"{database}.{t.name}",
            "dagster/uri": dg.MetadataValue.path(_table_uri(cfg, t, database)),
            "dagster/column_schema": declared_schema(t),
            "dynamodb_table": t.source_table,
        },
        kinds=set(engine_cls.TABLE_KINDS),
        check_specs=checks,
        description=(
            f"Typed table `{database}.{t.name}` ({engine_cls.NAME}): the latest snapshot of "
            f"DynamoDB table `{t.source_table}`, one `snapshot_date` per daily partition in "
            f"`{database}.{table_names.snapshots(t.name)}`."
        ),
        pool=engine_cls.POOL,
    )
    def _table(context: dg.AssetExecutionContext, aws: AwsResource, engine: Engine):
        tag_run(context, t)
        partition = context.partition_key
        day = partition_date(partition)
        export = _export_to_load(context, aws, t, partition)
        s3 = aws.client("s3")
        bucket, manifest_key = _split_s3(export["manifest_uri"])
        try:
            manifest = read_manifest(s3, bucket, manifest_key)
        except ManifestError as exc:
            raise dg.Failure(f"export {export['export_arn']}: {exc}") from exc

        if t.verify_checksums:
            problems = verify_data_files(s3, bucket, manifest.files)
            yield dg.AssetCheckResult(
                check_name=FILES_CHECK,
                passed=not problems,
                metadata={"files": len(manifest.files), "problems": "\n".join(problems) or "none"},
            )
            if problems:
                raise dg.Failure(
                    f"{len(problems)} data file(s) of export {export['export_arn']} do not match "
                    f"manifest-files.json; nothing was loaded. Re-export the day: "
                    f"`ddb-assets refresh --table {t.name} --partition {partition} --force` "
                    f"(or launch dynamodb/{t.name}/export_request with config force: true). "
                    + "; ".join(problems[:5])
                )

        keys = key_attributes_of(aws.client("dynamodb"), t.source_table)
        expect = Expectation(
            export=manifest.summary.export_arn,
            item_count=manifest.summary.item_count,
            files=tuple(ExpectedFile(f.key, f.item_count) for f in manifest.files),
            key_attributes=tuple(keys),
        )
        try:
            loaded = engine.load_snapshot(
                target, manifest, day, run_id=attempt_id(context), expect=expect
            )
        except SnapshotCheckError as exc:
            # Decided by the engine before anything became visible: report it, then fail.
            yield dg.AssetCheckResult(
                check_name=exc.check,
                passed=False,
                description=str(exc),
                metadata={
                    k: dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v
                    for k, v in exc.metadata.items()
                },
            )
            raise dg.Failure(str(exc)) from exc
        except ManifestError as exc:
            raise dg.Failure(f"export {export['export_arn']}: {exc}") from exc
        result = loaded.result

        lineage = {c.name: [(export_key(t), c.attribute)] for c in result.columns if c.attribute}
        descriptions = {
            c.name: f"DynamoDB attribute {c.attribute!r} "
            f"({'/'.join(c.dynamodb_types) or 'no values'})"
            for c in result.columns
        }
        descriptions[PARTITION_COLUMN] = SNAPSHOT_DATE_DESCRIPTION
        md = table_metadata(
            table_name=f"{database}.{t.name}",
            row_count=result.row_count,
            columns=[(c.name, c.sql_type) for c in result.columns] + [(PARTITION_COLUMN, "date")],
            uri=loaded.uri,
            lineage=lineage,
            column_descriptions=descriptions,
        )
        md.update(
            query_metadata(
                query_ids=result.query_ids,
                bytes_scanned=loaded.bytes_scanned,
            )
        )
        served = result.latest_snapshot_date or day
        md.update(
            {
                "snapshot_date": partition,
                "served_snapshot_date": served.isoformat(),
                "serves_this_snapshot": served == day,
                "latest_view": dg.MetadataValue.text(
                    f"{database}.{t.name} serves {served.isoformat()}"
                    + (
                        ""
                        if served == day
                        else f" (this run loaded the older day {partition}; the view and "
                        "the summaries built on it are unchanged)"
                    )
                ),
                "export_arn": export["export_arn"],
                "export_item_count": manifest.summary.item_count,
                "column_to_attribute": dg.MetadataValue.json(result.name_map),
                "type_conflicts": dg.MetadataValue.json([c.__dict__ for c in result.conflicts]),
                "unfit_numbers": dg.MetadataValue.json([u.__dict__ for u in result.unfit_numbers]),
                "schema_changes": dg.MetadataValue.json(
                    [s.__dict__ for s in result.schema_changes]
                ),
            }
        )
        changes = result.schema_changes
        yield dg.MaterializeResult(
            metadata=md,
            check_results=[
                # Both decided before the commit (a failure never gets here); reported.
                dg.AssetCheckResult(
                    check_name=ROW_COUNT_CHECK,
                    passed=result.row_count == manifest.summary.item_count,
                    metadata={"rows": result.row_count, "itemCount": manifest.summary.item_count},
                ),
                dg.AssetCheckResult(
                    check_name=UNIQUE_KEYS_CHECK,
                    passed=True,
                    metadata={"key_attributes": ", ".join(keys), "duplicate_rows": 0},
                ),
                dg.AssetCheckResult(
                    check_name=DRIFT_CHECK,
                    passed=not changes,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "changes": dg.MetadataValue.json([s.__dict__ for s in changes]),
                        "summary": ", ".join(f"{s.kind} {s.column}" for s in changes) or "none",
                    },
                ),
            ],
        )

    return _table
