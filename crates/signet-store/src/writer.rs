//! The single writer thread and its group commit.
//!
//! Every write is a [`Command`] sent over a channel to one `std::thread` that owns the only
//! read-write connection. The thread takes the first queued command, drains whatever else is
//! queued (up to [`MAX_BATCH`]), and runs the whole batch in one `BEGIN IMMEDIATE ... COMMIT`,
//! so one fsync covers every command in it. Callers are answered only after `COMMIT` returns,
//! which is what makes "resolved `Ok`" mean "durable".
//!
//! Failure isolation: a command that fails (say, a duplicate serial number) must fail alone.
//! Commands normally succeed, so the batch first runs without savepoints (they cost about a
//! third of the statement time, measured with `examples/store_bench.rs`). If any command
//! fails, that attempt is rolled back and the batch runs again with each command inside its
//! own `SAVEPOINT`: a failing command is rolled back to its savepoint and only its caller
//! sees the error; the others commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use futures_channel::oneshot;
use rusqlite::{Connection, OptionalExtension, params};
use signet_core::{
    CaName, NewAudit, NewCrl, NewEvent, NewRequest, NewToken, RequestId, RequestUpdate,
    RevocationChange, StoreError,
};

use crate::StoreStats;
use crate::checkpoint::Checkpoints;
use crate::codec::{copy_error, is_unique_violation, seq_to_sql, sql_error, to_unix};

/// The most commands one transaction takes. Large enough that a busy server's whole queue
/// usually fits; small enough that one transaction's WAL growth and latency stay bounded.
pub(crate) const MAX_BATCH: usize = 512;

/// A write and the channel its result goes back on. The constructors pair each operation
/// with a reply of the matching type.
pub(crate) struct Command {
    op: Op,
    reply: Reply,
}

enum Op {
    CreateRequest(Box<NewRequest>),
    CreateResponder(Box<NewRequest>, signet_core::revocation::SealedKey),
    AppendEvents(Vec<NewEvent>),
    AckExit(AckExit),
    UpdateRequest(Box<RequestUpdate>),
    ChangeRevocation(Box<RevocationChange>),
    AppendAudit(Vec<NewAudit>),
    CreateToken(Box<NewToken>),
    RevokeToken(RevokeToken),
    StoreCrl(Box<NewCrl>),
    ExitFailed(Box<signet_core::ExitFailure>),
    ParkEvent(Box<signet_core::ParkEvent>),
    UnparkEvent(Box<UnparkEvent>),
    AuditCheckpoint(Box<(signet_core::audit::AuditCheckpoint, Vec<NewEvent>)>),
}

pub(crate) struct UnparkEvent {
    pub(crate) ca: CaName,
    pub(crate) exit: String,
    pub(crate) seq: u64,
    pub(crate) audit: Vec<NewAudit>,
}

pub(crate) struct RevokeToken {
    pub(crate) id: u64,
    pub(crate) at: SystemTime,
    pub(crate) audit: Vec<NewAudit>,
}

pub(crate) struct AckExit {
    pub(crate) ca: CaName,
    pub(crate) exit: String,
    pub(crate) seq: u64,
}

enum Reply {
    Id(oneshot::Sender<Result<RequestId, StoreError>>),
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Num(oneshot::Sender<Result<u64, StoreError>>),
}

/// What a successful operation produced.
enum Done {
    Id(RequestId),
    Unit,
    Num(u64),
}

/// The handle the store keeps: the command channel and the thread.
pub(crate) struct Writer {
    /// `None` once closed. Senders hold the read lock only while sending, so `close` (the
    /// write lock) knows every command sent before it is already queued ahead of the hang-up.
    commands: RwLock<Option<mpsc::Sender<Command>>>,
    thread: Option<JoinHandle<()>>,
    lifecycle: Arc<Mutex<Lifecycle>>,
    counters: Arc<Counters>,
}

/// Whether the writer thread has finished, and who is waiting for it to.
#[derive(Default)]
struct Lifecycle {
    finished: bool,
    waiters: Vec<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    commands: AtomicU64,
    isolated_batches: AtomicU64,
}

