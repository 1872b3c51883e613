-- Web sessions (the console and enrollment pages): kept in the database so a session opened
-- on one node works on every node of a cluster and signing out on one ends it everywhere.
-- `key` is the SHA-256 of the cookie value (the cookie itself is never stored); `identity`
-- is JSON (name, roles, cas, groups, via); the certificate columns bind a session opened with
-- a TLS client certificate to it. Times are unix seconds.
CREATE TABLE web_sessions (
    key             BLOB    PRIMARY KEY,
    identity        TEXT    NOT NULL,
    cert_issuer     BLOB,
    cert_serial     TEXT,
    cert_not_after  INTEGER,
    csrf            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL
);

CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen);
