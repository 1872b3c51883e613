//! Signet on PostgreSQL, as an operator runs it: `signet init --database URL` (password from
//! a file, over SCRAM), `signet serve` on it, and several nodes sharing one database. The
//! database is a real server from Debian's `postgresql` package, started by the test on
//! loopback; the certificates are checked with `openssl verify`, the audit chain with
//! `signet audit verify`.

mod common;

use std::collections::HashSet;
use std::fs;

use common::{Server, openssl_csr, openssl_verify, run_signet};
use signet_testkit::postgres::PgCluster;

/// `signet audit verify --data DATA` (reading the database directly) finds the chain intact.
fn audit_verifies(data: &std::path::Path) {
    let run = run_signet(
        &["audit", "verify", "--data", &data.to_string_lossy()],
        &[],
        None,
    );
    run.expect_code(0);
    assert!(run.stdout.contains("audit log intact"), "{run}");
}

/// A database on `pg` for one installation, reached as the password-authenticated role
/// `app` (not the cluster's trusted superuser), and the password file `signet init` gets.
fn app_database(pg: &PgCluster, server: &Server) -> (String, String) {
    let db = pg.fresh_database();
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE app LOGIN PASSWORD 'correct horse battery';
             ALTER DATABASE {db} OWNER TO app;"
        ),
    );
    pg.prepend_hba("host all app 127.0.0.1/32 scram-sha-256");
    pg.restart();
    let password = server.work_file("db.password");
    fs::write(&password, "correct horse battery\n").expect("writing the password file");
    (
        format!("postgres://app@127.0.0.1:{}/{db}", pg.port()),
        password.to_string_lossy().into_owned(),
    )
}

/// `signet init --database URL --database-password-file F`: the whole installation on
/// PostgreSQL. It serves, issues certificates openssl verifies, and its audit chain
/// verifies; nothing about it is in a SQLite file. A second `signet init` on the same
/// database is refused (it already holds an installation), and so is a wrong password.
#[test]
fn an_installation_lives_on_postgres() {
    let pg = PgCluster::start();
    let probe = Server::prepare(&[]);
    let (url, password_file) = app_database(&pg, &probe);
    let mut server = Server::init(&[
        "--dev",
        "--database",
        &url,
        "--database-password-file",
        &password_file,
    ]);
    let config = fs::read_to_string(server.data.join("signet.toml")).expect("signet.toml");
    assert!(
        config.contains(&format!("database = \"{url}\"")),
        "{config}"
    );
    assert!(
        !config.contains("correct horse"),
        "the password stays out of signet.toml"
    );
    server.serve();

    let issued = server.issue("pg.test");
    let pem = issued["certificate"].as_str().expect("certificate PEM");
    let cert = server.work_file("pg.pem");
    fs::write(&cert, pem).expect("writing the certificate");
    openssl_verify(&server.ca_cert_path(), &cert);
    assert!(
        !server.data.join("signet.db").exists(),
        "no SQLite file next to a PostgreSQL installation"
    );
    let in_db = pg.query(
        url.rsplit('/').next().unwrap_or_default(),
        "SELECT count(*) FROM certificates",
    );
    assert!(in_db.trim().parse::<u32>().unwrap_or(0) >= 1, "{in_db}");
    server.stop_ok();
    audit_verifies(&server.data);

    // Another installation may not take over this database.
    let other = Server::prepare(&[]);
    let refused = run_signet(
        &[
            "init",
            "--dev",
            "--data",
            &other.data.to_string_lossy(),
            "--database",
            &url,
            "--database-password-file",
            &password_file,
        ],
        &[],
        None,
    );
    assert_ne!(
        refused.code, 0,
        "init on a used database must fail: {refused}"
    );
    assert!(
        refused
            .stderr
            .contains("already holds a Signet installation"),
        "{refused}"
    );
    assert!(
        !other.data.join("signet.toml").exists(),
        "a refused init writes nothing"
    );

    // A wrong password: the server does not start, and says why without echoing it.
    fs::write(&password_file, "wrong password\n").expect("writing the password file");
    let failed = server
        .try_serve()
        .expect_err("a wrong password must stop the start");
    assert!(failed.stderr.contains("password"), "{}", failed.stderr);
    assert!(
        !failed.stderr.contains("wrong password"),
        "{}",
        failed.stderr
    );
}

