-- rootline-broker schema, version 2: one counter that every change to
-- resources, policies or reference values increments in the same
-- transaction, so a replica that caches them knows when to drop its copies.
CREATE TABLE config_revision (
    id BIGINT PRIMARY KEY,
    rev BIGINT NOT NULL
);
INSERT INTO config_revision (id, rev) VALUES (1, 0);
