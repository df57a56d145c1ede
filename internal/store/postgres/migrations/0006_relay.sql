-- Relay to chat tools. An endpoint's room scope, body template and hop limit live in one
-- JSON object ({"room_ids": [...], "template": "...", "max_hops": n}); a message records how
-- many chathooks relays it crossed (its incoming request's hop header), so relays stop loops.
ALTER TABLE endpoints ADD COLUMN relay TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN relay_hops INTEGER NOT NULL DEFAULT 0;
