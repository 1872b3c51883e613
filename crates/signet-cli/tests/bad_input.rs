//! Test 7: bad input gets a clear RFC 9457 problem, stores nothing, and does not hurt the
//! server. "Nothing stored" is checked by the id of the next valid request: it must be the
//! previous valid request's id plus one.

mod common;

use std::fs;

use common::{Response, Server, csr_der, openssl_csr, run_program, run_signet};

/// Issues a valid request and returns its id.
fn valid_id(server: &Server) -> i64 {
    let v = server.issue("valid.test");
    v["id"].as_i64().unwrap_or_else(|| panic!("no id: {v:#}"))
}

/// Runs one bad submission: it must be a `status` problem whose detail contains every
/// `needles` entry (case-insensitively), and the next valid request must get `last + 1`.
fn check_rejected(
    server: &Server,
    last: &mut i64,
    case: &str,
    resp: Response,
    status: u16,
    needles: &[&str],
) {
    let detail = resp.expect_problem(status);
    let lower = detail.to_ascii_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_ascii_lowercase()),
            "{case}: the problem detail should mention {n:?}: {resp}"
        );
    }
    let next = valid_id(server);
    assert_eq!(
        next,
        *last + 1,
        "{case}: the next valid request must get id {} — the bad request must store nothing ({resp})",
        *last + 1
    );
    *last = next;
}

