//! Signet's storage: [`SqlStore`], on the embedded SQLite file or on PostgreSQL
//! ([`Database`]), the implementation of [`signet_core::Store`] (requests, their attributes
//! and extensions, certificates, the event outbox and exit cursors) and of
//! [`signet_api::acme::AcmeStore`] (the ACME front end's records). The rest of this page
//! describes SQLite; PostgreSQL is in `postgres.rs` and `pg/`.
//!
//! Writes are durable when their future resolves `Ok`: the database runs in WAL mode with
//! `synchronous=FULL`, and one writer thread groups concurrent writes into one transaction
//! (group commit), so one fsync covers a whole batch. A failing write (a duplicate serial
//! number, say) is rolled back alone and only its caller sees the error: if anything in a batch
//! fails, the batch runs again with each write in its own savepoint. Reads run on a few reader threads with read-only connections, concurrently
//! with the writer, and WAL checkpoints mostly on a thread of their own. No async runtime is
//! needed: futures resolve through oneshot channels.
//!
//! Throughput (`examples/store_bench.rs`, release, 2 cores shared with other work): 21,000-26,000
//! issuance-shaped requests/s (5 rows each: 107,000-133,000 rows/s) with 256 concurrent
//! submitters, about 175 requests per transaction.
//!
//! Storage conventions, for anyone reading the file with `sqlite3`:
//! - times are INTEGER unix seconds (UTC, rounded down): `datetime(submitted_at, 'unixepoch')`;
//! - serial numbers are TEXT, 40 lowercase hex digits, unique per CA;
//! - events are their AD CS `EXITEVENT_*` bit values; statuses and extension origins are their
//!   lowercase names; flags are 0/1; a certificate's SANs are a JSON array of strings;
//! - what a request's certificate carries is stored once: `requests.raw` with `raw_form` 1 is
//!   a delta against that certificate (`delta`), `outbox.details` with `details_form` 1 is
//!   the `{"serial":...}` of that certificate (read them through Signet, not `sqlite3`).
//!
//! # Layout
//! - [`SqlStore`] (this file): opening (pragmas, migrations), starting the threads, and the
//!   `Store` implementation, which forwards each call to the writer or the readers.
//! - `migrate`: the embedded migrations (`migrations/sqlite/NNNN_name.sql`) and their
//!   bookkeeping in `schema_migrations`.
//! - `writer`: the writer thread: command queue, group commit, failure isolation with
//!   savepoints; each command runs the write of the module its record lives in.
//! - `reader`: the reader threads.
//! - `row`: rows to records: `FromRow` (one per record type, beside its statements),
//!   `Columns` (typed column reads that report corrupt rows), `select`.
//! - The records, each with its reads and writes: `requests` (requests with attributes,
//!   extensions, approvals and certificate; `extensions` is the one-blob encoding of a
//!   request's extensions, values the certificate carries kept by reference), `outbox` (events and exit cursors), `exits`
//!   (delivery failures and parked events), `tokens`, `revocation` (revocation changes,
//!   CRLs, what CRLs and OCSP read, the responder key), `audit` (the chain and its
//!   checkpoints), `view` (ICertView queries, certificate history, dashboard figures),
//!   `acme` (the ACME front end's accounts, orders, authorizations, EAB keys, used nonces,
//!   early-renewal marks and nonce secret: [`signet_api::acme::AcmeStore`] for
//!   `SqlStore`; reads in `acme/read.rs`, writes in `acme/write.rs`, all of them one
//!   writer command, `Op::Acme`).
//! - `checkpoint`: WAL checkpoints, kept out of the writer's commits.
//! - `snapshot`: a consistent copy of the live SQLite file (`signet backup`) and the
//!   integrity check of a restored one.
//! - `delta` (a request stored against its certificate) and `leb128` (the lengths of the
//!   compact encodings).
//! - `codec`: column conventions (times, sequence numbers) and SQLite error mapping.
//! - `bench_fill` (cargo feature `bench`, for `signet bench crl` only): bulk rows written
//!   directly into the file.
//! - `examples/store_bench.rs`: an issuance-shaped write benchmark.
//!
//! The `Store` and `AcmeStore` contracts every backend keeps are tested by the story suite in
//! `signet_testkit::stories` (`tests/stories.rs` runs it here).
#![forbid(unsafe_code)]

