//! What the certificate carries, stored once (SQLite migration 0017, PostgreSQL 0005): a
//! request with a certificate keeps its CSR as a delta against that certificate
//! (`src/delta.rs`), and an issuance event's `{"serial":...}` details by reference. New
//! writes and a database at the schema before (rows as that schema held them, with a real
//! CSR and the certificate openssl issued for it) read back byte for byte; a delta that does
//! not decode is a clean error naming the column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::Connection;
use signet_core::{
    CaName, Event, NewCertificate, NewEvent, NewRequest, RequestId, RequestStatus, SerialNumber,
    Store, StoreError,
};
use signet_store::SqlStore;
use signet_testkit::postgres::PgCluster;

/// A P-256 CSR for `CN=ref.example` with a SAN, and the certificate an openssl CA issued for
/// it (copying the requested extensions), both DER.
fn csr_and_certificate() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let ok = |args: &[&str]| {
        let run = signet_testkit::openssl::run(args);
        assert!(run.status.success(), "openssl {args:?}: {run:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let (ca_key, ca_crt) = (p("ca.key"), p("ca.pem"));
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        &ca_key,
        "-subj",
        "/O=Test/CN=Ref CA",
        "-out",
        &ca_crt,
    ]);
    ok(&args);
    let (key, csr) = (p("key.pem"), p("csr.der"));
    let mut args = vec!["req", "-new"];
    args.extend(ec);
    args.extend([
        "-keyout",
        &key,
        "-subj",
        "/CN=ref.example",
        "-addext",
        "subjectAltName=DNS:ref.example",
        "-outform",
        "DER",
        "-out",
        &csr,
    ]);
    ok(&args);
    let cert = p("cert.der");
    ok(&[
        "x509",
        "-req",
        "-inform",
        "DER",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-set_serial",
        "0x2222222222222222222222222222222222222222",
        "-copy_extensions",
        "copyall",
        "-days",
        "30",
        "-outform",
        "DER",
        "-out",
        &cert,
    ]);
    (std::fs::read(&csr).unwrap(), std::fs::read(&cert).unwrap())
}

const SERIAL: [u8; 20] = [0x22; 20];

fn ca() -> CaName {
    CaName::new("ref-ca").unwrap()
}

