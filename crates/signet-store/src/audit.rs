//! The hash-chained audit log, keyed, with signed checkpoints.
//!
//! Each record is linked to the one before it. From the chain key's first sequence number on
//! (see signet-core's `audit` module) the link is keyed:
//!
//! ```text
//! hash(n) = HMAC-SHA256( key, "signet-audit-v2" 0x00 || body(n) )          n >= first_seq
//! hash(n) = SHA-256(          "signet-audit-v1" 0x00 || body(n) )          n <  first_seq
//! body(n) = seq (u64, big-endian) || at (i64, big-endian)
//!           || field(actor) || field(action) || opt_field(ca) || field(target)
//!           || field(details) || hash(n-1)
//! field(s) = length (u32, big-endian) || UTF-8 bytes;  opt_field = 0x00 | 0x01 || field
//! hash(0)  = 32 zero bytes
//! ```
//!
//! Records before `first_seq` are the legacy segment: written before the installation had a
//! key, they stay verifiable, but only as consistent, not as unforgeable. Without a key (a
//! store opened with [`SqlStore::open`](crate::SqlStore::open), as tests do) every record
//! is unkeyed.
//!
//! Records are appended only by the writer thread, inside the transaction of the change they
//! describe, so the chain order is the commit order; the writer thread holds the key
//! ([`use_key_on_this_thread`]). [`verify`] walks the table by `seq` and reports the first
//! record whose sequence number, back-link or hash does not hold: an edited row fails its own
//! hash (and, keyed, cannot be re-hashed without the key), a deleted row leaves a gap, a
//! reordered pair fails both. It then checks every signed checkpoint — stored in
//! `audit_checkpoints` or witnessed outside the database — against the chain: a checkpoint
//! beyond the last record means records were cut off the end, one whose hash differs means
//! the chain was rewritten up to it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::{hmac, signature};
use signet_core::audit::{AuditCheckpoint, AuditReport, CheckpointAnchor, CheckpointBase};
use signet_core::{AuditRecord, AuditTarget, NewAudit, StoreError};

use crate::Database;
use crate::codec::{from_unix, to_unix};
use crate::db::{Db, Param, ToParam, has_table, insert_rows, query_one, query_value};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_all, query_opt, select};

const DOMAIN_V1: &[u8] = b"signet-audit-v1\0";
const DOMAIN_V2: &[u8] = b"signet-audit-v2\0";
const GENESIS: [u8; 32] = [0; 32];

const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
/// Where [`insert_rows`] puts records.
const RECORDS: &str = "audit (seq, at, actor, action, ca, target, details, prev_hash, hash)";
static ALL: Statement = Statement::new(|| select::<AuditRow>("FROM audit ORDER BY seq"));
static AFTER: Statement =
    Statement::new(|| select::<AuditRow>("FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"));
static FOR_TARGET: Statement =
    Statement::new(|| select::<AuditRow>("FROM audit WHERE target = ?1 ORDER BY seq LIMIT 1000"));
static CHECKPOINTS: Statement =
    Statement::new(|| select::<AuditCheckpoint>("FROM audit_checkpoints ORDER BY number"));
static LAST_CHECKPOINT: Statement = Statement::new(|| {
    select::<AuditCheckpoint>("FROM audit_checkpoints ORDER BY number DESC LIMIT 1")
});
const INSERT_CHECKPOINT: &str =
    "INSERT INTO audit_checkpoints (number, seq, hash, at, signature) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The chain key: a 256-bit HMAC-SHA256 key and the first record it links.
#[derive(Clone)]
pub struct ChainKey {
    key: hmac::Key,
    first_seq: u64,
}

impl ChainKey {
    pub fn new(secret: &[u8; 32], first_seq: u64) -> ChainKey {
        ChainKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            first_seq: first_seq.max(1),
        }
    }

    /// The first record linked with this key.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("key", &"<secret>")
            .field("first_seq", &self.first_seq)
            .finish()
    }
}

/// What the store links and checks the audit chain with.
#[derive(Clone, Debug, Default)]
pub struct AuditKeys {
    /// `None`: unkeyed (legacy) links only.
    pub chain: Option<ChainKey>,
    /// The raw Ed25519 public key that checkpoints are signed with; `None`: checkpoint
    /// signatures are not checked (their hashes still are).
    pub checkpoint_public_key: Option<[u8; 32]>,
}

