-- Leases: background work that must run on one node at a time (CRL publication, OCSP
-- responder renewal, exit delivery per CA and module) is done by whichever node holds its
-- lease, renewed as the work goes on and taken over by another node once it expires.
-- `fencing` grows each time the lease changes hands, so a holder can tell it was replaced.
-- Times are unix milliseconds of the node that wrote them (nodes keep their clocks in
-- step; leases last seconds, far longer than the skew NTP leaves).
CREATE TABLE leases (
    name           TEXT    PRIMARY KEY,
    holder         TEXT    NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    fencing        INTEGER NOT NULL
);
