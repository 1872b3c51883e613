//! The PostgreSQL connection layer against real servers (`signet_testkit::postgres`, one
//! fresh cluster per test): migrations, every parameter and column kind through `Db`, error
//! mapping, multi-host failover, password authentication, and verify-full TLS with
//! certificates made by the openssl CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::path::Path;
use std::process::Command;

use signet_core::StoreError;
use signet_testkit::postgres::PgCluster;

use super::migrate::latest_version;
use super::{PgConfig, PgConfigError, PgConn, migrate};
use crate::db::{Db, Dialect, Param, Value, ValueError, query_value};

/// A cluster with an empty database `signet`.
fn cluster() -> PgCluster {
    let pg = PgCluster::start();
    pg.create_database("signet");
    pg
}

fn connect(url: &str) -> PgConn {
    PgConfig::build(url, None, None).unwrap().connect().unwrap()
}

/// Every row of `sql`, each column as an owned value (`Err` for a column that cannot be read).
fn rows(conn: &PgConn, sql: &str, params: &[Param<'_>]) -> Vec<Vec<Result<Owned, String>>> {
    let mut out = Vec::new();
    conn.each_row(sql, params, "test query", &mut |row| {
        let mut cols = Vec::new();
        let mut i = 0;
        loop {
            match row.value(i) {
                Err(ValueError::NoColumn { .. }) => break,
                v => cols.push(v.map(Owned::from).map_err(|e| e.to_string())),
            }
            i += 1;
        }
        out.push(cols);
        Ok(true)
    })
    .unwrap();
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Value<'_>> for Owned {
    fn from(v: Value<'_>) -> Owned {
        match v {
            Value::Null => Owned::Null,
            Value::Int(i) => Owned::Int(i),
            Value::Text(t) => Owned::Text(t.to_owned()),
            Value::Blob(b) => Owned::Blob(b.to_vec()),
        }
    }
}

fn text(s: &str) -> Param<'_> {
    Param::Text(Cow::Borrowed(s))
}

fn blob(b: &[u8]) -> Param<'_> {
    Param::Blob(Cow::Borrowed(b))
}

/// A connection moves to the thread that uses it; the configuration is shared by all.
#[test]
fn connections_move_between_threads_and_configurations_are_shared() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<PgConn>();
    send_sync::<PgConfig>();
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let pg = cluster();
    let url = pg.url("signet");
    let conn = connect(&url);
    assert_eq!(conn.dialect(), Dialect::Postgres);
    migrate(&conn, 1_700_000_000).unwrap();
    migrate(&conn, 1_700_000_001).unwrap();
    let applied: Vec<Vec<Result<Owned, String>>> = super::migrate::MIGRATIONS
        .iter()
        .map(|m| {
            vec![
                Ok(Owned::Int(i64::from(m.version))),
                Ok(Owned::Text(m.name.into())),
                Ok(Owned::Int(1_700_000_000)),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &conn,
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
            &[]
        ),
        applied,
        "each migration once, at the first run's time"
    );
    assert_eq!(
        rows(&conn, "SELECT id, seq, hash FROM audit_head", &[]),
        vec![vec![
            Ok(Owned::Int(1)),
            Ok(Owned::Int(0)),
            Ok(Owned::Blob(vec![0; 32]))
        ]]
    );
    // Every integer column is BIGINT, so an i64 binds everywhere.
    let narrow = pg.query(
        "signet",
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type IN ('integer', 'smallint', 'boolean', 'numeric')",
    );
    assert_eq!(narrow.trim(), "", "columns that are not BIGINT");

    // A second database migrated by several nodes at once: one applies, the others wait and
    // find it applied.
    pg.create_database("race");
    let race = pg.url("race");
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let race = race.clone();
            std::thread::spawn(move || migrate(&connect(&race), i))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let conn_race = connect(&race);
    let versions: Option<i64> = query_value(
        &conn_race,
        "SELECT count(*) FROM schema_migrations",
        &[],
        "counting migrations",
    )
    .unwrap();
    assert_eq!(versions, Some(i64::from(latest_version())));

    // A newer schema than this build knows is refused, and nothing is changed.
    let newer = i64::from(latest_version()) + 1;
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 0)",
        &[Param::Int(newer)],
        "pretending to be newer",
    )
    .unwrap();
    let err = migrate(&conn, 0).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains(&format!("version {newer}, newer than this build"))),
        "{err}"
    );
    // The failed migration rolled back: the connection is usable, outside a transaction.
    conn.batch("BEGIN; COMMIT", "a transaction").unwrap();
}

