//! The OCSP responder against the real binary and `openssl ocsp` (issue 14): CertIDs hashed
//! with SHA-384 and SHA-512 are answered in kind, also after a SHA-1 answer for the same
//! certificate was cached; and the delegated responder certificate survives restarts instead
//! of a new one being issued at every start; a revoked one is replaced at once. A repeated
//! RFC 5019 GET answered ahead of the router (issue 21) is the route's answer byte for byte,
//! and a revocation reaches it at once.
//!
//! # Layout
//! - Helpers: [`issue`], [`revoke`], [`ocsp`], [`expect_status`], [`responder_requests`],
//!   [`responder_pem`], [`get_path`], [`expect_body`], [`cache_hits`], [`comparable`].
//! - The tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// A certificate Signet issued: its PEM file and its serial (lowercase hex).
struct Leaf {
    pem: PathBuf,
    serial: String,
}

fn issue(server: &Server, cn: &str) -> Leaf {
    let v = server.issue(cn);
    let pem = write_pem(
        &server.work,
        cn,
        v["certificate"].as_str().expect("certificate"),
    );
    let serial = v["serial"].as_str().expect("serial").to_string();
    Leaf { pem, serial }
}

fn revoke(server: &Server, manager: &str, serial: &str, reason: &str) {
    let r = server.call(
        Some(manager),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", server.ca),
        Some(&json!({ "reason": reason })),
    );
    assert_eq!(r.status, 200, "revoking {serial}: {r}");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `openssl ocsp -issuer CA [DIGEST] -cert CERT -url URL -CAfile CA -resp_text [EXTRA]`
/// (openssl wants the digest option before `-cert`).
fn ocsp(server: &Server, digest: Option<&str>, cert: &Path, extra: &[&str]) -> Run {
    let ca = server.ca_cert_path();
    let url = format!("{}/ocsp/{}", server.url(), server.ca);
    let mut args = vec!["ocsp", "-issuer", p(&ca)];
    args.extend(digest);
    args.extend_from_slice(&[
        "-cert",
        p(cert),
        "-url",
        url.as_str(),
        "-CAfile",
        p(&ca),
        "-resp_text",
    ]);
    args.extend_from_slice(extra);
    run_program("openssl", &args)
}

/// The responder certificate a response carried (`-resp_text` prints it as PEM).
fn responder_pem(out: &str) -> String {
    let begin = out
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no certificate in the response: {out}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = out[begin..].find(end_marker).expect("a whole PEM block") + begin;
    format!("{}\n", &out[begin..end + end_marker.len()])
}

/// The CA's delegated responder certificate requests, as the request list shows them to a
/// certificate manager.
fn responder_requests(server: &Server, manager: &str) -> Vec<serde_json::Value> {
    let view = server.call(
        Some(manager),
        "GET",
        &format!("/api/v1/cas/{}/requests?limit=1000", server.ca),
        None,
    );
    assert_eq!(view.status, 200, "{view}");
    view.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["format"] == "ocsp-responder")
        .cloned()
        .collect()
}

/// The RFC 5019 §5 GET path for `cert` (a nonce-free request by `openssl ocsp -reqout`,
/// base64 by openssl, then URL-encoded).
fn get_path(server: &Server, cert: &Path) -> String {
    let ca = server.ca_cert_path();
    let request = unique(&server.work, "ocsp-request", "der");
    run_program(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            p(&ca),
            "-cert",
            p(cert),
            "-no_nonce",
            "-reqout",
            p(&request),
        ],
    )
    .expect_code(0);
    let run = run_program("openssl", &["base64", "-A", "-in", p(&request)]);
    run.expect_code(0);
    let encoded = run
        .stdout
        .trim()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("/ocsp/{}/{encoded}", server.ca)
}

/// OCSP GETs answered from the finished answers so far.
fn cache_hits(server: &Server) -> f64 {
    server
        .metric("signet_ocsp_cache_hits_total")
        .expect("signet_ocsp_cache_hits_total")
}

/// The headers of an answer as sent, in order, but Date and with Cache-Control's max-age
/// taken out (it counts down between two answers), and that max-age.
fn comparable(r: &Response) -> (Vec<(String, String)>, u64) {
    let mut max_age = None;
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| {
            if !k.eq_ignore_ascii_case("cache-control") {
                return (k.to_ascii_lowercase(), v.clone());
            }
            let directives: Vec<&str> = v.split(", ").collect();
            let blanked = directives
                .iter()
                .map(|d| match d.strip_prefix("max-age=") {
                    Some(n) => {
                        max_age = Some(n.parse::<u64>().expect("max-age is a number"));
                        "max-age=N"
                    }
                    None => d,
                })
                .collect::<Vec<_>>()
                .join(", ");
            (k.to_ascii_lowercase(), blanked)
        })
        .collect();
    (
        headers,
        max_age.unwrap_or_else(|| panic!("no max-age: {r}")),
    )
}

