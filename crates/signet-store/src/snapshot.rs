//! `signet backup` and `signet restore`: a consistent copy of a live SQLite database, taken
//! with SQLite's online backup API while the server writes, and the check a restored copy
//! passes before it is used.
//!
//! The copy runs in one backup step over the whole file. A step-by-step copy is restarted by
//! SQLite whenever another connection writes to the source between two steps, so under
//! steady issuance it would never finish; one step reads every page inside one read
//! transaction instead. In WAL mode that transaction blocks no writer (it only keeps the
//! checkpointer from recycling the WAL past it for the few seconds it lasts), and the copy
//! is the database exactly as of one commit.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use signet_core::StoreError;

/// How often a step that found the source locked (a WAL recovery in progress, say) is tried
/// again, and how long to wait between tries.
const BUSY_RETRIES: u32 = 50;
const BUSY_PAUSE: Duration = Duration::from_millis(100);

/// What [`sqlite_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Database pages copied.
    pub pages: u64,
    /// The snapshot's size in bytes.
    pub bytes: u64,
}

/// Copies the SQLite database at `source` (live: other connections may be writing) into a
/// new file `dest`, which must not exist, as of one commit. The copy is left in rollback
/// journal mode, so it is one self-contained file (no `-wal` beside it); the store puts it
/// back in WAL mode when it opens it. `dest` is created readable by its owner only, like the
/// database itself.
pub fn sqlite_snapshot(source: &Path, dest: &Path) -> Result<Snapshot, StoreError> {
    if !source.exists() {
        return Err(backend(source, "no database here"));
    }
    create_new_private(dest)?;
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| backend(source, e))?;
    from.busy_timeout(crate::BUSY_TIMEOUT)
        .map_err(|e| backend(source, e))?;
    let mut to = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| backend(dest, e))?;
    {
        let backup = Backup::new(&from, &mut to).map_err(|e| backend(dest, e))?;
        let mut tries = 0;
        loop {
            // -1: every remaining page in this one step (see the module comment).
            match backup.step(-1).map_err(|e| backend(source, e))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(BUSY_PAUSE);
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(backend(source, "the database stayed locked"));
                }
                // The enum is non-exhaustive; no other answer is documented.
                _ => return Err(backend(source, "unexpected answer from the backup step")),
            }
        }
    }
    // The page copy carries the source's WAL flag; one file is easier to archive and move.
    to.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|e| backend(dest, e))?;
    let pages: i64 = to
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| backend(dest, e))?;
    to.close().map_err(|(_, e)| backend(dest, e))?;
    let bytes = std::fs::metadata(dest).map_err(|e| backend(dest, e))?.len();
    Ok(Snapshot {
        pages: u64::try_from(pages).unwrap_or(0),
        bytes,
    })
}

/// `PRAGMA integrity_check` on the SQLite file at `path`, read-only: the problems SQLite
/// reports (at most 100), none when the file is sound.
pub fn sqlite_integrity_check(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| backend(path, e))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check(100)")
        .map_err(|e| backend(path, e))?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| backend(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| backend(path, e))?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

/// Creates `path` empty, readable by its owner only; fails if anything is there.
fn create_new_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop).map_err(|e| backend(path, e))
}

fn backend(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_under_writes_is_one_consistent_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = dir.path().join("live.db");
        let writer = Connection::open(&source).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);",
            )
            .expect("schema");
        // Each commit writes two rows that must be seen together.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = {
            let stop = std::sync::Arc::clone(&stop);
            let source = source.clone();
            std::thread::spawn(move || {
                let conn = Connection::open(&source).expect("open");
                conn.execute_batch("PRAGMA synchronous=OFF")
                    .expect("pragma");
                let mut n = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.execute_batch(&format!(
                        "BEGIN; INSERT INTO t (a, b) VALUES ({n}, 1); INSERT INTO t (a, b) VALUES ({n}, 2); COMMIT;"
                    ))
                    .expect("write");
                    n += 1;
                }
                n
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let dest = dir.path().join("copy.db");
        let snap = sqlite_snapshot(&source, &dest).expect("snapshot under load");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let commits = load.join().expect("load thread");
        assert!(commits > 0 && snap.pages > 0 && snap.bytes > 0);
        assert!(!dir.path().join("copy.db-wal").exists(), "one file");
        assert_eq!(
            sqlite_integrity_check(&dest).expect("check"),
            Vec::<String>::new()
        );
        let copy = Connection::open(&dest).expect("open the copy");
        let (rows, pairs): (i64, i64) = copy
            .query_row("SELECT count(*), count(DISTINCT a) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("count");
        assert_eq!(rows, 2 * pairs, "no commit is cut in half");
        assert!(
            sqlite_snapshot(&source, &dest).is_err(),
            "an existing file is never overwritten"
        );
    }

    #[test]
    fn a_damaged_file_fails_the_integrity_check() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);",
        )
        .expect("schema");
        conn.execute_batch("BEGIN").expect("begin");
        for i in 0..2000 {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [format!("value {i:05}")])
                .expect("insert");
        }
        conn.execute_batch("COMMIT").expect("commit");
        drop(conn);
        let mut bytes = std::fs::read(&path).expect("read");
        // Past the header and the schema page: overwrite the middle of the file.
        let mid = bytes.len() / 2;
        bytes[mid..mid + 4096].fill(0x5a);
        std::fs::write(&path, &bytes).expect("write");
        let problems = sqlite_integrity_check(&path);
        assert!(
            problems.as_ref().map_or(true, |p| !p.is_empty()),
            "damage found: {problems:?}"
        );
    }
}
