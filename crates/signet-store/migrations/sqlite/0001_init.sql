-- Signet SQLite schema, version 1: requests, their attributes and extensions, certificates,
-- the event outbox and the exit modules' delivery cursors.
--
-- Conventions (see the crate docs):
-- * Times are INTEGER unix seconds (UTC); `datetime(col, 'unixepoch')` shows them in sqlite3.
-- * Serial numbers are TEXT, 40 lowercase hex digits (the 20 bytes Signet issues).
-- * Flags are INTEGER 0/1.
-- * The migration runner applies this file inside a transaction and records it in
--   `schema_migrations`; do not put BEGIN/COMMIT here.

-- One row per request (AD CS: the request table). AUTOINCREMENT so an id is never reused,
-- even after the highest row is deleted.
CREATE TABLE requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ca            TEXT    NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('pending', 'issued', 'denied', 'failed', 'revoked')),
    format        TEXT    NOT NULL,
    raw           BLOB    NOT NULL,
    requester     TEXT,
    profile       TEXT,
    subject       TEXT    NOT NULL,
    submitted_at  INTEGER NOT NULL,
    resolved_at   INTEGER,
    message       TEXT
);

-- Officers' queues: "pending requests of CA x, oldest first".
CREATE INDEX requests_ca_status_id ON requests (ca, status, id);

-- Request attributes (name/value pairs), in submission order. WITHOUT ROWID keeps the rows of
-- one request together in the primary key's b-tree, so no second index is needed.
CREATE TABLE request_attributes (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    PRIMARY KEY (request_id, position)
) WITHOUT ROWID;

-- Extensions recorded with a request (AD CS keeps them per request with flags): from the
-- request, set by policy or an officer, or added by the server. `disabled` rows stay in the
-- record but are not put into the certificate. Order is the certificate's extension order.
CREATE TABLE request_extensions (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    position    INTEGER NOT NULL,
    oid         TEXT    NOT NULL,
    critical    INTEGER NOT NULL CHECK (critical IN (0, 1)),
    disabled    INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    origin      TEXT    NOT NULL CHECK (origin IN ('request', 'policy', 'admin', 'server')),
    value       BLOB    NOT NULL,
    PRIMARY KEY (request_id, position)
) WITHOUT ROWID;

-- Issued (or imported) certificates. A serial number is unique per CA: this constraint is
-- what turns a serial collision into a refused commit instead of two certificates.
CREATE TABLE certificates (
    id                 INTEGER PRIMARY KEY,
    ca                 TEXT    NOT NULL,
    serial             TEXT    NOT NULL CHECK (length(serial) = 40),
    request_id         INTEGER NOT NULL REFERENCES requests (id),
    der                BLOB    NOT NULL,
    subject            TEXT    NOT NULL,
    sans               TEXT    NOT NULL,  -- JSON array of strings
    not_before         INTEGER NOT NULL,
    not_after          INTEGER NOT NULL,
    revoked_at         INTEGER,
    revocation_reason  INTEGER,  -- RFC 5280 CRLReason code
    UNIQUE (ca, serial)
);

CREATE INDEX certificates_request_id ON certificates (request_id);

-- The durable event outbox: written in the same transaction as the state change that raised
-- the event, delivered to exit modules in `seq` order. `event` is the AD CS EXITEVENT_* bit.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    ca          TEXT    NOT NULL,
    event       INTEGER NOT NULL CHECK (event > 0),
    request_id  INTEGER REFERENCES requests (id),
    at          INTEGER NOT NULL,
    details     TEXT    NOT NULL
);

CREATE INDEX outbox_ca_seq ON outbox (ca, seq);

-- How far each exit module of each CA has processed the outbox. Only ever moves forward.
CREATE TABLE exit_cursors (
    ca          TEXT    NOT NULL,
    exit        TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (ca, exit)
) WITHOUT ROWID;
