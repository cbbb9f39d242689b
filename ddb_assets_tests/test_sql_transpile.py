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
    sql = (
        "SELECT id, SUM(amount) FROM t WHERE from_iso8601_timestamp(created_at) BETWEEN "
        "from_iso8601_timestamp('2023-07-01T00:00:00.00') AND "
        "from_iso8601_timestamp('2023-08-01T00:00:00.00') GROUP BY id"
    )
    rows = sorted(con.execute(athena_to_duckdb(sql)).fetchall())
    assert rows == [("a", 1), ("b", 8), ("c", 96)]


def test_from_iso8601_timestamp_forms(con):
    a, b, c, d = one(
        con,
        "SELECT from_iso8601_timestamp('2023-07-01T00:00:00Z'), "
        "from_iso8601_timestamp('2023-07-01T09:00:00+09:00'), "
        "from_iso8601_timestamp('2023-07-01T00:00:00.25'), "
        "from_iso8601_timestamp('2023-07-01')",
    )
    assert a == b == dt.datetime(2023, 7, 1, tzinfo=UTC)
    assert c == dt.datetime(2023, 7, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert d == dt.datetime(2023, 7, 1, tzinfo=UTC)


def test_from_iso8601_date(con):
    assert one(con, "SELECT from_iso8601_date('2023-07-05') + INTERVAL '1' DAY")[0] in (
        dt.date(2023, 7, 6),
        dt.datetime(2023, 7, 6),
    )
    assert one(con, "SELECT from_iso8601_date('2023-07-05')")[0] == dt.date(2023, 7, 5)


def test_date_trunc_date_timestamp_and_instant(con):
    d, ts, tz = one(
        con,
        "SELECT date_trunc('month', DATE '2023-07-15'), "
        "date_trunc('hour', TIMESTAMP '2023-07-15 10:11:12'), "
        "date_trunc('day', from_iso8601_timestamp('2023-07-05T20:00:00+09:00'))",
    )
    assert d == dt.date(2023, 7, 1) and type(d) is dt.date  # Trino: date in, date out
    assert ts == dt.datetime(2023, 7, 15, 10)
    # truncated in the value's own zone, as Trino does: 2023-07-05 00:00:00.000 +09:00
    assert tz == dt.datetime(2023, 7, 4, 15, tzinfo=UTC)


def test_date_format_mysql_specifiers(con):
    (v,) = one(
        con,
        "SELECT date_format(TIMESTAMP '2023-01-01 13:04:05.123', "
        "'%Y-%m-%d %H:%i:%s %f %v %W %b %e %c %p %h')",
    )
    assert v == "2023-01-01 13:04:05 123000 52 Sunday Jan 1 1 PM 01"


def test_format_datetime_joda(con):
    (v,) = one(
        con,
        "SELECT format_datetime(from_iso8601_timestamp('2023-07-05T01:02:03.456Z'), "
        "'yyyy-MM-dd''T''HH:mm:ss.SSS EEE MMMM d H')",
    )
    assert v == "2023-07-05T01:02:03.456 Wed July 5 1"  # UTC wall clock, not Tokyo
    assert joda_to_strftime("yy/M/d hh:mm a '100%'") == "%y/%-m/%-d %I:%M %p 100%%"
    with pytest.raises(TranspileError, match="zone"):
        athena_to_duckdb("SELECT format_datetime(x, 'yyyy Z') FROM t")


def test_at_timezone_and_at_time_zone(con):
    a, b, c = one(
        con,
        "SELECT at_timezone(from_iso8601_timestamp('2023-07-05T20:00:00Z'), "
        "'Asia/Tokyo'), from_iso8601_timestamp('2023-07-05T20:00:00Z') AT TIME "
        "ZONE 'America/New_York', TIMESTAMP '2023-07-05 20:00:00' AT TIME ZONE "
        "'Asia/Tokyo'",
    )
    # as output columns they are instants (Trino: timestamp with time zone)
    assert a == b == c == dt.datetime(2023, 7, 5, 20, tzinfo=UTC)
    a, b, c = one(
        con,
        "SELECT CAST(at_timezone(from_iso8601_timestamp('2023-07-05T20:00:00Z'), "
        "'Asia/Tokyo') AS timestamp), hour(from_iso8601_timestamp('2023-07-05T20:00:00Z') AT TIME "
        "ZONE 'America/New_York'), CAST(TIMESTAMP '2023-07-05 20:00:00' AT TIME ZONE "
        "'Asia/Tokyo' AS timestamp)",
    )
    assert a == dt.datetime(2023, 7, 6, 5)  # Tokyo wall clock
    assert b == 16  # EDT
    assert c == dt.datetime(2023, 7, 6, 5)  # naive read as UTC (Athena's zone)
    (f,) = one(
        con,
        "SELECT format_datetime(at_timezone(from_iso8601_timestamp("
        "'2023-07-05T20:00:00Z'), 'Asia/Tokyo'), 'yyyy-MM-dd HH:mm')",
    )
    assert f == "2023-07-06 05:00"


def test_to_iso8601(con):
    a, b, c = one(
        con,
        "SELECT to_iso8601(from_iso8601_timestamp('2023-07-05T20:00:00+09:00')), "
        "to_iso8601(DATE '2023-07-05'), to_iso8601(TIMESTAMP '2023-07-05 01:02:03.4')",
    )
    # Trino prints an instant in its own zone (measured on Trino 476)
    assert (a, b, c) == ("2023-07-05T20:00:00.000+09:00", "2023-07-05", "2023-07-05T01:02:03.400")
    con.execute(
        "CREATE TABLE tt AS SELECT TIMESTAMP '2023-07-05 01:02:03' AS ts, DATE '2023-07-05' AS d"
    )
    # column types unknown to the transpiler: resolved at run time
    assert con.execute(
        athena_to_duckdb("SELECT to_iso8601(ts), to_iso8601(d) FROM tt")
    ).fetchone() == ("2023-07-05T01:02:03.000", "2023-07-05")


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


def test_approx_percentile_is_refused_naming_the_function_and_the_reason():
    # measured on Trino 476: its sketch gives 75.43 where the exact median is 79.75, and
    # 7543 for the same values as bigint: no DuckDB function reproduces it
    with pytest.raises(TranspileError, match=r"approx_percentile: Trino's estimate"):
        athena_to_duckdb("SELECT approx_percentile(x, 0.5) FROM s")


def test_element_at_arrays_one_based_and_maps(data):
    assert one(
        data,
        "SELECT element_at(tags, 1), element_at(tags, -1), element_at(tags, 5) FROM s WHERE id = 1",
    ) == ("x", "y", None)
    assert one(
        data,
        "SELECT element_at(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b'), "
        "element_at(MAP(ARRAY['a'], ARRAY[1]), 'zz')",
    ) == (2, None)


def test_unnest_cross_join(data):
    rows = data.execute(
        athena_to_duckdb("SELECT id, tag FROM s CROSS JOIN UNNEST(tags) AS t(tag) ORDER BY id, tag")
    ).fetchall()
    assert rows == [(1, "x"), (1, "y"), (2, "y"), (5, "z")]  # empty / NULL arrays: no rows


def test_map_agg_skips_null_keys_and_keeps_one_value_per_key(data):
    (m,) = one(data, "SELECT map_agg(k, id) FROM s")
    assert m == {"a": 1, "b": 3, "c": 5}
    rows = data.execute(
        athena_to_duckdb("SELECT k, map_agg(name, price) FROM s WHERE k = 'b' GROUP BY k")
    ).fetchall()
    assert rows == [("b", {"Pixel 8": Decimal("90.0")})] or rows == [("b", {"Pixel 8": 90.0})]


def test_json_extract_scalar(data):
    rows = data.execute(
        athena_to_duckdb(
            "SELECT json_extract_scalar(j, '$.a'), json_extract_scalar(j, '$.c'), "
            "json_extract_scalar(j, '$.a.b'), json_extract_scalar(j, '$.n') FROM s ORDER BY id"
        )
    ).fetchall()
    assert rows == [
        (None, "z", "1", None),
        (None, "3", None, None),
        (None, "true", None, None),
        (None, None, None, None),
        (None, "q", None, None),
    ]


def test_like_with_order_by_limit(data):
    rows = data.execute(
        athena_to_duckdb(
            "SELECT name FROM s WHERE name LIKE '%iPhone%' ORDER BY price DESC LIMIT 2"
        )
    ).fetchall()
    assert rows == [("Apple iPhone 14",), ("Old iPhone",)]  # case-sensitive like Trino


def test_cast_decimal_rounds_half_up(con):
    assert one(
        con,
        "SELECT CAST('2.345' AS DECIMAL(38,2)), CAST(-2.345 AS DECIMAL(38,2)), "
        "CAST(2.344e0 AS DECIMAL(38,2))",
    ) == (Decimal("2.35"), Decimal("-2.35"), Decimal("2.34"))


def test_try_cast(data):
    assert one(
        data,
        "SELECT try_cast('1.5' AS integer), try_cast('12' AS bigint), "
        "try_cast('abc' AS integer), try_cast(2.5e0 AS integer), "
        "try_cast('2023-07-01' AS date)",
    ) == (None, 12, None, 3, dt.date(2023, 7, 1))
    # type unknown to the transpiler: decided at run time
    data.execute("CREATE TABLE c AS SELECT '1.5' AS s, 2.5::DOUBLE AS d")
    assert data.execute(
        athena_to_duckdb("SELECT try_cast(s AS integer), try_cast(d AS integer) FROM c")
    ).fetchone() == (None, 3)


def test_regexp_like_is_a_partial_match(data):
    rows = data.execute(
        athena_to_duckdb("SELECT id FROM s WHERE regexp_like(name, 'Phone [0-9]+') ORDER BY id")
    ).fetchall()
    assert rows == [(1,)]


def test_cardinality_and_contains(data):
    assert one(
        data,
        "SELECT cardinality(tags), contains(tags, 'y'), contains(tags, 'q') FROM s WHERE id = 1",
    ) == (2, True, False)
    assert one(data, "SELECT cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))") == (2,)


def test_integer_division_truncates_when_types_known(con):
    con.execute("CREATE TABLE n AS SELECT 7::BIGINT AS a, 2::BIGINT AS b")
    assert one(con, "SELECT 7 / 2, -7 / 2") == (3, -3)
    assert one(con, "SELECT a / b FROM n", schema={"n": {"a": "bigint", "b": "bigint"}}) == (3,)


def test_parse_error_is_a_transpile_error():
    with pytest.raises(TranspileError, match="cannot parse"):
        athena_to_duckdb("SELECT FROM WHERE (")


# ---------------------------------------------------------------------------------------
# UNNEST of maps, several arrays, arrays of rows; JSON casts; lambdas; more functions


@pytest.fixture
def nested(con):
    con.execute("""CREATE TABLE n AS SELECT * FROM (VALUES
        (1, MAP(['a', 'b'], [1, 2]), [1, 2, 3], [4, 5], [{'p': 1, 'q': 'x'}, {'p': 2, 'q': 'y'}]),
        (2, NULL, NULL, [7], []),
        (3, MAP([], [])::MAP(VARCHAR, INTEGER), [], [], NULL)
    ) v(id, m, a, b, r)""")
    return con


NESTED_SCHEMA = {
    "n": {
        "id": "integer",
        "m": "map(varchar, integer)",
        "a": "array(integer)",
        "b": "array(integer)",
        "r": "array(row(p integer, q varchar))",
    }
}


def rows(con, athena_sql, schema=None):
    return con.execute(athena_to_duckdb(athena_sql, schema=schema)).fetchall()


@pytest.mark.parametrize("schema", [None, NESTED_SCHEMA])
def test_unnest_map_gives_key_and_value_rows(nested, schema):
    # Trino: one row per entry; a NULL or empty map gives no row
    assert rows(
        nested, "SELECT id, k, v FROM n CROSS JOIN UNNEST(m) AS t(k, v) ORDER BY id, k", schema
    ) == [(1, "a", 1), (1, "b", 2)]
    assert rows(
        nested,
        "SELECT id, k, v, o FROM n CROSS JOIN UNNEST(m) WITH ORDINALITY "
        "AS t(k, v, o) ORDER BY id, k",
        schema,
    ) == [(1, "a", 1, 1), (1, "b", 2, 2)]
    # LEFT JOIN ... ON TRUE keeps the rows without entries
    assert rows(
        nested,
        "SELECT id, k, v FROM n LEFT JOIN UNNEST(m) AS t(k, v) ON TRUE ORDER BY id, k",
        schema,
    ) == [(1, "a", 1), (1, "b", 2), (2, None, None), (3, None, None)]


def test_unnest_map_constructor(con):
    assert rows(
        con, "SELECT k, v FROM UNNEST(MAP(ARRAY['x', 'y'], ARRAY[10, 20])) AS t(k, v) ORDER BY k"
    ) == [("x", 10), ("y", 20)]


@pytest.mark.parametrize("schema", [None, NESTED_SCHEMA])
def test_unnest_several_arrays_zips_and_pads_with_nulls(nested, schema):
    # Trino: zipped; the shorter padded with NULLs; a NULL array counts as empty
    assert rows(
        nested, "SELECT id, x, y FROM n CROSS JOIN UNNEST(a, b) AS t(x, y) ORDER BY id, x", schema
    ) == [(1, 1, 4), (1, 2, 5), (1, 3, None), (2, None, 7)]
    assert rows(
        nested,
        "SELECT id, x, y, o FROM n CROSS JOIN UNNEST(a, b) WITH ORDINALITY "
        "AS t(x, y, o) ORDER BY id, o",
        schema,
    ) == [(1, 1, 4, 1), (1, 2, 5, 2), (1, 3, None, 3), (2, None, 7, 1)]
    # comma join and a FROM of its own
    assert rows(nested, "SELECT id, x, y FROM n, UNNEST(a, b) AS t(x, y) WHERE id = 2", schema) == [
        (2, None, 7)
    ]
    assert rows(nested, "SELECT x, y FROM UNNEST(ARRAY[1, 2, 3], ARRAY['a']) AS t(x, y)") == [
        (1, "a"),
        (2, None),
        (3, None),
    ]


def test_unnest_single_array_with_ordinality_unchanged(nested):
    assert rows(
        nested,
        "SELECT id, x, o FROM n CROSS JOIN UNNEST(a) WITH ORDINALITY AS t(x, o) ORDER BY id, o",
    ) == [(1, 1, 1), (1, 2, 2), (1, 3, 3)]


def test_unnest_array_of_rows_expands_fields(nested):
    # Trino: an array of rows unnests into one column per field (type needed for 2 fields;
    # with unknown type one argument with two names is taken for a map)
    assert rows(
        nested,
        "SELECT id, p, q FROM n CROSS JOIN UNNEST(r) AS t(p, q) ORDER BY id, p",
        NESTED_SCHEMA,
    ) == [(1, 1, "x"), (1, 2, "y")]
    assert rows(
        nested,
        "SELECT id, p, q, o FROM n CROSS JOIN UNNEST(r) WITH ORDINALITY "
        "AS t(p, q, o) ORDER BY id, p",
        NESTED_SCHEMA,
    ) == [(1, 1, "x", 1), (1, 2, "y", 2)]


def test_unnest_wrong_number_of_names_is_an_error():
    with pytest.raises(TranspileError, match="columns"):
        athena_to_duckdb(
            "SELECT * FROM n CROSS JOIN UNNEST(m, a) AS t(k, v, x, y)", schema=NESTED_SCHEMA
        )


@pytest.fixture
def js(con):
    con.execute("""CREATE TABLE js AS SELECT * FROM (VALUES
        (1, '{"a": "12.5", "b": 12.5, "c": true, "d": null, "e": [1, "x"], "f": {"g": 1}}', 'abc')
    ) v(id, doc, plain)""")
    return con


def test_cast_json_to_varchar_gives_the_scalar_text(js):
    # Trino: CAST(json AS varchar) is the scalar's text, json_format keeps the JSON text,
    # json_extract stays JSON
    assert one(
        js,
        "SELECT CAST(json_extract(doc, '$.a') AS varchar), "
        "CAST(json_extract(doc, '$.b') AS varchar), "
        "CAST(json_extract(doc, '$.c') AS varchar), "
        "CAST(json_extract(doc, '$.d') AS varchar), "
        "CAST(json_extract(doc, '$.missing') AS varchar), "
        "json_format(json_extract(doc, '$.a')), "
        "CAST(json_parse('\"q\"') AS varchar), CAST(CAST('x' AS json) AS varchar) "
        "FROM js",
    ) == ("12.5", "12.5", "true", None, None, '"12.5"', "q", "x")
    (e,) = one(js, "SELECT json_format(json_extract(doc, '$.e')) FROM js")
    assert e.replace(" ", "") == '[1,"x"]'


def test_cast_json_array_or_object_to_varchar_fails_like_trino(js):
    for path in ("$.e", "$.f"):
        with pytest.raises(duckdb.Error, match="INVALID_CAST_ARGUMENT"):
            one(js, f"SELECT CAST(json_extract(doc, '{path}') AS varchar) FROM js")
    # TRY_CAST gives NULL instead
    assert one(
        js,
        "SELECT try_cast(json_extract(doc, '$.e') AS varchar), "
        "try_cast(json_extract(doc, '$.a') AS varchar) FROM js",
    ) == (None, "12.5")


def test_cast_to_varchar_of_unknown_type_decided_at_run_time(js):
    # a JSON column coming from a CTE (type unknown to the transpiler) and a plain varchar
    assert one(
        js,
        "WITH c AS (SELECT json_extract(doc, '$.a') AS v, plain FROM js) "
        "SELECT CAST(v AS varchar), CAST(plain AS varchar) FROM c",
    ) == ("12.5", "abc")
    # known non-JSON types are left alone
    assert "typeof" not in athena_to_duckdb("SELECT CAST(1 AS varchar)").lower()
    assert one(
        js,
        "SELECT CAST(plain AS varchar) FROM js",
        schema={"js": {"id": "integer", "doc": "varchar", "plain": "varchar"}},
    ) == ("abc",)
    with pytest.raises(duckdb.Error, match="INVALID_CAST_ARGUMENT"):  # doc is an object
        one(
            js,
            "SELECT CAST(doc AS varchar) FROM js",
            schema={"js": {"id": "integer", "doc": "json", "plain": "varchar"}},
        )


def test_cast_varchar_to_json_is_a_json_string(js):
    # Trino: CAST(varchar AS JSON) makes a JSON string; json_parse parses the text
    assert one(
        js,
        "SELECT json_format(CAST('x' AS json)), json_format(CAST(plain AS json)), "
        "json_format(CAST(ARRAY[1, 2] AS json)), json_format(json_parse('[1,2]')), "
        "CAST(CAST(12 AS json) AS varchar) FROM js",
    ) == ('"x"', '"abc"', "[1,2]", "[1,2]", "12")


@pytest.mark.parametrize(
    "arr, expected",
    [
        # (all_match(x > 0), any_match(x > 0), none_match(x > 0))
        ("ARRAY[1, 2]", (True, True, False)),
        ("ARRAY[1, -1]", (False, True, False)),
        ("ARRAY[-1, -2]", (False, False, True)),
        ("ARRAY[1, NULL]", (None, True, False)),  # true decides any/none; all is unknown
        ("ARRAY[-1, NULL]", (False, None, None)),  # false decides all; any/none unknown
        ("ARRAY[NULL]", (None, None, None)),
        ("CAST(ARRAY[] AS array(integer))", (True, False, True)),
        ("CAST(NULL AS array(integer))", (None, None, None)),
    ],
)
def test_all_any_none_match_three_valued(con, arr, expected):
    assert (
        one(
            con,
            f"SELECT all_match({arr}, x -> x > 0), any_match({arr}, x -> x > 0), "
            f"none_match({arr}, x -> x > 0)",
        )
        == expected
    )


def test_match_lambda_sees_outer_columns(nested):
    assert rows(
        nested, "SELECT id, any_match(a, x -> x > id), all_match(b, x -> x > id) FROM n ORDER BY id"
    ) == [(1, True, True), (2, None, True), (3, False, True)]


def test_transform_filter_reduce_zip_with(con):
    assert one(
        con,
        "SELECT transform(ARRAY[1, 2, NULL], x -> x * 2), filter(ARRAY[1, 2, NULL, 3], x -> x > 1)",
    ) == ([2, 4, None], [2, 3])
    # Trino reduce(array, initial, input function, output function)
    assert one(
        con,
        "SELECT reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s * 10), "
        "reduce(ARRAY[5, 6], 0, (s, x) -> s + x, s -> s), "
        "reduce(CAST(ARRAY[] AS array(integer)), 7, (s, x) -> s + x, s -> s + 1), "
        "reduce(ARRAY[1, NULL], 0, (s, x) -> s + x, s -> s), "
        "reduce(CAST(NULL AS array(integer)), 0, (s, x) -> s + x, s -> s)",
    ) == (60, 11, 8, None, None)
    # zip_with pads the shorter array with NULLs; NULL array → NULL
    assert one(
        con,
        "SELECT zip_with(ARRAY[1, 2, 3], ARRAY[10, 20], (a, b) -> coalesce(a, 0) + "
        "coalesce(b, 0)), zip_with(ARRAY['a'], ARRAY['b'], (x, y) -> x || y), "
        "zip_with(CAST(NULL AS array(integer)), ARRAY[1], (a, b) -> a)",
    ) == ([11, 22, 3], ["ab"], None)


def test_array_join_split_regexp_extract(con):
    assert one(
        con,
        "SELECT array_join(ARRAY['a', NULL, 'c'], ','), "
        "array_join(ARRAY['a', NULL, 'c'], ',', 'N'), array_join(ARRAY[1, 2], '-')",
    ) == ("a,c", "a,N,c", "1-2")
    # split with a limit: the last part holds the rest (sqlglot drops the limit)
    assert one(
        con,
        "SELECT split('a,b,,c', ','), split('a,b,c', ',', 2), split('a,b,c', ',', 1), "
        "split('a,b', ',', 5), split('', ',')",
    ) == (["a", "b", "", "c"], ["a", "b,c"], ["a,b,c"], ["a", "b"], [""])
    # no match: NULL in Trino ('' in DuckDB)
    assert one(
        con,
        "SELECT regexp_extract('abc123def456', '[0-9]+'), "
        "regexp_extract('abc123', '([a-z]+)([0-9]+)', 2), regexp_extract('abc', '[0-9]+'), "
        "regexp_extract('abc', '([0-9]+)', 1)",
    ) == ("123", "123", None, None)


def test_date_diff_counts_whole_units(con):
    # Trino counts whole units elapsed; DuckDB's date_diff counts boundaries crossed
    assert one(
        con,
        "SELECT date_diff('day', TIMESTAMP '2023-01-01 23:00', TIMESTAMP '2023-01-02 01:00'), "
        "date_diff('hour', TIMESTAMP '2023-01-01 00:59', TIMESTAMP '2023-01-01 01:58'), "
        "date_diff('day', DATE '2023-01-01', DATE '2023-03-01'), "
        "date_diff('month', DATE '2023-01-30', DATE '2023-02-27'), "
        "date_diff('month', DATE '2023-01-31', DATE '2023-02-28'), "
        "date_diff('year', DATE '2020-02-29', DATE '2021-02-28'), "
        "date_diff('day', TIMESTAMP '2023-01-02 01:00', TIMESTAMP '2023-01-01 00:00'), "
        "date_diff('second', from_iso8601_timestamp('2023-01-01T00:00:00Z'), "
        "from_iso8601_timestamp('2023-01-01T09:00:01.5+09:00'))",
    ) == (0, 0, 59, 0, 1, 1, -1, 1)


def test_date_add_keeps_dates_dates(con):
    a, b, c = one(
        con,
        "SELECT date_add('month', 1, DATE '2023-01-31'), "
        "date_add('day', 3, TIMESTAMP '2023-01-01 10:00'), "
        "date_add('hour', -2, from_iso8601_timestamp('2023-01-01T00:00:00Z'))",
    )
    assert a == dt.date(2023, 2, 28) and type(a) is dt.date
    assert b == dt.datetime(2023, 1, 4, 10)
    assert c == dt.datetime(2022, 12, 31, 22, tzinfo=UTC)


def test_date_parts_and_unix_time(con):
    assert one(
        con,
        "SELECT day_of_week(DATE '2023-01-01'), dow(DATE '2023-01-02'), "
        "day_of_year(DATE '2023-02-01'), week(DATE '2023-01-01'), "
        "year_of_week(DATE '2023-01-01')",
    ) == (7, 1, 32, 52, 2022)
    a, b, c, d = one(
        con,
        "SELECT from_unixtime(1700000000), from_unixtime(1700000000.5), "
        "to_unixtime(from_iso8601_timestamp('2023-11-14T22:13:20Z')), "
        "to_unixtime(TIMESTAMP '2023-11-14 22:13:20.250')",
    )
    assert a == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert b == dt.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert (c, d) == (1700000000.0, 1700000000.25)


def test_json_array_length_and_json_size(con):
    assert one(
        con,
        "SELECT json_array_length('[1, 2, 3]'), json_array_length('{\"a\": 1}'), "
        "json_array_length('5'), json_array_length('not json'), "
        "json_array_length(json_parse('[]'))",
    ) == (3, None, None, None, 0)
    assert one(
        con,
        'SELECT json_size(\'{"a": {"b": 1, "c": 2}}\', \'$.a\'), '
        "json_size('[1, 2]', '$'), json_size('{\"a\": 1}', '$.a'), "
        "json_size('{\"a\": [1, 2, 3]}', '$.a'), json_size('{\"a\": 1}', '$.x')",
    ) == (2, 2, 0, 3, None)


def test_maps_and_aggregates(con):
    assert one(
        con,
        "SELECT map_keys(MAP(ARRAY['a', 'b'], ARRAY[1, 2])), "
        "map_values(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))",
    ) == (["a", "b"], [1, 2])
    assert one(
        con,
        "SELECT arbitrary(x) IN ('a', 'b'), max_by(x, y), min_by(x, y), histogram(x), "
        "max_by(x, y, 2), min_by(x, y, 2) "
        "FROM (VALUES ('a', 1), ('b', 3), ('a', 2)) t(x, y)",
    ) == (True, "b", "a", {"a": 2, "b": 1}, ["b", "a"], ["a", "a"])


def test_json_functions_of_json_extract_and_output_reparses(js):
    sql = (
        "SELECT json_array_length(json_extract(doc, '$.e')), json_size(json_extract(doc, '$.f'), '$'), "
        "CAST(json_extract(doc, '$.a') AS varchar) FROM js"
    )
    assert one(js, sql) == (2, 1, "12.5")
    # `j -> path` inside a call must stay parenthesised: sqlglot reads it back as a lambda
    duck = athena_to_duckdb(sql)
    import sqlglot

    assert js.execute(sqlglot.parse_one(duck, read="duckdb").sql("duckdb")).fetchone() == (
        2,
        1,
        "12.5",
    )


def test_from_unixtime_nanos_is_the_instant_floored_to_microseconds(utc_con):
    # Trino: from_unixtime_nanos(bigint) -> timestamp(9) with time zone. DuckDB keeps microseconds:
    # the value is floored (also before 1970), never rounded. (A UTC session, as Athena's: CAST of an
    # instant to timestamp takes the session zone.)
    got = one(
        utc_con,
        "SELECT from_unixtime_nanos(1700000000123456789), from_unixtime_nanos(-1), "
        "from_unixtime_nanos(0), from_unixtime_nanos(CAST(NULL AS bigint)), "
        "CAST(from_unixtime_nanos(1700000000123456999) AS timestamp(6)), "
        "CAST(from_unixtime_nanos(1700000000123456000) AT TIME ZONE 'Asia/Tokyo' AS timestamp(6))",
    )
    assert got[0] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert got[1] == dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert got[2] == dt.datetime(1970, 1, 1, tzinfo=UTC) and got[3] is None
    assert got[4] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456)  # UTC wall clock (Athena's zone)
    assert got[5] == dt.datetime(2023, 11, 15, 7, 13, 20, 123456)  # Tokyo wall clock
    with pytest.raises(TranspileError):
        athena_to_duckdb("SELECT from_unixtime_nanos(1, 2)")


