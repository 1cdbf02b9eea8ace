-- Web console sessions (API.md §10), one row per signed-in browser. `id` is the SHA-256
-- of the session token: the token itself lives only in the browser's signed cookie. A
-- session acts with the API key `key_id`, whose scopes and revocation apply at every
-- request; logging out deletes the row, which ends the session on every process.
CREATE TABLE ui_sessions (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);

-- The secret the console signs its cookies with, made once per database (unless
-- `ui.secret` is set), so that every process sharing the database signs alike.
CREATE TABLE ui_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
