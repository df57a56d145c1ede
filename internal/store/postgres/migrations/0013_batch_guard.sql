-- A write batch that was prepared with the values its writer last saw (the room cache
-- generation and the endpoint version) is sent whole, with BEGIN, the batch lock and
-- COMMIT, in one round trip. This check runs right after the lock: if another node changed
-- either value since, it fails the transaction (SQLSTATE CHSTL) before any of the batch's
-- statements run, and the writer runs the batch again with fresh reads.
CREATE FUNCTION chathooks_batch_guard(gen BIGINT, version BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM room_cache_generation g, endpoint_version v
                   WHERE g.id = 1 AND v.id = 1 AND g.n = gen AND v.version = chathooks_batch_guard.version) THEN
        RAISE EXCEPTION 'write batch prepared with stale caches' USING ERRCODE = 'CHSTL';
    END IF;
END
$$;
