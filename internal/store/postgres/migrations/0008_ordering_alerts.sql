-- Delivery ordering and failure alerts. ordering is 'concurrent' (up to max_in_flight
-- requests at once) or 'fifo' (one at a time, in commit order). endpoint_health is the
-- last health state announced for an endpoint ('failing', 'ok' or 'disabled'): every node,
-- before and after a restart, announces a change of state once.
ALTER TABLE endpoints ADD COLUMN ordering TEXT NOT NULL DEFAULT 'concurrent';
CREATE TABLE endpoint_health (
    endpoint_id TEXT PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
