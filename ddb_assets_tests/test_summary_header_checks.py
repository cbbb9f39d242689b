"""Summary files: header checks, errors with file and line, functions DuckDB lacks (issue 18)."""

import pytest

from ddb_assets.config import parse_config
from ddb_assets.summaries import SummaryError, load_summary
from ddb_assets.summaries.checks import CheckSyntaxError, parse_check
from ddb_assets.summaries.portability import check_runs_on_duckdb, unsupported_functions

pytestmark = [pytest.mark.unit]

TABLES = ["sushi_orders"]


def _spec(tmp_path, text, name="s.sql"):
    p = tmp_path / name
    p.write_text(text)
    return load_summary(p, TABLES, "sushi")


def test_header_checks_are_parsed_with_their_lines(tmp_path):
    spec = _spec(
        tmp_path,
        "-- description: x\n-- check: row_count > 0\n-- check: unique(order_date, menu)\n"
        "-- check: not_null(menu)\nSELECT order_date, menu, 1 AS n FROM sushi_orders\n",
    )
    assert [(c.name, c.kind, c.line) for c in spec.checks] == [
        ("row_count_gt_0", "row_count", 2),
        ("unique_order_date_menu", "unique", 3),
        ("not_null_menu", "not_null", 4),
    ]
    rc, uniq, nn = spec.checks
    assert rc.passed_row_count(1) and not rc.passed_row_count(0)
    assert uniq.violations_sql("sushi", "s") == (
        'SELECT count(*) FROM (SELECT "order_date", "menu" FROM "sushi"."s" '
        'GROUP BY "order_date", "menu" HAVING count(*) > 1) AS duplicates'
    )
    assert (
        nn.violations_sql("sushi", "s") == 'SELECT count(*) FROM "sushi"."s" WHERE "menu" IS NULL'
    )


def test_unique_check_finds_duplicates_on_duckdb(tmp_path):
    import duckdb

    spec = _spec(tmp_path, "-- check: unique(a)\nSELECT a FROM sushi_orders\n")
    con = duckdb.connect()
    con.execute(
        "CREATE SCHEMA sushi; CREATE TABLE sushi.s AS SELECT * FROM (VALUES (1), (1), (2)) t(a)"
    )
    assert con.execute(spec.checks[0].violations_sql("sushi", "s")).fetchone()[0] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "-- check: rows > 1\nSELECT menu FROM sushi_orders\n",
            "s.sql line 1: cannot read the check",
        ),
        (
            "-- check: unique(nope)\nSELECT menu FROM sushi_orders\n",
            "s.sql line 1: unique(nope): nope is not an output column",
        ),
        (
            "-- a comment\nSELECT menu,\n  count(*\nFROM sushi_orders\n",
            "s.sql line 4: cannot parse as Athena SQL",
        ),
        ("\nDELETE FROM sushi_orders\n", "s.sql line 2: expected a SELECT"),
        ("SELECT menu\nFROM nope\n", "s.sql line 2: unknown table"),
    ],
)
def test_summary_problems_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(SummaryError) as exc:
        _spec(tmp_path, text)
    assert message in str(exc.value)
    assert "\x1b[" not in str(exc.value) and "\n" not in str(exc.value)


def test_check_syntax_is_explained():
    with pytest.raises(CheckSyntaxError, match="row_count > 0"):
        parse_check("count > 0", 1, ["a"])


def test_functions_duckdb_lacks_are_found_with_the_users_line(tmp_path):
    assert (
        unsupported_functions(
            "SELECT format_datetime(ts, 'yyyy'), levenshtein_distance(a, b) FROM t"
        )
        == []
    )
    spec = _spec(
        tmp_path, "-- description: x\nSELECT menu,\n  no_such_fn(menu) AS m\nFROM sushi_orders\n"
    )
    with pytest.raises(
        SummaryError, match=r"s\.sql line 3: function no_such_fn\(\) does not exist"
    ):
        check_runs_on_duckdb(spec)


def test_definitions_refuse_a_summary_duckdb_cannot_run(tmp_path):
    from ddb_assets.definitions import build_definitions

    folder = tmp_path / "summaries"
    folder.mkdir()
    (folder / "bad.sql").write_text("SELECT no_such_fn(menu) AS m FROM sushi_orders\n")
    cfg = parse_config(
        {"summaries_dir": str(folder), "tables": [{"name": "sushi_orders", "s3_bucket": "bkt"}]}
    )
    with pytest.raises(SummaryError, match="bad.sql line 1: function no_such_fn"):
        build_definitions(cfg, env="local")


def test_owners_and_freshness_defaults_and_overrides():
    from ddb_assets.config import ConfigError

    cfg = parse_config(
        {
            "defaults": {"ops": {"owners": ["team:data"], "freshness_hours": 30}},
            "tables": [
                {"name": "a_t", "s3_bucket": "bkt"},
                {
                    "name": "b_t",
                    "s3_bucket": "bkt",
                    "ops": {"owners": ["b@example.com"], "export_late_after_minutes": 30},
                },
            ],
        }
    )
    a, b = cfg.tables
    assert cfg.owners_for(a) == ["team:data"] and cfg.owners_for(b) == ["b@example.com"]
    assert cfg.freshness_hours_for(a) == 30 and cfg.freshness_hours_for(None) == 30
    assert cfg.export_late_after_minutes_for(a) == 120
    assert cfg.export_late_after_minutes_for(b) == 30
    for bad, where in (
        ({"owners": ["bob"]}, "tables.0.ops.owners"),
        ({"freshness_hours": 0}, "tables.0.ops.freshness_hours"),
        ({"export_late_after_minutes": 0}, "tables.0.ops.export_late_after_minutes"),
        ({"owner": ["team:x"]}, "tables.0.ops.owner"),
    ):
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            parse_config({"tables": [{"name": "a_t", "s3_bucket": "bkt", "ops": bad}]})