impl Writer {
    /// Starts the writer thread; it owns `conn` from now on and does its part of the WAL
    /// checkpoints (see `checkpoint`) between batches.
    /// `audit_key` links the audit records it appends (`crate::audit`).
    pub(crate) fn start(
        conn: Connection,
        checkpoints: Checkpoints,
        audit_key: Option<crate::audit::ChainKey>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel();
        let lifecycle = Arc::new(Mutex::new(Lifecycle::default()));
        let counters = Arc::new(Counters::default());
        let thread = {
            let lifecycle = Arc::clone(&lifecycle);
            let counters = Arc::clone(&counters);
            thread::Builder::new()
                .name("signet-store-writer".into())
                .spawn(move || {
                    // Declared first so it is dropped last: waiters in `close` are told only
                    // after the connection is closed.
                    let _finished = Finished(lifecycle);
                    crate::audit::use_key_on_this_thread(audit_key);
                    run(conn, &rx, &counters, &checkpoints);
                })
                .map_err(|e| {
                    StoreError::Backend(format!("could not start the writer thread: {e}"))
                })?
        };
        Ok(Writer {
            commands: RwLock::new(Some(tx)),
            thread: Some(thread),
            lifecycle,
            counters,
        })
    }

    pub(crate) async fn create_request(&self, req: NewRequest) -> Result<RequestId, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::CreateRequest(Box::new(req)),
            reply: Reply::Id(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn create_responder(
        &self,
        req: NewRequest,
        key: signet_core::revocation::SealedKey,
    ) -> Result<RequestId, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::CreateResponder(Box::new(req), key),
            reply: Reply::Id(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.unit(Op::AppendEvents(events)).await
    }

    pub(crate) async fn ack_exit(&self, ack: AckExit) -> Result<(), StoreError> {
        self.unit(Op::AckExit(ack)).await
    }

    pub(crate) async fn exit_failed(&self, f: signet_core::ExitFailure) -> Result<(), StoreError> {
        self.unit(Op::ExitFailed(Box::new(f))).await
    }

    pub(crate) async fn park_event(&self, p: signet_core::ParkEvent) -> Result<(), StoreError> {
        self.unit(Op::ParkEvent(Box::new(p))).await
    }

    pub(crate) async fn unpark_event(&self, u: UnparkEvent) -> Result<(), StoreError> {
        self.unit(Op::UnparkEvent(Box::new(u))).await
    }

    pub(crate) async fn update_request(&self, u: RequestUpdate) -> Result<(), StoreError> {
        self.unit(Op::UpdateRequest(Box::new(u))).await
    }

    pub(crate) async fn change_revocation(&self, c: RevocationChange) -> Result<(), StoreError> {
        self.unit(Op::ChangeRevocation(Box::new(c))).await
    }

    pub(crate) async fn store_crl(&self, crl: NewCrl) -> Result<(), StoreError> {
        self.unit(Op::StoreCrl(Box::new(crl))).await
    }

    pub(crate) async fn append_audit(&self, records: Vec<NewAudit>) -> Result<(), StoreError> {
        self.unit(Op::AppendAudit(records)).await
    }

    pub(crate) async fn record_audit_checkpoint(
        &self,
        checkpoint: signet_core::audit::AuditCheckpoint,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.unit(Op::AuditCheckpoint(Box::new((checkpoint, events))))
            .await
    }

    pub(crate) async fn revoke_token(&self, r: RevokeToken) -> Result<(), StoreError> {
        self.unit(Op::RevokeToken(r)).await
    }

    pub(crate) async fn create_token(&self, t: NewToken) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::CreateToken(Box::new(t)),
            reply: Reply::Num(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    async fn unit(&self, op: Op) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op,
            reply: Reply::Unit(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    fn send(&self, cmd: Command) -> Result<(), StoreError> {
        let guard = self.commands.read().unwrap_or_else(PoisonError::into_inner);
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender
            .send(cmd)
            .map_err(|_| StoreError::Backend("the storage writer thread has stopped".into()))
    }

    /// Stops accepting commands and waits until the queued ones are committed and the thread
    /// has closed its connection. Safe to call more than once.
    pub(crate) async fn close(&self) {
        // Dropping the only sender ends the thread's `recv` loop once the queue is empty.
        drop(
            self.commands
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let finished = {
            let mut l = self
                .lifecycle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if l.finished {
                return;
            }
            let (tx, rx) = oneshot::channel();
            l.waiters.push(tx);
            rx
        };
        let _ = finished.await;
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            commands: self.counters.commands.load(Ordering::Relaxed),
            isolated_batches: self.counters.isolated_batches.load(Ordering::Relaxed),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the storage writer stopped before answering this write".into())
}

impl Drop for Writer {
    /// Flushes the queue and joins the thread, so that a dropped store has closed its file.
    /// This blocks for at most the queued batches; call `close().await` first to avoid that.
    fn drop(&mut self) {
        drop(
            self.commands
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the storage writer thread panicked");
        }
    }
}

/// Marks the writer finished (even if it panicked) and wakes `close` callers.
struct Finished(Arc<Mutex<Lifecycle>>);

impl Drop for Finished {
    fn drop(&mut self) {
        let mut l = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        l.finished = true;
        for w in l.waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// The thread's loop: one batch per iteration until every sender is gone.
fn run(
    conn: Connection,
    rx: &mpsc::Receiver<Command>,
    counters: &Counters,
    checkpoints: &Checkpoints,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        counters
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit_batch(&conn, batch, counters)
        }));
        if outcome.is_err() {
            // The batch's reply senders were dropped in the unwind, so its callers see an
            // error. Leave the connection usable for the next batch.
            tracing::error!("the storage writer panicked while committing a batch");
            rollback(&conn);
        }
        checkpoints.after_batch(&conn);
    }
}

/// Runs a batch in one transaction and answers every caller after the commit: optimistically
/// without savepoints first, and again with a savepoint per command if anything failed.
fn commit_batch(conn: &Connection, batch: Vec<Command>, counters: &Counters) {
    counters.transactions.fetch_add(1, Ordering::Relaxed);
    let results = match run_plain(conn, &batch) {
        Attempt::Committed(results) => results,
        Attempt::Failed(e) => {
            // Nothing can be isolated: BEGIN or COMMIT failed.
            tracing::error!(error = %e, commands = batch.len(), "write batch failed");
            batch
                .into_iter()
                .for_each(|c| c.reply.send(Err(copy_error(&e))));
            return;
        }
        Attempt::CommandFailed => {
            counters.isolated_batches.fetch_add(1, Ordering::Relaxed);
            match run_isolated(conn, &batch) {
                Ok(results) => results,
                Err(e) => {
                    tracing::error!(error = %e, commands = batch.len(), "write batch failed");
                    batch
                        .into_iter()
                        .for_each(|c| c.reply.send(Err(copy_error(&e))));
                    return;
                }
            }
        }
    };
    for (cmd, result) in batch.into_iter().zip(results) {
        cmd.reply.send(result);
    }
}

enum Attempt {
    Committed(Vec<Result<Done, StoreError>>),
    /// A command failed; the attempt was rolled back and nothing of it remains.
    CommandFailed,
    /// The transaction itself failed; it was rolled back.
    Failed(StoreError),
}

/// The fast path: every command in one transaction, no savepoints.
fn run_plain(conn: &Connection, batch: &[Command]) -> Attempt {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE", "starting a write transaction") {
        return Attempt::Failed(e);
    }
    let mut results = Vec::with_capacity(batch.len());
    for cmd in batch {
        match cmd.op.execute(conn) {
            Ok(done) => results.push(Ok(done)),
            Err(_) => {
                rollback(conn);
                return Attempt::CommandFailed;
            }
        }
    }
    match exec(conn, "COMMIT", "committing a write transaction") {
        Ok(()) => Attempt::Committed(results),
        Err(e) => {
            rollback(conn);
            Attempt::Failed(e)
        }
    }
}

/// The isolating path: each command between `SAVEPOINT` and `RELEASE`, rolled back to its
/// savepoint if it fails. `Err` means the transaction as a whole failed and was rolled back;
/// every caller gets that error.
fn run_isolated(
    conn: &Connection,
    batch: &[Command],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    exec(conn, "BEGIN IMMEDIATE", "starting a write transaction")?;
    let mut results = Vec::with_capacity(batch.len());
    for cmd in batch {
        match in_savepoint(conn, &cmd.op) {
            Ok(result) => results.push(result),
            Err(e) => {
                rollback(conn);
                return Err(e);
            }
        }
    }
    if let Err(e) = exec(conn, "COMMIT", "committing a write transaction") {
        rollback(conn);
        return Err(e);
    }
    Ok(results)
}

/// Runs one operation inside a savepoint. The outer `Result` is the savepoint machinery's;
/// the inner one is the operation's.
fn in_savepoint(conn: &Connection, op: &Op) -> Result<Result<Done, StoreError>, StoreError> {
    exec(conn, "SAVEPOINT command", "opening a savepoint")?;
    let result = op.execute(conn);
    if result.is_err() {
        exec(conn, "ROLLBACK TO command", "rolling back a savepoint")?;
    }
    exec(conn, "RELEASE command", "releasing a savepoint")?;
    Ok(result)
}

fn exec(conn: &Connection, sql: &str, context: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(sql_error(context))
}

/// Abandons the open transaction, if any (some errors already ended it).
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll back a write transaction");
    }
}

