-- An archived device is hidden from the channel picker and sends nothing; its data, delivery
-- history and the triggers that chose it are kept until it is restored.
ALTER TABLE devices ADD COLUMN archived_at BIGINT;
