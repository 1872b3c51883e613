//! `signet backup` and `signet restore` (issue 20): a backup taken while the server issues
//! under load, restored into a new directory, serves there as the original did — its old
//! certificates found by serial, its audit chain verified, its CRL numbers continued, its new
//! certificates verified by `openssl verify` against the restored CA —, and a wrong
//! passphrase, a damaged archive or a PostgreSQL installation are refused without writing
//! anything.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// One certificate the load thread had acknowledged: its serial and PEM.
#[derive(Clone)]
struct Issued {
    serial: String,
    pem: String,
}

/// Submits CSRs one after another (so commits happen in submission order) until `stop`,
/// recording each acknowledged certificate; any answer but 201 issued fails the test.
fn load(
    addr: String,
    ca: String,
    token: String,
    csrs: Vec<String>,
    stop: Arc<AtomicBool>,
    issued: Arc<Mutex<Vec<Issued>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let auth = format!("Bearer {token}");
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", auth.as_str()),
        ];
        let path = format!("/api/v1/cas/{ca}/requests");
        for csr in csrs.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let body = serde_json::to_vec(&serde_json::json!({ "csr": csr })).unwrap();
            let r = http(&addr, "POST", &path, &headers, &body);
            assert_eq!(r.status, 201, "issuing under load: {r}");
            let v = r.json();
            assert_eq!(v["status"], "issued", "{v:#}");
            issued.lock().unwrap().push(Issued {
                serial: v["serial"].as_str().expect("serial").to_string(),
                pem: v["certificate"].as_str().expect("certificate").to_string(),
            });
        }
    })
}

/// Waits until the load thread has acknowledged at least `n` certificates.
fn wait_for_issued(issued: &Mutex<Vec<Issued>>, n: usize) {
    wait_until(
        Duration::from_secs(120),
        "certificates issued under load",
        || (issued.lock().unwrap().len() >= n).then_some(()),
    );
}

/// `GET /api/v1/cas/{ca}/certificates/{serial}` as `token`: the status code.
fn find_serial(server: &Server, token: &str, serial: &str) -> u16 {
    server
        .call(
            Some(token),
            "GET",
            &format!("/api/v1/cas/{}/certificates/{serial}", server.ca),
            None,
        )
        .status
}

