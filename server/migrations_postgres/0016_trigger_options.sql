-- Noisy channels: a trigger may send fewer webhooks — a dead band on "value changed", a
-- minimum interval, "settled" (see domain/debounce.rs). `options` is the checked options as
-- JSON (NULL: every event, as before); the rest is what the trigger remembers between events
-- (reset when the subscription is saved).
ALTER TABLE subscription_triggers ADD COLUMN options TEXT;
ALTER TABLE subscription_triggers ADD COLUMN last_sent_at BIGINT;
ALTER TABLE subscription_triggers ADD COLUMN last_sent_value DOUBLE PRECISION;
ALTER TABLE subscription_triggers ADD COLUMN settled_sent BOOLEAN NOT NULL DEFAULT FALSE;
