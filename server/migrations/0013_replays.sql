-- "Send again everything this subscription would have received between A and B": a replay is
-- fed into the queue in small steps behind live traffic, and can be cancelled.
CREATE TABLE replays (
    id               INTEGER PRIMARY KEY,
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    requested_by     INTEGER REFERENCES users (id),
    since            INTEGER NOT NULL,
    until            INTEGER NOT NULL,
    channel_id       INTEGER,
    event_type       TEXT,
    total            INTEGER NOT NULL,
    queued           INTEGER NOT NULL DEFAULT 0,
    -- The last event queued: the next step goes on after it.
    cursor_event_id  INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL CHECK (status IN ('running', 'done', 'cancelled')),
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX replays_by_subscription ON replays (subscription_id, id);
CREATE INDEX replays_running ON replays (status) WHERE status = 'running';

ALTER TABLE deliveries ADD COLUMN replay_id INTEGER REFERENCES replays (id) ON DELETE SET NULL;
