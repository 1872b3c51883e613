//! PostgreSQL schema migrations: SQL scripts compiled into the binary
//! (`migrations/postgres/NNNN_name.sql`), each applied in a transaction of its own and
//! recorded in `schema_migrations`, as on SQLite (`crate::migrate`).
//!
//! To change the schema, add a script and one entry at the end of [`MIGRATIONS`]. Never edit
//! a script that has shipped. The PostgreSQL versions count on their own: version 1 is the
//! whole schema of SQLite versions 1-13, version 2 is SQLite's 14, version 3
//! SQLite's 15.
//!
//! Several nodes may start at once against one database. Each migration's transaction takes
//! `LOCK TABLE schema_migrations IN EXCLUSIVE MODE` before it reads the version, so one node
//! applies a migration while the others wait, then find it applied. (A table lock rather than
//! an advisory lock: it is released with the transaction whatever happens, and needs no
//! agreed-upon lock number.)

use signet_core::StoreError;

use super::conn::PgConn;
use crate::db::{Db, Param, query_value};

/// A step in Rust after a migration's SQL, inside its transaction.
pub(crate) type Backfill = fn(&dyn Db) -> Result<(), StoreError>;

/// One schema step.
pub(crate) struct Migration {
    /// Strictly increasing, starting at 1.
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
    /// Runs after `sql`, in the same transaction, for what SQL alone cannot do (as on
    /// SQLite, and written once for both: the record modules' `Db`).
    pub(crate) backfill: Option<Backfill>,
}

/// Every migration this build knows, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "schema",
        sql: include_str!("../../migrations/postgres/0001_schema.sql"),
        backfill: None,
    },
    Migration {
        version: 2,
        name: "web_sessions",
        sql: include_str!("../../migrations/postgres/0002_web_sessions.sql"),
        backfill: None,
    },
    Migration {
        version: 3,
        name: "extension_blobs",
        sql: include_str!("../../migrations/postgres/0003_extension_blobs.sql"),
        backfill: Some(crate::extensions::convert_extension_rows),
    },
    Migration {
        version: 4,
        name: "ca_counts",
        sql: include_str!("../../migrations/postgres/0004_ca_counts.sql"),
        backfill: None,
    },
    Migration {
        version: 5,
        name: "by_reference",
        sql: include_str!("../../migrations/postgres/0005_by_reference.sql"),
        backfill: Some(crate::delta::convert_requests),
    },
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const CREATE_TRACKING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     BIGINT  PRIMARY KEY,
    name        TEXT    NOT NULL,
    applied_at  BIGINT  NOT NULL
)";

/// Brings the database up to [`latest_version`], one migration per transaction, so a failed
/// migration leaves the schema at the version before it.
///
/// A database whose version is newer than this build knows is refused: an older Signet would
/// otherwise write rows that a newer schema's invariants do not expect.
pub(crate) fn migrate(conn: &PgConn, now_unix: i64) -> Result<(), StoreError> {
    create_tracking(conn)?;
    let latest = latest_version();
    loop {
        conn.batch("BEGIN", "starting a migration transaction")?;
        match step(conn, latest, now_unix) {
            Ok(more) => {
                conn.batch("COMMIT", "committing a migration")?;
                if !more {
                    return Ok(());
                }
            }
            Err(e) => {
                // The error is what matters; a failed rollback means the connection is gone,
                // which takes the transaction with it.
                let _ = conn.batch("ROLLBACK", "rolling back a migration");
                return Err(e);
            }
        }
    }
}

/// Creates `schema_migrations` unless it exists, in a transaction of its own.
fn create_tracking(conn: &PgConn) -> Result<(), StoreError> {
    let Err(e) = conn.batch(CREATE_TRACKING, "creating schema_migrations") else {
        return Ok(());
    };
    // Two sessions creating the table at the same moment can both pass `IF NOT EXISTS`; the
    // second then waits for the first to commit and fails (a unique violation in the catalog,
    // or "already exists"). The table is there then, which is all that is needed.
    let exists: Option<bool> = query_value(
        conn,
        "SELECT to_regclass('schema_migrations') IS NOT NULL",
        &[],
        "looking for schema_migrations",
    )?;
    match exists {
        Some(true) => Ok(()),
        _ => Err(e),
    }
}

/// Inside the transaction: locks the bookkeeping, reads the version, and applies the next
/// migration if there is one. Whether there may be more to apply.
fn step(conn: &PgConn, latest: u32, now_unix: i64) -> Result<bool, StoreError> {
    conn.batch(
        "LOCK TABLE schema_migrations IN EXCLUSIVE MODE",
        "locking schema_migrations",
    )?;
    let current: i64 = query_value(
        conn,
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        &[],
        "reading the schema version",
    )?
    .unwrap_or(0);
    let current = u32::try_from(current).map_err(|_| {
        StoreError::Backend(format!(
            "schema_migrations holds an invalid version {current}"
        ))
    })?;
    if current > latest {
        return Err(StoreError::Backend(format!(
            "the database schema is version {current}, newer than this build of Signet \
             understands (up to {latest}); run a newer Signet, or restore a backup made \
             with this version"
        )));
    }
    let Some(m) = MIGRATIONS.iter().find(|m| m.version > current) else {
        return Ok(false);
    };
    conn.batch(m.sql, "applying a migration").map_err(|e| {
        StoreError::Backend(format!("migration {:04}_{} failed: {e}", m.version, m.name))
    })?;
    if let Some(backfill) = m.backfill {
        backfill(conn)?;
    }
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
        &[
            Param::Int(m.version.into()),
            Param::Text(m.name.into()),
            Param::Int(now_unix),
        ],
        "recording a migration",
    )?;
    tracing::info!(
        version = m.version,
        name = m.name,
        "applied schema migration"
    );
    Ok(true)
}