#[test]
fn every_parameter_and_column_kind_round_trips() {
    let pg = cluster();
    let conn = connect(&pg.url("signet"));
    conn.batch(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, i BIGINT, s TEXT, b BYTEA);
         CREATE TABLE narrow (i4 INTEGER, i2 SMALLINT, f BOOLEAN, v VARCHAR(10), c CHAR(3), n NUMERIC)",
        "creating test tables",
    )
    .unwrap();
    let insert = "INSERT INTO t (id, i, s, b) VALUES (?1, ?2, ?3, ?4)";
    let cases: [[Param<'_>; 4]; 4] = [
        [
            Param::Int(1),
            Param::Int(i64::MIN),
            text("grüße, '?' ∑"),
            blob(&[0, 1, 0, 255]),
        ],
        [Param::Int(2), Param::Int(i64::MAX), text(""), blob(&[])],
        [Param::Int(3), Param::Int(0), Param::Null, Param::Null],
        [
            Param::Int(4),
            Param::Null,
            Param::Text("owned".to_owned().into()),
            Param::Blob(vec![7; 3000].into()),
        ],
    ];
    for params in &cases {
        assert_eq!(conn.execute(insert, params, "inserting").unwrap(), 1);
    }
    let expected = vec![
        vec![
            Owned::Int(1),
            Owned::Int(i64::MIN),
            Owned::Text("grüße, '?' ∑".into()),
            Owned::Blob(vec![0, 1, 0, 255]),
        ],
        vec![
            Owned::Int(2),
            Owned::Int(i64::MAX),
            Owned::Text(String::new()),
            Owned::Blob(vec![]),
        ],
        vec![Owned::Int(3), Owned::Int(0), Owned::Null, Owned::Null],
        vec![
            Owned::Int(4),
            Owned::Null,
            Owned::Text("owned".into()),
            Owned::Blob(vec![7; 3000]),
        ],
    ];
    let got: Vec<Vec<Owned>> = rows(&conn, "SELECT id, i, s, b FROM t ORDER BY id", &[])
        .into_iter()
        .map(|r| r.into_iter().map(Result::unwrap).collect())
        .collect();
    assert_eq!(got, expected);
    // Parameters in the WHERE clause, bare `?` numbered left to right.
    assert_eq!(
        rows(
            &conn,
            "SELECT id FROM t WHERE s = ? AND b = ?",
            &[text("owned"), blob(&[7; 3000])]
        ),
        vec![vec![Ok(Owned::Int(4))]]
    );
    assert_eq!(
        conn.execute(
            "UPDATE t SET i = i WHERE id > ?1",
            &[Param::Int(1)],
            "updating"
        )
        .unwrap(),
        3
    );

    // `?` inside a literal is text, not a parameter.
    let joined: Option<String> = query_value(
        &conn,
        "SELECT CAST(?2 AS TEXT) || '?' || CAST(?1 AS TEXT) || '?1'",
        &[text("a"), text("b")],
        "joining",
    )
    .unwrap();
    assert_eq!(joined.as_deref(), Some("b?a?1"));

    // Narrower columns take integers that fit and read back as integers.
    conn.execute(
        "INSERT INTO narrow (i4, i2, f, v, c) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            Param::Int(-7),
            Param::Int(300),
            Param::Int(1),
            text("varchar"),
            text("abc"),
        ],
        "inserting narrow values",
    )
    .unwrap();
    assert_eq!(
        rows(&conn, "SELECT i4, i2, f, v, c FROM narrow", &[]),
        vec![vec![
            Ok(Owned::Int(-7)),
            Ok(Owned::Int(300)),
            Ok(Owned::Int(1)),
            Ok(Owned::Text("varchar".into())),
            Ok(Owned::Text("abc".into()))
        ]]
    );
    for (sql, param, expected) in [
        (
            "INSERT INTO narrow (i4) VALUES (?1)",
            Param::Int(1 << 40),
            "does not fit a parameter of type int4",
        ),
        (
            "INSERT INTO narrow (i2) VALUES (?1)",
            Param::Int(40_000),
            "does not fit a parameter of type int2",
        ),
        (
            "INSERT INTO narrow (f) VALUES (?1)",
            Param::Int(2),
            "does not fit a parameter of type bool",
        ),
        (
            "INSERT INTO t (id) VALUES (?1)",
            text("1"),
            "cannot bind text to a parameter of type int8",
        ),
        (
            "INSERT INTO t (id, b) VALUES (9, ?1)",
            text("x"),
            "cannot bind text to a parameter of type bytea",
        ),
        (
            "INSERT INTO t (id, s) VALUES (9, ?1)",
            blob(b"x"),
            "cannot bind bytes to a parameter of type text",
        ),
        (
            "INSERT INTO narrow (n) VALUES (?1)",
            Param::Int(1),
            "cannot bind an integer to a parameter of type numeric",
        ),
    ] {
        let err = conn.execute(sql, &[param], "binding").unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(m) if m.starts_with("binding: ") && m.contains(expected)),
            "{sql}: {err}"
        );
    }
    // A type the store does not read is an error naming it.
    conn.execute("INSERT INTO narrow (n) VALUES (1.5)", &[], "numeric")
        .unwrap();
    let got = rows(&conn, "SELECT n FROM narrow WHERE n IS NOT NULL", &[]);
    assert!(
        matches!(&got[0][0], Err(e) if e.contains("numeric")),
        "{got:?}"
    );
    let err = query_value::<i64>(&conn, "SELECT sum(i) FROM t", &[], "summing").unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("numeric")),
        "{err}"
    );
}

