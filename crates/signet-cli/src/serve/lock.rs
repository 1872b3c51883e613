//! The lock that keeps a SQLite database to one `signet serve`.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// An exclusive `flock` on the SQLite database file, held while this process serves it.
/// A second `signet serve` on the same file is refused (one SQLite database is one node;
/// several nodes share a PostgreSQL database, docs/HA.md), so this one knows it is alone and
/// takes over at once the leases a killed predecessor left, instead of pausing exit
/// delivery, scheduled CRLs and audit checkpoints for `LEASE_TTL` (the crash loop's finding,
/// docs/RELIABILITY.md). Other commands (`backup`, `audit verify`, ...) do not take it.
pub struct DatabaseLock(#[allow(dead_code)] std::fs::File);

impl DatabaseLock {
    pub(super) fn take(path: &Path) -> Result<DatabaseLock> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("opening {} to lock it", path.display()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DatabaseLock(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                "the database {} is in use by another signet serve: one SQLite database \
                 serves one node (several nodes share a PostgreSQL database, docs/HA.md)",
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}