impl Op {
    /// Runs the operation on the open transaction. Operations borrow their input, so a batch
    /// can run twice (see the module docs).
    fn execute(&self, conn: &Connection) -> Result<Done, StoreError> {
        match self {
            Op::CreateRequest(req) => create_request(conn, req).map(Done::Id),
            Op::CreateResponder(req, key) => create_request(conn, req).and_then(|id| {
                crate::revocation::store_responder_key(conn, req, key).map(|()| Done::Id(id))
            }),
            Op::AppendEvents(events) => append_events(conn, events).map(|()| Done::Unit),
            Op::AckExit(ack) => ack_exit(conn, ack).map(|()| Done::Unit),
            Op::UpdateRequest(u) => update_request(conn, u).map(|()| Done::Unit),
            Op::ChangeRevocation(c) => change_revocation(conn, c).map(|()| Done::Unit),
            Op::AppendAudit(records) => records
                .iter()
                .try_for_each(|r| crate::audit::append(conn, r, None))
                .map(|()| Done::Unit),
            Op::CreateToken(t) => create_token(conn, t).map(Done::Num),
            Op::RevokeToken(r) => revoke_token(conn, r).map(|()| Done::Unit),
            Op::StoreCrl(c) => store_crl(conn, c).map(|()| Done::Unit),
            Op::ExitFailed(f) => crate::exits::exit_failed(conn, f).map(|()| Done::Unit),
            Op::ParkEvent(p) => crate::exits::park_event(conn, p).map(|()| Done::Unit),
            Op::UnparkEvent(u) => crate::exits::unpark_event(conn, &u.ca, &u.exit, u.seq, &u.audit)
                .map(|()| Done::Unit),
            Op::AuditCheckpoint(c) => crate::audit::record_checkpoint(conn, &c.0)
                .and_then(|()| append_events(conn, &c.1))
                .map(|()| Done::Unit),
        }
    }
}

