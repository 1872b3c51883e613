//! The reads behind CRLs and OCSP: revoked certificates by partition (one snapshot, with the
//! revocation sequence number it reflects), stored CRLs, and one certificate's status; and
//! the delegated OCSP responder's stored key (written with its certificate on the writer
//! thread, read back at start).

use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};
use signet_core::{
    CaName, CertificateStatus, CrlRecord, Revocation, RevocationReason, RevokedQuery, RevokedRow,
    RevokedScan, SerialNumber, StoreError,
};

use crate::codec::{corrupt, from_unix, seq_to_sql, sql_error, time_column, to_unix};

const MAX_SEQ: &str = "SELECT MAX(revocation_seq) FROM certificates \
    WHERE ca = ?1 AND revocation_seq IS NOT NULL";
// Served by the covering partial index `certificates_revoked`, in serial order.
const FULL: &str = "SELECT serial, revoked_at, revocation_reason, invalidity_date, \
        revocation_changed_at \
    FROM certificates INDEXED BY certificates_revoked \
    WHERE ca = ?1 AND shard = ?2 AND revoked_at IS NOT NULL AND not_after >= ?3 \
    ORDER BY serial";
const DELTA: &str = "SELECT serial, revoked_at, revocation_reason, invalidity_date, \
        revocation_changed_at \
    FROM certificates \
    WHERE ca = ?1 AND revocation_seq > ?2 AND revocation_seq IS NOT NULL AND shard = ?3 \
      AND not_after >= ?4 \
    ORDER BY serial";

/// Scans one partition in one read transaction, so the rows and the sequence number agree:
/// a change committed after the snapshot has a higher number and is in the next delta.
pub(crate) fn scan_revoked(conn: &Connection, q: &RevokedQuery) -> Result<RevokedScan, StoreError> {
    conn.execute_batch("BEGIN")
        .map_err(sql_error("starting a read"))?;
    let result = scan_in_snapshot(conn, q);
    if let Err(e) = conn.execute_batch("COMMIT") {
        tracing::warn!(error = %e, "ending a read transaction");
    }
    result
}

