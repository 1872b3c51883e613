-- When an ACME order last moved to `processing` (finalize's claim before it asks the CA).
-- An order still `processing` without a CA request long after its claim lost its finalization
-- (the server stopped between the claim and the CA's answer); reads and the maintenance loop
-- turn it `invalid`, so it neither hangs its client nor escapes purging.
ALTER TABLE acme_orders ADD COLUMN claimed_at INTEGER;

CREATE INDEX acme_orders_claimed ON acme_orders (claimed_at)
    WHERE status = 'processing' AND request_id IS NULL;
