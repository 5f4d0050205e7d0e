-- The audit trail's pages are read by link (seq) — any page of a million entries by the index
-- of the chain; the entries from before the chains began (no seq) are counted and paged by this
-- one, which holds only them.
CREATE INDEX audit_log_unchained ON audit_log (organisation_id, id) WHERE seq IS NULL;
