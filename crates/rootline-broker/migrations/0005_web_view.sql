-- rootline-broker schema, version 5: what the web view (`/ui/`) shows that
-- the rows did not keep. Only additions: every column is nullable and rows
-- written by older replicas leave them empty.
-- The audit row names the workload it is about: the TEE, its identifying
-- claim (`measurement=...`, `mr_td=...`), the TCB status the verifier
-- reported, and for a denial the findings that failed (one per line).
ALTER TABLE audit_log ADD COLUMN tee TEXT;
ALTER TABLE audit_log ADD COLUMN workload TEXT;
ALTER TABLE audit_log ADD COLUMN tcb_status TEXT;
ALTER TABLE audit_log ADD COLUMN failed TEXT;
-- Every version a reference value has had, and its deletion: written in
-- the transaction that changes `reference_values`.
CREATE TABLE reference_value_history (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    tee TEXT NOT NULL,
    claim TEXT NOT NULL,
    vals TEXT NOT NULL,
    at BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    PRIMARY KEY (name, version, deleted, at)
);
-- What exists now is the first history known.
INSERT INTO reference_value_history (name, version, tee, claim, vals, at, deleted)
    SELECT name, version, tee, claim, vals, updated_at, 0 FROM reference_values;
