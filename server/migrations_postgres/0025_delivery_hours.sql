-- SQLite only (see migrations/0025): there, triggers keep each subscription's deliveries counted
-- per hour. On Postgres the same counts would be rows that every instance's fan-out and outcomes
-- update inside their transactions — in no fixed order, so instances would wait on each other and
-- could deadlock; the figures are counted from the deliveries through this index instead, which
-- holds every column they read.
CREATE INDEX deliveries_by_subscription_time
    ON deliveries (subscription_id, created_at) INCLUDE (status, attempts, updated_at, test);