/// The highest full-CRL number the server lists for shard 0.
fn newest_crl_number(server: &Server, token: &str) -> u64 {
    let r = server.call(
        Some(token),
        "GET",
        &format!("/api/v1/cas/{}/crls?limit=1000", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "listing CRLs: {r}");
    r.json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter(|c| c.get("delta_base").is_none_or(Value::is_null))
        .filter_map(|c| c["number"].as_u64())
        .max()
        .expect("at least one full CRL")
}

/// Publishes CRLs now as `token`; the new full CRL's number.
fn publish_crl(server: &Server, token: &str) -> u64 {
    let r = server.call(
        Some(token),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&serde_json::json!({ "delta": false })),
    );
    assert_eq!(r.status, 201, "publishing CRLs: {r}");
    r.json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter(|c| c.get("delta_base").is_none_or(Value::is_null))
        .filter_map(|c| c["number"].as_u64())
        .max()
        .expect("a full CRL in the answer")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `signet restore --in ARCHIVE --data TARGET --passphrase-file PASS`.
fn restore(archive: &Path, target: &Path, pass: &Path) -> Run {
    run_signet(
        &[
            "restore",
            "--in",
            arg(archive),
            "--data",
            arg(target),
            "--passphrase-file",
            arg(pass),
        ],
        &[],
        None,
    )
}

/// The entries of a directory (hidden ones too), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_backup_taken_under_load_is_restored_elsewhere_and_serves() {
    let secrets = tempfile::tempdir().unwrap();
    let ca_pass = secrets.path().join("ca.pass");
    fs::write(&ca_pass, "ca passphrase for the backup test\n").unwrap();
    let backup_pass = secrets.path().join("backup.pass");
    fs::write(&backup_pass, "a different passphrase for the archive\n").unwrap();
    let archive = secrets.path().join("signet.backup");

    // An encrypted CA signing audit checkpoints every second, so the witness file changes
    // while the backup runs.
    let mut server = Server::init(&["--passphrase-file", arg(&ca_pass)]);
    server.serve_args = vec!["--passphrase-file".into(), arg(&ca_pass).into()];
    let config = server.data.join("signet.toml");
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("audit_checkpoint = \"5m\""),
        "the template changed"
    );
    fs::write(
        &config,
        text.replacen("audit_checkpoint = \"5m\"", "audit_checkpoint = \"1s\"", 1),
    )
    .unwrap();
    server.serve();
    let admin = server.admin_token();
    let published_before = publish_crl(&server, &admin);

    // Continuous issuance from a background thread.
    let csrs: Vec<String> = (0..6)
        .map(|i| {
            let csr = openssl_csr(&server.work, "p256", &format!("/CN=load{i}.test"), &[]);
            fs::read_to_string(csr).unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(Mutex::new(Vec::new()));
    let loader = load(
        server.addr().to_string(),
        server.ca.clone(),
        server.token.clone().expect("a requester token"),
        csrs,
        Arc::clone(&stop),
        Arc::clone(&issued),
    );
    wait_for_issued(&issued, 30);

    // The backup, while the load runs.
    let acknowledged_before = issued.lock().unwrap().len();
    let run = run_signet(
        &[
            "backup",
            "--data",
            arg(&server.data),
            "--out",
            arg(&archive),
            "--passphrase-file",
            arg(&backup_pass),
        ],
        &[],
        None,
    );
    run.expect_code(0);
    let acknowledged_after = issued.lock().unwrap().len();
    assert!(
        run.stdout.contains("a consistent snapshot"),
        "the summary names the database snapshot: {run}"
    );
    // The load goes on after the backup, then stops.
    wait_for_issued(&issued, acknowledged_after + 20);
    stop.store(true, Ordering::Relaxed);
    loader.join().expect("the load thread succeeded");
    server.stop_ok();
    assert!(
        listing(&server.data)
            .iter()
            .all(|n| !n.contains(".backup-")),
        "the snapshot is removed: {:?}",
        listing(&server.data)
    );
    assert!(
        !listing(secrets.path())
            .iter()
            .any(|n| n.ends_with(".partial")),
        "no partial archive is left"
    );
    let issued = issued.lock().unwrap().clone();
    assert!(
        acknowledged_before < acknowledged_after,
        "issuance went on during the backup ({acknowledged_before} then {acknowledged_after})"
    );

    // Restore elsewhere.
    let mut node = Server::prepare(&["--ca", &server.ca]);
    node.serve_args = server.serve_args.clone();
    let run = restore(&archive, &node.data, &backup_pass);
    run.expect_code(0);
    assert!(
        run.stdout.contains("integrity_check ok") && run.stdout.contains("audit chain verified"),
        "restore checks the database: {run}"
    );
    // The files, with their modes; the CA certificate byte for byte.
    assert_eq!(
        fs::read(node.ca_cert_path()).unwrap(),
        fs::read(server.ca_cert_path()).unwrap()
    );
    for key in [
        "ca/demo/key.pem",
        "admin.token",
        "audit.key",
        "audit-signing.key",
        "token-secret.key",
        "signet.db",
    ] {
        assert_eq!(mode(&node.data.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&node.data), 0o700);
    for live in ["signet.db-wal", "signet.db-shm"] {
        assert!(!node.data.join(live).exists(), "{live} is not archived");
    }
    // The offline check, before the restored installation ever starts.
    run_signet(&["audit", "verify", "--data", arg(&node.data)], &[], None).expect_code(0);

    // The restored installation serves on another port, and the tokens made before the
    // backup work there.
    node.token = server.token.clone();
    node.serve();
    let auditor = node.create_token(&["auditor"], "restored-auditor");
    // Every certificate acknowledged before the backup started is there; the snapshot is one
    // point in the sequence of commits: what it holds of the load is a prefix.
    let found: Vec<bool> = issued
        .iter()
        .map(|c| match find_serial(&node, &auditor, &c.serial) {
            200 => true,
            404 => false,
            other => panic!("looking up {}: status {other}", c.serial),
        })
        .collect();
    let held = found.iter().take_while(|f| **f).count();
    assert!(
        held >= acknowledged_before,
        "only {held} of the {acknowledged_before} certificates acknowledged before the backup were restored"
    );
    assert!(
        found[held..].iter().all(|f| !f),
        "the restored certificates are not a prefix of the commits: {found:?}"
    );
    assert!(
        held < issued.len(),
        "certificates issued after the backup are not in it"
    );
    // An old certificate still verifies against the restored CA.
    let old = write_pem(&node.work, "old", &issued[0].pem);
    openssl_verify(&node.ca_cert_path(), &old);

    // CRL numbers continue after the last one in the backup.
    let admin = node.admin_token();
    let last_in_backup = newest_crl_number(&node, &admin);
    assert!(last_in_backup >= published_before);
    let next = publish_crl(&node, &admin);
    assert!(
        next > last_in_backup,
        "CRL number {next} after the restore does not follow {last_in_backup}"
    );

    // A new certificate from the restored CA.
    let v = node.issue("after-restore.test");
    let cert = write_pem(&node.work, "after", v["certificate"].as_str().unwrap());
    openssl_verify(&node.ca_cert_path(), &cert);
    assert_eq!(
        find_serial(&node, &auditor, v["serial"].as_str().unwrap()),
        200
    );

    node.stop_ok();
    run_signet(&["audit", "verify", "--data", arg(&node.data)], &[], None).expect_code(0);
}

#[test]
fn a_wrong_passphrase_or_a_damaged_archive_writes_nothing() {
    let server = Server::init(&["--dev"]);
    let secrets = tempfile::tempdir().unwrap();
    let pass = secrets.path().join("pass");
    fs::write(&pass, "the right passphrase\n").unwrap();
    let wrong = secrets.path().join("wrong");
    fs::write(&wrong, "the wrong passphrase\n").unwrap();
    let archive = secrets.path().join("a.backup");
    let data = arg(&server.data).to_string();

    // No passphrase: refused, and the message says where one comes from.
    let run = run_signet(
        &["backup", "--data", &data, "--out", arg(&archive)],
        &[],
        None,
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("--passphrase-file") && run.stderr.contains("SIGNET_BACKUP_PASSPHRASE"),
        "{run}"
    );
    assert!(!archive.exists());
    // From the environment.
    run_signet(
        &["backup", "--data", &data, "--out", arg(&archive)],
        &[("SIGNET_BACKUP_PASSPHRASE", "the right passphrase")],
        None,
    )
    .expect_code(0);
    // An existing archive is never replaced.
    let before = fs::read(&archive).unwrap();
    let run = run_signet(
        &[
            "backup",
            "--data",
            &data,
            "--out",
            arg(&archive),
            "--passphrase-file",
            arg(&pass),
        ],
        &[],
        None,
    );
    run.expect_code(1);
    assert!(run.stderr.contains("never replaces"), "{run}");
    assert_eq!(fs::read(&archive).unwrap(), before);
    let plain = String::from_utf8_lossy(&before);
    assert!(
        !plain.contains("signet_") && !plain.contains("PRIVATE KEY"),
        "the archive holds no readable token or key"
    );

    let parent = secrets.path().join("restores");
    fs::create_dir(&parent).unwrap();
    let target = parent.join("new");

    // A wrong passphrase.
    let run = restore(&archive, &target, &wrong);
    run.expect_code(1);
    assert!(run.stderr.contains("passphrase does not open"), "{run}");
    assert_eq!(listing(&parent), Vec::<String>::new(), "nothing written");

    // A flipped byte in the body, into a target that exists and is empty.
    fs::create_dir(&target).unwrap();
    let mut damaged = before.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x01;
    let damaged_path = secrets.path().join("damaged.backup");
    fs::write(&damaged_path, &damaged).unwrap();
    let run = restore(&damaged_path, &target, &pass);
    run.expect_code(1);
    assert!(run.stderr.contains("altered or damaged"), "{run}");
    assert_eq!(listing(&parent), ["new"], "no staging directory is left");
    assert_eq!(
        listing(&target),
        Vec::<String>::new(),
        "the target stays empty"
    );

    // A flipped byte in the header reads as a wrong passphrase; a cut file as cut.
    let mut header = before.clone();
    header[20] ^= 0x80;
    fs::write(&damaged_path, &header).unwrap();
    restore(&damaged_path, &target, &pass).expect_code(1);
    fs::write(&damaged_path, &before[..before.len() - 100]).unwrap();
    let run = restore(&damaged_path, &target, &pass);
    run.expect_code(1);
    assert!(run.stderr.contains("cut short"), "{run}");
    assert_eq!(listing(&parent), ["new"]);
    assert_eq!(listing(&target), Vec::<String>::new());

    // A non-empty target is refused before the archive is read.
    fs::write(target.join("keep-me"), "x").unwrap();
    let run = restore(&archive, &target, &pass);
    run.expect_code(1);
    assert!(run.stderr.contains("not an empty directory"), "{run}");
    assert_eq!(listing(&target), ["keep-me"]);

    // And the good archive into the empty directory works.
    fs::remove_file(target.join("keep-me")).unwrap();
    restore(&archive, &target, &pass).expect_code(0);
    assert!(target.join("signet.toml").exists() && target.join("signet.db").exists());
    assert_eq!(listing(&parent), ["new"]);
}

#[test]
fn a_postgres_installation_needs_keys_only_and_restores_without_a_database() {
    let server = Server::init(&["--dev"]);
    // The installation as `signet db copy` leaves it: signet.toml names a PostgreSQL
    // database. Nothing connects to it: the refusal is the configuration's.
    let config = server.data.join("signet.toml");
    let text = fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "database = \"signet.db\"",
        "database = \"postgres://signet@127.0.0.1:9/signet\"",
        1,
    );
    assert!(text.contains("postgres://"), "the template changed");
    fs::write(&config, text).unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let pass = secrets.path().join("pass");
    fs::write(&pass, "pg keys passphrase\n").unwrap();
    let archive = secrets.path().join("keys.backup");
    let backup = |extra: &[&str]| {
        let mut args = vec![
            "backup",
            "--data",
            arg(&server.data),
            "--out",
            arg(&archive),
            "--passphrase-file",
            arg(&pass),
        ];
        args.extend_from_slice(extra);
        run_signet(&args, &[], None)
    };

    let run = backup(&[]);
    run.expect_code(1);
    for needle in ["PostgreSQL", "pg_basebackup", "docs/HA.md", "--keys-only"] {
        assert!(
            run.stderr.contains(needle),
            "the refusal names {needle}: {run}"
        );
    }
    assert!(!archive.exists());

    let run = backup(&["--keys-only"]);
    run.expect_code(0);
    assert!(run.stdout.contains("not included"), "{run}");

    let target: PathBuf = secrets.path().join("node2");
    let run = restore(&archive, &target, &pass);
    run.expect_code(0);
    assert!(run.stdout.contains("PostgreSQL's tools"), "{run}");
    for file in [
        "signet.toml",
        "ca/demo/key.pem",
        "ca/demo/cert.pem",
        "admin.token",
        "audit.key",
        "audit-signing.key",
        "audit-signing.pub",
    ] {
        assert_eq!(
            fs::read(target.join(file)).unwrap(),
            fs::read(server.data.join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(
        !target.join("signet.db").exists(),
        "the old SQLite file is not in a keys-only archive"
    );
}
