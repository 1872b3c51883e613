//! Administration end to end against the real binary: M-of-N approval, the requester's own
//! approval refused, deny then resubmit, officer edits, revocation and hold release, import,
//! every role against every admin operation, and the audit chain under tampering (rows edited,
//! deleted and reordered directly in SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// `signet ARGS --token TOKEN --server URL`.
fn cli_as(server: &Server, token: &str, args: &[&str]) -> Run {
    let url = server.url();
    let mut full = args.to_vec();
    full.extend(["--token", token, "--server", url.as_str()]);
    run_signet(&full, &[], None)
}

fn write_cert(server: &Server, v: &Value, stem: &str) -> std::path::PathBuf {
    write_pem(
        &server.work,
        stem,
        v["certificate"].as_str().expect("certificate"),
    )
}

#[test]
fn two_distinct_managers_issue_and_the_requester_cannot_approve() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(DUAL_PROFILE);
    server.serve();
    let bob = server.create_token(&["requester", "manager"], "bob");
    let ann = server.create_token(&["manager"], "ann");
    let cy = server.create_token(&["manager"], "cy");

    let v = server.submit_cn_as(&bob, "dual.test", "dual");
    assert_eq!(v["status"], "pending", "{v:#}");
    let id = v["id"].as_i64().unwrap().to_string();

    // Bob holds the manager role, but he submitted the request.
    let own = cli_as(&server, &bob, &["admin", "approve", &id]);
    assert_eq!(own.code, 1, "{own}");
    assert!(own.stderr.contains("own request"), "{own}");

    let first = cli_as(&server, &ann, &["admin", "approve", &id]);
    first.expect_code(2);
    assert!(first.stdout.contains("1 of 2"), "{first}");
    let again = cli_as(&server, &ann, &["admin", "approve", &id]);
    assert_eq!(again.code, 1, "the same manager twice: {again}");
    assert!(again.stderr.contains("distinct"), "{again}");

    let second = cli_as(&server, &cy, &["admin", "approve", &id]);
    second.expect_code(0);
    let status = server.call(
        Some(&bob),
        "GET",
        &format!("/api/v1/cas/{}/requests/{id}", server.ca),
        None,
    );
    assert_eq!(status.status, 200, "{status}");
    let issued = status.json();
    assert_eq!(issued["status"], "issued", "{issued:#}");
    let cert = write_cert(&server, &issued, "dual");
    openssl_verify(&server.ca_cert_path(), &cert);

    // The detailed view shows both approvals and the history.
    let show = cli_as(&server, &ann, &["admin", "show", &id, "--json"]);
    show.expect_code(0);
    let d: Value = serde_json::from_str(&show.stdout).unwrap();
    let approvers: Vec<&str> = d["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers.len(), 2, "{d:#}");
    assert!(
        approvers.contains(&"ann") && approvers.contains(&"cy"),
        "{d:#}"
    );
    let actions: Vec<&str> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["submit", "approve", "approve", "issue"], "{d:#}");
}

