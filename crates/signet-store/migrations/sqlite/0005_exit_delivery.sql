-- Per (CA, exit module) delivery state, so that retries keep their schedule across restarts.
-- `failing_seq` is the event the module is failing on (0: none); a row whose failing_seq is at
-- or before the module's cursor (exit_cursors) is stale and reads as "not failing".
-- Times are milliseconds since the Unix epoch (backoff starts below a second).
CREATE TABLE exit_state (
    ca               TEXT    NOT NULL,
    exit             TEXT    NOT NULL,
    failing_seq      INTEGER NOT NULL DEFAULT 0 CHECK (failing_seq >= 0),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_ms  INTEGER,
    last_error       TEXT,
    last_success_ms  INTEGER,
    PRIMARY KEY (ca, exit)
) WITHOUT ROWID;

-- Events given up on for one module (dead letters): after max_attempts failures, or skipped
-- by an administrator. Retrying one successfully deletes its row.
CREATE TABLE exit_parked (
    ca          TEXT    NOT NULL,
    exit        TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    event       INTEGER NOT NULL,
    request_id  INTEGER,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    parked_at   INTEGER NOT NULL,
    PRIMARY KEY (ca, exit, seq)
) WITHOUT ROWID;