mod acme;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench_fill;
mod checkpoint;
mod codec;
pub mod copy;
mod db;
mod delta;
mod exits;
mod extensions;
mod leases;
mod leb128;
mod migrate;
mod outbox;
mod pg;
mod postgres;
mod reader;
mod requests;
mod revocation;
mod row;
mod scep;
mod sessions;
pub mod snapshot;
mod tokens;
mod view;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags};
use signet_core::StatisticsQuery;
use signet_core::overview::CaStatistics;
use signet_core::{
    AuditCheck, AuditRecord, BoxFuture, CaName, CertificateHistory, CertificateStatus, CrlRecord,
    HistoryQuery, NewAudit, NewCrl, NewEvent, NewRequest, NewToken, OutboxEvent, RequestId,
    RequestRecord, RequestStatus, RequestUpdate, RevocationChange, RevokedQuery, RevokedScan,
    SerialNumber, Store, StoreError, TokenRecord, ViewQuery,
};

use crate::checkpoint::Checkpointer;
use crate::codec::{sql_error, to_unix};
use crate::outbox::AckExit;
use crate::reader::Readers;
use crate::tokens::RevokeToken;
use crate::writer::Writer;

pub use pg::{PASSWORD_ENV, PgConfig, PgConfigError};

/// Where a Signet installation's records live: `[server] database` in `signet.toml`.
#[derive(Clone, Debug)]
pub enum Database {
    /// The embedded default: one SQLite file (its WAL and shared-memory files beside it).
    Sqlite(PathBuf),
    /// A PostgreSQL database, which several Signet nodes may share.
    Postgres(Box<PgConfig>),
}

impl Database {
    /// Opens the store (creating the schema if needed) with the audit chain's keys.
    pub fn open(&self, audit_keys: audit::AuditKeys) -> Result<SqlStore, StoreError> {
        match self {
            Database::Sqlite(path) => SqlStore::open_with_audit(path, audit_keys),
            Database::Postgres(config) => {
                let (writer, readers) = postgres::open(config, &audit_keys)?;
                Ok(SqlStore {
                    writer,
                    _checkpointer: None,
                    readers,
                    audit_keys: std::sync::Arc::new(audit_keys),
                    file: None,
                    poison: None,
                })
            }
        }
    }

    /// Whether there is a database to read: a SQLite file may not exist yet; a PostgreSQL
    /// database is assumed to.
    pub fn exists(&self) -> bool {
        match self {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres(_) => true,
        }
    }

    /// Runs `f` on a read-only connection, for commands that read the database directly.
    /// PostgreSQL's client must not block inside an async runtime, so there `f` runs on a
    /// thread of its own.
    fn with_read_only<T: Send>(
        &self,
        f: impl FnOnce(&dyn db::Db) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        match self {
            Database::Sqlite(path) => {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
                f(&conn)
            }
            Database::Postgres(config) => off_runtime(|| f(&config.connect()?)),
        }
    }
}

/// Runs `f` on a thread of its own and waits for it (PostgreSQL's blocking client panics
/// when it blocks inside an async runtime, which the server's start-up code runs in).
pub(crate) fn off_runtime<T: Send>(
    f: impl FnOnce() -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Backend("a database task panicked".into())))
    })
}

/// The file's path, or the PostgreSQL URL without its password.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(config) => f.write_str(&config.redacted_url()),
        }
    }
}

/// How long a connection waits for a lock held by another connection (another process on the
/// same file, or a checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store, on SQLite ([`SqlStore::open`]) or PostgreSQL ([`Database::open`]): one writer
/// thread, a few reader threads.
///
/// Dropping it flushes queued writes and joins its threads (briefly blocking the dropping
/// thread); call [`Store::close`] first to shut down without blocking. After `close`, writes
/// fail with [`StoreError::Closed`]; reads keep working until the store is dropped.
///
/// A SQLite path must name a file: `:memory:` does not work, because readers open their
/// own connections to the same path.
pub struct SqlStore {
    // Drop order matters: the writer's thread flushes and exits first, which ends the
    // checkpoint thread; readers go last.
    writer: Writer,
    _checkpointer: Option<Checkpointer>,
    readers: Readers,
    /// What `verify_audit` and `audit_report` check the chain with.
    audit_keys: std::sync::Arc<audit::AuditKeys>,
    /// The SQLite file opened (none on PostgreSQL), checked by `write_problem` too, so a
    /// removed file shows in `/healthz` before any write meets it.
    file: Option<writer::FileIdentity>,
    /// Set once a SQLite write or flush failed (none on PostgreSQL): see `writer::Poison`.
    poison: Option<writer::Poison>,
}

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write transactions started (one per batch).
    pub transactions: u64,
    /// Write commands handled, successful or not.
    pub commands: u64,
    /// Batches in which a command failed, so the batch ran again with a savepoint per
    /// command to fail only that command (each counts as one transaction above).
    pub isolated_batches: u64,
}

