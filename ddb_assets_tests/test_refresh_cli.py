"""``ddb-assets refresh`` as a user runs it, day to day (issue 18, points 8-11).

- a day already loaded from its newest export is reported at once (exit 0), no waiting;
- ``--force`` requests a new export and loads only that one (never the old export first);
- a fresh Dagster home loads each requested day once, from the newest export;
- every error is one ``error:`` line; exit 2 for bad input, 1 for a failed run.
"""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml

from ddb_assets.cli import main
from ddb_assets_tests.test_backfill import write_history

TZ = ZoneInfo("Asia/Tokyo")
NAME = "orders_rf"


@pytest.fixture
def setup(local_env, tmp_path):
    local_env.client("s3").create_bucket(Bucket="refresh-bucket")
    today = datetime.now(TZ).date()
    day = today - timedelta(days=1)
    write_history(local_env, NAME, [today - timedelta(days=3), today - timedelta(days=2), day])
    conf = tmp_path / "ddb_assets.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "warehouse": "wh.duckdb",
                "summaries_dir": None,
                "tables": [
                    {
                        "name": NAME,
                        "s3_bucket": "refresh-bucket",
                        "partitions_start": (today - timedelta(days=10)).isoformat(),
                    }
                ],
            }
        )
    )
    return local_env, conf, day.isoformat()


def refresh(conf, home, *args):
    return main(
        ["refresh", "--table", NAME, "--config", str(conf), "--dagster-home", str(home), *args]
    )


def loads(home, day):
    """ExportArns of the table's materializations for ``day`` in a Dagster home (oldest first)."""
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        res = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["athena", NAME, "table"]), asset_partitions=[day]
            ),
            limit=50,
            ascending=True,
        )
        return [r.asset_materialization.metadata["export_arn"].value for r in res.records]


def test_refresh_again_force_and_a_fresh_home(setup, tmp_path, capsys):
    stack, conf, day = setup
    ddb = stack.client("dynamodb")
    table_arn = ddb.describe_table(TableName=NAME)["Table"]["TableArn"]
    home = tmp_path / "home"
    assert refresh(conf, home, "--partition", day) == 0, capsys.readouterr().err
    [first] = loads(home, day)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        # The export's lateness check ran in the load run, for that day.
        key = dg.AssetCheckKey(dg.AssetKey(["dynamodb", NAME, "export"]), "export_on_time")
        [record] = instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
        assert record.partition == day and record.status.value == "SUCCEEDED"

    # Again, same home: reported at once as loaded, with the way to re-export.
    started = time.monotonic()
    assert refresh(conf, home, "--partition", day, "--timeout", "600") == 0
    out = capsys.readouterr().out
    assert f"{day} already loaded" in out and "--force" in out
    assert time.monotonic() - started < 60
    assert loads(home, day) == [first]

    # --force: a new export, and only that one is loaded.
    assert refresh(conf, home, "--partition", day, "--force") == 0, capsys.readouterr().err
    exports = ddb.list_exports(TableArn=table_arn)["ExportSummaries"]
    assert len(exports) == 2
    [second] = [e["ExportArn"] for e in exports if e["ExportArn"] != first]
    assert loads(home, day) == [first, second]

    # A fresh Dagster home: the day is loaded once, from the newest export.
    fresh = tmp_path / "fresh"
    assert refresh(conf, fresh, "--partition", day) == 0, capsys.readouterr().err
    assert loads(fresh, day) == [second]
    with dg.DagsterInstance.local_temp(str(fresh)) as instance:
        load_runs = [
            r for r in instance.get_runs() if r.tags.get("dagster/run_key", "").startswith("load:")
        ]
        assert len(load_runs) == 1
        assert all(r.tags.get("ddb_assets/table") == NAME for r in instance.get_runs())


def test_errors_are_one_line_with_exit_codes(setup, tmp_path, capsys):
    stack, conf, day = setup
    home = tmp_path / "home"
    cases = [
        (["--partition", "2026-13-01"], 2, "is not a day"),
        (["--partition", "1999-01-01"], 2, "is not a partition of"),
        (["--from", day], 2, "give both --from and --to"),
    ]
    for args, code, text in cases:
        assert refresh(conf, home, *args) == code, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and text in err[0], err
    # A day before PITR was enabled: the request run fails (exit 1) and names the first
    # exportable day.
    early = (datetime.now(TZ).date() - timedelta(days=8)).isoformat()
    assert refresh(conf, home, "--partition", early) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not exportable" in err[0] and "earliest exportable day" in err[0], err
    # A broken summary file: exit 2, its file and line, before anything is requested.
    folder = tmp_path / "summaries"
    folder.mkdir()
    (folder / "bad.sql").write_text(f"SELECT x,\n  count(*\nFROM {NAME}\n")
    data = yaml.safe_load(conf.read_text())
    data["summaries_dir"] = str(folder)
    conf.write_text(yaml.safe_dump(data))
    assert refresh(conf, home, "--partition", day) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.sql line 3: cannot parse as Athena SQL" in err[0], err
    # --debug adds the traceback.
    assert refresh(conf, home, "--partition", day, "--debug") == 2
    assert "Traceback" in capsys.readouterr().err
