-- Incoming webhooks. Tokens are stored only as hex SHA-256 hashes.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    avatar_url TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_room ON webhooks (room_id, id);

-- Tokens that were valid once (regenerated, deleted, or their room deleted): using one
-- answers "gone" (404) instead of "never valid". Deliberately no foreign keys: the rows
-- outlive the webhook and the room.
CREATE TABLE webhook_revoked_tokens (
    token_hash TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
