-- rootline-broker schema, version 4: a reference value's version, one for
-- a new name and one more for each replacement, so that a change is never
-- silent (the admin API refuses to replace without being told to).
ALTER TABLE reference_values ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
