-- Reasons for changes (EU GMP Annex 11 §9): an organisation may require one for every change,
-- and the audit trail keeps the reason given beside the change. The reason is part of its
-- entry's link when there is one (see records::chain::audit_content), so entries written before
-- keep their hashes.
ALTER TABLE organisations ADD COLUMN reasons_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN reason TEXT;
-- The organisation's time zone (an IANA name): the records' readable copies show times in it
-- beside UTC.
ALTER TABLE organisations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
