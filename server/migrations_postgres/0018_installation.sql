-- What every instance on this database must agree on: the key that seals stored secrets, by its
-- id (a hash that reveals nothing of the key). An instance started with another key is refused.
CREATE TABLE installation (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    secrets_key_id TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
