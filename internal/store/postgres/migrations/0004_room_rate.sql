-- Per-room token buckets for the incoming-webhook rate limit, shared by every node.
-- UNLOGGED: no WAL and no fsync per post; after a crash the buckets start full again.
CREATE UNLOGGED TABLE room_rate (
    room_id TEXT PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    at      BIGINT NOT NULL -- Unix microseconds of the last refill
);
