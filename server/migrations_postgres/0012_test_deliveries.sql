-- Deliveries of test events ("Send test event"): shown as tests in the log, never counted
-- when deciding whether a subscription keeps failing.
ALTER TABLE deliveries ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
