-- Extensions as one blob per request: SQLite migration 0015 (see there for the format).
-- The migration runner converts the `request_extensions` rows after this script, in the same
-- transaction, then drops the table.
ALTER TABLE requests ADD COLUMN extensions BYTEA NOT NULL DEFAULT '\x01';
