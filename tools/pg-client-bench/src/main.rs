//! Signet issue 19: which PostgreSQL client crate, measured.
//!
//! One "issuance" is one durable transaction: INSERT a request (RETURNING its BIGSERIAL id),
//! INSERT the certificate referencing it, INSERT one outbox event, append one audit record
//! chained to the previous one (seq + 1, hash = SHA-256(prev_hash || record)), COMMIT.
//! The chain head is a one-row table `audit_head` locked with SELECT ... FOR UPDATE, so
//! concurrent writers (also from other processes) serialise on it.
//!
//! Modes (one per process run, so /proc/self/stat CPU is that mode's alone):
//!   sqlx-plain   sqlx PgPool, one transaction per issuance, one await per statement
//!   tp-plain     tokio-postgres + deadpool-postgres, same statements, one await each
//!   tp-pipe      tokio-postgres, one transaction per issuance, statements pipelined:
//!                2 round trips (BEGIN..head lock | audit, head update, COMMIT)
//!   sqlx-group   sqlx, group commit: a committer task takes every pending issuance into one
//!                transaction (UNNEST multi-row statements), callers wait on a oneshot
//!   tp-group     tokio-postgres, the same group commit, statements pipelined (2 round trips
//!                per batch)
//!   urls         what each crate does with multi-host / target_session_attrs URLs
//!   setup        (re)build the template database (schema, 100k prefilled issuances, ANALYZE);
//!                every run copies it to `bench` first
//!   settings     print the server's durability settings
//!
//! Usage: pgbench MODE [--tasks N] [--secs S] [--warmup S] [--pool P] [--committers C]
//!                     [--max-batch B] [--ping] [--dup-every N] [--no-audit]
//! Server: 127.0.0.1:55432, user `signet`, trust auth (see REPORT.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, mpsc, oneshot};

/// `--no-audit` (plain modes only): leave the audit chain out, to show what it costs.
static NO_AUDIT: AtomicBool = AtomicBool::new(false);
fn no_audit() -> bool {
    NO_AUDIT.load(Ordering::Relaxed)
}

const HOST: &str = "127.0.0.1";
const PORT: u16 = 55432;
const USER: &str = "signet";
const DB: &str = "bench";

// ---------------------------------------------------------------------------------------------
// Schema (close to Signet's SQLite schema, migrations 0001..0004, in PostgreSQL types)

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id            BIGSERIAL PRIMARY KEY,
    ca            TEXT   NOT NULL,
    status        TEXT   NOT NULL CHECK (status IN ('pending','issued','denied','failed','revoked')),
    format        TEXT   NOT NULL,
    raw           BYTEA  NOT NULL,
    requester     TEXT,
    profile       TEXT,
    subject       TEXT   NOT NULL,
    submitted_at  BIGINT NOT NULL,
    resolved_at   BIGINT,
    message       TEXT,
    version       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_ca_status_id ON requests (ca, status, id);
