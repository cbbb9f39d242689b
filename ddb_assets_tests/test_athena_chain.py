"""The Athena engine through the Dagster layer, on the local stack, with Athena played by
the DuckDB-backed emulator: export → sensor → typed table in Glue → summary via CTAS + swap,
and a re-run of the same partition replaces the snapshot."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ddb_assets.config import parse_config
from ddb_assets.definitions import build_definitions
from ddb_assets.local.sample import create_sample_table
from ddb_assets.resources import AthenaResource
from ddb_assets.runner import _execute, run_chain
from ddb_assets_tests.athena_emulator import AthenaEmulator

pytestmark = pytest.mark.trino

EMULATORS: list = []


class EmulatedAthena(AthenaResource):
    """Hands the Athena engine an emulator over the stack's Glue and S3."""

    def runner(self, *, database, workgroup, output_location):
        import boto3

        emu = AthenaEmulator(boto3.client("glue"), boto3.client("s3"), database=database)
        EMULATORS.append(emu)
        return emu


@pytest.fixture
def stack(local_env):
    local_env.client("s3").create_bucket(Bucket="athena-chain")
    return local_env


def sushi_project_on_athena(
    stack, tmp_path, *, bucket: str, database: str, n_items: int, export_format: str | None = None
):
    """The sample ``sushi_orders`` table (two days of orders, exportable yesterday) with a
    ``menu_totals`` summary, configured for the Athena engine (typed data and summaries in
    ``bucket``); returns (items, config, definitions, yesterday's partition)."""
    now = datetime.now(timezone.utc)
    stack.set_now(now - timedelta(days=3))
    items = create_sample_table(
        stack.client("dynamodb"),
        table_name="sushi_orders",
        n_items=n_items,
        days=2,
        now=now - timedelta(days=1, hours=1),
    )
    stack.reset_clock()
    (tmp_path / "summaries").mkdir()
    (tmp_path / "summaries" / "menu_totals.sql").write_text(
        "-- description: pieces per menu\n"
        "SELECT menu, SUM(quantity) AS total_quantity, COUNT(*) AS orders\n"
        "FROM sushi_orders GROUP BY menu"
    )
    table = {"name": "sushi_orders", "s3_bucket": bucket}
    if export_format:
        table["export_format"] = export_format
    cfg = parse_config(
        {
            "defaults": {"engine": "athena", "athena": {"database": database}},
            "typed_s3_uri": f"s3://{bucket}/typed/",
            "summaries_s3_uri": f"s3://{bucket}/summaries/",
            "summaries_dir": str(tmp_path / "summaries"),
            "tables": [table],
        }
    )
    defs = build_definitions(cfg, env="local", resources={"athena": EmulatedAthena()})
    partition = (datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=1)).isoformat()
    return items, cfg, defs, partition


def test_athena_engine_chain_and_rerun(stack, tmp_path):
    items, cfg, defs, partition = sushi_project_on_athena(
        stack, tmp_path, bucket="athena-chain", database="sushi_prod", n_items=300
    )
    with dg.instance_for_test() as instance:
        run_chain(
            defs,
            cfg,
            instance,
            table="sushi_orders",
            partitions=[partition],
            poll_seconds=0.3,
            log=lambda *_: None,
        )
        glue = stack.client("glue")
        assert glue.get_database(Name="sushi_prod")  # created on first use
        view = glue.get_table(DatabaseName="sushi_prod", Name="sushi_orders")["Table"]
        assert view["TableType"] == "VIRTUAL_VIEW"
        summary = glue.get_table(DatabaseName="sushi_prod", Name="menu_totals")["Table"]
        assert summary["StorageDescriptor"]["Location"].startswith(
            "s3://athena-chain/summaries/menu_totals/"
        )

        emu = EMULATORS[-1]
        got = {
            r[0]: (int(r[1]), r[2])
            for r in emu.execute(
                'SELECT menu, total_quantity, orders FROM "sushi_prod"."menu_totals"'
            ).rows
        }
        want: dict = {}
        for it in items:
            q, n = want.get(it["menu"], (0, 0))
            want[it["menu"]] = (q + int(it["quantity"]), n + 1)
        assert got == want

        table_md = (
            instance.fetch_materializations(
                dg.AssetKey(["athena", "sushi_orders", "table"]), limit=1
            )
            .records[0]
            .asset_materialization.metadata
        )
        assert table_md["dagster/row_count"].value == 300
        assert table_md["query_ids"].value

        # Re-running the partition (a retry, or a click) replaces the snapshot exactly.
        res = _execute(
            defs,
            instance,
            [dg.AssetKey(["athena", "sushi_orders", "table"])],
            partition_key=partition,
        )
        assert res.success
        count = emu.execute('SELECT count(*) FROM "sushi_prod"."sushi_orders__snapshots"').rows[0][
            0
        ]
        assert count == 300
