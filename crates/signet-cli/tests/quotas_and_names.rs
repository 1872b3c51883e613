//! Issue 14's smaller findings, attacked from outside: identity names that differ only in
//! case, reserved names, rate limits and pending quotas per requester, oversized requests,
//! RSA exponent 3, the database's file modes, and two requests for one key racing past
//! `unique_key`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// Replaces one `key = value` line of the generated signet.toml.
fn set_config(server: &Server, from: &str, to: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "signet.toml has no {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// A new openssl request for an existing key, written to `out`.
fn csr_for_key(key: &Path, subj: &str, out: &Path) -> std::path::PathBuf {
    run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            subj,
            "-out",
            out.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    out.to_path_buf()
}

fn submit_pem(server: &Server, token: &str, pem: &str, profile: &str) -> Response {
    server.call(
        Some(token),
        "POST",
        &format!("/api/v1/cas/{}/requests", server.ca),
        Some(&json!({ "csr": pem, "profile": profile })),
    )
}

fn create_token_raw(server: &Server, name: &str, role: &str) -> Response {
    server.call(
        Some(&server.admin_token()),
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": name, "roles": [role] })),
    )
}

#[test]
fn names_are_one_identity_whatever_their_case_and_system_names_are_reserved() {
    let server = Server::start(&[]);
    let alice = server.create_token(&["requester"], "alice");
    // `ALICE` would be a second identity holding the manager role over alice's requests.
    let upper = create_token_raw(&server, "ALICE", "manager");
    let detail = upper.expect_problem(409);
    assert!(detail.contains("alice"), "{detail}");
    for reserved in ["anonymous", "System", "bootstrap-admin"] {
        let resp = create_token_raw(&server, reserved, "requester");
        let detail = resp.expect_problem(400);
        assert!(detail.contains("reserved"), "{reserved}: {detail}");
    }

    // The audit record of a submission names the credential, not only the name.
    let v = server.submit_cn_as(&alice, "alice.test", "server");
    assert_eq!(v["status"], "issued", "{v:#}");
    let auditor = server.create_token(&["auditor"], "audit");
    let log = server.call(Some(&auditor), "GET", "/api/v1/audit?limit=100", None);
    assert_eq!(log.status, 200, "{log}");
    let records: Vec<Value> = log
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let submit = records
        .iter()
        .find(|r| r["action"] == "submit" && r["actor"] == "alice")
        .cloned()
        .unwrap_or_else(|| panic!("no submit record by alice: {records:#?}"));
    assert!(
        submit["details"].to_string().contains("token:"),
        "{submit:#}"
    );
}

#[test]
fn requesters_are_rate_limited_and_their_pending_queue_is_bounded() {
    let mut server = Server::init(&["--dev"]);
    set_config(
        &server,
        "requests_per_minute = 0",
        "requests_per_minute = 5",
    );
    set_config(
        &server,
        "pending_per_requester = 100",
        "pending_per_requester = 2",
    );
    server.serve();
    let token = server.token.clone().unwrap();

    // Two requests wait; the third would grow the queue and is refused, nothing stored.
    for i in 0..2 {
        let v = server.submit_cn_as(&token, &format!("p{i}.test"), "manual");
        assert_eq!(v["status"], "pending", "{v:#}");
    }
    let csr = openssl_csr(&server.work, "p256", "/CN=p2.test", &[]);
    let pem = fs::read_to_string(&csr).unwrap();
    let third = submit_pem(&server, &token, &pem, "manual");
    let detail = third.expect_problem(429);
    assert!(detail.contains("pending"), "{detail}");
    let manager = server.create_token(&["manager"], "mgr");
    let queue = server.call(
        Some(&manager),
        "GET",
        &format!("/api/v1/cas/{}/requests?status=pending", server.ca),
        None,
    );
    assert_eq!(
        queue.json()["items"].as_array().map(Vec::len),
        Some(2),
        "the refused request was stored: {queue}"
    );

    // Three requests so far; two more pass, the sixth in the minute is refused with a
    // Retry-After.
    for i in 0..2 {
        let v = server.submit_cn_as(&token, &format!("r{i}.test"), "server");
        assert_eq!(v["status"], "issued", "{v:#}");
    }
    let limited = submit_pem(&server, &token, &pem, "server");
    limited.expect_problem(429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{limited}");
    // Someone else is not affected.
    let bob = server.create_token(&["requester"], "bob");
    let v = server.submit_cn_as(&bob, "bob.test", "server");
    assert_eq!(v["status"], "issued", "{v:#}");
}

#[test]
fn oversized_requests_and_rsa_exponent_three_are_refused() {
    let server = Server::start(&[]);
    let token = server.token.clone().unwrap();

    // A valid request padded with a 20 KB extension stays under the body limit but is not
    // a certificate request anyone needs: refused before anything is stored.
    let big = openssl_csr(
        &server.work,
        "p256",
        "/CN=big.test",
        &[&format!(
            "DNS:big.test,otherName:1.2.3.4;UTF8:{}",
            "x".repeat(20_000)
        )],
    );
    let resp = submit_pem(
        &server,
        &token,
        &fs::read_to_string(&big).unwrap(),
        "server",
    );
    let detail = resp.expect_problem(400);
    assert!(detail.contains("at most 16384"), "{detail}");

    // 64 attributes of 4 KB each used to be stored with every request.
    let csr = openssl_csr(&server.work, "p256", "/CN=attrs.test", &[]);
    let attributes: serde_json::Map<String, Value> = (0..12)
        .map(|i| (format!("a{i}"), Value::String("v".repeat(1000))))
        .collect();
    let resp = server.call(
        Some(&token),
        "POST",
        &format!("/api/v1/cas/{}/requests", server.ca),
        Some(&json!({ "csr": fs::read_to_string(&csr).unwrap(), "profile": "server", "attributes": attributes })),
    );
    let detail = resp.expect_problem(400);
    assert!(detail.contains("at most 8192"), "{detail}");

    // RSA with public exponent 3 (BR 6.1.6 wants at least 65537).
    let key = server.work.join("e3.key");
    run_program(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            "rsa_keygen_pubexp:3",
            "-out",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let e3 = csr_for_key(&key, "/CN=e3.test", &server.work.join("e3.csr"));
    let resp = submit_pem(&server, &token, &fs::read_to_string(&e3).unwrap(), "server");
    assert_eq!(resp.status, 201, "{resp}");
    let v = resp.json();
    assert_eq!(v["status"], "denied", "{v:#}");
    assert!(
        v["message"].as_str().unwrap().contains("exponent 3"),
        "{v:#}"
    );
    let rsa = openssl_csr(&server.work, "rsa2048", "/CN=e65537.test", &[]);
    let v = submit_pem(
        &server,
        &token,
        &fs::read_to_string(&rsa).unwrap(),
        "server",
    )
    .json();
    assert_eq!(v["status"], "issued", "{v:#}");
}

#[test]
fn the_data_directory_and_database_are_private() {
    let server = Server::start(&[]);
    server.issue("perm.test");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.data), 0o700, "data directory");
    for name in ["signet.db", "signet.db-wal", "signet.db-shm"] {
        let path = server.data.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    assert_eq!(mode(&server.data.join("signet.db")), 0o600);
}

/// Requests for one key from different requesters, submitted at the same moment to a
/// `unique_key` profile: the policy's history check runs before either commits, so only the
/// store's check in the commit keeps the key to one requester.
#[test]
fn two_requesters_racing_for_one_key_do_not_both_get_it() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(
        r#"
[ca.policy.profiles.uniq]
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
unique_key = true
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]
"#,
    );
    server.serve();
    let alice = server.create_token(&["requester"], "alice");
    let bob = server.create_token(&["requester"], "bob");
    let rounds = 24;
    let mut pairs = Vec::new();
    for i in 0..rounds {
        let a = openssl_csr(&server.work, "p256", &format!("/CN=a{i}.test"), &[]);
        let key = a.with_extension("key");
        let b = csr_for_key(
            &key,
            &format!("/CN=b{i}.test"),
            &server.work.join(format!("b{i}.csr")),
        );
        pairs.push((
            fs::read_to_string(&a).unwrap(),
            fs::read_to_string(&b).unwrap(),
        ));
    }
    let both = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|(a, b)| {
                let (server, alice, bob) = (&server, &alice, &bob);
                s.spawn(move || {
                    let ta = s.spawn(move || submit_pem(server, alice, a, "uniq"));
                    let rb = submit_pem(server, bob, b, "uniq");
                    let ra = ta.join().unwrap();
                    let issued = |r: &Response| r.status == 201 && r.json()["status"] == "issued";
                    issued(&ra) && issued(&rb)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|b| *b)
            .count()
    });
    assert_eq!(
        both, 0,
        "{both} of {rounds} keys were certified for both requesters"
    );
}
