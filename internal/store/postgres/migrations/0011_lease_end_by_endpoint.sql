-- The earliest lease end is asked per active endpoint (a walk of this index in order from
-- the endpoint's first entry). Indexed by expiry alone, the planner read it as a join from
-- the endpoints over every delivery each endpoint ever had (493 ms for one call after 45 s
-- at 2,000 deliveries/s).
CREATE INDEX deliveries_lease_end ON deliveries (endpoint_id, locked_until) WHERE lease_owner <> '';
DROP INDEX deliveries_lease_expiry;