impl Reply {
    fn send(self, result: Result<Done, StoreError>) {
        // A caller that stopped waiting is not an error: its write stands.
        match self {
            Reply::Id(tx) => {
                let _ = tx.send(result.and_then(|d| match d {
                    Done::Id(id) => Ok(id),
                    _ => Err(mismatch()),
                }));
            }
            Reply::Unit(tx) => {
                let _ = tx.send(result.and_then(|d| match d {
                    Done::Unit => Ok(()),
                    _ => Err(mismatch()),
                }));
            }
            Reply::Num(tx) => {
                let _ = tx.send(result.and_then(|d| match d {
                    Done::Num(n) => Ok(n),
                    _ => Err(mismatch()),
                }));
            }
        }
    }
}

/// Cannot happen: `Writer`'s methods pair each operation with its reply type.
fn mismatch() -> StoreError {
    StoreError::Backend("internal error: a write's result does not match its request".into())
}

const INSERT_REQUEST: &str = "INSERT INTO requests \
    (ca, status, format, raw, requester, profile, subject, submitted_at, resolved_at, message) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const INSERT_ATTRIBUTE: &str =
    "INSERT INTO request_attributes (request_id, position, name, value) VALUES (?1, ?2, ?3, ?4)";
const INSERT_EXTENSION: &str = "INSERT INTO request_extensions \
    (request_id, position, oid, critical, disabled, origin, value) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_CERTIFICATE: &str = "INSERT INTO certificates \
    (ca, serial, request_id, der, subject, sans, not_before, not_after, shard, spki_sha256) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const INSERT_EVENT: &str =
    "INSERT INTO outbox (ca, event, request_id, at, details) VALUES (?1, ?2, ?3, ?4, ?5)";
