"""Values become SQL text in one module; config values that become S3 keys follow S3's rules."""

import datetime as dt
import pathlib
import re

import duckdb
import pytest

from ddb_assets.config import ConfigError, parse_config
from ddb_assets.s3keys import validate_s3_prefix, validate_s3_uri
from ddb_assets.sql.literals import (
    date_literal,
    path_literal,
    setting_literal,
    sql_literal,
    timestamp_literal,
)

pytestmark = pytest.mark.unit

PACKAGE = pathlib.Path(__file__).parent.parent / "ddb_assets"


def test_literals_round_trip_through_duckdb():
    con = duckdb.connect()
    text = 'it\'s a "quote" and a backslash \\ and 東京'
    assert con.execute(f"SELECT {sql_literal(text)}").fetchone()[0] == text
    assert (
        con.execute(f"SELECT {path_literal(pathlib.Path('/tmp/o' + chr(39) + 'k'))}").fetchone()[0]
        == "/tmp/o'k"
    )
    assert con.execute(f"SELECT {date_literal(dt.date(2026, 7, 1))}").fetchone()[0] == dt.date(
        2026, 7, 1
    )
    aware = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert con.execute(f"SELECT {timestamp_literal(aware)}").fetchone()[0] == dt.datetime(
        2026, 7, 1
    )
    assert setting_literal(True) == "true" and setting_literal(4) == "4"
    assert setting_literal("1.5GiB") == "'1.5GiB'"


@pytest.mark.parametrize("bad", ["a\nb", "a\x00b", "tab\there", "del\x7f"])
def test_control_characters_are_refused_everywhere(bad):
    with pytest.raises(ValueError, match="control character"):
        sql_literal(bad)
    with pytest.raises(ValueError, match="control character"):
        path_literal(bad)
    with pytest.raises(ValueError, match="control character"):
        setting_literal(bad)


def test_no_other_module_quotes_values_itself():
    """The copies the issue named are gone, and nothing else doubles quotes by hand."""
    offenders = []
    for f in PACKAGE.rglob("*.py"):
        if f.name == "literals.py" or "local" in f.parts:
            continue
        text = f.read_text()
        for needle in ("_sql_setting", "_sql_path", "_sql_string", 'replace("\'", "\'\'")'):
            if needle in text:
                offenders.append(f"{f.relative_to(PACKAGE)}: {needle}")
    assert offenders == []


@pytest.mark.parametrize(
    "prefix, problem",
    [
        ("../../other-team/exports", "'..' segment"),
        ("exports/./x", "'.' segment"),
        ("a//b", "empty segment"),
        ("exports\\win", "contains '\\\\'"),
        ("team a/exports", "contains ' '"),
        ("ex{p}", "contains '{}'"),
        ("x" * 600, "under 512 bytes"),
    ],
)
def test_s3_prefix_rules(prefix, problem):
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        validate_s3_prefix(prefix)
    assert "\n" not in str(info.value)


def test_s3_prefix_and_uri_normalised():
    assert validate_s3_prefix("/team-a/dynamodb-exports/") == "team-a/dynamodb-exports"
    assert validate_s3_prefix("dt=2026-07-01/x") == "dt=2026-07-01/x"
    assert validate_s3_uri("s3://my-bucket/typed", "typed_s3_uri") == "s3://my-bucket/typed/"
    assert validate_s3_uri("s3://my-bucket", "typed_s3_uri") == "s3://my-bucket/"
    with pytest.raises(ValueError, match="'..' segment"):
        validate_s3_uri("s3://my-bucket/a/../b/", "typed_s3_uri")
    with pytest.raises(ValueError, match="not a valid S3 bucket"):
        validate_s3_uri("s3://My_Bucket/a/", "typed_s3_uri")


@pytest.mark.parametrize(
    "extra, table, field",
    [
        ({}, {"s3_prefix": "../../other-team/exports"}, "tables.0.s3_prefix"),
        ({"typed_s3_uri": "s3://b-1/../x/"}, {}, "typed_s3_uri"),
        ({"summaries_s3_uri": "s3://b-1/a b/"}, {}, "summaries_s3_uri"),
        (
            {"defaults": {"athena": {"output_location": "s3://b-1/r/../../q/"}}},
            {},
            "defaults.athena.output_location",
        ),
    ],
)
def test_config_refuses_bad_s3_keys_in_one_line(extra, table, field):
    with pytest.raises(ConfigError) as info:
        parse_config({**extra, "tables": [{"name": "o", "s3_bucket": "b-1", **table}]})
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"  - {field}: "), lines
