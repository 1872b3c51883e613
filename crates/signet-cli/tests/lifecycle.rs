//! End-to-end: `signet init`, `signet serve`, config discovery, issuance over REST and the
//! CLI (checked with `openssl verify` and pkilint), profile policy decisions, and a pending
//! request that survives a restart.

mod common;

use std::fs;
use std::path::Path;

use common::{
    Server, cert_der, cert_serial, cert_text, csr_der, openssl_csr, openssl_verify, pkilint,
    run_signet, write_pem,
};

/// Test 1: config discovery over REST and `signet config`, plus the operational endpoints.
#[test]
fn init_serve_and_discovery() {
    let server = Server::start(&[]);

    // GET /api/v1/cas: the CA, its config string and its modules.
    let resp = server.get("/api/v1/cas");
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.content_type.starts_with("application/json"), "{resp}");
    let cas = resp.json();
    let list = cas
        .as_array()
        .unwrap_or_else(|| panic!("/api/v1/cas is not a list: {cas:#}"));
    assert_eq!(list.len(), 1, "one CA was initialised: {cas:#}");
    let ca = &list[0];
    assert_eq!(ca["name"], "demo", "{ca:#}");
    assert_eq!(
        ca["config"], "localhost/demo",
        "config string is host/CAName: {ca:#}"
    );
    assert!(
        ca["subject"]
            .as_str()
            .is_some_and(|s| s.contains("demo Root CA")),
        "default subject names the CA: {ca:#}"
    );
    assert_eq!(ca["key_algorithm"], "p256", "default CA key: {ca:#}");
    assert!(
        ca["policy"]
            .as_str()
            .is_some_and(|p| p.contains("profiles")),
        "{ca:#}"
    );
    let exits: Vec<&str> = ca["exits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(
        exits,
        ["log"],
        "signet init configures one `log` exit: {ca:#}"
    );
    let profiles: Vec<&str> = ca["profiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        profiles.contains(&"server") && profiles.contains(&"manual"),
        "{ca:#}"
    );
    assert_eq!(ca["default_profile"], "server", "{ca:#}");

    // `signet config` (text and --json), and SIGNET_SERVER in place of --server.
    let run = server.cli(&["config"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("localhost/demo"),
        "signet config prints the config string: {run}"
    );
    assert!(
        run.stdout.contains("server (default)"),
        "signet config marks the default profile: {run}"
    );
    let run = server.cli(&["config", "--json"]);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("config --json is not JSON ({e}): {run}"));
    assert_eq!(json[0]["config"], "localhost/demo", "{run}");
    assert_eq!(json[0]["name"], "demo", "{run}");
    let url = server.url();
    let run = run_signet(&["config"], &[("SIGNET_SERVER", url.as_str())], None);
    run.expect_code(0);
    assert!(
        run.stdout.contains("localhost/demo"),
        "SIGNET_SERVER works as --server: {run}"
    );

    // The CA certificate in every form agrees with what init wrote.
    let on_disk = fs::read_to_string(server.ca_cert_path()).expect("reading cert.pem");
    let resp = server.get("/api/v1/cas/demo/certificate");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(
        resp.text().trim(),
        on_disk.trim(),
        "the served CA certificate differs from cert.pem"
    );
    let der = cert_der(&server.ca_cert_path());
    let resp = server.get("/api/v1/cas/demo/certificate?format=der");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.body, der, "?format=der is the DER of cert.pem");
    let resp = server.get("/ca/demo.crt");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.content_type, "application/pkix-cert", "{resp}");
    assert_eq!(resp.body, der, "/ca/demo.crt is the DER of cert.pem");
    let resp = server.get("/api/v1/cas/demo/chain");
    assert_eq!(resp.status, 200, "{resp}");
    assert!(
        resp.text().contains(on_disk.trim()),
        "the chain holds the CA certificate: {resp}"
    );
    // The config string also names the CA (AD CS intermediaries use it).
    let resp = server.get("/api/v1/cas/localhost%2Fdemo/certificate");
    assert_eq!(
        resp.status, 200,
        "the config string resolves to the CA: {resp}"
    );

    // Health, OpenAPI.
    let resp = server.get("/healthz");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.text().trim(), "ok", "{resp}");
    let resp = server.get("/api/v1/openapi.json");
    assert_eq!(resp.status, 200, "{resp}");
    let doc = resp.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "not an OpenAPI 3 document: {resp}"
    );
    assert!(
        doc["paths"]["/api/v1/cas/{ca}/requests"].is_object(),
        "{resp}"
    );

    // Metrics after one issuance: the request counter, the latency histogram, the outbox lag
    // (reported after the delivery loop's first pass).
    server.issue("metrics.test");
    let resp = server.get("/metrics");
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.content_type.starts_with("text/plain"), "{resp}");
    let text = resp.text();
    assert!(
        text.contains("signet_requests_total{ca=\"demo\",status=\"issued\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("signet_issuance_latency_seconds_bucket{le=\"+Inf\"} 1"),
        "{text}"
    );
    common::wait_until(
        common::DELIVERY_TIMEOUT,
        "signet_outbox_lag{ca=\"demo\"} in /metrics",
        || server.metric("signet_outbox_lag{ca=\"demo\"}"),
    );
}

