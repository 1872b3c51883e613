-- The console dashboard's figures, kept as running counts (issue 21: "the console dashboard
-- < 200 ms with 10 million certificates"). Counting rows at each view grew with the store:
-- 160-190 ms at 700,000 certificates, seconds at 10 million. The triggers below keep
-- `ca_counts` exact inside the transaction that changes a request or a certificate, whatever
-- writes it (the writer, the migration runner, `db copy`, the bench fill), so a reader sums a
-- few rows instead.
--
-- kind                 bucket                           n
-- pending|issued|      UTC day (unix time of midnight)  requests of the CA with that status,
--   denied|failed|     of resolved_at; 0 while pending  resolved that day (issued and revoked
--   revoked                                             ones are the issuance chart)
-- valid-hour           hour (unix time) of not_after    certificates not revoked whose
--                                                       validity ends in that hour
--
-- `signet-store/src/view.rs` reads them; the expiring count adds the two partial hours at
-- the ends of its window from the (ca, not_after) index.
-- The chart reads the counts now, so its partial index (migration 0006) goes. The console's
-- certificate list (a CA's requests in id order, 50 at a time) read every request of the CA
-- and sorted them (0.3 s at a million); an index on `ca` alone holds each CA's requests in
-- id order, so the list reads its 50 rows from it (3 ms).
DROP INDEX requests_ca_issued_at;
CREATE INDEX requests_ca ON requests (ca);

CREATE TABLE ca_counts (
    ca      TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    bucket  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (ca, kind, bucket)
) WITHOUT ROWID;

INSERT INTO ca_counts (ca, kind, bucket, n)
    SELECT ca, status, coalesce(resolved_at - resolved_at % 86400, 0), count(*) FROM requests
    GROUP BY ca, status, coalesce(resolved_at - resolved_at % 86400, 0);
INSERT INTO ca_counts (ca, kind, bucket, n)
    SELECT ca, 'valid-hour', not_after - not_after % 3600, count(*) FROM certificates
    WHERE revoked_at IS NULL
    GROUP BY ca, not_after - not_after % 3600;

CREATE TRIGGER requests_counted AFTER INSERT ON requests BEGIN
    INSERT INTO ca_counts (ca, kind, bucket, n)
        VALUES (NEW.ca, NEW.status, coalesce(NEW.resolved_at - NEW.resolved_at % 86400, 0), 1)
        ON CONFLICT (ca, kind, bucket) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER requests_recounted AFTER UPDATE OF ca, status, resolved_at ON requests
WHEN OLD.ca IS NOT NEW.ca OR OLD.status IS NOT NEW.status
    OR OLD.resolved_at IS NOT NEW.resolved_at
BEGIN
    UPDATE ca_counts SET n = n - 1 WHERE ca = OLD.ca AND kind = OLD.status
        AND bucket = coalesce(OLD.resolved_at - OLD.resolved_at % 86400, 0);
    INSERT INTO ca_counts (ca, kind, bucket, n)
        VALUES (NEW.ca, NEW.status, coalesce(NEW.resolved_at - NEW.resolved_at % 86400, 0), 1)
        ON CONFLICT (ca, kind, bucket) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER requests_uncounted AFTER DELETE ON requests BEGIN
    UPDATE ca_counts SET n = n - 1 WHERE ca = OLD.ca AND kind = OLD.status
        AND bucket = coalesce(OLD.resolved_at - OLD.resolved_at % 86400, 0);
END;

CREATE TRIGGER certificates_counted AFTER INSERT ON certificates
WHEN NEW.revoked_at IS NULL
BEGIN
    INSERT INTO ca_counts (ca, kind, bucket, n)
        VALUES (NEW.ca, 'valid-hour', NEW.not_after - NEW.not_after % 3600, 1)
        ON CONFLICT (ca, kind, bucket) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER certificates_recounted AFTER UPDATE OF ca, not_after, revoked_at ON certificates
WHEN OLD.ca IS NOT NEW.ca OR OLD.not_after IS NOT NEW.not_after
    OR (OLD.revoked_at IS NULL) <> (NEW.revoked_at IS NULL)
BEGIN
    UPDATE ca_counts SET n = n - 1
        WHERE ca = OLD.ca AND kind = 'valid-hour'
        AND bucket = OLD.not_after - OLD.not_after % 3600 AND OLD.revoked_at IS NULL;
    INSERT INTO ca_counts (ca, kind, bucket, n)
        SELECT NEW.ca, 'valid-hour', NEW.not_after - NEW.not_after % 3600, 1
        WHERE NEW.revoked_at IS NULL
        ON CONFLICT (ca, kind, bucket) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER certificates_uncounted AFTER DELETE ON certificates
WHEN OLD.revoked_at IS NULL
BEGIN
    UPDATE ca_counts SET n = n - 1
        WHERE ca = OLD.ca AND kind = 'valid-hour'
        AND bucket = OLD.not_after - OLD.not_after % 3600;
END;