fn scan_in_snapshot(conn: &Connection, q: &RevokedQuery) -> Result<RevokedScan, StoreError> {
    let seq: Option<i64> = conn
        .prepare_cached(MAX_SEQ)
        .and_then(|mut s| s.query_row(params![q.ca.as_str()], |r| r.get(0)))
        .map_err(sql_error("reading the revocation sequence"))?;
    let revocation_seq = u64::try_from(seq.unwrap_or(0))
        .map_err(|_| corrupt("certificates", q.ca.as_str(), "revocation_seq", "negative"))?;
    let expired_before = to_unix(q.expired_before)?;
    let mut stmt;
    let mut rows = match q.changed_after {
        None => {
            stmt = conn
                .prepare_cached(FULL)
                .map_err(sql_error("scanning revoked certificates"))?;
            stmt.query(params![q.ca.as_str(), q.shard, expired_before])
        }
        Some(after) => {
            stmt = conn
                .prepare_cached(DELTA)
                .map_err(sql_error("scanning revocation changes"))?;
            stmt.query(params![
                q.ca.as_str(),
                seq_to_sql(after, "revocation sequence")?,
                q.shard,
                expired_before
            ])
        }
    }
    .map_err(sql_error("scanning revoked certificates"))?;
    let mut out = Vec::new();
    while let Some(row) = rows
        .next()
        .map_err(sql_error("scanning revoked certificates"))?
    {
        let serial: String = row.get(0).map_err(sql_error("reading a serial"))?;
        let parts: (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = (
            row.get(1).map_err(sql_error("reading a revocation"))?,
            row.get(2).map_err(sql_error("reading a revocation"))?,
            row.get(3).map_err(sql_error("reading a revocation"))?,
            row.get(4).map_err(sql_error("reading a revocation"))?,
        );
        let serial: SerialNumber = serial
            .parse()
            .map_err(|e| corrupt("certificates", &serial, "serial", &format!("{e}")))?;
        let (revocation, changed_at) = decode(&serial, parts)?;
        out.push(RevokedRow {
            serial,
            changed_at: changed_at
                .unwrap_or_else(|| revocation.as_ref().map_or(SystemTime::UNIX_EPOCH, |r| r.at)),
            revocation,
        });
    }
    Ok(RevokedScan {
        rows: out,
        revocation_seq,
    })
}

type RevocationColumns = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// (revoked_at, reason, invalidity_date, changed_at) → the revocation and its change time.
fn decode(
    serial: &SerialNumber,
    (at, reason, invalidity, changed): RevocationColumns,
) -> Result<(Option<Revocation>, Option<SystemTime>), StoreError> {
    let row = serial.to_hex();
    let revocation = revocation_columns(&row, at, reason, invalidity)?;
    let changed = changed
        .map(|t| {
            from_unix(t).ok_or_else(|| {
                corrupt(
                    "certificates",
                    &row,
                    "revocation_changed_at",
                    "time out of range",
                )
            })
        })
        .transpose()?;
    Ok((revocation, changed))
}

/// A certificate's revocation columns (revoked_at, revocation_reason, invalidity_date) as a
/// `Revocation`; `row` names the row in a corruption report.
pub(crate) fn revocation_columns(
    row: &dyn std::fmt::Display,
    at: Option<i64>,
    reason: Option<i64>,
    invalidity: Option<i64>,
) -> Result<Option<Revocation>, StoreError> {
    let time = |column: &str, secs: i64| {
        from_unix(secs).ok_or_else(|| corrupt("certificates", row, column, "time out of range"))
    };
    match (at, reason) {
        (Some(at), Some(reason)) => Ok(Some(Revocation {
            at: time("revoked_at", at)?,
            reason: RevocationReason::from_code(reason).ok_or_else(|| {
                corrupt(
                    "certificates",
                    row,
                    "revocation_reason",
                    &format!("unknown code {reason}"),
                )
            })?,
            invalidity_date: invalidity.map(|t| time("invalidity_date", t)).transpose()?,
        })),
        (None, None) => Ok(None),
        _ => Err(corrupt(
            "certificates",
            row,
            "revoked_at",
            "set without a reason, or the reverse",
        )),
    }
}

// From the covering partial index of revoked certificates: no scan of the certificates
// table (a full scan of a large CA's certificates at every start would cost seconds).
const SHARDS: &str = "SELECT DISTINCT shard FROM certificates INDEXED BY certificates_revoked \
    WHERE ca = ?1 AND revoked_at IS NOT NULL ORDER BY shard";

pub(crate) fn shards_in_use(conn: &Connection, ca: &CaName) -> Result<Vec<u32>, StoreError> {
    conn.prepare_cached(SHARDS)
        .and_then(|mut s| {
            s.query_map(params![ca.as_str()], |r| r.get::<_, u32>(0))?
                .collect()
        })
        .map_err(sql_error("listing CRL partitions"))
}

const CRL_COLUMNS: &str =
    "shard, number, delta_base, revocation_seq, this_update, next_update, entries";
const LATEST_CRLS: &str = "SELECT shard, number, delta_base, revocation_seq, this_update, \
        next_update, entries, der \
    FROM crls WHERE id IN (SELECT MAX(id) FROM crls WHERE ca = ?1 \
                           GROUP BY shard, delta_base IS NULL) \
    ORDER BY shard, number";

pub(crate) fn latest_crls(conn: &Connection, ca: &CaName) -> Result<Vec<CrlRecord>, StoreError> {
    crls(conn, ca, LATEST_CRLS, None, true)
}

pub(crate) fn list_crls(
    conn: &Connection,
    ca: &CaName,
    limit: u32,
) -> Result<Vec<CrlRecord>, StoreError> {
    let sql = format!(
        "SELECT {CRL_COLUMNS} FROM crls WHERE ca = ?1 ORDER BY this_update DESC, id DESC LIMIT ?2"
    );
    crls(conn, ca, &sql, Some(limit), false)
}

fn crls(
    conn: &Connection,
    ca: &CaName,
    sql: &str,
    limit: Option<u32>,
    with_der: bool,
) -> Result<Vec<CrlRecord>, StoreError> {
    type Raw = (u32, i64, Option<i64>, i64, i64, i64, i64, Vec<u8>);
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(sql_error("reading CRLs"))?;
    let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Raw> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            if with_der { r.get(7)? } else { Vec::new() },
        ))
    };
    let raw: Vec<Raw> = match limit {
        Some(limit) => stmt.query_map(params![ca.as_str(), limit], map),
        None => stmt.query_map(params![ca.as_str()], map),
    }
    .and_then(|rows| rows.collect())
    .map_err(sql_error("reading CRLs"))?;
    raw.into_iter()
        .map(
            |(shard, number, base, seq, this_update, next_update, entries, der)| {
                let unsigned = |v: i64, column: &str| {
                    u64::try_from(v).map_err(|_| corrupt("crls", number, column, "negative"))
                };
                Ok(CrlRecord {
                    ca: ca.clone(),
                    shard,
                    number: unsigned(number, "number")?,
                    delta_base: base.map(|b| unsigned(b, "delta_base")).transpose()?,
                    revocation_seq: unsigned(seq, "revocation_seq")?,
                    this_update: time_column("crls", number, "this_update", this_update)?,
                    next_update: time_column("crls", number, "next_update", next_update)?,
                    entries: unsigned(entries, "entries")?,
                    der,
                })
            },
        )
        .collect()
}