/// Checks one issued leaf: openssl verify (strict), 20-byte positive serial, v3, SKI/AKI,
/// keyUsage, EKU serverAuth, the CN as a DNS SAN; pkilint.
fn check_leaf(server: &Server, leaf: &Path, cn: &str, rsa: bool, response_serial: Option<&str>) {
    let ca = server.ca_cert_path();
    openssl_verify(&ca, leaf);

    let serial = cert_serial(leaf);
    assert_eq!(
        serial.len(),
        40,
        "serial must be 20 bytes (40 hex digits), got {serial}"
    );
    let first = serial
        .chars()
        .next()
        .and_then(|c| c.to_digit(16))
        .expect("hex serial");
    assert!(
        first <= 7,
        "serial must be positive without a leading 00 (first hex digit <= 7): {serial}"
    );
    if let Some(s) = response_serial {
        assert!(
            s.eq_ignore_ascii_case(&serial),
            "response serial {s} differs from the certificate's {serial}"
        );
    }

    let text = cert_text(leaf);
    assert!(
        text.contains("Version: 3 (0x2)"),
        "not a v3 certificate:\n{text}"
    );
    assert!(
        text.contains("X509v3 Subject Key Identifier"),
        "no SKI:\n{text}"
    );
    assert!(
        text.contains("X509v3 Authority Key Identifier"),
        "no AKI:\n{text}"
    );
    let ca_text = cert_text(&ca);
    let ca_ski = ca_text
        .lines()
        .skip_while(|l| !l.contains("X509v3 Subject Key Identifier"))
        .nth(1)
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| panic!("CA certificate has no SKI:\n{ca_text}"));
    assert!(
        text.contains(&ca_ski),
        "the leaf's AKI must be the CA's SKI {ca_ski}:\n{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical"),
        "keyUsage must be present and critical:\n{text}"
    );
    assert!(
        text.contains("X509v3 Basic Constraints: critical") && text.contains("CA:FALSE"),
        "a leaf carries basicConstraints cA=FALSE:\n{text}"
    );
    assert!(
        text.contains("Digital Signature"),
        "keyUsage digitalSignature:\n{text}"
    );
    assert_eq!(
        text.contains("Key Encipherment"),
        rsa,
        "keyEncipherment is for RSA keys only (rsa = {rsa}):\n{text}"
    );
    assert!(
        text.contains("TLS Web Server Authentication"),
        "EKU serverAuth:\n{text}"
    );
    assert!(
        text.contains(&format!("DNS:{cn}")),
        "the CN must be added as a DNS SAN:\n{text}"
    );
    assert!(
        text.contains("CA:FALSE") || !text.contains("CA:TRUE"),
        "a leaf must not be a CA:\n{text}"
    );

    pkilint(leaf);
}

