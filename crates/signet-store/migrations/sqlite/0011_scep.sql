-- SCEP (RFC 8894). One-time challenge passwords, kept as SHA-256 hashes only: a row is
-- deleted when the challenge is used (in the transaction that writes its audit record), so a
-- challenge enrolls once.
CREATE TABLE scep_challenges (
    hash        BLOB    PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    ca          TEXT    NOT NULL,
    profile     TEXT,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    expires     INTEGER NOT NULL
);

CREATE INDEX scep_challenges_expires ON scep_challenges (expires);

-- Which request a device's PKCSReq or RenewalReq became, by transactionID and senderNonce:
-- a byte-identical resend (same nonce) and a CertPoll (same transactionID) read the request
-- instead of making another.
CREATE TABLE scep_transactions (
    ca              TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    sender_nonce    BLOB    NOT NULL,
    request_id      INTEGER NOT NULL,
    csr_hash        BLOB    NOT NULL,
    requester       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (ca, transaction_id, sender_nonce)
);

CREATE INDEX scep_transactions_newest ON scep_transactions (ca, transaction_id, created_at);
CREATE INDEX scep_transactions_created ON scep_transactions (created_at);
