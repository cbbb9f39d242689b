-- The differential corpus: Athena SQL a user writes over the typed tables `orders` and
-- `customers` (ddb_assets_tests/corpus/sample.py). Each query runs on Trino over the Athena
-- engine's tables and on the DuckDB engine over the same export through the transpiler.
-- Format: a line `-- name: <id>` starts a query; it runs to the next such line.
-- Queries order by a unique key when they ORDER BY (rows are then compared in order).
-- M and L attributes (address, lines) are stored as DynamoDB-typed JSON text on Athena and
-- as plain JSON on DuckDB (README, "Typed tables"), so only their presence is queried here.

-- ===================================================================== basics, NULL handling
-- name: count_all
SELECT count(*) AS n FROM orders

-- name: count_columns_with_missing_attributes
SELECT count(channel) AS channel, count(ship_date) AS ship_date, count(gift) AS gift,
       count(note) AS note, count(tags) AS tags, count(ratings) AS ratings,
       count(cancel_reason) AS cancel_reason, count(thumb) AS thumb, count(phone) AS phone,
       count(address) AS address, count(lines) AS lines
FROM orders

-- name: select_plain_columns_ordered
SELECT order_id, customer_id, status, qty, unit_price, total, paid
FROM orders ORDER BY order_id LIMIT 25

-- name: coalesce_missing_channel
SELECT order_id, coalesce(channel, 'unknown') AS channel FROM orders ORDER BY order_id

-- name: is_null_counts
SELECT count_if(note IS NULL) AS no_note, count_if(note = '') AS empty_note,
       count_if(gift IS NULL) AS gift_unknown, count_if(NOT gift) AS not_gift
FROM orders

-- name: nullif_empty_note
SELECT order_id, nullif(note, '') AS note FROM orders ORDER BY order_id

-- name: null_type_attribute
SELECT order_id, cancel_reason, cancel_reason IS NULL AS is_null FROM orders
WHERE order_id IN ('o0005', 'o0010', 'o0011') ORDER BY order_id

-- name: type_conflict_column
SELECT ref__type, count(*) AS n, min(ref) AS lo, max(ref) AS hi
FROM orders GROUP BY ref__type

-- name: if_and_case
SELECT order_id, if(paid, 'paid', 'open') AS state,
       CASE WHEN qty >= 10 THEN 'bulk' WHEN qty >= 5 THEN 'medium' ELSE 'small' END AS size
FROM orders ORDER BY order_id

-- name: distinct_statuses
SELECT DISTINCT status FROM orders

-- name: count_distinct_customers
SELECT count(DISTINCT customer_id) AS customers FROM orders

-- name: boolean_logic_three_valued
SELECT order_id, paid AND gift AS both, paid OR gift AS either, NOT gift AS not_gift
FROM orders ORDER BY order_id

-- name: in_list_and_between
SELECT order_id FROM orders
WHERE status IN ('PAID', 'SHIPPED') AND qty BETWEEN 3 AND 6 ORDER BY order_id

-- name: is_distinct_from
SELECT count(*) AS n FROM orders WHERE gift IS DISTINCT FROM true

-- name: greatest_least
SELECT order_id, greatest(qty, 5) AS g, least(unit_price, 10) AS l FROM orders ORDER BY order_id

-- name: order_by_nulls_last
SELECT order_id, ship_date FROM orders ORDER BY ship_date DESC NULLS LAST, order_id LIMIT 20

-- name: order_by_nulls_default
SELECT order_id, note FROM orders ORDER BY note, order_id LIMIT 30

-- name: limit_offset
SELECT order_id FROM orders ORDER BY order_id OFFSET 10 LIMIT 5

-- name: snapshot_date_column
SELECT snapshot_date, count(*) AS n FROM orders GROUP BY snapshot_date

-- name: binary_attribute
SELECT order_id, length(thumb) AS bytes, to_hex(thumb) AS hex, to_base64(thumb) AS b64
FROM orders WHERE thumb IS NOT NULL ORDER BY order_id

-- name: typeof_is_not_portable
SELECT typeof(qty) AS t FROM orders LIMIT 1

-- ===================================================================== decimals
-- name: decimal_sum_by_status
SELECT status, sum(total) AS revenue, sum(qty) AS units FROM orders GROUP BY status

-- name: decimal_avg
SELECT status, avg(total) AS avg_total FROM orders GROUP BY status

-- name: decimal_avg_of_integer_valued
SELECT avg(qty) AS avg_qty FROM orders

-- name: decimal_multiply
SELECT order_id, qty * unit_price AS amount FROM orders ORDER BY order_id

-- name: decimal_add_subtract
SELECT order_id, total - qty * unit_price AS diff, total + 1 AS plus_one FROM orders ORDER BY order_id

-- name: decimal_divide_decimal
SELECT order_id, total / qty AS per_unit FROM orders ORDER BY order_id

-- name: decimal_divide_integer
SELECT order_id, total / 3 AS third FROM orders ORDER BY order_id

-- name: decimal_times_rate
SELECT order_id, total * discount_rate AS discount, total * (1 - discount_rate) AS net
FROM orders ORDER BY order_id

-- name: decimal_round
SELECT order_id, round(total * discount_rate, 2) AS discount FROM orders ORDER BY order_id

-- name: decimal_round_half_up
SELECT round(DECIMAL '2.5') AS a, round(DECIMAL '-2.5') AS b, round(DECIMAL '1.005', 2) AS c,
       round(DECIMAL '123.456', -1) AS d

-- name: decimal_cast_rounds
SELECT CAST(DECIMAL '1.235' AS decimal(10, 2)) AS a, CAST(DECIMAL '-1.235' AS decimal(10, 2)) AS b

-- name: decimal_cast_column
SELECT order_id, CAST(total AS decimal(12, 1)) AS t1, CAST(discount_rate AS decimal(5, 2)) AS r2
FROM orders ORDER BY order_id

-- name: decimal_to_double
SELECT order_id, CAST(total AS double) AS d FROM orders ORDER BY order_id

-- name: decimal_to_bigint
SELECT order_id, CAST(qty AS bigint) AS q, CAST(unit_price AS bigint) AS p FROM orders ORDER BY order_id

-- name: decimal_to_varchar
SELECT order_id, CAST(total AS varchar) AS t, CAST(qty AS varchar) AS q FROM orders ORDER BY order_id

