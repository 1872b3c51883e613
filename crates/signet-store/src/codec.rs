//! Conversions between domain values and SQLite columns, and the mapping of SQLite errors to
//! [`StoreError`].
//!
//! Column conventions (also stated in `migrations/sqlite/0001_init.sql`):
//! - times are INTEGER unix seconds, UTC, rounded down (X.509 times have whole seconds too);
//! - serial numbers are TEXT, 40 lowercase hex digits;
//! - flags are INTEGER 0/1; events are their AD CS bit values; statuses and extension origins
//!   are their lowercase names.
//!
//! Reading never panics on a bad row: every value that does not parse becomes
//! `StoreError::Backend` naming the table, the row and the column.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::ffi;
use signet_core::StoreError;

/// Seconds since the Unix epoch, rounded down (so times before 1970 are negative).
pub(crate) fn to_unix(t: SystemTime) -> Result<i64, StoreError> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(before) => {
            let d = before.duration();
            let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            i64::try_from(whole).ok().map(|s| -s)
        }
    };
    secs.ok_or_else(|| StoreError::Backend(format!("time {t:?} is out of range for storage")))
}

/// The inverse of [`to_unix`]; `None` if the value does not fit a `SystemTime`.
pub(crate) fn from_unix(secs: i64) -> Option<SystemTime> {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// Milliseconds since the Unix epoch (0 before it), for the columns that need sub-second
/// times (exit backoff, leases).
pub(crate) fn to_unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `u64` cursor or sequence number as SQLite's signed integer.
pub(crate) fn seq_to_sql(seq: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Backend(format!("{what} {seq} is out of range")))
}

/// A stored row that does not decode into its domain type.
pub(crate) fn corrupt(
    table: &str,
    row: impl std::fmt::Display,
    column: &str,
    problem: &str,
) -> StoreError {
    StoreError::Backend(format!(
        "corrupt row in {table} (row {row}), column {column}: {problem}"
    ))
}

/// Whether `e` is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Whether `e` is a fault of the file system under the database rather than of the
/// statement: a full disk, an I/O error, a read-only file system, a file that cannot be
/// opened. The same write may succeed once the fault is gone.
fn is_storage_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if matches!(
            f.code,
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
        )
    )
}

/// Whether `e` is an I/O error on writing or flushing (not reading): after one, the kernel
/// may have dropped pages it could not write while keeping them, clean, in its cache, so
/// this process can no longer trust that what it reads matches the disk, nor that a later
/// successful `fsync` covers earlier writes. See `writer::Poison`.
pub(crate) fn may_have_lost_writes(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::SystemIoFailure
                && !matches!(
                    f.extended_code,
                    ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ | ffi::SQLITE_IOERR_NOMEM
                )
    )
}

/// What an I/O error's extended code says failed, for the operator: SQLite's message is
/// "disk I/O error" for all of them.
fn io_detail(e: &rusqlite::Error) -> &'static str {
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return "";
    };
    match f.extended_code {
        ffi::SQLITE_IOERR_WRITE => " (a write to the file failed)",
        ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC => {
            " (flushing to the disk failed: fsync)"
        }
        ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ => " (a read failed)",
        ffi::SQLITE_IOERR_TRUNCATE => " (truncating the file failed)",
        ffi::SQLITE_IOERR_SHMMAP | ffi::SQLITE_IOERR_SHMOPEN | ffi::SQLITE_IOERR_SHMSIZE => {
            " (the WAL index file failed)"
        }
        _ => "",
    }
}

/// Maps a SQLite error to [`StoreError`], with `context` saying what was being done.
/// Uniqueness violations become `Conflict`, faults of the file system under the database
/// `Unavailable` (a 503: retry later); everything else is `Backend`.
pub(crate) fn sql_error(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("{context}: {e}"))
        } else if is_storage_fault(&e) {
            StoreError::Unavailable(format!("{context}: {e}{}", io_detail(&e)))
        } else {
            StoreError::Backend(format!("{context}: {e}"))
        }
    }
}

/// `StoreError` is not `Clone`; a batch failure is reported to every caller in the batch.
pub(crate) fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::StateChanged(m) => StoreError::StateChanged(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Closed => StoreError::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_down_on_both_sides_of_the_epoch() {
        let after = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(to_unix(after).ok(), Some(1));
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(to_unix(before).ok(), Some(-2));
        for secs in [-86_400 * 365, -1, 0, 1, 1_800_000_000] {
            let t = from_unix(secs).expect("in range");
            assert_eq!(to_unix(t).ok(), Some(secs));
        }
    }
}
