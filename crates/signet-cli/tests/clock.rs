//! A clock jump under a real `signet serve` (issue 22), made with libfaketime (Debian
//! package `faketime`, which `scripts/test.sh` installs): the server runs with libfaketime
//! preloaded, its wall clock offset by what the test writes into a file, and its monotonic
//! clock left alone.
//!
//! A CA whose clock went back (a dead RTC, a restored VM snapshot) must sign nothing: no
//! certificate dated in the past, no CRL, no new OCSP response, nothing stored half-way. It
//! says why in `/healthz`, and signs again by itself once the clock is corrected. A step while
//! running is logged and counted, whichever way it goes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Where Debian's libfaketime package puts the library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// How long the health check (every second) may take to see a change of the clock.
const HEALTH_DEADLINE: Duration = Duration::from_secs(15);

/// A server whose wall clock the test moves: `set("-1d")` writes libfaketime's offset file,
/// which the server reads on every clock call (`FAKETIME_NO_CACHE`).
struct Faked {
    server: Server,
    offset: PathBuf,
}

impl Faked {
    /// `signet init --dev` and `signet serve` under libfaketime, the clock at `offset`.
    fn start(offset: &str) -> Faked {
        assert!(
            Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} is missing: apt-get install faketime (scripts/test.sh installs it)"
        );
        let mut server = Server::init(&["--dev"]);
        let file = server.work_file("faketime");
        let faked = |k: &str, v: &str| (k.to_string(), v.to_string());
        server.serve_env.extend([
            faked("LD_PRELOAD", LIBFAKETIME),
            faked(
                "FAKETIME_TIMESTAMP_FILE",
                file.to_str().expect("UTF-8 path"),
            ),
            faked("FAKETIME_NO_CACHE", "1"),
            faked("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ]);
        let faked = Faked {
            server,
            offset: file,
        };
        faked.set(offset);
        let mut faked = faked;
        faked.server.serve();
        faked
    }

    /// Moves the server's wall clock to real time plus `offset` (`+0`, `-1d`, `+2d`).
    fn set(&self, offset: &str) {
        fs::write(&self.offset, format!("{offset}\n")).expect("writing the faketime file");
    }

    /// `/healthz` once it answers `status`; its body.
    fn health(&self, status: u16) -> String {
        let r = wait_until(
            HEALTH_DEADLINE,
            &format!("/healthz to answer {status}"),
            || {
                let r = self.server.get("/healthz");
                (r.status == status).then_some(r)
            },
        );
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// A submission that must be refused with a 503 problem naming the clock.
    fn expect_refused(&self, cn: &str) {
        let csr = openssl_csr(&self.server.work, "p256", &format!("/CN={cn}"), &[]);
        let r = self.server.submit_raw(&csr, None);
        let detail = r.expect_problem(503);
        assert!(
            detail.contains("the clock") && detail.contains("max_clock_regression"),
            "the 503 names the clock: {r}"
        );
    }

    /// What is on record, through the API: requests, certificates, CRLs.
    fn on_record(&self) -> [usize; 3] {
        let admin = self.server.admin_token();
        let ca = &self.server.ca;
        let count = |path: String| {
            let r = self.server.call(Some(&admin), "GET", &path, None);
            assert_eq!(r.status, 200, "{r}");
            let v = r.json();
            let list = v
                .as_array()
                .or_else(|| v.get("items").and_then(Value::as_array))
                .unwrap_or_else(|| panic!("a list from {path}: {v:#}"));
            list.len()
        };
        [
            count(format!("/api/v1/cas/{ca}/requests")),
            count(format!("/api/v1/cas/{ca}/certificates")),
            count(format!("/api/v1/cas/{ca}/crls")),
        ]
    }

    /// `POST /api/v1/cas/{ca}/crls` as the administrator.
    fn publish_crls(&self) -> Response {
        let admin = self.server.admin_token();
        self.server.call(
            Some(&admin),
            "POST",
            &format!("/api/v1/cas/{}/crls", self.server.ca),
            Some(&json!({ "delta": false })),
        )
    }

    /// Issues a certificate for CN=`cn`, writes it to the work directory, checks it with
    /// `openssl verify` and returns its path.
    fn issue(&self, cn: &str) -> PathBuf {
        let issued = self.server.issue(cn);
        let leaf = self.server.work_file(&format!("{cn}.pem"));
        fs::write(
            &leaf,
            issued["certificate"].as_str().expect("a certificate PEM"),
        )
        .expect("writing the certificate");
        openssl_verify(&self.server.ca_cert_path(), &leaf);
        leaf
    }
}

/// A fresh OCSP request for `cert` (openssl makes it), posted to the server; openssl's
/// reading of the answer.
fn ocsp(faked: &Faked, cert: &Path) -> String {
    let server = &faked.server;
    let request = unique(&server.work, "ocsp", "req");
    let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let made = run_program(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &s(&server.ca_cert_path()),
            "-cert",
            &s(cert),
            "-no_nonce",
            "-reqout",
            &s(&request),
        ],
    );
    assert_eq!(made.code, 0, "openssl ocsp -reqout: {made}");
    let body = fs::read(&request).expect("reading the OCSP request");
    let r = server.post(
        &format!("/ocsp/{}", server.ca),
        "application/ocsp-request",
        &body,
    );
    assert_eq!(r.status, 200, "POST /ocsp: {r}");
    let response = unique(&server.work, "ocsp", "der");
    fs::write(&response, &r.body).expect("writing the OCSP response");
    let read = run_program(
        "openssl",
        &["ocsp", "-respin", &s(&response), "-resp_text", "-noverify"],
    );
    format!("{}\n{}", read.stdout, read.stderr)
}

#[test]
fn a_clock_that_goes_back_stops_signing_until_it_is_corrected() {
    let faked = Faked::start("+0");
    let first = faked.issue("before.example.test");

    // A day back: nothing is signed, nothing stored, and /healthz says why.
    let before = faked.on_record();
    faked.set("-1d");
    let why = faked.health(503);
    assert!(
        why.contains("the clock") && why.contains("behind the newest time on record"),
        "/healthz names the clock: {why}"
    );
    faked.expect_refused("behind.example.test");
    let crl = faked.publish_crls();
    let detail = crl.expect_problem(503);
    assert!(
        detail.contains("the clock"),
        "the CRL refusal names the clock: {crl}"
    );
    let answer = ocsp(&faked, &first);
    assert!(
        answer.contains("trylater"),
        "a new OCSP response needs a signature: tryLater ({answer})"
    );
    assert_eq!(faked.on_record(), before, "nothing new is on record");

    // The clock is corrected: signing resumes by itself.
    faked.set("+0");
    faked.health(200);
    let after = faked.issue("after.example.test");
    assert!(
        cert_date(&after, "startdate") >= cert_date(&first, "startdate"),
        "the new certificate ({}) is not dated before the first ({})",
        cert_date(&after, "startdate"),
        cert_date(&first, "startdate")
    );
    assert_eq!(faked.publish_crls().status, 201, "CRLs are published again");
    let log = faked.server.log();
    assert!(
        log.contains("the clock is behind: /healthz answers 503")
            && log.contains("signing resumes"),
        "the log names both transitions: {log}"
    );
    assert_eq!(
        log.matches("the clock is behind: /healthz answers 503")
            .count(),
        1,
        "logged once per transition, not per request"
    );
}

#[test]
fn a_start_with_a_clock_a_year_behind_serves_health_and_signs_nothing() {
    let mut faked = Faked::start("+0");
    faked.issue("before.example.test");
    faked.server.stop_ok();

    // The dead-RTC case: the server starts, so an operator can read /healthz.
    faked.set("-365d");
    faked.server.serve();
    let why = faked.health(503);
    assert!(
        why.contains("the clock") && why.contains("max_clock_regression"),
        "/healthz names the clock: {why}"
    );
    faked.expect_refused("dead-rtc.example.test");

    faked.set("+0");
    faked.health(200);
    faked.issue("after.example.test");
}

#[test]
fn a_forward_step_is_logged_and_counted() {
    let faked = Faked::start("+0");
    assert_eq!(faked.server.metric("signet_clock_steps_total"), Some(0.0));
    faked.set("+2d");
    // Two days less the part of a second the monotonic clock moved between two checks.
    wait_until(HEALTH_DEADLINE, "the step in the log", || {
        let log = faked.server.log();
        (log.contains("the wall clock stepped forward by 2d 0h")
            || log.contains("the wall clock stepped forward by 1d 23h"))
        .then_some(())
    });
    let steps = faked
        .server
        .metric("signet_clock_steps_total")
        .expect("signet_clock_steps_total in /metrics");
    assert!(steps >= 1.0, "the step is counted: {steps}");
    // Only reported: the clock ahead is not behind anything, so the CA still signs (dated
    // two days ahead, which is why a forward jump is worth an alert).
    assert_eq!(faked.server.get("/healthz").status, 200);
    faked.server.issue("ahead.example.test");
}
