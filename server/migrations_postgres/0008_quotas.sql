-- Pending deliveries per subscription are capped (the oldest are kept): this index counts a
-- subscription's pending ones without reading its delivered history.
CREATE INDEX deliveries_pending_by_subscription
    ON deliveries (subscription_id) WHERE next_attempt_at IS NOT NULL;

-- Events not queued for a subscription because too many deliveries were waiting, since when
-- (its owner is told on the subscription's page; cleared when it is switched on again).
ALTER TABLE subscriptions ADD COLUMN overflowed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN overflow_since BIGINT;
