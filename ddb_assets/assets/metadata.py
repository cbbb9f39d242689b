"""Standard Dagster metadata for table-like materializations (one place, both layers)."""

import uuid
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg


def table_metadata(
    *,
    table_name: str,
    row_count: int,
    columns: Iterable[tuple[str, str]],
    uri: str | None = None,
    lineage: Mapping[str, Sequence[tuple[dg.AssetKey, str]]] | None = None,
    column_descriptions: Mapping[str, str] | None = None,
) -> dict:
    md: dict = {
        "dagster/table_name": table_name,
        "dagster/row_count": dg.MetadataValue.int(int(row_count)),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name=n, type=str(t), description=(column_descriptions or {}).get(n))
                for n, t in columns
            ]
        ),
    }
    if uri:
        md["dagster/uri"] = dg.MetadataValue.path(uri)
    if lineage:
        md["dagster/column_lineage"] = dg.TableColumnLineage(
            deps_by_column={
                col: [dg.TableColumnDep(asset_key=k, column_name=c) for k, c in deps]
                for col, deps in lineage.items()
                if deps
            }
        )
    return md


def query_metadata(
    *,
    query_ids: Sequence[str] = (),
    bytes_scanned: int | None = None,
    elapsed_ms: int | None = None,
) -> dict:
    md: dict = {}
    if query_ids:
        md["query_ids"] = ", ".join(q for q in query_ids if q)
    if bytes_scanned is not None:
        md["bytes_scanned"] = dg.MetadataValue.int(int(bytes_scanned))
    if elapsed_ms is not None:
        md["elapsed_ms"] = dg.MetadataValue.int(int(elapsed_ms))
    return md


def attempt_id(context) -> str:
    """A name for this attempt's Athena output: unique even when Dagster retries a step
    under the same run id (a CTAS refuses a location or table name that already exists)."""
    return f"{context.run.run_id}-{uuid.uuid4().hex[:8]}"