/// Two nodes (the second a copy of the first's data directory, as docs/HA.md says) serve
/// one database at once. Requests spread over both are all on record on both, with unique
/// request ids and serial numbers; a request waiting on one node is approved on the other
/// with a token made after both started; the audit chain is one chain that verifies.
#[test]
fn two_nodes_issue_from_one_database() {
    let pg = PgCluster::start();
    let db = pg.fresh_database();
    let url = pg.url(&db);
    let mut first = Server::init(&["--dev", "--database", &url]);
    first.serve();
    let mut second = first.another_node();
    second.serve();

    const PER_NODE: usize = 20;
    let csrs: Vec<_> = (0..2 * PER_NODE)
        .map(|i| openssl_csr(&first.work, "p256", &format!("/CN=node{i}.test"), &[]))
        .collect();
    let issued: Vec<serde_json::Value> = std::thread::scope(|s| {
        let nodes = [&first, &second];
        let handles: Vec<_> = csrs
            .chunks(PER_NODE)
            .zip(nodes)
            .map(|(chunk, node)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|csr| node.submit(csr, None))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a submitting thread"))
            .collect()
    });
    let mut ids = HashSet::new();
    let mut serials = HashSet::new();
    for v in &issued {
        assert_eq!(v["status"], "issued", "{v:#}");
        let id = v["id"].as_i64().expect("request id");
        assert!(ids.insert(id), "request id {id} given twice");
        let serial = v["serial"].as_str().expect("serial").to_string();
        assert!(
            serials.insert(serial.clone()),
            "serial {serial} given twice"
        );
        // Each node reads what the other issued.
        for node in [&first, &second] {
            let status = node.request_status(id);
            assert_eq!(status["status"], "issued", "{status:#}");
        }
    }
    assert_eq!(ids.len(), 2 * PER_NODE);

    // Approval across nodes: a request waits on node 1; a manager whose token was made on
    // node 1 after node 2 started approves it on node 2 (node 2 learns the token within a
    // cluster sync); node 1 then hands out the certificate.
    let manager = first.create_token(&["manager"], "carol");
    let csr = openssl_csr(&first.work, "p256", "/CN=approved.test", &[]);
    let pending = first.submit(&csr, Some("manual"));
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let id = pending["id"].as_i64().expect("id");
    let start = std::time::Instant::now();
    let approved = loop {
        let r = second.call(
            Some(&manager),
            "POST",
            &format!("/api/v1/cas/demo/requests/{id}/approve"),
            None,
        );
        if r.status != 401 || start.elapsed() > std::time::Duration::from_secs(5) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(approved.status, 200, "{approved}");
    assert_eq!(approved.json()["status"], "issued", "{approved}");
    let on_first = first.request_status(id);
    assert_eq!(on_first["status"], "issued", "{on_first:#}");
    assert!(on_first["certificate"].is_string(), "{on_first:#}");
    first.stop_ok();
    second.stop_ok();
    audit_verifies(&first.data);
}

/// `signet db copy`: a populated SQLite installation (certificates, a revocation, a CRL,
/// tokens, the audit chain with a signed checkpoint) moves to PostgreSQL. The copy verifies
/// with the installation's keys, signet.toml then names the PostgreSQL database, and the
/// server on it knows everything it knew: the old certificates and their revocation, the
/// old tokens; new request ids and CRL numbers continue after the copied ones. A second
/// copy into the now-used database is refused, and a copy never changes the SQLite file.
#[test]
fn db_copy_moves_a_sqlite_installation_to_postgres() {
    let mut server = Server::start(&[]);
    let manager = server.create_token(&["manager"], "carol");
    let admin = server.admin_token();
    let mut issued = Vec::new();
    for i in 0..5 {
        issued.push(server.issue(&format!("copy{i}.test")));
    }
    let revoked_serial = issued[1]["serial"].as_str().expect("serial").to_string();
    let r = server.call(
        Some(&manager),
        "POST",
        &format!(
            "/api/v1/cas/{}/certificates/{revoked_serial}/revoke",
            server.ca
        ),
        Some(&serde_json::json!({ "reason": "keyCompromise" })),
    );
    assert_eq!(r.status, 200, "{r}");
    let r = server.call(
        Some(&admin),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&serde_json::json!({ "delta": false })),
    );
    assert_eq!(r.status, 201, "{r}");
    let crl_number_before = r.json()[0]["number"].as_u64().expect("CRL number");
    // A clean stop signs a checkpoint of the chain head: the copy must keep it verifiable.
    server.stop_ok();
    let sqlite = server.data.join("signet.db");
    let sqlite_before = fs::read(&sqlite).expect("reading signet.db");

    let pg = PgCluster::start();
    let db = pg.fresh_database();
    let url = pg.url(&db);
    let data = server.data.to_string_lossy().into_owned();
    let copied = run_signet(&["db", "copy", "--data", &data, "--to", &url], &[], None);
    copied.expect_code(0);
    assert!(copied.stdout.contains("audit chain verified"), "{copied}");
    assert_eq!(
        fs::read(&sqlite).expect("reading signet.db"),
        sqlite_before,
        "the copy leaves the SQLite file as it was"
    );
    let config = fs::read_to_string(server.data.join("signet.toml")).expect("signet.toml");
    assert!(
        config.contains(&format!("database = \"{url}\"")),
        "{config}"
    );

    let again = run_signet(&["db", "copy", "--data", &data, "--to", &url], &[], None);
    // signet.toml names PostgreSQL now: nothing to copy from. Point a copy of it back at the
    // SQLite file to see the target refused for not being empty.
    assert_ne!(again.code, 0, "{again}");
    let other = server.another_node();
    let text = config.replace(
        &format!("database = \"{url}\""),
        &format!("database = \"{}\"", sqlite.display()),
    );
    fs::write(other.data.join("signet.toml"), text).expect("writing signet.toml");
    let refused = run_signet(
        &[
            "db",
            "copy",
            "--data",
            &other.data.to_string_lossy(),
            "--to",
            &url,
        ],
        &[],
        None,
    );
    assert_ne!(refused.code, 0, "{refused}");
    assert!(refused.stderr.contains("not empty"), "{refused}");

    server.serve();
    for v in &issued {
        let id = v["id"].as_i64().expect("id");
        let status = server.request_status(id);
        let expected = if v["serial"] == revoked_serial.as_str() {
            "revoked"
        } else {
            "issued"
        };
        assert_eq!(status["status"], expected, "{status:#}");
    }
    let newest = server.issue("after-copy.test");
    let max_old = issued
        .iter()
        .filter_map(|v| v["id"].as_i64())
        .max()
        .unwrap_or(0);
    assert!(newest["id"].as_i64().unwrap_or(0) > max_old, "{newest:#}");
    let r = server.call(
        Some(&admin),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&serde_json::json!({ "delta": false })),
    );
    assert_eq!(r.status, 201, "{r}");
    let crl_number_after = r.json()[0]["number"].as_u64().expect("CRL number");
    assert!(
        crl_number_after > crl_number_before,
        "CRL numbers continue: {r}"
    );
    // The manager token made before the copy still works after it.
    let r = server.call(
        Some(&manager),
        "GET",
        &format!("/api/v1/cas/{}/requests?limit=1", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "{r}");
    server.stop_ok();
    audit_verifies(&server.data);
}

