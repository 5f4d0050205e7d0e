-- People managed in the browser (More → Users): deactivated accounts keep their row (their
-- subscriptions and audit entries name them); the last sign-in is shown to org admins.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;

-- One-time links to set a password (a new user's first, or after a reset). Only a hash of
-- the token is kept; a link works once, until it expires, and a newer link replaces it.
CREATE TABLE password_links (
    token_hash  BYTEA    PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX password_links_by_user ON password_links (user_id);
