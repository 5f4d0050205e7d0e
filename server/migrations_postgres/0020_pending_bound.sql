-- Fan-out finds a subscription's oldest pending delivery in one index probe: with the newest
-- delivery's id, it bounds how many can be pending, and counts them only when the bound comes
-- near the cap (a count read every pending row of a busy subscription on each fan-out).
-- SQLite's index already ends with the rowid.
DROP INDEX deliveries_pending_by_subscription;
CREATE INDEX deliveries_pending_by_subscription
    ON deliveries (subscription_id, id) WHERE next_attempt_at IS NOT NULL;

-- The queue's rows change several times each within seconds: vacuumed (and their statistics
-- refreshed) after a few per cent of them changed, not a fifth, so that dead versions do not
-- pile up in the scans of due deliveries.
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE events_to_fan_out SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
