CREATE TABLE subscriptions (
    id                     INTEGER PRIMARY KEY,
    organisation_id        INTEGER NOT NULL REFERENCES organisations (id),
    owner_id               INTEGER NOT NULL REFERENCES users (id),
    display_name           TEXT    NOT NULL DEFAULT '',   -- empty: show the URL
    url                    TEXT    NOT NULL,
    headers                TEXT    NOT NULL DEFAULT '[]', -- JSON [{name, value, secret}]
    active                 INTEGER NOT NULL DEFAULT 1,
    -- Events that happened before this moment are not delivered (set on every activation).
    active_since           INTEGER,
    -- Why an inactive subscription is inactive: user | target_not_registered | gone
    inactive_reason        TEXT,
    -- The Standard Webhooks signing secret (whsec_…); after a rotation the previous one keeps
    -- signing alongside until previous_secret_until.
    secret                 TEXT    NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_organisation ON subscriptions (organisation_id, id);
CREATE INDEX subscriptions_by_owner ON subscriptions (owner_id, id);

-- The channels and trigger events a subscription selected. Fan-out looks events up here by
-- (channel, event type) — or by (device, event type) for device-level events — and never scans
-- all subscriptions.
CREATE TABLE subscription_triggers (
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    channel_id       INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    device_id        INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    event_type       TEXT    NOT NULL,
    PRIMARY KEY (subscription_id, channel_id, event_type)
) WITHOUT ROWID;
CREATE INDEX subscription_triggers_by_channel
    ON subscription_triggers (channel_id, event_type, subscription_id);
CREATE INDEX subscription_triggers_by_device
    ON subscription_triggers (device_id, event_type, subscription_id);
