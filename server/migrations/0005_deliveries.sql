-- How far fan-out has read the event log.
CREATE TABLE dispatcher_cursor (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id  INTEGER NOT NULL
);
INSERT INTO dispatcher_cursor (id, last_event_id) VALUES (1, 0);

-- One delivery of one event to one subscription (Laboperator's webhook_logs). The queue is this
-- table: due rows have next_attempt_at set; the dispatcher claims them by setting lease_until,
-- which hides them until the outcome is recorded or the lease runs out.
CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY,
    subscription_id   INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_id          INTEGER NOT NULL REFERENCES events (id),
    -- The Standard Webhooks message id: the same for every attempt, so receivers can drop
    -- duplicates.
    webhook_id        TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'retrying', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,            -- NULL once finished
    lease_until       INTEGER,            -- claimed by a worker until then
    last_http_status  INTEGER,
    last_error        TEXT,
    last_duration_ms  INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, id);

-- Every attempt, with what was sent and what came back.
CREATE TABLE delivery_attempts (
    id                INTEGER PRIMARY KEY,
    delivery_id       INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number            INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    request_headers   TEXT    NOT NULL,   -- JSON object, secret values masked
    response_status   INTEGER,
    response_headers  TEXT,               -- JSON object
    response_body     TEXT,               -- the first 64 KiB
    error_kind        TEXT,               -- timeout | connection | dns | tls | redirect | too_large | unregistered | other
    error_message     TEXT
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, number);
