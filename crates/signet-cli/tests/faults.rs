//! Faults an operator meets in production, made real (issue 22): a log that cannot be written
//! (standard output and error on `/dev/full`), a data disk that fills up (a small tmpfs,
//! mounted by the test, which needs root as CI runs here), and the database file moved away
//! under the running server, and an exit module whose endpoint hangs. Each time the server must keep
//! acknowledging only what it made durable (503 for the rest, nothing half-stored), say why
//! in `/healthz`, and recover by itself once the fault is gone.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// How long the health check may take to notice a fault or its end (it runs every second).
const HEALTH_DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn a_log_that_cannot_be_written_does_not_stop_the_ca() {
    let mut server = Server::init(&["--dev"]);
    server.serve_with_output(Path::new("/dev/full"));
    let issued = server.issue("full-log.example.test");
    let leaf = server.work_file("full-log.pem");
    fs::write(
        &leaf,
        issued["certificate"].as_str().expect("a certificate PEM"),
    )
    .expect("writing the certificate");
    let ca = server.ca_cert_path();
    let verify = run_program("openssl", &["verify", "-CAfile", p(&ca), p(&leaf)]);
    assert_eq!(verify.code, 0, "openssl verify: {verify}");
    assert_eq!(server.get("/healthz").status, 200);
    assert!(
        server.is_running(),
        "the server stopped with its log on /dev/full"
    );
    server.stop_ok();
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        fs::create_dir_all(path).expect("creating the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs (this test needs root, as CI runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }

    /// Fills what is left of the disk with one file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        // dd stops with "No space left on device", which is the point.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display()))
            .output()
            .expect("running dd");
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_data_disk_gets_503_loses_nothing_and_recovers() {
    let mut server = Server::prepare(&[]);
    let disk = SmallDisk::mount(&server.data, "16m");
    let data = server.data.to_str().expect("UTF-8 path").to_string();
    let init = run_signet(
        &["init", "--data", &data, "--ca", "demo", "--dev"],
        &[],
        None,
    );
    assert_eq!(init.code, 0, "signet init: {init}");
    // The default (64 MiB) is more than this whole disk.
    let toml = server.data.join("signet.toml");
    let text = fs::read_to_string(&toml).expect("reading signet.toml");
    assert!(text.contains("min_free_disk_bytes = 67108864"), "{text}");
    fs::write(
        &toml,
        text.replace(
            "min_free_disk_bytes = 67108864",
            "min_free_disk_bytes = 1048576",
        ),
    )
    .expect("writing signet.toml");
    server.serve();
    let before = server.issue("before.example.test");

    let filler = disk.fill();
    // Submissions until the disk refuses one: every answer is either a certificate (on
    // record, checked below) or a 503 problem; never a 500, never a certificate without
    // its record.
    let mut received = vec![before];
    let mut refused = None;
    for n in 0..400 {
        let csr = openssl_csr(
            &server.work,
            "p256",
            &format!("/CN=full-{n}.example.test"),
            &[],
        );
        let resp = server.submit_raw(&csr, None);
        match resp.status {
            201 | 200 => received.push(resp.json()),
            503 => {
                refused = Some(resp);
                break;
            }
            other => panic!("a submission on a full disk answered {other}: {resp}"),
        }
    }
    let refused = refused.expect("the full disk refused no submission in 400");
    let problem = refused.json();
    assert_eq!(problem["status"], 503, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unavailable")),
        "the 503 says why: {problem:#}"
    );
    let health = wait_until(HEALTH_DEADLINE, "/healthz to answer 503", || {
        let r = server.get("/healthz");
        (r.status == 503).then_some(r)
    });
    let why = String::from_utf8_lossy(&health.body).to_string();
    assert!(
        why.contains("bytes free") || why.contains("cannot be written"),
        "/healthz says why: {why}"
    );

    // The disk has room again: the health check's probe notices, issuance resumes.
    fs::remove_file(&filler).expect("removing the filler");
    wait_until(HEALTH_DEADLINE, "/healthz to answer 200 again", || {
        (server.get("/healthz").status == 200).then_some(())
    });
    received.push(server.issue("after.example.test"));

    // Every certificate a client received is on record, and the audit chain holds.
    for r in &received {
        let id = r["id"].as_i64().expect("a request id");
        let stored = server.request_status(id);
        assert_eq!(stored["status"], "issued", "request {id}: {stored:#}");
        assert_eq!(
            stored["certificate"], r["certificate"],
            "request {id}: the stored certificate is the one received"
        );
    }
    server.stop_ok();
    let verify = run_signet(&["audit", "verify", "--data", &data], &[], None);
    assert_eq!(verify.code, 0, "signet audit verify: {verify}");
    drop(disk);
}

#[test]
fn a_database_file_removed_under_the_server_stops_writes_and_start() {
    let mut server = Server::start(&[]);
    let before = server.issue("kept.example.test");
    let db = server.data.join("signet.db");
    let moved = server.work.join("signet.db.moved");
    // An operator's `mv` (or a cleanup job's `rm`): the server still holds the old file open.
    fs::rename(&db, &moved).expect("moving the database away");
    for suffix in ["-wal", "-shm"] {
        let side = server.data.join(format!("signet.db{suffix}"));
        if side.exists() {
            fs::rename(&side, server.work.join(format!("signet.db.moved{suffix}")))
                .expect("moving the WAL away");
        }
    }
    let csr = openssl_csr(&server.work, "p256", "/CN=lost.example.test", &[]);
    let resp = server.submit_raw(&csr, None);
    assert_eq!(
        resp.status, 503,
        "a write into a removed database file is refused, not acknowledged: {resp}"
    );
    let health = wait_until(HEALTH_DEADLINE, "/healthz to answer 503", || {
        let r = server.get("/healthz");
        (r.status == 503).then_some(r)
    });
    let why = String::from_utf8_lossy(&health.body).to_string();
    assert!(why.contains("was removed"), "/healthz says why: {why}");
    server.stop_ok();

    // Without its database the CA does not start empty.
    let failed = server
        .try_serve()
        .expect_err("signet serve started without its database");
    assert!(
        failed.stderr.contains("is missing") && failed.stderr.contains("restore"),
        "the refusal says what to do: {}",
        failed.stderr
    );
    assert!(!db.exists(), "a refused start created an empty database");

    // Put back, everything acknowledged is there.
    fs::rename(&moved, &db).expect("putting the database back");
    for suffix in ["-wal", "-shm"] {
        let side = server.work.join(format!("signet.db.moved{suffix}"));
        if side.exists() {
            fs::rename(&side, server.data.join(format!("signet.db{suffix}")))
                .expect("putting the WAL back");
        }
    }
    server.serve();
    let id = before["id"].as_i64().expect("a request id");
    assert_eq!(server.request_status(id)["status"], "issued");
    server.issue("after.example.test");
}

/// An HTTP endpoint that accepts connections and never answers until `answer` is set, then
/// answers every request 200 and keeps its body.
struct HungReceiver {
    port: u16,
    answer: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl HungReceiver {
    fn start() -> HungReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the receiver");
        let port = listener.local_addr().expect("its address").port();
        let answer = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (Arc::clone(&answer), Arc::clone(&bodies));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                if !a.load(Ordering::SeqCst) {
                    held.push(conn); // hung: read nothing, answer nothing, keep it open
                    continue;
                }
                let b = Arc::clone(&b);
                std::thread::spawn(move || serve_ok(conn, &b));
            }
        });
        HungReceiver {
            port,
            answer,
            bodies,
        }
    }
}