/// Failover: the database is a primary with a synchronous streaming replica, and Signet's
/// URL names both with `target_session_attrs=read-write`. The primary is killed while a
/// client submits requests; `/healthz` answers 503 while no writable database is reachable;
/// the replica is promoted; the node reconnects by itself (no restart), `/healthz` answers
/// 200 again and requests are issued again. Every request the client was told was issued
/// is on record in the promoted database, and the audit chain verifies there.
#[test]
fn failover_to_a_synchronous_replica_loses_no_acknowledged_request() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let primary = PgCluster::start();
    let db = primary.fresh_database();
    let replica = PgCluster::replica_of(&primary);
    primary.make_synchronous();
    let url = format!(
        "postgres://signet@127.0.0.1:{},127.0.0.1:{}/{db}?target_session_attrs=read-write&connect_timeout=2",
        primary.port(),
        replica.port()
    );
    let mut server = Server::init(&["--dev", "--database", &url]);
    server.serve();
    assert_eq!(server.get("/healthz").status, 200);

    let csrs: Vec<_> = (0..400)
        .map(|i| openssl_csr(&server.work, "p256", &format!("/CN=failover{i}.test"), &[]))
        .collect();
    let acked: Mutex<Vec<(i64, String)>> = Mutex::new(Vec::new());
    let refused = Mutex::new(0u32);
    let statuses = Mutex::new(std::collections::BTreeSet::new());
    let stop = AtomicBool::new(false);
    let wait_for = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < limit, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            for csr in &csrs {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = server.submit_raw(csr, None);
                if r.status == 201 && r.json()["status"] == "issued" {
                    let v = r.json();
                    let id = v["id"].as_i64().expect("id");
                    let serial = v["serial"].as_str().expect("serial").to_string();
                    acked.lock().expect("acked").push((id, serial));
                } else {
                    *refused.lock().expect("refused") += 1;
                    statuses.lock().expect("statuses").insert(r.status);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        wait_for(
            "20 issued before the crash",
            Duration::from_secs(60),
            &|| acked.lock().expect("acked").len() >= 20,
        );
        primary.crash();
        wait_for(
            "/healthz 503 once the primary is gone",
            Duration::from_secs(20),
            &|| server.get("/healthz").status == 503,
        );
        let during = acked.lock().expect("acked").len();
        replica.promote();
        wait_for(
            "/healthz 200 after the promotion",
            Duration::from_secs(30),
            &|| server.get("/healthz").status == 200,
        );
        wait_for(
            "20 more issued after the promotion",
            Duration::from_secs(60),
            &|| acked.lock().expect("acked").len() >= during + 20,
        );
        stop.store(true, Ordering::Relaxed);
    });
    let acked = acked.into_inner().expect("acked");
    assert!(
        *refused.lock().expect("refused") > 0,
        "some requests failed while there was no primary (else the crash came too late to test anything)"
    );
    // They failed as "unavailable, retry" (503), not as an internal error (500).
    let statuses = statuses.into_inner().expect("statuses");
    assert!(
        statuses.iter().all(|s| *s == 503),
        "requests refused during the failover answered {statuses:?}, not only 503"
    );
    // Every acknowledged certificate is in the promoted database, with its serial.
    let on_record = replica.query(
        &db,
        "SELECT r.id || ' ' || c.serial FROM requests r JOIN certificates c ON c.request_id = r.id",
    );
    let on_record: HashSet<&str> = on_record.lines().collect();
    for (id, serial) in &acked {
        let line = format!("{id} {}", serial.to_lowercase());
        assert!(
            on_record.contains(line.as_str()),
            "request {id} (serial {serial}) was acknowledged but is missing after the failover"
        );
    }
    server.stop_ok();
    audit_verifies(&server.data);
}