#[test]
fn errors_are_mapped_and_the_connection_survives_them() {
    let pg = cluster();
    let conn = connect(&pg.url("signet"));
    conn.batch(
        "CREATE TABLE u (id BIGINT PRIMARY KEY, name TEXT UNIQUE); \
         INSERT INTO u VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        "creating u",
    )
    .unwrap();

    // A unique violation is a conflict, with the server's message and detail.
    let err = conn
        .execute(
            "INSERT INTO u (id, name) VALUES (?1, ?2)",
            &[Param::Int(4), text("a")],
            "adding a name",
        )
        .unwrap_err();
    match &err {
        StoreError::Conflict(m) => {
            assert!(m.starts_with("adding a name: duplicate key value"), "{m}");
            assert!(m.contains("Key (name)=(a) already exists"), "{m}");
        }
        other => panic!("expected a conflict: {other}"),
    }
    // Anything else is a backend error.
    let err = conn
        .execute("INSERT INTO nowhere VALUES (1)", &[], "writing nowhere")
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.starts_with("writing nowhere: ") && m.contains("nowhere")),
        "{err}"
    );
    let err = conn.batch("SELEC 1", "a typo").unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("syntax error")),
        "{err}"
    );

    // A conflict inside a transaction aborts it; ROLLBACK makes the connection usable again.
    conn.batch("BEGIN", "begin").unwrap();
    assert!(matches!(
        conn.execute("INSERT INTO u VALUES (1, 'z')", &[], "dup"),
        Err(StoreError::Conflict(_))
    ));
    conn.batch("ROLLBACK", "rollback").unwrap();

    // Stopping early drops the rest of the rows; the next statement sees its own.
    let mut seen = Vec::new();
    conn.each_row(
        "SELECT id FROM u ORDER BY id",
        &[],
        "first only",
        &mut |row| {
            seen.push(Owned::from(row.value(0).unwrap()));
            Ok(false)
        },
    )
    .unwrap();
    assert_eq!(seen, vec![Owned::Int(1)]);
    let count: Option<i64> = query_value(&conn, "SELECT count(*) FROM u", &[], "count").unwrap();
    assert_eq!(count, Some(3));

    // A callback's error ends the query and comes back as it was.
    let err = conn
        .each_row("SELECT id FROM u", &[], "failing", &mut |_| {
            Err(StoreError::StateChanged("stop".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::StateChanged(_)));

    // A statement run from inside a row callback on the same connection is an error, not a
    // panic.
    let mut inner = None;
    conn.each_row("SELECT id FROM u", &[], "outer", &mut |_| {
        inner = Some(conn.execute("SELECT 1", &[], "inner"));
        Ok(false)
    })
    .unwrap();
    assert!(
        matches!(&inner, Some(Err(StoreError::Backend(m))) if m.contains("another statement's rows")),
        "{inner:?}"
    );

    // The statement cache stays bounded when SQL is built at run time.
    for n in 0..600 {
        let got: Option<i64> = query_value(
            &conn,
            &format!("SELECT ?1 + {n}"),
            &[Param::Int(1)],
            "dynamic",
        )
        .unwrap();
        assert_eq!(got, Some(1 + n));
    }
    assert!(conn.cached_statements() <= super::conn::STATEMENT_CACHE_LIMIT);
    assert!(conn.cached_statements() > 0);

    // A connection the server ended says so, so the caller can reconnect.
    assert!(!conn.is_closed());
    let pid: Option<i64> = query_value(&conn, "SELECT pg_backend_pid()", &[], "pid").unwrap();
    let other = connect(&pg.url("signet"));
    let killed: Option<i64> = query_value(
        &other,
        "SELECT pg_terminate_backend(?1)",
        &[Param::Int(pid.unwrap())],
        "terminating",
    )
    .unwrap();
    assert_eq!(killed, Some(1));
    let err = query_value::<i64>(&conn, "SELECT 1", &[], "after termination").unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("terminating connection")),
        "{err}"
    );
    assert!(conn.is_closed());
    let err = query_value::<i64>(&conn, "SELECT 1", &[], "once more").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(conn.is_closed());
    assert!(!other.is_closed());
}