# --- found by the differential corpus (ddb_assets_tests/corpus); expected values and types
# measured on Trino 476 -------------------------------------------------------------------


def typed_row(con, athena_sql, schema=None):
    cur = con.execute(athena_to_duckdb(athena_sql, schema=schema))
    return cur.fetchone(), [str(d[1]) for d in cur.description]


def test_decimal_division_avg_and_counts_have_trinos_types_and_values(con):
    con.execute("CREATE TABLE dec3 AS SELECT * FROM (VALUES (1.25), (2.50), (2.50)) t(x)")
    con.execute("ALTER TABLE dec3 ALTER x TYPE DECIMAL(3, 2)")
    row, types = typed_row(
        con,
        "SELECT DECIMAL '10.00' / 3 AS a, DECIMAL '-2.5' / 2 AS b, avg(x) AS c, "
        "count_if(x > 1) AS d, sum(CAST(x AS integer)) AS e FROM dec3",
        schema={"dec3": {"x": "decimal(3,2)"}},
    )
    assert row == (Decimal("3.33"), Decimal("-1.3"), Decimal("2.08"), 3, 7)
    assert types == ["DECIMAL(4,2)", "DECIMAL(2,1)", "DECIMAL(3,2)", "BIGINT", "BIGINT"]


def test_decimal_rounding_functions_keep_trinos_types(con):
    row, types = typed_row(
        con,
        "SELECT round(DECIMAL '9.99', 1), floor(DECIMAL '-1.5'), DECIMAL '7.5' % 2, "
        "sign(DECIMAL '-3.2'), 0.25 * 4",
    )
    assert row == (Decimal("10.0"), Decimal("-2"), Decimal("1.5"), Decimal("-1"), Decimal("1.00"))
    assert types == [
        "DECIMAL(4,2)",
        "DECIMAL(2,0)",
        "DECIMAL(2,1)",
        "DECIMAL(1,0)",
        "DECIMAL(12,2)",
    ]


