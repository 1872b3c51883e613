-- Issue 21: what the issued certificate already carries is not stored a second time.
--
-- `requests.raw_form`: 0, `raw` is the request as received; 1, `raw` is a delta against the
-- request's first certificate (its `certificates` row with the lowest id): after a version
-- byte (0x01), segments that are either bytes stored here or a run of the certificate's DER
-- (offset and length), which together spell the request byte for byte. A CSR's subject,
-- public key, requested extensions and signature algorithm are in the certificate: a P-256
-- CSR of 266 bytes takes about 115. The full definition is
-- `crates/signet-store/src/delta.rs`. The migration runner converts the existing requests
-- after this script (`delta::convert_requests`, in Rust: SQL cannot compute the delta).
ALTER TABLE requests ADD COLUMN raw_form INTEGER NOT NULL DEFAULT 0 CHECK (raw_form IN (0, 1));

-- `outbox.details_form`: 0, `details` is as given; 1, the details are exactly
-- `{"serial":"HEX"}` with the serial number of the event's request's first certificate, and
-- `details` is empty (reading puts them together again). Every issuance event is so.
ALTER TABLE outbox ADD COLUMN details_form INTEGER NOT NULL DEFAULT 0
    CHECK (details_form IN (0, 1));

UPDATE outbox SET details = '', details_form = 1
    WHERE request_id IS NOT NULL
      AND details = (SELECT '{"serial":"' || c.serial || '"}' FROM certificates c
                     WHERE c.request_id = outbox.request_id ORDER BY c.id LIMIT 1);