const HEAD: &str = "SELECT seq FROM outbox WHERE ca = ?1 ORDER BY seq DESC LIMIT 1";
const UPSERT_CURSOR: &str = "INSERT INTO exit_cursors (ca, exit, seq, updated_at) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (ca, exit) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
    WHERE excluded.seq > exit_cursors.seq";

/// The request row, then its attributes, extensions, certificate and events, all under the
/// new id.
fn create_request(conn: &Connection, req: &NewRequest) -> Result<RequestId, StoreError> {
    let submitted_at = to_unix(req.submitted_at)?;
    let resolved_at = req.resolved_at.map(to_unix).transpose()?;
    conn.prepare_cached(INSERT_REQUEST)
        .and_then(|mut s| {
            s.execute(params![
                req.ca.as_str(),
                req.status.as_str(),
                req.format,
                req.raw,
                req.requester,
                req.profile.as_ref().map(|p| p.as_str()),
                req.subject,
                submitted_at,
                resolved_at,
                req.message,
            ])
        })
        .map_err(sql_error("recording a request"))?;
    let rowid = conn.last_insert_rowid();
    let id = RequestId::new(rowid).map_err(|e| {
        StoreError::Backend(format!("the database assigned an invalid request id: {e}"))
    })?;

    insert_attributes(conn, rowid, &req.attributes)?;
    insert_extensions(conn, rowid, &req.extensions)?;

    if let Some(cert) = &req.certificate {
        insert_certificate(conn, &req.ca, rowid, cert)?;
    }

    if !req.events.is_empty() {
        // Events raised by a new request happen when it was resolved (or submitted, if it is
        // still pending).
        let at = resolved_at.unwrap_or(submitted_at);
        let mut s = conn
            .prepare_cached(INSERT_EVENT)
            .map_err(sql_error("recording events"))?;
        for (event, details) in &req.events {
            s.execute(params![req.ca.as_str(), event.bit(), rowid, at, details])
                .map_err(sql_error("recording an event"))?;
        }
    }
    for record in &req.audit {
        crate::audit::append(conn, record, Some(rowid))?;
    }
    Ok(id)
}

const UPDATE_REQUEST: &str = "UPDATE requests     SET status = ?1, message = ?2, resolved_at = ?3, version = version + 1     WHERE id = ?4 AND ca = ?5 AND version = ?6";
const DELETE_ATTRIBUTES: &str = "DELETE FROM request_attributes WHERE request_id = ?1";
const DELETE_EXTENSIONS: &str = "DELETE FROM request_extensions WHERE request_id = ?1";
const INSERT_APPROVAL: &str =
    "INSERT INTO approvals (request_id, approver, at) VALUES (?1, ?2, ?3)";
const DELETE_APPROVALS: &str = "DELETE FROM approvals WHERE request_id = ?1";

/// A change to an existing request, refused unless it is still at the version the caller
/// read.
fn update_request(conn: &Connection, u: &RequestUpdate) -> Result<(), StoreError> {
    let id = u.id.get();
    let resolved_at = u.resolved_at.map(to_unix).transpose()?;
    let version = seq_to_sql(u.expect_version, "request version")?;
    let changed = conn
        .prepare_cached(UPDATE_REQUEST)
        .and_then(|mut s| {
            s.execute(params![
                u.status.as_str(),
                u.message,
                resolved_at,
                id,
                u.ca.as_str(),
                version
            ])
        })
        .map_err(sql_error("updating a request"))?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "request {id} of CA {} is not at version {}",
            u.ca, u.expect_version
        )));
    }
    if let Some(attributes) = &u.attributes {
        exec_id(conn, DELETE_ATTRIBUTES, id, "replacing request attributes")?;
        insert_attributes(conn, id, attributes)?;
    }
    if let Some(extensions) = &u.extensions {
        exec_id(conn, DELETE_EXTENSIONS, id, "replacing request extensions")?;
        insert_extensions(conn, id, extensions)?;
    }
    if u.clear_approvals {
        exec_id(conn, DELETE_APPROVALS, id, "clearing approvals")?;
    }
    if let Some(a) = &u.add_approval {
        let at = to_unix(a.at)?;
        conn.prepare_cached(INSERT_APPROVAL)
            .and_then(|mut s| s.execute(params![id, a.approver, at]))
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!(
                        "{} has already approved request {id}",
                        a.approver
                    ))
                } else {
                    sql_error("recording an approval")(e)
                }
            })?;
    }
    if let Some(cert) = &u.certificate {
        insert_certificate(conn, &u.ca, id, cert)?;
    }
    insert_events(conn, &u.ca, Some(id), &u.events)?;
    for record in &u.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