def test_iso_strings_keep_their_own_zone(con):
    (h, d, i, v, z) = one(
        con,
        "SELECT hour(from_iso8601_timestamp('2024-01-31T23:30:00+09:00')), "
        "date_trunc('day', from_iso8601_timestamp('2024-01-31T23:30:00+09:00')), "
        "to_iso8601(from_iso8601_timestamp('2024-01-31T23:30:00-05:00')), "
        "CAST(from_iso8601_timestamp('2024-01-31T23:30:00.5+05:30') AS varchar), "
        "timezone_hour(from_iso8601_timestamp('2024-01-31T23:30:00-05:00'))",
    )
    assert h == 23
    assert d == dt.datetime(2024, 1, 30, 15, tzinfo=UTC)  # 2024-01-31 00:00 +09:00
    assert i == "2024-01-31T23:30:00.000-05:00"
    assert v == "2024-01-31 23:30:00.500 +05:30"
    assert z == -5


def test_json_of_text_that_is_not_json_is_null_and_small_functions(con):
    assert one(
        con,
        "SELECT json_extract_scalar('not json', '$.a'), json_array_length('nope'), "
        "regexp_replace('ab-cd', '(\\w+)-(\\w+)', '$2+$1'), try_cast('yes' AS boolean), "
        "try_cast('T' AS boolean), CAST(2.5E0 AS integer), CAST(-2.5E0 AS integer), "
        "array_position(ARRAY['a'], 'z'), repeat('x', 2)",
    ) == (None, None, "cd+ab", None, True, 3, -3, 0, ["x", "x"])


