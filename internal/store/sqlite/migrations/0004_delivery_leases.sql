-- Deliveries are leased to the writing process when they are written; leased rows are
-- found by owner (release at start and stop).
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner <> '';
