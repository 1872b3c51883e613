//! WAL checkpoints, mostly off the writer thread.
//!
//! SQLite's automatic checkpoint runs inside the committing connection: with it, about 40% of
//! the writer's commit time went to checkpoints (measured with `examples/store_bench.rs`).
//! Instead the writer's connection has `wal_autocheckpoint=0`, and:
//!
//! 1. After each batch the writer nudges the checkpoint thread, which runs a `PASSIVE`
//!    checkpoint on its own connection: it copies committed pages into the database file
//!    without blocking the writer or readers.
//! 2. Under sustained load a passive checkpoint never quite catches up (the writer keeps
//!    appending), and the WAL only starts over from its beginning once everything in it has
//!    been copied. So when the WAL holds more than [`RESTART_FRAMES`] pages, the thread asks
//!    the writer to run a `RESTART` checkpoint itself between two batches. Most pages are
//!    already copied by then, so this is short, and the writer does not compete with another
//!    connection for its own lock (a restart from this thread made the writer wait in
//!    SQLite's busy-handler back-off, up to ~200 ms).
//!
//! Durability does not depend on any of this: a commit is durable once the WAL is fsynced.
//! Once a write or flush has failed (`writer::Poison`) no checkpoint runs: a checkpoint that
//! seemed to succeed would let SQLite start the WAL over and drop pages the disk never got.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use signet_core::StoreError;

use crate::codec::sql_error;
use crate::writer::Poison;

/// WAL pages (4 KiB each by default) after which the writer restarts the WAL.
const RESTART_FRAMES: i64 = 8_192;

/// The least time between two passive checkpoints, so a busy writer gets a few commits
/// between them rather than a database fsync after every commit.
const PAUSE: Duration = Duration::from_millis(20);

/// The checkpoint thread; dropping it waits for the thread, which ends once the writer's
/// [`Checkpoints`] handle is gone.
pub(crate) struct Checkpointer {
    thread: Option<JoinHandle<()>>,
}

/// The writer's side.
pub(crate) struct Checkpoints {
    nudge: mpsc::SyncSender<()>,
    restart_wanted: Arc<AtomicBool>,
    poison: Poison,
}

impl Checkpoints {
    /// Called by the writer between batches, outside any transaction: runs a requested WAL
    /// restart, then nudges the thread (never blocking; a nudge while one is pending is
    /// dropped).
    pub(crate) fn after_batch(&self, conn: &Connection) {
        if self.restart_wanted.swap(false, Ordering::Relaxed) {
            match checkpoint(conn, "RESTART", &self.poison) {
                Ok((busy, frames)) => {
                    tracing::debug!(busy, frames, "WAL restarted");
                }
                Err(e) => tracing::warn!(error = %e, "WAL restart checkpoint failed"),
            }
        }
        let _ = self.nudge.try_send(());
    }
}

impl Checkpointer {
    /// Opens a connection to `path` and starts the thread.
    pub(crate) fn start(
        path: &Path,
        busy_timeout: Duration,
        poison: Poison,
    ) -> Result<(Checkpointer, Checkpoints), StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(sql_error("opening the checkpoint connection"))?;
        conn.busy_timeout(busy_timeout)
            .map_err(sql_error("setting busy_timeout"))?;
        // A checkpoint fsyncs the database file before the WAL may be reused.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_error("setting synchronous=FULL"))?;
        let (nudge, nudges) = mpsc::sync_channel(1);
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let thread = {
            let restart_wanted = Arc::clone(&restart_wanted);
            let poison = poison.clone();
            thread::Builder::new()
                .name("signet-store-checkpoint".into())
                .spawn(move || {
                    run(&conn, &nudges, &restart_wanted, &poison);
                    poison.before_close(&conn);
                })
                .map_err(|e| {
                    StoreError::Backend(format!("could not start the checkpoint thread: {e}"))
                })?
        };
        Ok((
            Checkpointer {
                thread: Some(thread),
            },
            Checkpoints {
                nudge,
                restart_wanted,
                poison,
            },
        ))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the WAL checkpoint thread panicked");
        }
    }
}

fn run(
    conn: &Connection,
    nudges: &mpsc::Receiver<()>,
    restart_wanted: &AtomicBool,
    poison: &Poison,
) {
    while nudges.recv().is_ok() {
        if poison.get().is_some() {
            continue;
        }
        match checkpoint(conn, "PASSIVE", poison) {
            Ok((_, frames)) if frames > RESTART_FRAMES => {
                restart_wanted.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        thread::sleep(PAUSE);
    }
}

/// Runs a checkpoint; returns whether it was blocked (by a reader or writer) and the number
/// of pages in the WAL.
fn checkpoint(conn: &Connection, mode: &str, poison: &Poison) -> Result<(bool, i64), StoreError> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let (busy, frames, _copied): (i64, i64, i64) = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(|e| poison.check(e, "running a WAL checkpoint"))?;
    Ok((busy != 0, frames))
}