fn insert_attributes(
    conn: &Connection,
    request_id: i64,
    attributes: &[(String, String)],
) -> Result<(), StoreError> {
    if attributes.is_empty() {
        return Ok(());
    }
    let mut s = conn
        .prepare_cached(INSERT_ATTRIBUTE)
        .map_err(sql_error("recording request attributes"))?;
    for (position, (name, value)) in attributes.iter().enumerate() {
        s.execute(params![request_id, position as i64, name, value])
            .map_err(sql_error("recording a request attribute"))?;
    }
    Ok(())
}

fn insert_extensions(
    conn: &Connection,
    request_id: i64,
    extensions: &[signet_core::StoredExtension],
) -> Result<(), StoreError> {
    if extensions.is_empty() {
        return Ok(());
    }
    let mut s = conn
        .prepare_cached(INSERT_EXTENSION)
        .map_err(sql_error("recording request extensions"))?;
    for (position, ext) in extensions.iter().enumerate() {
        s.execute(params![
            request_id,
            position as i64,
            ext.oid,
            ext.critical,
            ext.disabled,
            ext.origin.as_str(),
            ext.value,
        ])
        .map_err(sql_error("recording a request extension"))?;
    }
    Ok(())
}

fn exec_id(conn: &Connection, sql: &str, id: i64, context: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![id]))
        .map(drop)
        .map_err(sql_error(context))
}

/// A certificate for the key (?1) whose requester is not the (named) requester of request
/// ?2: anonymous and imported certificates have no holder, so they are never "the same".
const KEY_OF_ANOTHER: &str = "SELECT 1 FROM certificates c JOIN requests r ON r.id = c.request_id \
    WHERE c.spki_sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM requests me \
    WHERE me.id = ?2 AND me.requester IS NOT NULL AND me.requester = r.requester COLLATE NOCASE) \
    LIMIT 1";

fn insert_certificate(
    conn: &Connection,
    ca: &CaName,
    request_id: i64,
    cert: &signet_core::NewCertificate,
) -> Result<(), StoreError> {
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Backend(format!("encoding subject alternative names: {e}")))?;
    let serial = cert.serial.to_hex();
    let (not_before, not_after) = (to_unix(cert.not_before)?, to_unix(cert.not_after)?);
    if cert.unique_key {
        let taken = conn
            .prepare_cached(KEY_OF_ANOTHER)
            .and_then(|mut s| {
                s.query_row(params![cert.spki_sha256.as_slice(), request_id], |_| Ok(()))
                    .optional()
            })
            .map_err(sql_error("checking the key's other certificates"))?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "the public key (SHA-256 {}) was certified for another requester while this request was decided; the profile needs a key of your own",
                cert.spki_sha256
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )));
        }
    }
    conn.prepare_cached(INSERT_CERTIFICATE)
        .and_then(|mut s| {
            s.execute(params![
                ca.as_str(),
                serial,
                request_id,
                cert.der,
                cert.subject,
                sans,
                not_before,
                not_after,
                cert.shard,
                cert.spki_sha256.as_slice(),
            ])
        })
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "serial number {serial} is already recorded for CA {ca}"
                ))
            } else {
                sql_error("recording a certificate")(e)
            }
        })?;
    Ok(())
}

