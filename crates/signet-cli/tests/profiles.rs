//! Profile options through the running server: a client-authentication profile whose subject
//! comes from the authenticated identity (not from the request) issues without review, and
//! `signet doctor` does not flag it, because the requester cannot choose whom it names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;

const VPN: &str = r#"
[ca.policy.profiles.vpn]
description = "VPN client certificates for the authenticated identity, issued at once"
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
subject_from = "identity"
require_san = false
key_usage = ["digitalSignature"]
extended_key_usage = ["clientAuth"]

"#;

fn with_vpn_profile(server: &Server) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    let exits = "# Exit modules (AD CS ICertExit)";
    assert!(text.contains(exits));
    fs::write(&path, text.replace(exits, &format!("{VPN}{exits}"))).unwrap();
}

#[test]
fn the_subject_comes_from_the_identity_not_the_request() {
    let mut server = Server::init(&["--dev"]);
    with_vpn_profile(&server);
    // Nothing for doctor: the requester cannot name anyone but itself.
    let data = server.data.display().to_string();
    run_signet(&["doctor", "--data", &data], &[], None).expect_code(0);
    server.serve();

    // The request claims to be the administrator; the certificate names the requester.
    let csr = openssl_csr(&server.work, "p256", "/CN=administrator/O=Evil", &[]);
    let answer = server.submit(&csr, Some("vpn"));
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let pem = write_pem(&server.work, "vpn", answer["certificate"].as_str().unwrap());
    let text = cert_text(&pem);
    assert!(text.contains("Subject: CN = tester"), "{text}");
    assert!(!text.contains("administrator"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    openssl_verify(&server.ca_cert_path(), &pem);

    // A name the profile does not allow is still refused.
    let csr = openssl_csr(&server.work, "p256", "/CN=x", &["DNS:www.test"]);
    let answer = server.submit(&csr, Some("vpn"));
    assert_eq!(answer["status"], "denied", "{answer:#}");
}

#[test]
fn subject_from_identity_is_refused_where_it_cannot_work() {
    for (extra, expect) in [
        ("anonymous = true\n", "not with anonymous = true"),
        ("common_name_as_dns = true\n", "not with common_name_as_dns"),
    ] {
        let mut server = Server::init(&["--dev"]);
        let path = server.data.join("signet.toml");
        let text = fs::read_to_string(&path).unwrap();
        let exits = "# Exit modules (AD CS ICertExit)";
        let profile = VPN.replace(
            "require_san = false\n",
            &format!("require_san = false\n{extra}"),
        );
        fs::write(&path, text.replace(exits, &format!("{profile}{exits}"))).unwrap();
        let failure = server.try_serve().expect_err("the load must fail");
        assert!(failure.stderr.contains(expect), "{}", failure.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// Forced and required subject attributes, unique keys, renewal, backdating, subordinate
// CAs with name constraints, static and copied extensions.
// ---------------------------------------------------------------------------------------

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const MORE_PROFILES: &str = r#"
[ca.policy.profiles.org]
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
subject_attributes = ["CN", "OU"]
subject_forced = { O = "Example Corp", C = "US" }
subject_required = ["CN"]
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.uniq]
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
unique_key = true
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.renew]
approval = "manual"
renewal = true
validity_days = 30
key_algorithms = ["p256"]
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.early]
approval = "auto"
validity_days = 30
backdate = "30s"
key_algorithms = ["p256"]
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]

[ca.policy.profiles.subca]
description = "subordinate CAs for example.com and 10.0.0.0/8, approved by a manager"
approval = "manual"
ca = true
path_len = 0
validity_days = 365
key_algorithms = ["p256"]
subject_attributes = ["CN", "O"]
key_usage = ["keyCertSign", "cRLSign", "digitalSignature"]
extended_key_usage = []
permitted_dns = ["example.com"]
excluded_dns = ["bad.example.com"]
permitted_ip = ["10.0.0.0/8"]
permitted_email = ["example.com"]

[ca.policy.profiles.ext]
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]
copy_request_extensions = ["1.3.6.1.4.1.55555.2"]

