//! A request's extensions as one blob (`requests.extensions`, `src/extensions.rs`): a blob
//! that does not decode, or a by-reference value the certificate does not back, is a clean
//! `StoreError` naming the column; and a database at the schema before the blob (SQLite 14,
//! PostgreSQL 2) with `request_extensions` rows is migrated and reads back identical, its
//! table gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::Connection;
use signet_core::{
    CaName, ExtensionOrigin, NewCertificate, NewRequest, RequestId, RequestStatus, SerialNumber,
    Store, StoreError, StoredExtension,
};
use signet_store::SqlStore;
use signet_testkit::postgres::PgCluster;

/// A certificate made by `openssl req -x509` with `-addext` each of `exts`, as DER.
fn openssl_certificate(exts: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cert.der");
    let key = dir.path().join("key.pem");
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        "/CN=blob.example",
        "-days",
        "30",
        "-outform",
        "DER",
        "-out",
        out.to_str().unwrap(),
    ];
    for e in exts {
        args.extend(["-addext", e]);
    }
    let run = signet_testkit::openssl::run(&args);
    assert!(run.status.success(), "openssl req: {run:?}");
    std::fs::read(&out).unwrap()
}

/// The value of `oid` in certificate `der`.
fn value_in(der: &[u8], oid: &str) -> Vec<u8> {
    signet_x509::parse_certificate(der)
        .unwrap()
        .extensions
        .into_iter()
        .find(|e| e.oid == oid)
        .unwrap()
        .value
}

const EKU: &str = "2.5.29.37";
const SAN: &str = "2.5.29.17";

/// The extensions of the fixtures: the EKU and SAN the certificate has (by reference once
/// issued), a disabled requested one it lacks, and an officer's.
fn extensions(der: &[u8]) -> Vec<StoredExtension> {
    vec![
        StoredExtension {
            oid: SAN.into(),
            critical: false,
            disabled: true,
            origin: ExtensionOrigin::Request,
            value: value_in(der, SAN),
        },
        StoredExtension {
            oid: "1.3.6.1.4.1.55555.2".into(),
            critical: true,
            disabled: true,
            origin: ExtensionOrigin::Request,
            value: vec![0x0c, 0x01, b'x'],
        },
        StoredExtension {
            oid: EKU.into(),
            critical: false,
            disabled: false,
            origin: ExtensionOrigin::Admin,
            value: value_in(der, EKU),
        },
        StoredExtension {
            oid: SAN.into(),
            critical: false,
            disabled: false,
            origin: ExtensionOrigin::Server,
            value: value_in(der, SAN),
        },
    ]
}

fn issued_request(der: &[u8]) -> NewRequest {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    NewRequest {
        ca: CaName::new("blob-ca").unwrap(),
        status: RequestStatus::Issued,
        profile: None,
        requester: Some("user".into()),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x00],
        subject: "CN=blob.example".into(),
        submitted_at: t,
        resolved_at: Some(t),
        message: None,
        attributes: Vec::new(),
        extensions: extensions(der),
        certificate: Some(NewCertificate {
            serial: SerialNumber::from_random([0x22; 20]),
            der: der.to_vec(),
            subject: "CN=blob.example".into(),
            sans: vec!["blob.example".into()],
            not_before: t,
            not_after: t + Duration::from_secs(86_400),
            shard: 0,
            spki_sha256: [1; 32],
            unique_key: false,
        }),
        events: Vec::new(),
        audit: Vec::new(),
    }
}

fn certificate_exts() -> [&'static str; 2] {
    [
        "subjectAltName=DNS:blob.example",
        "extendedKeyUsage=serverAuth",
    ]
}