thread_local! {
    /// The chain key of the writer thread (the only thread that appends).
    static WRITER_KEY: RefCell<Option<ChainKey>> = const { RefCell::new(None) };
    /// The chain head as this thread's open write transaction has left it, so a batch
    /// reads the head from the table once, not once per record. Valid only inside that
    /// transaction: the writer forgets it whenever a transaction or savepoint begins or is
    /// rolled back ([`forget_head`]). On PostgreSQL no other node appends meanwhile: every
    /// write transaction holds the cluster's write lock.
    static CACHED_HEAD: RefCell<Option<(i64, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Drops the cached chain head (see `CACHED_HEAD`).
pub(crate) fn forget_head() {
    CACHED_HEAD.with(|h| *h.borrow_mut() = None);
}

/// Gives this thread (the writer) the key that [`append`] links with.
pub(crate) fn use_key_on_this_thread(key: Option<ChainKey>) {
    WRITER_KEY.with(|k| *k.borrow_mut() = key);
}

/// Refuses a key that starts after the end of the log: the records between were deleted (or
/// this is another database). Called at open, before anything is appended.
pub(crate) fn check_key_against_head(
    conn: &dyn Db,
    key: Option<&ChainKey>,
) -> Result<(), StoreError> {
    let Some(key) = key else { return Ok(()) };
    let head = head_seq(conn)?;
    if key.first_seq > head + 1 {
        return Err(StoreError::Backend(format!(
            "the audit key links records from {} on, but the audit log ends at record {head}: \
             records were deleted (or this is not the key's database); run `signet audit verify --data`",
            key.first_seq
        )));
    }
    Ok(())
}

fn head_seq(conn: &dyn Db) -> Result<u64, StoreError> {
    let head: i64 = query_one(
        conn,
        "SELECT coalesce(max(seq), 0) FROM audit",
        &[],
        "reading the audit head",
    )?;
    Ok(u64::try_from(head).unwrap_or(0))
}

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

/// The newest record's sequence number and hash, if there is one.
fn chain_head(conn: &dyn Db) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    query_value(conn, HEAD, &[], "reading the audit head")
}

/// Appends one record at the head of the chain, on the writer's open transaction.
pub(crate) fn append(
    conn: &dyn Db,
    record: &NewAudit,
    this_request: Option<i64>,
) -> Result<(), StoreError> {
    append_all(conn, [(record, this_request)])
}

/// Appends records not about a request created with them ([`append_all`]).
pub(crate) fn append_records(conn: &dyn Db, records: &[NewAudit]) -> Result<(), StoreError> {
    append_all(conn, records.iter().map(|r| (r, None)))
}

/// Appends records at the head of the chain, in order, on the writer's open transaction:
/// linked one after the other here, written with one multi-row INSERT. Each record comes with
/// the id of the request it was created with, if any ([`target_text`]).
pub(crate) fn append_all<'r>(
    conn: &dyn Db,
    records: impl IntoIterator<Item = (&'r NewAudit, Option<i64>)>,
) -> Result<(), StoreError> {
    let mut records = records.into_iter().peekable();
    if records.peek().is_none() {
        return Ok(());
    }
    let mut head = match CACHED_HEAD.with(|h| h.borrow_mut().take()) {
        Some(cached) => Some(cached),
        None => chain_head(conn)?,
    };
    let mut values = Vec::new();
    for (record, this_request) in records {
        let (seq, prev) = match head.take() {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_vec()),
        };
        let at = to_unix(record.at)?;
        let target = target_text(record, this_request);
        let ca = record.ca.as_ref().map(|c| c.as_str());
        let hash = WRITER_KEY.with(|k| {
            let key = k.borrow();
            if let Some(key) = key.as_ref()
                && u64::try_from(seq).is_ok_and(|s| s < key.first_seq)
            {
                // The key was made for a longer log: records were deleted since.
                return Err(StoreError::Backend(format!(
                    "audit record {seq} comes before the audit key's first record {}: records were deleted",
                    key.first_seq
                )));
            }
            Ok(link_hash(
                key.as_ref(),
                seq,
                at,
                &record.actor,
                &record.action,
                ca,
                &target,
                &record.details,
                &prev,
            ))
        })?;
        values.extend([
            Param::Int(seq),
            Param::Int(at),
            record.actor.param(),
            record.action.param(),
            ca.map_or(Param::Null, |c| c.param()),
            Param::Text(target.into()),
            record.details.param(),
            Param::Blob(prev.into()),
            Param::Blob(hash.to_vec().into()),
        ]);
        head = Some((seq, hash.to_vec()));
    }
    insert_rows(conn, RECORDS, 9, &values, "appending audit records")?;
    CACHED_HEAD.with(|h| *h.borrow_mut() = head);
    Ok(())
}

