-- Signet SQLite schema, version 4: the certificates of a public key (profiles with
-- `unique_key`) and a requester's valid certificates (profiles with `renewal`).

-- SHA-256 of the certificate's SubjectPublicKeyInfo (DER), written on issue and import.
-- Rows from before this version are filled in by the migration runner right after this
-- script (SQLite cannot parse a certificate); a certificate that does not parse keeps NULL
-- and is then not found by key.
ALTER TABLE certificates ADD COLUMN spki_sha256 BLOB
    CHECK (spki_sha256 IS NULL OR length(spki_sha256) = 32);

-- "Who holds certificates for this key", across CAs.
CREATE INDEX certificates_spki_sha256 ON certificates (spki_sha256)
    WHERE spki_sha256 IS NOT NULL;

-- "The valid certificates of requester R under profile P" goes through
-- requests_ca_requester (version 2) and then certificates_request_id (version 1).
