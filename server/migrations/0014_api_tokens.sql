-- Personal API tokens for the HTTP API v2: each acts as its user (role and device access
-- as they are at the time of the request). Only a hash is kept; the first characters (hint)
-- tell tokens apart. Scopes are Laboperator's: read, write, delete.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label           TEXT    NOT NULL,
    token_hash      BLOB    NOT NULL UNIQUE,
    hint            TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    revoked_at      INTEGER,
    revoked_by      INTEGER REFERENCES users (id)
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
CREATE INDEX api_tokens_by_organisation ON api_tokens (organisation_id);
