-- A room's events are numbered from its newest event (retention always keeps it), so the
-- room row no longer carries the last number: a post then writes no page of the rooms table.
ALTER TABLE rooms DROP COLUMN last_seq;
