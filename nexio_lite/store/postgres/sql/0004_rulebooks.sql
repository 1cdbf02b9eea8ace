-- Screening rule books (SCREEN.md §2): immutable versions per organization and rule book
-- id, numbered from 1; the current version is the highest. `data` is the canonical JSON of
-- the imported object (UTF-8), over which `sha256` is taken. Rule books are kept as long as
-- their organization: no sweep deletes them (a job names the version it used).
CREATE TABLE rulebook_versions (
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    rulebook_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sha256      TEXT NOT NULL,             -- of the canonical JSON
    rules       INTEGER NOT NULL,          -- how many rules
    regulations INTEGER NOT NULL,          -- how many regulations
    created_at  BIGINT NOT NULL,
    data        BYTEA NOT NULL,            -- the canonical JSON
    PRIMARY KEY (org_id, rulebook_id, version)
);
