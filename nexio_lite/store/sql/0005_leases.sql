-- Named leases held by one process at a time (the one that runs the reaper and the
-- periodic sweeps when several processes share the database).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
