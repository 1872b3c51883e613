//! Reads: a few threads, each with its own read-only connection (opened on its first job),
//! fed by one job channel; and point lookups (one row by its key, microseconds of work) run
//! inline on the caller's thread with a connection from a small idle pool ([`Readers::point`]),
//! which saves the two thread switches a hop to a reader thread costs. The queries live with their records (`requests`, `outbox`,
//! `tokens`, `view`, `revocation`, `exits`, `audit`). WAL lets them read while the writer commits; each query sees the
//! database as of its last commit, so a write whose future resolved is visible to every read
//! started after it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use futures_channel::oneshot;
use rusqlite::{Connection, OpenFlags};
use signet_core::StoreError;

use crate::codec::sql_error;
use crate::db::Db;

type Job = Box<dyn FnOnce(Result<&dyn Db, &StoreError>) + Send + 'static>;

/// A read connection, as the backend opens it.
pub(crate) type ReadConn = Box<dyn Db + Send>;

/// Opens a read connection (again, after one was lost).
pub(crate) type Connect = Arc<dyn Fn() -> Result<ReadConn, StoreError> + Send + Sync>;

/// Most connections the inline point lookups keep open (about one per runtime worker; a
/// lookup that finds none idle and the pool full goes to the reader threads).
const POINT_CONNECTIONS: usize = 4;

/// The reader threads and their job channel, and the inline lookups' connections.
pub(crate) struct Readers {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    connect: Connect,
    /// Idle connections for [`Readers::point`], and how many exist (idle or in use).
    idle: Mutex<(Vec<ReadConn>, usize)>,
    /// Whether point lookups may run on the caller's thread. Not for a client that runs its
    /// own event loop (PostgreSQL's), which must not block inside the server's runtime.
    inline_points: bool,
}

impl Readers {
    /// Starts `count` reader threads for the SQLite database at `path`.
    pub(crate) fn start_sqlite(path: &Path, count: usize) -> Result<Readers, StoreError> {
        let path = path.to_path_buf();
        let connect: Connect =
            Arc::new(move || open_read_only(&path).map(|c| Box::new(c) as ReadConn));
        Readers::start(connect, count, true)
    }

    /// Starts `count` reader threads, each with a connection from `connect` (opened on its
    /// first job, and again after it is lost).
    pub(crate) fn start(
        connect: Connect,
        count: usize,
        inline_points: bool,
    ) -> Result<Readers, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let rx = Arc::clone(&rx);
            let connect = Arc::clone(&connect);
            let t = thread::Builder::new()
                .name(format!("signet-store-read-{i}"))
                .spawn(move || serve(&*connect, &rx))
                .map_err(|e| {
                    StoreError::Backend(format!("could not start a reader thread: {e}"))
                })?;
            threads.push(t);
        }
        Ok(Readers {
            jobs: Some(tx),
            threads,
            connect,
            idle: Mutex::new((Vec::new(), 0)),
            inline_points,
        })
    }

    /// Runs a point lookup `f` (one row by its key, an index seek) on the calling thread, with
    /// an idle read-only connection; when none is idle and [`POINT_CONNECTIONS`] are in use,
    /// on a reader thread like [`Readers::run`]. Only for queries bounded by an index: an
    /// async caller's thread is blocked while `f` runs.
    pub(crate) async fn point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.inline_points {
            return self.run(f).await;
        }
        // `Some(None)`: a new connection may be opened; `None`: the pool is busy.
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            match idle.0.pop() {
                Some(conn) => Some(Some(conn)),
                None if idle.1 < POINT_CONNECTIONS => {
                    idle.1 += 1;
                    Some(None)
                }
                None => None,
            }
        };
        let conn = match taken {
            None => return self.run(f).await,
            Some(Some(conn)) => conn,
            Some(None) => match (self.connect)() {
                Ok(conn) => conn,
                Err(e) => {
                    self.idle.lock().unwrap_or_else(PoisonError::into_inner).1 -= 1;
                    return Err(e);
                }
            },
        };
        // A panicking query loses its answer and its connection, not the pool's count.
        let run = std::panic::AssertUnwindSafe(|| f(&*conn));
        let result = std::panic::catch_unwind(run);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(result) => {
                idle.0.push(conn);
                result
            }
            Err(_) => {
                idle.1 -= 1;
                drop(idle);
                tracing::error!("a storage read panicked");
                Err(StoreError::Backend("a storage read panicked".into()))
            }
        }
    }

    /// Runs `f` on a reader thread's connection; the future resolves with its result.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => f(conn),
                Err(StoreError::Unavailable(why)) => Err(StoreError::Unavailable(format!(
                    "could not open a read connection: {why}"
                ))),
                Err(e) => Err(StoreError::Backend(format!(
                    "could not open a read connection: {e}"
                ))),
            };
            let _ = reply.send(result);
        });
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job)
            .map_err(|_| StoreError::Backend("the storage reader threads have stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Backend("a storage reader thread stopped before answering".into())
        })?
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a storage reader thread panicked");
            }
        }
    }
}

/// One reader thread: takes jobs until the channel closes.
fn serve(
    connect: &(dyn Fn() -> Result<ReadConn, StoreError> + Send + Sync),
    rx: &Mutex<mpsc::Receiver<Job>>,
) {
    let mut conn: Option<ReadConn> = None;
    loop {
        // Hold the lock only while taking a job.
        let job = match rx.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if conn.as_ref().is_some_and(|c| c.is_broken()) {
            conn = None;
        }
        if conn.is_none() {
            match connect() {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    job(Err(&e));
                    continue;
                }
            }
        }
        if let Some(c) = &conn {
            // A panicking query loses its reply (the caller sees an error); the thread and its
            // connection stay usable.
            let run = std::panic::AssertUnwindSafe(|| job(Ok(&**c)));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!("a storage read panicked");
            }
        }
    }
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(sql_error("opening the database"))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(sql_error("setting busy_timeout"))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