async fn expect_corrupt(store: &SqlStore, id: RequestId, what: &str) {
    match store
        .get_request(&CaName::new("blob-ca").unwrap(), id)
        .await
    {
        Err(StoreError::Backend(msg)) => {
            assert!(msg.contains("extensions"), "{what}: {msg}");
        }
        other => panic!("{what}: expected a corrupt-row error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_that_do_not_decode_or_references_the_certificate_lacks_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let store = SqlStore::open(&path).unwrap();
    let der = openssl_certificate(&certificate_exts());
    let id = store.create_request(issued_request(&der)).await.unwrap();
    let ca = CaName::new("blob-ca").unwrap();
    let got = store.get_request(&ca, id).await.unwrap().unwrap();
    assert_eq!(got.extensions, extensions(&der));

    let conn = Connection::open(&path).unwrap();
    let blob: Vec<u8> = conn
        .query_row(
            "SELECT extensions FROM requests WHERE id = ?1",
            [id.get()],
            |r| r.get(0),
        )
        .unwrap();
    // The SAN and EKU values are not stored: the blob is far smaller than the values.
    let inline: usize = extensions(&der).iter().map(|e| e.value.len()).sum();
    assert!(
        blob.len() < inline,
        "blob {} bytes, values {inline}",
        blob.len()
    );
    let set = |b: &[u8]| {
        conn.execute(
            "UPDATE requests SET extensions = ?1 WHERE id = ?2",
            (b, id.get()),
        )
        .unwrap();
    };

    set(&[0x07]);
    expect_corrupt(&store, id, "an unknown version").await;
    set(&blob[..blob.len() - 1]);
    expect_corrupt(&store, id, "a truncated blob").await;
    set(&[]);
    expect_corrupt(&store, id, "an empty blob").await;

    // The certificate replaced by one without an EKU: the reference points at nothing.
    set(&blob);
    let without_eku = openssl_certificate(&["subjectAltName=DNS:blob.example"]);
    conn.execute(
        "UPDATE certificates SET der = ?1 WHERE request_id = ?2",
        (&without_eku, id.get()),
    )
    .unwrap();
    expect_corrupt(&store, id, "a reference the certificate lacks").await;
    conn.execute(
        "UPDATE certificates SET der = x'300100' WHERE request_id = ?1",
        [id.get()],
    )
    .unwrap();
    expect_corrupt(&store, id, "a certificate that does not parse").await;
    // No certificate at all.
    conn.execute("DELETE FROM certificates WHERE request_id = ?1", [id.get()])
        .unwrap();
    expect_corrupt(&store, id, "a reference without a certificate").await;
}

/// The rows a database of the schema before the blob holds: an issued request with its
/// certificate, a pending one and one without extensions. `blob(bytes)` spells a BLOB/BYTEA
/// literal.
fn legacy_rows(der: &[u8], blob: fn(&[u8]) -> String) -> String {
    let mut sql = String::new();
    for (id, status) in [(1, "issued"), (2, "pending"), (3, "pending")] {
        sql += &format!(
            "INSERT INTO requests (id, ca, status, format, raw, requester, subject, submitted_at) \
             VALUES ({id}, 'blob-ca', '{status}', 'pkcs10', {}, 'user', 'CN=x', 1700000000);\n",
            blob(&[0x30, 0x00])
        );
    }
    sql += &format!(
        "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, not_before, \
         not_after) VALUES ('blob-ca', '{}', 1, {}, 'CN=blob.example', '[]', 1700000000, \
         1700086400);\n",
        "22".repeat(20),
        blob(der)
    );
    for request in [1, 2] {
        for (position, e) in extensions(der).iter().enumerate() {
            sql += &format!(
                "INSERT INTO request_extensions (request_id, position, oid, critical, disabled, \
                 origin, value) VALUES ({request}, {position}, '{}', {}, {}, '{}', {});\n",
                e.oid,
                i64::from(e.critical),
                i64::from(e.disabled),
                e.origin.as_str(),
                blob(&e.value)
            );
        }
    }
    sql
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The migration scripts of `backend` before `before`, in order.
fn scripts_before(backend: &str, before: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.as_str() < before)
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
        .collect()
}

async fn reads_back_identical(store: &dyn Store, der: &[u8]) {
    let ca = CaName::new("blob-ca").unwrap();
    for (id, want) in [(1, extensions(der)), (2, extensions(der)), (3, Vec::new())] {
        let got = store
            .get_request(&ca, RequestId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.extensions, want, "request {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_14_sqlite_database_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let der = openssl_certificate(&certificate_exts());
    {
        let conn = Connection::open(&path).unwrap();
        let scripts = scripts_before("sqlite", "0015");
        assert_eq!(scripts.len(), 14);
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for (i, sql) in scripts.iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, 'old', 0)",
                [i as i64 + 1],
            )
            .unwrap();
        }
        conn.execute_batch(&legacy_rows(&der, |b| format!("x'{}'", hex(b))))
            .unwrap();
    }
    let store = SqlStore::open(&path).unwrap();
    reads_back_identical(&store, &der).await;
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'request_extensions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the old table is dropped");
    let (issued, pending): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT length(extensions) FROM requests WHERE id = 1), \
             (SELECT length(extensions) FROM requests WHERE id = 2)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        issued < pending,
        "the issued request's values are by reference ({issued} < {pending} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_2_postgres_database_is_converted() {
    let pg = PgCluster::shared();
    let name = pg.fresh_database();
    let der = openssl_certificate(&certificate_exts());
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL);\n",
    );
    let scripts = scripts_before("postgres", "0003");
    assert_eq!(scripts.len(), 2);
    for (i, script) in scripts.iter().enumerate() {
        sql += script;
        sql += &format!(
            "\nINSERT INTO schema_migrations VALUES ({}, 'old', 0);\n",
            i + 1
        );
    }
    sql += &legacy_rows(&der, |b| format!("'\\x{}'::bytea", hex(b)));
    pg.query(&name, &sql);
    let config = signet_store::PgConfig::new(&pg.url(&name), None).unwrap();
    let store = signet_store::Database::Postgres(Box::new(config))
        .open(signet_store::audit::AuditKeys::default())
        .unwrap();
    reads_back_identical(&store, &der).await;
    assert_eq!(
        pg.query(&name, "SELECT to_regclass('request_extensions') IS NULL")
            .trim(),
        "t",
        "the old table is dropped"
    );
}
