//! The administration console in a real browser (Debian's chromium through playwright-core,
//! `tests/web/console.mjs`): managers review, edit, approve (M of N) and deny requests,
//! revoke a certificate and put another on hold and release it; an administrator publishes
//! CRLs and retries and skips exit deliveries; an auditor browses and verifies the audit log;
//! a requester and a form without its CSRF token are refused.
//!
//! The effects are then checked with oracles we did not write, over the REST API and with
//! openssl: the approved certificates verify against the CA, the revoked one is on the
//! published CRL with its reason, the denied request carries its reason, and the audit log
//! names the manager for each action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;
use serde_json::{Value, json};

/// Two `command` exits for the exits page: `flaky` fails while a flag file exists (and parks
/// an event after two attempts); `stuck` always fails and waits an hour between attempts.
fn exits_config(flag: &std::path::Path) -> String {
    format!(
        "[[ca.exit]]\nname = \"flaky\"\nmodule = \"command\"\nprogram = \"/bin/sh\"\n\
         args = [\"-c\", \"cat >/dev/null; if [ -e '{}' ]; then echo 'the hook is down' >&2; exit 3; fi\"]\n\
         events = [\"Issued\"]\nmax_attempts = 2\nbackoff_initial = \"100ms\"\nbackoff_max = \"200ms\"\n\n\
         [[ca.exit]]\nname = \"stuck\"\nmodule = \"command\"\nprogram = \"/bin/false\"\n\
         events = [\"Issued\"]\nmax_attempts = 100\nbackoff_initial = \"1h\"\nbackoff_max = \"1h\"\n",
        flag.display()
    )
}

/// A pending request for `/CN=cn` submitted with `token`; its id.
fn submit_as(server: &Server, token: &str, cn: &str, profile: &str) -> i64 {
    let v = server.submit_cn_as(token, cn, profile);
    assert_eq!(v["status"], "pending", "{v:#}");
    v["id"].as_i64().unwrap()
}

fn exit_row(server: &Server, token: &str, exit: &str) -> Value {
    let resp = server.call(Some(token), "GET", "/api/v1/cas/demo/exits", None);
    assert_eq!(resp.status, 200, "{resp}");
    resp.json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|r| r["exit"] == exit)
        .unwrap_or_else(|| panic!("no exit {exit}"))
}

