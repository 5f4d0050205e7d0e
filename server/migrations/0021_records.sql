-- Tamper-evident records (docs/records.md): every audit entry and every delivery attempt is a
-- link of its organisation's chain — `seq` counts the chain's rows from 1, `prev_hash` is the
-- previous row's `hash`, `hash` is SHA-256 of the row's canonical content with `prev_hash`
-- (hex). Rows written before this migration keep NULLs: they precede the chain.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (organisation_id, seq) WHERE seq IS NOT NULL;

ALTER TABLE delivery_attempts ADD COLUMN organisation_id INTEGER;
ALTER TABLE delivery_attempts ADD COLUMN seq INTEGER;
ALTER TABLE delivery_attempts ADD COLUMN prev_hash TEXT;
ALTER TABLE delivery_attempts ADD COLUMN hash TEXT;
-- Attempts written before the chains began get their organisation, so that verify-records
-- counts them as unchained (they cannot be proven, but they are not hidden).
UPDATE delivery_attempts SET organisation_id = (
    SELECT s.organisation_id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.id = delivery_attempts.delivery_id);
-- SHA-256 of the request body as sent (hex).
ALTER TABLE delivery_attempts ADD COLUMN request_body_sha256 TEXT;
CREATE UNIQUE INDEX delivery_attempts_chain ON delivery_attempts (organisation_id, seq) WHERE seq IS NOT NULL;

-- Each chain's newest link: read and moved under a row lock by whoever appends.
CREATE TABLE record_chains (
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    chain            TEXT    NOT NULL CHECK (chain IN ('audit', 'deliveries')),
    seq              INTEGER NOT NULL,
    head             TEXT    NOT NULL,
    PRIMARY KEY (organisation_id, chain)
);

-- Chain heads signed by the installation's records key (Ed25519), at intervals and on demand.
CREATE TABLE record_checkpoints (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    chain            TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    head             TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    signature        TEXT    NOT NULL
);
CREATE INDEX record_checkpoints_by_chain ON record_checkpoints (organisation_id, chain, seq);

-- Links removed on purpose (retention, a deleted subscription's log), signed when removed:
-- `ranges` is a JSON array of [first seq, last seq, hash of the last] — what lets the chain be
-- followed across the gap.
CREATE TABLE record_removals (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    chain            TEXT    NOT NULL,
    ranges           TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    signature        TEXT    NOT NULL
);
CREATE INDEX record_removals_by_chain ON record_removals (organisation_id, chain);
