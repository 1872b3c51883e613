//! Bulk rows for benchmarks (`signet bench crl`): a million revoked certificates are not
//! something to push through the API one revocation at a time. Not for production use: it
//! writes directly, bypassing the writer thread, the outbox and the audit log.

use std::path::Path;
use std::time::SystemTime;

use rusqlite::{Connection, params};
use signet_core::StoreError;

use crate::codec::{sql_error, to_unix};

/// Inserts `count` revoked certificates of `ca` (with one placeholder request) in one
/// transaction, spread over shards `0..shards.max(1)`: reasons cycle through the RFC 5280
/// codes, every tenth has an invalidity date. The store must not be open meanwhile.
pub fn fill_revoked(path: &Path, ca: &str, count: u64, shards: u32) -> Result<(), StoreError> {
    let mut conn = Connection::open(path).map_err(sql_error("opening the database"))?;
    let now = to_unix(SystemTime::now())?;
    let tx = conn
        .transaction()
        .map_err(sql_error("starting the bulk transaction"))?;
    tx.execute(
        "INSERT INTO requests (ca, status, format, raw, requester, profile, subject, \
         submitted_at, resolved_at, message) \
         VALUES (?1, 'revoked', 'bench', x'', 'bench', NULL, 'CN=bench', ?2, ?2, 'bench')",
        params![ca, now],
    )
    .map_err(sql_error("inserting the bench request"))?;
    let request_id = tx.last_insert_rowid();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, \
                 not_before, not_after, revoked_at, revocation_reason, invalidity_date, \
                 shard, revocation_seq, revocation_changed_at) \
                 VALUES (?1, ?2, ?3, x'30', 'CN=bench', '[]', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6)",
            )
            .map_err(sql_error("preparing the bulk insert"))?;
        const REASONS: [i64; 6] = [0, 1, 3, 4, 5, 6];
        for i in 0..count {
            // A serial like the CA's own: 20 octets, first in 0x01..=0x7f, distinct.
            let mut serial = [0u8; 20];
            serial[0] = 0x40 | (i % 0x3f) as u8;
            serial[12..20].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            serial[4..12].copy_from_slice(&i.to_be_bytes());
            let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
            let n = i64::try_from(i).unwrap_or(i64::MAX);
            let revoked_at = now - 86_400 + n % 86_400;
            let invalidity = (i % 10 == 0).then_some(revoked_at - 3600);
            let shard = (i % u64::from(shards.max(1))) as i64;
            insert
                .execute(params![
                    ca,
                    hex,
                    request_id,
                    now - 2 * 86_400,
                    now + 90 * 86_400,
                    revoked_at,
                    REASONS[(i % 6) as usize],
                    invalidity,
                    shard,
                    n + 1,
                ])
                .map_err(sql_error("inserting a bench certificate"))?;
        }
    }
    tx.commit().map_err(sql_error("committing the bulk insert"))
}
