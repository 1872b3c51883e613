//! Schema migrations: an ordered list of SQL scripts compiled into the binary, applied at open
//! and recorded in `schema_migrations`.
//!
//! To change the schema, add `migrations/sqlite/NNNN_name.sql` and one entry at the end of
//! [`MIGRATIONS`]. Never edit a script that has shipped: databases that already applied it will
//! not run it again.

use rusqlite::{Connection, TransactionBehavior, params};
use signet_core::StoreError;

use crate::codec::sql_error;

/// A step in Rust after a migration's SQL, inside its transaction.
pub(crate) type Backfill = fn(&Connection) -> Result<(), StoreError>;

/// One schema step.
pub(crate) struct Migration {
    /// Strictly increasing, starting at 1.
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
    /// Runs after `sql`, in the same transaction, for what SQL alone cannot do (e.g.
    /// computing a digest of stored DER).
    pub(crate) backfill: Option<Backfill>,
}

/// Every migration this build knows, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
        backfill: None,
    },
    Migration {
        version: 2,
        name: "admin",
        sql: include_str!("../migrations/sqlite/0002_admin.sql"),
        backfill: None,
    },
    Migration {
        version: 3,
        name: "revocation",
        sql: include_str!("../migrations/sqlite/0003_revocation.sql"),
        backfill: None,
    },
    Migration {
        version: 4,
        name: "key_history",
        sql: include_str!("../migrations/sqlite/0004_key_history.sql"),
        backfill: Some(backfill_spki_sha256),
    },
    Migration {
        version: 5,
        name: "exit_delivery",
        sql: include_str!("../migrations/sqlite/0005_exit_delivery.sql"),
        backfill: None,
    },
    Migration {
        version: 6,
        name: "console",
        sql: include_str!("../migrations/sqlite/0006_console.sql"),
        backfill: None,
    },
    Migration {
        version: 7,
        name: "responder",
        sql: include_str!("../migrations/sqlite/0007_responder.sql"),
        backfill: None,
    },
    Migration {
        version: 8,
        name: "audit_checkpoints",
        sql: include_str!("../migrations/sqlite/0008_audit_checkpoints.sql"),
        backfill: None,
    },
    Migration {
        version: 9,
        name: "acme",
        sql: include_str!("../migrations/sqlite/0009_acme.sql"),
        backfill: None,
    },
    Migration {
        version: 10,
        name: "acme_claims",
        sql: include_str!("../migrations/sqlite/0010_acme_claims.sql"),
        backfill: None,
    },
    Migration {
        version: 11,
        name: "scep",
        sql: include_str!("../migrations/sqlite/0011_scep.sql"),
        backfill: None,
    },
    Migration {
        version: 12,
        name: "token_secrets",
        sql: include_str!("../migrations/sqlite/0012_token_secrets.sql"),
        backfill: None,
    },
    Migration {
        version: 13,
        name: "leases",
        sql: include_str!("../migrations/sqlite/0013_leases.sql"),
        backfill: None,
    },
    Migration {
        version: 14,
        name: "web_sessions",
        sql: include_str!("../migrations/sqlite/0014_web_sessions.sql"),
        backfill: None,
    },
    Migration {
        version: 15,
        name: "extension_blobs",
        sql: include_str!("../migrations/sqlite/0015_extension_blobs.sql"),
        backfill: Some(|conn| crate::extensions::convert_extension_rows(conn)),
    },
    Migration {
        version: 16,
        name: "ca_counts",
        sql: include_str!("../migrations/sqlite/0016_ca_counts.sql"),
        backfill: None,
    },
    Migration {
        version: 17,
        name: "by_reference",
        sql: include_str!("../migrations/sqlite/0017_by_reference.sql"),
        backfill: Some(|conn| crate::delta::convert_requests(conn)),
    },
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const CREATE_TRACKING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    applied_at  INTEGER NOT NULL
)";

/// Brings the database up to [`latest_version`] in one transaction, so a failed migration
/// leaves the schema as it was. Returns the version the database had before.
///
/// A database whose version is newer than this build knows is refused: an older Signet would
/// otherwise write rows that a newer schema's invariants do not expect.
pub(crate) fn migrate(conn: &mut Connection, now: i64) -> Result<u32, StoreError> {
    // IMMEDIATE takes the write lock first, so two processes opening a fresh file at once do
    // not both try to create the tables.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error("starting the migration transaction"))?;
    tx.execute_batch(CREATE_TRACKING)
        .map_err(sql_error("creating schema_migrations"))?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(sql_error("reading the schema version"))?;
    let latest = latest_version();
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
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql).map_err(|e| {
            StoreError::Backend(format!("migration {:04}_{} failed: {e}", m.version, m.name))
        })?;
        if let Some(backfill) = m.backfill {
            backfill(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now],
        )
        .map_err(sql_error("recording a migration"))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    tx.commit()
        .map_err(sql_error("committing the migration transaction"))?;
    Ok(current)
}

