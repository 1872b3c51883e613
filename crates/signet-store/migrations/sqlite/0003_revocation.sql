-- Signet SQLite schema, version 3: CRL partitions, the order of revocation changes (for delta
-- CRLs) and the published CRLs.

-- The CRL partition a certificate was assigned at issuance (0: the CA's main CRL, which also
-- holds every certificate issued before partitioning was switched on).
ALTER TABLE certificates ADD COLUMN shard INTEGER NOT NULL DEFAULT 0 CHECK (shard >= 0);
-- Every revocation change (revoke, re-revoke from hold, release) takes the next number of
-- its CA, assigned by the single writer; a delta CRL lists the changes after its base's
-- number. `revocation_changed_at` dates the change (a release's removeFromCRL entry).
ALTER TABLE certificates ADD COLUMN revocation_seq INTEGER;
ALTER TABLE certificates ADD COLUMN revocation_changed_at INTEGER;

-- Full CRLs read every revoked certificate of a partition, in serial order, from this index
-- alone (it covers every column they need).
CREATE INDEX certificates_revoked ON certificates
    (ca, shard, serial, revoked_at, revocation_reason, invalidity_date, not_after,
     revocation_seq, revocation_changed_at)
    WHERE revoked_at IS NOT NULL;
-- Delta CRLs and the highest number of a CA.
CREATE INDEX certificates_revocation_seq ON certificates (ca, revocation_seq)
    WHERE revocation_seq IS NOT NULL;

-- Published CRLs (AD CS: the CRL table). Base and delta CRLs of one partition share the
-- number sequence (RFC 5280 §5.2.3); `delta_base` is NULL for a full CRL.
CREATE TABLE crls (
    id              INTEGER PRIMARY KEY,
    ca              TEXT    NOT NULL,
    shard           INTEGER NOT NULL CHECK (shard >= 0),
    number          INTEGER NOT NULL CHECK (number > 0),
    delta_base      INTEGER,
    revocation_seq  INTEGER NOT NULL,
    this_update     INTEGER NOT NULL,
    next_update     INTEGER NOT NULL,
    entries         INTEGER NOT NULL,
    der             BLOB    NOT NULL,
    UNIQUE (ca, shard, number)
);