/// The first GET of a URL goes through the route, which keeps its settled answer; the same
/// GET again is answered ahead of the router (the cache-hit counter moves) with the same
/// status, headers (but Date; max-age may have counted down a second) and body. A
/// revocation is seen at once at the same URL: the next GET is the route's again, `revoked`
/// for openssl, and the one after it the front's, identical to it.
#[test]
fn repeated_gets_are_answered_ahead_of_the_router_as_the_route_answers_them() {
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let leaf = issue(&server, "front.test");
    let path = get_path(&server, &leaf.pem);
    let get = || http(server.addr(), "GET", &path, &[], b"");

    let mut answers = Vec::new();
    for (step, status) in [("before", "good"), ("after the revocation", "revoked")] {
        if status == "revoked" {
            revoke(&server, &mgr, &leaf.serial, "keyCompromise");
        }
        let hits = cache_hits(&server);
        let cold = get();
        assert_eq!(
            cache_hits(&server),
            hits,
            "{step}: the first GET is the route's"
        );
        let warm = get();
        assert_eq!(
            cache_hits(&server),
            hits + 1.0,
            "{step}: the second GET is answered ahead of the router"
        );
        for r in [&cold, &warm] {
            assert_eq!(r.status, 200, "{step}: {r}");
            assert_eq!(r.content_type, "application/ocsp-response", "{r}");
            expect_ocsp_body(&server, &r.body, &leaf.pem, status);
        }
        let ((cold_headers, cold_age), (warm_headers, warm_age)) =
            (comparable(&cold), comparable(&warm));
        assert_eq!(cold_headers, warm_headers, "{step}: the same headers");
        assert!(
            warm_age <= cold_age && cold_age - warm_age <= 1,
            "{step}: max-age {cold_age} then {warm_age}"
        );
        assert_eq!(cold.body, warm.body, "{step}: the same body");
        let names: Vec<&str> = cold_headers.iter().map(|(k, _)| k.as_str()).collect();
        for name in [
            "content-type",
            "cache-control",
            "last-modified",
            "expires",
            "etag",
            "content-length",
        ] {
            assert!(names.contains(&name), "{step}: no {name}: {cold_headers:?}");
        }
        answers.push(cold.body);
    }
    assert_ne!(answers[0], answers[1], "a new answer after the revocation");
}

#[test]
fn sha384_and_sha512_cert_ids_are_answered_in_kind() {
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let good = issue(&server, "good.test");
    let bad = issue(&server, "bad.test");
    revoke(&server, &mgr, &bad.serial, "keyCompromise");

    for (name, digest) in [
        ("sha1", None),
        ("sha256", Some("-sha256")),
        ("sha384", Some("-sha384")),
        ("sha512", Some("-sha512")),
    ] {
        for (leaf, status) in [(&good, "good"), (&bad, "revoked")] {
            // Without a nonce the answer is cached: a second client with another hash must
            // still get its own CertID back, not the first client's.
            for extra in [&["-no_nonce"][..], &["-no_nonce"][..], &[][..]] {
                let run = ocsp(&server, digest, &leaf.pem, extra);
                let out = expect_ocsp_status(&run, &leaf.pem, status);
                assert!(
                    out.contains(&format!("Hash Algorithm: {name}")),
                    "{name} CertID answered with another hash: {out}"
                );
                if status == "revoked" {
                    assert!(out.contains("Reason: keyCompromise"), "{out}");
                }
            }
        }
    }
}

#[test]
fn the_responder_certificate_is_reused_across_restarts() {
    let mut server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let leaf = issue(&server, "restart.test");
    let first = responder_pem(&expect_ocsp_status(
        &ocsp(&server, None, &leaf.pem, &[]),
        &leaf.pem,
        "good",
    ));
    assert_eq!(responder_requests(&server, &mgr).len(), 1);

    for _ in 0..3 {
        server.restart();
        assert_eq!(
            responder_requests(&server, &mgr).len(),
            1,
            "a restart issued another responder certificate"
        );
        let now = responder_pem(&expect_ocsp_status(
            &ocsp(&server, None, &leaf.pem, &[]),
            &leaf.pem,
            "good",
        ));
        assert_eq!(now, first, "the responder certificate changed at a restart");
    }

    // A revoked responder certificate (say its key leaked) is replaced within a maintenance
    // tick, without a restart, and never taken up again.
    let serial = responder_requests(&server, &mgr)[0]["certificate"]["serial"]
        .as_str()
        .expect("the responder certificate's serial")
        .to_string();
    revoke(&server, &mgr, &serial, "keyCompromise");
    let renewed = wait_until(DELIVERY_TIMEOUT, "a new responder certificate", || {
        let now = responder_pem(&expect_ocsp_status(
            &ocsp(&server, None, &leaf.pem, &[]),
            &leaf.pem,
            "good",
        ));
        (now != first).then_some(now)
    });
    assert_eq!(responder_requests(&server, &mgr).len(), 2);
    server.restart();
    server.restart();
    assert_eq!(responder_requests(&server, &mgr).len(), 2);
    let now = responder_pem(&expect_ocsp_status(
        &ocsp(&server, None, &leaf.pem, &[]),
        &leaf.pem,
        "good",
    ));
    assert_eq!(now, renewed, "the replacement is the one kept");
}

