-- Idempotency keys are forgotten oldest first, a bounded batch at a time: by this index,
-- not by reading the whole table.
CREATE INDEX idempotency_created ON idempotency (created_at);
