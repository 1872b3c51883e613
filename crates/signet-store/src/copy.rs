//! `signet db copy`: an installation's SQLite database copied row for row into an empty
//! PostgreSQL database, in one PostgreSQL transaction (all or nothing), from one SQLite read
//! snapshot. Ids, sequence numbers, the audit chain and its checkpoints keep their values,
//! so the chain verifies with the installation's keys afterwards, and the identity
//! sequences continue after the copied ids.

use signet_core::StoreError;

use crate::Database;
use crate::db::{Db, Param, Value, begin_snapshot, end_snapshot, insert_rows, query_one};

/// Every table the two schemas share, parents before children (foreign keys), with the
/// identity column whose sequence must continue after the copied rows.
const TABLES: &[(&str, Option<&str>)] = &[
    ("requests", Some("id")),
    ("request_attributes", None),
    ("certificates", Some("id")),
    ("outbox", Some("seq")),
    ("exit_cursors", None),
    ("approvals", None),
    ("tokens", Some("id")),
    ("audit", None),
    ("audit_checkpoints", None),
    ("crls", Some("id")),
    ("exit_state", None),
    ("exit_parked", None),
    ("responder_keys", None),
    ("acme_accounts", None),
    ("acme_orders", None),
    ("acme_authzs", None),
    ("acme_eab_keys", None),
    ("acme_nonces", None),
    ("acme_renew_early", None),
    ("acme_settings", None),
    ("scep_challenges", None),
    ("scep_transactions", None),
    ("leases", None),
    ("web_sessions", None),
];

/// Rows read before they are written.
const CHUNK: usize = 1000;

/// What was copied: rows per table, parents before children.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies `from` (a SQLite database, brought up to date first) into `to` (a PostgreSQL
/// database, which must hold no Signet rows), then checks every table's row count on both
/// sides. Stop the server first: writes after the read snapshot would not be copied.
pub fn copy(from: &Database, to: &Database) -> Result<CopyReport, StoreError> {
    let (Database::Sqlite(path), Database::Postgres(target)) = (from, to) else {
        return Err(StoreError::Backend(
            "db copy goes from a SQLite file to a PostgreSQL database".into(),
        ));
    };
    if !path.exists() {
        return Err(StoreError::Backend(format!(
            "no database at {}",
            path.display()
        )));
    }
    // Brings the source's schema up to date (a copy needs the columns this build knows).
    drop(crate::SqlStore::open(path)?);
    crate::off_runtime(|| {
        let source = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
        let dest = target.connect()?;
        crate::pg::migrate(&dest, crate::codec::to_unix(std::time::SystemTime::now())?)?;
        begin_snapshot(&source)?;
        let copied = copy_all(&source, &dest);
        end_snapshot(&source);
        copied
    })
}

fn copy_all(source: &dyn Db, dest: &dyn Db) -> Result<CopyReport, StoreError> {
    dest.batch("BEGIN", "starting the copy")?;
    let result = (|| {
        for (table, _) in TABLES {
            let rows: i64 = query_one(
                dest,
                &format!("SELECT count(*) FROM {table}"),
                &[],
                "checking the target is empty",
            )?;
            if rows > 0 {
                return Err(StoreError::Conflict(format!(
                    "the target database is not empty ({table} has {rows} rows): db copy only \
                     fills an empty database"
                )));
            }
        }
        let mut report = CopyReport::default();
        for (table, identity) in TABLES {
            let copied = copy_table(source, dest, table)?;
            let expected: i64 = query_one(
                source,
                &format!("SELECT count(*) FROM {table}"),
                &[],
                "counting the source rows",
            )?;
            if i64::try_from(copied).ok() != Some(expected) {
                return Err(StoreError::Backend(format!(
                    "{table}: copied {copied} rows of {expected}"
                )));
            }
            if let Some(column) = identity {
                // The next id the database assigns follows the copied ones.
                dest.each_row(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                         (SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)"
                    ),
                    &[],
                    "continuing an identity sequence",
                    &mut |_| Ok(false),
                )?;
            }
            report.tables.push(((*table).to_string(), copied));
        }
        Ok(report)
    })();
    match result {
        Ok(report) => {
            dest.batch("COMMIT", "committing the copy")?;
            Ok(report)
        }
        Err(e) => {
            if let Err(rollback) = dest.batch("ROLLBACK", "abandoning the copy") {
                tracing::warn!(error = %rollback, "rolling back the copy");
            }
            Err(e)
        }
    }
}

/// Copies one table's rows in chunks of multi-row INSERTs; the columns are the source's, in
/// order, which the schema parity test keeps equal to the target's.
fn copy_table(source: &dyn Db, dest: &dyn Db, table: &str) -> Result<u64, StoreError> {
    let columns = source_columns(source, table)?;
    let width = columns.len();
    let mut copied = 0u64;
    let mut chunk: Vec<Param<'static>> = Vec::with_capacity(CHUNK * width);
    let into = format!("{table} ({})", columns.join(", "));
    let flush = |chunk: &mut Vec<Param<'static>>| -> Result<(), StoreError> {
        insert_rows(dest, &into, width, chunk, "copying rows")?;
        chunk.clear();
        Ok(())
    };
    let select = format!("SELECT {} FROM {table}", columns.join(", "));
    let mut failed = None;
    source.each_row(&select, &[], "reading rows to copy", &mut |row| {
        for (c, column) in columns.iter().enumerate() {
            let value = row
                .value(c)
                .map_err(|e| StoreError::Backend(format!("{table}.{column}: {e}")))?;
            chunk.push(match value {
                Value::Null => Param::Null,
                Value::Int(i) => Param::Int(i),
                Value::Text(t) => Param::Text(t.to_owned().into()),
                Value::Blob(b) => Param::Blob(b.to_vec().into()),
            });
        }
        copied += 1;
        if chunk.len() >= CHUNK * width
            && let Err(e) = flush(&mut chunk)
        {
            failed = Some(e);
            return Ok(false);
        }
        Ok(true)
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    flush(&mut chunk)?;
    Ok(copied)
}

/// A SQLite table's column names, in order.
fn source_columns(source: &dyn Db, table: &str) -> Result<Vec<String>, StoreError> {
    crate::db::query_values(
        source,
        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        &crate::params![table],
        "reading the source's columns",
    )
}