fn serial_details() -> String {
    format!(r#"{{"serial":"{}"}}"#, "22".repeat(20))
}

fn new_request(csr: &[u8], cert: Option<&[u8]>) -> NewRequest {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    NewRequest {
        ca: ca(),
        status: if cert.is_some() {
            RequestStatus::Issued
        } else {
            RequestStatus::Pending
        },
        profile: None,
        requester: Some("user".into()),
        format: "pkcs10".into(),
        raw: csr.to_vec(),
        subject: "CN=ref.example".into(),
        submitted_at: t,
        resolved_at: cert.map(|_| t),
        message: None,
        attributes: Vec::new(),
        extensions: Vec::new(),
        certificate: cert.map(|der| NewCertificate {
            serial: SerialNumber::from_random(SERIAL),
            der: der.to_vec(),
            subject: "CN=ref.example".into(),
            sans: vec!["DNS:ref.example".into()],
            not_before: t,
            not_after: t + Duration::from_secs(86_400),
            shard: 0,
            spki_sha256: [1; 32],
            unique_key: false,
        }),
        events: vec![
            (Event::Issued, serial_details()),
            (Event::Issued, r#"{"serial":"00"}"#.into()),
        ],
        audit: Vec::new(),
    }
}

/// What reading request `id` gives back: the request as received, its subject, and its
/// certificate's serial, SANs and DER.
async fn read(
    store: &dyn Store,
    id: i64,
) -> (Vec<u8>, String, Option<(String, Vec<String>, Vec<u8>)>) {
    let r = store
        .get_request(&ca(), RequestId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let cert = r.certificate.map(|c| (c.serial.to_hex(), c.sans, c.der));
    (r.raw, r.subject, cert)
}

async fn details(store: &dyn Store) -> Vec<(Option<i64>, String)> {
    store
        .outbox_after(&ca(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.request_id.map(RequestId::get), e.details))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_requests_are_stored_against_their_certificate_and_read_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let store = SqlStore::open(&path).unwrap();
    let (csr, cert) = csr_and_certificate();
    let issued = store
        .create_request(new_request(&csr, Some(&cert)))
        .await
        .unwrap();
    let pending = store.create_request(new_request(&csr, None)).await.unwrap();
    store
        .append_events(vec![NewEvent {
            ca: ca(),
            event: Event::Revoked,
            request_id: Some(issued),
            at: UNIX_EPOCH + Duration::from_secs(1_700_000_100),
            details: serial_details(),
        }])
        .await
        .unwrap();

    let got = read(&store, issued.get()).await;
    assert_eq!(got.0, csr);
    assert_eq!(got.1, "CN=ref.example");
    let (serial, sans, der) = got.2.unwrap();
    assert_eq!(
        (serial.as_str(), sans, der),
        (
            "22".repeat(20).as_str(),
            vec!["DNS:ref.example".to_string()],
            cert.clone()
        )
    );
    assert_eq!(read(&store, pending.get()).await.0, csr);
    assert_eq!(
        details(&store).await,
        [
            (Some(issued.get()), serial_details()),
            (Some(issued.get()), r#"{"serial":"00"}"#.into()),
            (Some(pending.get()), serial_details()),
            (Some(pending.get()), r#"{"serial":"00"}"#.into()),
            (Some(issued.get()), serial_details()),
        ]
    );

    let conn = Connection::open(&path).unwrap();
    let (form, len): (i64, usize) = conn
        .query_row(
            "SELECT raw_form, length(raw) FROM requests WHERE id = ?1",
            [issued.get()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(form, 1);
    assert!(len * 2 < csr.len(), "delta {len} bytes, CSR {}", csr.len());
    let forms: Vec<i64> = conn
        .prepare("SELECT details_form FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Only the issued request's own serial, written with it, is by reference.
    assert_eq!(forms, [1, 0, 0, 0, 0]);

    // A delta that does not decode is a corrupt row, not a wrong CSR.
    conn.execute(
        "UPDATE requests SET raw = x'01ff0f' WHERE id = ?1",
        [issued.get()],
    )
    .unwrap();
    match store.get_request(&ca(), issued).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("raw"), "{msg}"),
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
}

/// The rows a database before migration 0017 holds: an issued request with its certificate
/// and a pending one, both with the real CSR; issuance events with the serial's details and
/// others. `blob(bytes)` spells a BLOB/BYTEA literal.
fn legacy_rows(csr: &[u8], cert: &[u8], blob: fn(&[u8]) -> String) -> String {
    let mut sql = String::new();
    for (id, status) in [(1, "issued"), (2, "pending")] {
        sql += &format!(
            "INSERT INTO requests (id, ca, status, format, raw, requester, subject, submitted_at) \
             VALUES ({id}, 'ref-ca', '{status}', 'pkcs10', {}, 'user', 'CN=ref.example', \
             1700000000);\n",
            blob(csr)
        );
    }
    sql += &format!(
        "INSERT INTO certificates (ca, serial, request_id, der, subject, sans, not_before, \
         not_after) VALUES ('ref-ca', '{}', 1, {}, 'CN=ref.example', '[\"DNS:ref.example\"]', \
         1700000000, 1700086400);\n",
        "22".repeat(20),
        blob(cert)
    );
    for (request, details) in [
        ("1", serial_details()),
        ("1", r#"{"serial":"00"}"#.to_string()),
        ("2", serial_details()),
        ("NULL", serial_details()),
    ] {
        sql += &format!(
            "INSERT INTO outbox (ca, event, request_id, at, details) \
             VALUES ('ref-ca', 1, {request}, 1700000000, '{details}');\n"
        );
    }
    sql
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The migration scripts of `backend` before `before`, in order, with their versions.
fn scripts_before(backend: &str, before: &str) -> Vec<(i64, String)> {
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
        .map(|n| {
            let version = n[..4].parse().unwrap();
            (version, std::fs::read_to_string(dir.join(n)).unwrap())
        })
        .collect()
}

async fn reads_back_identical(store: &dyn Store, csr: &[u8], cert: &[u8]) {
    let issued = read(store, 1).await;
    assert_eq!(
        issued,
        (
            csr.to_vec(),
            "CN=ref.example".to_string(),
            Some((
                "22".repeat(20),
                vec!["DNS:ref.example".to_string()],
                cert.to_vec()
            ))
        )
    );
    assert_eq!(
        read(store, 2).await,
        (csr.to_vec(), "CN=ref.example".to_string(), None)
    );
    assert_eq!(
        details(store).await,
        [
            (Some(1), serial_details()),
            (Some(1), r#"{"serial":"00"}"#.into()),
            (Some(2), serial_details()),
            (None, serial_details()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_database_from_before_0017_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let (csr, cert) = csr_and_certificate();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for (version, sql) in scripts_before("sqlite", "0017") {
            conn.execute_batch(&sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, 'old', 0)",
                [version],
            )
            .unwrap();
        }
        conn.execute_batch(&legacy_rows(&csr, &cert, |b| format!("x'{}'", hex(b))))
            .unwrap();
    }
    let store = SqlStore::open(&path).unwrap();
    reads_back_identical(&store, &csr, &cert).await;
    let conn = Connection::open(&path).unwrap();
    let forms: (i64, i64, String) = conn
        .query_row(
            "SELECT (SELECT group_concat(raw_form) FROM requests), \
             (SELECT length(raw) FROM requests WHERE id = 1), \
             (SELECT group_concat(details_form) FROM outbox)",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?.replace(',', "").parse().unwrap(),
                    r.get(1)?,
                    r.get(2)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        forms.0, 10,
        "the issued request is a delta, the pending one as received"
    );
    assert!((forms.1 as usize) * 2 < csr.len());
    assert_eq!(forms.2, "1,0,0,0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_database_from_before_0005_is_converted() {
    let pg = PgCluster::shared();
    let name = pg.fresh_database();
    let (csr, cert) = csr_and_certificate();
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL);\n",
    );
    for (version, script) in scripts_before("postgres", "0005") {
        sql += &script;
        sql += &format!("\nINSERT INTO schema_migrations VALUES ({version}, 'old', 0);\n");
    }
    sql += &legacy_rows(&csr, &cert, |b| format!("'\\x{}'::bytea", hex(b)));
    pg.query(&name, &sql);
    let config = signet_store::PgConfig::new(&pg.url(&name), None).unwrap();
    let store = signet_store::Database::Postgres(Box::new(config))
        .open(signet_store::audit::AuditKeys::default())
        .unwrap();
    reads_back_identical(&store, &csr, &cert).await;
    assert_eq!(
        pg.query(
            &name,
            "SELECT string_agg(raw_form::text, '' ORDER BY id) FROM requests"
        )
        .trim(),
        "10"
    );
    assert_eq!(
        pg.query(
            &name,
            "SELECT string_agg(details_form::text, '' ORDER BY seq) FROM outbox"
        )
        .trim(),
        "1000"
    );
}
