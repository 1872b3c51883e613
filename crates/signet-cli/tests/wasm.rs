//! `wasm` policy and exit modules through the running server: the shipped examples
//! (examples/wasm) edit, hold and deny real requests and log real events; misbehaving
//! modules (tests/wasm) that loop, trap, grow or overrun their deadline fail the request or
//! the delivery, and the CA keeps serving; bad modules stop the load with a clear error.
#![cfg(feature = "wasm")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The non-critical extension the example policy records the ticket in.
const TICKET_OID: &str = "1.3.6.1.4.1.32473.7.1";

fn module_file(relative: &str) -> PathBuf {
    workspace_root().join(relative)
}

/// Copies a built module into the data directory, so the configuration names it relative
/// to the data directory as an administrator would.
fn install(server: &Server, relative: &str) -> String {
    let from = module_file(relative);
    let name = from.file_name().unwrap().to_string_lossy().into_owned();
    fs::create_dir_all(server.data.join("modules")).unwrap();
    fs::copy(&from, server.data.join("modules").join(&name))
        .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    format!("modules/{name}")
}

/// Turns the template's `profiles` policy into a chain of `profiles` and a `wasm` module
/// (`entry`: the wasm entry's keys), and appends `exits` (whole `[[ca.exit]]` tables).
fn configure(server: &Server, entry: &str, exits: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    let head = "[ca.policy]\nmodule = \"profiles\"\n";
    let marker = "# Exit modules (AD CS ICertExit)";
    assert!(
        text.contains(head) && text.contains(marker),
        "the template changed:\n{text}"
    );
    let mut text = text;
    if !entry.is_empty() {
        text = text
            .replace(
                head,
                "[ca.policy]\nmodule = \"chain\"\n\n[[ca.policy.chain]]\nmodule = \"profiles\"\n",
            )
            .replace("[ca.policy.profiles.", "[ca.policy.chain.profiles.")
            .replace(
                marker,
                &format!("[[ca.policy.chain]]\nmodule = \"wasm\"\n{entry}\n\n{marker}"),
            );
    }
    text.push_str(exits);
    fs::write(&path, text).unwrap();
}

fn submit(server: &Server, cn: &str, sans: &[&str], attributes: Value) -> Value {
    let csr = openssl_csr(&server.work, "p256", &format!("/CN={cn}"), sans);
    let pem = fs::read_to_string(&csr).unwrap();
    let body = json!({ "csr": pem, "profile": "server", "attributes": attributes });
    let resp = server.post_json(&format!("/api/v1/cas/{}/requests", server.ca), &body);
    assert!(resp.status == 200 || resp.status == 201, "{resp}");
    resp.json()
}

fn wait_for_log(server: &Server, needle: &str) {
    wait_until(Duration::from_secs(15), needle, || {
        server.log().contains(needle).then_some(())
    });
}