/// The database holds raw requests (with their challenge passwords), token hashes and the
/// audit log: it is created readable by its owner only (0600). SQLite creates the WAL and
/// shared-memory files with the database file's mode.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))
}

/// An installation from before [`create_private`] may have the database, WAL or
/// shared-memory file wider than 0600: narrowed at every open.
#[cfg(unix)]
fn narrow_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| StoreError::Backend(format!("{}: {e}", file.display())))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(not(unix))]
fn narrow_permissions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl SqlStore {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date and
    /// starts the writer and reader threads.
    ///
    /// Fails if the database's schema is newer than this build knows, or if the file cannot
    /// be put in WAL mode.
    pub fn open(path: &Path) -> Result<SqlStore, StoreError> {
        SqlStore::open_with_audit(path, audit::AuditKeys::default())
    }

    /// Like [`SqlStore::open`], with the keys that link and check the audit chain (see
    /// [`audit`]). Fails if the chain key starts after the end of the audit log (records were
    /// deleted, or the key belongs to another database).
    pub fn open_with_audit(
        path: &Path,
        audit_keys: audit::AuditKeys,
    ) -> Result<SqlStore, StoreError> {
        create_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::Backend(format!("opening database {}: {e}", path.display()))
        })?;
        configure_writer(&conn)?;
        migrate::migrate(&mut conn, to_unix(SystemTime::now())?)?;
        audit::check_key_against_head(&conn, audit_keys.chain.as_ref())?;

        // Readers open the same file later, maybe after the working directory changed.
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let reader_threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 4);
        let readers = Readers::start_sqlite(&path, reader_threads)?;
        let poison = writer::Poison::default();
        let (checkpointer, checkpoints) = Checkpointer::start(&path, BUSY_TIMEOUT, poison.clone())?;
        let file = writer::FileIdentity::of(&path)?;
        let writer = Writer::start(
            Box::new(writer::SqliteWriter::new(
                conn,
                checkpoints,
                file.clone(),
                poison.clone(),
            )),
            audit_keys.chain.clone(),
        )?;
        // The WAL and shared-memory files exist now; SQLite gives them the database's mode,
        // but an installation from before this check may have all three wider.
        narrow_permissions(&path)?;
        Ok(SqlStore {
            writer,
            _checkpointer: Some(checkpointer),
            readers,
            audit_keys: std::sync::Arc::new(audit_keys),
            file: Some(file),
            poison: Some(poison),
        })
    }

    /// Write transactions and commands so far; `commands / transactions` is the mean batch.
    pub fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    /// Ends every lease held by a node other than `holder`, so `holder` takes each one at its
    /// first claim instead of waiting out `LEASE_TTL`; returns how many there were. Only for
    /// a node that knows no other node uses this database: `signet serve` on a SQLite file it
    /// has locked, after a restart (the leases left are its dead predecessor's). Never on
    /// PostgreSQL, where the holders are live nodes.
    pub async fn take_over_leases(&self, holder: &str) -> Result<u64, StoreError> {
        self.writer.take_over_leases(holder.to_string()).await
    }
}

