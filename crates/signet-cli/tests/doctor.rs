//! `signet doctor`: the configurations `signet init` writes report nothing; each risky
//! setting (one configuration per finding) is reported with its ESC name, why and fix, and
//! exit status 2 for a high-risk one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;
use serde_json::Value;

fn doctor(server: &Server) -> (i32, Vec<Value>) {
    let data = server.data.display().to_string();
    let run = run_signet(&["doctor", "--data", &data, "--json"], &[], None);
    assert!(
        run.code == 0 || run.code == 2,
        "signet doctor failed: {run}"
    );
    let findings: Value = serde_json::from_str(&run.stdout).expect("JSON findings");
    (run.code, findings.as_array().unwrap().clone())
}

/// Replaces `from` with `to` in signet.toml (which must contain it).
fn edit(server: &Server, from: &str, to: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "signet.toml has no {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The only finding is `id` at `severity`, and it explains itself.
fn only(findings: &[Value], id: &str, severity: &str) -> Value {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = findings[0].clone();
    assert_eq!(f["id"], id, "{f:#}");
    assert_eq!(f["severity"], severity, "{f:#}");
    assert!(f["why"].as_str().is_some_and(|w| w.len() > 40), "{f:#}");
    assert!(f["fix"].as_str().is_some_and(|w| w.len() > 10), "{f:#}");
    f
}

/// The profile section `signet init` writes for `manual`, to turn into a risky one.
const MANUAL: &str = "[ca.policy.profiles.manual]\ndescription = \"TLS server and client certificates, issued after a certificate manager approves\"\napproval = \"manual\"";

#[test]
fn the_configurations_init_writes_report_nothing() {
    let dev = Server::init(&["--dev"]);
    assert_eq!(doctor(&dev), (0, Vec::new()));
    let encrypted = Server::init_env(&[], &[("SIGNET_PASSPHRASE", "correct horse battery")]);
    assert_eq!(doctor(&encrypted), (0, Vec::new()));
    // The text form says so too.
    let data = dev.data.display().to_string();
    let run = run_signet(&["doctor", "--data", &data], &[], None);
    run.expect_code(0);
    assert!(run.stdout.contains("no risky settings"), "{run}");
}

#[test]
fn esc1_auto_issued_client_authentication_with_requester_names() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        MANUAL,
        &MANUAL.replace("approval = \"manual\"", "approval = \"auto\""),
    );
    // approvals = 1 is the default; with auto approval it must go (else CONFIG as well).
    edit(&server, "approvals = 1\n", "");
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    let f = only(&findings, "ESC1", "high");
    assert!(
        f["place"].as_str().unwrap().contains("profile manual"),
        "{f:#}"
    );

    // Restricting who may enroll closes it.
    let auto = MANUAL.replace("approval = \"manual\"", "approval = \"auto\"");
    edit(
        &server,
        &auto,
        &format!("{auto}\nenroll = [\"group:vpn-users\"]"),
    );
    assert_eq!(doctor(&server), (0, Vec::new()));
}

#[test]
fn esc2_any_purpose_and_no_purpose_profiles() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "extended_key_usage = [\"serverAuth\"]",
        "extended_key_usage = [\"2.5.29.37.0\"]",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    // The server refuses this profile at load, and doctor says that as well.
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["CONFIG", "ESC2"], "{findings:#?}");
    assert!(
        findings[1]["why"]
            .as_str()
            .unwrap()
            .contains("anyExtendedKeyUsage")
    );

    edit(&server, "[\"2.5.29.37.0\"]", "[]");
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "ESC2" && f["why"].as_str().unwrap().contains("empty")),
        "{findings:#?}"
    );
}

#[test]
fn esc3_enrollment_agent_certificates() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "extended_key_usage = [\"serverAuth\", \"clientAuth\"]",
        "extended_key_usage = [\"1.3.6.1.4.1.311.20.2.1\"]",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    only(&findings, "ESC3", "high");
    // Only named agents may enroll (and a manager approves): still reported, as medium.
    edit(
        &server,
        "extended_key_usage = [\"1.3.6.1.4.1.311.20.2.1\"]",
        "extended_key_usage = [\"1.3.6.1.4.1.311.20.2.1\"]\nenroll = [\"agent-1\"]",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    only(&findings, "ESC3", "medium");
}

#[test]
fn esc7_role_separation_off_and_dual_role_identities() {
    let server = Server::init(&["--dev"]);
    edit(&server, "role_separation = true", "role_separation = false");
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    only(&findings, "ESC7", "high");

    let server = Server::init(&["--dev"]);
    server.append_config(
        "[[identity]]\nname = \"root\"\nsubject = \"CN=root\"\nroles = [\"admin\", \"manager\"]\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    let f = only(&findings, "ESC7", "high");
    assert!(f["place"].as_str().unwrap().contains("root"), "{f:#}");
}

#[test]
fn esc8_plain_http_on_the_network() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "listen = \"127.0.0.1:8080\"",
        "listen = \"0.0.0.0:8080\"",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    only(&findings, "ESC8", "high");
    // The text form names it with its fix.
    let data = server.data.display().to_string();
    let run = run_signet(&["doctor", "--data", &data], &[], None);
    run.expect_code(2);
    assert!(
        run.stdout.contains("ESC8") && run.stdout.contains("fix:"),
        "{run}"
    );
}