#[test]
fn the_example_policy_module_denies_holds_edits_and_issues() {
    let mut server = Server::init(&["--dev"]);
    let path = install(&server, "examples/wasm/ticket-policy.wasm");
    configure(&server, &format!("path = \"{path}\""), "");
    server.serve();
    let mgr = server.create_token(&["manager"], "mgr");
    assert_eq!(
        server.get("/api/v1/cas").json()[0]["policy"],
        "profiles+wasm"
    );
    wait_for_log(&server, "ticket-policy ready for CA demo");

    // No ticket: denied, with the module's message.
    let denied = submit(&server, "www.test", &[], json!({}));
    assert_eq!(denied["status"], "denied", "{denied:#}");
    assert_eq!(
        denied["message"],
        "the request needs a `ticket` attribute of 1 to 64 bytes"
    );

    // A pre-approved change issues at once, with the ticket in the module's extension,
    // after `profiles` built the rest of the certificate.
    let issued = submit(&server, "www.test", &[], json!({ "ticket": "CHG-4711" }));
    assert_eq!(issued["status"], "issued", "{issued:#}");
    let pem = write_pem(&server.work, "chg", issued["certificate"].as_str().unwrap());
    openssl_verify(&server.ca_cert_path(), &pem);
    let text = cert_text(&pem);
    assert!(text.contains(TICKET_OID), "{text}");
    assert!(text.contains("CHG-4711"), "{text}");
    assert!(
        text.contains("DNS:www.test"),
        "profiles still built the SANs:\n{text}"
    );
    let der = run_program(
        "openssl",
        &["x509", "-in", pem.to_str().unwrap(), "-outform", "DER"],
    );
    assert_eq!(der.code, 0);
    let findings = pkilint_findings("lint_pkix_cert", &[], &pem);
    let errors: Vec<_> = findings.iter().filter(|f| is_error_finding(f)).collect();
    assert!(errors.is_empty(), "pkilint: {errors:#?}");
    wait_for_log(&server, "ticket CHG-4711");

    // Any other ticket waits for a manager; the approval resubmits (new-request = false)
    // and the module lets it through.
    let held = submit(&server, "www.test", &[], json!({ "ticket": "INC-12" }));
    assert_eq!(held["status"], "pending", "{held:#}");
    assert_eq!(
        held["message"],
        "ticket is not a pre-approved change (CHG-...): a certificate manager must approve"
    );
    let id = held["id"].as_i64().unwrap();
    let approved = server.call(
        Some(&mgr),
        "POST",
        &format!("/api/v1/cas/{}/requests/{id}/approve", server.ca),
        Some(&json!({})),
    );
    assert_eq!(approved.status, 200, "{approved}");
    let approved = approved.json();
    assert_eq!(approved["status"], "issued", "{approved:#}");
    let pem = write_pem(
        &server.work,
        "inc",
        approved["certificate"].as_str().unwrap(),
    );
    assert!(cert_text(&pem).contains("INC-12"));

    // `profiles` still denies first: the wasm module never sees a request it refused.
    let outside = submit(
        &server,
        "www.elsewhere.example",
        &[],
        json!({ "ticket": "CHG-1" }),
    );
    assert_eq!(outside["status"], "denied", "{outside:#}");
    assert!(
        outside["message"]
            .as_str()
            .unwrap()
            .contains("www.elsewhere.example"),
        "{outside:#}"
    );
}

#[test]
fn the_example_exit_module_logs_issued_and_revoked_certificates() {
    let mut server = Server::init(&["--dev"]);
    let path = install(&server, "examples/wasm/log-exit.wasm");
    configure(
        &server,
        "",
        &format!("\n[[ca.exit]]\nname = \"wasm-log\"\nmodule = \"wasm\"\npath = \"{path}\"\n"),
    );
    server.serve();
    let requester = server.create_token(&["requester"], "alice");
    let mgr = server.create_token(&["manager"], "mgr");
    let csr = openssl_csr(&server.work, "p256", "/CN=exit.test", &[]);
    let body = json!({ "csr": fs::read_to_string(&csr).unwrap(), "profile": "server" });
    let resp = server.call(
        Some(&requester),
        "POST",
        &format!("/api/v1/cas/{}/requests", server.ca),
        Some(&body),
    );
    assert!(resp.status == 200 || resp.status == 201, "{resp}");
    let issued = resp.json();
    assert_eq!(issued["status"], "issued", "{issued:#}");
    let serial = issued["serial"].as_str().unwrap().to_string();
    wait_for_log(&server, &format!("issued {serial} CN=exit.test to alice"));

    let r = server.call(
        Some(&mgr),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", server.ca),
        Some(&json!({ "reason": "superseded" })),
    );
    assert_eq!(r.status, 200, "{r}");
    wait_for_log(&server, &format!("revoked {serial} CN=exit.test to alice"));
    // The module asked for Issued and Revoked only: a denial reaches it not.
    let denied = submit(&server, "www.elsewhere.example", &[], json!({}));
    assert_eq!(denied["status"], "denied");
    server.stop_ok();
    assert!(
        !server.log().contains("exit delivery failed"),
        "{}",
        server.log()
    );
}

