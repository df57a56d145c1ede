-- Deliveries are leased to the writing node when they are written. Leased rows are found
-- by owner (renewal, release) and by expiry (another node takes over a dead node's work
-- when its leases run out).
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner <> '';
CREATE INDEX deliveries_lease_expiry ON deliveries (locked_until) WHERE lease_owner <> '';
