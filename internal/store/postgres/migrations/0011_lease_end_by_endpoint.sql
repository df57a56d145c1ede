-- The earliest lease end is asked per active endpoint (a walk of this index in order from
-- the endpoint's first entry). Indexed by expiry alone, the planner read it as a join from
-- the endpoints over every delivery each endpoint ever had (half a second a call after a
-- minute of load).
CREATE INDEX deliveries_lease_end ON deliveries (endpoint_id, locked_until) WHERE lease_owner <> '';
DROP INDEX deliveries_lease_expiry;