#[test]
fn a_misbehaving_policy_module_fails_the_request_and_the_ca_keeps_serving() {
    let mut server = Server::init(&["--dev"]);
    let path = install(&server, "crates/signet-cli/tests/wasm/misbehave.wasm");
    configure(
        &server,
        &format!("path = \"{path}\"\nfuel = 5_000_000\nmemory_mb = 4\ndeadline_ms = 2000"),
        "",
    );
    server.serve();

    for (mode, in_log) in [
        ("loop", "ran out of fuel (5000000 units)"),
        ("grow", "exceeded its memory limit of 4 MiB"),
        ("trap", "wasm trap: wasm `unreachable` instruction executed"),
    ] {
        let answer = submit(&server, "www.test", &[], json!({ "mode": mode }));
        assert_eq!(answer["status"], "failed", "{mode}: {answer:#}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("policy module failed"),
            "{mode}: {answer:#}"
        );
        wait_for_log(&server, in_log);
        assert_eq!(server.get("/healthz").status, 200, "{mode}");
    }

    // The CA refuses an edit it manages; the module passes the refusal on as its deny.
    let reserved = submit(&server, "www.test", &[], json!({ "mode": "reserved" }));
    assert_eq!(reserved["status"], "denied", "{reserved:#}");
    assert!(
        reserved["message"]
            .as_str()
            .unwrap()
            .contains("2.5.29.14 is managed by the CA"),
        "{reserved:#}"
    );

    // Reading the request: the module denies with the SubjectAltNames property.
    let sans = submit(
        &server,
        "www.test",
        &["DNS:www.test", "DNS:api.test"],
        json!({ "mode": "sans" }),
    );
    assert_eq!(sans["status"], "denied", "{sans:#}");
    assert_eq!(sans["message"], "DNS:www.test, DNS:api.test");

    // Editing the certificate: the subject the module set is the one issued.
    let edited = submit(&server, "www.test", &[], json!({ "mode": "edit" }));
    assert_eq!(edited["status"], "issued", "{edited:#}");
    let pem = write_pem(
        &server.work,
        "edited",
        edited["certificate"].as_str().unwrap(),
    );
    openssl_verify(&server.ca_cert_path(), &pem);
    let subject = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            pem.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
        ],
    );
    assert_eq!(
        subject.stdout.trim(),
        "subject=CN=edited by wasm",
        "{subject}"
    );

    // And a well-behaved request after all that issues as usual.
    let fine = submit(&server, "www.test", &[], json!({}));
    assert_eq!(fine["status"], "issued", "{fine:#}");
}

#[test]
fn the_deadline_stops_a_module_that_fuel_alone_would_let_run() {
    let mut server = Server::init(&["--dev"]);
    let path = install(&server, "crates/signet-cli/tests/wasm/misbehave.wasm");
    configure(
        &server,
        &format!("path = \"{path}\"\nfuel = 10_000_000_000\ndeadline_ms = 50"),
        "",
    );
    server.serve();
    let answer = submit(&server, "www.test", &[], json!({ "mode": "loop" }));
    assert_eq!(answer["status"], "failed", "{answer:#}");
    wait_for_log(&server, "exceeded its deadline of about 50 ms");
    let fine = submit(&server, "www.test", &[], json!({}));
    assert_eq!(fine["status"], "issued", "{fine:#}");
}