/// Events raised now by a change to an existing request (or none).
fn insert_events(
    conn: &Connection,
    ca: &CaName,
    request_id: Option<i64>,
    events: &[(signet_core::Event, String)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = to_unix(SystemTime::now())?;
    let mut s = conn
        .prepare_cached(INSERT_EVENT)
        .map_err(sql_error("recording events"))?;
    for (event, details) in events {
        s.execute(params![ca.as_str(), event.bit(), request_id, at, details])
            .map_err(sql_error("recording an event"))?;
    }
    Ok(())
}

const CHANGE_REVOCATION: &str = "UPDATE certificates \
    SET revoked_at = ?1, revocation_reason = ?2, invalidity_date = ?3, revocation_changed_at = ?9, \
        revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates \
                          WHERE ca = ?4 AND revocation_seq IS NOT NULL) \
    WHERE ca = ?4 AND serial = ?5 AND request_id = ?6 \
      AND revoked_at IS ?7 AND revocation_reason IS ?8";
const SET_STATUS: &str =
    "UPDATE requests SET status = ?1, version = version + 1 WHERE id = ?2 AND ca = ?3";

fn change_revocation(conn: &Connection, c: &RevocationChange) -> Result<(), StoreError> {
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
    let changed = conn
        .prepare_cached(CHANGE_REVOCATION)
        .and_then(|mut s| {
            s.execute(params![
                new_at,
                new_reason,
                new_invalidity,
                c.ca.as_str(),
                serial,
                c.request_id.get(),
                old_at,
                old_reason,
                changed_at,
            ])
        })
        .map_err(sql_error("changing a revocation"))?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "certificate {serial} of CA {} changed meanwhile",
            c.ca
        )));
    }
    conn.prepare_cached(SET_STATUS)
        .and_then(|mut s| {
            s.execute(params![
                c.status.as_str(),
                c.request_id.get(),
                c.ca.as_str()
            ])
        })
        .map_err(sql_error("updating a request's status"))?;
    insert_events(conn, &c.ca, Some(c.request_id.get()), &c.events)?;
    for record in &c.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

const INSERT_CRL: &str = "INSERT INTO crls \
    (ca, shard, number, delta_base, revocation_seq, this_update, next_update, entries, der) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/// The newest CRLs of each kind kept per partition; older ones are dropped when a new one is
/// stored (a million-entry CRL is tens of megabytes).
const KEEP_CRLS: i64 = 3;
const PRUNE_CRLS: &str = "DELETE FROM crls WHERE ca = ?1 AND shard = ?2 \
      AND (delta_base IS NULL) = ?3 \
      AND id NOT IN (SELECT id FROM crls WHERE ca = ?1 AND shard = ?2 \
                     AND (delta_base IS NULL) = ?3 ORDER BY number DESC LIMIT ?4)";

fn store_crl(conn: &Connection, c: &NewCrl) -> Result<(), StoreError> {
    let number = seq_to_sql(c.number, "CRL number")?;
    let base = c
        .delta_base
        .map(|b| seq_to_sql(b, "CRL number"))
        .transpose()?;
    let revocation_seq = seq_to_sql(c.revocation_seq, "revocation sequence")?;
    let entries = seq_to_sql(c.entries, "CRL entries")?;
    let (this_update, next_update) = (to_unix(c.this_update)?, to_unix(c.next_update)?);
    conn.prepare_cached(INSERT_CRL)
        .and_then(|mut s| {
            s.execute(params![
                c.ca.as_str(),
                c.shard,
                number,
                base,
                revocation_seq,
                this_update,
                next_update,
                entries,
                c.der.as_slice(),
            ])
        })
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "CRL number {} of CA {} partition {} is already recorded",
                    c.number, c.ca, c.shard
                ))
            } else {
                sql_error("recording a CRL")(e)
            }
        })?;
    conn.prepare_cached(PRUNE_CRLS)
        .and_then(|mut s| s.execute(params![c.ca.as_str(), c.shard, base.is_none(), KEEP_CRLS]))
        .map_err(sql_error("dropping old CRLs"))?;
    insert_events(conn, &c.ca, None, &c.events)?;
    for record in &c.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

