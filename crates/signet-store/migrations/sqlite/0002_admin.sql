-- Signet SQLite schema, version 2: administration (ICertAdmin / ICertView), API tokens and
-- the hash-chained audit log.

-- Every change to a request bumps its version; updates name the version they read
-- (optimistic concurrency: of two officers acting at once, one wins).
ALTER TABLE requests ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- RFC 5280 §5.3.2 invalidity date, unix seconds, with revoked_at / revocation_reason.
ALTER TABLE certificates ADD COLUMN invalidity_date INTEGER;

-- ICertView filters: "expiring within N days", "issued between", "requests of X".
CREATE INDEX certificates_ca_not_after ON certificates (ca, not_after);
CREATE INDEX requests_ca_requester ON requests (ca, requester);

-- M-of-N approvals of pending requests: one row per distinct approver.
CREATE TABLE approvals (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    approver    TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
) WITHOUT ROWID;

-- API tokens. Only the SHA-256 of the secret is stored; roles and CAs are comma-separated
-- lists (an empty `cas` means every CA).
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    roles       TEXT    NOT NULL,
    cas         TEXT    NOT NULL,
    groups      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);

-- The audit log. `seq` is assigned by the single writer, 1, 2, 3, ...; each row's `hash` is
-- SHA-256 over its predecessor's hash and its own fields (see signet-store's `audit` module),
-- so editing, deleting or reordering rows breaks the chain that `signet audit verify` walks.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    ca         TEXT,
    target     TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL,
    hash       BLOB    NOT NULL
);

CREATE INDEX audit_target ON audit (target, seq);

-- Signet itself never changes an audit row; these make an accidental UPDATE or DELETE fail
-- loudly. (Someone with write access to the file can drop them: the hash chain is what
-- detects that.)
-- (One line each: the migration runner refuses lines that start with BEGIN or END.)
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