[[ca.policy.profiles.ext.extensions]]
oid = "1.3.6.1.4.1.55555.1"
critical = false
value = "0c0b7374617469632d74657374"
"#;

/// A server with `MORE_PROFILES` configured and started.
fn more_profiles() -> Server {
    let mut server = Server::init(&["--dev"]);
    server.append_config(MORE_PROFILES);
    server.serve();
    server
}

/// A CSR for an existing key (or a new P-256 key when `key` is `None`), with extra
/// `-addext` arguments; returns the CSR path (a new key is written beside it, `.key`).
fn csr_with(dir: &Path, key: Option<&Path>, subj: &str, addext: &[&str]) -> PathBuf {
    let csr = unique(dir, subj, "csr");
    let new_key = csr.with_extension("key");
    let mut args: Vec<String> = vec!["req".into(), "-new".into()];
    match key {
        Some(k) => args.extend(["-key".into(), k.display().to_string()]),
        None => args.extend([
            "-newkey".into(),
            "ec".into(),
            "-pkeyopt".into(),
            "ec_paramgen_curve:P-256".into(),
            "-nodes".into(),
            "-keyout".into(),
            new_key.display().to_string(),
        ]),
    }
    args.extend([
        "-subj".into(),
        subj.into(),
        "-out".into(),
        csr.display().to_string(),
    ]);
    for e in addext {
        args.extend(["-addext".into(), (*e).to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_program("openssl", &refs);
    assert_eq!(run.code, 0, "making a CSR failed: {run}");
    csr
}

/// Submits a CSR as the holder of `token` and returns the 201 body.
fn submit_as(server: &Server, token: &str, csr: &Path, profile: &str) -> Value {
    let pem = fs::read_to_string(csr).unwrap();
    let resp = server.call(
        Some(token),
        "POST",
        &format!("/api/v1/cas/{}/requests", server.ca),
        Some(&json!({ "csr": pem, "profile": profile })),
    );
    assert_eq!(resp.status, 201, "{resp}");
    resp.json()
}

/// `signet ARGS --token TOKEN --server URL`, which must exit 0.
fn manage(server: &Server, token: &str, args: &[&str]) -> Run {
    let url = server.url();
    let mut full = args.to_vec();
    full.extend(["--token", token, "--server", url.as_str()]);
    let run = run_signet(&full, &[], None);
    assert_eq!(run.code, 0, "signet {args:?}: {run}");
    run
}

/// Approves a pending request and returns it as its requester sees it.
fn approve(server: &Server, manager: &str, requester: &str, pending: &Value) -> Value {
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let id = pending["id"].as_i64().unwrap();
    // Exit 0 when issued, 3 when the policy denies on resubmission: the caller looks.
    let url = server.url();
    let id_text = id.to_string();
    let run = run_signet(
        &[
            "admin", "approve", &id_text, "--token", manager, "--server", &url,
        ],
        &[],
        None,
    );
    assert!(run.code == 0 || run.code == 3, "approving {id}: {run}");
    let resp = server.call(
        Some(requester),
        "GET",
        &format!("/api/v1/cas/{}/requests/{id}", server.ca),
        None,
    );
    assert_eq!(resp.status, 200, "{resp}");
    resp.json()
}

fn cert_of(server: &Server, v: &Value, stem: &str) -> PathBuf {
    assert_eq!(v["status"], "issued", "{v:#}");
    write_pem(&server.work, stem, v["certificate"].as_str().unwrap())
}

/// The configuration fails to load with a message containing `expect`.
fn refused_at_load(profile: &str, expect: &str) {
    let mut server = Server::init(&["--dev"]);
    server.append_config(profile);
    let failure = server.try_serve().expect_err("the load must fail");
    assert!(
        failure.stderr.contains(expect),
        "expected {expect:?} in:\n{}",
        failure.stderr
    );
}

const BASE: &str = "approval = \"auto\"\nvalidity_days = 30\nkey_algorithms = [\"p256\"]\ncommon_name_as_dns = true\ndns_suffixes = [\"test\"]\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"serverAuth\"]\n";

#[test]
fn forced_subject_attributes_are_set_and_required_ones_demanded() {
    let server = more_profiles();
    let token = server.token.clone().unwrap();

    // The CA adds O and C, in order before OU and CN.
    let csr = csr_with(&server.work, None, "/CN=www.test/OU=Web", &[]);
    let cert = cert_of(&server, &submit_as(&server, &token, &csr, "org"), "org");
    let text = cert_text(&cert);
    assert!(
        text.contains("Subject: C = US, O = Example Corp, OU = Web, CN = www.test"),
        "{text}"
    );
    openssl_verify(&server.ca_cert_path(), &cert);
    pkilint(&cert);

    // The same value for a forced attribute is fine; a different one is named.
    let csr = csr_with(&server.work, None, "/O=Example Corp/CN=same.test", &[]);
    let cert = cert_of(&server, &submit_as(&server, &token, &csr, "org"), "same");
    assert!(
        cert_text(&cert).contains("Subject: C = US, O = Example Corp, CN = same.test"),
        "{}",
        cert_text(&cert)
    );
    for (subj, named) in [
        ("/O=Evil Corp/CN=evil.test", "O=Evil Corp"),
        ("/C=FR/CN=evil.test", "C=FR"),
        ("/OU=Web", "requires a CN"),
        ("/L=Paris/CN=evil.test", "L=Paris"),
    ] {
        let csr = csr_with(&server.work, None, subj, &[]);
        let v = submit_as(&server, &token, &csr, "org");
        assert_eq!(v["status"], "denied", "{subj}: {v:#}");
        assert!(
            v["message"].as_str().unwrap().contains(named),
            "{subj}: {v:#}"
        );
    }
}

#[test]
fn forced_and_required_attributes_are_checked_at_load() {
    let profile = |extra: &str| format!("[ca.policy.profiles.bad]\n{BASE}{extra}");
    refused_at_load(
        &profile("subject_attributes = [\"CN\", \"O\"]\nsubject_forced = { O = \"X\" }\n"),
        "subject_forced: O is set by the CA, so it cannot also be in subject_attributes",
    );
    refused_at_load(
        &profile("subject_forced = { C = \"USA\" }\n"),
        "subject_forced",
    );
    refused_at_load(
        &profile("subject_required = [\"OU\"]\n"),
        "subject_required: OU is not in subject_attributes",
    );
}

#[test]
fn a_key_certified_for_another_requester_is_refused() {
    let server = more_profiles();
    let alice = server.create_token(&["requester"], "alice");
    let bob = server.create_token(&["requester"], "bob");

    let first = csr_with(&server.work, None, "/CN=alice.test", &[]);
    let key = first.with_extension("key");
    cert_of(
        &server,
        &submit_as(&server, &alice, &first, "uniq"),
        "alice",
    );
    // Alice may certify her key again.
    let again = csr_with(&server.work, Some(&key), "/CN=alice2.test", &[]);
    cert_of(
        &server,
        &submit_as(&server, &alice, &again, "uniq"),
        "alice2",
    );

    // Bob may not, and the message names the key by its SHA-256.
    let stolen = csr_with(&server.work, Some(&key), "/CN=bob.test", &[]);
    let v = submit_as(&server, &bob, &stolen, "uniq");
    assert_eq!(v["status"], "denied", "{v:#}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("another requester"), "{v:#}");
    let spki = run_program(
        "sh",
        &[
            "-c",
            &format!(
                "openssl pkey -in {} -pubout -outform DER | openssl dgst -sha256 -r",
                key.display()
            ),
        ],
    );
    let digest = spki.stdout.split_whitespace().next().unwrap().to_string();
    assert!(message.contains(&digest), "{message} should name {digest}");

    // With a key of his own Bob is issued; a profile without unique_key does not look.
    let own = csr_with(&server.work, None, "/CN=bob.test", &[]);
    cert_of(&server, &submit_as(&server, &bob, &own, "uniq"), "bob");
    let other = csr_with(&server.work, Some(&key), "/CN=bob.test", &[]);
    let v = submit_as(&server, &bob, &other, "early");
    assert_eq!(v["status"], "issued", "{v:#}");
}

#[test]
fn renewal_of_a_held_subject_issues_without_approval() {
    let server = more_profiles();
    let alice = server.create_token(&["requester"], "alice");
    let bob = server.create_token(&["requester"], "bob");
    let manager = server.create_token(&["manager"], "mia");

    // The first certificate needs a manager.
    let csr = csr_with(&server.work, None, "/CN=r.test", &[]);
    let pending = submit_as(&server, &alice, &csr, "renew");
    let first = approve(&server, &manager, &alice, &pending);
    cert_of(&server, &first, "first");

    // The same subject again (a new key) issues at once.
    let csr = csr_with(&server.work, None, "/CN=r.test", &[]);
    let renewed = submit_as(&server, &alice, &csr, "renew");
    let cert = cert_of(&server, &renewed, "renewed");
    openssl_verify(&server.ca_cert_path(), &cert);

    // Another subject, another SAN set, or another requester waits for a manager.
    for (token, subj, sans) in [
        (&alice, "/CN=other.test", vec![]),
        (
            &alice,
            "/CN=r.test",
            vec!["subjectAltName=DNS:r.test,DNS:extra.test"],
        ),
        (&bob, "/CN=r.test", vec![]),
    ] {
        let csr = csr_with(&server.work, None, subj, &sans);
        let v = submit_as(&server, token, &csr, "renew");
        assert_eq!(v["status"], "pending", "{subj} {sans:?}: {v:#}");
    }

    // Once both of Alice's certificates are revoked (one only on hold), nothing is renewed.
    for (v, reason) in [(&first, "superseded"), (&renewed, "certificateHold")] {
        let serial = v["serial"].as_str().unwrap();
        manage(
            &server,
            &manager,
            &["admin", "revoke", serial, "--reason", reason],
        );
    }
    let csr = csr_with(&server.work, None, "/CN=r.test", &[]);
    let v = submit_as(&server, &alice, &csr, "renew");
    assert_eq!(v["status"], "pending", "{v:#}");
}

/// notBefore of a certificate as seconds since the epoch.
fn not_before(cert: &Path) -> i64 {
    let date = x509_field(cert, "-startdate", &[]);
    let secs = run_program("date", &["-u", "-d", &date, "+%s"]);
    secs.stdout.trim().parse().unwrap()
}

#[test]
fn backdate_moves_not_before_and_is_capped_at_load() {
    let server = more_profiles();
    let token = server.token.clone().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let csr = csr_with(&server.work, None, "/CN=early.test", &[]);
    let early = cert_of(&server, &submit_as(&server, &token, &csr, "early"), "early");
    let csr = csr_with(&server.work, None, "/CN=usual.test", &[]);
    let usual = cert_of(&server, &submit_as(&server, &token, &csr, "uniq"), "usual");
    let (early, usual) = (not_before(&early), not_before(&usual));
    // `signet init` dates the CA a minute back, and nothing starts before the CA: the
    // default 5 minutes stops there, 30 s does not reach it.
    let ca = not_before(&server.ca_cert_path());
    assert!(
        (now - early - 30).abs() <= 3,
        "30 s back: {early} vs now {now}"
    );
    assert_eq!(
        usual, ca,
        "the default backdate stops at the CA's notBefore"
    );
    assert!(early > ca);

    let profile =
        |backdate: &str| format!("[ca.policy.profiles.bad]\n{BASE}backdate = {backdate}\n");
    refused_at_load(&profile("\"25h\""), "backdate");
    refused_at_load(&profile("90000"), "more than the 24 hours");
    refused_at_load(&profile("\"5 minutes\""), "backdate");
}

#[test]
fn a_subordinate_ca_is_name_constrained_and_signs_leaves_openssl_verifies() {
    let server = more_profiles();
    let token = server.token.clone().unwrap();
    let manager = server.create_token(&["manager"], "mia");

    let csr = csr_with(&server.work, None, "/O=Example/CN=Example Issuing CA", &[]);
    let sub_key = csr.with_extension("key");
    let pending = submit_as(&server, &token, &csr, "subca");
    let sub = cert_of(
        &server,
        &approve(&server, &manager, &token, &pending),
        "sub",
    );
    let text = cert_text(&sub);
    for want in [
        "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0",
        "X509v3 Name Constraints: critical",
        "Permitted:\n                  DNS:example.com\n                  IP:10.0.0.0/255.0.0.0\n                  email:example.com",
        "Excluded:\n                  DNS:bad.example.com",
        "Certificate Sign, CRL Sign",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    assert!(!text.contains("Extended Key Usage"), "{text}");
    openssl_verify(&server.ca_cert_path(), &sub);
    // pkilint's RFC 5280 linter: lint_pkix_cert has no document-type option; it lints a
    // certificate with cA=TRUE as a CA certificate.
    pkilint(&sub);

    // openssl signs leaves with the subordinate CA's key; verification enforces the
    // constraints.
    let leaf = |cn: &str, san: &str| {
        let csr = csr_with(&server.work, None, &format!("/CN={cn}"), &[]);
        let ext = unique(&server.work, "leaf", "ext");
        fs::write(
            &ext,
            format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName={san}\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"),
        )
        .unwrap();
        let out = unique(&server.work, cn, "pem");
        let run = run_program(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr.display().to_string(),
                "-CA",
                &sub.display().to_string(),
                "-CAkey",
                &sub_key.display().to_string(),
                "-set_serial",
                "4242",
                "-days",
                "1",
                "-extfile",
                &ext.display().to_string(),
                "-out",
                &out.display().to_string(),
            ],
        );
        assert_eq!(run.code, 0, "openssl x509 -req: {run}");
        out
    };
    let verify = |cert: &Path| {
        run_program(
            "openssl",
            &[
                "verify",
                "-CAfile",
                &server.ca_cert_path().display().to_string(),
                "-untrusted",
                &sub.display().to_string(),
                &cert.display().to_string(),
            ],
        )
    };
    let inside = leaf("www.example.com", "DNS:www.example.com,IP:10.1.2.3");
    let run = verify(&inside);
    assert!(run.code == 0 && run.stdout.contains(": OK"), "{run}");
    for (cn, san) in [
        ("www.example.net", "DNS:www.example.net"),
        ("x.bad.example.com", "DNS:x.bad.example.com"),
        ("www.example.com", "DNS:www.example.com,IP:192.168.1.1"),
    ] {
        let outside = leaf(cn, san);
        let run = verify(&outside);
        assert_ne!(run.code, 0, "{san} is outside the name constraints: {run}");
        assert!(
            format!("{run}").contains("subtree violation"),
            "{san}: {run}"
        );
    }

    // The CA's own name is not given to a subordinate CA.
    let ca_subject = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            &server.ca_cert_path().display().to_string(),
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
        ],
    );
    let subj = ca_subject
        .stdout
        .trim()
        .strip_prefix("subject=")
        .unwrap()
        .to_string();
    let csr = csr_with(&server.work, None, &subj, &[]);
    let v = submit_as(&server, &token, &csr, "subca");
    assert_eq!(
        v["status"], "denied",
        "denied before any manager looks: {v:#}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("this CA's own name"),
        "{v:#}"
    );
}

#[test]
fn ca_profiles_are_checked_at_load() {
    let ca = "approval = \"manual\"\nca = true\nvalidity_days = 30\nkey_algorithms = [\"p256\"]\nkey_usage = [\"keyCertSign\"]\nextended_key_usage = []\n";
    let profile = |body: &str| format!("[ca.policy.profiles.bad]\n{body}");
    refused_at_load(
        &profile(&ca.replace("\"manual\"", "\"auto\"")),
        "allow_auto_ca = true",
    );
    refused_at_load(
        &profile(&ca.replace("[\"keyCertSign\"]", "[\"digitalSignature\"]")),
        "key_usage must include keyCertSign",
    );
    refused_at_load(
        &profile(&format!("{ca}permitted_dns = [\"*.example.com\"]\n")),
        "permitted_dns",
    );
    refused_at_load(
        &profile(&format!("{ca}permitted_ip = [\"10.0.0.1/8\"]\n")),
        "host bits",
    );
    refused_at_load(
        &profile(&format!("{BASE}path_len = 1\n")),
        "path_len applies to CA profiles only",
    );
    // With the explicit opt-in, an automatic CA profile loads.
    let mut server = Server::init(&["--dev"]);
    server.append_config(&profile(&format!(
        "{}allow_auto_ca = true\n",
        ca.replace("\"manual\"", "\"auto\"")
    )));
    server.serve();
}

#[test]
fn static_extensions_are_added_and_listed_request_extensions_copied() {
    let server = more_profiles();
    let token = server.token.clone().unwrap();
    let csr = csr_with(
        &server.work,
        None,
        "/CN=ext.test",
        &[
            "1.3.6.1.4.1.55555.2=ASN1:UTF8String:copied-test",
            "1.3.6.1.4.1.55555.3=ASN1:UTF8String:dropped-test",
        ],
    );
    let cert = cert_of(&server, &submit_as(&server, &token, &csr, "ext"), "ext");
    let text = cert_text(&cert);
    assert!(text.contains("1.3.6.1.4.1.55555.1:"), "{text}");
    assert!(text.contains("static-test"), "{text}");
    assert!(text.contains("1.3.6.1.4.1.55555.2:"), "{text}");
    assert!(text.contains("copied-test"), "{text}");
    assert!(
        !text.contains("55555.3") && !text.contains("dropped-test"),
        "{text}"
    );
    openssl_verify(&server.ca_cert_path(), &cert);
    pkilint(&cert);

    // A request without the listed extension is fine.
    let csr = csr_with(&server.work, None, "/CN=plain.test", &[]);
    let cert = cert_of(&server, &submit_as(&server, &token, &csr, "ext"), "plain");
    assert!(!cert_text(&cert).contains("55555.2"));
}

#[test]
fn extensions_the_profile_manages_cannot_be_set_or_copied() {
    let profile = |extra: &str| format!("[ca.policy.profiles.bad]\n{BASE}{extra}");
    let static_ext = |oid: &str, value: &str| {
        profile(&format!(
            "\n[[ca.policy.profiles.bad.extensions]]\noid = \"{oid}\"\nvalue = \"{value}\"\n"
        ))
    };
    refused_at_load(
        &static_ext("2.5.29.19", "3000"),
        "2.5.29.19 (basicConstraints)",
    );
    refused_at_load(
        &static_ext("1.2.3.4", "0c05"),
        "not one well-formed DER TLV",
    );
    refused_at_load(
        &static_ext("1.2.3.4", "0500 0500"),
        "not one well-formed DER TLV",
    );
    refused_at_load(&static_ext("1.2.3.4", "zz"), "not hex");
    refused_at_load(&static_ext("1.2.x", "0500"), "not a dotted OID");
    for oid in ["2.5.29.17", "2.5.29.37", "2.5.29.19", "1.3.6.1.5.5.7.1.1"] {
        refused_at_load(
            &profile(&format!("copy_request_extensions = [\"{oid}\"]\n")),
            &format!("copy_request_extensions: {oid} ("),
        );
    }
}
