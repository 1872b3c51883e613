//! The `chain` and `rules` policy modules through the running server: `profiles` builds the
//! certificate, then CEL rules deny, hold for approval or pass; a bad rule stops the load
//! with a message naming it; a rule that fails at run time fails the request, not the CA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;
use serde_json::{Value, json};

const RULES: &str = r#"
[[ca.policy.chain.rules]]
name = "no-blocked-names"
when = 'cert.dns.exists(d, d.startsWith("blocked."))'
action = "deny"
message = "names under blocked. are not issued"

[[ca.policy.chain.rules]]
name = "review-ticket"
when = '"ticket" in request.attributes && request.attributes["ticket"] == "review"'
action = "pending"
message = "ticket review: a certificate manager must approve"

[[ca.policy.chain.rules]]
name = "short-lived-only"
when = 'cert.validity_days > 397'
action = "deny"
"#;

fn submit(server: &Server, cn: &str, attributes: Value) -> Value {
    let csr = openssl_csr(&server.work, "p256", &format!("/CN={cn}"), &[]);
    let pem = fs::read_to_string(&csr).unwrap();
    let body = json!({ "csr": pem, "profile": "server", "attributes": attributes });
    let resp = server.post_json(&format!("/api/v1/cas/{}/requests", server.ca), &body);
    assert!(resp.status == 200 || resp.status == 201, "{resp}");
    resp.json()
}

#[test]
fn rules_deny_hold_and_pass_after_profiles() {
    let mut server = Server::init(&["--dev"]);
    chain_policy(&server, RULES);
    server.serve();
    let mgr = server.create_token(&["manager"], "mgr");

    // Discovery reports the chain.
    let cas = server.get("/api/v1/cas").json();
    assert_eq!(cas[0]["policy"], "profiles+rules", "{cas:#}");

    // Nothing matches: issued as the profile says, and openssl accepts it.
    let ok = submit(&server, "www.test", json!({}));
    assert_eq!(ok["status"], "issued", "{ok:#}");
    let pem = write_pem(&server.work, "ok", ok["certificate"].as_str().unwrap());
    openssl_verify(&server.ca_cert_path(), &pem);

    // The deny rule, with its message.
    let denied = submit(&server, "blocked.test", json!({}));
    assert_eq!(denied["status"], "denied", "{denied:#}");
    assert_eq!(denied["message"], "names under blocked. are not issued");

    // The pending rule holds a new request; the manager's approval resubmits it and the
    // rule no longer holds it.
    let held = submit(&server, "review.test", json!({ "ticket": "review" }));
    assert_eq!(held["status"], "pending", "{held:#}");
    assert_eq!(
        held["message"],
        "ticket review: a certificate manager must approve"
    );
    let id = held["id"].as_i64().unwrap();
    let approved = server.call(
        Some(&mgr),
        "POST",
        &format!("/api/v1/cas/{}/requests/{id}/approve", server.ca),
        Some(&json!({})),
    );
    assert_eq!(approved.status, 200, "{approved}");
    assert_eq!(approved.json()["status"], "issued", "{approved}");

    // A profile deny still comes first (the chain stops at the first deny).
    let outside = submit(&server, "www.elsewhere.example", json!({}));
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
fn rules_see_the_edits_of_the_modules_before_them() {
    // `cert.validity_days` is what `profiles` set (90 days), not something in the request.
    let mut server = Server::init(&["--dev"]);
    chain_policy(
        &server,
        r#"
[[ca.policy.chain.rules]]
name = "at-most-30-days"
when = 'cert.validity_days > 30'
action = "deny"
message = "longer than 30 days"
"#,
    );
    server.serve();
    let answer = submit(&server, "www.test", json!({}));
    assert_eq!(answer["status"], "denied", "{answer:#}");
    assert_eq!(answer["message"], "longer than 30 days");
}

#[test]
fn a_rule_failing_at_run_time_fails_the_request_not_the_ca() {
    let mut server = Server::init(&["--dev"]);
    chain_policy(
        &server,
        r#"
[[ca.policy.chain.rules]]
name = "missing-attribute"
when = 'request.attributes["nope"] == "x"'
action = "deny"
"#,
    );
    server.serve();
    let answer = submit(&server, "www.test", json!({}));
    assert_eq!(answer["status"], "failed", "{answer:#}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("policy module failed"),
        "{answer:#}"
    );
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn bad_rules_stop_the_load_with_a_clear_error() {
    for (rules, expect) in [
        (
            "[[ca.policy.chain.rules]]\nname = \"broken\"\nwhen = 'request.dns +'\naction = \"deny\"\n",
            "rule broken: `when` does not compile",
        ),
        (
            "[[ca.policy.chain.rules]]\nname = \"typo\"\nwhen = 'requets.dns.size() > 1'\naction = \"deny\"\n",
            "rule typo: unknown variable \"requets\"",
        ),
        (
            "[[ca.policy.chain.rules]]\nname = \"what\"\nwhen = 'true'\naction = \"maybe\"\n",
            "unknown variant `maybe`",
        ),
    ] {
        let mut server = Server::init(&["--dev"]);
        chain_policy(&server, rules);
        let failure = server.try_serve().expect_err("the load must fail");
        assert!(
            failure.stderr.contains(expect),
            "expected {expect:?} in:\n{}",
            failure.stderr
        );
    }
}