#[test]
fn a_multi_host_url_finds_the_writable_server() {
    let read_only = cluster();
    read_only.query(
        "postgres",
        "ALTER SYSTEM SET default_transaction_read_only = on",
    );
    read_only.restart();
    let writable = cluster();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = format!(
        "127.0.0.1:{dead},127.0.0.1:{},127.0.0.1:{}",
        read_only.port(),
        writable.port()
    );
    let port_of = |url: &str| -> String {
        let conn = connect(url);
        query_value::<String>(&conn, "SELECT current_setting('port')", &[], "port")
            .unwrap()
            .unwrap()
    };
    let url = format!("postgres://signet@{hosts}/signet?target_session_attrs=read-write");
    assert_eq!(port_of(&url), writable.port().to_string());
    // Without the attribute the first server that answers will do, read-only or not.
    let any = format!("postgres://signet@{hosts}/signet");
    assert_eq!(port_of(&any), read_only.port().to_string());
    // No writable server: the error says why.
    let only_ro = format!(
        "postgres://signet@127.0.0.1:{dead},127.0.0.1:{}/signet?target_session_attrs=read-write",
        read_only.port()
    );
    let err = PgConfig::build(&only_ro, None, None)
        .unwrap()
        .connect()
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("connecting to PostgreSQL at postgres://signet@127.0.0.1:")),
        "{err}"
    );
}

#[test]
fn a_password_comes_from_its_file_or_the_environment() {
    let pg = cluster();
    pg.query("postgres", "CREATE ROLE app LOGIN PASSWORD 'correct horse'");
    pg.prepend_hba("host all app 127.0.0.1/32 scram-sha-256");
    pg.restart();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::write(&good, "correct horse\n").unwrap();
    std::fs::write(&bad, "battery staple\n").unwrap();
    let url = format!("postgres://app@127.0.0.1:{}/signet", pg.port());
    let user = |config: PgConfig| -> Result<String, StoreError> {
        let conn = config.connect()?;
        Ok(
            query_value::<String>(&conn, "SELECT current_user", &[], "who")
                .unwrap()
                .unwrap(),
        )
    };

    assert_eq!(
        user(PgConfig::build(&url, Some(good.as_path()), None).unwrap()).unwrap(),
        "app"
    );
    assert_eq!(
        user(PgConfig::build(&url, None, Some(b"correct horse".to_vec())).unwrap()).unwrap(),
        "app"
    );
    // The file wins over the environment.
    assert_eq!(
        user(PgConfig::build(&url, Some(good.as_path()), Some(b"wrong".to_vec())).unwrap())
            .unwrap(),
        "app"
    );
    let err = user(PgConfig::build(&url, Some(bad.as_path()), None).unwrap()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("password authentication failed")),
        "{err}"
    );
    assert!(!err.to_string().contains("battery"), "{err}");
    let err = user(PgConfig::build(&url, None, None).unwrap()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("password")),
        "{err}"
    );
    // In the URL it works too (but shows nowhere).
    let in_url = format!(
        "postgres://app:correct%20horse@127.0.0.1:{}/signet",
        pg.port()
    );
    let config = PgConfig::build(&in_url, None, None).unwrap();
    assert!(!format!("{config:?}").contains("horse"));
    assert_eq!(user(config).unwrap(), "app");
}