#[test]
fn scep_static_or_unchecked_challenges_and_est_serverkeygen_are_findings() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "# challenge = \"a-static-secret\"\n",
        "challenge = \"shared\"\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    only(&findings, "SCEP-STATIC", "medium");

    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "challenge_check = \"signet\"\n",
        "challenge_check = \"policy\"\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    only(&findings, "SCEP-NOCHECK", "high");
}

#[test]
fn acme_without_caa_or_validating_toward_loopback_is_a_medium_finding() {
    let server = Server::init(&["--dev"]);
    edit(&server, "caa = true\n", "caa = false\n");
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    only(&findings, "ACME-CAA", "medium");

    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "allowed_ranges = []\n",
        "allowed_ranges = [\"10.0.0.0/8\", \"169.254.0.0/16\"]\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    let f = only(&findings, "ACME-SSRF", "medium");
    assert!(
        f["place"]
            .as_str()
            .is_some_and(|p| p.contains("169.254.0.0/16") && !p.contains("10.0.0.0/8")),
        "{f:#}"
    );
}

#[test]
fn anonymous_auto_issuance_is_a_medium_finding() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "require_san = true\n",
        "require_san = true\nanonymous = true\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    only(&findings, "ANON", "medium");
}

#[test]
fn an_unreadable_configuration_is_an_error() {
    let server = Server::init(&["--dev"]);
    fs::write(server.data.join("signet.toml"), "[server\n").unwrap();
    let data = server.data.display().to_string();
    let run = run_signet(&["doctor", "--data", &data], &[], None);
    run.expect_code(1);
    assert!(run.stderr.contains("signet.toml"), "{run}");
}

#[test]
fn profiles_inside_a_chain_are_checked_too() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        MANUAL,
        &MANUAL.replace("approval = \"manual\"", "approval = \"auto\""),
    );
    edit(&server, "approvals = 1\n", "");
    chain_policy(
        &server,
        "[[ca.policy.chain.rules]]\nname = \"r\"\nwhen = 'false'\naction = \"deny\"\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    only(&findings, "ESC1", "high");
}

/// A subordinate-CA profile for `signet.toml`, with `extra` settings.
fn sub_ca(approval: &str, extra: &str) -> String {
    format!(
        "[ca.policy.profiles.subca]\napproval = \"{approval}\"\nca = true\npath_len = 0\nvalidity_days = 365\nkey_algorithms = [\"p256\"]\nkey_usage = [\"keyCertSign\", \"cRLSign\"]\nextended_key_usage = []\n{extra}"
    )
}

#[test]
fn auto_issued_subordinate_cas_are_high_risk() {
    let server = Server::init(&["--dev"]);
    server.append_config(&sub_ca(
        "auto",
        "allow_auto_ca = true\npermitted_dns = [\"example.com\"]\n",
    ));
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    let f = only(&findings, "SUBCA", "high");
    assert!(
        f["place"].as_str().unwrap().contains("profile subca"),
        "{f:#}"
    );

    // Without the opt-in the server refuses it as well.
    let server = Server::init(&["--dev"]);
    server.append_config(&sub_ca("auto", "permitted_dns = [\"example.com\"]\n"));
    let (code, findings) = doctor(&server);
    assert_eq!(code, 2);
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["CONFIG", "SUBCA"], "{findings:#?}");
    assert!(
        findings[0]["why"]
            .as_str()
            .unwrap()
            .contains("allow_auto_ca"),
        "{findings:#?}"
    );
}

#[test]
fn reviewed_subordinate_cas_without_name_constraints_are_a_medium_finding() {
    let server = Server::init(&["--dev"]);
    server.append_config(&sub_ca("manual", ""));
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    only(&findings, "UNCONSTRAINED-CA", "medium");

    // Name constraints (and manual approval) leave nothing to report, and no ESC2 for the
    // empty extended_key_usage of a CA profile.
    let server = Server::init(&["--dev"]);
    server.append_config(&sub_ca("manual", "permitted_dns = [\"example.com\"]\n"));
    assert_eq!(doctor(&server), (0, Vec::new()));
}

#[test]
fn copying_request_extensions_into_auto_issued_certificates_is_a_medium_finding() {
    let server = Server::init(&["--dev"]);
    edit(
        &server,
        "require_san = true\n",
        "require_san = true\ncopy_request_extensions = [\"1.3.6.1.4.1.311.25.2\"]\n",
    );
    let (code, findings) = doctor(&server);
    assert_eq!(code, 0);
    let f = only(&findings, "COPY-EXT", "medium");
    assert!(
        f["why"].as_str().unwrap().contains("1.3.6.1.4.1.311.25.2"),
        "{f:#}"
    );
}