#[test]
fn a_failing_exit_module_is_retried_and_holds_up_nobody_else() {
    for (mode, in_log) in [
        ("fail", "notify: the module reported: refused by flaky-exit"),
        (
            "trap",
            "notify: wasm trap: wasm `unreachable` instruction executed",
        ),
        ("loop", "notify: ran out of fuel"),
    ] {
        let mut server = Server::init(&["--dev"]);
        let path = install(&server, "crates/signet-cli/tests/wasm/flaky-exit.wasm");
        let files = server.data.join("exit-files");
        configure(
            &server,
            "",
            &format!(
                "\n[[ca.exit]]\nname = \"flaky\"\nmodule = \"wasm\"\npath = \"{path}\"\n\n\
                 [[ca.exit]]\nname = \"archive\"\nmodule = \"file\"\ndirectory = \"{}\"\nevents = [\"Issued\"]\n",
                files.display()
            ),
        );
        server.serve();

        let first = submit(&server, "www.test", &[], json!({ "exit": mode }));
        assert_eq!(first["status"], "issued", "{mode}: {first:#}");
        let second = submit(&server, "api.test", &[], json!({}));
        assert_eq!(second["status"], "issued", "{mode}: {second:#}");

        // The file module got both, while the wasm module keeps failing on the first.
        for answer in [&first, &second] {
            let serial = answer["serial"].as_str().unwrap();
            wait_until(
                Duration::from_secs(15),
                "the archive has the certificate",
                || files.join(format!("{serial}.pem")).exists().then_some(()),
            );
        }
        wait_for_log(&server, in_log);
        wait_for_log(&server, "exit delivery failed; will retry");
        // In order: the second event waits behind the first, which is never acknowledged.
        // The CA's own OCSP responder, SCEP RA and CMP responder certificates (issued at
        // start, no `exit` attribute) were delivered before either.
        let delivered = server.log().matches("flaky-exit delivered").count();
        assert_eq!(
            delivered, 3,
            "{mode}: only the CA's own service certificates got through"
        );
        assert_eq!(server.get("/healthz").status, 200, "{mode}");
        server.stop_ok();
    }
}

/// Prepares a bad module in a server's data directory and returns its chain entry.
type Entry = dyn Fn(&Server) -> String;

#[test]
fn bad_modules_stop_the_load_with_a_clear_error() {
    let cases: [(&str, &Entry, &str); 6] = [
        (
            "missing file",
            &|_| "path = \"modules/nope.wasm\"".into(),
            "modules/nope.wasm: No such file",
        ),
        (
            "not wasm",
            &|s| {
                fs::create_dir_all(s.data.join("modules")).unwrap();
                fs::write(s.data.join("modules/junk.wasm"), b"not a module").unwrap();
                "path = \"modules/junk.wasm\"".into()
            },
            "not a valid component",
        ),
        (
            "core module",
            &|s| {
                fs::create_dir_all(s.data.join("modules")).unwrap();
                fs::write(s.data.join("modules/core.wasm"), b"\0asm\x01\0\0\0").unwrap();
                "path = \"modules/core.wasm\"".into()
            },
            "is a core WebAssembly module, not a component",
        ),
        (
            "exit module as policy",
            &|s| format!("path = \"{}\"", install(s, "examples/wasm/log-exit.wasm")),
            "not a Signet policy module (world signet:modules/policy)",
        ),
        (
            "no fuel",
            &|s| {
                format!(
                    "path = \"{}\"\nfuel = 0",
                    install(s, "examples/wasm/ticket-policy.wasm")
                )
            },
            "fuel must be between 1 and",
        ),
        (
            "unknown key",
            &|s| {
                format!(
                    "path = \"{}\"\nfule = 10",
                    install(s, "examples/wasm/ticket-policy.wasm")
                )
            },
            "unknown field `fule`",
        ),
    ];
    for (what, entry, expect) in cases {
        let mut server = Server::init(&["--dev"]);
        let entry = entry(&server);
        configure(&server, &entry, "");
        let failure = server.try_serve().expect_err(what);
        assert!(
            failure.stderr.contains(expect),
            "{what}: expected {expect:?} in:\n{}",
            failure.stderr
        );
    }

    // initialize refuses: the CA does not start, and says which module refused.
    let mut server = Server::init(&["--dev", "--ca", "refuse-me"]);
    let path = install(&server, "crates/signet-cli/tests/wasm/misbehave.wasm");
    configure(&server, &format!("path = \"{path}\""), "");
    let failure = server.try_serve().expect_err("initialize refuses");
    assert!(
        failure
            .stderr
            .contains("the module refused to start: misbehave refuses this CA"),
        "{}",
        failure.stderr
    );
}
