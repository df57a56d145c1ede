-- The thread index holds replies only. A message that starts a thread has thread_id = id
-- and is found by its id; indexing it again by thread cost every post one more random
-- index page to write.
DROP INDEX messages_thread;
CREATE INDEX messages_thread_replies ON messages (room_id, thread_id, seq) WHERE thread_id <> id;
