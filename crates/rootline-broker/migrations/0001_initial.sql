-- rootline-broker schema, version 1. Portable between SQLite and PostgreSQL:
-- TEXT and BIGINT only, no auto-increment, times in Unix seconds.
CREATE TABLE resources (
    path TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    policy TEXT,
    updated_at BIGINT NOT NULL
);
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    rego TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE reference_values (
    name TEXT PRIMARY KEY,
    tee TEXT NOT NULL,
    claim TEXT NOT NULL,
    vals TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- An attested session, keyed by its challenge nonce: the row's existence is
-- what makes a nonce single-use across replicas.
CREATE TABLE sessions (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    evidence_digest TEXT NOT NULL,
    binding_digest TEXT NOT NULL,
    token TEXT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
-- Keys shared by replicas (session MAC, token signing), sealed under the KEK.
CREATE TABLE broker_keys (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
);
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    client TEXT NOT NULL,
    evidence_digest TEXT,
    resource TEXT NOT NULL,
    policy TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
