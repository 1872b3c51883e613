//! Faults an operator meets in production, made real (issue 22): a log that cannot be written
//! (standard output and error on `/dev/full`) and a data disk that fills up (a small tmpfs,
//! mounted by the test, which needs root as CI runs here). Each time the server must keep
//! acknowledging only what it made durable (503 for the rest, nothing half-stored), say why
//! in `/healthz`, and recover by itself once the fault is gone.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
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
    assert!(server.is_running(), "the server stopped with its log on /dev/full");
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
    let init = run_signet(&["init", "--data", &data, "--ca", "demo", "--dev"], &[], None);
    assert_eq!(init.code, 0, "signet init: {init}");
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
        why.contains("cannot be written"),
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

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