/// The link of record `seq`: keyed from the key's first record on, unkeyed before it.
#[allow(clippy::too_many_arguments)]
fn link_hash(
    key: Option<&ChainKey>,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    ca: Option<&str>,
    target: &str,
    details: &str,
    prev: &[u8],
) -> [u8; 32] {
    let keyed = key.filter(|k| u64::try_from(seq).is_ok_and(|s| s >= k.first_seq));
    let mut buf = Vec::with_capacity(128 + details.len());
    buf.extend_from_slice(if keyed.is_some() {
        DOMAIN_V2
    } else {
        DOMAIN_V1
    });
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
    match keyed {
        Some(k) => {
            let tag = hmac::sign(&k.key, &buf);
            let mut out = [0u8; 32];
            out.copy_from_slice(tag.as_ref());
            out
        }
        None => signet_x509::sha256(&buf),
    }
}

fn push_field(buf: &mut Vec<u8>, s: &str) {
    // Fields are bounded far below 4 GiB (request bodies are limited); saturate rather than
    // wrap if one ever were not.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// One stored row as read, before checking: the link is computed over these raw values,
/// so a row with an impossible value is still reported as a broken link, not an error.
pub(crate) struct AuditRow {
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

impl FromRow for AuditRow {
    const COLUMNS: &'static str = "seq, at, actor, action, ca, target, details, prev_hash, hash";
    const TABLE: &'static str = "audit";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<AuditRow, StoreError> {
        let seq = c.next("seq")?;
        c.key(seq);
        Ok(AuditRow {
            seq,
            at: c.next("at")?,
            actor: c.next("actor")?,
            action: c.next("action")?,
            ca: c.next("ca")?,
            target: c.next("target")?,
            details: c.next("details")?,
            prev_hash: c.next("prev_hash")?,
            hash: c.next("hash")?,
        })
    }
}

impl AuditRow {
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

/// Audit records with `seq > after`, in order, at most `limit`.
pub(crate) fn after(conn: &dyn Db, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    query_all::<AuditRow>(
        conn,
        &AFTER,
        &params![after, i64::from(limit)],
        "reading the audit log",
    )?
    .into_iter()
    .map(AuditRow::into_record)
    .collect()
}

/// Audit records about one target, in order.
pub(crate) fn about(conn: &dyn Db, target: &str) -> Result<Vec<AuditRecord>, StoreError> {
    query_all::<AuditRow>(conn, &FOR_TARGET, &params![target], "reading the audit log")?
        .into_iter()
        .map(AuditRow::into_record)
        .collect()
}

/// Every record in order, streamed to `each` (a chain can be too long to hold); `each`
/// returns `false` to stop.
fn for_each_record(
    conn: &dyn Db,
    mut each: impl FnMut(AuditRow) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    conn.each_row(&ALL, &[], "reading the audit log", &mut |row| {
        each(AuditRow::from_row(&mut Columns::new(row, AuditRow::TABLE))?)
    })
}

/// Walks the whole chain in `seq` order with `keys`, then checks every stored checkpoint and
/// every `witnessed` one (with where it came from) against it.
pub(crate) fn verify(
    conn: &dyn Db,
    keys: &AuditKeys,
    witnessed: &[(String, AuditCheckpoint)],
) -> Result<AuditReport, StoreError> {
    let stored = stored_checkpoints(conn)?;
    let wanted: BTreeSet<u64> = stored
        .iter()
        .chain(witnessed.iter().map(|(_, c)| c))
        .map(|c| c.seq)
        .collect();
    let mut report = AuditReport {
        key_from: keys.chain.as_ref().map(ChainKey::first_seq),
        signatures_checked: keys.checkpoint_public_key.is_some(),
        ..AuditReport::default()
    };
    let (records, head): (i64, i64) = query_value(
        conn,
        "SELECT count(*), coalesce(max(seq), 0) FROM audit",
        &[],
        "reading the audit log",
    )?
    .unwrap_or((0, 0));
    report.records = u64::try_from(records).unwrap_or(0);
    report.head = u64::try_from(head).unwrap_or(0);
    let hashes = walk(conn, keys.chain.as_ref(), &wanted, &mut report)?;
    if let Some(key) = &keys.chain
        && key.first_seq > report.head + 1
    {
        report.problems.push((
            report.head,
            format!(
                "the audit key links records from {} on, but the log ends at record {}: records were deleted",
                key.first_seq, report.head
            ),
        ));
    }
    check_checkpoints(keys, &stored, witnessed, &hashes, &mut report);
    Ok(report)
}

/// Checks the links in order, stopping at the first that does not hold; returns the hashes of
/// the verified records whose sequence numbers are in `wanted`.
fn walk(
    conn: &dyn Db,
    key: Option<&ChainKey>,
    wanted: &BTreeSet<u64>,
    report: &mut AuditReport,
) -> Result<BTreeMap<u64, Vec<u8>>, StoreError> {
    let mut hashes = BTreeMap::new();
    let mut prev = GENESIS.to_vec();
    let mut expected_seq = 0_i64;
    for_each_record(conn, |r| {
        expected_seq += 1;
        let seq = u64::try_from(r.seq).unwrap_or(0);
        let why = if r.seq != expected_seq {
            Some(format!(
                "expected record {expected_seq} here, found {} (a record was deleted or moved)",
                r.seq
            ))
        } else if r.prev_hash != prev {
            Some("its back-link does not match the previous record's hash (a record before it was deleted, replaced or reordered)".to_string())
        } else {
            let hash = link_hash(
                key,
                r.seq,
                r.at,
                &r.actor,
                &r.action,
                r.ca.as_deref(),
                &r.target,
                &r.details,
                &r.prev_hash,
            );
            if hash[..] == r.hash[..] {
                None
            } else if key.is_some_and(|k| seq >= k.first_seq) {
                Some("its contents do not match its keyed hash (the record was edited, or re-hashed without the audit key)".to_string())
            } else {
                Some("its contents do not match its hash (the record was edited)".to_string())
            }
        };
        if let Some(why) = why {
            report.broken = Some((seq, why));
            return Ok(false);
        }
        report.verified_through = seq;
        if wanted.contains(&seq) {
            hashes.insert(seq, r.hash.clone());
        }
        prev = r.hash;
        Ok(true)
    })?;
    Ok(hashes)
}

/// Checks signatures, numbering and hashes of the stored and witnessed checkpoints, and
/// picks the newest one that matches as the anchor.
fn check_checkpoints(
    keys: &AuditKeys,
    stored: &[AuditCheckpoint],
    witnessed: &[(String, AuditCheckpoint)],
    hashes: &BTreeMap<u64, Vec<u8>>,
    report: &mut AuditReport,
) {
    let public = keys
        .checkpoint_public_key
        .map(|k| signature::UnparsedPublicKey::new(&signature::ED25519, k));
    let signed = |c: &AuditCheckpoint| {
        public
            .as_ref()
            .is_none_or(|p| p.verify(c.text().as_bytes(), &c.signature).is_ok())
    };
    let consider = |source: &str, c: &AuditCheckpoint, report: &mut AuditReport| {
        let name = if source == "database" {
            format!("checkpoint #{}", c.number)
        } else {
            format!("checkpoint #{} from {source}", c.number)
        };
        if !signed(c) {
            report.problems.push((
                c.seq,
                format!("{name} does not carry a valid signature of the audit signing key (forged or edited)"),
            ));
            return;
        }
        if c.seq > report.head {
            report.problems.push((
                c.seq,
                format!(
                    "{name} covers record {}, but the log ends at record {}: records were deleted",
                    c.seq, report.head
                ),
            ));
            return;
        }
        match hashes.get(&c.seq) {
            // Beyond a broken link: the break is already reported.
            None => {}
            Some(h) if *h != c.hash => report.problems.push((
                c.seq,
                format!(
                    "record {} does not match {name}: the chain was rewritten up to there",
                    c.seq
                ),
            )),
            Some(_) => {
                let newer = report
                    .anchor
                    .as_ref()
                    .is_none_or(|a| (c.seq, c.number) > (a.seq, a.number));
                if newer {
                    report.anchor = Some(CheckpointAnchor {
                        number: c.number,
                        seq: c.seq,
                        at: c.at,
                        source: if source == "database" {
                            "stored in the database".into()
                        } else {
                            format!("witnessed in {source}")
                        },
                    });
                }
            }
        }
    };
    let mut previous: Option<&AuditCheckpoint> = None;
    for c in stored {
        let expected = previous.map_or(1, |p| p.number + 1);
        if c.number > expected {
            report.problems.push((
                c.seq,
                format!(
                    "checkpoints #{expected} to #{} are missing from the database (deleted)",
                    c.number - 1
                ),
            ));
        } else if c.number < expected {
            report.problems.push((
                c.seq,
                format!(
                    "checkpoint #{} is out of order (#{expected} was expected)",
                    c.number
                ),
            ));
        }
        if let Some(p) = previous
            && (c.seq <= p.seq || c.at < p.at)
        {
            report.problems.push((
                c.seq,
                format!(
                    "checkpoint #{} does not follow checkpoint #{} (its record or time goes backwards)",
                    c.number, p.number
                ),
            ));
        }
        consider("database", c, report);
        previous = Some(c);
    }
    report.checkpoints_stored = stored.len() as u64;
    for (source, c) in witnessed {
        match stored.iter().find(|s| s.number == c.number) {
            Some(s) if s == c => {}
            Some(_) => report.problems.push((
                c.seq,
                format!(
                    "the database's checkpoint #{} differs from the one witnessed in {source}",
                    c.number
                ),
            )),
            None => report.problems.push((
                c.seq,
                format!(
                    "checkpoint #{} witnessed in {source} is missing from the database (deleted)",
                    c.number
                ),
            )),
        }
        consider(source, c, report);
    }
    report.checkpoints_witnessed = witnessed.len() as u64;
}

/// Every stored checkpoint, by number (none when the table does not exist yet: a database
/// from before checkpoints, opened read-only).
fn stored_checkpoints(conn: &dyn Db) -> Result<Vec<AuditCheckpoint>, StoreError> {
    if !has_table(conn, "audit_checkpoints")? {
        return Ok(Vec::new());
    }
    query_all(conn, &CHECKPOINTS, &[], "reading audit checkpoints")
}

impl FromRow for AuditCheckpoint {
    const COLUMNS: &'static str = "number, seq, hash, at, signature";
    const TABLE: &'static str = "audit_checkpoints";

    // Lenient on numbers: an impossible one reads as 0, which verification then reports as
    // a checkpoint out of order rather than failing to verify at all.
    fn from_row(c: &mut Columns<'_, '_>) -> Result<AuditCheckpoint, StoreError> {
        let number: i64 = c.next("number")?;
        c.key(number);
        let seq: i64 = c.next("seq")?;
        let hash = c.next("hash")?;
        let at: i64 = c.next("at")?;
        Ok(AuditCheckpoint {
            number: u64::try_from(number).unwrap_or(0),
            seq: u64::try_from(seq).unwrap_or(0),
            hash,
            at: UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0)),
            signature: c.next("signature")?,
        })
    }
}

