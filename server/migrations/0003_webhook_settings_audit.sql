-- Laboperator keeps these as organisation settings: `features` containing `webhooks` and
-- `security.approvedWebhooks`.
ALTER TABLE organisations ADD COLUMN webhooks_enabled INTEGER NOT NULL DEFAULT 0;
-- When the feature was last switched on: events from before (while it was off) are never
-- delivered later.
ALTER TABLE organisations ADD COLUMN webhooks_enabled_since INTEGER;

CREATE TABLE registered_urls (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    url              TEXT    NOT NULL,          -- normalised prefix
    note             TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    created_by       INTEGER REFERENCES users (id),
    CONSTRAINT registered_urls_unique UNIQUE (organisation_id, url)
);

-- Who changed what, when: settings, registered URLs, device access and tokens, subscriptions.
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    actor_id         INTEGER REFERENCES users (id),
    actor_name       TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    kind             TEXT    NOT NULL,   -- settings | registered_url | device | subscription
    action           TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    before           TEXT,               -- JSON, secrets masked
    after            TEXT                -- JSON, secrets masked
);
CREATE INDEX audit_log_by_organisation ON audit_log (organisation_id, id);
CREATE INDEX audit_log_by_kind ON audit_log (organisation_id, kind, id);

-- Append-only, enforced by the database itself.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
