//! The store on PostgreSQL: the same record modules, writer and readers as on SQLite, with a
//! PostgreSQL connection under each (`crate::pg`), so several Signet nodes can share one
//! database.
//!
//! What changes with several nodes, and where it is handled:
//! - **One write at a time across the cluster.** Every write batch begins by locking the
//!   one row of `audit_head` (`SELECT ... FOR UPDATE`), so batches from different nodes
//!   commit one after another. Inside that lock the audit chain's head read by
//!   `audit::append` is the true head (no two nodes link to the same record), and
//!   `outbox.seq` values (an identity column) are assigned in commit order, so an exit that
//!   has read up to `seq` never later finds a smaller one committed behind it. Group commit
//!   keeps the lock's cost per batch, not per certificate.
//! - **Durability.** A batch is answered after PostgreSQL's `COMMIT` returns, which with
//!   `synchronous_commit = on` (and synchronous replication, see docs/HA.md) means flushed.
//!   Light batches (see `Op::is_light` in `writer`) commit with `synchronous_commit = off`
//!   for that transaction only, as they run with `synchronous = NORMAL` on SQLite.
//! - **Lost connections.** The writer and each reader reconnect on their next job, so a
//!   node recovers from a database restart or failover without restarting; meanwhile writes
//!   fail cleanly (nothing is acknowledged that did not commit).
//! - Reads run on reader threads only: PostgreSQL's client runs its own event loop and must
//!   not block inside the server's async runtime.

use std::sync::Arc;

use signet_core::StoreError;

use crate::db::Db;
use crate::pg::{PgConfig, PgConn};
use crate::reader::{Connect, ReadConn, Readers};
use crate::writer::{WriteConn, Writer};

/// Reader threads (and so read connections) per node.
const READERS: usize = 4;

/// The lock every write batch takes first (see the module docs).
const WRITE_LOCK: &str = "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE";

/// Opens the writer and readers of a PostgreSQL store, after bringing the schema up to date
/// and checking the audit key against the log.
pub(crate) fn open(
    config: &PgConfig,
    audit_keys: &crate::audit::AuditKeys,
) -> Result<(Writer, Readers), StoreError> {
    // Off the caller's thread, which may be inside the server's runtime; the connection
    // then moves to the writer thread.
    let conn = crate::off_runtime(|| {
        let conn = config.connect()?;
        crate::pg::migrate(&conn, crate::codec::to_unix(std::time::SystemTime::now())?)?;
        crate::audit::check_key_against_head(&conn, audit_keys.chain.as_ref())?;
        Ok(conn)
    })?;
    let config = Arc::new(config.clone());
    let connect: Connect = {
        let config = Arc::clone(&config);
        Arc::new(move || config.connect().map(|c| Box::new(c) as ReadConn))
    };
    let readers = Readers::start(connect, READERS, false)?;
    let writer = Writer::start(
        Box::new(PgWriter { config, conn }),
        audit_keys.chain.clone(),
    )?;
    Ok((writer, readers))
}

/// The writer thread's connection, reopened when lost (a lost one stays until a new one
/// opens: every statement on it fails as `Unavailable`).
struct PgWriter {
    config: Arc<PgConfig>,
    conn: PgConn,
}

impl WriteConn for PgWriter {
    fn db(&self) -> &dyn Db {
        &self.conn
    }

    fn begin(&mut self, light: bool) -> Result<(), StoreError> {
        if self.conn.is_broken() {
            self.conn = self.config.connect()?;
            tracing::info!(database = %self.config.redacted_url(), "storage writer reconnected");
        }
        let db = self.db();
        db.batch("BEGIN", "starting a write transaction")?;
        if light {
            db.batch(
                "SET LOCAL synchronous_commit TO OFF",
                "starting a write transaction",
            )?;
        }
        db.each_row(WRITE_LOCK, &[], "taking the write lock", &mut |_| Ok(false))
    }

    fn rollback(&mut self) {
        if !self.conn.is_broken()
            && let Err(e) = self
                .conn
                .batch("ROLLBACK", "rolling back a write transaction")
        {
            tracing::error!(error = %e, "could not roll back a write transaction");
        }
    }
}
