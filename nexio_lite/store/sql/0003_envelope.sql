-- Candidates apart from the rest of the result (job lists leave them out without
-- reading them), and idempotency keys for POST /api/v1/jobs.

ALTER TABLE jobs ADD COLUMN candidates TEXT;   -- zlib-compressed JSON array (a BLOB value)

CREATE INDEX jobs_org_status ON jobs (org_id, status, seq);
CREATE INDEX jobs_org_type ON jobs (org_id, type, seq);
CREATE INDEX jobs_finished ON jobs (org_id, completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE idempotency_keys (
    org_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id       TEXT,                          -- set when the request succeeded
    response     TEXT,                          -- the original 202 body
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_expiry ON idempotency_keys (expires_at);
