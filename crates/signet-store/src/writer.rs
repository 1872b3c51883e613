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

use futures_channel::oneshot;
use rusqlite::Connection;
use signet_core::{
    CaName, NewAudit, NewCrl, NewEvent, NewRequest, NewToken, RequestId, RequestUpdate,
    RevocationChange, StoreError,
};

use crate::StoreStats;
use crate::acme::write::{AcmeDone, AcmeWrite};
use crate::checkpoint::Checkpoints;
use crate::codec::{copy_error, sql_error};
use crate::db::Db;
use crate::outbox::AckExit;
use crate::tokens::RevokeToken;
use crate::{outbox, requests, revocation, tokens};

mod guard;
pub(crate) use guard::{FileIdentity, Poison};

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
    /// Every ACME write (`crate::acme::write`).
    Acme(Box<AcmeWrite>),
    TakeLease(Box<signet_core::LeaseClaim>),
    ReleaseLease(Box<crate::leases::Release>),
    TakeOverLeases(String),
    /// A durable write that changes nothing (`Store::probe_write`).
    Probe,
}

pub(crate) struct UnparkEvent {
    pub(crate) ca: CaName,
    pub(crate) exit: String,
    pub(crate) seq: u64,
    pub(crate) audit: Vec<NewAudit>,
}

enum Reply {
    Id(oneshot::Sender<Result<RequestId, StoreError>>),
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Num(oneshot::Sender<Result<u64, StoreError>>),
    Acme(oneshot::Sender<Result<AcmeDone, StoreError>>),
}

/// What a successful operation produced.
enum Done {
    Id(RequestId),
    Unit,
    Num(u64),
    Acme(AcmeDone),
}

/// The writer thread's connection, with what its backend does around a batch.
pub(crate) trait WriteConn: Send {
    fn db(&self) -> &dyn Db;

    /// Commits the open transaction.
    fn commit(&mut self) -> Result<(), StoreError> {
        self.db().batch("COMMIT", "committing a write transaction")
    }

    /// Opens the batch's transaction. `light`: the batch holds only light writes (see
    /// `Op::is_light`), which may commit without waiting for their own flush to disk.
    fn begin(&mut self, light: bool) -> Result<(), StoreError>;

    /// Abandons the open transaction, if any (some errors already ended it).
    fn rollback(&mut self);

    /// Between batches, outside any transaction.
    fn after_batch(&mut self) {}
}

/// SQLite's writer: `BEGIN IMMEDIATE`, `PRAGMA synchronous` switched for light batches, and
/// the WAL checkpoints between batches.
pub(crate) struct SqliteWriter {
    conn: Connection,
    checkpoints: Checkpoints,
    /// The connection's `synchronous` level is NORMAL (FULL, its default, when false),
    /// changed only when a batch needs the other one.
    light_now: bool,
    /// The file the connection opened, checked before every batch.
    file: FileIdentity,
    /// Set after a write or flush failed: no batch starts any more.
    poison: Poison,
}

impl SqliteWriter {
    pub(crate) fn new(
        conn: Connection,
        checkpoints: Checkpoints,
        file: FileIdentity,
        poison: Poison,
    ) -> SqliteWriter {
        SqliteWriter {
            conn,
            checkpoints,
            light_now: false,
            file,
            poison,
        }
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.poison.before_close(&self.conn);
    }
}

impl WriteConn for SqliteWriter {
    fn db(&self) -> &dyn Db {
        &self.conn
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| self.poison.check(e, "committing a write transaction"))
    }

    fn begin(&mut self, light: bool) -> Result<(), StoreError> {
        self.poison.refuse()?;
        self.file.check()?;
        if light != self.light_now {
            self.light_now = set_synchronous(&self.conn, light);
            if self.light_now && !light {
                // Still NORMAL: this batch cannot be made durable, so it is refused whole.
                return Err(StoreError::Backend(
                    "could not make the write durable".into(),
                ));
            }
        }
        exec(
            &self.conn,
            "BEGIN IMMEDIATE",
            "starting a write transaction",
        )
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "could not roll back a write transaction");
        }
    }

    fn after_batch(&mut self) {
        if self.poison.get().is_none() {
            self.checkpoints.after_batch(&self.conn);
        }
    }
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
    /// Why the last batch that met a fault of the database failed (`StoreError::Unavailable`:
    /// a full disk, an I/O error, a lost connection); cleared only by a health probe that
    /// writes (`Op::Probe`). Another batch's success proves nothing: one that changed no row
    /// or was light (not flushed) commits without a durable write, and clearing on it made
    /// `/healthz` flap between 200 and 503 on a read-only disk.
    fault: Mutex<Option<String>>,
}

