//! Revocation: the changes (revoke, hold, release: each numbered by the CA's revocation
//! sequence inside its transaction) and CRLs, written on the writer thread; the reads behind
//! CRLs and OCSP: revoked certificates by partition (one snapshot, with the revocation
//! sequence number it reflects), stored CRLs, and one certificate's status; and the
//! delegated OCSP responder's stored key (written with its certificate on the writer thread,
//! read back at start).

use std::time::SystemTime;

use signet_core::{
    CaName, CertificateStatus, CrlRecord, NewCrl, RevocationChange, RevokedQuery, RevokedRow,
    RevokedScan, SerialNumber, StoreError,
};

use crate::codec::{corrupt, seq_to_sql, to_unix};
use crate::db::{Db, Dialect, begin_snapshot, end_snapshot, query_one, query_values};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_all, query_each, query_opt, select};

// ---- Reads --------------------------------------------------------------------------------

impl FromRow for RevokedRow {
    // Exactly what the covering index `certificates_revoked` holds.
    const COLUMNS: &'static str = "serial, revoked_at, revocation_reason, invalidity_date, \
        revocation_changed_at";
    const TABLE: &'static str = "certificates";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<RevokedRow, StoreError> {
        let serial = c.serial("serial")?;
        c.key(serial);
        let revocation = c.revocation()?;
        let changed_at = c.opt_time("revocation_changed_at")?;
        Ok(RevokedRow {
            serial,
            changed_at: changed_at
                .unwrap_or_else(|| revocation.as_ref().map_or(SystemTime::UNIX_EPOCH, |r| r.at)),
            revocation,
        })
    }
}

const MAX_SEQ: &str = "SELECT MAX(revocation_seq) FROM certificates \
    WHERE ca = ?1 AND revocation_seq IS NOT NULL";
// Served by the covering partial index `certificates_revoked`, in serial order.
static FULL: Statement = Statement::new(|| {
    select::<RevokedRow>(
        "FROM certificates INDEXED BY certificates_revoked \
         WHERE ca = ?1 AND shard = ?2 AND revoked_at IS NOT NULL AND not_after >= ?3 \
         ORDER BY serial",
    )
});
static DELTA: Statement = Statement::new(|| {
    select::<RevokedRow>(
        "FROM certificates \
         WHERE ca = ?1 AND revocation_seq > ?2 AND revocation_seq IS NOT NULL AND shard = ?3 \
           AND not_after >= ?4 \
         ORDER BY serial",
    )
});

