-- A subscription whose deliveries kept failing is switched off by Labhook ("failing since …");
-- switching it on again clears the mark.
ALTER TABLE subscriptions ADD COLUMN failing_since INTEGER;

-- Notices for people (the bell in the header): one row per recipient, read per person.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscription_id  INTEGER REFERENCES subscriptions (id) ON DELETE CASCADE,
    message          TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    read_at          INTEGER
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);
