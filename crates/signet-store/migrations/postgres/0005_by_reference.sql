-- What the certificate already carries, stored once: SQLite migration 0017 (see there).
-- The migration runner converts the requests after this script, in the same transaction.
ALTER TABLE requests ADD COLUMN raw_form BIGINT NOT NULL DEFAULT 0 CHECK (raw_form IN (0, 1));

ALTER TABLE outbox ADD COLUMN details_form BIGINT NOT NULL DEFAULT 0
    CHECK (details_form IN (0, 1));

UPDATE outbox SET details = '', details_form = 1
    WHERE request_id IS NOT NULL
      AND details = (SELECT '{"serial":"' || c.serial || '"}' FROM certificates c
                     WHERE c.request_id = outbox.request_id ORDER BY c.id LIMIT 1);