def test_refusals_name_the_function_and_the_reason():
    from ddb_assets.sql.transpile import REFUSALS, check_supported, unsupported_functions

    sql = "SELECT url_extract_host(u), approx_percentile(x, 0.5), lower(u) FROM t"
    found = unsupported_functions(sql)
    assert [name for name, _ in found] == ["url_extract_host", "approx_percentile"]
    assert all(reason == REFUSALS[name] for name, reason in found)
    assert unsupported_functions("SELECT lower(u) FROM t") == []
    with pytest.raises(TranspileError, match="url_extract_host: no DuckDB function"):
        check_supported(sql)
    with pytest.raises(TranspileError, match="approx_percentile"):
        athena_to_duckdb(sql)  # the DuckDB engine refuses it when it transpiles too


def test_json_parse_sorts_object_keys_like_trino(con):
    # Trino 476: json_format(json_parse('{"b":1,"a":[1,2,{"d":null,"c":"x"}]}'))
    assert one(
        con,
        """SELECT json_format(json_parse('{"b":1,"a":[1,2,{"d":null,"c":"x~/y"}],"":{"z":1}}')),
        json_format(json_extract('{"b":1,"a":2}', '$'))""",
    ) == ('{"":{"z":1},"a":[1,2,{"c":"x~/y","d":null}],"b":1}', '{"b":1,"a":2}')


def test_strings_and_decimal_supertypes_like_trino(con):
    # Trino 476: NULL, '', 'STRAßE', 1.500 decimal(4,3), coalesce(decimal(2,1), integer)
    # is decimal(11,1), a UNION of decimal(2,1) and decimal(4,3) is decimal(4,3)
    row, types = typed_row(
        con,
        "SELECT split_part('a-b', '-', 5), substr('abc', 0), upper('straße'), "
        "CASE WHEN true THEN DECIMAL '1.5' ELSE DECIMAL '0.125' END, coalesce(DECIMAL '1.5', 2)",
    )
    assert row == (None, "", "STRAßE", Decimal("1.500"), Decimal("1.5"))
    assert types[3:] == ["DECIMAL(4,3)", "DECIMAL(11,1)"]
    cur = con.execute(
        athena_to_duckdb("SELECT DECIMAL '1.5' AS x UNION ALL SELECT DECIMAL '0.125' ORDER BY 1")
    )
    assert cur.fetchall() == [(Decimal("0.125"),), (Decimal("1.500"),)]
    assert str(cur.description[0][1]) == "DECIMAL(4,3)"
