-- Several instances on one index: run liveness, batch leases, API tokens.
-- A run's heartbeat: which instance runs it, when it was last seen alive, how far it is.
CREATE TABLE run_heartbeats (
    run_id       TEXT PRIMARY KEY,
    instance     TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    files_done   BIGINT NOT NULL DEFAULT 0,
    files_total  BIGINT NOT NULL DEFAULT 0
);

-- An inbox batch claimed by one instance until lease_until (RFC 3339 UTC, comparable as text).
CREATE TABLE batch_claims (
    batch       TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    run_id      TEXT,
    lease_until TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'released')),
    updated_at  TEXT NOT NULL
);

-- HTTP API bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    token_id    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  TEXT
);
