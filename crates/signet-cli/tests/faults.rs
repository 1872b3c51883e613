//! Faults an operator meets in production, made real (issue 22): a log that cannot be written
//! (standard output and error on `/dev/full`), a data disk that fills up (a small tmpfs,
//! mounted by the test, which needs root as CI runs here), the database file moved away
//! under the running server, a file system that goes read-only and a device that fails writes
//! (ext4 on a loop device), and an exit module whose endpoint hangs. Each time the server must
//! keep acknowledging only what it made durable (503 for the rest, nothing half-stored), say
//! why in `/healthz`, and recover once the fault is gone (by itself, or after the repair and
//! restart a failing device needs). The clock's faults are in `tests/clock.rs`.

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
        mount_tmpfs(path, size);
        SmallDisk {
            path: path.to_path_buf(),
        }
    }

    /// Fills what is left of the disk with one file; returns its path.
    fn fill(&self) -> PathBuf {
        fill_up(&self.path)
    }
}

/// Mounts a tmpfs of `size` at `path`.
fn mount_tmpfs(path: &Path, size: &str) {
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
}

/// Fills what is left of the file system holding `dir` with one file; returns its path.
fn fill_up(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    // dd stops with "No space left on device", which is the point.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output()
        .expect("running dd");
    filler
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Every certificate a client received is on record, issued, and stored as received.
fn expect_on_record(server: &Server, received: &[serde_json::Value]) {
    for r in received {
        let id = r["id"].as_i64().expect("a request id");
        let stored = server.request_status(id);
        assert_eq!(stored["status"], "issued", "request {id}: {stored:#}");
        assert_eq!(
            stored["certificate"], r["certificate"],
            "request {id}: the stored certificate is the one received"
        );
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
    expect_on_record(&server, &received);
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

/// An ext4 file system on a loop device whose backing file lives on a small tmpfs: the
/// kernel's own file system and block layer, with faults made the way disks make them. The
/// image is sparse and larger than the tmpfs, so once the tmpfs is full every write to a block
/// ext4 has not written before fails below the file system (I/O errors on writeback, `fsync`
/// failing, the journal aborted); `/sys/fs/ext4/<dev>/trigger_fs_error` makes ext4 go
/// read-only at once (`errors=remount-ro`), as it does on the first metadata error it meets.
struct LoopDisk {
    backing: PathBuf,
    mount: PathBuf,
    device: String,
}

impl LoopDisk {
    /// Mounts a `backing_size` tmpfs at `root/backing`, a 256 MiB sparse ext4 image on it,
    /// and that image through a loop device at `mount`.
    fn mount(root: &Path, backing_size: &str, mount: &Path) -> LoopDisk {
        let backing = root.join("backing");
        mount_tmpfs(&backing, backing_size);
        let image = backing.join("ext4.img");
        let image_s = p(&image).to_string();
        sh("truncate", &["-s", "256M", &image_s]);
        // The smallest journal (1,024 blocks), written through once below: once the tmpfs
        // is full, the journal still has its blocks, so new data blocks fail and ext4 goes on.
        sh(
            "mkfs.ext4",
            &["-q", "-F", "-b", "4096", "-J", "size=4", &image_s],
        );
        let device = sh("losetup", &["-f", "--show", &image_s]);
        fs::create_dir_all(mount).expect("creating the mount point");
        let disk = LoopDisk {
            backing,
            mount: mount.to_path_buf(),
            device,
        };
        disk.mount_ext4();
        disk.cycle_journal();
        disk
    }

    /// Makes ext4 write its whole journal once (a commit per `fsync` of a new file), so that
    /// every journal block has its backing page on the tmpfs.
    fn cycle_journal(&self) {
        let scratch = self.mount.join("journal-cycle");
        for _ in 0..1200 {
            let mut f = fs::File::create(&scratch).expect("creating a scratch file");
            f.write_all(&[0u8; 4096]).expect("writing a scratch file");
            f.sync_all().expect("flushing a scratch file");
            fs::remove_file(&scratch).expect("removing a scratch file");
        }
    }

    fn mount_ext4(&self) {
        sh(
            "mount",
            &["-o", "errors=remount-ro", &self.device, p(&self.mount)],
        );
    }

    /// Fills the tmpfs under the image: writes to new blocks of the image now fail.
    fn fill_backing(&self) -> PathBuf {
        fill_up(&self.backing)
    }

    /// What ext4 does on the first metadata error it meets with `errors=remount-ro`.
    fn make_read_only(&self) {
        let name = self.device.trim_start_matches("/dev/");
        fs::write(
            format!("/sys/fs/ext4/{name}/trigger_fs_error"),
            "issue 22 fault test\n",
        )
        .expect("triggering an ext4 error");
    }

    /// The operator's repair once the disk has room again: unmount, `e2fsck -fy`, mount.
    /// Unmounting drops the page cache, so what is read afterwards comes from the device.
    fn repair(&self) -> String {
        sh("umount", &[p(&self.mount)]);
        let image = self.backing.join("ext4.img");
        let fsck = Command::new("e2fsck")
            .args(["-fy", p(&image)])
            .output()
            .expect("running e2fsck");
        // 0: clean; 1: errors corrected. Anything else leaves the disk unusable.
        assert!(
            matches!(fsck.status.code(), Some(0 | 1)),
            "e2fsck: {}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        );
        self.mount_ext4();
        String::from_utf8_lossy(&fsck.stdout).to_string()
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
        let _ = Command::new("umount").arg("-l").arg(&self.backing).status();
    }
}

/// Runs a program that must succeed; returns its trimmed standard output.
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} (this test needs root and loop devices, as CI runs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A server whose data directory is on a fresh [`LoopDisk`], serving, with three
/// certificates issued.
fn serve_on_loop_disk(backing_size: &str) -> (Server, LoopDisk, Vec<serde_json::Value>) {
    let mut server = Server::prepare(&[]);
    let disk = LoopDisk::mount(&server.work, backing_size, &server.data);
    let data = p(&server.data).to_string();
    let init = run_signet(
        &["init", "--data", &data, "--ca", "demo", "--dev"],
        &[],
        None,
    );
    assert_eq!(init.code, 0, "signet init: {init}");
    server.serve();
    let received = (0..3)
        .map(|n| server.issue(&format!("before-{n}.example.test")))
        .collect();
    (server, disk, received)
}

/// Submits until one is refused: every answer must be a certificate (kept in `received`) or
/// a 503 problem, never a 500. Returns the refusal.
fn submit_until_refused(
    server: &Server,
    received: &mut Vec<serde_json::Value>,
    limit: usize,
) -> Response {
    for n in 0..limit {
        let cn = format!("fault-{n}.example.test");
        let csr = openssl_csr(&server.work, "p256", &format!("/CN={cn}"), &[]);
        let resp = server.submit_raw(&csr, None);
        match resp.status {
            201 | 200 => received.push(resp.json()),
            503 => return resp,
            other => panic!("a submission on a failing disk answered {other}: {resp}"),
        }
    }
    panic!("no submission of {limit} was refused")
}

/// The refusal is a 503 problem and `/healthz` answers 503 with `cause` in its reason, while
/// what needs no write is still served: the CRL and the requests on record.
fn expect_refusing_writes(
    server: &Server,
    received: &[serde_json::Value],
    refused: &Response,
    cause: &str,
) {
    let problem = refused.json();
    assert_eq!(problem["status"], 503, "{problem:#}");
    let health = wait_until(HEALTH_DEADLINE, "/healthz to answer 503", || {
        let r = server.get("/healthz");
        (r.status == 503).then_some(r)
    });
    let why = String::from_utf8_lossy(&health.body).to_string();
    assert!(why.contains(cause), "/healthz says why ({cause}): {why}");
    assert_eq!(server.get("/crl/demo.crl").status, 200);
    let first = received[0]["id"].as_i64().expect("a request id");
    assert_eq!(server.request_status(first)["status"], "issued");
}

/// The operator's way out: stop the server (SIGTERM ends one that cannot write; its exit
/// status may report the failed shutdown checkpoint, but it must not hang), repair the disk,
/// start again. Every certificate a client received is then on record, read back from the
/// device (the unmount dropped the page cache), the database passes `integrity_check` and
/// the audit chain holds.
fn repair_and_check(server: &mut Server, disk: &LoopDisk, received: &[serde_json::Value]) {
    let _ = server.stop();
    disk.repair();
    let data = p(&server.data).to_string();
    let integrity = run_program(
        "sqlite3",
        &[p(&server.data.join("signet.db")), "PRAGMA integrity_check"],
    );
    assert_eq!(integrity.stdout.trim(), "ok", "{integrity}");
    let verify = run_signet(&["audit", "verify", "--data", &data], &[], None);
    assert_eq!(verify.code, 0, "signet audit verify: {verify}");
    server.serve();
    expect_on_record(server, received);
    server.issue("after-repair.example.test");
    server.stop_ok();
}

#[test]
fn a_file_system_gone_read_only_gets_503_and_loses_nothing() {
    let (mut server, disk, mut received) = serve_on_loop_disk("64m");
    disk.make_read_only();
    let refused = submit_until_refused(&server, &mut received, 5);
    assert_eq!(
        received.len(),
        3,
        "a certificate was issued on a read-only disk"
    );
    expect_refusing_writes(&server, &received, &refused, "Read-only file system");
    expect_refusing_writes(&server, &received, &refused, "restart signet serve");
    repair_and_check(&mut server, &disk, &received);
}

#[test]
fn write_errors_below_the_file_system_stop_all_writes_until_restart() {
    let (mut server, disk, mut received) = serve_on_loop_disk("48m");
    let filler = disk.fill_backing();
    // Writes to blocks the device already has still succeed, so some submissions may still
    // be issued; the first flush that needs a new block fails (`fsync` reports the loop
    // device's error under ext4), and ext4 stays writable.
    let refused = submit_until_refused(&server, &mut received, 3000);
    expect_refusing_writes(&server, &received, &refused, "restart signet serve");
    assert!(
        server
            .log()
            .contains("(flushing to the disk failed: fsync)"),
        "the log names the failed fsync:\n{}",
        server.log_tail()
    );
    // The device has room again, but this process cannot know what the kernel dropped: it
    // keeps refusing writes (a write now could seem to succeed, and a checkpoint then let
    // SQLite start its WAL over) until it is restarted. Before `writer::Poison`, `/healthz`
    // answered 200 here and submissions were issued again.
    fs::remove_file(&filler).expect("removing the filler");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(server.get("/healthz").status, 503, "{}", server.log_tail());
    let csr = openssl_csr(&server.work, "p256", "/CN=still-refused.example.test", &[]);
    assert_eq!(server.submit_raw(&csr, None).status, 503);
    // SIGTERM still ends it. What is on the device afterwards is not checked here: on this
    // rig the kernel itself loses writes whose `fsync` succeeded (a plain pwrite+fsync
    // program loses them too: scripts/fsync-rig.py, docs/RELIABILITY.md), so it cannot
    // tell a loss of Signet's from one of the rig's. The read-only test checks the device.
    let _ = server.stop();
    drop(disk);
}

#[test]
fn a_second_serve_on_one_sqlite_file_is_refused() {
    let server = Server::start(&[]);
    // An operator's slip: a second unit started on the same data directory.
    let mut second = Server::prepare(&[]);
    second.data = server.data.clone();
    let failed = second
        .try_serve()
        .expect_err("a second signet serve started on the same SQLite database");
    assert!(
        failed.stderr.contains("in use by another signet serve"),
        "the refusal says why: {}",
        failed.stderr
    );
    server.issue("still-serving.example.test");
}

#[test]
fn a_restart_after_a_kill_takes_the_leases_at_once() {
    let mut server = Server::start(&[]);
    server.issue("before-kill.example.test");
    server.kill();
    server.serve();
    // The killed process's leases (exit delivery, revocation, audit checkpoints) would block
    // this node for LEASE_TTL (15 s) if it waited for them to expire.
    wait_until(
        Duration::from_secs(8),
        "the restarted node to take the exit module's lease",
        || {
            let log = server.log();
            let since = log
                .rsplit("===== signet serve, start #")
                .next()
                .unwrap_or("");
            (since.contains("takes over the leases")
                && since
                    .contains("lease taken: this node does its work now lease=\"exit/demo/log\""))
            .then_some(())
        },
    );
    server.issue("after-restart.example.test");
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
