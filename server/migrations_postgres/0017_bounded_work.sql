-- Issue 22: no job of the writer grows with the data, and one caller cannot take the server.

-- Replays find an organisation's events by id without scanning everyone's. A replay's time
-- range is turned into an id range when it starts, and fed in windows of ids; replays are
-- fed least recently fed first, so that every organisation's replays move.
CREATE INDEX events_by_organisation ON events (organisation_id, id);
ALTER TABLE replays ADD COLUMN until_event_id BIGINT;
ALTER TABLE replays ADD COLUMN fed_at BIGINT NOT NULL DEFAULT 0;
UPDATE replays SET until_event_id = (SELECT COALESCE(MAX(id), 0) FROM events)
 WHERE status = 'running';

-- "Settled" keeps the running state of the channel's recent values per trigger (the run of
-- values that fit in the band, and the last value), instead of reading them back per event.
ALTER TABLE subscription_triggers ADD COLUMN settle_since BIGINT;
ALTER TABLE subscription_triggers ADD COLUMN settle_low DOUBLE PRECISION;
ALTER TABLE subscription_triggers ADD COLUMN settle_high DOUBLE PRECISION;
ALTER TABLE subscription_triggers ADD COLUMN settle_last_at BIGINT;
ALTER TABLE subscription_triggers ADD COLUMN settle_last_value DOUBLE PRECISION;

-- Deleting a subscription or removing a channel marks it at once (it is gone for everyone);
-- what it held — deliveries and their attempts, data points — is deleted in the background,
-- in windows, and the row last.
ALTER TABLE subscriptions ADD COLUMN deleted_at BIGINT;
CREATE INDEX subscriptions_deleted ON subscriptions (deleted_at) WHERE deleted_at IS NOT NULL;
ALTER TABLE channels ADD COLUMN removed_at BIGINT;
CREATE INDEX channels_removed ON channels (removed_at) WHERE removed_at IS NOT NULL;
