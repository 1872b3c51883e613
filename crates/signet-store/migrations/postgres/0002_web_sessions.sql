-- Web sessions: SQLite migration 0014 (see there).
CREATE TABLE web_sessions (
    key             BYTEA    PRIMARY KEY,
    identity        TEXT     NOT NULL,
    cert_issuer     BYTEA,
    cert_serial     TEXT,
    cert_not_after  BIGINT,
    csrf            TEXT     NOT NULL,
    created_at      BIGINT   NOT NULL,
    last_seen       BIGINT   NOT NULL
);

CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen);
