//! What keeps the writer from writing where a write would be lost: the [`Poison`] set after a
//! failed write or flush, and the [`FileIdentity`] of the database file it opened.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use signet_core::StoreError;

use crate::codec::sql_error;

/// Set once a write or `fsync` of the SQLite database or its WAL failed with an I/O error
/// (`codec::may_have_lost_writes`), never cleared in this process.
///
/// After such an error Linux marks the pages it could not write clean and keeps them in its
/// cache: reads return data the disk does not have, and a later `fsync` succeeds without
/// covering them (PostgreSQL's "fsyncgate", 2018). A WAL checkpoint that then seems to succeed
/// lets SQLite start its WAL over, dropping the only durable copy of those pages. So from the
/// first such error this process writes nothing: no batch, no checkpoint, no checkpoint when
/// the connections close (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`). The WAL on disk holds every
/// acknowledged transaction as far as the kernel's `fsync` told the truth (each was flushed
/// before its caller was answered); a restart after the disk is repaired recovers from it.
/// PostgreSQL stops for the same reason (it panics on a failed `fsync`). Before this, the
/// loop-disk test in tests/faults.rs saw `/healthz` go back to 200 and issuance resume on the
/// failing device. (That the device then kept every acknowledged write could not be checked
/// there: the rig itself loses a write whose `fsync` succeeded, scripts/fsync-rig.py.)
#[derive(Clone, Default)]
pub(crate) struct Poison(Arc<Mutex<Option<String>>>);

impl Poison {
    /// Poisons the store if `e` may have lost writes; returns `e` mapped as usual.
    pub(crate) fn check(&self, e: rusqlite::Error, context: &'static str) -> StoreError {
        if crate::codec::may_have_lost_writes(&e) {
            let why = format!(
                "{context} failed with an I/O error ({e}): the kernel may have dropped what it \
                 could not write, so this process writes nothing more (every acknowledged \
                 write is in the WAL on disk); repair the disk, then restart signet serve"
            );
            let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if current.is_none() {
                tracing::error!(error = %why, "the database stops taking writes");
                *current = Some(why);
            }
        }
        sql_error(context)(e)
    }

    /// Why the store takes no writes, if it is poisoned.
    pub(crate) fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `Err(Unavailable)` once poisoned.
    pub(crate) fn refuse(&self) -> Result<(), StoreError> {
        self.get()
            .map_or(Ok(()), |why| Err(StoreError::Unavailable(why)))
    }

    /// Keeps `conn` from checkpointing when it closes, if poisoned; call before dropping it.
    pub(crate) fn before_close(&self, conn: &Connection) {
        if self.get().is_some()
            && let Err(e) = conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
        {
            tracing::error!(error = %e, "could not turn off the checkpoint on close");
        }
    }
}

/// Which file a path named when the database was opened (device and inode). A database file
/// removed or replaced under a running server keeps taking writes through the open handle,
/// into a file nobody will open again: every one of them would be lost at the next start.
/// The writer checks before each batch and refuses it instead.
#[derive(Clone, Debug)]
pub(crate) struct FileIdentity {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The file `path` names now.
    pub(crate) fn of(path: &std::path::Path) -> Result<FileIdentity, StoreError> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| {
            StoreError::Backend(format!("reading the metadata of {}: {e}", path.display()))
        })?;
        Ok(FileIdentity {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// `Unavailable` if the path no longer names the file that was opened.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let gone = |what: &str| {
            StoreError::Unavailable(format!(
                "the database file {} {what} while the server had it open: writes stop \
                 here (they would be lost); put the file back, or restore a backup, and \
                 restart signet serve",
                self.path.display()
            ))
        };
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => Ok(()),
            Ok(_) => Err(gone("was replaced")),
            Err(_) => Err(gone("was removed")),
        }
    }
}