/// Scans one partition in one read transaction, so the rows and the sequence number agree:
/// a change committed after the snapshot has a higher number and is in the next delta.
pub(crate) fn scan_revoked(conn: &dyn Db, q: &RevokedQuery) -> Result<RevokedScan, StoreError> {
    let mut rows = Vec::new();
    let revocation_seq = scan_revoked_into(conn, q, &mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(RevokedScan {
        rows,
        revocation_seq,
    })
}

/// The scan of [`scan_revoked`], each row handed to `each` as it is read, in one snapshot;
/// answers the highest revocation sequence number it saw.
pub(crate) fn scan_revoked_into(
    conn: &dyn Db,
    q: &RevokedQuery,
    each: &mut dyn FnMut(RevokedRow) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    begin_snapshot(conn)?;
    let result = scan_in_snapshot(conn, q, each);
    end_snapshot(conn);
    result
}

fn scan_in_snapshot(
    conn: &dyn Db,
    q: &RevokedQuery,
    each: &mut dyn FnMut(RevokedRow) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let seq: Option<i64> = query_one(
        conn,
        MAX_SEQ,
        &params![q.ca.as_str()],
        "reading the revocation sequence",
    )?;
    let revocation_seq = u64::try_from(seq.unwrap_or(0))
        .map_err(|_| corrupt("certificates", q.ca.as_str(), "revocation_seq", "negative"))?;
    let expired_before = to_unix(q.expired_before)?;
    match q.changed_after {
        None => query_each(
            conn,
            &FULL,
            &params![q.ca.as_str(), q.shard, expired_before],
            "scanning revoked certificates",
            each,
        )?,
        Some(after) => query_each(
            conn,
            &DELTA,
            &params![
                q.ca.as_str(),
                seq_to_sql(after, "revocation sequence")?,
                q.shard,
                expired_before
            ],
            "scanning revocation changes",
            each,
        )?,
    }
    Ok(revocation_seq)
}

// From the covering partial index of revoked certificates: no scan of the certificates
// table (a full scan of a large CA's certificates at every start would cost seconds).
const SHARDS: &str = "SELECT DISTINCT shard FROM certificates INDEXED BY certificates_revoked \
    WHERE ca = ?1 AND revoked_at IS NOT NULL ORDER BY shard";

pub(crate) fn shards_in_use(conn: &dyn Db, ca: &CaName) -> Result<Vec<u32>, StoreError> {
    query_values(
        conn,
        SHARDS,
        &params![ca.as_str()],
        "listing CRL partitions",
    )
}

impl FromRow for CrlRecord {
    const COLUMNS: &'static str = "ca, shard, number, delta_base, revocation_seq, this_update, \
        next_update, entries, der";
    const TABLE: &'static str = "crls";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<CrlRecord, StoreError> {
        let ca = c.ca("ca")?;
        let shard = c.next("shard")?;
        let number = c.unsigned("number")?;
        c.key(number);
        Ok(CrlRecord {
            ca,
            shard,
            number,
            delta_base: c.opt_unsigned("delta_base")?,
            revocation_seq: c.unsigned("revocation_seq")?,
            this_update: c.time("this_update")?,
            next_update: c.time("next_update")?,
            entries: c.unsigned("entries")?,
            der: c.next("der")?,
        })
    }
}

static LATEST_CRLS: Statement = Statement::new(|| {
    select::<CrlRecord>(
        "FROM crls WHERE id IN (SELECT MAX(id) FROM crls WHERE ca = ?1 \
                                GROUP BY shard, delta_base IS NULL) \
         ORDER BY shard, number",
    )
});
// Listings leave the DER out: the select list ends with an empty blob in its place.
/// The CRLs without their DER (an empty value in its place: a list of a large CA's CRLs
/// would otherwise read megabytes), as each dialect writes empty bytes.
fn list_crls_sql(dialect: Dialect) -> &'static str {
    static SQLITE: Statement = Statement::new(|| list_crls_with("x''"));
    static POSTGRES: Statement = Statement::new(|| list_crls_with("''::bytea"));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

fn list_crls_with(empty: &str) -> String {
    let columns = CrlRecord::COLUMNS.replace(", der", &format!(", {empty}"));
    format!("SELECT {columns} FROM crls WHERE ca = ?1 ORDER BY this_update DESC, id DESC LIMIT ?2")
}

pub(crate) fn latest_crls(conn: &dyn Db, ca: &CaName) -> Result<Vec<CrlRecord>, StoreError> {
    query_all(conn, &LATEST_CRLS, &params![ca.as_str()], "reading CRLs")
}

pub(crate) fn list_crls(
    conn: &dyn Db,
    ca: &CaName,
    limit: u32,
) -> Result<Vec<CrlRecord>, StoreError> {
    query_all(
        conn,
        list_crls_sql(conn.dialect()),
        &params![ca.as_str(), limit],
        "reading CRLs",
    )
}

impl FromRow for CertificateStatus {
    const COLUMNS: &'static str = "serial, revoked_at, revocation_reason, invalidity_date, \
        not_after, shard";
    const TABLE: &'static str = "certificates";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<CertificateStatus, StoreError> {
        let serial = c.serial("serial")?;
        c.key(serial);
        Ok(CertificateStatus {
            revocation: c.revocation()?,
            not_after: c.time("not_after")?,
            shard: c.next("shard")?,
        })
    }
}

static STATUS: Statement = Statement::new(|| {
    select::<CertificateStatus>("FROM certificates WHERE ca = ?1 AND serial = ?2")
});

