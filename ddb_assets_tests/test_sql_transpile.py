"""Value tests: Athena SQL transpiled to DuckDB must give the values Trino gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.sql.transpile import (
    TranspileError,
    athena_to_duckdb,
    joda_to_strftime,
    prepare_duckdb_connection,
)

UTC = dt.timezone.utc


@pytest.fixture
def con():
    """A connection in Asia/Tokyo: results must not depend on the session zone."""
    c = duckdb.connect()
    c.execute("LOAD icu")
    c.execute("SET TimeZone = 'Asia/Tokyo'")
    yield c
    c.close()


@pytest.fixture
def utc_con():
    c = prepare_duckdb_connection(duckdb.connect())
    yield c
    c.close()


def one(con, athena_sql, schema=None):
    return con.execute(athena_to_duckdb(athena_sql, schema=schema)).fetchone()


def test_exact_example_between_iso_timestamps_with_boundary_rows(con):
    con.execute("CREATE TABLE t (id VARCHAR, amount INTEGER, created_at VARCHAR)")
    con.execute("""INSERT INTO t VALUES
        ('a', 1, '2023-07-01T00:00:00Z'),            -- lower bound: in
        ('a', 2, '2023-06-30T23:59:59.999Z'),        -- just before: out
        ('a', 4, '2023-07-01T08:59:59+09:00'),       -- = 2023-06-30T23:59:59Z: out
        ('b', 8, '2023-08-01T00:00:00.000Z'),        -- upper bound: in
        ('b', 16, '2023-08-01T09:00:00.001+09:00'),  -- 1 ms after: out
        ('c', 32, '2023-07-15T12:00:00'),            -- no offset = UTC: in
        ('c', 64, '2023-08-01T00:00:00.0009Z')       -- Trino keeps ms: = upper bound: in
    """)
    sql = ("SELECT id, SUM(amount) FROM t WHERE from_iso8601_timestamp(created_at) BETWEEN "
           "from_iso8601_timestamp('2023-07-01T00:00:00.00') AND "
           "from_iso8601_timestamp('2023-08-01T00:00:00.00') GROUP BY id")
    rows = sorted(con.execute(athena_to_duckdb(sql)).fetchall())
    assert rows == [("a", 1), ("b", 8), ("c", 96)]


def test_from_iso8601_timestamp_forms(con):
    a, b, c, d = one(con, "SELECT from_iso8601_timestamp('2023-07-01T00:00:00Z'), "
                          "from_iso8601_timestamp('2023-07-01T09:00:00+09:00'), "
                          "from_iso8601_timestamp('2023-07-01T00:00:00.25'), "
                          "from_iso8601_timestamp('2023-07-01')")
    assert a == b == dt.datetime(2023, 7, 1, tzinfo=UTC)
    assert c == dt.datetime(2023, 7, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert d == dt.datetime(2023, 7, 1, tzinfo=UTC)


def test_from_iso8601_date(con):
    assert one(con, "SELECT from_iso8601_date('2023-07-05') + INTERVAL '1' DAY")[0] in (
        dt.date(2023, 7, 6), dt.datetime(2023, 7, 6))
    assert one(con, "SELECT from_iso8601_date('2023-07-05')")[0] == dt.date(2023, 7, 5)


def test_date_trunc_date_timestamp_and_instant(con):
    d, ts, tz = one(con, "SELECT date_trunc('month', DATE '2023-07-15'), "
                         "date_trunc('hour', TIMESTAMP '2023-07-15 10:11:12'), "
                         "date_trunc('day', from_iso8601_timestamp('2023-07-05T20:00:00+09:00'))")
    assert d == dt.date(2023, 7, 1) and type(d) is dt.date  # Trino: date in, date out
    assert ts == dt.datetime(2023, 7, 15, 10)
    assert tz == dt.datetime(2023, 7, 5, tzinfo=UTC)  # truncated in UTC, not Tokyo


def test_date_format_mysql_specifiers(con):
    (v,) = one(con, "SELECT date_format(TIMESTAMP '2023-01-01 13:04:05.123', "
                    "'%Y-%m-%d %H:%i:%s %f %v %W %b %e %c %p %h')")
    assert v == "2023-01-01 13:04:05 123000 52 Sunday Jan 1 1 PM 01"


def test_format_datetime_joda(con):
    (v,) = one(con, "SELECT format_datetime(from_iso8601_timestamp('2023-07-05T01:02:03.456Z'), "
                    "'yyyy-MM-dd''T''HH:mm:ss.SSS EEE MMMM d H')")
    assert v == "2023-07-05T01:02:03.456 Wed July 5 1"  # UTC wall clock, not Tokyo
    assert joda_to_strftime("yy/M/d hh:mm a '100%'") == "%y/%-m/%-d %I:%M %p 100%%"
    with pytest.raises(TranspileError, match="zone"):
        athena_to_duckdb("SELECT format_datetime(x, 'yyyy Z') FROM t")


def test_at_timezone_and_at_time_zone(con):
    a, b, c = one(con, "SELECT at_timezone(from_iso8601_timestamp('2023-07-05T20:00:00Z'), "
                       "'Asia/Tokyo'), from_iso8601_timestamp('2023-07-05T20:00:00Z') AT TIME "
                       "ZONE 'America/New_York', TIMESTAMP '2023-07-05 20:00:00' AT TIME ZONE "
                       "'Asia/Tokyo'")
    assert a == dt.datetime(2023, 7, 6, 5)        # Tokyo wall clock
    assert b == dt.datetime(2023, 7, 5, 16)       # EDT
    assert c == dt.datetime(2023, 7, 6, 5)        # naive read as UTC (Athena's zone)
    (f,) = one(con, "SELECT format_datetime(at_timezone(from_iso8601_timestamp("
                    "'2023-07-05T20:00:00Z'), 'Asia/Tokyo'), 'yyyy-MM-dd HH:mm')")
    assert f == "2023-07-06 05:00"


def test_to_iso8601(con):
    a, b, c = one(con, "SELECT to_iso8601(from_iso8601_timestamp('2023-07-05T20:00:00+09:00')), "
                       "to_iso8601(DATE '2023-07-05'), to_iso8601(TIMESTAMP '2023-07-05 01:02:03.4')")
    assert (a, b, c) == ("2023-07-05T11:00:00.000Z", "2023-07-05", "2023-07-05T01:02:03.400")
    con.execute("CREATE TABLE tt AS SELECT TIMESTAMP '2023-07-05 01:02:03' AS ts, DATE '2023-07-05' AS d")
    # column types unknown to the transpiler: resolved at run time
    assert con.execute(athena_to_duckdb("SELECT to_iso8601(ts), to_iso8601(d) FROM tt")).fetchone() \
        == ("2023-07-05T01:02:03.000", "2023-07-05")


@pytest.fixture
def data(con):
    con.execute("""CREATE TABLE s AS SELECT * FROM (VALUES
        (1, 'a', 1.5::DOUBLE, ['x', 'y'], '{"a": {"b": 1}, "c": "z", "n": null}', 'Apple iPhone 14', 100.0),
        (2, 'a', 2.0, ['y'], '{"a": [1, 2], "c": 3}', 'iPhone case', 20.0),
        (3, 'b', 10.0, [], '{"c": true}', 'Pixel 8', 90.0),
        (4, NULL, 11.0, NULL, '{}', 'iphone lowercase', 5.0),
        (5, 'c', 13.0, ['z'], '{"c": "q"}', 'Old iPhone', 70.0)
    ) v(id, k, x, tags, j, name, price)""")
    return con


def test_approx_distinct_and_count_if(data):
    assert one(data, "SELECT approx_distinct(k), count_if(x > 1.9) FROM s") == (3, 4)
    data.execute("CREATE TABLE big AS SELECT range AS v FROM range(1000)")
    assert one(data, "SELECT approx_distinct(v) FROM big") == (1000,)  # DuckDB's HLL says 978


def test_approx_percentile_returns_a_value_of_the_input(data):
    # q-digest returns input values; DuckDB's approx_quantile would interpolate 10.0/2.0 → 6.0
    assert one(data, "SELECT approx_percentile(x, 0.5) FROM s WHERE id <= 4") == (2.0,)
    assert one(data, "SELECT approx_percentile(x, 0.5), approx_percentile(x, 0.9) FROM s") == (10.0, 13.0)


def test_element_at_arrays_one_based_and_maps(data):
    assert one(data, "SELECT element_at(tags, 1), element_at(tags, -1), element_at(tags, 5) "
                     "FROM s WHERE id = 1") == ("x", "y", None)
    assert one(data, "SELECT element_at(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b'), "
                     "element_at(MAP(ARRAY['a'], ARRAY[1]), 'zz')") == (2, None)


def test_unnest_cross_join(data):
    rows = data.execute(athena_to_duckdb(
        "SELECT id, tag FROM s CROSS JOIN UNNEST(tags) AS t(tag) ORDER BY id, tag")).fetchall()
    assert rows == [(1, "x"), (1, "y"), (2, "y"), (5, "z")]  # empty / NULL arrays: no rows


def test_map_agg_skips_null_keys_and_keeps_one_value_per_key(data):
    (m,) = one(data, "SELECT map_agg(k, id) FROM s")
    assert m == {"a": 1, "b": 3, "c": 5}
    rows = data.execute(athena_to_duckdb(
        "SELECT k, map_agg(name, price) FROM s WHERE k = 'b' GROUP BY k")).fetchall()
    assert rows == [("b", {"Pixel 8": Decimal("90.0")})] or rows == [("b", {"Pixel 8": 90.0})]


def test_json_extract_scalar(data):
    rows = data.execute(athena_to_duckdb(
        "SELECT json_extract_scalar(j, '$.a'), json_extract_scalar(j, '$.c'), "
        "json_extract_scalar(j, '$.a.b'), json_extract_scalar(j, '$.n') FROM s ORDER BY id")).fetchall()
    assert rows == [(None, "z", "1", None), (None, "3", None, None), (None, "true", None, None),
                    (None, None, None, None), (None, "q", None, None)]


def test_like_with_order_by_limit(data):
    rows = data.execute(athena_to_duckdb(
        "SELECT name FROM s WHERE name LIKE '%iPhone%' ORDER BY price DESC LIMIT 2")).fetchall()
    assert rows == [("Apple iPhone 14",), ("Old iPhone",)]  # case-sensitive like Trino


def test_cast_decimal_rounds_half_up(con):
    assert one(con, "SELECT CAST('2.345' AS DECIMAL(38,2)), CAST(-2.345 AS DECIMAL(38,2)), "
                    "CAST(2.344e0 AS DECIMAL(38,2))") == (Decimal("2.35"), Decimal("-2.35"),
                                                          Decimal("2.34"))


def test_try_cast(data):
    assert one(data, "SELECT try_cast('1.5' AS integer), try_cast('12' AS bigint), "
                     "try_cast('abc' AS integer), try_cast(2.5e0 AS integer), "
                     "try_cast('2023-07-01' AS date)") == (None, 12, None, 3, dt.date(2023, 7, 1))
    # type unknown to the transpiler: decided at run time
    data.execute("CREATE TABLE c AS SELECT '1.5' AS s, 2.5::DOUBLE AS d")
    assert data.execute(athena_to_duckdb("SELECT try_cast(s AS integer), try_cast(d AS integer) "
                                         "FROM c")).fetchone() == (None, 3)


def test_regexp_like_is_a_partial_match(data):
    rows = data.execute(athena_to_duckdb(
        "SELECT id FROM s WHERE regexp_like(name, 'Phone [0-9]+') ORDER BY id")).fetchall()
    assert rows == [(1,)]


def test_cardinality_and_contains(data):
    assert one(data, "SELECT cardinality(tags), contains(tags, 'y'), contains(tags, 'q') "
                     "FROM s WHERE id = 1") == (2, True, False)
    assert one(data, "SELECT cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))") == (2,)


def test_integer_division_truncates_when_types_known(con):
    con.execute("CREATE TABLE n AS SELECT 7::BIGINT AS a, 2::BIGINT AS b")
    assert one(con, "SELECT 7 / 2, -7 / 2") == (3, -3)
    assert one(con, "SELECT a / b FROM n", schema={"n": {"a": "bigint", "b": "bigint"}}) == (3,)


def test_parse_error_is_a_transpile_error():
    with pytest.raises(TranspileError, match="cannot parse"):
        athena_to_duckdb("SELECT FROM WHERE (")
