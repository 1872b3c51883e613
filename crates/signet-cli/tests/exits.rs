//! Exit modules (DESIGN §1 steps 1, 7, 8): the `file` exit receives exactly the events its
//! mask names, delivery is asynchronous, at least once and durable across a crash, and a
//! graceful stop emits `Shutdown`.

mod common;

use std::fs;
use std::path::Path;

use common::{DELIVERY_TIMEOUT, EventFile, Server, event_files, openssl_csr, wait_until};

fn file_exit(name: &str, directory: &str, events: &str) -> String {
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"file\"\ndirectory = \"{directory}\"\nevents = {events}\n"
    )
}

/// The CA's own events besides requests: CRL publications, and the certificates it issues
/// its own services at start (request formats `ocsp-responder`, `scep-ra`, `cmp-responder`).
fn is_housekeeping(e: &EventFile) -> bool {
    e.event == "CrlIssued"
        || (e.event == "Issued"
            && ["ocsp-responder", "scep-ra", "cmp-responder"]
                .contains(&e.json()["request"]["format"].as_str().unwrap_or("")))
}

/// The event files of `dir` without the CA's housekeeping events.
fn request_events(dir: &Path) -> Vec<EventFile> {
    event_files(dir)
        .into_iter()
        .filter(|e| !is_housekeeping(e))
        .collect()
}

fn event_names(dir: &Path) -> Vec<String> {
    request_events(dir).into_iter().map(|e| e.event).collect()
}

/// Waits until `<dir>/events` holds a record of `event` matching `pred`.
fn wait_for_event(dir: &Path, event: &str, pred: impl Fn(&serde_json::Value) -> bool) -> EventFile {
    wait_until(
        DELIVERY_TIMEOUT,
        &format!("a {event} record in {}/events", dir.display()),
        || {
            event_files(dir)
                .into_iter()
                .find(|e| e.event == event && pred(&e.json()))
        },
    )
}

/// Submits one request of each disposition: issued, denied, pending. Returns their bodies.
fn one_of_each(server: &Server) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let issued = server.issue("issued.test");
    let csr = openssl_csr(&server.work, "p256", "/CN=denied.example.org", &[]);
    let denied = server.submit(&csr, None);
    assert_eq!(denied["status"], "denied", "{denied:#}");
    let csr = openssl_csr(&server.work, "p256", "/CN=pending.test", &[]);
    let pending = server.submit(&csr, Some("manual"));
    assert_eq!(pending["status"], "pending", "{pending:#}");
    (issued, denied, pending)
}

