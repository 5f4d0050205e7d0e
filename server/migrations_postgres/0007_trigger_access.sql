-- A trigger whose owner lost access to its device stops for good: fan-out skips it, and it
-- stays marked (with the reason people see) even when access is granted again — its owner
-- chooses it again by editing the subscription.
ALTER TABLE subscription_triggers ADD COLUMN lost_access_at BIGINT;
ALTER TABLE subscription_triggers ADD COLUMN lost_access_reason TEXT;