/// Test 2: issuance over REST (JSON and DER) and `signet request submit --out` for P-256,
/// P-384 and RSA-2048 requests.
#[test]
fn issue_over_rest_and_cli() {
    let server = Server::start(&[]);
    pkilint(&server.ca_cert_path());

    for key in ["p256", "p384", "rsa2048"] {
        let rsa = key.starts_with("rsa");

        // REST, JSON body.
        let cn = format!("{key}-rest.test");
        let csr = openssl_csr(&server.work, key, &format!("/CN={cn}"), &[]);
        let v = server.submit(&csr, None);
        assert_eq!(v["status"], "issued", "{key}: {v:#}");
        assert_eq!(v["ca"], "demo", "{v:#}");
        assert!(v["id"].as_i64().is_some_and(|id| id > 0), "{v:#}");
        let cert = v["certificate"]
            .as_str()
            .unwrap_or_else(|| panic!("issued without a certificate: {v:#}"));
        let chain = v["chain"]
            .as_array()
            .unwrap_or_else(|| panic!("issued without a chain: {v:#}"));
        let ca_pem = fs::read_to_string(server.ca_cert_path()).expect("cert.pem");
        assert_eq!(chain.len(), 1, "a root CA's chain is the root: {v:#}");
        assert_eq!(
            chain[0].as_str().map(str::trim),
            Some(ca_pem.trim()),
            "chain[0] is the CA certificate"
        );
        let leaf = write_pem(&server.work, &cn, cert);
        check_leaf(&server, &leaf, &cn, rsa, v["serial"].as_str());
        // Retrieval gives the same certificate.
        let id = v["id"].as_i64().expect("id");
        let again = server.request_status(id);
        assert_eq!(again["status"], "issued", "{again:#}");
        assert_eq!(
            again["certificate"], v["certificate"],
            "retrieve returns the issued certificate"
        );

        // CLI, --out writes the certificate and its chain.
        let cn = format!("{key}-cli.test");
        let csr = openssl_csr(&server.work, key, &format!("/CN={cn}"), &[]);
        let out = server.work_file(&format!("{cn}.pem"));
        let run = server.cli(&[
            "request",
            "submit",
            csr.to_str().expect("UTF-8"),
            "--out",
            out.to_str().expect("UTF-8"),
        ]);
        run.expect_code(0);
        assert!(run.stdout.contains("issued"), "{run}");
        let written = fs::read_to_string(&out)
            .unwrap_or_else(|e| panic!("--out {} not written ({e}): {run}", out.display()));
        assert_eq!(
            written.matches("-----BEGIN CERTIFICATE-----").count(),
            2,
            "--out holds leaf + CA: {written}"
        );
        check_leaf(&server, &common::first_pem(&out), &cn, rsa, None);
    }

    // DER body with Content-Type application/pkcs10.
    let csr = openssl_csr(&server.work, "p256", "/CN=der.test", &[]);
    let resp = server.post(
        "/api/v1/cas/demo/requests",
        "application/pkcs10",
        &csr_der(&csr),
    );
    assert_eq!(resp.status, 201, "{resp}");
    let v = resp.json();
    assert_eq!(v["status"], "issued", "{v:#}");
    let leaf = write_pem(
        &server.work,
        "der",
        v["certificate"].as_str().expect("certificate"),
    );
    check_leaf(&server, &leaf, "der.test", false, v["serial"].as_str());

    // DER on the CLI's standard input, --json output, and the CA named by its config string.
    let csr = openssl_csr(&server.work, "p256", "/CN=stdin.test", &[]);
    let run = server.cli_stdin(
        &["request", "submit", "-", "--json", "--ca", "localhost/demo"],
        Some(&csr_der(&csr)),
    );
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("--json output is not JSON ({e}): {run}"));
    assert_eq!(v["status"], "issued", "{run}");
    let leaf = write_pem(
        &server.work,
        "stdin",
        v["certificate"].as_str().expect("certificate"),
    );
    check_leaf(&server, &leaf, "stdin.test", false, v["serial"].as_str());
}

