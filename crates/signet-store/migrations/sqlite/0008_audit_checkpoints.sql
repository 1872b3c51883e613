-- Signed checkpoints of the audit chain head (signet-core's `audit` module). Each names the
-- audit record it covers (`seq`) and that record's hash, when it was signed (unix seconds),
-- and the Ed25519 signature over the text
-- `signet-audit-checkpoint-v1 NUMBER SEQ HASH-HEX AT`. The same checkpoint goes to the exit
-- modules as an `AuditCheckpoint` event, so copies outside the database witness it.
CREATE TABLE audit_checkpoints (
    number     INTEGER PRIMARY KEY,
    seq        INTEGER NOT NULL,
    hash       BLOB    NOT NULL,
    at         INTEGER NOT NULL,
    signature  BLOB    NOT NULL
);

-- Signet never changes a checkpoint; as with `audit`, these only make accidents loud.
-- (One line each: the migration runner refuses lines that start with BEGIN or END.)
CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;

CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