const STATUS: &str = "SELECT revoked_at, revocation_reason, invalidity_date, \
        revocation_changed_at, not_after \
    FROM certificates WHERE ca = ?1 AND serial = ?2";

pub(crate) fn certificate_status(
    conn: &Connection,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<CertificateStatus>, StoreError> {
    type Raw = (Option<i64>, Option<i64>, Option<i64>, Option<i64>, i64);
    let raw: Option<Raw> = conn
        .prepare_cached(STATUS)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), serial.to_hex()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(sql_error("reading a certificate's status"))?;
    let Some((at, reason, invalidity, changed, not_after)) = raw else {
        return Ok(None);
    };
    let (revocation, _) = decode(serial, (at, reason, invalidity, changed))?;
    Ok(Some(CertificateStatus {
        revocation,
        not_after: time_column("certificates", 0, "not_after", not_after)?,
    }))
}

/// Stores the sealed key of the responder certificate `req` carries, replacing the CA's
/// previous responder key. Runs on the writer thread, in the transaction that records the
/// certificate.
pub(crate) fn store_responder_key(
    conn: &Connection,
    req: &signet_core::NewRequest,
    key: &signet_core::revocation::SealedKey,
) -> Result<(), StoreError> {
    let cert = req.certificate.as_ref().ok_or_else(|| {
        StoreError::Backend("a responder key needs the responder certificate".into())
    })?;
    conn.prepare_cached(
        "INSERT INTO responder_keys (ca, serial, sealed) VALUES (?1, ?2, ?3) \
         ON CONFLICT (ca) DO UPDATE SET serial = excluded.serial, sealed = excluded.sealed",
    )
    .and_then(|mut s| {
        s.execute(params![
            req.ca.as_str(),
            cert.serial.to_hex(),
            key.as_bytes()
        ])
    })
    .map(drop)
    .map_err(sql_error("storing the OCSP responder key"))
}

const CURRENT_RESPONDER: &str = "SELECT c.serial, c.der, c.not_before, c.not_after, k.sealed \
    FROM responder_keys k JOIN certificates c ON c.ca = k.ca AND c.serial = k.serial \
    WHERE k.ca = ?1 AND c.revoked_at IS NULL AND c.not_after > ?2";

/// The CA's responder certificate with its stored key, unless it is revoked (or on hold) or
/// expired at `now`.
pub(crate) fn current_responder(
    conn: &Connection,
    ca: &CaName,
    now: SystemTime,
) -> Result<Option<signet_core::store::StoredResponder>, StoreError> {
    type Raw = (String, Vec<u8>, i64, i64, Vec<u8>);
    let now = to_unix(now)?;
    let raw: Option<Raw> = conn
        .prepare_cached(CURRENT_RESPONDER)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(sql_error("reading the OCSP responder key"))?;
    let Some((serial, der, not_before, not_after, sealed)) = raw else {
        return Ok(None);
    };
    let sealed = signet_core::revocation::SealedKey::new(sealed);
    let parsed: SerialNumber = serial
        .parse()
        .map_err(|e| corrupt("responder_keys", ca.as_str(), "serial", &format!("{e}")))?;
    Ok(Some(signet_core::store::StoredResponder {
        serial: parsed,
        certificate: der,
        not_before: time_column("certificates", 0, "not_before", not_before)?,
        not_after: time_column("certificates", 0, "not_after", not_after)?,
        sealed_key: sealed,
    }))
}