#[test]
fn the_console_in_a_browser() {
    let mut server = Server::init(&["--dev"]);
    let flag = server.work.join("flaky-down");
    fs::write(&flag, "").unwrap();
    server.append_config(&exits_config(&flag));
    server.append_config(DUAL_PROFILE);
    server.serve();
    let requester = server.token.clone().unwrap();
    let mia = server.create_token(&["manager"], "mia");
    let max = server.create_token(&["manager"], "max");
    let ada = server.create_token(&["admin"], "ada");
    let aud = server.create_token(&["auditor"], "aud");

    let approve_id = submit_as(&server, &requester, "approve-me.test", "manual");
    let dual_id = submit_as(&server, &requester, "dual.test", "dual");
    let deny_id = submit_as(&server, &requester, "deny-me.test", "manual");
    let revoke = server.issue("revoke-me.test");
    let hold = server.issue("hold-me.test");
    let revoke_serial = revoke["serial"].as_str().unwrap().to_string();
    let hold_serial = hold["serial"].as_str().unwrap().to_string();

    // The exits page should show a parked event and a module stuck on one.
    wait_until(DELIVERY_TIMEOUT, "flaky parked and stuck failing", || {
        let flaky = exit_row(&server, &ada, "flaky");
        let stuck = exit_row(&server, &ada, "stuck");
        (flaky["parked"].as_u64() >= Some(1) && stuck["attempts"].as_u64() >= Some(1)).then_some(())
    });

    let Some((result, _out)) = browser(
        "console.mjs",
        &server,
        json!({
            "ca": server.ca,
            "requester": requester,
            "manager": mia,
            "manager2": max,
            "admin": ada,
            "auditor": aud,
            "approve_id": approve_id,
            "dual_id": dual_id,
            "deny_id": deny_id,
            "revoke_serial": revoke_serial,
            "hold_serial": hold_serial,
            "flag": flag.display().to_string(),
        }),
    ) else {
        return;
    };
    eprintln!("browser result: {result:#}");

    // The approved requests were issued and their certificates verify against the CA.
    for id in [approve_id, dual_id] {
        let v = server.request_status(id);
        assert_eq!(v["status"], "issued", "request {id}: {v:#}");
        let pem = write_pem(
            &server.work,
            &format!("issued-{id}"),
            v["certificate"].as_str().unwrap(),
        );
        openssl_verify(&server.ca_cert_path(), &pem);
    }
    let details = server.call(
        Some(&mia),
        "GET",
        &format!("/api/v1/cas/demo/requests/{approve_id}/details"),
        None,
    );
    assert_eq!(details.status, 200, "{details}");
    let details = details.json();
    let attributes = details["attributes"].to_string();
    assert!(
        attributes.contains("department") && attributes.contains("web-ops"),
        "the attribute edited in the browser: {details:#}"
    );
    let dual = server
        .call(
            Some(&mia),
            "GET",
            &format!("/api/v1/cas/demo/requests/{dual_id}/details"),
            None,
        )
        .json();
    let approvers: Vec<&str> = dual["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["mia", "max"], "{dual:#}");

    // The denied request has its status and the reason typed in the browser.
    let denied = server.request_status(deny_id);
    assert_eq!(denied["status"], "denied", "{denied:#}");
    assert_eq!(denied["message"], "not an approved host name", "{denied:#}");

    // The revoked certificate is on the CRL published from the browser, with its reason;
    // the released one is not.
    let crl = server.get("/crl/demo.crl");
    assert_eq!(crl.status, 200, "{crl}");
    let crl_path = server.work.join("console.crl");
    fs::write(&crl_path, &crl.body).unwrap();
    let text = run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl_path.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(text.code, 0, "{text}");
    let serial_upper = revoke_serial.to_uppercase();
    let entry = text
        .stdout
        .split("Serial Number: ")
        .find(|e| e.trim_start().starts_with(&serial_upper))
        .unwrap_or_else(|| panic!("{revoke_serial} is not on the CRL:\n{}", text.stdout));
    assert!(entry.contains("Key Compromise"), "{entry}");
    assert!(
        !text.stdout.contains(&hold_serial.to_uppercase()),
        "the released certificate is not on the CRL:\n{}",
        text.stdout
    );
    let held = server
        .call(
            Some(&mia),
            "GET",
            &format!("/api/v1/cas/demo/certificates/{hold_serial}"),
            None,
        )
        .json();
    assert_eq!(held["status"], "issued", "released: {held:#}");

    // The audit log names the manager and the administrator for what they did.
    let audit = server.call(Some(&aud), "GET", "/api/v1/audit", None);
    assert_eq!(audit.status, 200, "{audit}");
    let records: Vec<Value> = audit
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let did = |actor: &str, action: &str| {
        records
            .iter()
            .any(|r| r["actor"] == actor && r["action"] == action)
    };
    for action in [
        "web-sign-in",
        "set-attributes",
        "approve",
        "deny",
        "revoke",
        "unrevoke",
    ] {
        assert!(did("mia", action), "no {action} by mia in the audit log");
    }
    assert!(did("max", "approve"), "no approval by max");
    assert!(
        did("ada", "exit-retry") && did("ada", "exit-skip"),
        "exits by ada"
    );
    assert!(
        !did("tester", "approve"),
        "the requester's refused approval changed nothing"
    );
    let verify = server.call(Some(&aud), "GET", "/api/v1/audit/verify", None);
    assert_eq!(verify.status, 200, "{verify}");
}