/// Test 5: the default profiles deny what they do not allow, naming it; manual approval.
#[test]
fn policy_denies_and_pends() {
    let server = Server::start(&[]);

    // A DNS name outside the allowed suffixes (localhost, test).
    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=app.test",
        &["DNS:app.test", "DNS:evil.example.org"],
    );
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("evil.example.org"),
        "the denial names the offending DNS name: {v:#}"
    );
    assert!(
        v.get("certificate").is_none() && v.get("serial").is_none(),
        "a denial carries no certificate: {v:#}"
    );
    let id = v["id"]
        .as_i64()
        .expect("a denied request is stored and has an id");
    assert_eq!(
        server.request_status(id)["status"],
        "denied",
        "the denial is stored"
    );
    let run = server.cli(&["request", "submit", csr.to_str().expect("UTF-8")]);
    run.expect_code(3);
    assert!(
        run.stdout.contains("denied") && run.stdout.contains("evil.example.org"),
        "{run}"
    );

    // O= in the subject on the server profile (CN only).
    let csr = openssl_csr(&server.work, "p256", "/CN=app.test/O=Acme Corp", &[]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("O=Acme Corp") || message.contains("O="),
        "the denial names the O attribute: {v:#}"
    );

    // Two CNs: relying parties disagree on which one counts.
    let csr = openssl_csr(&server.work, "p256", "/CN=app.test/CN=evil.test", &[]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("more than one CN"),
        "{v:#}"
    );

    // A requested purpose beyond the profile's is refused, not silently dropped.
    let eku_csr = server.work.join("eku.csr");
    let eku_key = server.work.join("eku.key");
    let run = common::run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            eku_key.to_str().expect("UTF-8"),
            "-subj",
            "/CN=app.test",
            "-addext",
            "extendedKeyUsage=serverAuth,codeSigning",
            "-out",
            eku_csr.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let v = server.submit(&eku_csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1.3.6.1.5.5.7.3.3"),
        "the denial names codeSigning's OID: {v:#}"
    );

    // An Ed25519 key on the server profile (p256, p384, rsa).
    let csr = openssl_csr(&server.work, "ed25519", "/CN=app.test", &[]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    let message = v["message"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        message.contains("ed25519"),
        "the denial names the key algorithm: {v:#}"
    );

    // The CN itself outside the allowed names.
    let csr = openssl_csr(&server.work, "p256", "/CN=www.example.net", &[]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("www.example.net"),
        "{v:#}"
    );

    // An IP SAN inside the loopback range is allowed.
    let csr = openssl_csr(&server.work, "p256", "/CN=localhost", &["IP:127.0.0.1"]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "issued", "loopback IP SANs are allowed: {v:#}");

    // Manual approval: pending, CLI exit 2, `request status` shows pending.
    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=manual.test/O=Acme/C=DE",
        &["DNS:manual.test"],
    );
    let v = server.submit(&csr, Some("manual"));
    assert_eq!(v["status"], "pending", "{v:#}");
    assert!(v.get("certificate").is_none(), "{v:#}");
    let run = server.cli(&[
        "request",
        "submit",
        csr.to_str().expect("UTF-8"),
        "--profile",
        "manual",
    ]);
    run.expect_code(2);
    assert!(run.stdout.contains("pending"), "{run}");
    let id = v["id"].as_i64().expect("id").to_string();
    let run = server.cli(&["request", "status", &id]);
    run.expect_code(2);
    assert!(run.stdout.contains("pending"), "{run}");
    let run = server.cli(&["request", "status", &id, "--json"]);
    run.expect_code(2);
    let j: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    assert_eq!(j["status"], "pending", "{run}");
    assert_eq!(
        j["id"].as_i64().map(|i| i.to_string()),
        Some(id.clone()),
        "{run}"
    );
}

/// Test 5 (continued): `--domain` replaces the default DNS suffixes.
#[test]
fn init_domain_sets_allowed_names() {
    let server = Server::start(&["--domain", "example.com"]);
    let v = server.issue("www.example.com");
    let leaf = write_pem(
        &server.work,
        "www",
        v["certificate"].as_str().expect("certificate"),
    );
    assert!(cert_text(&leaf).contains("DNS:www.example.com"));

    let csr = openssl_csr(&server.work, "p256", "/CN=www.other.com", &[]);
    let v = server.submit(&csr, None);
    assert_eq!(v["status"], "denied", "{v:#}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("www.other.com"),
        "the denial names the name: {v:#}"
    );
    assert!(
        message.contains("example.com"),
        "the denial lists the allowed suffixes: {v:#}"
    );

    // The defaults are replaced, not extended.
    let csr = openssl_csr(&server.work, "p256", "/CN=app.test", &[]);
    assert_eq!(
        server.submit(&csr, None)["status"],
        "denied",
        "--domain replaces the default suffixes"
    );
}

/// Test 6: a pending request survives a graceful restart with the same id.
#[test]
fn pending_request_survives_restart() {
    let mut server = Server::start(&[]);
    let csr = openssl_csr(&server.work, "p256", "/CN=later.test", &[]);
    let v = server.submit(&csr, Some("manual"));
    assert_eq!(v["status"], "pending", "{v:#}");
    let id = v["id"].as_i64().expect("id");
    let subject_before = server.request_status(id);

    server.restart();

    let after = server.request_status(id);
    assert_eq!(after["id"].as_i64(), Some(id), "{after:#}");
    assert_eq!(
        after["status"], "pending",
        "still pending after a restart: {after:#}"
    );
    assert_eq!(after["message"], subject_before["message"], "{after:#}");
    let run = server.cli(&["request", "status", &id.to_string()]);
    run.expect_code(2);

    // The database keeps counting after the restart.
    let next = server.issue("after-restart.test");
    assert!(
        next["id"].as_i64().is_some_and(|n| n > id),
        "ids keep increasing across restarts: {next:#}"
    );

    // And the same after a crash.
    server.kill();
    server.serve();
    assert_eq!(
        server.request_status(id)["status"],
        "pending",
        "still pending after SIGKILL"
    );
}
