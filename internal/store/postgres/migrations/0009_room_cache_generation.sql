-- A generation number of the data writers cache about rooms (a room's name and member
-- count, its agent members). Every write transaction that changes such data bumps it;
-- every write batch reads it under the batch lock, and a node whose cache was made at an
-- older generation drops it. Rooms created since are not cached data: not bumped.
CREATE TABLE room_cache_generation (
    id INTEGER PRIMARY KEY,
    n  BIGINT NOT NULL
);
INSERT INTO room_cache_generation (id, n) VALUES (1, 0);