/// Pragmas for the read-write connection. `journal_mode` is stored in the file; the others
/// are per connection.
fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sql_error("setting journal_mode=WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "the database could not be put in WAL mode (journal_mode is {mode})"
        )));
    }
    // FULL: a WAL commit is fsynced before COMMIT returns, so a resolved write survives a
    // power cut (NORMAL would only protect against application crashes).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql_error("setting synchronous=FULL"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql_error("setting foreign_keys=ON"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sql_error("setting busy_timeout"))?;
    // Checkpoints run on their own thread (see `checkpoint`), not inside the writer's
    // commits. After a checkpoint restarts the WAL, it is truncated back to this size.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(sql_error("setting wal_autocheckpoint"))?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(sql_error("setting journal_size_limit"))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Store for SqlStore {
    fn create_request(&self, req: NewRequest) -> BoxFuture<'_, Result<RequestId, StoreError>> {
        Box::pin(self.writer.create_request(req))
    }

    fn append_events(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.append_events(events))
    }

    fn get_request<'a>(
        &'a self,
        ca: &'a CaName,
        id: RequestId,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .point(move |conn| requests::get_request(conn, &ca, id)),
        )
    }

    fn list_requests<'a>(
        &'a self,
        ca: &'a CaName,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| requests::list_requests(conn, &ca, status, limit)),
        )
    }

    fn outbox_after<'a>(
        &'a self,
        ca: &'a CaName,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<OutboxEvent>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| outbox::outbox_after(conn, &ca, after, limit)),
        )
    }

    fn outbox_head<'a>(&'a self, ca: &'a CaName) -> BoxFuture<'a, Result<u64, StoreError>> {
        let ca = ca.clone();
        Box::pin(self.readers.run(move |conn| outbox::outbox_head(conn, &ca)))
    }

    fn exit_cursor<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let ca = ca.clone();
        let exit = exit.to_string();
        Box::pin(
            self.readers
                .run(move |conn| outbox::exit_cursor(conn, &ca, &exit)),
        )
    }

    fn ack_exit<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let ack = AckExit {
            ca: ca.clone(),
            exit: exit.to_string(),
            seq,
        };
        Box::pin(self.writer.ack_exit(ack))
    }

    fn exit_state<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<signet_core::ExitState, StoreError>> {
        let ca = ca.clone();
        let exit = exit.to_string();
        Box::pin(
            self.readers
                .run(move |conn| exits::exit_state(conn, &ca, &exit)),
        )
    }

    fn exit_failed(
        &self,
        failure: signet_core::ExitFailure,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.exit_failed(failure))
    }

    fn park_event(&self, park: signet_core::ParkEvent) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.park_event(park))
    }

    fn parked_events<'a>(
        &'a self,
        ca: &'a CaName,
        exit: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<signet_core::ParkedEvent>, StoreError>> {
        let ca = ca.clone();
        let exit = exit.map(str::to_string);
        Box::pin(
            self.readers
                .run(move |conn| exits::parked_events(conn, &ca, exit.as_deref(), limit)),
        )
    }

    fn unpark_event<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
        audit: Vec<NewAudit>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.writer.unpark_event(writer::UnparkEvent {
            ca: ca.clone(),
            exit: exit.to_string(),
            seq,
            audit,
        }))
    }

    fn update_request(&self, update: RequestUpdate) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.update_request(update))
    }

    fn change_revocation(&self, change: RevocationChange) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.change_revocation(change))
    }

    fn append_audit(&self, records: Vec<NewAudit>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.append_audit(records))
    }

    fn create_token(&self, token: NewToken) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.writer.create_token(token))
    }

    fn revoke_token(
        &self,
        id: u64,
        at: SystemTime,
        audit: Vec<NewAudit>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.revoke_token(RevokeToken { id, at, audit }))
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, StoreError>> {
        Box::pin(self.readers.run(tokens::list_tokens))
    }

    fn token_marker(&self) -> BoxFuture<'_, Result<signet_core::TokenMarker, StoreError>> {
        Box::pin(self.readers.run(tokens::token_marker))
    }

    fn view_requests<'a>(
        &'a self,
        ca: &'a CaName,
        query: ViewQuery,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| view::view_requests(conn, &ca, &query)),
        )
    }

    fn request_by_serial<'a>(
        &'a self,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .point(move |conn| requests::request_by_serial(conn, &ca, &serial)),
        )
    }

    fn audit_after(
        &self,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditRecord>, StoreError>> {
        Box::pin(
            self.readers
                .run(move |conn| audit::after(conn, after, limit)),
        )
    }

    fn audit_for<'a>(
        &'a self,
        target: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, StoreError>> {
        let target = target.to_string();
        Box::pin(self.readers.run(move |conn| audit::about(conn, &target)))
    }

    fn scan_revoked(&self, query: RevokedQuery) -> BoxFuture<'_, Result<RevokedScan, StoreError>> {
        Box::pin(
            self.readers
                .run(move |conn| revocation::scan_revoked(conn, &query)),
        )
    }

    fn scan_revoked_into(
        &self,
        query: RevokedQuery,
        mut sink: signet_core::store::RevokedSink,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(
            self.readers
                .run(move |conn| revocation::scan_revoked_into(conn, &query, &mut |row| sink(row))),
        )
    }

    fn shards_in_use<'a>(&'a self, ca: &'a CaName) -> BoxFuture<'a, Result<Vec<u32>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| revocation::shards_in_use(conn, &ca)),
        )
    }

    fn store_crl(&self, crl: NewCrl) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.store_crl(crl))
    }

    fn latest_crls<'a>(
        &'a self,
        ca: &'a CaName,
    ) -> BoxFuture<'a, Result<Vec<CrlRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| revocation::latest_crls(conn, &ca)),
        )
    }

    fn list_crls<'a>(
        &'a self,
        ca: &'a CaName,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<CrlRecord>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| revocation::list_crls(conn, &ca, limit)),
        )
    }

    fn certificate_status<'a>(
        &'a self,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> BoxFuture<'a, Result<Option<CertificateStatus>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| revocation::certificate_status(conn, &ca, &serial)),
        )
    }

    fn pending_count(
        &self,
        ca: &CaName,
        requester: Option<String>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| requests::pending_count(conn, &ca, requester.as_deref())),
        )
    }

    fn create_responder(
        &self,
        req: NewRequest,
        key: signet_core::revocation::SealedKey,
    ) -> BoxFuture<'_, Result<RequestId, StoreError>> {
        Box::pin(self.writer.create_responder(req, key))
    }

    fn current_responder<'a>(
        &'a self,
        ca: &'a CaName,
        now: std::time::SystemTime,
    ) -> BoxFuture<'a, Result<Option<signet_core::store::StoredResponder>, StoreError>> {
        let ca = ca.clone();
        Box::pin(
            self.readers
                .run(move |conn| revocation::current_responder(conn, &ca, now)),
        )
    }

    fn certificate_history(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<CertificateHistory, StoreError>> {
        Box::pin(
            self.readers
                .run(move |conn| view::certificate_history(conn, &query)),
        )
    }

    fn ca_statistics(
        &self,
        query: StatisticsQuery,
    ) -> BoxFuture<'_, Result<CaStatistics, StoreError>> {
        Box::pin(
            self.readers
                .run(move |conn| view::ca_statistics(conn, &query)),
        )
    }

    fn audit_head(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.readers.run(view::audit_head))
    }

    fn newest_time(&self) -> BoxFuture<'_, Result<std::time::SystemTime, StoreError>> {
        Box::pin(self.readers.run(view::newest_time))
    }

    fn write_problem(&self) -> Option<String> {
        if let Some(Err(e)) = self.file.as_ref().map(writer::FileIdentity::check) {
            return Some(e.to_string());
        }
        self.poison
            .as_ref()
            .and_then(writer::Poison::get)
            .or_else(|| self.writer.fault())
    }

    fn probe_write(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.probe())
    }

    fn verify_audit(&self) -> BoxFuture<'_, Result<AuditCheck, StoreError>> {
        let keys = std::sync::Arc::clone(&self.audit_keys);
        Box::pin(
            self.readers
                .run(move |conn| audit::verify(conn, &keys, &[]).map(|r| r.to_check())),
        )
    }

    fn audit_checkpoint_base(
        &self,
    ) -> BoxFuture<'_, Result<signet_core::audit::CheckpointBase, StoreError>> {
        Box::pin(self.readers.run(audit::checkpoint_base))
    }

    fn record_audit_checkpoint(
        &self,
        checkpoint: signet_core::audit::AuditCheckpoint,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.writer.record_audit_checkpoint(checkpoint, events))
    }

    fn audit_report(
        &self,
        witnessed: Vec<(String, signet_core::audit::AuditCheckpoint)>,
    ) -> BoxFuture<'_, Result<signet_core::audit::AuditReport, StoreError>> {
        let keys = std::sync::Arc::clone(&self.audit_keys);
        Box::pin(
            self.readers
                .run(move |conn| audit::verify(conn, &keys, &witnessed)),
        )
    }

    fn take_lease(
        &self,
        claim: signet_core::LeaseClaim,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.writer.take_lease(claim))
    }

    fn release_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.writer.release_lease(leases::Release {
            name: name.to_string(),
            holder: holder.to_string(),
        }))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.writer.close())
    }
}