#[test]
fn bad_input_is_rejected_and_stores_nothing() {
    let server = Server::start(&[]);
    let path = "/api/v1/cas/demo/requests";
    let mut last = valid_id(&server);

    let good = openssl_csr(&server.work, "p256", "/CN=good.test", &[]);
    let good_pem = fs::read_to_string(&good).expect("reading the CSR");
    let der = csr_der(&good);

    // Garbage bytes, as a raw PKCS#10 body and as the JSON `csr` string.
    let garbage = b"\x30\x82\xff\xffthis is not a certification request\x00\x01\x02";
    let resp = server.post(path, "application/pkcs10", garbage);
    check_rejected(&server, &mut last, "garbage DER", resp, 400, &[]);
    let resp = server.post_json(path, &serde_json::json!({ "csr": "hello, CA" }));
    check_rejected(&server, &mut last, "garbage JSON csr", resp, 400, &[]);
    let resp = server.post_json(
        path,
        &serde_json::json!({ "csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n" }),
    );
    check_rejected(
        &server,
        &mut last,
        "PEM with a bad base64 body",
        resp,
        400,
        &[],
    );

    // Truncated DER.
    let resp = server.post(path, "application/pkcs10", &der[..der.len() / 2]);
    check_rejected(&server, &mut last, "truncated DER", resp, 400, &[]);
    // Trailing data after the DER.
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"extra");
    let resp = server.post(path, "application/pkcs10", &trailing);
    check_rejected(&server, &mut last, "DER with trailing data", resp, 400, &[]);

    // A flipped byte in the signature (the last byte of the DER is inside it).
    let mut flipped = der.clone();
    *flipped.last_mut().expect("non-empty DER") ^= 0x01;
    let resp = server.post(path, "application/pkcs10", &flipped);
    check_rejected(
        &server,
        &mut last,
        "flipped signature byte",
        resp,
        400,
        &["signature"],
    );

    // An RSA-1024 request: unsupported key size.
    let small = openssl_csr(&server.work, "rsa1024", "/CN=small.test", &[]);
    let resp = server.submit_raw(&small, None);
    check_rejected(
        &server,
        &mut last,
        "RSA-1024 CSR",
        resp,
        400,
        &["unsupported", "1024"],
    );

    // A body over 64 KiB.
    let huge =
        serde_json::json!({ "csr": good_pem, "attributes": { "padding": "x".repeat(70 * 1024) } });
    let resp = server.post_json(path, &huge);
    check_rejected(&server, &mut last, "70 KiB body", resp, 413, &[]);
    let resp = server.post(path, "application/pkcs10", &vec![0x30; 65 * 1024]);
    check_rejected(&server, &mut last, "65 KiB PKCS#10 body", resp, 413, &[]);

    // Unknown CA, unknown profile.
    let resp = server.post_json(
        "/api/v1/cas/nope/requests",
        &serde_json::json!({ "csr": good_pem }),
    );
    check_rejected(&server, &mut last, "unknown CA", resp, 404, &["nope"]);
    // Callers cannot mint metric series with made-up CA names.
    let metrics = String::from_utf8_lossy(&server.get("/metrics").body).into_owned();
    assert!(
        !metrics.contains("ca=\"nope\""),
        "unknown CA leaked into metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("ca=\"unknown\",status=\"rejected\""),
        "{metrics}"
    );
    let resp = server.post_json(
        path,
        &serde_json::json!({ "csr": good_pem, "profile": "gold" }),
    );
    check_rejected(&server, &mut last, "unknown profile", resp, 400, &["gold"]);
    let resp = server.post(&format!("{path}?profile=gold"), "application/pkcs10", &der);
    check_rejected(
        &server,
        &mut last,
        "unknown profile (?profile=)",
        resp,
        400,
        &["gold"],
    );

    // Invalid JSON, a JSON body of the wrong shape, an unknown member.
    let resp = server.post(path, "application/json", b"{\"csr\": ");
    check_rejected(&server, &mut last, "invalid JSON", resp, 400, &["json"]);
    let resp = server.post(path, "application/json", b"[1, 2, 3]");
    check_rejected(&server, &mut last, "JSON array body", resp, 400, &[]);
    let resp = server.post_json(
        path,
        &serde_json::json!({ "csr": good_pem, "san": "evil.example" }),
    );
    check_rejected(
        &server,
        &mut last,
        "unknown JSON member",
        resp,
        400,
        &["san"],
    );

    // Wrong content type.
    let resp = server.post(path, "text/plain", good_pem.as_bytes());
    check_rejected(
        &server,
        &mut last,
        "text/plain body",
        resp,
        415,
        &["text/plain"],
    );

    // Unknown and malformed request ids.
    server.get(&format!("{path}/999999")).expect_problem(404);
    let detail = server.get(&format!("{path}/abc")).expect_problem(400);
    assert!(
        detail.contains("abc"),
        "a bad id is named in the detail: {detail}"
    );
    server.get(&format!("{path}/0")).expect_problem(400);
    server.get(&format!("{path}/-5")).expect_problem(400);
    server
        .get("/api/v1/cas/nope/requests/1")
        .expect_problem(404);
    server
        .get("/api/v1/cas/nope/certificate")
        .expect_problem(404);
    server.get("/api/v1/no/such/route").expect_problem(404);

    // The CLI: `error: ...` and exit 1 for an unknown CA and for a garbage CSR file.
    let run = server.cli(&[
        "request",
        "submit",
        good.to_str().expect("UTF-8"),
        "--ca",
        "nope",
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("nope"),
        "{run}"
    );
    let junk = server.work_file("junk.csr");
    fs::write(&junk, b"definitely not a CSR\n").expect("writing junk.csr");
    let run = server.cli(&["request", "submit", junk.to_str().expect("UTF-8")]);
    run.expect_code(1);
    assert!(run.stderr.starts_with("error: "), "{run}");
    let run = server.cli(&["request", "submit", "/nonexistent/file.csr"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("/nonexistent/file.csr"),
        "{run}"
    );
    let run = server.cli(&["request", "status", "abc"]);
    run.expect_code(1);
    assert!(run.stderr.starts_with("error: "), "{run}");
    let run = server.cli(&["request", "status", "999999"]);
    run.expect_code(1);
    assert!(run.stderr.starts_with("error: "), "{run}");
    // A server that is not there.
    let run = run_signet(&["config", "--server", "http://127.0.0.1:1"], &[], None);
    run.expect_code(1);
    assert!(run.stderr.starts_with("error: "), "{run}");
    let next = valid_id(&server);
    assert_eq!(next, last + 1, "failed CLI calls store nothing");
    last = next;

    // Rejections are counted, the server is healthy, and the CLI failures stored nothing.
    let rejected = server.metric("signet_requests_total{ca=\"demo\",status=\"rejected\"}");
    assert!(
        rejected.is_some_and(|n| n >= 14.0),
        "rejections are counted: {rejected:?}"
    );
    let resp = server.get("/healthz");
    assert_eq!(resp.status, 200, "the server survives bad input: {resp}");
    assert_eq!(valid_id(&server), last + 1);
}

/// A request for the CA's own public key is denied (its holder could pass for the CA), and
/// the message says why.
#[test]
fn a_request_for_the_cas_own_key_is_denied() {
    let server = Server::start(&["--dev"]);
    let csr = server.work_file("ca-key.csr");
    let key = server.data.join("ca/demo/key.pem");
    let run = run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            key.to_str().expect("UTF-8 path"),
            "-subj",
            "/CN=www.test",
            "-addext",
            "subjectAltName=DNS:www.test",
            "-out",
            csr.to_str().expect("UTF-8 path"),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let answer = server.submit(&csr, Some("server"));
    assert_eq!(answer["status"], "denied", "{answer:#}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("own public key")),
        "{answer:#}"
    );
}
