-- The receiver's reply written back ("Use the receiver's reply"): a subscription opts in, an
-- org admin marks the channels replies may write, and each attempt keeps what became of its
-- reply. Events caused by a reply remember the subscription that wrote it (it never receives
-- them) and how deep in a chain of replies they are (chains stop at a fixed depth).
ALTER TABLE subscriptions ADD COLUMN use_replies BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE channels ADD COLUMN reply_writable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN caused_by_subscription BIGINT;
ALTER TABLE events ADD COLUMN chain_depth BIGINT NOT NULL DEFAULT 0;
-- 'stored' (data points written), 'checked' (a test event's reply: checked, not stored),
-- 'refused' (the reply did not fit; the delivery still counts as delivered); NULL when there
-- was no reply to use.
ALTER TABLE delivery_attempts ADD COLUMN reply_outcome TEXT;
ALTER TABLE delivery_attempts ADD COLUMN reply_message TEXT;