pub(crate) fn certificate_status(
    conn: &dyn Db,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<CertificateStatus>, StoreError> {
    query_opt(
        conn,
        &STATUS,
        &params![ca.as_str(), serial.to_hex()],
        "reading a certificate's status",
    )
}

/// Stores the sealed key of the responder certificate `req` carries, replacing the CA's
/// previous responder key. Runs on the writer thread, in the transaction that records the
/// certificate.
pub(crate) fn store_responder_key(
    conn: &dyn Db,
    req: &signet_core::NewRequest,
    key: &signet_core::revocation::SealedKey,
) -> Result<(), StoreError> {
    let cert = req.certificate.as_ref().ok_or_else(|| {
        StoreError::Backend("a responder key needs the responder certificate".into())
    })?;
    conn.execute(
        "INSERT INTO responder_keys (ca, serial, sealed) VALUES (?1, ?2, ?3) \
         ON CONFLICT (ca) DO UPDATE SET serial = excluded.serial, sealed = excluded.sealed",
        &params![req.ca.as_str(), cert.serial.to_hex(), key.as_bytes()],
        "storing the OCSP responder key",
    )
    .map(drop)
}

impl FromRow for signet_core::store::StoredResponder {
    const COLUMNS: &'static str = "c.serial, c.der, c.not_before, c.not_after, k.sealed";
    const TABLE: &'static str = "responder_keys";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<Self, StoreError> {
        let serial = c.serial("serial")?;
        c.key(serial);
        Ok(signet_core::store::StoredResponder {
            serial,
            certificate: c.next("der")?,
            not_before: c.time("not_before")?,
            not_after: c.time("not_after")?,
            sealed_key: signet_core::revocation::SealedKey::new(c.next("sealed")?),
        })
    }
}

static CURRENT_RESPONDER: Statement = Statement::new(|| {
    select::<signet_core::store::StoredResponder>(
        "FROM responder_keys k JOIN certificates c ON c.ca = k.ca AND c.serial = k.serial \
         WHERE k.ca = ?1 AND c.revoked_at IS NULL AND c.not_after > ?2",
    )
});

/// The CA's responder certificate with its stored key, unless it is revoked (or on hold) or
/// expired at `now`.
pub(crate) fn current_responder(
    conn: &dyn Db,
    ca: &CaName,
    now: SystemTime,
) -> Result<Option<signet_core::store::StoredResponder>, StoreError> {
    query_opt(
        conn,
        &CURRENT_RESPONDER,
        &params![ca.as_str(), to_unix(now)?],
        "reading the OCSP responder key",
    )
}

// ---- Writes (on the writer thread) --------------------------------------------------------

const CHANGE_REVOCATION: &str = "UPDATE certificates \
    SET revoked_at = ?1, revocation_reason = ?2, invalidity_date = ?3, revocation_changed_at = ?9, \
        revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates \
                          WHERE ca = ?4 AND revocation_seq IS NOT NULL) \
    WHERE ca = ?4 AND serial = ?5 AND request_id = ?6 \
      AND revoked_at IS NOT DISTINCT FROM ?7 \
      AND revocation_reason IS NOT DISTINCT FROM ?8";
const SET_STATUS: &str =
    "UPDATE requests SET status = ?1, version = version + 1 WHERE id = ?2 AND ca = ?3";

