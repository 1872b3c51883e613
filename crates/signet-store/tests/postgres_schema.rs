//! The PostgreSQL schema (`migrations/postgres`) against the SQLite one, on a real
//! PostgreSQL: the same tables, the same columns in the same order with the same types
//! (INTEGER ↔ BIGINT, TEXT ↔ TEXT, BLOB ↔ BYTEA) and NULL rules, the same named indexes, and
//! audit records that refuse UPDATE and DELETE. What keeps the two backends interchangeable
//! for the store suite and `signet db copy`. Tables only PostgreSQL has ([`POSTGRES_ONLY`])
//! are left out of the comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rusqlite::Connection;
use signet_store::SqlStore;
use signet_testkit::postgres::PgCluster;

/// Tables only the PostgreSQL schema has: the cross-node write lock.
const POSTGRES_ONLY: &[&str] = &["audit_head", "schema_migrations"];

/// Table → [(column, type, NOT NULL)] in column order; the type as PostgreSQL names it.
type Columns = BTreeMap<String, Vec<(String, String, bool)>>;

/// The PostgreSQL type a column of SQLite's declared type has.
fn postgres_type(sqlite: &str) -> String {
    match sqlite {
        "INTEGER" => "bigint",
        "TEXT" => "text",
        "BLOB" => "bytea",
        other => panic!("a SQLite column type the schemas do not map: {other}"),
    }
    .to_owned()
}

fn sqlite_columns(conn: &Connection) -> Columns {
    let mut tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT IN ('schema_migrations', 'sqlite_sequence')",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    tables
        .into_iter()
        .map(|t| {
            let cols = conn
                .prepare(&format!("PRAGMA table_info(\"{t}\")"))
                .unwrap()
                .query_map([], |r| {
                    let name: String = r.get(1)?;
                    let declared: String = r.get(2)?;
                    let notnull: bool = r.get(3)?;
                    let pk: i64 = r.get(5)?;
                    // SQLite lets a non-INTEGER primary key column be NULL unless declared NOT
                    // NULL; PostgreSQL never does. Signet never writes NULL there.
                    Ok((name, postgres_type(&declared), notnull || pk > 0))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (t, cols)
        })
        .collect()
}

fn postgres_columns(pg: &PgCluster, db: &str) -> Columns {
    let rows = pg.query(
        db,
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    let mut out = Columns::new();
    for line in rows.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if POSTGRES_ONLY.contains(&f[0]) {
            continue;
        }
        out.entry(f[0].to_owned()).or_default().push((
            f[1].to_owned(),
            f[2].to_owned(),
            f[3] == "NO",
        ));
    }
    out
}

fn sqlite_indexes(conn: &Connection) -> Vec<String> {
    let mut v: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    v.sort();
    v
}

fn postgres_indexes(pg: &PgCluster, db: &str) -> Vec<String> {
    let postgres_only: Vec<String> = POSTGRES_ONLY.iter().map(|t| format!("'{t}'")).collect();
    let mut v: Vec<String> = pg
        .query(
            db,
            &format!(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' \
                 AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key' \
                 AND tablename NOT IN ({})",
                postgres_only.join(", ")
            ),
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn the_postgres_schema_matches_the_sqlite_one_on_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    drop(SqlStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();

    let pg = PgCluster::start();
    pg.create_database("signet");
    // The schema as the store's PostgreSQL migrations make it.
    let config = signet_store::PgConfig::new(&pg.url("signet"), None).unwrap();
    drop(
        signet_store::Database::Postgres(Box::new(config))
            .open(signet_store::audit::AuditKeys::default())
            .unwrap(),
    );

    let (sqlite, postgres) = (sqlite_columns(&conn), postgres_columns(&pg, "signet"));
    assert!(
        sqlite.len() >= 20 && sqlite.contains_key("requests"),
        "{sqlite:?}"
    );
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, cols) in &sqlite {
        assert_eq!(
            cols, &postgres[table],
            "table {table}: columns, types and NOT NULL"
        );
    }
    let indexes = sqlite_indexes(&conn);
    assert!(
        indexes.contains(&"certificates_revoked".to_owned()),
        "{indexes:?}"
    );
    assert_eq!(indexes, postgres_indexes(&pg, "signet"), "named indexes");

    // The audit chain's head starts before the first record.
    assert_eq!(
        pg.query(
            "signet",
            "SELECT seq, length(hash) FROM audit_head WHERE id = 1"
        )
        .trim(),
        "0|32"
    );

    // Audit records and checkpoints are append-only here too.
    pg.query(
        "signet",
        "INSERT INTO audit (seq, at, actor, action, ca, target, details, prev_hash, hash) \
         VALUES (1, 0, 'a', 'b', NULL, 't', '{}', '\\x00', '\\x01')",
    );
    for sql in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"] {
        let out = pg.psql("signet", sql);
        assert!(!out.status.success(), "{sql} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("audit is append-only"), "{sql}: {err}");
    }
    assert_eq!(pg.query("signet", "SELECT count(*) FROM audit").trim(), "1");
}
