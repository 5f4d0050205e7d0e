-- The delivery log's hashes (`prev_hash`, `hash`, `request_body_sha256`) as their 32 bytes
-- (bytea) instead of 64 hex characters: the log is the biggest table and its most written one,
-- and the hex text was most of what the chains added to each row's bytes. They are read back
-- as hex (`db::dialect::hex`): hashes, exports and the canonical content are unchanged. The
-- audit trail, small and seldom written, keeps hex text.
ALTER TABLE delivery_attempts
    ALTER COLUMN prev_hash TYPE bytea USING decode(prev_hash, 'hex'),
    ALTER COLUMN hash TYPE bytea USING decode(hash, 'hex'),
    ALTER COLUMN request_body_sha256 TYPE bytea USING decode(request_body_sha256, 'hex');