pub(crate) fn change_revocation(conn: &dyn Db, c: &RevocationChange) -> Result<(), StoreError> {
    let parts = |r: &Option<signet_core::Revocation>| -> Result<_, StoreError> {
        Ok(match r {
            Some(r) => (
                Some(to_unix(r.at)?),
                Some(i64::from(r.reason.code())),
                r.invalidity_date.map(to_unix).transpose()?,
            ),
            None => (None, None, None),
        })
    };
    let (new_at, new_reason, new_invalidity) = parts(&c.new)?;
    let (old_at, old_reason, _) = parts(&c.expect)?;
    let serial = c.serial.to_hex();
    let changed_at = to_unix(c.changed_at)?;
    let changed = conn.execute(
        CHANGE_REVOCATION,
        &params![
            new_at,
            new_reason,
            new_invalidity,
            c.ca.as_str(),
            serial,
            c.request_id.get(),
            old_at,
            old_reason,
            changed_at,
        ],
        "changing a revocation",
    )?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "certificate {serial} of CA {} changed meanwhile",
            c.ca
        )));
    }
    conn.execute(
        SET_STATUS,
        &params![c.status.as_str(), c.request_id.get(), c.ca.as_str()],
        "updating a request's status",
    )?;
    crate::outbox::insert_events(conn, &c.ca, Some(c.request_id.get()), &c.events)?;
    crate::audit::append_records(conn, &c.audit)?;
    Ok(())
}

const INSERT_CRL: &str = "INSERT INTO crls \
    (ca, shard, number, delta_base, revocation_seq, this_update, next_update, entries, der) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/// [`INSERT_CRL`] with a zero-filled DER of length ?9, written in place after
/// ([`Db::write_blob`]).
const INSERT_CRL_IN_PLACE: &str = "INSERT INTO crls \
    (ca, shard, number, delta_base, revocation_seq, this_update, next_update, entries, der) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, zeroblob(?9)) RETURNING id";
/// The newest CRLs of each kind kept per partition; older ones are dropped when a new one is
/// stored (a million-entry CRL is tens of megabytes).
const KEEP_CRLS: i64 = 3;
const PRUNE_CRLS: &str = "DELETE FROM crls WHERE ca = ?1 AND shard = ?2 \
      AND (CASE WHEN delta_base IS NULL THEN 1 ELSE 0 END) = ?3 \
      AND id NOT IN (SELECT id FROM crls WHERE ca = ?1 AND shard = ?2 \
                     AND (CASE WHEN delta_base IS NULL THEN 1 ELSE 0 END) = ?3 \
                     ORDER BY number DESC LIMIT ?4)";

pub(crate) fn store_crl(conn: &dyn Db, c: &NewCrl) -> Result<(), StoreError> {
    let number = seq_to_sql(c.number, "CRL number")?;
    let base = c
        .delta_base
        .map(|b| seq_to_sql(b, "CRL number"))
        .transpose()?;
    let revocation_seq = seq_to_sql(c.revocation_seq, "revocation sequence")?;
    let entries = seq_to_sql(c.entries, "CRL entries")?;
    let (this_update, next_update) = (to_unix(c.this_update)?, to_unix(c.next_update)?);
    let recorded = if conn.writes_blobs_in_place() {
        // The DER written in place, page by page: no whole copies of a large CRL.
        let len = i64::try_from(c.der.len())
            .map_err(|_| StoreError::Backend("recording a CRL: too large".into()))?;
        crate::db::insert_id(
            conn,
            INSERT_CRL_IN_PLACE,
            &params![
                c.ca.as_str(),
                c.shard,
                number,
                base,
                revocation_seq,
                this_update,
                next_update,
                entries,
                len,
            ],
            "recording a CRL",
        )
        .and_then(|id| conn.write_blob("crls", "der", id, c.der.as_slice(), "writing a CRL"))
    } else {
        conn.execute(
            INSERT_CRL,
            &params![
                c.ca.as_str(),
                c.shard,
                number,
                base,
                revocation_seq,
                this_update,
                next_update,
                entries,
                c.der.as_slice(),
            ],
            "recording a CRL",
        )
        .map(drop)
    };
    recorded.map_err(|e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "CRL number {} of CA {} partition {} is already recorded",
            c.number, c.ca, c.shard
        )),
        other => other,
    })?;
    conn.execute(
        PRUNE_CRLS,
        &params![c.ca.as_str(), c.shard, base.is_none(), KEEP_CRLS],
        "dropping old CRLs",
    )?;
    crate::outbox::insert_events(conn, &c.ca, None, &c.events)?;
    crate::audit::append_records(conn, &c.audit)?;
    Ok(())
}