/// Web sessions belong to the cluster, not a node: a user signs in on one node and the
/// session cookie works on the other; signing out on the other node ends the session on
/// both (a stolen cookie is useless afterwards on every node).
#[test]
fn a_web_session_works_on_every_node_and_ends_on_every_node() {
    let pg = PgCluster::start();
    let db = pg.fresh_database();
    let mut first = Server::init(&["--dev", "--database", &pg.url(&db)]);
    first.serve();
    let mut second = first.another_node();
    second.serve();
    let admin = first.admin_token();

    // Same-origin form posts, as a browser sends them.
    let form = |node: &Server, path: &str, body: &str, cookie: Option<&str>| {
        let host = node.addr().to_string();
        let origin = format!("http://{host}");
        let cookie = cookie.map(|c| format!("__Host-signet-session={c}"));
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c.as_str()));
        }
        common::http(node.addr(), "POST", path, &headers, body.as_bytes())
    };
    let page = |node: &Server, cookie: &str| {
        let cookie = format!("__Host-signet-session={cookie}");
        common::http(node.addr(), "GET", "/", &[("Cookie", cookie.as_str())], b"")
    };

    let signed_in = form(
        &first,
        "/signin",
        &format!("method=token&token={admin}&next=/admin"),
        None,
    );
    assert_eq!(signed_in.status, 303, "{signed_in}");
    let set_cookie = signed_in
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    let cookie = set_cookie
        .strip_prefix("__Host-signet-session=")
        .and_then(|v| v.split(';').next())
        .expect("the session cookie's value")
        .to_string();

    // A page shows its sign-out form only to a signed-in user.
    let signed_in_on = |node: &Server| {
        let p = page(node, &cookie);
        assert_eq!(p.status, 200, "{p}");
        p.text().contains("action=\"/signout\"")
    };
    assert!(
        signed_in_on(&first),
        "the session works where it was opened"
    );
    assert!(
        signed_in_on(&second),
        "the session opened on node 1 works on node 2"
    );
    let on_second = page(&second, &cookie);
    let html = on_second.text();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_string();

    let signed_out = form(&second, "/signout", &format!("csrf={csrf}"), Some(&cookie));
    assert_eq!(signed_out.status, 303, "{signed_out}");
    for node in [&first, &second] {
        assert!(
            !signed_in_on(node),
            "a signed-out session is refused on every node"
        );
    }
}