const INSERT_TOKEN: &str = "INSERT INTO tokens     (name, hash, roles, cas, groups, created_at, created_by, expires_at)     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const LIVE_TOKEN_NAMED: &str = "SELECT name FROM tokens WHERE name = ?1 COLLATE NOCASE \
    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) LIMIT 1";
const REVOKE_TOKEN: &str = "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL";

fn create_token(conn: &Connection, t: &NewToken) -> Result<u64, StoreError> {
    let cas: Vec<&str> = t.cas.iter().map(CaName::as_str).collect();
    let created_at = to_unix(t.created_at)?;
    let expires_at = t.expires_at.map(to_unix).transpose()?;
    // One name, one identity: a second live token under the same name (in any case) would
    // let `ALICE` approve what `alice` asked for, or hold admin and manager through two
    // tokens. Checked here, in the writer's transaction, so two creations cannot race.
    let holder: Option<String> = conn
        .prepare_cached(LIVE_TOKEN_NAMED)
        .and_then(|mut s| {
            s.query_row(params![t.name, created_at], |r| r.get(0))
                .optional()
        })
        .map_err(sql_error("checking token names"))?;
    if let Some(existing) = holder {
        return Err(StoreError::Conflict(format!(
            "a token named {existing:?} is already live; identity names are unique regardless of case (revoke that token first to reuse the name)"
        )));
    }
    conn.prepare_cached(INSERT_TOKEN)
        .and_then(|mut s| {
            s.execute(params![
                t.name,
                t.hash.as_slice(),
                t.roles.to_string(),
                cas.join(","),
                t.groups.join(","),
                created_at,
                t.created_by,
                expires_at,
            ])
        })
        .map_err(sql_error("recording a token"))?;
    let id = conn.last_insert_rowid();
    for record in &t.audit {
        crate::audit::append(conn, record, None)?;
    }
    u64::try_from(id)
        .map_err(|_| StoreError::Backend("the database assigned a negative token id".into()))
}

fn revoke_token(conn: &Connection, r: &RevokeToken) -> Result<(), StoreError> {
    let id = seq_to_sql(r.id, "token id")?;
    let at = to_unix(r.at)?;
    let changed = conn
        .prepare_cached(REVOKE_TOKEN)
        .and_then(|mut s| s.execute(params![at, id]))
        .map_err(sql_error("revoking a token"))?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "token {} does not exist or is already revoked",
            r.id
        )));
    }
    for record in &r.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

fn append_events(conn: &Connection, events: &[NewEvent]) -> Result<(), StoreError> {
    let mut s = conn
        .prepare_cached(INSERT_EVENT)
        .map_err(sql_error("recording events"))?;
    for e in events {
        let request_id = e.request_id.map(RequestId::get);
        s.execute(params![
            e.ca.as_str(),
            e.event.bit(),
            request_id,
            to_unix(e.at)?,
            e.details
        ])
        .map_err(|err| match err {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                StoreError::Backend(format!(
                    "event {} refers to request {} which does not exist",
                    e.event,
                    request_id.unwrap_or_default()
                ))
            }
            other => sql_error("recording an event")(other),
        })?;
    }
    Ok(())
}

/// Moves the cursor forward (never back). Acknowledging past the CA's newest event is refused:
/// it would make the exit silently skip events that do not exist yet.
fn ack_exit(conn: &Connection, ack: &AckExit) -> Result<(), StoreError> {
    let seq = seq_to_sql(ack.seq, "outbox sequence number")?;
    let head: i64 = conn
        .prepare_cached(HEAD)
        .and_then(|mut s| {
            s.query_row(params![ack.ca.as_str()], |r| r.get(0))
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(0),
                    e => Err(e),
                })
        })
        .map_err(sql_error("reading the outbox head"))?;
    if seq > head {
        return Err(StoreError::StateChanged(format!(
            "exit {:?} of CA {} acknowledged event {seq}, past the newest event {head}",
            ack.exit, ack.ca
        )));
    }
    let now = to_unix(SystemTime::now())?;
    conn.prepare_cached(UPSERT_CURSOR)
        .and_then(|mut s| s.execute(params![ack.ca.as_str(), ack.exit, seq, now]))
        .map_err(sql_error("recording an exit cursor"))?;
    crate::exits::record_success(conn, &ack.ca, &ack.exit, seq)
}
