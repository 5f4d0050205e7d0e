-- The delivery log's hashes (`prev_hash`, `hash`, `request_body_sha256`) as their 32 bytes
-- (BLOB) instead of 64 hex characters: the log is the biggest table and its most written one,
-- and the hex text was most of what the chains added to each row's bytes (192 of about 500),
-- written to the WAL and copied again at each checkpoint (docs/webhooks.md, "what the chains
-- cost").
-- They are read back as hex (`db::dialect::hex`): hashes, exports and the canonical content
-- are unchanged. The audit trail, small and seldom written, keeps hex text.
ALTER TABLE delivery_attempts ADD COLUMN prev_hash_bytes BLOB;
ALTER TABLE delivery_attempts ADD COLUMN hash_bytes BLOB;
ALTER TABLE delivery_attempts ADD COLUMN request_body_sha256_bytes BLOB;
UPDATE delivery_attempts SET prev_hash_bytes = unhex(prev_hash), hash_bytes = unhex(hash),
    request_body_sha256_bytes = unhex(request_body_sha256)
 WHERE prev_hash IS NOT NULL OR hash IS NOT NULL OR request_body_sha256 IS NOT NULL;
ALTER TABLE delivery_attempts DROP COLUMN prev_hash;
ALTER TABLE delivery_attempts DROP COLUMN hash;
ALTER TABLE delivery_attempts DROP COLUMN request_body_sha256;
ALTER TABLE delivery_attempts RENAME COLUMN prev_hash_bytes TO prev_hash;
ALTER TABLE delivery_attempts RENAME COLUMN hash_bytes TO hash;
ALTER TABLE delivery_attempts RENAME COLUMN request_body_sha256_bytes TO request_body_sha256;