-- name: decimal_negative_abs_sign
SELECT order_id, abs(temperature_c) AS a, sign(temperature_c) AS s FROM orders ORDER BY order_id

-- name: decimal_floor_ceil_truncate
SELECT order_id, floor(temperature_c) AS f, ceil(temperature_c) AS c, truncate(temperature_c) AS t
FROM orders ORDER BY order_id

-- name: decimal_min_max
SELECT min(temperature_c) AS lo, max(temperature_c) AS hi, min(unit_price) AS p_lo, max(unit_price) AS p_hi
FROM orders

-- name: decimal_modulus
SELECT order_id, qty % 4 AS m, total % 10 AS tm FROM orders ORDER BY order_id

-- name: decimal_compare_literal
SELECT count(*) AS n FROM orders WHERE total > 100.5 AND discount_rate < 0.1

-- name: decimal_sum_filter
SELECT sum(total) FILTER (WHERE paid) AS paid_revenue, sum(total) FILTER (WHERE NOT paid) AS open_revenue
FROM orders

-- name: decimal_literal_arithmetic
SELECT DECIMAL '0.1' + DECIMAL '0.2' AS a, DECIMAL '10' / DECIMAL '4' AS b, DECIMAL '1.50' * 2 AS c

-- name: decimal_share_of_total
SELECT status, sum(total) * 100 / (SELECT sum(total) FROM orders) AS pct
FROM orders GROUP BY status

-- name: decimal_stddev
SELECT stddev(total) AS sd, variance(qty) AS var FROM orders

-- name: decimal_geometric
SELECT order_id, sqrt(qty) AS r, power(qty, 2) AS p2, ln(qty) AS l FROM orders ORDER BY order_id

-- name: decimal_in_array_ratings
SELECT order_id, ratings, cardinality(ratings) AS n FROM orders WHERE ratings IS NOT NULL ORDER BY order_id

-- name: decimal_array_max_and_sum
SELECT order_id, array_max(ratings) AS best, reduce(ratings, DECIMAL '0', (s, x) -> s + x, s -> s) AS total_rating
FROM orders WHERE ratings IS NOT NULL ORDER BY order_id

-- name: double_arithmetic
SELECT order_id, CAST(total AS double) / 7 AS d, 1e2 * CAST(qty AS double) AS e FROM orders ORDER BY order_id

-- name: integer_division_and_modulo
SELECT 7 / 2 AS a, -7 / 2 AS b, 7 % 3 AS c, -7 % 3 AS d, 7.0 / 2 AS e

-- name: bigint_sum_of_integers
SELECT sum(CAST(qty AS integer)) AS s, sum(CAST(qty AS bigint)) AS b FROM orders

-- name: count_if_and_bool_aggs
SELECT count_if(paid) AS paid, bool_and(qty > 0) AS all_pos, bool_or(qty > 11) AS any_big FROM orders

-- name: round_double
SELECT round(2.5E0) AS a, round(-2.5E0) AS b, round(1.25E0, 1) AS c

-- name: cast_varchar_to_decimal
SELECT CAST('12.345' AS decimal(10, 2)) AS a, CAST('7' AS decimal(5, 0)) AS b, CAST('-0.5' AS decimal(3, 1)) AS c

-- name: nan_and_infinity
SELECT is_nan(nan()) AS a, infinity() > 1e308 AS b, is_finite(1e0) AS c

-- ===================================================================== timestamps, zones
-- name: parse_iso_timestamps
SELECT order_id, from_iso8601_timestamp(created_at) AS ts FROM orders ORDER BY order_id

-- name: iso_to_utc_wall_clock
SELECT order_id, CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp) AS utc
FROM orders ORDER BY order_id

-- name: at_time_zone_tokyo_date
SELECT CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo' AS date) AS day_jst, count(*) AS n
FROM orders GROUP BY 1

-- name: at_timezone_function
SELECT order_id, at_timezone(from_iso8601_timestamp(created_at), 'America/New_York') AS ny
FROM orders ORDER BY order_id

-- name: daily_counts_utc
SELECT date_trunc('day', from_iso8601_timestamp(created_at)) AS day, count(*) AS n
FROM orders GROUP BY 1

