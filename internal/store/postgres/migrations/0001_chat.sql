-- Chat core. Times are Unix microseconds (UTC), as in the SQLite schema.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE presence (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    present    INTEGER NOT NULL,
    expires_at BIGINT NOT NULL DEFAULT 0 -- 0: no expiry
);

CREATE TABLE stream_presence (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, node_id)
);

CREATE TABLE blocks (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, target_id)
);

CREATE TABLE rooms (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    creator_id   TEXT NOT NULL DEFAULT '',
    member_count INTEGER NOT NULL DEFAULT 0,
    last_seq     BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE members (
    room_id              TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id              TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at            BIGINT NOT NULL,
    last_read_message_id TEXT NOT NULL DEFAULT '',
    last_read_at         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE messages (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    room_id       TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    thread_id     TEXT NOT NULL,
    sender_type   TEXT NOT NULL,
    sender_id     TEXT NOT NULL,
    sender_name   TEXT NOT NULL,
    sender_avatar TEXT NOT NULL DEFAULT '',
    text          TEXT NOT NULL,
    format        TEXT NOT NULL,
    html          TEXT NOT NULL,
    mentions      TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_room ON messages (room_id, seq);
CREATE INDEX messages_thread ON messages (room_id, thread_id, seq);

CREATE TABLE thread_keys (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    PRIMARY KEY (room_id, key)
);

CREATE TABLE idempotency (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The transactional outbox. pos orders all events; room_seq orders a room's events (it is
-- assigned under the room row's lock, so a room's events commit in room_seq order).
CREATE TABLE events (
    pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    room_id    TEXT NOT NULL DEFAULT '',
    room_seq   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    payload    TEXT NOT NULL,
    agents     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX events_room ON events (room_id, room_seq) WHERE room_id <> '';