/// Reads HTTP/1.1 requests off `conn` and answers each 200, keeping the bodies.
fn serve_ok(conn: TcpStream, bodies: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("cloning the stream"));
    let mut conn = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        bodies
            .lock()
            .expect("bodies")
            .push(String::from_utf8_lossy(&body).into_owned());
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

#[test]
fn a_hung_exit_module_times_out_and_issuance_goes_on() {
    let mut server = Server::init(&["--dev"]);
    let rx = HungReceiver::start();
    fs::write(
        server.data.join("hook.secret"),
        "a webhook secret of some length\n",
    )
    .expect("writing the secret");
    server.append_config(&format!(
        "[[ca.exit]]\nname = \"hook\"\nmodule = \"webhook\"\n\
         url = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"hook.secret\"\n\
         events = [\"Issued\"]\ntimeout = \"1s\"\n",
        rx.port
    ));
    server.serve();
    // The receiver hangs: every certificate is still issued and the node stays healthy.
    let issued: Vec<i64> = (0..3)
        .map(|n| {
            server.issue(&format!("hung-{n}.example.test"))["id"]
                .as_i64()
                .expect("a request id")
        })
        .collect();
    wait_until(HEALTH_DEADLINE, "timed-out deliveries counted", || {
        server
            .metric("signet_exit_delivery_failures_total")
            .filter(|n| *n >= 2.0)
    });
    assert_eq!(server.get("/healthz").status, 200);
    // It answers again: every Issued event arrives.
    rx.answer.store(true, Ordering::SeqCst);
    wait_until(DELIVERY_TIMEOUT * 4, "every Issued event delivered", || {
        let bodies = rx.bodies.lock().expect("bodies").clone();
        issued
            .iter()
            .all(|id| {
                bodies
                    .iter()
                    .any(|b| b.contains(&format!("\"id\":{id}")) && b.contains("Issued"))
            })
            .then_some(())
    });
    server.stop_ok();
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
