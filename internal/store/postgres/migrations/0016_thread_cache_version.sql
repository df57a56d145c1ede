-- A version of what writers cache about threads: which thread a thread key names, and the
-- messages those threads start. Every transaction that changes thread keys, or edits or
-- deletes messages, bumps it once, by triggers, whichever node or program writes; a
-- writer's cache is exact for one version, checked under the batch lock (the guard below)
-- before a batch relies on it. xid is the transaction that bumped it last: a writer that
-- reads the version again at the end of its own batch learns whether the one bump since
-- was its own.
CREATE TABLE thread_cache_version (
    id  INTEGER PRIMARY KEY,
    n   BIGINT NOT NULL,
    xid BIGINT NOT NULL
);
INSERT INTO thread_cache_version (id, n, xid) VALUES (1, 0, 0);

CREATE FUNCTION chathooks_thread_cache_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE thread_cache_version SET n = n + 1, xid = txid_current() WHERE id = 1 AND xid <> txid_current();
    RETURN NULL;
END
$$;

CREATE TRIGGER thread_keys_bump_thread_cache AFTER INSERT OR UPDATE OR DELETE ON thread_keys
    FOR EACH STATEMENT EXECUTE FUNCTION chathooks_thread_cache_bump();
CREATE TRIGGER messages_bump_thread_cache AFTER UPDATE OR DELETE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION chathooks_thread_cache_bump();

-- The batch guard with the thread cache version as well (NULL: the batch relies on no
-- cached thread). The two-argument form stays for writers that do not cache threads.
CREATE FUNCTION chathooks_batch_guard(gen BIGINT, version BIGINT, threads BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM room_cache_generation g, endpoint_version v, thread_cache_version t
                   WHERE g.id = 1 AND v.id = 1 AND t.id = 1 AND g.n = gen AND v.version = chathooks_batch_guard.version
                     AND (threads IS NULL OR t.n = threads)) THEN
        RAISE EXCEPTION 'write batch prepared with stale caches' USING ERRCODE = 'CHSTL';
    END IF;
END
$$;
