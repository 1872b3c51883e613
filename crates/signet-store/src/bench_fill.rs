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
            let hex = bench_serial(0x40, i);
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

/// Rows per transaction in [`fill_issued`]: the WAL stays small, and a killed fill keeps
/// what it committed.
const FILL_BATCH: u64 = 250_000;

/// Inserts `count` issued requests of `ca`, each with its certificate, as a store that has
/// issued for 90 days looks: issuance spread evenly over the last 90 days, each certificate
/// valid 90 days from its issue, one in ten revoked, one in fifty requests pending and one
/// in fifty denied (without a certificate). The CSR and DER are one-byte placeholders: the
/// reads this measures at scale (start, dashboard, queues, CRL scans) never parse them.
/// The running counts (`ca_counts`) are kept by the schema's triggers as for any write.
/// The store must not be open meanwhile.
pub fn fill_issued(path: &Path, ca: &str, count: u64) -> Result<(), StoreError> {
    let mut conn = Connection::open(path).map_err(sql_error("opening the database"))?;
    let now = to_unix(SystemTime::now())?;
    let first_id: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) FROM requests", [], |r| {
            r.get(0)
        })
        .map_err(sql_error("reading the last request id"))?;
    let span = 90 * 86_400i64;
    let mut i = 0u64;
    while i < count {
        let tx = conn
            .transaction()
            .map_err(sql_error("starting a bulk transaction"))?;
        {
            let mut request = tx
                .prepare(
                    "INSERT INTO requests (id, ca, status, format, raw, requester, profile, \
                     subject, submitted_at, resolved_at, message) \
                     VALUES (?1, ?2, ?3, 'pkcs10', x'30', 'bench', 'server', ?4, ?5, ?6, NULL)",
                )
                .map_err(sql_error("preparing the bulk requests"))?;
            let mut certificate = tx
                .prepare(
                    "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, \
                     not_before, not_after, revoked_at, revocation_reason, shard, \
                     revocation_seq, revocation_changed_at) \
                     VALUES (?1, ?2, ?3, x'30', ?4, '[]', ?5, ?6, ?7, ?8, 0, ?9, ?7)",
                )
                .map_err(sql_error("preparing the bulk certificates"))?;
            let end = (i + FILL_BATCH).min(count);
            for k in i..end {
                let n = i64::try_from(k).unwrap_or(i64::MAX);
                let id = first_id + n + 1;
                let issued_at = now - span + (n * 7919) % span;
                let subject = format!("CN=host-{k}.bench.test");
                let status = match k % 50 {
                    0 => "pending",
                    1 => "denied",
                    _ if k % 10 == 5 => "revoked",
                    _ => "issued",
                };
                let resolved = (status != "pending").then_some(issued_at);
                request
                    .execute(params![id, ca, status, subject, issued_at, resolved])
                    .map_err(sql_error("inserting a bench request"))?;
                if matches!(status, "pending" | "denied") {
                    continue;
                }
                let revoked = (status == "revoked").then_some(issued_at + 3600);
                certificate
                    .execute(params![
                        ca,
                        bench_serial(0x20, id.unsigned_abs()),
                        id,
                        subject,
                        issued_at - 3600,
                        issued_at + span,
                        revoked,
                        revoked.map(|_| 1i64),
                        revoked.map(|_| n + 1),
                    ])
                    .map_err(sql_error("inserting a bench certificate"))?;
            }
            i = end;
        }
        tx.commit().map_err(sql_error("committing a bulk batch"))?;
    }
    Ok(())
}

/// A serial like the CA's own for bench row `i`: 20 octets, the first `first` (0x01..=0x7f
/// with its top bits), distinct per `i`, as 40 hex digits.
fn bench_serial(first: u8, i: u64) -> String {
    let mut serial = [0u8; 20];
    serial[0] = first | (i % 0x1f) as u8;
    serial[4..12].copy_from_slice(&i.to_be_bytes());
    serial[12..20].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    serial.iter().map(|b| format!("{b:02x}")).collect()
}
