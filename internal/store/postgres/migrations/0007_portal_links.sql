-- Links to the endpoint owners' portal: one endpoint, or every endpoint of one agent. The
-- URL carries the id signed with a key kept outside this table; revoked_at (0: not revoked)
-- lets an administrator withdraw a link before it expires. No foreign keys: a link to a
-- deleted endpoint simply shows nothing.
CREATE TABLE portal_links (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL DEFAULT '',
    agent_id    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX portal_links_created ON portal_links (created_at DESC, id DESC);
