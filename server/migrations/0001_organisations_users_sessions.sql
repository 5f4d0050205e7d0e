-- Timestamps are INTEGER milliseconds since the Unix epoch (UTC) throughout the schema:
-- cheap to compare and index, and exact for data-point times that devices send in ms.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    CONSTRAINT organisations_name_unique UNIQUE (name)
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    email            TEXT    NOT NULL COLLATE NOCASE,
    name             TEXT    NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('org_admin', 'lab_user')),
    password_hash    TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email)
);
CREATE INDEX users_by_organisation ON users (organisation_id);

-- Only a hash of the session token is stored: a copy of the database does not let anyone sign in.
CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed sign-ins per email address, known or not, so that throttling does not reveal which
-- accounts exist.
CREATE TABLE sign_in_failures (
    email            TEXT    PRIMARY KEY COLLATE NOCASE,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL
) WITHOUT ROWID;