/// The chain head and the newest checkpoint (a read).
pub(crate) fn checkpoint_base(conn: &dyn Db) -> Result<CheckpointBase, StoreError> {
    let head = chain_head(conn)?;
    let last = query_opt(
        conn,
        &LAST_CHECKPOINT,
        &[],
        "reading the newest audit checkpoint",
    )?;
    let (head_seq, head_hash) = head.unwrap_or((0, Vec::new()));
    Ok(CheckpointBase {
        head_seq: u64::try_from(head_seq).unwrap_or(0),
        head_hash,
        last,
    })
}

/// Stores a checkpoint on the writer's open transaction, after checking that it names a
/// record as stored.
pub(crate) fn record_checkpoint(conn: &dyn Db, c: &AuditCheckpoint) -> Result<(), StoreError> {
    let seq = i64::try_from(c.seq)
        .map_err(|_| StoreError::Backend("checkpoint seq out of range".into()))?;
    let hash: Option<Vec<u8>> = query_value(
        conn,
        "SELECT hash FROM audit WHERE seq = ?1",
        &params![seq],
        "reading an audit record",
    )?;
    if hash.as_deref() != Some(&c.hash[..]) {
        return Err(StoreError::StateChanged(format!(
            "audit record {} is not the one checkpoint #{} names",
            c.seq, c.number
        )));
    }
    let number = i64::try_from(c.number)
        .map_err(|_| StoreError::Backend("checkpoint number out of range".into()))?;
    conn.execute(
        INSERT_CHECKPOINT,
        &params![number, seq, c.hash, to_unix(c.at).unwrap_or(0), c.signature],
        "recording an audit checkpoint",
    )
    .map_err(|e| match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("audit checkpoint #{} exists", c.number))
        }
        other => other,
    })?;
    Ok(())
}