-- name: hourly_counts_tokyo
SELECT hour(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo') AS h, count(*) AS n
FROM orders GROUP BY 1

-- name: extract_fields
SELECT order_id, year(from_iso8601_timestamp(created_at)) AS y, month(from_iso8601_timestamp(created_at)) AS m,
       day(from_iso8601_timestamp(created_at)) AS d, day_of_week(from_iso8601_timestamp(created_at)) AS dow,
       day_of_year(from_iso8601_timestamp(created_at)) AS doy, week(from_iso8601_timestamp(created_at)) AS wk
FROM orders ORDER BY order_id

-- name: extract_syntax
SELECT order_id, EXTRACT(HOUR FROM from_iso8601_timestamp(created_at)) AS h,
       EXTRACT(MINUTE FROM from_iso8601_timestamp(created_at)) AS mi
FROM orders ORDER BY order_id

-- name: timestamp_between_instants
SELECT count(*) AS n FROM orders
WHERE from_iso8601_timestamp(created_at) BETWEEN from_iso8601_timestamp('2024-06-01T00:00:00Z')
  AND from_iso8601_timestamp('2024-06-15T00:00:00+09:00')

-- name: timestamp_compare_literal
SELECT count(*) AS n FROM orders
WHERE from_iso8601_timestamp(created_at) >= TIMESTAMP '2024-06-10 00:00:00 UTC'

-- name: timestamp_literal_with_zone
SELECT TIMESTAMP '2024-06-01 09:00:00 Asia/Tokyo' AS ts, TIMESTAMP '2024-06-01 09:00:00' AS naive

-- name: min_max_timestamps
SELECT min(from_iso8601_timestamp(created_at)) AS first, max(from_iso8601_timestamp(created_at)) AS last
FROM orders

-- name: date_trunc_month_week
SELECT date_trunc('month', from_iso8601_timestamp(created_at)) AS m,
       date_trunc('week', from_iso8601_timestamp(created_at)) AS w, count(*) AS n
FROM orders GROUP BY 1, 2

-- name: date_trunc_in_tokyo
SELECT date_trunc('day', from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo') AS day, count(*) AS n
FROM orders GROUP BY 1

-- name: date_diff_hours
SELECT order_id, date_diff('hour', from_iso8601_timestamp(created_at), from_iso8601_timestamp('2024-07-01T00:00:00Z')) AS h
FROM orders ORDER BY order_id

-- name: date_diff_days_from_signup
SELECT c.customer_id, date_diff('day', from_iso8601_date(c.signup_date), DATE '2024-06-30') AS days
FROM customers c ORDER BY c.customer_id

-- name: date_add_timestamp
SELECT order_id, date_add('day', 3, from_iso8601_timestamp(created_at)) AS due,
       date_add('hour', -6, from_iso8601_timestamp(created_at)) AS earlier
FROM orders ORDER BY order_id

-- name: interval_arithmetic
SELECT order_id, from_iso8601_timestamp(created_at) + INTERVAL '90' MINUTE AS later,
       from_iso8601_timestamp(created_at) - INTERVAL '1' DAY AS before
FROM orders ORDER BY order_id

-- name: format_datetime_joda
SELECT order_id, format_datetime(from_iso8601_timestamp(created_at), 'yyyy-MM-dd HH:mm') AS f
FROM orders ORDER BY order_id

-- name: format_datetime_in_tokyo
SELECT order_id, format_datetime(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo', 'yyyy/MM/dd EEE HH:mm:ss') AS f
FROM orders ORDER BY order_id

-- name: date_format_mysql
SELECT order_id, date_format(from_iso8601_timestamp(created_at), '%Y-%m-%d %H:%i:%s') AS f
FROM orders ORDER BY order_id

-- name: to_iso8601_roundtrip
SELECT order_id, to_iso8601(from_iso8601_timestamp(created_at)) AS iso FROM orders ORDER BY order_id

-- name: to_unixtime
SELECT order_id, to_unixtime(from_iso8601_timestamp(created_at)) AS epoch FROM orders ORDER BY order_id

-- name: from_unixtime_epoch_column
SELECT order_id, from_unixtime(CAST(updated_epoch AS bigint)) AS updated FROM orders ORDER BY order_id

-- name: from_unixtime_with_zone
SELECT order_id, from_unixtime(CAST(updated_epoch AS bigint), 'Asia/Tokyo') AS updated_jst FROM orders ORDER BY order_id

-- name: cast_timestamp_to_varchar
SELECT order_id, CAST(CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS timestamp) AS varchar) AS s
FROM orders ORDER BY order_id

-- name: cast_tz_timestamp_to_varchar
SELECT order_id, CAST(from_iso8601_timestamp(created_at) AS varchar) AS s FROM orders ORDER BY order_id

-- name: parse_datetime
SELECT parse_datetime('2024-06-01 10:20:30', 'yyyy-MM-dd HH:mm:ss') AS ts

-- name: date_parse
SELECT date_parse('2024/06/01 10:20', '%Y/%m/%d %H:%i') AS ts

-- name: current_date_is_a_date
SELECT typeof(current_date) AS t

-- name: last_day_of_month
SELECT last_day_of_month(from_iso8601_date(ship_date)) AS eom, count(*) AS n FROM orders
WHERE ship_date IS NOT NULL GROUP BY 1

-- name: timestamp_ordering_across_offsets
SELECT order_id, created_at FROM orders ORDER BY from_iso8601_timestamp(created_at), order_id LIMIT 15

-- name: with_timezone
SELECT with_timezone(TIMESTAMP '2024-06-01 12:00:00', 'Asia/Tokyo') AS ts

-- name: timezone_hour
SELECT order_id, timezone_hour(from_iso8601_timestamp(created_at)) AS tzh FROM orders ORDER BY order_id

-- name: current_timezone
SELECT current_timezone() AS tz

-- ===================================================================== dates
-- name: parse_iso_dates
SELECT order_id, from_iso8601_date(ship_date) AS d FROM orders WHERE ship_date IS NOT NULL ORDER BY order_id

-- name: cast_varchar_to_date
SELECT order_id, CAST(ship_date AS date) AS d FROM orders WHERE ship_date IS NOT NULL ORDER BY order_id

-- name: date_literal_compare
SELECT count(*) AS n FROM orders WHERE from_iso8601_date(ship_date) >= DATE '2024-06-15'

-- name: date_trunc_date
SELECT date_trunc('month', from_iso8601_date(signup_date)) AS m, count(*) AS n FROM customers GROUP BY 1

-- name: date_add_date
SELECT customer_id, date_add('month', 1, from_iso8601_date(signup_date)) AS renew FROM customers ORDER BY customer_id

-- name: date_plus_interval
SELECT customer_id, from_iso8601_date(signup_date) + INTERVAL '7' DAY AS wk FROM customers ORDER BY customer_id

-- name: date_diff_dates
SELECT order_id, date_diff('day', from_iso8601_date(ship_date), DATE '2024-07-01') AS days_left
FROM orders WHERE ship_date IS NOT NULL ORDER BY order_id

-- name: date_fields
SELECT customer_id, year(from_iso8601_date(signup_date)) AS y, quarter(from_iso8601_date(signup_date)) AS q,
       day_of_week(from_iso8601_date(signup_date)) AS dow
FROM customers ORDER BY customer_id

-- name: date_format_date
SELECT customer_id, date_format(from_iso8601_date(signup_date), '%b %d, %Y') AS f FROM customers ORDER BY customer_id

-- name: to_iso8601_date
SELECT customer_id, to_iso8601(from_iso8601_date(signup_date)) AS iso FROM customers ORDER BY customer_id

-- name: sequence_of_dates
SELECT d FROM UNNEST(sequence(DATE '2024-06-01', DATE '2024-06-07', INTERVAL '1' DAY)) AS t(d)

-- name: date_to_timestamp
SELECT customer_id, CAST(from_iso8601_date(signup_date) AS timestamp) AS ts FROM customers ORDER BY customer_id

-- name: orders_per_ship_week
SELECT week_of_year(from_iso8601_date(ship_date)) AS wk, count(*) AS n FROM orders
WHERE ship_date IS NOT NULL GROUP BY 1

-- ===================================================================== strings, regexp
-- name: lower_upper_length
SELECT order_id, lower(email) AS l, upper(status) AS u, length(note) AS n FROM orders ORDER BY order_id

-- name: concat_operator
SELECT order_id, customer_id || '/' || order_id AS k FROM orders ORDER BY order_id

-- name: concat_function_with_null
SELECT order_id, concat(channel, '-', status) AS k FROM orders ORDER BY order_id

-- name: substr_positions
SELECT order_id, substr(email, 1, 3) AS a, substr(email, -3) AS b, substring(order_id, 2) AS c
FROM orders ORDER BY order_id

-- name: strpos_and_position
SELECT order_id, strpos(email, '@') AS at, position('.' IN email) AS dot FROM orders ORDER BY order_id

-- name: split_part_domain
SELECT split_part(email, '@', 2) AS domain, count(*) AS n FROM orders GROUP BY 1

-- name: split_to_array
SELECT order_id, split(email, '.') AS parts FROM orders ORDER BY order_id

-- name: split_with_limit
SELECT order_id, split(email, '.', 2) AS parts FROM orders ORDER BY order_id

-- name: trim_functions
SELECT order_id, trim(note) AS t, ltrim(note) AS l, rtrim(note) AS r FROM orders ORDER BY order_id

-- name: replace_and_reverse
SELECT order_id, replace(email, '.', '_') AS r, reverse(order_id) AS rev FROM orders ORDER BY order_id

-- name: lpad_rpad
SELECT order_id, lpad(CAST(qty AS varchar), 4, '0') AS l, rpad(status, 10, '.') AS r FROM orders ORDER BY order_id

-- name: like_patterns
SELECT order_id FROM orders WHERE email LIKE '%@example.com' OR email LIKE 'B%' ORDER BY order_id

-- name: like_escape
SELECT order_id FROM orders WHERE email LIKE '%\_%' ESCAPE '\' ORDER BY order_id

-- name: starts_with
SELECT count_if(starts_with(email, 'alice')) AS a FROM orders

-- name: regexp_like_partial
SELECT order_id FROM orders WHERE regexp_like(email, 'example\.(com|org)') ORDER BY order_id

-- name: regexp_like_case_insensitive
SELECT order_id FROM orders WHERE regexp_like(email, '(?i)EXAMPLE\.ORG') ORDER BY order_id

-- name: regexp_extract_group
SELECT order_id, regexp_extract(email, '^([^@]+)@', 1) AS local_part FROM orders ORDER BY order_id

-- name: regexp_extract_no_match
SELECT order_id, regexp_extract(phone, '\+(\d+)', 1) AS country_code FROM orders ORDER BY order_id

-- name: regexp_extract_all
SELECT order_id, regexp_extract_all(phone, '\d+') AS digits FROM orders WHERE phone IS NOT NULL ORDER BY order_id

-- name: regexp_replace_digits
SELECT order_id, regexp_replace(phone, '[^0-9]', '') AS digits FROM orders WHERE phone IS NOT NULL ORDER BY order_id

-- name: regexp_replace_backreference
SELECT order_id, regexp_replace(email, '(\w+)@(\w+)', '$2 at $1') AS r FROM orders ORDER BY order_id

-- name: regexp_count
SELECT order_id, regexp_count(email, '[aeiou]') AS vowels FROM orders ORDER BY order_id

-- name: regexp_split
SELECT regexp_split('a1b22c333', '\d+') AS parts

-- name: unicode_strings
SELECT note, length(note) AS chars, upper(note) AS u FROM orders WHERE note = '置き配希望' LIMIT 1

-- name: chr_codepoint
SELECT chr(65) AS a, codepoint('A') AS b, to_utf8('é') AS c, from_utf8(to_utf8('日本')) AS d

-- name: string_comparison_case
SELECT count_if(status = 'returned') AS exact, count_if(lower(status) = 'returned') AS folded FROM orders

-- name: array_join_tags
SELECT order_id, array_join(tags, ', ') AS tag_list FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: format_function
SELECT format('%s has %d items', order_id, CAST(qty AS integer)) AS s FROM orders ORDER BY order_id LIMIT 5

-- name: levenshtein_hamming
SELECT levenshtein_distance('kitten', 'sitting') AS l, hamming_distance('abc', 'abd') AS h

-- name: md5_sha256
SELECT to_hex(md5(to_utf8(order_id))) AS m, to_hex(sha256(to_utf8(order_id))) AS s
FROM orders ORDER BY order_id LIMIT 3

-- name: url_functions
SELECT url_extract_host('https://shop.example.com/p?id=1') AS host,
       url_extract_parameter('https://shop.example.com/p?id=1&x=2', 'x') AS x

-- name: translate_and_word_stem
SELECT translate('abcd', 'bd', 'BD') AS t

-- name: luhn_check
SELECT luhn_check('79927398713') AS ok

-- ===================================================================== try_cast, casts
-- name: try_cast_ref_to_integer
SELECT order_id, ref, try_cast(ref AS integer) AS n FROM orders WHERE ref IS NOT NULL ORDER BY order_id

-- name: try_cast_varchar_to_decimal
SELECT try_cast('12.5' AS decimal(10, 2)) AS a, try_cast('abc' AS decimal(10, 2)) AS b,
       try_cast('1e3' AS decimal(10, 2)) AS c

-- name: try_cast_to_double
SELECT try_cast('1.5e2' AS double) AS a, try_cast('x' AS double) AS b, try_cast(' 2 ' AS double) AS c

-- name: try_cast_to_date_and_timestamp
SELECT try_cast('2024-06-31' AS date) AS a, try_cast('2024-06-30' AS date) AS b,
       try_cast('2024-06-30 10:00:00' AS timestamp) AS c

-- name: try_cast_to_boolean
SELECT try_cast('true' AS boolean) AS a, try_cast('yes' AS boolean) AS b, try_cast('1' AS boolean) AS c

-- name: try_cast_bigint_overflow
SELECT try_cast('99999999999999999999' AS bigint) AS a, try_cast('12' AS tinyint) AS b,
       try_cast('300' AS tinyint) AS c

-- name: try_cast_decimal_text_to_integer
SELECT try_cast('1.5' AS integer) AS a, try_cast('-7' AS integer) AS b

-- name: try_function
SELECT order_id, try(CAST(ref AS bigint)) AS n FROM orders WHERE ref IS NOT NULL ORDER BY order_id

-- name: cast_boolean_to_varchar
SELECT order_id, CAST(paid AS varchar) AS p FROM orders ORDER BY order_id

-- name: cast_integer_to_boolean
SELECT CAST(0 AS boolean) AS a, CAST(5 AS boolean) AS b

-- name: cast_double_to_integer_rounds
SELECT CAST(2.5E0 AS integer) AS a, CAST(3.5E0 AS integer) AS b, CAST(-2.5E0 AS bigint) AS c

-- name: cast_double_to_varchar
SELECT CAST(1.5E0 AS varchar) AS a, CAST(0.1E0 AS varchar) AS b, CAST(1e20 AS varchar) AS c

-- name: cast_decimal_literal_types
SELECT 1.5 AS a, 0.25 * 4 AS b, CAST(1 AS decimal(3, 1)) AS c

-- ===================================================================== JSON
-- name: json_extract_scalar_device
SELECT order_id, json_extract_scalar(payload, '$.device') AS device FROM orders ORDER BY order_id

-- name: json_extract_scalar_nested
SELECT json_extract_scalar(payload, '$.utm.source') AS source, count(*) AS n FROM orders GROUP BY 1

-- name: json_extract_scalar_array_index
SELECT order_id, json_extract_scalar(payload, '$.items[0].sku') AS first_sku FROM orders ORDER BY order_id

-- name: json_extract_object
SELECT order_id, json_extract(payload, '$.utm') AS utm FROM orders ORDER BY order_id

-- name: json_extract_scalar_of_object_is_null
SELECT order_id, json_extract_scalar(payload, '$.utm') AS utm FROM orders ORDER BY order_id

-- name: json_array_length_items
SELECT order_id, json_array_length(json_extract(payload, '$.items')) AS n_items FROM orders ORDER BY order_id

-- name: json_size_items
SELECT order_id, json_size(payload, '$.items') AS n FROM orders ORDER BY order_id

-- name: json_cast_number
SELECT order_id, CAST(json_extract_scalar(payload, '$.score') AS double) AS score FROM orders ORDER BY order_id

-- name: json_cast_to_varchar
SELECT order_id, CAST(json_extract(payload, '$.version') AS varchar) AS v FROM orders ORDER BY order_id

-- name: json_boolean
SELECT json_extract_scalar(payload, '$.beta') AS beta, count(*) AS n FROM orders GROUP BY 1

-- name: json_parse_and_format
SELECT json_format(json_parse('{"b":1,"a":[1,2,{"c":null}]}')) AS j

-- name: json_parse_column
SELECT order_id, json_parse(payload) AS j FROM orders WHERE order_id <= 'o0010' AND order_id <> 'o0053' ORDER BY order_id

-- name: json_cast_to_array
SELECT order_id, CAST(json_extract(payload, '$.items') AS array(json)) AS items FROM orders ORDER BY order_id

-- name: json_cast_to_map
SELECT order_id, CAST(json_extract(payload, '$.utm') AS map(varchar, varchar)) AS utm FROM orders ORDER BY order_id

-- name: json_unnest_items
SELECT o.order_id, json_extract_scalar(i, '$.sku') AS sku, CAST(json_extract_scalar(i, '$.price') AS decimal(10, 2)) AS price
FROM orders o CROSS JOIN UNNEST(CAST(json_extract(o.payload, '$.items') AS array(json))) AS t(i)

-- name: json_item_revenue_by_sku
SELECT json_extract_scalar(i, '$.sku') AS sku,
       sum(CAST(json_extract_scalar(i, '$.price') AS decimal(10, 2)) * CAST(json_extract_scalar(i, '$.qty') AS integer)) AS revenue
FROM orders CROSS JOIN UNNEST(CAST(json_extract(payload, '$.items') AS array(json))) AS t(i) GROUP BY 1

-- name: json_array_contains
SELECT json_array_contains('[1, 2, 3]', 2) AS a, json_array_contains('["x"]', 'y') AS b

-- name: json_array_get
SELECT json_array_get('["a", "b", "c"]', 1) AS a, json_array_get('["a", "b"]', 5) AS b

-- name: json_format_of_extract
SELECT order_id, json_format(json_extract(payload, '$.items[0]')) AS first_item FROM orders ORDER BY order_id

-- name: cast_varchar_to_json
SELECT CAST('hello' AS json) AS a, CAST(ARRAY[1, 2] AS json) AS b, CAST(MAP(ARRAY['k'], ARRAY[1]) AS json) AS c

-- name: is_json_scalar
SELECT is_json_scalar('1') AS a, is_json_scalar('[1]') AS b

-- name: json_null_vs_missing
SELECT order_id, json_extract(payload, '$.utm.campaign') AS campaign,
       json_extract(payload, '$.nope') AS missing
FROM orders ORDER BY order_id

-- name: json_where_filter
SELECT count(*) AS n FROM orders WHERE json_extract_scalar(payload, '$.device') = 'ios'

-- ===================================================================== arrays
-- name: unnest_tags
SELECT o.order_id, t.tag FROM orders o CROSS JOIN UNNEST(o.tags) AS t(tag)

-- name: unnest_tags_count
SELECT tag, count(*) AS n FROM orders CROSS JOIN UNNEST(tags) AS t(tag) GROUP BY tag

-- name: unnest_with_ordinality
SELECT o.order_id, t.tag, t.pos FROM orders o CROSS JOIN UNNEST(o.tags) WITH ORDINALITY AS t(tag, pos)

-- name: unnest_ratings_avg
SELECT avg(r) AS avg_rating, count(*) AS n FROM orders CROSS JOIN UNNEST(ratings) AS t(r)

-- name: left_join_unnest_keeps_rows
SELECT o.order_id, t.tag FROM orders o LEFT JOIN UNNEST(o.tags) AS t(tag) ON true

-- name: unnest_two_arrays_zip
SELECT a, b FROM UNNEST(ARRAY[1, 2, 3], ARRAY['x', 'y']) AS t(a, b)

-- name: contains_tag
SELECT count_if(contains(tags, 'gift')) AS gift_tagged FROM orders

-- name: element_at_and_subscript
SELECT order_id, element_at(tags, 1) AS first, element_at(tags, -1) AS last, tags[1] AS sub
FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: element_at_out_of_range
SELECT order_id, element_at(tags, 5) AS fifth FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: cardinality_of_sets
SELECT cardinality(tags) AS n, count(*) AS orders FROM orders GROUP BY 1

-- name: array_agg_ordered
SELECT customer_id, array_agg(order_id ORDER BY order_id) AS ids FROM orders GROUP BY customer_id

-- name: array_distinct_sort
SELECT array_sort(array_distinct(flatten(array_agg(tags)))) AS all_tags FROM orders WHERE tags IS NOT NULL

-- name: transform_and_filter
SELECT order_id, transform(tags, x -> upper(x)) AS up, filter(tags, x -> x LIKE 'e%') AS e_tags
FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: any_all_match
SELECT order_id, any_match(tags, x -> x = 'vip') AS vip, all_match(ratings, r -> r >= 3) AS good
FROM orders ORDER BY order_id

-- name: array_position_and_remove
SELECT order_id, array_position(tags, 'sale') AS pos, array_remove(tags, 'sale') AS rest
FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: array_concat_and_slice
SELECT order_id, concat(tags, ARRAY['x']) AS more, slice(tags, 1, 2) AS first_two
FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: array_set_operations
SELECT array_union(ARRAY[1, 2], ARRAY[2, 3]) AS u, array_intersect(ARRAY[1, 2], ARRAY[2, 3]) AS i,
       array_except(ARRAY[1, 2], ARRAY[2, 3]) AS e, arrays_overlap(ARRAY[1], ARRAY[1, 2]) AS o

-- name: array_min_max_strings
SELECT order_id, array_min(tags) AS lo, array_max(tags) AS hi FROM orders WHERE tags IS NOT NULL ORDER BY order_id

-- name: sequence_integers
SELECT sequence(1, 5) AS s, sequence(10, 1, -3) AS r

-- name: zip_with_arrays
SELECT zip_with(ARRAY[1, 2, 3], ARRAY[10, 20], (a, b) -> coalesce(a, 0) + coalesce(b, 0)) AS z

-- name: array_literal_with_null
SELECT ARRAY[1, NULL, 3] AS a, cardinality(ARRAY[]) AS e

-- name: repeat_and_array_sort_desc
SELECT repeat('ab', 3) AS r, array_sort(ARRAY[3, 1, 2]) AS s

-- name: array_join_null_replacement
SELECT array_join(ARRAY['a', NULL, 'c'], '-') AS a, array_join(ARRAY['a', NULL, 'c'], '-', '?') AS b

-- name: tags_of_vip_customers
SELECT DISTINCT o.customer_id FROM orders o WHERE contains(o.tags, 'vip')

-- ===================================================================== maps
-- name: map_literal_and_element_at
SELECT element_at(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b') AS b, MAP(ARRAY['a'], ARRAY[1])['a'] AS a

-- name: map_agg_status_totals
SELECT map_agg(status, revenue) AS m FROM (SELECT status, sum(total) AS revenue FROM orders GROUP BY status)

-- name: map_keys_values_sorted
SELECT array_sort(map_keys(m)) AS k FROM (SELECT map_agg(status, 1) AS m FROM orders)

-- name: unnest_map
SELECT k, v FROM UNNEST(MAP(ARRAY['x', 'y'], ARRAY[1, 2])) AS t(k, v)

-- name: unnest_map_agg
SELECT t.k, t.v FROM (SELECT map_agg(customer_id, cnt) AS m FROM
  (SELECT customer_id, count(*) AS cnt FROM orders GROUP BY customer_id)) CROSS JOIN UNNEST(m) AS t(k, v)

-- name: cardinality_of_map
SELECT cardinality(map_agg(channel, 1)) AS n FROM orders WHERE channel IS NOT NULL

-- name: map_from_entries
SELECT map_from_entries(ARRAY[ROW('a', 1), ROW('b', 2)]) AS m

-- name: histogram_of_status
SELECT histogram(status) AS h FROM orders

-- name: multimap_agg_channels
SELECT cardinality(multimap_agg(channel, order_id)) AS n FROM orders WHERE channel IS NOT NULL

-- name: map_filter_and_transform
SELECT map_filter(MAP(ARRAY['a', 'b'], ARRAY[1, 5]), (k, v) -> v > 2) AS f,
       transform_values(MAP(ARRAY['a'], ARRAY[1]), (k, v) -> v * 10) AS t

-- name: json_to_map_element
SELECT order_id, element_at(CAST(json_parse(payload) AS map(varchar, json)), 'device') AS device
FROM orders WHERE order_id <> 'o0053' AND order_id <= 'o0030' ORDER BY order_id

-- ===================================================================== window functions
-- name: row_number_per_customer
SELECT order_id, customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY order_id) AS rn
FROM orders ORDER BY order_id

-- name: rank_by_total
SELECT order_id, total, rank() OVER (ORDER BY total DESC) AS r, dense_rank() OVER (ORDER BY total DESC) AS dr
FROM orders ORDER BY order_id

-- name: running_total
SELECT order_id, customer_id, sum(total) OVER (PARTITION BY customer_id ORDER BY order_id) AS running
FROM orders ORDER BY order_id

-- name: running_total_rows_frame
SELECT order_id, sum(qty) OVER (ORDER BY order_id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS last3
FROM orders ORDER BY order_id

-- name: moving_average_decimal
SELECT order_id, avg(total) OVER (ORDER BY order_id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS ma
FROM orders ORDER BY order_id

-- name: lag_lead
SELECT order_id, lag(total) OVER (ORDER BY order_id) AS prev, lead(total, 2) OVER (ORDER BY order_id) AS next2
FROM orders ORDER BY order_id

-- name: lag_with_default
SELECT order_id, lag(qty, 1, 0) OVER (PARTITION BY customer_id ORDER BY order_id) AS prev_qty
FROM orders ORDER BY order_id

-- name: first_last_value
SELECT order_id, first_value(order_id) OVER (PARTITION BY customer_id ORDER BY order_id) AS first_order,
       last_value(order_id) OVER (PARTITION BY customer_id ORDER BY order_id
         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_order
FROM orders ORDER BY order_id

-- name: ntile_and_percent_rank
SELECT order_id, ntile(4) OVER (ORDER BY order_id) AS quartile,
       percent_rank() OVER (ORDER BY order_id) AS pr, cume_dist() OVER (ORDER BY order_id) AS cd
FROM orders ORDER BY order_id

-- name: count_over_partition
SELECT order_id, count(*) OVER (PARTITION BY status) AS same_status FROM orders ORDER BY order_id

-- name: share_within_customer
SELECT order_id, total / sum(total) OVER (PARTITION BY customer_id) AS share FROM orders ORDER BY order_id

-- name: latest_order_per_customer
SELECT customer_id, order_id, created_at FROM (
  SELECT customer_id, order_id, created_at,
         row_number() OVER (PARTITION BY customer_id ORDER BY from_iso8601_timestamp(created_at) DESC, order_id) AS rn
  FROM orders) WHERE rn = 1

-- name: nth_value
SELECT order_id, nth_value(order_id, 2) OVER (PARTITION BY customer_id ORDER BY order_id
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS second
FROM orders ORDER BY order_id

-- name: range_frame_days
SELECT order_id, count(*) OVER (ORDER BY from_iso8601_timestamp(created_at)
  RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW) AS last_day
FROM orders ORDER BY order_id

-- ===================================================================== joins, CTEs, grouping
-- name: join_customers
SELECT o.order_id, c.name, c.tier FROM orders o JOIN customers c ON o.customer_id = c.customer_id
ORDER BY o.order_id

-- name: left_join_tier_revenue
SELECT coalesce(c.tier, 'none') AS tier, sum(o.total) AS revenue
FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id GROUP BY 1

-- name: cte_and_having
WITH per_customer AS (SELECT customer_id, count(*) AS n, sum(total) AS spent FROM orders GROUP BY customer_id)
SELECT customer_id, n, spent FROM per_customer WHERE n >= 10 ORDER BY customer_id

-- name: grouping_sets
SELECT status, channel, count(*) AS n FROM orders GROUP BY GROUPING SETS ((status), (channel), ())

-- name: rollup
SELECT status, paid, sum(qty) AS units FROM orders GROUP BY ROLLUP (status, paid)

-- name: union_all_and_distinct
SELECT customer_id FROM orders WHERE qty > 10 UNION SELECT customer_id FROM customers WHERE tier = 'gold'

-- name: exists_subquery
SELECT c.customer_id FROM customers c
WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.total > 1000)

-- name: in_subquery
SELECT count(*) AS n FROM orders WHERE customer_id IN (SELECT customer_id FROM customers WHERE country = 'JP')

-- name: credit_limit_headroom
SELECT c.customer_id, c.credit_limit - coalesce(sum(o.total), 0) AS headroom
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id, c.credit_limit

-- name: max_by_min_by
SELECT customer_id, max_by(order_id, total) AS biggest, min_by(order_id, created_at) AS first_text
FROM orders GROUP BY customer_id

-- name: approx_distinct_small
SELECT approx_distinct(customer_id) AS n FROM orders

-- name: approx_percentile_totals
SELECT approx_percentile(CAST(total AS double), 0.5) AS median FROM orders

-- name: arbitrary_single_value
SELECT status, arbitrary(status) AS s FROM orders GROUP BY status

-- name: listagg
SELECT customer_id, listagg(order_id, ',') WITHIN GROUP (ORDER BY order_id) AS ids FROM orders GROUP BY customer_id

-- name: group_by_ordinal_with_order
SELECT channel, count(*) AS n FROM orders GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST

-- name: values_clause
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)

-- name: cross_join_count
SELECT count(*) AS n FROM customers a CROSS JOIN customers b

-- name: checksum_free_daily_summary
SELECT CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo' AS date) AS day,
       channel, count(*) AS orders, sum(total) AS revenue, avg(qty) AS avg_qty,
       count_if(paid) AS paid_orders
FROM orders GROUP BY 1, 2

-- ===================================================================== values through CTEs
-- name: cte_parsed_timestamp_hour
WITH o AS (SELECT order_id, from_iso8601_timestamp(created_at) AS ts FROM orders)
SELECT order_id, hour(ts) AS h FROM o ORDER BY order_id

-- name: cte_parsed_timestamp_daily
WITH o AS (SELECT from_iso8601_timestamp(created_at) AS ts, total FROM orders)
SELECT date_trunc('day', ts) AS day, sum(total) AS revenue FROM o GROUP BY 1

-- name: subquery_tokyo_wall_clock_hour
SELECT h, count(*) AS n FROM (
  SELECT hour(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo') AS h FROM orders) GROUP BY h

-- name: cte_tokyo_local_then_date
WITH o AS (SELECT from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo' AS local_ts FROM orders)
SELECT CAST(local_ts AS date) AS day, count(*) AS n FROM o GROUP BY 1

-- name: cte_epoch_timestamp_day
WITH o AS (SELECT from_unixtime(CAST(updated_epoch AS bigint)) AS ts FROM orders)
SELECT date_trunc('day', ts) AS day, count(*) AS n FROM o GROUP BY 1

-- name: cte_decimal_then_average
WITH o AS (SELECT customer_id, total * (1 - discount_rate) AS net FROM orders)
SELECT customer_id, avg(net) AS avg_net, sum(net) / count(*) AS mean_net FROM o GROUP BY customer_id

-- ===================================================================== more edge cases
-- name: coalesce_decimals_of_different_scales
SELECT order_id, coalesce(temperature_c, unit_price) AS a, coalesce(discount_rate, 0) AS b FROM orders ORDER BY order_id

-- name: case_returning_decimals
SELECT order_id, CASE WHEN paid THEN total ELSE discount_rate END AS v FROM orders ORDER BY order_id

-- name: union_of_decimal_columns
SELECT total AS v FROM orders WHERE qty = 1 UNION ALL SELECT discount_rate FROM orders WHERE qty = 2

-- name: aggregates_over_no_rows
SELECT sum(total) AS s, avg(total) AS a, count(*) AS n, max(order_id) AS m, array_agg(order_id) AS ids
FROM orders WHERE order_id = 'none'

-- name: aggregates_over_nulls_only
SELECT sum(CAST(NULL AS decimal(10, 2))) AS s, avg(CAST(NULL AS double)) AS a, count(note) AS n
FROM orders WHERE note IS NULL

-- name: decimal_compared_with_double
SELECT count(*) AS n FROM orders WHERE total > 99.5E0

-- name: decimal_plus_double
SELECT order_id, total + 0.5E0 AS d FROM orders ORDER BY order_id

-- name: division_by_zero_in_try
SELECT try(1 / 0) AS a, try(DECIMAL '1.0' / 0) AS b

-- name: in_list_with_null
SELECT count(*) AS n FROM orders WHERE channel IN ('web', NULL)

-- name: not_in_with_missing_values
SELECT count(*) AS n FROM orders WHERE channel NOT IN ('web', 'ios')

-- name: split_part_out_of_range
SELECT split_part('a-b', '-', 5) AS a, split_part('a-b', '-', 2) AS b

-- name: substr_beyond_length
SELECT substr('abc', 5) AS a, substr('abc', 2, 10) AS b, substr('abc', 0) AS c

-- name: lpad_truncates
SELECT lpad('abcdef', 3, 'x') AS a, rpad('ab', 5, 'xy') AS b

-- name: element_at_missing_map_key
SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'z') AS a

-- name: cardinality_of_null
SELECT cardinality(CAST(NULL AS array(varchar))) AS a

-- name: date_add_month_end
SELECT date_add('month', 1, DATE '2024-01-31') AS a, date_add('year', 1, DATE '2024-02-29') AS b

-- name: date_diff_month_boundaries
SELECT date_diff('month', DATE '2024-01-31', DATE '2024-02-29') AS a, date_diff('month', DATE '2024-01-15', DATE '2024-03-14') AS b

-- name: week_of_year_year_boundary
SELECT week_of_year(DATE '2024-12-30') AS a, year_of_week(DATE '2024-12-30') AS b, day_of_week(DATE '2024-12-29') AS c

-- name: date_format_more_specifiers
SELECT date_format(TIMESTAMP '2024-06-05 07:08:09.123', '%a %W %j %e %c %k %l %p %f') AS f

-- name: format_datetime_more_patterns
SELECT format_datetime(TIMESTAMP '2024-06-05 07:08:09.123', 'EEEE, MMMM d, yyyy h:mm a SSS') AS f

-- name: concat_ws_skips_nulls
SELECT concat_ws('-', 'a', NULL, 'c') AS a

-- name: length_of_unicode
SELECT length('日本語') AS a, upper('straße') AS b, lower('ÀÉ') AS c

-- name: array_agg_keeps_nulls
SELECT array_agg(channel ORDER BY order_id) AS chans FROM orders WHERE order_id <= 'o0006'

-- name: window_sum_decimal_running_by_day
SELECT order_id, sum(total) OVER (PARTITION BY CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS date)
  ORDER BY order_id) AS running FROM orders ORDER BY order_id

-- name: string_to_number_casts
SELECT CAST('42' AS bigint) AS a, CAST('3.5' AS double) AS b, CAST('-0.125' AS decimal(4, 3)) AS c

-- name: count_distinct_multiple_groups
SELECT status, count(DISTINCT customer_id) AS customers, count(DISTINCT channel) AS channels FROM orders GROUP BY status

-- name: having_on_decimal_sum
SELECT customer_id, sum(total) AS spent FROM orders GROUP BY customer_id HAVING sum(total) > 1000

-- name: exists_tag_with_any_match
SELECT count(*) AS n FROM orders WHERE any_match(tags, t -> t IN ('vip', 'gift'))

-- name: ratings_filter_decimals
SELECT order_id, filter(ratings, r -> r > 3.5) AS high FROM orders WHERE ratings IS NOT NULL ORDER BY order_id

-- name: transform_decimal_array
SELECT order_id, transform(ratings, r -> r * 2) AS doubled FROM orders WHERE ratings IS NOT NULL ORDER BY order_id

-- ===================================================================== summaries users write
-- name: summary_daily_revenue_tokyo_formatted
SELECT date_format(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo', '%Y-%m-%d') AS day,
       count(*) AS orders, sum(total) AS revenue, round(avg(total), 2) AS avg_order
FROM orders WHERE status <> 'CANCELLED' GROUP BY 1

-- name: summary_paid_share_percent
SELECT channel, round(100.0 * count_if(paid) / count(*), 1) AS paid_pct FROM orders GROUP BY channel

-- name: summary_top_customers_by_revenue
SELECT customer_id, revenue, rank FROM (
  SELECT customer_id, sum(total) AS revenue, rank() OVER (ORDER BY sum(total) DESC) AS rank
  FROM orders GROUP BY customer_id) WHERE rank <= 5

-- name: summary_tags_per_day
SELECT CAST(from_iso8601_timestamp(created_at) AS date) AS day, t.tag, count(*) AS n
FROM orders CROSS JOIN UNNEST(tags) AS t(tag) GROUP BY 1, 2

-- name: summary_customer_lifetime
SELECT c.customer_id, c.tier, count(o.order_id) AS orders, coalesce(sum(o.total), 0) AS spent,
       min(from_iso8601_timestamp(o.created_at)) AS first_order
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id, c.tier

-- name: summary_sku_units_from_json
WITH items AS (
  SELECT json_extract_scalar(i, '$.sku') AS sku, CAST(json_extract_scalar(i, '$.qty') AS bigint) AS qty
  FROM orders CROSS JOIN UNNEST(CAST(json_extract(payload, '$.items') AS array(json))) AS t(i))
SELECT sku, sum(qty) AS units, count(*) AS lines FROM items GROUP BY sku

-- name: summary_week_over_week
WITH weekly AS (
  SELECT date_trunc('week', CAST(from_iso8601_timestamp(created_at) AT TIME ZONE 'UTC' AS date)) AS wk, sum(total) AS revenue
  FROM orders GROUP BY 1)
SELECT wk, revenue, revenue - lag(revenue) OVER (ORDER BY wk) AS change FROM weekly

-- name: summary_status_pivot
SELECT customer_id, count_if(status = 'PAID') AS paid, count_if(status = 'SHIPPED') AS shipped,
       sum(CASE WHEN status = 'CANCELLED' THEN total ELSE 0 END) AS cancelled_value
FROM orders GROUP BY customer_id

-- name: summary_first_and_last_status
SELECT customer_id, min_by(status, order_id) AS first_status, max_by(status, order_id) AS last_status
FROM orders GROUP BY customer_id

-- name: summary_email_domains
SELECT lower(regexp_extract(email, '@(.+)$', 1)) AS domain, count(DISTINCT customer_id) AS customers
FROM orders GROUP BY 1

-- name: summary_hourly_heatmap
SELECT day_of_week(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo') AS dow,
       hour(from_iso8601_timestamp(created_at) AT TIME ZONE 'Asia/Tokyo') AS h, count(*) AS n
FROM orders GROUP BY 1, 2

-- name: summary_discount_buckets
SELECT CASE WHEN discount_rate = 0 THEN 'none' WHEN discount_rate < 0.1 THEN 'small' ELSE 'large' END AS bucket,
       count(*) AS n, sum(total * discount_rate) AS discount_value
FROM orders GROUP BY 1
