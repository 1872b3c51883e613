//! `signet admin acme ...` and the ACME administration API against the real binary, attacked
//! the way a caller without the role would: EAB keys are an administrator's, early renewal a
//! certificate manager's, listings for the three administrative roles; a requester (an ACME
//! client's owner) gets 403 for all of it, an unauthenticated caller 401; every change is in
//! the audit log, and an EAB key's secret is shown once and never listed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// `signet ARGS --token TOKEN --server URL`.
fn cli_as(server: &Server, token: &str, args: &[&str]) -> Run {
    let url = server.url();
    let mut full = args.to_vec();
    full.extend(["--token", token, "--server", url.as_str()]);
    run_signet(&full, &[], None)
}

#[test]
fn acme_administration_is_role_bound_audited_and_never_shows_a_secret_twice() {
    let server = Server::start(&[]);
    let admin = server.admin_token();
    let requester = server.create_token(&["requester"], "client-owner");
    let auditor = server.create_token(&["auditor"], "eve");
    let manager = server.create_token(&["manager"], "mia");

    // A requester, an auditor and an anonymous caller cannot create EAB keys.
    let refused = cli_as(&server, &requester, &["admin", "acme", "eab", "create"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("403") || refused.stderr.contains("does not hold"),
        "{refused}"
    );
    let refused = cli_as(&server, &auditor, &["admin", "acme", "eab", "create"]);
    assert_eq!(refused.code, 1, "{refused}");
    let anonymous = server.call(
        None,
        "POST",
        "/api/v1/cas/demo/acme/eab",
        Some(&serde_json::json!({})),
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());

    // An administrator of this CA only cannot make a key that binds accounts of every CA.
    let scoped = cli_as(
        &server,
        &admin,
        &[
            "admin", "token", "create", "--role", "admin", "--ca", "demo", "--name", "ca-admin",
        ],
    );
    scoped.expect_code(0);
    let scoped = scoped.stdout.trim().to_owned();
    let refused = cli_as(
        &server,
        &scoped,
        &["admin", "acme", "eab", "create", "--any-ca"],
    );
    assert_eq!(refused.code, 1, "{refused}");
    cli_as(&server, &scoped, &["admin", "acme", "eab", "create"]).expect_code(0);
    cli_as(
        &server,
        &admin,
        &["admin", "acme", "eab", "create", "--any-ca"],
    )
    .expect_code(0);

    // The administrator gets `KID HMAC` on one line, and nothing else on stdout.
    let created = cli_as(
        &server,
        &admin,
        &["admin", "acme", "eab", "create", "--name", "web-team"],
    );
    created.expect_code(0);
    let line = created.stdout.trim();
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 2, "KID HMAC: {created}");
    let (kid, hmac) = (parts[0], parts[1]);
    assert!(
        hmac.len() >= 43 && !hmac.contains('='),
        "base64url HMAC key: {hmac}"
    );

    // Listing (admin, auditor) never shows the secret; a requester cannot list.
    let listed = cli_as(
        &server,
        &auditor,
        &["admin", "acme", "eab", "list", "--json"],
    );
    listed.expect_code(0);
    assert!(
        listed.stdout.contains(kid) && listed.stdout.contains("web-team"),
        "{listed}"
    );
    assert!(
        !listed.stdout.contains(hmac),
        "the HMAC key is shown once: {listed}"
    );
    let refused = cli_as(&server, &requester, &["admin", "acme", "eab", "list"]);
    assert_eq!(refused.code, 1, "{refused}");

    // Accounts and orders: the administrative roles read them, a requester does not.
    for token in [&admin, &auditor, &manager] {
        cli_as(&server, token, &["admin", "acme", "accounts"]).expect_code(0);
        cli_as(&server, token, &["admin", "acme", "orders"]).expect_code(0);
    }
    assert_eq!(
        cli_as(&server, &requester, &["admin", "acme", "accounts"]).code,
        1
    );

    // Early renewal is a manager's, and only for a certificate obtained over ACME.
    let serial = "1".repeat(40);
    let refused = cli_as(
        &server,
        &admin,
        &["admin", "acme", "renew-early", "--serial", &serial],
    );
    assert_eq!(refused.code, 1, "{refused}");
    let unknown = cli_as(
        &server,
        &manager,
        &["admin", "acme", "renew-early", "--serial", &serial],
    );
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(
        unknown.stderr.contains("404") || unknown.stderr.contains("no certificate"),
        "{unknown}"
    );

    // Revocation by the requester is refused; by the administrator it works once.
    assert_eq!(
        cli_as(
            &server,
            &requester,
            &["admin", "acme", "eab", "revoke", kid]
        )
        .code,
        1
    );
    cli_as(&server, &admin, &["admin", "acme", "eab", "revoke", kid]).expect_code(0);
    let again = cli_as(&server, &admin, &["admin", "acme", "eab", "revoke", kid]);
    assert_eq!(again.code, 1, "{again}");

    // The audit log names who created and revoked the key, and the chain verifies.
    let log = server.call(Some(&auditor), "GET", "/api/v1/audit?limit=200", None);
    assert_eq!(log.status, 200, "{}", log.text());
    let text = log.text();
    assert!(
        text.contains("acme-eab-create") && text.contains("acme-eab-revoke"),
        "{text}"
    );
    assert!(
        !text.contains(hmac),
        "the audit log never holds the HMAC key"
    );
    let verify = cli_as(&server, &auditor, &["audit", "verify"]);
    verify.expect_code(0);
}