#[test]
fn the_responder_key_is_sealed_with_the_ca_passphrase() {
    let secrets = tempfile::tempdir().unwrap();
    let pass_file = secrets.path().join("passphrase");
    fs::write(&pass_file, "correct horse battery staple\n").unwrap();
    let mut server = Server::init(&["--passphrase-file", p(&pass_file)]);
    server.serve_env = vec![(
        "SIGNET_PASSPHRASE".into(),
        "correct horse battery staple".into(),
    )];
    server.serve();
    let mgr = server.create_token(&["manager"], "mgr");
    let leaf = issue(&server, "sealed.test");
    let first = responder_pem(&expect_ocsp_status(
        &ocsp(&server, None, &leaf.pem, &[]),
        &leaf.pem,
        "good",
    ));
    server.restart();
    server.restart();
    assert_eq!(responder_requests(&server, &mgr).len(), 1);
    let again = responder_pem(&expect_ocsp_status(
        &ocsp(&server, None, &leaf.pem, &[]),
        &leaf.pem,
        "good",
    ));
    assert_eq!(again, first);
    server.stop_ok();

    // The stored key is an encrypted PKCS#8 that openssl opens with the passphrase only.
    let db = server.data.join("signet.db");
    let script = format!(
        "import sqlite3,sys\nc = sqlite3.connect({:?})\nrows = c.execute('SELECT sealed FROM responder_keys').fetchall()\nsys.stdout.write(str(len(rows)) + '\\n')\nopen({:?}, 'wb').write(rows[0][0])\n",
        p(&db),
        p(&server.work.join("sealed.pem")),
    );
    let run = run_program("python3", &["-c", &script]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "1", "{run}");
    let sealed = fs::read_to_string(server.work.join("sealed.pem")).unwrap();
    assert!(
        sealed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{sealed}"
    );
    let sealed_path = server.work.join("sealed.pem");
    let pass_arg = format!("file:{}", p(&pass_file));
    let run = run_program(
        "openssl",
        &[
            "pkey",
            "-in",
            p(&sealed_path),
            "-passin",
            &pass_arg,
            "-pubout",
        ],
    );
    run.expect_code(0);
    let responder = write_pem(&server.work, "responder", &first);
    let run_cert = run_program(
        "openssl",
        &["x509", "-in", p(&responder), "-noout", "-pubkey"],
    );
    run_cert.expect_code(0);
    assert_eq!(
        run.stdout, run_cert.stdout,
        "the sealed key is the responder's"
    );
    let run = run_program(
        "openssl",
        &[
            "pkey",
            "-in",
            p(&sealed_path),
            "-passin",
            "pass:wrong",
            "-pubout",
        ],
    );
    assert_ne!(run.code, 0, "{run}");

    // A new CA passphrase (the CA key and the audit signing key, both encrypted with it,
    // re-encrypted by openssl): the old sealed responder key no longer opens, so the start
    // says so and issues a new responder certificate, sealed anew.
    let new_pass = secrets.path().join("new-passphrase");
    fs::write(&new_pass, "a new passphrase\n").unwrap();
    let new_arg = format!("file:{}", p(&new_pass));
    for key in [
        server.data.join("ca").join(&server.ca).join("key.pem"),
        server.data.join("audit-signing.key"),
    ] {
        let reencrypted = server.work.join("reencrypted.pem");
        run_program(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-v2prf",
                "hmacWithSHA256",
                "-in",
                p(&key),
                "-passin",
                &pass_arg,
                "-passout",
                &new_arg,
                "-out",
                p(&reencrypted),
            ],
        )
        .expect_code(0);
        fs::copy(&reencrypted, &key).unwrap();
    }
    server.serve_env = vec![("SIGNET_PASSPHRASE".into(), "a new passphrase".into())];
    server.serve();
    assert!(
        server.log().contains("does not open"),
        "the start explains the new responder certificate: {}",
        server.log_tail()
    );
    assert_eq!(responder_requests(&server, &mgr).len(), 2);
    let renewed = responder_pem(&expect_ocsp_status(
        &ocsp(&server, None, &leaf.pem, &[]),
        &leaf.pem,
        "good",
    ));
    assert_ne!(renewed, first);
    server.restart();
    assert_eq!(responder_requests(&server, &mgr).len(), 2);
}
