-- Any number of instances on one database (docs/postgres.md).
--
-- Event ids come from the identity's sequence: every instance has a writer, and the largest
-- id plus one would be taken twice.
SELECT setval(pg_get_serial_sequence('events', 'id'), COALESCE((SELECT MAX(id) FROM events), 0) + 1, false);

-- The events not fanned out yet. On SQLite one writer gives ids in commit order and fan-out
-- follows a cursor (`dispatcher_cursor`); here transactions of several instances may commit
-- ids out of order, and a cursor could pass over one that commits late. So every new event is
-- noted here by the database itself, and fan-out takes them off in the same transaction that
-- adds their deliveries: each event is fanned out exactly once, whichever instance does it.
CREATE TABLE events_to_fan_out (
    event_id BIGINT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE
);
INSERT INTO events_to_fan_out (event_id)
    SELECT id FROM events WHERE id > (SELECT last_event_id FROM dispatcher_cursor WHERE id = 1);

-- Once per statement, not per row: an ingest batch inserts hundreds of events in one. The
-- notification wakes every instance's dispatcher when the transaction commits.
CREATE FUNCTION events_note_for_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events_to_fan_out (event_id) SELECT id FROM new_events;
    PERFORM pg_notify('labhook_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_note_for_fan_out AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_note_for_fan_out();