/// Verifies the audit chain of a database directly (a SQLite file with the server stopped,
/// or a copy; a PostgreSQL database at any time), read only: `signet audit verify --data DIR`.
pub fn verify_database(
    db: &Database,
    keys: &AuditKeys,
    witnessed: &[(String, AuditCheckpoint)],
) -> Result<AuditReport, StoreError> {
    if !db.exists() {
        return Err(StoreError::Backend(format!("no database at {db}")));
    }
    db.with_read_only(|conn| verify(conn, keys, witnessed))
}

/// Whether a database file still holds checkpoint `c` as it was signed: a checkpoint row with
/// its number, record and hash, and that record in the chain. `Some(problem)` when it does
/// not (records or checkpoints were removed, or the file belongs to another database). Read
/// at start against the local witness file, so a server never signs over a cut log.
pub fn check_witness(db: &Database, c: &AuditCheckpoint) -> Result<Option<String>, StoreError> {
    db.with_read_only(|conn| witness_problem(conn, c))
}

fn witness_problem(conn: &dyn Db, c: &AuditCheckpoint) -> Result<Option<String>, StoreError> {
    let (Ok(number), Ok(seq)) = (i64::try_from(c.number), i64::try_from(c.seq)) else {
        return Ok(Some(format!("checkpoint #{} is out of range", c.number)));
    };
    let stored: Option<(i64, Vec<u8>)> = query_value(
        conn,
        "SELECT seq, hash FROM audit_checkpoints WHERE number = ?1",
        &params![number],
        "reading an audit checkpoint",
    )?;
    if stored.as_ref() != Some(&(seq, c.hash.clone())) {
        return Ok(Some(format!(
            "the database does not hold checkpoint #{} (record {}) as it was signed",
            c.number, c.seq
        )));
    }
    let record: Option<Vec<u8>> = query_value(
        conn,
        "SELECT hash FROM audit WHERE seq = ?1",
        &params![seq],
        "reading an audit record",
    )?;
    if record.as_deref() != Some(&c.hash[..]) {
        return Ok(Some(format!(
            "audit record {} that checkpoint #{} covers is missing or changed",
            c.seq, c.number
        )));
    }
    Ok(None)
}