CREATE INDEX IF NOT EXISTS requests_ca_requester ON requests (ca, requester);
CREATE TABLE IF NOT EXISTS certificates (
    id                 BIGSERIAL PRIMARY KEY,
    ca                 TEXT   NOT NULL,
    serial             BYTEA  NOT NULL,
    request_id         BIGINT NOT NULL REFERENCES requests (id),
    der                BYTEA  NOT NULL,
    subject            TEXT   NOT NULL,
    sans               TEXT   NOT NULL,
    not_before         BIGINT NOT NULL,
    not_after          BIGINT NOT NULL,
    spki_sha256        BYTEA  NOT NULL,
    revoked_at         BIGINT,
    revocation_reason  INT,
    UNIQUE (ca, serial)
);
CREATE INDEX IF NOT EXISTS certificates_request_id ON certificates (request_id);
CREATE INDEX IF NOT EXISTS certificates_ca_not_after ON certificates (ca, not_after);
CREATE INDEX IF NOT EXISTS certificates_spki ON certificates (spki_sha256);
CREATE TABLE IF NOT EXISTS outbox (
    seq         BIGSERIAL PRIMARY KEY,
    ca          TEXT   NOT NULL,
    event       INT    NOT NULL CHECK (event > 0),
    request_id  BIGINT REFERENCES requests (id),
    at          BIGINT NOT NULL,
    details     TEXT   NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_ca_seq ON outbox (ca, seq);
CREATE TABLE IF NOT EXISTS audit (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    ca         TEXT,
    target     TEXT   NOT NULL,
    details    TEXT   NOT NULL,
    prev_hash  BYTEA  NOT NULL,
    hash       BYTEA  NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target, seq);
CREATE TABLE IF NOT EXISTS audit_head (
    id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq   BIGINT NOT NULL,
    hash  BYTEA  NOT NULL
);
";

/// Rows already in the database when a run starts: a CA that has issued 100,000 certificates,
/// with fresh planner statistics. (An empty, just-ANALYZEd table makes PostgreSQL plan the
/// foreign-key checks as sequential scans, which then grow with the run: not a real CA.)
const PREFILL: i64 = 100_000;

fn prefill_sql() -> String {
    format!(
        "
INSERT INTO requests (ca, status, format, raw, requester, profile, subject, submitted_at, resolved_at, version)
SELECT 'issuing-ca', 'issued', 'pkcs10', decode(repeat(md5(g::text), 25), 'hex'), 'bench-client', 'tls-server',
       'CN=pre-' || g || '.example.com', 1700000000 + g, 1700000000 + g, 1
FROM generate_series(1, {PREFILL}) g;
INSERT INTO certificates (ca, serial, request_id, der, subject, sans, not_before, not_after, spki_sha256)
SELECT 'issuing-ca', decode(md5('serial' || g) || '00000000', 'hex'), g, decode(repeat(md5('der' || g), 50), 'hex'),
       'CN=pre-' || g || '.example.com', '[\"pre-' || g || '.example.com\"]', 1700000000 + g, 1707776000 + g,
       sha256(convert_to('spki' || g, 'UTF8'))
FROM generate_series(1, {PREFILL}) g;
INSERT INTO outbox (ca, event, request_id, at, details)
SELECT 'issuing-ca', 1, g, 1700000000 + g, '{{\"event\":\"issued\"}}' FROM generate_series(1, {PREFILL}) g;
INSERT INTO audit_head (id, seq, hash) VALUES (TRUE, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000');
"
    )
}

// ---------------------------------------------------------------------------------------------
// Statements. Per-issuance (plain and pipelined):

const INS_REQ: &str = "INSERT INTO requests (ca, status, format, raw, requester, profile, subject, \
     submitted_at, resolved_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
const INS_CERT: &str = "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, \
     not_before, not_after, spki_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const INS_OUTBOX: &str =
    "INSERT INTO outbox (ca, event, request_id, at, details) VALUES ($1, 1, $2, $3, $4) RETURNING seq";
// Pipelined variants: the request id is not known client-side when these are sent, so they use
// the session's currval() of the request sequence (the statements run in order on one session).
const INS_CERT_CURRVAL: &str = "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, \
     not_before, not_after, spki_sha256) \
     VALUES ($1, $2, currval('requests_id_seq'), $3, $4, $5, $6, $7, $8)";
const INS_OUTBOX_CURRVAL: &str = "INSERT INTO outbox (ca, event, request_id, at, details) \
     VALUES ($1, 1, currval('requests_id_seq'), $2, $3) RETURNING seq";
const HEAD_LOCK: &str = "SELECT seq, hash FROM audit_head WHERE id FOR UPDATE";
const INS_AUDIT: &str = "INSERT INTO audit (seq, at, actor, action, ca, target, details, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const UPD_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id";

// Group commit: one statement writes the requests, certificates and outbox rows of the whole
// batch (ids from nextval() in a materialised CTE, returned in input order); one statement
// appends the batch's audit records and moves the head.
const BATCH_MAIN: &str = "
WITH input AS MATERIALIZED (
    SELECT nextval('requests_id_seq') AS id, t.*
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[],
                $8::bigint[], $9::bytea[], $10::bytea[], $11::text[], $12::bigint[], $13::bigint[],
                $14::bytea[], $15::text[])
         WITH ORDINALITY AS t(ca, status, format, raw, requester, profile, subject, at, serial, der,
                              sans, not_before, not_after, spki, details, ord)
),
r AS (
    INSERT INTO requests (id, ca, status, format, raw, requester, profile, subject, submitted_at,
                          resolved_at, version)
    SELECT id, ca, status, format, raw, requester, profile, subject, at, at, 1 FROM input
),
c AS (
    INSERT INTO certificates (ca, serial, request_id, der, subject, sans, not_before, not_after,
                              spki_sha256)
    SELECT ca, serial, id, der, subject, sans, not_before, not_after, spki FROM input
),
o AS (
    INSERT INTO outbox (ca, event, request_id, at, details)
    SELECT ca, 1, id, at, details FROM input ORDER BY ord
)
SELECT id FROM input ORDER BY ord";
const BATCH_AUDIT: &str = "
WITH a AS (
    INSERT INTO audit (seq, at, actor, action, ca, target, details, prev_hash, hash)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::bytea[], $9::bytea[])
)
UPDATE audit_head SET seq = $10, hash = $11 WHERE id";

// ---------------------------------------------------------------------------------------------
// The data of one issuance

struct Issuance {
    ca: String,
    status: &'static str,
    format: &'static str,
    raw: Vec<u8>, // 400-byte CSR stand-in
    requester: String,
    profile: String,
    subject: String,
    at: i64,
    serial: Vec<u8>, // 20 random bytes
    der: Vec<u8>,    // 800-byte certificate stand-in
    sans: String,
    not_before: i64,
    not_after: i64,
    spki: Vec<u8>,
    details: String,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn make_issuance(rng: &mut Rng, dup_serial: bool) -> Issuance {
    let n = rng.next() % 1_000_000;
    let at = now_secs();
    let serial = if dup_serial { vec![0x42; 20] } else { rng.bytes(20) };
    let host = format!("host-{n}.example.com");
    Issuance {
        ca: "issuing-ca".into(),
        status: "issued",
        format: "pkcs10",
        raw: rng.bytes(400),
        requester: "bench-client".into(),
        profile: "tls-server".into(),
        subject: format!("CN={host}"),
        at,
        details: format!("{{\"event\":\"issued\",\"serial\":\"{}\"}}", hex(&serial)),
        serial,
        der: rng.bytes(800),
        sans: format!("[\"{host}\"]"),
        not_before: at,
        not_after: at + 90 * 86400,
        spki: rng.bytes(32),
    }
}

// The audit record and its link.
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    ca: String,
    target: String,
    details: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn record_bytes(seq: i64, at: i64, actor: &str, action: &str, ca: &str, target: &str, details: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&at.to_be_bytes());
    for f in [actor, action, ca, target, details] {
        v.extend_from_slice(&(f.len() as u32).to_be_bytes());
        v.extend_from_slice(f.as_bytes());
    }
    v
}

