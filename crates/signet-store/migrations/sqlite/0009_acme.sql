-- Signet SQLite schema, version 9: the ACME front end (RFC 8555) — accounts, orders,
-- authorizations with their challenges, External Account Binding keys, used nonces,
-- early-renewal marks (RFC 9773) and the nonce secret. Read and written by signet-store's
-- `acme` module only; every object is scoped by its CA.
--
-- Conventions as elsewhere: times are INTEGER unix seconds; serial numbers are TEXT, 40
-- lowercase hex digits; statuses are their RFC 8555 names. Lists are JSON text: `contact` is
-- an array of strings, `identifiers` an array of {"type", "value"}, `authorizations` an array
-- of authorization ids, `challenges` an array of {"type", "token", "status", "validated"
-- (unix seconds or null), "error" (the problem document as a string, or null)}.

-- An account's key (its RFC 7638 thumbprint) is unique among the CA's accounts; an EAB key
-- binds at most one account.
CREATE TABLE acme_accounts (
    id          TEXT    PRIMARY KEY,
    ca          TEXT    NOT NULL,
    jwk         TEXT    NOT NULL,
    thumbprint  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact     TEXT    NOT NULL,
    eab_kid     TEXT,
    requester   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (ca, thumbprint)
);

CREATE UNIQUE INDEX acme_accounts_eab_kid ON acme_accounts (eab_kid) WHERE eab_kid IS NOT NULL;
CREATE INDEX acme_accounts_ca_created ON acme_accounts (ca, created_at);

-- Orders. `request_id` is the CA's request once finalized, `serial` the certificate once
-- valid, `replaces` the certificate it replaces (RFC 9773): two live orders cannot replace one
-- certificate (an invalid order frees it).
CREATE TABLE acme_orders (
    id              TEXT    PRIMARY KEY,
    ca              TEXT    NOT NULL,
    account         TEXT    NOT NULL REFERENCES acme_accounts (id),
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    identifiers     TEXT    NOT NULL,
    authorizations  TEXT    NOT NULL,
    profile         TEXT    NOT NULL,
    not_before      INTEGER,
    not_after       INTEGER,
    expires         INTEGER NOT NULL,
    error           TEXT,
    request_id      INTEGER,
    serial          TEXT    CHECK (serial IS NULL OR length(serial) = 40),
    replaces        TEXT    CHECK (replaces IS NULL OR length(replaces) = 40),
    created_at      INTEGER NOT NULL
);

CREATE INDEX acme_orders_account ON acme_orders (ca, account, created_at);
CREATE INDEX acme_orders_ca_created ON acme_orders (ca, created_at);
CREATE INDEX acme_orders_expires ON acme_orders (expires);
CREATE INDEX acme_orders_serial ON acme_orders (ca, serial) WHERE serial IS NOT NULL;
CREATE UNIQUE INDEX acme_orders_replaces ON acme_orders (ca, replaces)
    WHERE replaces IS NOT NULL AND status != 'invalid';

-- Authorizations, with their challenges. `identifier_value` is without the `*.` of a
-- wildcard order identifier; `wildcard` (0/1) says so.
CREATE TABLE acme_authzs (
    id                TEXT    PRIMARY KEY,
    ca                TEXT    NOT NULL,
    account           TEXT    NOT NULL REFERENCES acme_accounts (id),
    identifier_type   TEXT    NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
    identifier_value  TEXT    NOT NULL,
    wildcard          INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
    status            TEXT    NOT NULL
                      CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires           INTEGER NOT NULL,
    challenges        TEXT    NOT NULL
);

CREATE INDEX acme_authzs_reuse
    ON acme_authzs (ca, account, identifier_type, identifier_value, status);
CREATE INDEX acme_authzs_expires ON acme_authzs (expires);

-- External Account Binding keys (RFC 8555 §7.3.4). `ca` NULL: the key binds accounts of any
-- CA. `account` is the account it bound (a key binds one).
CREATE TABLE acme_eab_keys (
    kid         TEXT    PRIMARY KEY,
    ca          TEXT,
    name        TEXT    NOT NULL,
    hmac        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    revoked_at  INTEGER,
    account     TEXT
);

-- Used nonces, kept until they expire (a nonce is authenticated and time-bounded by the front
-- end; this table only refuses a second use, across every node on this database).
CREATE TABLE acme_nonces (
    id       BLOB    PRIMARY KEY CHECK (length(id) = 16),
    expires  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX acme_nonces_expires ON acme_nonces (expires);

-- Certificates an administrator marked for early renewal (RFC 9773), and when.
CREATE TABLE acme_renew_early (
    ca      TEXT    NOT NULL,
    serial  TEXT    NOT NULL CHECK (length(serial) = 40),
    at      INTEGER NOT NULL,
    PRIMARY KEY (ca, serial)
) WITHOUT ROWID;

-- Settings shared by every node: `nonce_secret` (32 bytes), the key nonces are authenticated
-- with.
CREATE TABLE acme_settings (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
