-- screen_analysis jobs (SCREEN.md §1) name the rule book version current when they were
-- accepted, as evaluations name their pool version. Null for every other job type.
ALTER TABLE jobs ADD COLUMN rulebook_id TEXT;
ALTER TABLE jobs ADD COLUMN rulebook_version INTEGER;
