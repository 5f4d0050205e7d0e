-- Each subscription's deliveries counted per hour of their making, by where they stand now: what
-- the overview's "24 h success" and the subscription's hourly chart read. Counting the day's
-- rows themselves took 150 ms for a busy subscription (50,000 deliveries a day); these are 24
-- rows. Kept by triggers, so that every change of a delivery — the dispatcher's outcomes,
-- cancellations wherever they are decided, redeliveries, deletions — moves the counts with it.
-- Test deliveries are left out, as the figures always left them.
CREATE TABLE delivery_hours (
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    hour             INTEGER NOT NULL,   -- created_at / 3,600,000
    delivered        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    -- Retrying after at least one attempt (health counts them as failing).
    retrying         INTEGER NOT NULL DEFAULT 0,
    -- Neither delivered nor failed: pending, retrying, cancelled.
    other            INTEGER NOT NULL DEFAULT 0,
    -- The last time one of them was recorded as failed or retrying.
    last_failure_at  INTEGER,
    PRIMARY KEY (subscription_id, hour)
) WITHOUT ROWID;

INSERT INTO delivery_hours (subscription_id, hour, delivered, failed, retrying, other, last_failure_at)
SELECT subscription_id, created_at / 3600000,
       SUM(status = 'delivered'), SUM(status = 'failed'), SUM(status = 'retrying' AND attempts > 0),
       SUM(status NOT IN ('delivered', 'failed')),
       MAX(CASE WHEN status IN ('failed', 'retrying') THEN updated_at END)
FROM deliveries WHERE NOT test GROUP BY subscription_id, created_at / 3600000;

CREATE TRIGGER delivery_hours_made AFTER INSERT ON deliveries WHEN NOT NEW.test
BEGIN
    INSERT INTO delivery_hours (subscription_id, hour, delivered, failed, retrying, other, last_failure_at)
    VALUES (NEW.subscription_id, NEW.created_at / 3600000, NEW.status = 'delivered', NEW.status = 'failed',
            NEW.status = 'retrying' AND NEW.attempts > 0, NEW.status NOT IN ('delivered', 'failed'),
            CASE WHEN NEW.status IN ('failed', 'retrying') THEN NEW.updated_at END)
    ON CONFLICT (subscription_id, hour) DO UPDATE SET
        delivered = delivered + excluded.delivered, failed = failed + excluded.failed,
        retrying = retrying + excluded.retrying, other = other + excluded.other,
        last_failure_at = COALESCE(MAX(last_failure_at, excluded.last_failure_at), last_failure_at, excluded.last_failure_at);
END;

CREATE TRIGGER delivery_hours_changed AFTER UPDATE OF status, attempts ON deliveries
WHEN NOT NEW.test AND (OLD.status <> NEW.status OR (OLD.attempts > 0) <> (NEW.attempts > 0)
                       OR NEW.status IN ('failed', 'retrying'))
BEGIN
    UPDATE delivery_hours SET
        delivered = delivered - (OLD.status = 'delivered') + (NEW.status = 'delivered'),
        failed = failed - (OLD.status = 'failed') + (NEW.status = 'failed'),
        retrying = retrying - (OLD.status = 'retrying' AND OLD.attempts > 0) + (NEW.status = 'retrying' AND NEW.attempts > 0),
        other = other - (OLD.status NOT IN ('delivered', 'failed')) + (NEW.status NOT IN ('delivered', 'failed')),
        last_failure_at = CASE WHEN NEW.status IN ('failed', 'retrying')
                               THEN MAX(COALESCE(last_failure_at, 0), NEW.updated_at) ELSE last_failure_at END
    WHERE subscription_id = NEW.subscription_id AND hour = NEW.created_at / 3600000;
END;

CREATE TRIGGER delivery_hours_removed AFTER DELETE ON deliveries WHEN NOT OLD.test
BEGIN
    UPDATE delivery_hours SET
        delivered = delivered - (OLD.status = 'delivered'),
        failed = failed - (OLD.status = 'failed'),
        retrying = retrying - (OLD.status = 'retrying' AND OLD.attempts > 0),
        other = other - (OLD.status NOT IN ('delivered', 'failed'))
    WHERE subscription_id = OLD.subscription_id AND hour = OLD.created_at / 3600000;
END;

-- A test event's delivery is made as any other and marked as a test in the same transaction.
CREATE TRIGGER delivery_hours_tested AFTER UPDATE OF test ON deliveries
WHEN NEW.test AND NOT OLD.test
BEGIN
    UPDATE delivery_hours SET
        delivered = delivered - (OLD.status = 'delivered'),
        failed = failed - (OLD.status = 'failed'),
        retrying = retrying - (OLD.status = 'retrying' AND OLD.attempts > 0),
        other = other - (OLD.status NOT IN ('delivered', 'failed'))
    WHERE subscription_id = OLD.subscription_id AND hour = OLD.created_at / 3600000;
END;
