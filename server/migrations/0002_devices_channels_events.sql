CREATE TABLE devices (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    name             TEXT    NOT NULL,
    vendor           TEXT    NOT NULL DEFAULT '',
    model            TEXT    NOT NULL DEFAULT '',
    device_class     TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
    last_seen_at     INTEGER,
    -- Demo devices are the ones the built-in simulator feeds.
    simulated        INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    CONSTRAINT devices_name_unique UNIQUE (organisation_id, name)
);
CREATE INDEX devices_online ON devices (status, last_seen_at);

CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    device_id       INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    unit            TEXT    NOT NULL DEFAULT '',
    value_type      TEXT    NOT NULL CHECK (value_type IN ('float', 'string', 'enum', 'boolean')),
    min_value       REAL,
    max_value       REAL,
    enum_labels     TEXT,            -- JSON array of strings, for enum channels
    -- The channel's latest value (by data point time), which trigger events compare against.
    last_timestamp  INTEGER,
    last_value      REAL,
    last_str_value  TEXT,
    -- 1 inside min..max, 0 outside, NULL not known yet (or no range).
    in_range        INTEGER,
    CONSTRAINT channels_name_unique UNIQUE (device_id, name)
);

CREATE TABLE data_points (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    timestamp   INTEGER NOT NULL,
    value       REAL,
    str_value   TEXT
);
CREATE INDEX data_points_by_channel ON data_points (channel_id, timestamp);

-- Which devices a lab user may see (org admins see all of their organisation's).
CREATE TABLE device_access (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    granted_at  INTEGER NOT NULL,
    granted_by  INTEGER REFERENCES users (id),
    PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;
CREATE INDEX device_access_by_device ON device_access (device_id);

-- Bearer tokens for the ingest API; only a hash is kept, the token is shown once.
CREATE TABLE device_tokens (
    id            INTEGER PRIMARY KEY,
    device_id     INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    token_hash    BLOB    NOT NULL UNIQUE,
    hint          TEXT    NOT NULL,   -- the first characters, to tell tokens apart
    label         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    INTEGER REFERENCES users (id),
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX device_tokens_by_device ON device_tokens (device_id);

-- Trigger events: append-only, written in the same transaction as the data (or status change)
-- that caused them. The dispatcher reads them in id order. `payload` is the `data` object of
-- the webhook body, frozen at the time of the event.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    device_id        INTEGER NOT NULL REFERENCES devices (id),
    channel_id       INTEGER REFERENCES channels (id),   -- NULL for device-level events
    event_type       TEXT    NOT NULL,
    occurred_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    payload          TEXT    NOT NULL
);
CREATE INDEX events_by_channel ON events (channel_id, id);