/// The audit head and stored checkpoint count of a database, for deciding whether an
/// installation may create a new audit key (none on a missing file or an old schema).
pub fn anchors_of(db: &Database) -> Result<(u64, u64), StoreError> {
    if !db.exists() {
        return Ok((0, 0));
    }
    db.with_read_only(anchors_in)
}

fn anchors_in(conn: &dyn Db) -> Result<(u64, u64), StoreError> {
    let head = if has_table(conn, "audit")? {
        head_seq(conn)?
    } else {
        0
    };
    let checkpoints: i64 = if has_table(conn, "audit_checkpoints")? {
        query_one(
            conn,
            "SELECT count(*) FROM audit_checkpoints",
            &[],
            "counting audit checkpoints",
        )?
    } else {
        0
    };
    Ok((head, u64::try_from(checkpoints).unwrap_or(0)))
}

/// Every audit record of a database, in order (offline export).
pub fn export(
    db: &Database,
    mut each: impl FnMut(AuditRecord) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    // Read on a thread of its own (see `Database::with_read_only`), write here: `each` may
    // hold this thread's standard output. The bounded channel keeps memory flat.
    let (tx, rx) = std::sync::mpsc::sync_channel::<AuditRecord>(1024);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            db.with_read_only(|conn| {
                for_each_record(conn, |row| Ok(tx.send(row.into_record()?).is_ok()))
            })
        });
        let mut n = 0;
        let mut written = Ok(());
        for record in rx {
            if written.is_ok() {
                written = each(record);
                n += 1;
            }
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(StoreError::Backend("the audit reader panicked".into())))?;
        written.map_err(|e| StoreError::Backend(format!("writing the export: {e}")))?;
        Ok(n)
    })
}
