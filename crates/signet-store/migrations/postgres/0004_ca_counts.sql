-- The console dashboard's figures as running counts, kept by triggers in the transaction that
-- changes a request or a certificate: the same table and meaning as SQLite's migration 0016
-- (read its header). Every write batch already holds the `audit_head` row lock, so the
-- counter rows add no contention between nodes.
-- The chart reads the counts now, so its partial index (migration 0006) goes. The console's
-- certificate list (a CA's requests in id order, 50 at a time) read every request of the CA
-- and sorted them (0.3 s at a million); an index on `ca` alone holds each CA's requests in
-- id order, so the list reads its 50 rows from it (3 ms).
DROP INDEX requests_ca_issued_at;
CREATE INDEX requests_ca ON requests (ca, id);

CREATE TABLE ca_counts (
    ca      TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    bucket  BIGINT  NOT NULL,
    n       BIGINT  NOT NULL,
    PRIMARY KEY (ca, kind, bucket)
);

INSERT INTO ca_counts (ca, kind, bucket, n)
    SELECT ca, status, coalesce(resolved_at - resolved_at % 86400, 0), count(*) FROM requests
    GROUP BY ca, status, coalesce(resolved_at - resolved_at % 86400, 0);
INSERT INTO ca_counts (ca, kind, bucket, n)
    SELECT ca, 'valid-hour', not_after - not_after % 3600, count(*) FROM certificates
    WHERE revoked_at IS NULL
    GROUP BY ca, not_after - not_after % 3600;

CREATE FUNCTION ca_count(c TEXT, k TEXT, b BIGINT, d BIGINT) RETURNS void AS $$
    INSERT INTO ca_counts (ca, kind, bucket, n) VALUES (c, k, b, d)
        ON CONFLICT (ca, kind, bucket) DO UPDATE SET n = ca_counts.n + d;
$$ LANGUAGE sql;

CREATE FUNCTION requests_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM ca_count(OLD.ca, OLD.status,
                         coalesce(OLD.resolved_at - OLD.resolved_at % 86400, 0), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM ca_count(NEW.ca, NEW.status,
                         coalesce(NEW.resolved_at - NEW.resolved_at % 86400, 0), 1);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION certificates_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.revoked_at IS NULL THEN
        PERFORM ca_count(OLD.ca, 'valid-hour', OLD.not_after - OLD.not_after % 3600, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.revoked_at IS NULL THEN
        PERFORM ca_count(NEW.ca, 'valid-hour', NEW.not_after - NEW.not_after % 3600, 1);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER requests_counted AFTER INSERT OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_count();
CREATE TRIGGER requests_recounted AFTER UPDATE OF ca, status, resolved_at ON requests
    FOR EACH ROW
    WHEN (OLD.ca IS DISTINCT FROM NEW.ca OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at)
    EXECUTE FUNCTION requests_count();
CREATE TRIGGER certificates_counted AFTER INSERT OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificates_count();
CREATE TRIGGER certificates_recounted AFTER UPDATE OF ca, not_after, revoked_at ON certificates
    FOR EACH ROW
    WHEN (OLD.ca IS DISTINCT FROM NEW.ca OR OLD.not_after IS DISTINCT FROM NEW.not_after
          OR (OLD.revoked_at IS NULL) <> (NEW.revoked_at IS NULL))
    EXECUTE FUNCTION certificates_count();