/// Two nodes on one database under load, one killed with SIGKILL. A client spreads its
/// requests over both (moving to the other node when one does not answer), revokes some
/// certificates on either node, publishes CRLs on either node and asks each node for OCSP
/// answers. Afterwards: every certificate the client received is on record; every Issued and
/// Revoked event of the database was delivered to the exit module (a `command` hook both
/// nodes share) at least once and in order, across the exit lease moving to the surviving
/// node; CRL numbers never repeat and grow with time per partition; the surviving node
/// answers OCSP `revoked` for every revoked certificate; the audit chain verifies.
#[test]
fn a_node_killed_under_load_loses_nothing_and_its_work_moves_over() {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    let pg = PgCluster::start();
    let db = pg.fresh_database();
    let mut first = Server::init(&["--dev", "--database", &pg.url(&db)]);
    let hook_dir = first.work.join("hook");
    fs::create_dir_all(&hook_dir).expect("hook dir");
    let hook = hook_dir.join("hook.sh");
    fs::write(
        &hook,
        "#!/bin/sh\ncat >> \"$1/delivered.jsonl\"\nprintf '\\n' >> \"$1/delivered.jsonl\"\n",
    )
    .expect("writing the hook");
    first.append_config(&format!(
        "[[ca.exit]]\nname = \"hook\"\nmodule = \"command\"\nprogram = \"/bin/sh\"\n\
         args = [\"{}\", \"{}\"]\nevents = [\"Issued\", \"Revoked\"]\n",
        hook.display(),
        hook_dir.display()
    ));
    first.serve();
    let manager = first.create_token(&["manager"], "carol");
    let admin = first.admin_token();
    let mut second = first.another_node();
    second.serve();

    let csrs: Vec<_> = (0..80)
        .map(|i| openssl_csr(&first.work, "p256", &format!("/CN=kill{i}.test"), &[]))
        .collect();
    let acked: Mutex<Vec<(i64, String)>> = Mutex::new(Vec::new());
    let pems: Mutex<std::collections::HashMap<String, String>> = Mutex::default();
    let revoked_certs: Mutex<Vec<(String, String)>> = Mutex::default();
    let nodes = Mutex::new([
        Some(first.addr().to_string()),
        Some(second.addr().to_string()),
    ]);
    // One request to whichever node answers, the first choice alternating.
    let requester = format!(
        "Bearer {}",
        first.token.as_deref().expect("requester token")
    );
    let submit = |i: usize, csr: &std::path::Path| -> Option<serde_json::Value> {
        let pem = fs::read_to_string(csr).expect("csr");
        let body = serde_json::json!({ "csr": pem }).to_string();
        for k in 0..2 {
            let Some(addr) = nodes.lock().expect("nodes")[(i + k) % 2].clone() else {
                continue;
            };
            let r = common::try_http(
                &addr,
                "POST",
                "/api/v1/cas/demo/requests",
                &[
                    ("Authorization", requester.as_str()),
                    ("Content-Type", "application/json"),
                ],
                body.as_bytes(),
            );
            if let Some(r) = r
                && r.status == 201
            {
                return Some(r.json());
            }
        }
        None
    };
    std::thread::scope(|s| {
        for t in 0..2 {
            let (csrs, acked, submit, pems) = (&csrs, &acked, &submit, &pems);
            s.spawn(move || {
                for (i, csr) in csrs.iter().enumerate().filter(|(i, _)| i % 2 == t) {
                    if let Some(v) = submit(i, csr) {
                        assert_eq!(v["status"], "issued", "{v:#}");
                        let id = v["id"].as_i64().expect("id");
                        let serial = v["serial"].as_str().expect("serial").to_string();
                        let pem = v["certificate"].as_str().expect("certificate").to_string();
                        pems.lock().expect("pems").insert(serial.clone(), pem);
                        acked.lock().expect("acked").push((id, serial));
                    }
                }
            });
        }
        let start = Instant::now();
        while acked.lock().expect("acked").len() < 30 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "30 issued in a minute"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Revoke and publish on both nodes while the load runs, then kill the first node
        // (the first to start: it holds the exit and revocation leases).
        let some: Vec<String> = acked.lock().expect("acked")[..4]
            .iter()
            .map(|a| a.1.clone())
            .collect();
        for (k, serial) in some.iter().enumerate() {
            let node = if k % 2 == 0 { &first } else { &second };
            let r = node.call(
                Some(&manager),
                "POST",
                &format!("/api/v1/cas/demo/certificates/{serial}/revoke"),
                Some(&serde_json::json!({ "reason": "keyCompromise" })),
            );
            assert_eq!(r.status, 200, "{r}");
            let pem = pems.lock().expect("pems")[serial].clone();
            revoked_certs
                .lock()
                .expect("revoked")
                .push((serial.clone(), pem));
        }
        for node in [&first, &second] {
            let r = node.call(
                Some(&admin),
                "POST",
                "/api/v1/cas/demo/crls",
                Some(&serde_json::json!({ "delta": false })),
            );
            assert!(r.status == 201 || r.status == 409, "{r}");
        }
        nodes.lock().expect("nodes")[0] = None;
        first.kill();
    });
    let acked = acked.into_inner().expect("acked");
    assert!(acked.len() >= 60, "most requests issued: {}", acked.len());

    // Every certificate the client received is on record.
    let on_record = pg.query(
        &db,
        "SELECT r.id || ' ' || c.serial FROM requests r JOIN certificates c ON c.request_id = r.id",
    );
    let on_record: HashSet<&str> = on_record.lines().collect();
    for (id, serial) in &acked {
        assert!(
            on_record.contains(format!("{id} {}", serial.to_lowercase()).as_str()),
            "request {id} missing"
        );
    }
    // The survivor answers OCSP `revoked` for certificates revoked on either node
    // (openssl checks the response's signature against the CA).
    for (serial, pem) in revoked_certs.lock().expect("revoked").iter() {
        let cert = second.work_file(&format!("{serial}.pem"));
        fs::write(&cert, pem).expect("writing a certificate");
        let ca = second.ca_cert_path();
        let url = format!("{}/ocsp/demo", second.url());
        let run = common::run_program(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                &ca.to_string_lossy(),
                "-cert",
                &cert.to_string_lossy(),
                "-url",
                &url,
                "-CAfile",
                &ca.to_string_lossy(),
            ],
        );
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(
            run.code == 0 && out.contains("Response verify OK") && out.contains(": revoked"),
            "OCSP on the surviving node for {serial}: {run}"
        );
    }
    // Another CRL from the survivor, after the kill: numbers keep growing.
    let r = second.call(
        Some(&admin),
        "POST",
        "/api/v1/cas/demo/crls",
        Some(&serde_json::json!({ "delta": false })),
    );
    assert_eq!(r.status, 201, "{r}");
    let repeated = pg.query(
        &db,
        "SELECT ca, shard, number FROM crls GROUP BY ca, shard, number HAVING count(*) > 1",
    );
    assert_eq!(repeated.trim(), "", "CRL numbers repeated");
    let backwards = pg.query(
        &db,
        "SELECT a.number FROM crls a JOIN crls b ON a.ca = b.ca AND a.shard = b.shard \
         AND (a.delta_base IS NULL) = (b.delta_base IS NULL) AND a.number < b.number AND a.this_update > b.this_update",
    );
    assert_eq!(
        backwards.trim(),
        "",
        "a higher CRL number with an older thisUpdate"
    );

    // Every Issued and Revoked event was delivered, at least once and in order, once the
    // exit lease has moved to the survivor.
    let expected: Vec<u64> = pg
        .query(
            &db,
            "SELECT seq FROM outbox WHERE event IN (1, 8) ORDER BY seq",
        )
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        expected.len() >= acked.len(),
        "{} events for {} certificates",
        expected.len(),
        acked.len()
    );
    let delivered_file = hook_dir.join("delivered.jsonl");
    let delivered = wait_for_delivery(&delivered_file, &expected, Duration::from_secs(90));
    let mut first_seen = Vec::new();
    let mut seen = HashSet::new();
    for seq in &delivered {
        if seen.insert(*seq) {
            first_seen.push(*seq);
        }
    }
    assert!(
        first_seen.windows(2).all(|w| w[0] < w[1]),
        "events first delivered out of order: {first_seen:?}"
    );
    second.stop_ok();
    audit_verifies(&second.data);
}

/// The `seq` of every event line the hook wrote, once every seq of `expected` is among them.
fn wait_for_delivery(
    file: &std::path::Path,
    expected: &[u64],
    limit: std::time::Duration,
) -> Vec<u64> {
    let start = std::time::Instant::now();
    loop {
        let seqs: Vec<u64> = fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["seq"].as_u64())
            .collect();
        let have: HashSet<u64> = seqs.iter().copied().collect();
        let missing: Vec<u64> = expected
            .iter()
            .filter(|s| !have.contains(s))
            .copied()
            .collect();
        if missing.is_empty() {
            return seqs;
        }
        assert!(
            start.elapsed() < limit,
            "events never delivered: {missing:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