fn link(prev_hash: &[u8], record: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(record);
    h.finalize().to_vec()
}

fn audit_row(seq: i64, prev_hash: Vec<u8>, iss: &Issuance, request_id: i64) -> AuditRow {
    let actor = iss.requester.clone();
    let action = "issue".to_string();
    let target = format!("request:{request_id}");
    let details = iss.details.clone();
    let rec = record_bytes(seq, iss.at, &actor, &action, &iss.ca, &target, &details);
    let hash = link(&prev_hash, &rec);
    AuditRow { seq, at: iss.at, actor, action, ca: iss.ca.clone(), target, details, prev_hash, hash }
}

// ---------------------------------------------------------------------------------------------
// sqlx

mod sq {
    use super::*;
    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

    pub async fn pool(size: u32, ping: bool) -> Result<PgPool> {
        let opts = PgConnectOptions::new().host(HOST).port(PORT).username(USER).database(DB);
        Ok(PgPoolOptions::new()
            .max_connections(size)
            .min_connections(size)
            .test_before_acquire(ping)
            .connect_with(opts)
            .await?)
    }

    pub async fn plain(pool: &PgPool, iss: &Issuance) -> Result<i64> {
        let mut tx = pool.begin().await?;
        let id: i64 = sqlx::query_scalar(INS_REQ)
            .bind(&iss.ca)
            .bind(iss.status)
            .bind(iss.format)
            .bind(&iss.raw)
            .bind(&iss.requester)
            .bind(&iss.profile)
            .bind(&iss.subject)
            .bind(iss.at)
            .bind(iss.at)
            .bind(1i64)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(INS_CERT)
            .bind(&iss.ca)
            .bind(&iss.serial)
            .bind(id)
            .bind(&iss.der)
            .bind(&iss.subject)
            .bind(&iss.sans)
            .bind(iss.not_before)
            .bind(iss.not_after)
            .bind(&iss.spki)
            .execute(&mut *tx)
            .await?;
        let _seq: i64 = sqlx::query_scalar(INS_OUTBOX)
            .bind(&iss.ca)
            .bind(id)
            .bind(iss.at)
            .bind(&iss.details)
            .fetch_one(&mut *tx)
            .await?;
        if no_audit() {
            tx.commit().await?;
            return Ok(id);
        }
        let (seq, prev): (i64, Vec<u8>) = sqlx::query_as(HEAD_LOCK).fetch_one(&mut *tx).await?;
        let a = audit_row(seq + 1, prev, iss, id);
        sqlx::query(INS_AUDIT)
            .bind(a.seq)
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.ca)
            .bind(&a.target)
            .bind(&a.details)
            .bind(&a.prev_hash)
            .bind(&a.hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(UPD_HEAD).bind(a.seq).bind(&a.hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn batch(pool: &PgPool, batch: &[Issuance]) -> Result<Vec<i64>> {
        let cols = Cols::of(batch);
        let mut tx = pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(BATCH_MAIN)
            .bind(cols.ca)
            .bind(cols.status)
            .bind(cols.format)
            .bind(cols.raw)
            .bind(cols.requester)
            .bind(cols.profile)
            .bind(cols.subject)
            .bind(cols.at)
            .bind(cols.serial)
            .bind(cols.der)
            .bind(cols.sans)
            .bind(cols.not_before)
            .bind(cols.not_after)
            .bind(cols.spki)
            .bind(cols.details)
            .fetch_all(&mut *tx)
            .await?;
        let (seq, prev): (i64, Vec<u8>) = sqlx::query_as(HEAD_LOCK).fetch_one(&mut *tx).await?;
        let a = AuditCols::chain(seq, prev, batch, &ids)?;
        sqlx::query(BATCH_AUDIT)
            .bind(a.seq)
            .bind(a.at)
            .bind(a.actor)
            .bind(a.action)
            .bind(a.ca)
            .bind(a.target)
            .bind(a.details)
            .bind(a.prev_hash)
            .bind(a.hash)
            .bind(a.head_seq)
            .bind(a.head_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }
}

// Column arrays for the UNNEST statements (shared by both crates).
struct Cols {
    ca: Vec<String>,
    status: Vec<String>,
    format: Vec<String>,
    raw: Vec<Vec<u8>>,
    requester: Vec<String>,
    profile: Vec<String>,
    subject: Vec<String>,
    at: Vec<i64>,
    serial: Vec<Vec<u8>>,
    der: Vec<Vec<u8>>,
    sans: Vec<String>,
    not_before: Vec<i64>,
    not_after: Vec<i64>,
    spki: Vec<Vec<u8>>,
    details: Vec<String>,
}
impl Cols {
    fn of(b: &[Issuance]) -> Cols {
        Cols {
            ca: b.iter().map(|i| i.ca.clone()).collect(),
            status: b.iter().map(|i| i.status.to_string()).collect(),
            format: b.iter().map(|i| i.format.to_string()).collect(),
            raw: b.iter().map(|i| i.raw.clone()).collect(),
            requester: b.iter().map(|i| i.requester.clone()).collect(),
            profile: b.iter().map(|i| i.profile.clone()).collect(),
            subject: b.iter().map(|i| i.subject.clone()).collect(),
            at: b.iter().map(|i| i.at).collect(),
            serial: b.iter().map(|i| i.serial.clone()).collect(),
            der: b.iter().map(|i| i.der.clone()).collect(),
            sans: b.iter().map(|i| i.sans.clone()).collect(),
            not_before: b.iter().map(|i| i.not_before).collect(),
            not_after: b.iter().map(|i| i.not_after).collect(),
            spki: b.iter().map(|i| i.spki.clone()).collect(),
            details: b.iter().map(|i| i.details.clone()).collect(),
        }
    }
}
struct AuditCols {
    seq: Vec<i64>,
    at: Vec<i64>,
    actor: Vec<String>,
    action: Vec<String>,
    ca: Vec<String>,
    target: Vec<String>,
    details: Vec<String>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    head_seq: i64,
    head_hash: Vec<u8>,
}
impl AuditCols {
    fn chain(mut seq: i64, mut prev: Vec<u8>, batch: &[Issuance], ids: &[i64]) -> Result<AuditCols> {
        if ids.len() != batch.len() {
            bail!("batch returned {} ids for {} issuances", ids.len(), batch.len());
        }
        let mut a = AuditCols {
            seq: vec![],
            at: vec![],
            actor: vec![],
            action: vec![],
            ca: vec![],
            target: vec![],
            details: vec![],
            prev_hash: vec![],
            hash: vec![],
            head_seq: 0,
            head_hash: vec![],
        };
        for (iss, id) in batch.iter().zip(ids) {
            seq += 1;
            let r = audit_row(seq, prev, iss, *id);
            prev = r.hash.clone();
            a.seq.push(r.seq);
            a.at.push(r.at);
            a.actor.push(r.actor);
            a.action.push(r.action);
            a.ca.push(r.ca);
            a.target.push(r.target);
            a.details.push(r.details);
            a.prev_hash.push(r.prev_hash);
            a.hash.push(r.hash);
        }
        a.head_seq = seq;
        a.head_hash = prev;
        Ok(a)
    }
}

// ---------------------------------------------------------------------------------------------
// tokio-postgres + deadpool-postgres

mod tp {
    use super::*;
    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
    use tokio_postgres::NoTls;
    use tokio_postgres::types::ToSql;

    pub fn config() -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(HOST).port(PORT).user(USER).dbname(DB);
        c
    }

    pub async fn pool(size: usize) -> Result<Pool> {
        let mgr = Manager::from_config(
            config(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(mgr).max_size(size).build()?;
        // Open every connection up front (deadpool is lazy), like sqlx's min_connections.
        let mut held = Vec::new();
        for _ in 0..size {
            held.push(pool.get().await?);
        }
        drop(held);
        Ok(pool)
    }

    pub async fn plain(pool: &Pool, iss: &Issuance) -> Result<i64> {
        let mut client = pool.get().await?;
        let s_req = client.prepare_cached(INS_REQ).await?;
        let s_cert = client.prepare_cached(INS_CERT).await?;
        let s_out = client.prepare_cached(INS_OUTBOX).await?;
        let s_head = client.prepare_cached(HEAD_LOCK).await?;
        let s_aud = client.prepare_cached(INS_AUDIT).await?;
        let s_upd = client.prepare_cached(UPD_HEAD).await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &s_req,
                &[
                    &iss.ca,
                    &iss.status,
                    &iss.format,
                    &iss.raw,
                    &iss.requester,
                    &iss.profile,
                    &iss.subject,
                    &iss.at,
                    &iss.at,
                    &1i64,
                ],
            )
            .await?;
        let id: i64 = row.get(0);
        tx.execute(
            &s_cert,
            &[
                &iss.ca,
                &iss.serial,
                &id,
                &iss.der,
                &iss.subject,
                &iss.sans,
                &iss.not_before,
                &iss.not_after,
                &iss.spki,
            ],
        )
        .await?;
        tx.query_one(&s_out, &[&iss.ca, &id, &iss.at, &iss.details]).await?;
        if no_audit() {
            tx.commit().await?;
            return Ok(id);
        }
        let head = tx.query_one(&s_head, &[]).await?;
        let a = audit_row(head.get::<_, i64>(0) + 1, head.get(1), iss, id);
        tx.execute(
            &s_aud,
            &[&a.seq, &a.at, &a.actor, &a.action, &a.ca, &a.target, &a.details, &a.prev_hash, &a.hash],
        )
        .await?;
        tx.execute(&s_upd, &[&a.seq, &a.hash]).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One transaction in two round trips. Every statement's result is checked: a failed
    /// statement aborts the transaction and makes COMMIT answer ROLLBACK (without an error),
    /// so the COMMIT's own success is not enough on its own.
    pub async fn pipe(pool: &Pool, iss: &Issuance) -> Result<i64> {
        let client = pool.get().await?;
        let s_begin = client.prepare_cached("BEGIN").await?;
        let s_req = client.prepare_cached(INS_REQ).await?;
        let s_cert = client.prepare_cached(INS_CERT_CURRVAL).await?;
        let s_out = client.prepare_cached(INS_OUTBOX_CURRVAL).await?;
        let s_head = client.prepare_cached(HEAD_LOCK).await?;
        let s_aud = client.prepare_cached(INS_AUDIT).await?;
        let s_upd = client.prepare_cached(UPD_HEAD).await?;
        let s_commit = client.prepare_cached("COMMIT").await?;
        let c: &tokio_postgres::Client = &client;
        let rollback = async |c: &tokio_postgres::Client| {
            let _ = c.batch_execute("ROLLBACK").await;
        };

        // Round trip 1: BEGIN, the three inserts and the head lock, sent back to back.
        let p_req: [&(dyn ToSql + Sync); 10] = [
            &iss.ca,
            &iss.status,
            &iss.format,
            &iss.raw,
            &iss.requester,
            &iss.profile,
            &iss.subject,
            &iss.at,
            &iss.at,
            &1i64,
        ];
        let p_cert: [&(dyn ToSql + Sync); 8] =
            [&iss.ca, &iss.serial, &iss.der, &iss.subject, &iss.sans, &iss.not_before, &iss.not_after, &iss.spki];
        let p_out: [&(dyn ToSql + Sync); 3] = [&iss.ca, &iss.at, &iss.details];
        if no_audit() {
            let r = tokio::try_join!(
                biased;
                c.execute(&s_begin, &[]),
                c.query_one(&s_req, &p_req),
                c.execute(&s_cert, &p_cert),
                c.query_one(&s_out, &p_out),
                c.execute(&s_commit, &[]),
            );
            return match r {
                Ok((_, req, 1, _, _)) => Ok(req.get(0)),
                Ok(_) => {
                    rollback(c).await;
                    Err(anyhow!("certificate not inserted"))
                }
                Err(e) => {
                    rollback(c).await;
                    Err(e.into())
                }
            };
        }
        let r1 = tokio::try_join!(
            biased;
            c.execute(&s_begin, &[]),
            c.query_one(&s_req, &p_req),
            c.execute(&s_cert, &p_cert),
            c.query_one(&s_out, &p_out),
            c.query_one(&s_head, &[]),
        );
        let (_, req, _, _, head) = match r1 {
            Ok(r) => r,
            Err(e) => {
                rollback(c).await;
                return Err(e.into());
            }
        };
        let id: i64 = req.get(0);
        let a = audit_row(head.get::<_, i64>(0) + 1, head.get(1), iss, id);
        // Round trip 2: the audit record, the head, COMMIT.
        let p_aud: [&(dyn ToSql + Sync); 9] =
            [&a.seq, &a.at, &a.actor, &a.action, &a.ca, &a.target, &a.details, &a.prev_hash, &a.hash];
        let p_upd: [&(dyn ToSql + Sync); 2] = [&a.seq, &a.hash];
        let r2 = tokio::try_join!(
            biased;
            c.execute(&s_aud, &p_aud),
            c.execute(&s_upd, &p_upd),
            c.execute(&s_commit, &[]),
        );
        match r2 {
            Ok((1, 1, _)) => Ok(id),
            Ok(n) => {
                rollback(c).await;
                Err(anyhow!("unexpected row counts {n:?}"))
            }
            Err(e) => {
                rollback(c).await;
                Err(e.into())
            }
        }
    }

    pub async fn batch(pool: &Pool, batch: &[Issuance]) -> Result<Vec<i64>> {
        let client = pool.get().await?;
        let s_begin = client.prepare_cached("BEGIN").await?;
        let s_main = client.prepare_cached(BATCH_MAIN).await?;
        let s_head = client.prepare_cached(HEAD_LOCK).await?;
        let s_aud = client.prepare_cached(BATCH_AUDIT).await?;
        let s_commit = client.prepare_cached("COMMIT").await?;
        let c: &tokio_postgres::Client = &client;
        let cols = Cols::of(batch);
        let p_main: [&(dyn ToSql + Sync); 15] = [
                    &cols.ca,
                    &cols.status,
                    &cols.format,
                    &cols.raw,
                    &cols.requester,
                    &cols.profile,
                    &cols.subject,
                    &cols.at,
                    &cols.serial,
                    &cols.der,
                    &cols.sans,
                    &cols.not_before,
                    &cols.not_after,
                    &cols.spki,
                    &cols.details,
        ];
        let r1 = tokio::try_join!(
            biased;
            c.execute(&s_begin, &[]),
            c.query(&s_main, &p_main),
            c.query_one(&s_head, &[]),
        );
        let (_, rows, head) = match r1 {
            Ok(r) => r,
            Err(e) => {
                let _ = c.batch_execute("ROLLBACK").await;
                return Err(e.into());
            }
        };
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let a = match AuditCols::chain(head.get(0), head.get(1), batch, &ids) {
            Ok(a) => a,
            Err(e) => {
                let _ = c.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        };
        let p_aud: [&(dyn ToSql + Sync); 11] = [
                    &a.seq,
                    &a.at,
                    &a.actor,
                    &a.action,
                    &a.ca,
                    &a.target,
                    &a.details,
                    &a.prev_hash,
                    &a.hash,
                    &a.head_seq,
                    &a.head_hash,
        ];
        let r2 = tokio::try_join!(
            biased;
            c.execute(&s_aud, &p_aud),
            c.execute(&s_commit, &[]),
        );
        match r2 {
            Ok((1, _)) => Ok(ids),
            Ok(n) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(anyhow!("unexpected row counts {n:?}"))
            }
            Err(e) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(e.into())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Group commit: callers hand their issuance to a committer and await a oneshot.

type Reply = oneshot::Sender<Result<i64>>;
struct Job {
    iss: Issuance,
    reply: Reply,
}

#[derive(Clone)]
enum Backend {
    Sqlx(sqlx::PgPool),
    Tp(deadpool_postgres::Pool),
}

impl Backend {
    async fn plain(&self, iss: &Issuance) -> Result<i64> {
        match self {
            Backend::Sqlx(p) => sq::plain(p, iss).await,
            Backend::Tp(p) => tp::pipe(p, iss).await,
        }
    }
    async fn batch(&self, b: &[Issuance]) -> Result<Vec<i64>> {
        match self {
            Backend::Sqlx(p) => sq::batch(p, b).await,
            Backend::Tp(p) => tp::batch(p, b).await,
        }
    }
}

#[derive(Default)]
struct GroupStats {
    batches: AtomicU64,
    items: AtomicU64,
    fallbacks: AtomicU64,
}

async fn committer(
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    backend: Backend,
    max_batch: usize,
    stats: Arc<GroupStats>,
) {
    loop {
        let mut jobs = Vec::with_capacity(max_batch);
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(j) => jobs.push(j),
                None => return,
            }
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        let (iss, replies): (Vec<Issuance>, Vec<Reply>) = jobs.into_iter().map(|j| (j.iss, j.reply)).unzip();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.items.fetch_add(iss.len() as u64, Ordering::Relaxed);
        match backend.batch(&iss).await {
            Ok(ids) => {
                for (r, id) in replies.into_iter().zip(ids) {
                    let _ = r.send(Ok(id));
                }
            }
            Err(e) if iss.len() == 1 => {
                let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
            }
            Err(_) => {
                // One bad issuance (say a serial collision) must not fail its neighbours: the
                // batch was rolled back whole; do each on its own.
                stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                for (i, r) in iss.iter().zip(replies) {
                    let _ = r.send(backend.plain(i).await);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc

fn clk_tck() -> f64 {
    100.0 // getconf CLK_TCK on Linux x86_64
}

fn stat_fields(path: &str) -> Option<(String, Vec<u64>)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<u64> = s[close + 2..].split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    Some((comm, rest))
}

/// utime + stime of this process, seconds. Fields 14 and 15 of /proc/self/stat.
fn self_cpu() -> f64 {
    stat_fields("/proc/self/stat").map(|(_, f)| (f[11] + f[12]) as f64 / clk_tck()).unwrap_or(0.0)
}

/// CPU of every `postgres` process (backends, walwriter, checkpointer, ...), plus what exited
/// children left in their parent's cutime/cstime.
fn server_cpu() -> f64 {
    let mut t = 0u64;
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((comm, f)) = stat_fields(&format!("/proc/{name}/stat")) {
                if comm == "postgres" {
                    t += f[11] + f[12] + f[13] + f[14];
                }
            }
        }
    }
    t as f64 / clk_tck()
}

// ---------------------------------------------------------------------------------------------
// Driver

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    SqlxPlain,
    TpPlain,
    TpPipe,
    SqlxGroup,
    TpGroup,
}

struct Args {
    mode: String,
    tasks: usize,
    secs: f64,
    warmup: f64,
    pool: usize,
    committers: usize,
    max_batch: usize,
    ping: bool,
    dup_every: u64,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        mode: it.next().context("mode?")?,
        tasks: 64,
        secs: 10.0,
        warmup: 2.0,
        pool: 16,
        committers: 1,
        max_batch: 256,
        ping: false,
        dup_every: 0,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().context("value?");
        match k.as_str() {
            "--tasks" => a.tasks = v()?.parse()?,
            "--secs" => a.secs = v()?.parse()?,
            "--warmup" => a.warmup = v()?.parse()?,
            "--pool" => a.pool = v()?.parse()?,
            "--committers" => a.committers = v()?.parse()?,
            "--max-batch" => a.max_batch = v()?.parse()?,
            "--ping" => a.ping = true,
            "--dup-every" => a.dup_every = v()?.parse()?,
            "--no-audit" => NO_AUDIT.store(true, Ordering::Relaxed),
            _ => bail!("unknown argument {k}"),
        }
    }
    Ok(a)
}

async fn admin() -> Result<tokio_postgres::Client> {
    let (client, conn) = tp::config().connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn connect_db(db: &str) -> Result<tokio_postgres::Client> {
    let mut cfg = tp::config();
    cfg.dbname(db);
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Builds the template database once: schema, prefill, statistics.
async fn setup() -> Result<()> {
    let pg = connect_db("postgres").await?;
    pg.batch_execute("DROP DATABASE IF EXISTS bench WITH (FORCE)").await?;
    pg.batch_execute("DROP DATABASE IF EXISTS bench_tpl").await?;
    pg.batch_execute("CREATE DATABASE bench_tpl").await?;
    let t = connect_db("bench_tpl").await?;
    t.batch_execute(SCHEMA).await?;
    t.batch_execute(&prefill_sql()).await?;
    t.batch_execute("VACUUM ANALYZE").await?;
    Ok(())
}

/// Each run starts from a copy of the template.
async fn reset() -> Result<()> {
    let pg = connect_db("postgres").await?;
    let have: i64 = pg.query_one("SELECT count(*) FROM pg_database WHERE datname = 'bench_tpl'", &[]).await?.get(0);
    if have == 0 {
        setup().await?;
    }
    pg.batch_execute("DROP DATABASE IF EXISTS bench WITH (FORCE)").await?;
    pg.batch_execute("CREATE DATABASE bench TEMPLATE bench_tpl STRATEGY FILE_COPY").await?;
    pg.batch_execute("CHECKPOINT").await?;
    Ok(())
}

/// Checks that every issuance left its four rows and the audit chain is whole.
async fn verify() -> Result<(i64, String)> {
    let c = admin().await?;
    // Fresh statistics first: the template's say `audit` is empty, and the checks below would
    // otherwise be planned as nested loops over 10^5 rows.
    c.batch_execute("ANALYZE").await?;
    let count = |t: &'static str| {
        let c = &c;
        async move { c.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.map(|r| r.get::<_, i64>(0)) }
    };
    let (nr, nc, no, na) = (count("requests").await?, count("certificates").await?, count("outbox").await?, count("audit").await?);
    let (nr, nc, no) = (nr - PREFILL, nc - PREFILL, no - PREFILL);
    if no_audit() && na == 0 && nr == nc && nc == no {
        return Ok((nr, "no audit".into()));
    }
    if !(nr == nc && nc == no && no == na) {
        bail!("row counts differ: requests {nr}, certificates {nc}, outbox {no}, audit {na}");
    }
    let rows = c
        .query("SELECT seq, at, actor, action, ca, target, details, prev_hash, hash FROM audit ORDER BY seq", &[])
        .await?;
    let mut prev = vec![0u8; 32];
    for (i, r) in rows.iter().enumerate() {
        let seq: i64 = r.get(0);
        if seq != i as i64 + 1 {
            bail!("audit seq {seq} at position {i}");
        }
        let ph: Vec<u8> = r.get(7);
        if ph != prev {
            bail!("audit prev_hash mismatch at {seq}");
        }
        let ca: Option<String> = r.get(4);
        let rec = record_bytes(seq, r.get(1), r.get(2), r.get(3), ca.as_deref().unwrap_or(""), r.get(5), r.get(6));
        let h = link(&prev, &rec);
        let stored: Vec<u8> = r.get(8);
        if h != stored {
            bail!("audit hash mismatch at {seq}");
        }
        prev = h;
    }
    let head = c.query_one("SELECT seq, hash FROM audit_head", &[]).await?;
    if head.get::<_, i64>(0) != na || head.get::<_, Vec<u8>>(1) != prev {
        bail!("audit head does not match the last record");
    }
    // Each new request has its certificate, outbox and audit rows (anti-joins, one each).
    c.batch_execute("SET jit = off").await?;
    for q in [
        "SELECT count(*) FROM requests r WHERE r.id > $1 AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.request_id = r.id)",
        "SELECT count(*) FROM requests r WHERE r.id > $1 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.request_id = r.id)",
        "SELECT count(*) FROM requests r WHERE r.id > $1 AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.target = 'request:' || r.id)",
    ] {
        let orphans: i64 = c.query_one(q, &[&PREFILL]).await?.get(0);
        if orphans != 0 {
            bail!("{orphans} requests without a row: {q}");
        }
    }
    Ok((na, "chain ok".into()))
}

async fn settings() -> Result<String> {
    let c = admin().await?;
    let mut out = Vec::new();
    for s in ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "commit_delay", "shared_buffers"] {
        let r = c.query_one(&format!("SHOW {s}"), &[]).await?;
        out.push(format!("{s}={}", r.get::<_, String>(0)));
    }
    Ok(out.join(" "))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn run(a: Args) -> Result<()> {
    let mode = match a.mode.as_str() {
        "sqlx-plain" => Mode::SqlxPlain,
        "tp-plain" => Mode::TpPlain,
        "tp-pipe" => Mode::TpPipe,
        "sqlx-group" => Mode::SqlxGroup,
        "tp-group" => Mode::TpGroup,
        "urls" => return urls().await,
        "setup" => return setup().await,
        "settings" => {
            println!("{}", settings().await?);
            return Ok(());
        }
        m => bail!("unknown mode {m}"),
    };
    reset().await?;
    let group = matches!(mode, Mode::SqlxGroup | Mode::TpGroup);
    if group && no_audit() {
        bail!("--no-audit is for the plain modes");
    }
    // Group modes: each committer holds one connection; the fallback path uses the same pool.
    let pool_size = if group { a.committers } else { a.pool };
    let backend = match mode {
        Mode::SqlxPlain | Mode::SqlxGroup => Backend::Sqlx(sq::pool(pool_size as u32, a.ping).await?),
        _ => Backend::Tp(tp::pool(pool_size).await?),
    };
    let stats = Arc::new(GroupStats::default());
    let tx = if group {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..a.committers {
            tokio::spawn(committer(rx.clone(), backend.clone(), a.max_batch, stats.clone()));
        }
        Some(tx)
    } else {
        None
    };

    let start = Instant::now();
    let m_start = start + Duration::from_secs_f64(a.warmup);
    let m_end = m_start + Duration::from_secs_f64(a.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut handles = Vec::new();
    for t in 0..a.tasks {
        let backend = backend.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        let errors = errors.clone();
        let first_error = first_error.clone();
        let dup_every = a.dup_every;
        handles.push(tokio::spawn(async move {
            let seed = (t as u64) << 40 ^ SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
            let mut rng = Rng(seed);
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let dup = dup_every > 0 && n % dup_every == 0;
                let iss = make_issuance(&mut rng, dup);
                let t0 = Instant::now();
                let r = match (&tx, &backend, mode) {
                    (Some(tx), _, _) => {
                        let (rtx, rrx) = oneshot::channel();
                        if tx.send(Job { iss, reply: rtx }).is_err() {
                            Err(anyhow!("committer gone"))
                        } else {
                            rrx.await.unwrap_or_else(|_| Err(anyhow!("committer dropped the reply")))
                        }
                    }
                    (None, Backend::Sqlx(p), _) => sq::plain(p, &iss).await,
                    (None, Backend::Tp(p), Mode::TpPlain) => tp::plain(p, &iss).await,
                    (None, Backend::Tp(p), _) => tp::pipe(p, &iss).await,
                };
                let t1 = Instant::now();
                match r {
                    Ok(_) => {
                        if t1 >= m_start && t1 <= m_end {
                            lat.push((t1 - t0).as_micros() as u32);
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let mut fe = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if fe.is_none() {
                            *fe = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep_until(m_start.into()).await;
    let (c0, s0) = (self_cpu(), server_cpu());
    let (b0, i0) = (stats.batches.load(Ordering::Relaxed), stats.items.load(Ordering::Relaxed));
    tokio::time::sleep_until(m_end.into()).await;
    let (c1, s1) = (self_cpu(), server_cpu());
    let (b1, i1) = (stats.batches.load(Ordering::Relaxed), stats.items.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await?);
    }
    drop(tx);
    lat.sort_unstable();
    let n = lat.len() as f64;
    let tps = n / a.secs;
    let batch = if group && b1 > b0 { format!("{:.1}", (i1 - i0) as f64 / (b1 - b0) as f64) } else { "-".into() };
    let (rows, chain) = verify().await?;
    let err = first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!(
        "RESULT mode={} tasks={} pool={} committers={} ping={} tx={} tps={:.0} p50_ms={:.2} p99_ms={:.2} \
         client_cpu_us_per_tx={:.1} server_cpu_us_per_tx={:.1} avg_batch={} fallbacks={} errors={} rows={} {}",
        if no_audit() { format!("{}(no-audit)", a.mode) } else { a.mode.clone() },
        a.tasks,
        pool_size,
        if group { a.committers } else { 0 },
        a.ping,
        n,
        tps,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        (c1 - c0) * 1e6 / n,
        (s1 - s0) * 1e6 / n,
        batch,
        stats.fallbacks.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        rows,
        chain,
    );
    if let Some(e) = err {
        println!("first error: {e}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What each crate does with libpq-style multi-host URLs.

async fn urls() -> Result<()> {
    use sqlx::ConnectOptions;
    // 55433 has nothing listening; 55432 is the server.
    let multi = format!("postgres://{USER}@{HOST}:55433,{HOST}:{PORT}/{DB}?target_session_attrs=read-write");
    let kv = format!("host={HOST},{HOST} port=55433,{PORT} user={USER} dbname={DB} target_session_attrs=read-write");
    let ro = format!("{kv} options='-c default_transaction_read_only=on'");

    println!("== tokio-postgres");
    for (what, s) in [("URL, 2 hosts, first down", multi.as_str()), ("key=value, 2 hosts", kv.as_str()), ("all hosts read-only", ro.as_str())] {
        let r = async {
            let cfg: tokio_postgres::Config = s.parse()?;
            let (c, conn) = cfg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            let r = c.query_one("SELECT inet_server_port()", &[]).await?;
            anyhow::Ok(format!("connected to port {}", r.get::<_, i32>(0)))
        }
        .await;
        println!("{what}: {s}\n  -> {}", r.unwrap_or_else(|e| format!("error: {e:#}")));
    }
    for s in ["host=db sslmode=verify-full", "host=db sslrootcert=/etc/ca.pem"] {
        let r: Result<tokio_postgres::Config, _> = s.parse();
        println!("parse {s:?}: {}", r.map(|_| "ok".to_string()).unwrap_or_else(|e| format!("error: {e}")));
    }

    println!("== sqlx");
    let single_tsa = format!("postgres://{USER}@{HOST}:{PORT}/{DB}?target_session_attrs=read-write");
    let host_param = format!("postgres://{USER}@/{DB}?host={HOST},{HOST}&port={PORT}");
    for (what, s) in [
        ("URL, 2 hosts, first down", multi.as_str()),
        ("one host + target_session_attrs", single_tsa.as_str()),
        ("host= list in the query", host_param.as_str()),
        ("key=value, 2 hosts", kv.as_str()),
    ] {
        let r = async {
            let o: sqlx::postgres::PgConnectOptions = s.parse()?;
            let mut c = o.connect().await?;
            let p: i32 = sqlx::query_scalar("SELECT inet_server_port()").fetch_one(&mut c).await?;
            anyhow::Ok(format!("connected to port {p}"))
        }
        .await;
        println!("{what}: {s}\n  -> {}", r.unwrap_or_else(|e| format!("error: {e:#}")));
    }
    for s in ["postgres://db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem"] {
        let r: Result<sqlx::postgres::PgConnectOptions, _> = s.parse();
        println!("parse {s:?}: {}", r.map(|_| "ok".to_string()).unwrap_or_else(|e| format!("error: {e}")));
    }
    Ok(())
}

fn main() -> Result<()> {
    let a = parse_args()?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(a))
}