#[test]
fn tls_verify_full_checks_the_ca_and_the_host_name() {
    let pg = cluster();
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path(), "ca");
    let other_ca = make_ca(dir.path(), "other");
    let (cert, key) = make_server_cert(dir.path(), "ca", "localhost");
    let cert = pg.install_file("server.pem", &cert, 0o644);
    let key = pg.install_file("server.key", &key, 0o600);
    for setting in [
        format!("ssl_cert_file = '{}'", cert.display()),
        format!("ssl_key_file = '{}'", key.display()),
        "ssl = on".to_owned(),
    ] {
        pg.query("postgres", &format!("ALTER SYSTEM SET {setting}"));
    }
    pg.restart();

    let url =
        |host: &str, query: &str| format!("postgres://signet@{host}:{}/signet?{query}", pg.port());
    let ca_query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let conn = PgConfig::build(&url("localhost", &ca_query), None, None)
        .unwrap()
        .connect()
        .unwrap();
    let ssl: Option<bool> = query_value(
        &conn,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
        "ssl",
    )
    .unwrap();
    assert_eq!(ssl, Some(true), "the connection uses TLS");
    // `require` with a CA file is verify-full; absent `sslmode` with one too.
    for query in [
        format!("sslmode=require&sslrootcert={}", ca.display()),
        format!("sslrootcert={}", ca.display()),
    ] {
        let conn = PgConfig::build(&url("localhost", &query), None, None)
            .unwrap()
            .connect()
            .unwrap();
        let ssl: Option<bool> = query_value(
            &conn,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
            "ssl",
        )
        .unwrap();
        assert_eq!(ssl, Some(true), "{query}");
    }

    // The certificate names `localhost`, not `127.0.0.1`.
    let err = PgConfig::build(&url("127.0.0.1", &ca_query), None, None)
        .unwrap()
        .connect()
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("certificate not valid for name \"127.0.0.1\"")),
        "{err}"
    );
    // Another CA did not issue it.
    let other_query = format!("sslmode=verify-full&sslrootcert={}", other_ca.display());
    let err = PgConfig::build(&url("localhost", &other_query), None, None)
        .unwrap()
        .connect()
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("UnknownIssuer")),
        "{err}"
    );
    // A multi-host list checks each host's own name: the first is refused, the second used.
    let both = format!(
        "postgres://signet@127.0.0.1:{port},localhost:{port}/signet?{ca_query}",
        port = pg.port()
    );
    PgConfig::build(&both, None, None)
        .unwrap()
        .connect()
        .unwrap();
    // `require` without a CA file is refused before connecting.
    assert!(matches!(
        PgConfig::build(&url("localhost", "sslmode=require"), None, None),
        Err(PgConfigError::RequireWithoutCa)
    ));
}

#[test]
fn the_blocking_client_panics_inside_an_async_runtime() {
    // Nothing listens on port 1, so outside a runtime this is a plain connection error.
    let config = PgConfig::build("postgres://signet@127.0.0.1:1/signet", None, None).unwrap();
    assert!(config.connect().is_err());
    // In a blocking task of a runtime it is allowed: also a plain error.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let c = config.clone();
    let blocking = runtime
        .block_on(async move { tokio::task::spawn_blocking(move || c.connect().is_err()).await });
    assert!(blocking.unwrap());
    // On the runtime itself the client's own `block_on` panics ("Cannot start a runtime from
    // within a runtime"): the store's threads must stay out of async code.
    let panicked = std::thread::spawn(move || {
        runtime.block_on(async move {
            let _ = config.connect();
        })
    })
    .join();
    assert!(panicked.is_err());
}

/// A self-signed CA (`<name>.pem`, key `<name>.key`) in `dir`; the certificate's path.
fn make_ca(dir: &Path, name: &str) -> std::path::PathBuf {
    let pem = dir.join(format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=Signet test database CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    pem
}

/// A server certificate for `host` issued by the CA `ca` in `dir`: (certificate PEM, key PEM).
fn make_server_cert(dir: &Path, ca: &str, host: &str) -> (Vec<u8>, Vec<u8>) {
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{host}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &format!("/CN={host}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (
        std::fs::read(dir.join("server.pem")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
