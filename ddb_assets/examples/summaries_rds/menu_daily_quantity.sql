-- description: Sushi pieces ordered per menu per day (days in Asia/Tokyo).
-- owners: data-team@example.com
-- check: row_count > 0
-- check: unique(order_date, menu)
SELECT
  date(at_timezone(from_iso8601_timestamp("datetime"), 'Asia/Tokyo')) AS order_date,
  menu,
  SUM(quantity) AS total_quantity,
  COUNT(*) AS orders
FROM sushi_orders
GROUP BY 1, 2
ORDER BY order_date, menu