#[test]
fn deny_resubmit_edits_revocation_and_hold_release() {
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let requester = server.token.clone().unwrap();

    let v = server.submit_cn_as(&requester, "edit.test", "manual");
    assert_eq!(v["status"], "pending");
    let id = v["id"].as_i64().unwrap().to_string();

    let denied = cli_as(
        &server,
        &mgr,
        &["admin", "deny", &id, "--reason", "ask the team lead first"],
    );
    denied.expect_code(3);
    assert_eq!(
        server.request_status(id.parse().unwrap())["message"],
        "ask the team lead first"
    );

    // Officer edits on the denied request, then resubmission.
    cli_as(&server, &mgr, &["admin", "set-attr", &id, "ticket=CHG-42"]).expect_code(0);
    cli_as(
        &server,
        &mgr,
        &[
            "admin",
            "set-ext",
            &id,
            "2.5.29.17",
            "--san",
            "dns:edited.test",
            "--san",
            "dns:www.edited.test",
        ],
    )
    .expect_code(0);
    cli_as(
        &server,
        &mgr,
        &["admin", "set-ext", &id, "2.5.29.37", "--eku", "clientAuth"],
    )
    .expect_code(0);
    // A manager cannot make a CA certificate.
    let ca_bc = cli_as(
        &server,
        &mgr,
        &["admin", "set-ext", &id, "2.5.29.19", "--der", "30030101ff"],
    );
    assert_eq!(ca_bc.code, 1, "{ca_bc}");

    let approved = cli_as(&server, &mgr, &["admin", "approve", &id]);
    approved.expect_code(0);
    let issued = server.request_status(id.parse().unwrap());
    let cert = write_cert(&server, &issued, "edited");
    openssl_verify(&server.ca_cert_path(), &cert);
    let text = cert_text(&cert);
    assert!(
        text.contains("DNS:edited.test") && text.contains("DNS:www.edited.test"),
        "{text}"
    );
    assert!(
        text.contains("TLS Web Client Authentication") && !text.contains("Server Authentication"),
        "{text}"
    );

    let show = cli_as(&server, &mgr, &["admin", "show", &id, "--json"]);
    let d: Value = serde_json::from_str(&show.stdout).unwrap();
    assert!(d["attributes"].to_string().contains("CHG-42"), "{d:#}");
    let actions: Vec<&str> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submit",
            "deny",
            "set-attributes",
            "set-extension",
            "set-extension",
            "approve",
            "issue"
        ],
        "{d:#}"
    );

    // Hold, release, final revocation.
    let serial = issued["serial"].as_str().unwrap().to_string();
    cli_as(
        &server,
        &mgr,
        &["admin", "revoke", &serial, "--reason", "certificateHold"],
    )
    .expect_code(0);
    assert_eq!(
        server.request_status(id.parse().unwrap())["status"],
        "revoked"
    );
    let held = cli_as(
        &server,
        &mgr,
        &[
            "admin",
            "view",
            "--certificates",
            "--serial",
            &serial,
            "--json",
        ],
    );
    let page: Value = serde_json::from_str(&held.stdout).unwrap();
    assert_eq!(
        page["items"][0]["certificate"]["revocation_reason"], "certificateHold",
        "{page:#}"
    );
    cli_as(&server, &mgr, &["admin", "unrevoke", &serial]).expect_code(0);
    assert_eq!(
        server.request_status(id.parse().unwrap())["status"],
        "issued"
    );
    cli_as(
        &server,
        &mgr,
        &[
            "admin",
            "revoke",
            &serial,
            "--reason",
            "keyCompromise",
            "--invalidity-date",
            "2026-01-01",
        ],
    )
    .expect_code(0);
    let final_release = cli_as(&server, &mgr, &["admin", "unrevoke", &serial]);
    assert_eq!(final_release.code, 1, "{final_release}");
    assert!(final_release.stderr.contains("final"), "{final_release}");
    let page: Value = serde_json::from_str(
        &cli_as(
            &server,
            &mgr,
            &[
                "admin",
                "view",
                "--certificates",
                "--serial",
                &serial,
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let c = &page["items"][0]["certificate"];
    assert_eq!(c["revocation_reason"], "keyCompromise");
    assert_eq!(c["invalidity_date"], "2026-01-01T00:00:00Z");
    let bad_reason = cli_as(
        &server,
        &mgr,
        &["admin", "revoke", &serial, "--reason", "removeFromCRL"],
    );
    assert_eq!(bad_reason.code, 1, "{bad_reason}");
}

#[test]
fn view_filters_and_import() {
    let server = Server::start(&[]);
    let admin = server.admin_token();
    let mgr = server.create_token(&["manager"], "mgr");
    for cn in ["alpha.test", "beta.test", "gamma.test"] {
        server.issue(cn);
    }
    server.submit_cn_as(server.token.as_ref().unwrap(), "queued.test", "manual");

    let page = |args: &[&str]| -> Value {
        let mut a = vec!["admin", "view", "--json"];
        a.extend_from_slice(args);
        let run = cli_as(&server, &mgr, &a);
        run.expect_code(0);
        serde_json::from_str(&run.stdout).unwrap()
    };
    // Three issued, one pending, and requests 1 to 3: the delegated OCSP responder, SCEP
    // RA and CMP responder certificates the CA issued itself at start.
    let all = page(&[]);
    assert_eq!(all["items"].as_array().unwrap().len(), 7, "{all:#}");
    assert_eq!(all["items"][1]["format"], "scep-ra", "{all:#}");
    assert_eq!(all["items"][2]["format"], "cmp-responder", "{all:#}");
    assert_eq!(
        all["items"][0]["subject"], "CN=demo OCSP Responder",
        "{all:#}"
    );
    assert_eq!(
        page(&["--status", "pending"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let beta = page(&["--q", "BETA"]);
    assert_eq!(beta["items"].as_array().unwrap().len(), 1, "{beta:#}");
    assert_eq!(beta["items"][0]["subject"], "CN=beta.test");
    assert_eq!(
        page(&["--requester", "tester", "--profile", "server"])["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        page(&["--expiring-days", "100"])["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Only the responder certificate (7 days, renewed by the CA) expires within 10 days.
    let soon = page(&["--expiring-days", "10"]);
    assert_eq!(soon["items"].as_array().unwrap().len(), 1, "{soon:#}");
    assert_eq!(soon["items"][0]["subject"], "CN=demo OCSP Responder");
    assert_eq!(
        page(&["--submitted-after", "2100-01-01"])["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let first = page(&["--limit", "2"]);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"].as_i64().expect("a next page").to_string();
    assert_eq!(
        page(&["--limit", "2", "--after", &next])["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let table = cli_as(&server, &mgr, &["admin", "pending"]);
    table.expect_code(0);
    assert!(table.stdout.contains("CN=queued.test"), "{table}");

    // A certificate signed elsewhere with the CA's key (the dev key is plain PKCS#8).
    let key = server.data.join("ca/demo/key.pem");
    let csr = openssl_csr(&server.work, "p256", "/CN=offline.test", &[]);
    let out = server.work_file("offline.pem");
    run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            server.ca_cert_path().to_str().unwrap(),
            "-CAkey",
            key.to_str().unwrap(),
            "-set_serial",
            "4242",
            "-days",
            "30",
            "-out",
            out.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let forbidden = cli_as(&server, &mgr, &["admin", "import", out.to_str().unwrap()]);
    assert_eq!(forbidden.code, 1, "managers do not import: {forbidden}");
    let imported = cli_as(&server, &admin, &["admin", "import", out.to_str().unwrap()]);
    imported.expect_code(0);
    assert!(
        imported.stdout.contains("1092"),
        "serial 4242 = 0x1092: {imported}"
    );
    let twice = cli_as(&server, &admin, &["admin", "import", out.to_str().unwrap()]);
    assert_eq!(twice.code, 1, "{twice}");
    assert!(twice.stderr.contains("already"), "{twice}");
    // Not issued by this CA: a self-signed certificate.
    let other = server.work_file("other.pem");
    let other_key = server.work_file("other.key");
    run_program(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            other_key.to_str().unwrap(),
            "-subj",
            "/CN=stranger",
            "-days",
            "1",
            "-out",
            other.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let stranger = cli_as(
        &server,
        &admin,
        &["admin", "import", other.to_str().unwrap()],
    );
    assert_eq!(stranger.code, 1, "{stranger}");
    let found = page(&["--certificates", "--serial", "1092"]);
    assert_eq!(found["items"][0]["format"], "imported", "{found:#}");
}

/// Every role against every admin operation. Forbidden calls get 401/403 and change
/// nothing (the audit log and the request view are the same before and after).
#[test]
fn every_role_boundary_holds() {
    let server = Server::start(&[]);
    let admin = server.admin_token();
    let manager = server.create_token(&["manager"], "m1");
    let auditor = server.create_token(&["auditor"], "a1");
    let requester = server.token.clone().unwrap();
    let issued = server.issue("role.test");
    let serial = issued["serial"].as_str().unwrap().to_string();
    let pending = server.submit_cn_as(&requester, "pending.test", "manual");
    let id = pending["id"].as_i64().unwrap();
    let ca = server.ca.clone();

    let snapshot = |s: &Server| {
        let audit = s.call(Some(&auditor), "GET", "/api/v1/audit", None);
        assert_eq!(audit.status, 200, "{audit}");
        let view = s.call(
            Some(&manager),
            "GET",
            &format!("/api/v1/cas/{ca}/requests"),
            None,
        );
        assert_eq!(view.status, 200, "{view}");
        (audit.text().lines().count(), view.text())
    };
    let before = snapshot(&server);

    let import_body = json!({ "certificate": issued["certificate"] });
    type Op<'a> = (&'a str, &'a str, String, Option<Value>, &'a [&'a str]);
    let ops: Vec<Op> = vec![
        (
            "view",
            "GET",
            format!("/api/v1/cas/{ca}/requests"),
            None,
            &["admin", "manager", "auditor"],
        ),
        (
            "certificates",
            "GET",
            format!("/api/v1/cas/{ca}/certificates"),
            None,
            &["admin", "manager", "auditor"],
        ),
        (
            "details",
            "GET",
            format!("/api/v1/cas/{ca}/requests/{id}/details"),
            None,
            &["admin", "manager", "auditor"],
        ),
        (
            "approve",
            "POST",
            format!("/api/v1/cas/{ca}/requests/{id}/approve"),
            Some(json!({})),
            &["manager"],
        ),
        (
            "deny",
            "POST",
            format!("/api/v1/cas/{ca}/requests/{id}/deny"),
            Some(json!({"reason": "no"})),
            &["manager"],
        ),
        (
            "set-attr",
            "PATCH",
            format!("/api/v1/cas/{ca}/requests/{id}/attributes"),
            Some(json!({"a": "b"})),
            &["manager"],
        ),
        (
            "set-ext",
            "PUT",
            format!("/api/v1/cas/{ca}/requests/{id}/extensions/2.5.29.37"),
            Some(json!({"eku": ["clientAuth"]})),
            &["manager"],
        ),
        (
            "revoke",
            "POST",
            format!("/api/v1/cas/{ca}/certificates/{serial}/revoke"),
            Some(json!({"reason": "superseded"})),
            &["manager"],
        ),
        (
            "unrevoke",
            "POST",
            format!("/api/v1/cas/{ca}/certificates/{serial}/unrevoke"),
            Some(json!({})),
            &["manager"],
        ),
        (
            "import",
            "POST",
            format!("/api/v1/cas/{ca}/certificates"),
            Some(import_body),
            &["admin"],
        ),
        (
            "token-create",
            "POST",
            "/api/v1/tokens".into(),
            Some(json!({"roles": ["auditor"]})),
            &["admin"],
        ),
        (
            "token-list",
            "GET",
            "/api/v1/tokens".into(),
            None,
            &["admin"],
        ),
        (
            "token-revoke",
            "DELETE",
            "/api/v1/tokens/1".into(),
            None,
            &["admin"],
        ),
        ("audit", "GET", "/api/v1/audit".into(), None, &["auditor"]),
        (
            "audit-verify",
            "GET",
            "/api/v1/audit/verify".into(),
            None,
            &["auditor"],
        ),
    ];
    let roles: [(&str, Option<&str>); 5] = [
        ("admin", Some(&admin)),
        ("manager", Some(&manager)),
        ("auditor", Some(&auditor)),
        ("requester", Some(&requester)),
        ("anonymous", None),
    ];
    for (name, method, path, body, allowed) in &ops {
        for (role, token) in &roles {
            if allowed.contains(role) {
                continue;
            }
            let resp = server.call(*token, method, path, body.as_ref());
            let want = if token.is_none() { 401 } else { 403 };
            assert_eq!(resp.status, want, "{role} {name}: {resp}");
        }
    }
    assert_eq!(
        snapshot(&server),
        before,
        "forbidden calls changed something"
    );

    // The read-only operations succeed for every allowed role.
    for (name, method, path, body, allowed) in &ops {
        if *method != "GET" {
            continue;
        }
        for (role, token) in &roles {
            if allowed.contains(role) {
                let resp = server.call(*token, method, path, body.as_ref());
                assert_eq!(resp.status, 200, "{role} {name}: {resp}");
            }
        }
    }

    // Enrollment: anonymous is refused by the default profiles, and so is an identity
    // without the requester role.
    let csr = fs::read_to_string(openssl_csr(&server.work, "p256", "/CN=anon.test", &[])).unwrap();
    let body = json!({ "csr": csr });
    let path = format!("/api/v1/cas/{ca}/requests");
    assert_eq!(server.call(None, "POST", &path, Some(&body)).status, 401);
    assert_eq!(
        server.call(Some(&admin), "POST", &path, Some(&body)).status,
        403
    );
    // A requester sees only their own requests.
    let other = server.create_token(&["requester"], "other");
    let theirs = server.call(
        Some(&other),
        "GET",
        &format!("/api/v1/cas/{ca}/requests/{id}"),
        None,
    );
    assert_eq!(theirs.status, 404, "{theirs}");

    // Role separation: admin + manager in one token is refused.
    let both = server.call(
        Some(&admin),
        "POST",
        "/api/v1/tokens",
        Some(&json!({"roles": ["admin", "manager"]})),
    );
    assert_eq!(both.status, 400, "{both}");
    assert!(both.text().contains("role separation"), "{both}");

    // A revoked token stops working at once; garbage is 401.
    let list = server
        .call(Some(&admin), "GET", "/api/v1/tokens", None)
        .json();
    let other_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "other")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    cli_as(
        &server,
        &admin,
        &["admin", "token", "revoke", &other_id.to_string()],
    )
    .expect_code(0);
    assert_eq!(
        server
            .call(
                Some(&other),
                "GET",
                &format!("/api/v1/cas/{ca}/requests/{id}"),
                None
            )
            .status,
        401
    );
    assert_eq!(
        server
            .call(Some("signet_nonsense"), "GET", "/api/v1/whoami", None)
            .status,
        401
    );
    let listed = cli_as(&server, &admin, &["admin", "token", "list"]);
    listed.expect_code(0);
    assert!(
        listed.stdout.contains("revoked") && !listed.stdout.contains("signet_"),
        "{listed}"
    );
}

/// The audit log verifies untouched, online (auditor) and offline; editing, deleting or
/// reordering rows directly in SQLite makes `signet audit verify` fail each time.
#[test]
fn audit_chain_detects_edits_deletions_and_reordering() {
    let mut server = Server::start(&[]);
    let auditor = server.create_token(&["auditor"], "aud");
    let mgr = server.create_token(&["manager"], "mgr");
    for cn in ["a.test", "b.test"] {
        server.issue(cn);
    }
    let v = server.submit_cn_as(server.token.as_ref().unwrap(), "c.test", "manual");
    cli_as(&server, &mgr, &["admin", "approve", &v["id"].to_string()]).expect_code(0);

    let online = cli_as(&server, &auditor, &["audit", "verify"]);
    online.expect_code(0);
    assert!(online.stdout.contains("intact"), "{online}");
    let denied = cli_as(&server, &mgr, &["audit", "verify"]);
    assert_eq!(
        denied.code, 1,
        "managers cannot read the audit log: {denied}"
    );
    let export = cli_as(&server, &auditor, &["audit", "export"]);
    export.expect_code(0);
    let lines: Vec<Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 8, "{}", export.stdout);
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    for a in ["config-load", "token-create", "submit", "approve", "issue"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    server.stop_ok();

    let data = server.data.to_str().unwrap().to_string();
    run_signet(&["audit", "verify", "--data", &data], &[], None).expect_code(0);
    let db = server.data.join("signet.db");
    let pristine = server.work_file("pristine.db");
    fs::copy(&db, &pristine).unwrap();
    // Each tampering runs on a fresh copy of the untouched database. Signet's append-only
    // triggers are dropped first, as an attacker with the file would.
    for (what, sql) in [
        ("edit", "UPDATE audit SET actor = 'mallory' WHERE seq = 3"),
        ("delete", "DELETE FROM audit WHERE seq = 4"),
        (
            "reorder",
            "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -1",
        ),
    ] {
        fs::copy(&pristine, &db).unwrap();
        tamper(&db, sql);
        let run = run_signet(&["audit", "verify", "--data", &data], &[], None);
        assert_eq!(run.code, 1, "{what} was not detected: {run}");
        assert!(run.stdout.contains("BROKEN"), "{what}: {run}");
    }
    fs::copy(&pristine, &db).unwrap();
    run_signet(&["audit", "verify", "--data", &data], &[], None).expect_code(0);
}

fn tamper(db: &Path, sql: &str) {
    let script = format!(
        "import sqlite3\nc = sqlite3.connect({db:?})\nc.executescript('''DROP TRIGGER IF EXISTS audit_append_only_update; DROP TRIGGER IF EXISTS audit_append_only_delete; {sql};''')\nc.commit()\nc.close()\n",
        db = db.to_str().unwrap()
    );
    let run = run_program("python3", &["-c", &script]);
    assert_eq!(run.code, 0, "tampering failed: {run}");
}
