-- The webhook outbox: one delivery per (job, webhook-id), written in the same
-- transaction that makes the job terminal, and every attempt made for it.

CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,          -- dlv_…
    job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,                 -- msg_…, the same on every retry
    url             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,                       -- due time while pending
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER,                       -- an attempt is in flight until then
    claim_token     TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_job ON deliveries (job_id, seq);

CREATE TABLE delivery_attempts (
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    at               INTEGER NOT NULL,             -- when the attempt started
    status_code      INTEGER,
    error            TEXT,                         -- error class when there was no response
    latency_ms       INTEGER NOT NULL,
    response_excerpt TEXT,                         -- first 2 KB of the response body
    PRIMARY KEY (delivery_id, number)
);