impl Counters {
    fn set_fault(&self, fault: Option<String>) {
        let mut current = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        match (&fault, current.is_some()) {
            (Some(why), false) => tracing::error!(error = %why, "writes to the database fail"),
            (None, true) => tracing::info!("writes to the database succeed again"),
            _ => {}
        }
        *current = fault;
    }
}

impl Writer {
    /// Starts the writer thread; it owns `conn` from now on.
    /// `audit_key` links the audit records it appends (`crate::audit`).
    pub(crate) fn start(
        conn: Box<dyn WriteConn>,
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
                    run(conn, &rx, &counters);
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

    pub(crate) async fn take_lease(
        &self,
        claim: signet_core::LeaseClaim,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::TakeLease(Box::new(claim)),
            reply: Reply::Num(reply),
        })?;
        answer.await.map_err(|_| stopped())?.map(|held| held == 1)
    }

    pub(crate) async fn take_over_leases(&self, holder: String) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::TakeOverLeases(holder),
            reply: Reply::Num(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn release_lease(&self, r: crate::leases::Release) -> Result<(), StoreError> {
        self.unit(Op::ReleaseLease(Box::new(r))).await
    }

    pub(crate) async fn acme(&self, w: AcmeWrite) -> Result<AcmeDone, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::Acme(Box::new(w)),
            reply: Reply::Acme(reply),
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

    /// A durable write that changes nothing: whether writes succeed (see
    /// `Store::probe_write`).
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command {
            op: Op::Probe,
            reply: Reply::Unit(reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Why writes fail, until one succeeds again (see [`Counters::fault`]).
    pub(crate) fn fault(&self) -> Option<String> {
        self.counters
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

/// Sets `PRAGMA synchronous` for the next transactions: NORMAL for a light batch, FULL
/// otherwise; returns whether NORMAL is now in force. A failure to set NORMAL keeps FULL, the
/// safe side; a failure to set FULL back is reported as NORMAL still in force, so the next
/// durable batch tries again.
fn set_synchronous(conn: &Connection, light: bool) -> bool {
    let level = if light { "NORMAL" } else { "FULL" };
    match conn.pragma_update(None, "synchronous", level) {
        Ok(()) => light,
        Err(e) => {
            tracing::warn!(error = %e, level, "could not set synchronous");
            !light
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
fn run(mut conn: Box<dyn WriteConn>, rx: &mpsc::Receiver<Command>, counters: &Counters) {
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
            commit_batch(&mut *conn, batch, counters)
        }));
        if outcome.is_err() {
            // The batch's reply senders were dropped in the unwind, so its callers see an
            // error. Leave the connection usable for the next batch.
            tracing::error!("the storage writer panicked while committing a batch");
            conn.rollback();
        }
        conn.after_batch();
    }
}

/// Runs a batch in one transaction and answers every caller after the commit: optimistically
/// without savepoints first, and again with a savepoint per command if anything failed.
fn commit_batch(conn: &mut dyn WriteConn, batch: Vec<Command>, counters: &Counters) {
    counters.transactions.fetch_add(1, Ordering::Relaxed);
    let probe = batch.iter().position(|c| matches!(c.op, Op::Probe));
    let results = match run_plain(conn, &batch) {
        Attempt::Committed(results) => results,
        Attempt::Failed(e) => {
            // Nothing can be isolated: BEGIN or COMMIT failed.
            tracing::error!(error = %e, commands = batch.len(), "write batch failed");
            record_fault(counters, std::slice::from_ref(&Err(copy_error(&e))), None);
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
                    record_fault(counters, std::slice::from_ref(&Err(copy_error(&e))), None);
                    batch
                        .into_iter()
                        .for_each(|c| c.reply.send(Err(copy_error(&e))));
                    return;
                }
            }
        }
    };
    record_fault(counters, &results, probe);
    for (cmd, result) in batch.into_iter().zip(results) {
        cmd.reply.send(result);
    }
}

/// The health probe's write: negates one row's value and negates it back, so the
/// transaction changes nothing yet appends to the log and is flushed like any other.
/// Rewriting a value with itself (`SET x = x`, the first version) writes nothing at all in
/// SQLite (a b-tree cell overwritten with identical bytes leaves its page clean), so that
/// probe succeeded on a read-only disk and `/healthz` answered 200 (tests/faults.rs, the
/// loop-disk tests).
const PROBE: &str = "UPDATE schema_migrations SET applied_at = -applied_at \
    WHERE version = (SELECT max(version) FROM schema_migrations); \
    UPDATE schema_migrations SET applied_at = -applied_at \
    WHERE version = (SELECT max(version) FROM schema_migrations)";

/// After a batch: a command that met a fault of the database (`Unavailable`) marks writes
/// as failing; the health probe at `probe` in the batch, written without one, clears the mark.
fn record_fault(counters: &Counters, results: &[Result<Done, StoreError>], probe: Option<usize>) {
    let fault = results.iter().find_map(|r| match r {
        Err(StoreError::Unavailable(why)) => Some(why.clone()),
        _ => None,
    });
    let probed = probe.is_some_and(|i| results.get(i).is_some_and(Result::is_ok));
    if fault.is_some() || probed {
        counters.set_fault(fault);
    }
}

enum Attempt {
    Committed(Vec<Result<Done, StoreError>>),
    /// A command failed; the attempt was rolled back and nothing of it remains.
    CommandFailed,
    /// The transaction itself failed; it was rolled back.
    Failed(StoreError),
}

/// Whether every command in the batch is light (see `Op::is_light`): a batch of light writes
/// alone commits without its own flush; any other write in the batch makes it fully durable.
fn is_light(batch: &[Command]) -> bool {
    batch.iter().all(|c| c.op.is_light())
}

/// The fast path: every command in one transaction, no savepoints.
fn run_plain(conn: &mut dyn WriteConn, batch: &[Command]) -> Attempt {
    crate::audit::forget_head();
    if let Err(e) = conn.begin(is_light(batch)) {
        conn.rollback();
        return Attempt::Failed(e);
    }
    let mut results = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while !rest.is_empty() {
        // Consecutive new requests are written together, a few statements for them all.
        let requests: Vec<&NewRequest> = rest
            .iter()
            .map_while(|c| match &c.op {
                Op::CreateRequest(req) => Some(&**req),
                _ => None,
            })
            .collect();
        let (done, taken) = match requests.len() {
            0 | 1 => (rest[0].op.execute(conn.db()).map(|d| vec![d]), 1),
            n => (
                requests::create_requests(conn.db(), &requests)
                    .map(|ids| ids.into_iter().map(Done::Id).collect()),
                n,
            ),
        };
        match done {
            Ok(done) => results.extend(done.into_iter().map(Ok)),
            Err(_) => {
                conn.rollback();
                return Attempt::CommandFailed;
            }
        }
        rest = &rest[taken..];
    }
    match conn.commit() {
        Ok(()) => Attempt::Committed(results),
        Err(e) => {
            conn.rollback();
            Attempt::Failed(e)
        }
    }
}

/// The isolating path: each command between `SAVEPOINT` and `RELEASE`, rolled back to its
/// savepoint if it fails. `Err` means the transaction as a whole failed and was rolled back;
/// every caller gets that error.
fn run_isolated(
    conn: &mut dyn WriteConn,
    batch: &[Command],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    crate::audit::forget_head();
    if let Err(e) = conn.begin(is_light(batch)) {
        conn.rollback();
        return Err(e);
    }
    let mut results = Vec::with_capacity(batch.len());
    for cmd in batch {
        match in_savepoint(conn.db(), &cmd.op) {
            Ok(result) => results.push(result),
            Err(e) => {
                conn.rollback();
                return Err(e);
            }
        }
    }
    if let Err(e) = conn.commit() {
        conn.rollback();
        return Err(e);
    }
    Ok(results)
}

/// Runs one operation inside a savepoint. The outer `Result` is the savepoint machinery's;
/// the inner one is the operation's.
fn in_savepoint(conn: &dyn Db, op: &Op) -> Result<Result<Done, StoreError>, StoreError> {
    conn.batch("SAVEPOINT command", "opening a savepoint")?;
    let result = op.execute(conn);
    if result.is_err() {
        // The command's audit records are undone with it.
        crate::audit::forget_head();
        conn.batch("ROLLBACK TO command", "rolling back a savepoint")?;
    }
    conn.batch("RELEASE command", "releasing a savepoint")?;
    Ok(result)
}

fn exec(conn: &Connection, sql: &str, context: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(sql_error(context))
}

impl Op {
    /// A write whose loss on a power failure (not a crash: WAL with `synchronous=NORMAL`
    /// keeps what the process committed) costs nothing anyone was promised, so a batch made
    /// only of such writes commits without an fsync; the next fully durable commit — one per
    /// batch of anything else — syncs them with the WAL. They are:
    /// - ACME used-nonce records and claims (`AcmeWrite::is_light`): a power loss can forget
    ///   the use of nonces in the last moments (a client still holding such a signed request
    ///   could send it once more, and it then meets the state checks every request meets),
    ///   or a claim nothing durable followed yet;
    /// - exit acknowledgements: delivery is at least once, and a lost acknowledgement only
    ///   delivers those events again;
    /// - leases: a lease lost to a power cut is one nobody holds, taken again by the next
    ///   claim.
    fn is_light(&self) -> bool {
        match self {
            Op::Acme(w) => w.is_light(),
            Op::AckExit(_) | Op::TakeLease(_) | Op::ReleaseLease(_) => true,
            _ => false,
        }
    }

    /// Runs the operation on the open transaction. Operations borrow their input, so a batch
    /// can run twice (see the module docs).
    fn execute(&self, conn: &dyn Db) -> Result<Done, StoreError> {
        match self {
            Op::CreateRequest(req) => requests::create_requests(conn, &[req]).and_then(only_id),
            Op::CreateResponder(req, key) => requests::create_requests(conn, &[req])
                .and_then(only_id)
                .and_then(|done| revocation::store_responder_key(conn, req, key).map(|()| done)),
            Op::AppendEvents(events) => outbox::append_events(conn, events).map(|()| Done::Unit),
            Op::AckExit(ack) => outbox::ack_exit(conn, ack).map(|()| Done::Unit),
            Op::UpdateRequest(u) => requests::update_request(conn, u).map(|()| Done::Unit),
            Op::ChangeRevocation(c) => revocation::change_revocation(conn, c).map(|()| Done::Unit),
            Op::AppendAudit(records) => {
                crate::audit::append_records(conn, records).map(|()| Done::Unit)
            }
            Op::CreateToken(t) => tokens::create_token(conn, t).map(Done::Num),
            Op::RevokeToken(r) => tokens::revoke_token(conn, r).map(|()| Done::Unit),
            Op::StoreCrl(c) => revocation::store_crl(conn, c).map(|()| Done::Unit),
            Op::ExitFailed(f) => crate::exits::exit_failed(conn, f).map(|()| Done::Unit),
            Op::ParkEvent(p) => crate::exits::park_event(conn, p).map(|()| Done::Unit),
            Op::UnparkEvent(u) => crate::exits::unpark_event(conn, &u.ca, &u.exit, u.seq, &u.audit)
                .map(|()| Done::Unit),
            Op::AuditCheckpoint(c) => crate::audit::record_checkpoint(conn, &c.0)
                .and_then(|()| outbox::append_events(conn, &c.1))
                .map(|()| Done::Unit),
            Op::Acme(w) => crate::acme::write::execute(conn, w).map(Done::Acme),
            Op::TakeLease(claim) => {
                crate::leases::take(conn, claim).map(|held| Done::Num(u64::from(held)))
            }
            Op::ReleaseLease(r) => crate::leases::release(conn, r).map(|()| Done::Unit),
            Op::TakeOverLeases(holder) => crate::leases::take_over(conn, holder).map(Done::Num),
            Op::Probe => conn
                .batch(PROBE, "writing the health probe")
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
            Reply::Acme(tx) => {
                let _ = tx.send(result.and_then(|d| match d {
                    Done::Acme(done) => Ok(done),
                    _ => Err(mismatch()),
                }));
            }
        }
    }
}

/// The id of the one request [`requests::create_requests`] was given.
fn only_id(ids: Vec<RequestId>) -> Result<Done, StoreError> {
    match ids[..] {
        [id] => Ok(Done::Id(id)),
        _ => Err(mismatch()),
    }
}

/// Cannot happen: `Writer`'s methods pair each operation with its reply type.
fn mismatch() -> StoreError {
    StoreError::Backend("internal error: a write's result does not match its request".into())
}
