-- A delivery's successful attempt is kept in its own row (success_at <> 0) instead of as a
-- row of delivery_attempts: the usual outcome then costs one row update, not an update and
-- an insert with its index entry. delivery_attempts keeps the failed attempts, and a
-- success whose row was no longer this node's to update.
ALTER TABLE deliveries ADD COLUMN success_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN success_code INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN success_latency_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN success_response TEXT NOT NULL DEFAULT '';