/// Test 8: a file exit with events = ["Issued", "Denied"] gets exactly those records; the
/// issued certificate is archived as `<serial>.pem`.
#[test]
fn file_exit_receives_only_its_events() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit(
        "archive",
        "exits/demo",
        "[\"Issued\", \"Denied\"]",
    ));
    server.serve();
    let cas = server.get("/api/v1/cas").json();
    let exits: Vec<&str> = cas[0]["exits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(
        exits,
        ["log", "archive"],
        "discovery lists the exit modules: {cas:#}"
    );

    let dir = server.data.join("exits/demo");
    let (issued, denied, pending) = one_of_each(&server);
    let serial = issued["serial"].as_str().expect("serial").to_string();
    let issued_id = issued["id"].as_i64().expect("id");
    let denied_id = denied["id"].as_i64().expect("id");
    // Polling the pending request records RetrievePending, which this exit does not want.
    let pending_id = pending["id"].as_i64().expect("id");
    assert_eq!(server.request_status(pending_id)["status"], "pending");

    let rec = wait_for_event(&dir, "Issued", |j| j["request"]["id"] == issued_id).json();
    assert_eq!(rec["event"], "Issued", "{rec:#}");
    assert_eq!(rec["event_bit"], 0x1, "{rec:#}");
    assert_eq!(rec["ca"], "demo", "{rec:#}");
    assert_eq!(rec["config"], "localhost/demo", "{rec:#}");
    assert!(rec["seq"].as_u64().is_some_and(|s| s > 0), "{rec:#}");
    assert!(
        rec["at"].as_u64().is_some_and(|t| t > 1_600_000_000),
        "`at` is a Unix time: {rec:#}"
    );
    assert_eq!(rec["request"]["status"], "issued", "{rec:#}");
    assert_eq!(rec["request"]["profile"], "server", "{rec:#}");
    assert!(
        rec["request"]["subject"]
            .as_str()
            .is_some_and(|s| s.contains("issued.test")),
        "{rec:#}"
    );
    assert!(
        rec["request"]["attributes"].is_array() && rec["request"]["extensions"].is_array(),
        "{rec:#}"
    );
    assert_eq!(rec["certificate"]["serial"], serial.as_str(), "{rec:#}");

    let pem_path = dir.join(format!("{serial}.pem"));
    let archived = fs::read_to_string(&pem_path)
        .unwrap_or_else(|e| panic!("{} not written: {e}", pem_path.display()));
    assert_eq!(
        archived.trim(),
        issued["certificate"].as_str().expect("certificate").trim(),
        "the archived PEM is the issued certificate"
    );

    let rec = wait_for_event(&dir, "Denied", |j| j["request"]["id"] == denied_id).json();
    assert_eq!(rec["event_bit"], 0x4, "{rec:#}");
    assert_eq!(rec["request"]["status"], "denied", "{rec:#}");
    assert!(
        rec["request"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("denied.example.org")),
        "the Denied record carries the reason: {rec:#}"
    );
    assert!(
        rec.get("certificate").is_none() || rec["certificate"].is_null(),
        "{rec:#}"
    );

    // A graceful stop delivers everything still queued; after it nothing else may appear.
    server.stop_ok();
    let names = event_names(&dir);
    assert_eq!(
        names,
        ["Issued", "Denied"],
        "events = [Issued, Denied] must receive exactly those, in order"
    );
    let mut pems: Vec<String> = fs::read_dir(&dir)
        .expect("reading the exit directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    // The other archived certificates are the CA's OCSP responder, SCEP RA and CMP
    // responder certificates.
    let service: Vec<String> = event_files(&dir)
        .iter()
        .filter(|e| is_housekeeping(e))
        .map(|e| {
            format!(
                "{}.pem",
                e.json()["certificate"]["serial"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(service.len(), 3, "{service:?}");
    pems.retain(|p| !service.contains(p));
    assert_eq!(
        pems,
        [format!("{serial}.pem")],
        "one requested certificate archived"
    );
}

/// Test 8 (continued) and test 10: events = ["all"] sees Startup, Pending, RetrievePending
/// and, after a graceful stop (exit 0), Shutdown.
#[test]
fn file_exit_all_sees_lifecycle_events() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit("all", "exits/all", "[\"all\"]"));
    server.serve();
    let dir = server.data.join("exits/all");

    let startup = wait_for_event(&dir, "Startup", |_| true).json();
    assert_eq!(startup["event_bit"], 0x80, "{startup:#}");
    assert_eq!(startup["ca"], "demo", "{startup:#}");

    let (issued, denied, pending) = one_of_each(&server);
    let pending_id = pending["id"].as_i64().expect("id");
    let rec = wait_for_event(&dir, "Pending", |j| j["request"]["id"] == pending_id).json();
    assert_eq!(rec["event_bit"], 0x2, "{rec:#}");
    assert_eq!(rec["request"]["status"], "pending", "{rec:#}");
    assert_eq!(rec["request"]["profile"], "manual", "{rec:#}");

    assert_eq!(server.request_status(pending_id)["status"], "pending");
    let rec = wait_for_event(&dir, "RetrievePending", |j| {
        j["request"]["id"] == pending_id
    })
    .json();
    assert_eq!(rec["event_bit"], 0x10, "{rec:#}");

    server.stop_ok();
    let rec = wait_for_event(&dir, "Shutdown", |_| true).json();
    assert_eq!(rec["event_bit"], 0x40, "{rec:#}");

    // At start the CA issued its OCSP responder certificate and published its first full and
    // delta CRLs; those events come right after Startup.
    let everything: Vec<String> = event_files(&dir).into_iter().map(|e| e.event).collect();
    assert_eq!(
        everything[..4],
        ["Startup", "Issued", "CrlIssued", "CrlIssued"],
        "{everything:?}"
    );
    let files = request_events(&dir);
    let names: Vec<&str> = files.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "Startup",
            "Issued",
            "Denied",
            "Pending",
            "RetrievePending",
            "Shutdown"
        ],
        "events = [all] receives every event once, in outbox order"
    );
    let ids: Vec<Option<i64>> = files
        .iter()
        .map(|f| f.json()["request"]["id"].as_i64())
        .collect();
    assert_eq!(
        ids,
        [
            None,
            issued["id"].as_i64(),
            denied["id"].as_i64(),
            Some(pending_id),
            Some(pending_id),
            None
        ],
        "request events name their request; Startup and Shutdown none"
    );
    let seqs: Vec<u64> = files.iter().map(|f| f.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase: {seqs:?}"
    );

    // A restart emits a new Startup (and nothing is redelivered).
    server.serve();
    wait_until(DELIVERY_TIMEOUT, "a second Startup record", || {
        (event_names(&dir).iter().filter(|n| *n == "Startup").count() == 2).then_some(())
    });
    server.stop_ok();
    let names = event_names(&dir);
    assert_eq!(
        names,
        [
            "Startup",
            "Issued",
            "Denied",
            "Pending",
            "RetrievePending",
            "Shutdown",
            "Startup",
            "Shutdown"
        ],
        "a second run adds Startup and Shutdown only"
    );
}

