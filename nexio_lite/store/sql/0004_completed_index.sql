-- Jobs by completion time across organizations: how a process learns which jobs other
-- processes on the same file finished (SqliteBase.announce_others).
CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
