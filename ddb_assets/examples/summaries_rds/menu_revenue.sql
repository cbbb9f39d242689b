-- description: Pieces sold and revenue per menu item: the DynamoDB order log (sushi_orders) joined with the menu and its prices from the RDS MySQL database (menu_items).
-- owners: data-team@example.com
-- check: row_count > 0
-- check: unique(menu)
SELECT
  o.menu,
  m.name_ja,
  m.category,
  SUM(o.quantity) AS pieces,
  SUM(o.quantity * m.price) AS revenue
FROM sushi_orders o
JOIN menu_items m ON m.menu = o.menu
GROUP BY 1, 2, 3
ORDER BY revenue DESC, o.menu
