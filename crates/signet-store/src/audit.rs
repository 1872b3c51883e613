//! The hash-chained audit log.
//!
//! Each record is linked to the one before it:
//!
//! ```text
//! hash(n) = SHA-256( "signet-audit-v1" 0x00
//!                    || seq (u64, big-endian) || at (i64, big-endian)
//!                    || field(actor) || field(action) || opt_field(ca) || field(target)
//!                    || field(details) || hash(n-1) )
//! field(s) = length (u32, big-endian) || UTF-8 bytes;  opt_field = 0x00 | 0x01 || field
//! hash(0)  = 32 zero bytes
//! ```
//!
//! Records are appended only by the writer thread, inside the transaction of the change they
//! describe, so the chain order is the commit order. `verify` walks the table by `seq` and
//! reports the first record whose sequence number, back-link or hash does not hold: an edited
//! row fails its own hash, a deleted row leaves a gap and a broken back-link, a reordered pair
//! fails both. (Cutting records off the end leaves a shorter chain that still verifies; an
//! external anchor — the exported log, or the head hash kept elsewhere — is what catches that.)

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use signet_core::{AuditCheck, AuditRecord, AuditTarget, NewAudit, StoreError};

use crate::codec::{from_unix, sql_error, to_unix};

const DOMAIN: &[u8] = b"signet-audit-v1\0";
const GENESIS: [u8; 32] = [0; 32];

const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
const INSERT: &str = "INSERT INTO audit \
    (seq, at, actor, action, ca, target, details, prev_hash, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
pub(crate) const SELECT: &str =
    "SELECT seq, at, actor, action, ca, target, details, prev_hash, hash FROM audit ";

/// The stored form of a target. `this_request` is the id of the request being created in the
/// same write, for [`AuditTarget::ThisRequest`].
pub(crate) fn target_text(record: &NewAudit, this_request: Option<i64>) -> String {
    let ca = record.ca.as_ref().map_or("", |c| c.as_str());
    match &record.target {
        AuditTarget::None => String::new(),
        AuditTarget::ThisRequest => match this_request {
            Some(id) => format!("{ca}/request/{id}"),
            None => String::new(),
        },
        AuditTarget::Request(id) => format!("{ca}/request/{id}"),
        AuditTarget::Certificate(serial) => format!("{ca}/certificate/{}", serial.to_hex()),
        AuditTarget::Other(s) => s.clone(),
    }
}

/// Appends one record at the head of the chain, on the writer's open transaction.
pub(crate) fn append(
    conn: &Connection,
    record: &NewAudit,
    this_request: Option<i64>,
) -> Result<(), StoreError> {
    let head: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(HEAD)
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_error("reading the audit head"))?;
    let (seq, prev) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_vec()),
    };
    let at = to_unix(record.at)?;
    let target = target_text(record, this_request);
    let ca = record.ca.as_ref().map(|c| c.as_str());
    let hash = link_hash(
        seq,
        at,
        &record.actor,
        &record.action,
        ca,
        &target,
        &record.details,
        &prev,
    );
    conn.prepare_cached(INSERT)
        .and_then(|mut s| {
            s.execute(params![
                seq,
                at,
                record.actor,
                record.action,
                ca,
                target,
                record.details,
                prev,
                hash.as_slice()
            ])
        })
        .map_err(sql_error("appending an audit record"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn link_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    ca: Option<&str>,
    target: &str,
    details: &str,
    prev: &[u8],
) -> [u8; 32] {
    let mut buf = Vec::with_capacity(128 + details.len());
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&at.to_be_bytes());
    for field in [actor, action] {
        push_field(&mut buf, field);
    }
    match ca {
        Some(ca) => {
            buf.push(1);
            push_field(&mut buf, ca);
        }
        None => buf.push(0),
    }
    push_field(&mut buf, target);
    push_field(&mut buf, details);
    buf.extend_from_slice(prev);
    signet_x509::sha256(&buf)
}

fn push_field(buf: &mut Vec<u8>, s: &str) {
    // Fields are bounded far below 4 GiB (request bodies are limited); saturate rather than
    // wrap if one ever were not.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// One stored row, as read (before checking).
pub(crate) fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        ca: r.get(4)?,
        target: r.get(5)?,
        details: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

pub(crate) struct RawRecord {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    ca: Option<String>,
    target: String,
    details: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl RawRecord {
    pub(crate) fn into_record(self) -> Result<AuditRecord, StoreError> {
        let bad = |what: &str| crate::codec::corrupt("audit", self.seq, what, "out of range");
        Ok(AuditRecord {
            seq: u64::try_from(self.seq).map_err(|_| bad("seq"))?,
            at: from_unix(self.at).ok_or_else(|| bad("at"))?,
            actor: self.actor,
            action: self.action,
            ca: self.ca,
            target: self.target,
            details: self.details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Walks the whole chain in `seq` order.
pub(crate) fn verify(conn: &Connection) -> Result<AuditCheck, StoreError> {
    let mut stmt = conn
        .prepare(&format!("{SELECT}ORDER BY seq"))
        .map_err(sql_error("reading the audit log"))?;
    let rows = stmt
        .query_map([], record_from_row)
        .map_err(sql_error("reading the audit log"))?;
    let mut prev = GENESIS.to_vec();
    let mut records = 0u64;
    for (expected_seq, row) in (1_i64..).zip(rows) {
        let r = row.map_err(sql_error("reading an audit record"))?;
        records += 1;
        let broken = |why: String| {
            Ok(AuditCheck {
                records,
                first_broken: Some((u64::try_from(r.seq).unwrap_or(0), why)),
            })
        };
        if r.seq != expected_seq {
            return broken(format!(
                "expected record {expected_seq} here, found {} (a record was deleted or moved)",
                r.seq
            ));
        }
        if r.prev_hash != prev {
            return broken(
                "its back-link does not match the previous record's hash (a record before it was deleted, replaced or reordered)".into(),
            );
        }
        let hash = link_hash(
            r.seq,
            r.at,
            &r.actor,
            &r.action,
            r.ca.as_deref(),
            &r.target,
            &r.details,
            &r.prev_hash,
        );
        if r.hash != hash {
            return broken("its contents do not match its hash (the record was edited)".into());
        }
        prev = r.hash;
    }
    Ok(AuditCheck {
        records,
        first_broken: None,
    })
}

/// Verifies the audit chain of a database file directly (server stopped, or a copy), read
/// only: `signet audit verify --data DIR`.
pub fn verify_file(path: &Path) -> Result<AuditCheck, StoreError> {
    if !path.exists() {
        return Err(StoreError::Backend(format!(
            "no database at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    verify(&conn)
}

/// Every audit record of a database file, in order (offline export).
pub fn export_file(
    path: &Path,
    mut each: impl FnMut(AuditRecord) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    let mut stmt = conn
        .prepare(&format!("{SELECT}ORDER BY seq"))
        .map_err(sql_error("reading the audit log"))?;
    let rows = stmt
        .query_map([], record_from_row)
        .map_err(sql_error("reading the audit log"))?;
    let mut n = 0;
    for row in rows {
        let record = row
            .map_err(sql_error("reading an audit record"))?
            .into_record()?;
        each(record).map_err(|e| StoreError::Backend(format!("writing the export: {e}")))?;
        n += 1;
    }
    Ok(n)
}
