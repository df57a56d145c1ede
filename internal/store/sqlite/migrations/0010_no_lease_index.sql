-- One process owns a SQLite database, so its leases last until it restarts and are found
-- only at start-up and shutdown (to give them back). A lease is only ever on an unfinished
-- delivery, so those statements find leased rows through the pending and retry indexes;
-- an index of leases of its own cost every delivery an index entry written and removed.
DROP INDEX deliveries_lease;
