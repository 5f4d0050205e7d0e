-- Postgres only (see migrations_postgres/0020): SQLite's index on deliveries (subscription_id)
-- already ends with the rowid, so it finds a subscription's oldest pending delivery as it is.
SELECT 1;
