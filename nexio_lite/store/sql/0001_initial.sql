-- Organizations, their API keys (hash only), immutable pool versions, and jobs.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE orgs (
    id                TEXT PRIMARY KEY,
    webhook_secret    TEXT NOT NULL,
    previous_secret   TEXT,
    secret_rotated_at INTEGER,
    created_at        INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,           -- comma-separated
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE pool_versions (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    pool_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    generator  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    as_of      TEXT NOT NULL,             -- YYYY-MM-DD
    sha256     TEXT NOT NULL,             -- of the canonical JSONL
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL,             -- zlib-compressed canonical JSONL
    PRIMARY KEY (org_id, pool_id, version)
);

CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,     -- arrival order
    id           TEXT NOT NULL UNIQUE,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    type         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    request      TEXT NOT NULL,           -- normalized request, JSON
    pool_id      TEXT,
    pool_version INTEGER,
    webhook_url  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER,
    claim_token  TEXT,
    result       TEXT,                    -- JSON object of the type's result fields
    error        TEXT,                    -- JSON {code, message, details}
    stages       TEXT                     -- JSON list of stage timings (for the trace)
);
-- Claiming reads only queued rows in arrival order: its cost does not grow with history.
CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'processing';
CREATE INDEX jobs_org ON jobs (org_id, seq);
