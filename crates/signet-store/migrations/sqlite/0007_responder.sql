-- The delegated OCSP responder's key, kept so that a restart takes up the stored responder
-- certificate instead of issuing a new one at every start (issue 14).
--
-- `sealed` is what the server's key factory made of the key: an encrypted PKCS#8 PEM
-- (PBES2, under the CA passphrase, like the CA key); unencrypted only for a `--dev` CA, whose
-- CA key is unencrypted too. One row per CA: issuing a new responder certificate replaces
-- the row in the same transaction, so the key of a superseded responder is not kept.
CREATE TABLE responder_keys (
    ca      TEXT NOT NULL PRIMARY KEY,
    serial  TEXT NOT NULL CHECK (length(serial) = 40),
    sealed  BLOB NOT NULL,
    FOREIGN KEY (ca, serial) REFERENCES certificates (ca, serial)
);