/// Test 10: a graceful stop (SIGTERM) emits Shutdown to an exit that asks only for it, and
/// the process exits 0.
#[test]
fn graceful_shutdown_emits_shutdown() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit("bye", "exits/bye", "[\"Shutdown\"]"));
    server.serve();
    let dir = server.data.join("exits/bye");
    server.issue("before-shutdown.test");
    assert!(
        event_files(&dir).is_empty(),
        "nothing but Shutdown is delivered to this exit"
    );

    let status = server.stop();
    assert!(
        status.success(),
        "SIGTERM must end in exit status 0, got {status}; log:\n{}",
        server.log_tail()
    );
    let files = event_files(&dir);
    let names: Vec<&str> = files.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        ["Shutdown"],
        "the Shutdown event is delivered before the process exits"
    );
    let rec = files[0].json();
    assert_eq!(rec["event_bit"], 0x40, "{rec:#}");
    assert_eq!(rec["config"], "localhost/demo", "{rec:#}");
    assert!(
        server.log().contains("stopped"),
        "the log records the clean stop"
    );
}

/// Test 9: at-least-once delivery across a crash. The exit cannot write at first (its
/// `events` directory is replaced by a regular file), the server is SIGKILLed with the
/// Issued event undelivered, the directory is repaired, and the restarted server delivers.
#[test]
fn delivery_survives_sigkill() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit("blocked", "exits/blocked", "[\"Issued\"]"));
    server.serve();
    let dir = server.data.join("exits/blocked");
    let events = dir.join("events");
    assert!(
        events.is_dir(),
        "the file exit creates its directory at start"
    );
    fs::remove_dir_all(&events).expect("removing the events directory");
    fs::write(&events, b"not a directory\n").expect("putting a file in its place");

    let issued = server.issue("durable.test");
    let serial = issued["serial"].as_str().expect("serial").to_string();

    // The exit fails (and is retried): wait until the server has seen a failure.
    wait_until(
        DELIVERY_TIMEOUT,
        "signet_exit_delivery_failures_total >= 1",
        || {
            server
                .metric("signet_exit_delivery_failures_total")
                .filter(|n| *n >= 1.0)
        },
    );
    // The pass that failed also reports the undelivered event as outbox lag.
    wait_until(
        DELIVERY_TIMEOUT,
        "signet_outbox_lag{ca=\"demo\"} >= 1",
        || {
            server
                .metric("signet_outbox_lag{ca=\"demo\"}")
                .filter(|l| *l >= 1.0)
        },
    );
    assert!(
        !dir.join(format!("{serial}.pem")).exists(),
        "nothing was delivered yet"
    );

    server.kill();
    fs::remove_file(&events).expect("removing the blocking file");

    server.serve();
    let rec = wait_for_event(&dir, "Issued", |j| {
        j["certificate"]["serial"] == serial.as_str()
    })
    .json();
    assert_eq!(rec["request"]["id"], issued["id"], "{rec:#}");
    let pem = fs::read_to_string(dir.join(format!("{serial}.pem")))
        .expect("the certificate is archived after the restart");
    assert_eq!(
        pem.trim(),
        issued["certificate"].as_str().expect("certificate").trim()
    );
    wait_until(DELIVERY_TIMEOUT, "signet_outbox_lag{ca=\"demo\"} 0", || {
        server
            .metric("signet_outbox_lag{ca=\"demo\"}")
            .filter(|l| *l == 0.0)
    });
    server.stop_ok();
    assert_eq!(
        event_names(&dir),
        ["Issued"],
        "delivered once to this exit (a redelivery overwrites its own file)"
    );
}
