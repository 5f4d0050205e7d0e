-- Retention deletes events that no delivery refers to: without this index SQLite's foreign-key
-- check (and the NOT EXISTS) scanned the whole deliveries table once per deleted event, while
-- holding the write turn.
CREATE INDEX deliveries_by_event ON deliveries (event_id);