/// Version 4: the SubjectPublicKeyInfo digest of every certificate recorded before it.
fn backfill_spki_sha256(conn: &Connection) -> Result<(), StoreError> {
    let mut select = conn
        .prepare("SELECT id, der FROM certificates WHERE spki_sha256 IS NULL")
        .map_err(sql_error("reading certificates to backfill"))?;
    let rows: Vec<(i64, Vec<u8>)> = select
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql_error("reading certificates to backfill"))?;
    let mut update = conn
        .prepare("UPDATE certificates SET spki_sha256 = ?2 WHERE id = ?1")
        .map_err(sql_error("backfilling spki_sha256"))?;
    let mut skipped = 0u64;
    for (id, der) in &rows {
        match signet_x509::parse_certificate(der) {
            Ok(info) => {
                update
                    .execute(params![id, signet_x509::sha256(&info.spki_der).to_vec()])
                    .map_err(sql_error("backfilling spki_sha256"))?;
            }
            Err(e) => {
                skipped += 1;
                tracing::warn!(certificate = id, error = %e, "stored certificate does not parse; its key is not indexed");
            }
        }
    }
    tracing::info!(
        certificates = rows.len() as u64 - skipped,
        skipped,
        "indexed the public keys of existing certificates"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both backends' lists: versions 1, 2, 3, ... and scripts that leave the transaction
    /// to the runner.
    #[test]
    fn versions_are_strictly_increasing_from_one() {
        let sqlite = MIGRATIONS.iter().map(|m| (m.version, m.name, m.sql));
        let postgres = crate::pg::MIGRATIONS
            .iter()
            .map(|m| (m.version, m.name, m.sql));
        for list in [sqlite.collect::<Vec<_>>(), postgres.collect()] {
            for (expected, (version, name, sql)) in (1..).zip(list) {
                assert_eq!(version, expected, "migration {name} is out of order");
                assert!(!sql.trim().is_empty());
                // The runner owns the transaction; a script must not end it early.
                assert!(
                    !manages_transaction(sql),
                    "migration {name} manages a transaction"
                );
            }
        }
    }

    /// Whether a script begins or ends a transaction itself: a line starting BEGIN, COMMIT
    /// or END outside a trigger's BEGIN ... END body (SQLite) and a `$$`-quoted function body
    /// (PostgreSQL), where those words are the body's own.
    fn manages_transaction(sql: &str) -> bool {
        let (mut quoted, mut trigger_header, mut trigger_body) = (false, false, false);
        for line in sql.lines() {
            let l = line.trim().to_ascii_uppercase();
            if line.matches("$$").count() % 2 == 1 {
                quoted = !quoted;
                continue;
            }
            if quoted || l.starts_with("--") {
                continue;
            }
            if trigger_body {
                trigger_body = !l.starts_with("END");
                continue;
            }
            if l.starts_with("CREATE TRIGGER") {
                trigger_header = true;
            }
            if trigger_header {
                if l.ends_with("BEGIN") {
                    (trigger_header, trigger_body) = (false, true);
                } else if l.ends_with(';') {
                    trigger_header = false;
                }
                continue;
            }
            if l.starts_with("BEGIN") || l.starts_with("COMMIT") || l.starts_with("END") {
                return true;
            }
        }
        false
    }

    #[test]
    fn transaction_control_is_told_from_trigger_and_function_bodies() {
        assert!(manages_transaction("CREATE TABLE t (a);\nCOMMIT;"));
        assert!(manages_transaction("BEGIN;\nCREATE TABLE t (a);"));
        assert!(manages_transaction(
            "CREATE TRIGGER x AFTER INSERT ON t BEGIN\n  SELECT 1;\nEND;\nEND;"
        ));
        assert!(!manages_transaction(
            "CREATE TRIGGER x AFTER INSERT ON t\nWHEN NEW.a\nBEGIN\n  SELECT 1;\nEND;"
        ));
        assert!(!manages_transaction(
            "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;"
        ));
    }
}
