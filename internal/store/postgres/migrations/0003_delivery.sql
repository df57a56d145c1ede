-- Outgoing endpoints and deliveries. Times are Unix microseconds (UTC).
-- Endpoint secrets are stored sealed (AES-GCM with the server's key), never in clear.
CREATE TABLE endpoints (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    agent_id              TEXT NOT NULL DEFAULT '',
    event_types           TEXT NOT NULL,
    format                TEXT NOT NULL,
    secret                TEXT NOT NULL,
    old_secret            TEXT NOT NULL DEFAULT '',
    old_secret_expires_at BIGINT NOT NULL DEFAULT 0,
    include_members       INTEGER NOT NULL DEFAULT 0,
    headers               TEXT NOT NULL DEFAULT '{}',
    timeout_ms            INTEGER NOT NULL DEFAULT 0,
    max_in_flight         INTEGER NOT NULL DEFAULT 0,
    rate_limit            DOUBLE PRECISION NOT NULL DEFAULT 0,
    retry_max_attempts    INTEGER NOT NULL DEFAULT 0,
    retry_max_interval_s  INTEGER NOT NULL DEFAULT 0,
    retry_ttl_s           INTEGER NOT NULL DEFAULT 0,
    status                TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- Every endpoint change stores a fresh value from the sequence, so each node's cached
-- routing table is checked with one primary-key read per event (values never repeat, even
-- after a rollback).
CREATE SEQUENCE endpoint_version_seq;
CREATE TABLE endpoint_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO endpoint_version (id, version) VALUES (1, 0);

CREATE TABLE deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, seq);
CREATE INDEX deliveries_first ON deliveries (endpoint_id, seq) WHERE status = 'pending';
CREATE INDEX deliveries_retry ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'failed';

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    n           BIGINT GENERATED ALWAYS AS IDENTITY,
    at          BIGINT NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    latency_ms  BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    response    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, at);
