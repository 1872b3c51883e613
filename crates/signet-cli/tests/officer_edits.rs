//! A certificate manager attacking the profile through edits of a pending request (issue 14,
//! finding 1): every edit passes the profile's rules when it is made, the extensions only the
//! CA sets are never editable, a delegated OCSP responder can never be made this way, and an
//! edit stored before these checks is refused again at approval.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

/// `PUT .../requests/{id}/extensions/{oid}` as `token`.
fn edit(server: &Server, token: &str, id: i64, oid: &str, body: Value) -> Response {
    server.call(
        Some(token),
        "PUT",
        &format!("/api/v1/cas/{}/requests/{id}/extensions/{oid}", server.ca),
        Some(&body),
    )
}

/// A subjectAltName value with these dNSNames, encoded by hand so they can be anything
/// (the REST API's `san` form would normalise them).
fn san_der(names: &[&str]) -> String {
    let mut inner = Vec::new();
    for name in names {
        inner.extend([0x82, name.len() as u8]);
        inner.extend_from_slice(name.as_bytes());
    }
    let mut der = vec![0x30, inner.len() as u8];
    der.extend(inner);
    hex(&der)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How many extensions of request `id` a certificate manager edited, read from the database.
fn admin_edits(server: &Server, id: i64) -> i64 {
    let db = server.data.join("signet.db");
    let script = format!(
        "{BLOB_PY}import sqlite3\nc = sqlite3.connect({db:?})\nb = c.execute(\"SELECT extensions FROM requests WHERE id = {id}\").fetchone()[0]\nprint(sum(1 for e in read_blob(b) if e[0] == 2))\n",
        db = db.to_str().unwrap()
    );
    let run = run_program("python3", &["-c", &script]);
    assert_eq!(run.code, 0, "{run}");
    run.stdout.trim().parse().unwrap()
}

/// The `requests.extensions` blob (signet-store's `extensions.rs`, version 1) read and written
/// by an implementation of our own in Python: each entry `[origin, flags, oid DER, value]`
/// (origin 2 is admin; flag 4 "by reference" has no value).
const BLOB_PY: &str = r#"
def read_blob(b):
    assert b[0] == 1, b
    out, i = [], 1
    def take(i):
        n, shift = 0, 0
        while True:
            x = b[i]; i += 1; n |= (x & 0x7f) << shift; shift += 7
            if x < 0x80:
                return bytes(b[i:i + n]), i + n
    while i < len(b):
        origin, flags = b[i], b[i + 1]
        oid, i = take(i + 2)
        value = None
        if not flags & 4:
            value, i = take(i)
        out.append([origin, flags, oid, value])
    return out
def write_blob(exts):
    out = bytearray([1])
    def put(x):
        n = len(x)
        while n >= 0x80:
            out.append(n & 0x7f | 0x80); n >>= 7
        out.append(n); out.extend(x)
    for origin, flags, oid, value in exts:
        out.extend([origin, flags]); put(oid)
        if not flags & 4:
            put(value)
    return bytes(out)
"#;

fn pending(server: &Server, token: &str, cn: &str) -> i64 {
    let v = server.submit_cn_as(token, cn, "manual");
    assert_eq!(v["status"], "pending", "{v:#}");
    v["id"].as_i64().unwrap()
}

#[test]
fn officer_edits_stay_within_the_profile() {
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let requester = server.token.clone().unwrap();
    let id = pending(&server, &requester, "edit.test");

    // Each of these would widen what the profile issues; each is refused at edit time, with
    // a message naming the value, and nothing is stored.
    let refused: Vec<(&str, &str, Value, &str)> = vec![
        (
            "foreign name",
            "2.5.29.17",
            json!({"san": ["dns:www.evil.org"]}),
            "www.evil.org",
        ),
        (
            "wildcard",
            "2.5.29.17",
            json!({"san": ["dns:*.edit.test"]}),
            "*.edit.test",
        ),
        (
            "invalid host name",
            "2.5.29.17",
            json!({"value": san_der(&["a b<script>"])}),
            "a b<script>",
        ),
        (
            "OCSPSigning",
            "2.5.29.37",
            json!({"eku": ["OCSPSigning"]}),
            "OCSPSigning",
        ),
        (
            "purpose outside the profile",
            "2.5.29.37",
            json!({"eku": ["codeSigning"]}),
            "1.3.6.1.5.5.7.3.3",
        ),
        (
            "no purpose at all",
            "2.5.29.37",
            json!({"disabled": true}),
            "every purpose",
        ),
        (
            "no key usage at all",
            "2.5.29.15",
            json!({"disabled": true}),
            "every key usage",
        ),
        // cRLDistributionPoints: one DistributionPoint with a fullName URI.
        (
            "CDP",
            "2.5.29.31",
            json!({"value": "30193017a015a013861168747470733a2f2f652e6f72672f632e63"}),
            "cRLDistributionPoints",
        ),
        (
            "AIA",
            "1.3.6.1.5.5.7.1.1",
            json!({"value": "3000"}),
            "authorityInfoAccess",
        ),
        (
            "ocsp-nocheck",
            "1.3.6.1.5.5.7.48.1.5",
            json!({"value": "0500"}),
            "ocsp-nocheck",
        ),
        (
            "nameConstraints",
            "2.5.29.30",
            json!({"value": "3000"}),
            "nameConstraints",
        ),
        // certificatePolicies with the CA/B Forum EV OID.
        (
            "EV policy",
            "2.5.29.32",
            json!({"value": "300b3009060767810c010101"}),
            "certificatePolicies",
        ),
        (
            "unknown critical extension",
            "1.2.3.4.5",
            json!({"value": "0500", "critical": true}),
            "1.2.3.4.5",
        ),
        (
            "SKI",
            "2.5.29.14",
            json!({"value": "04020102"}),
            "subjectKeyIdentifier",
        ),
        // One name many times, or in another case: the profile would issue it once.
        (
            "a name twice",
            "2.5.29.17",
            json!({"value": san_der(&["a.edit.test", "a.edit.test"])}),
            "twice",
        ),
        (
            "a name in upper case",
            "2.5.29.17",
            json!({"value": san_der(&["WWW.edit.test"])}),
            "lower case",
        ),
        // digitalSignature, not critical.
        (
            "non-critical keyUsage",
            "2.5.29.15",
            json!({"value": "03020780"}),
            "critical",
        ),
        // cA=FALSE with a pathLenConstraint.
        (
            "pathLen on a leaf",
            "2.5.29.19",
            json!({"value": "3003020100"}),
            "pathLenConstraint",
        ),
    ];
    for (what, oid, body, named) in refused {
        let resp = edit(&server, &mgr, id, oid, body);
        let detail = resp.expect_problem(400);
        assert!(
            detail.contains(named),
            "{what}: the refusal names {named:?}: {detail}"
        );
    }
    assert_eq!(admin_edits(&server, id), 0, "a refused edit was stored");

    // Narrowing within the profile is what an officer is for.
    for (oid, body) in [
        ("2.5.29.17", json!({"san": ["dns:www.edit.test"]})),
        ("2.5.29.37", json!({"eku": ["clientAuth"]})),
    ] {
        let resp = edit(&server, &mgr, id, oid, body);
        assert_eq!(resp.status, 200, "{resp}");
    }
    assert_eq!(admin_edits(&server, id), 2);
    let approved = server.call(
        Some(&mgr),
        "POST",
        &format!("/api/v1/cas/{}/requests/{id}/approve", server.ca),
        None,
    );
    assert_eq!(approved.json()["status"], "issued", "{approved}");
    let cert = write_pem(
        &server.work,
        "edited",
        approved.json()["certificate"].as_str().unwrap(),
    );
    openssl_verify(&server.ca_cert_path(), &cert);
    let text = cert_text(&cert);
    assert!(text.contains("DNS:www.edit.test"), "{text}");
    assert!(!text.contains("OCSP Signing"), "{text}");
}

/// An edit that got into the database before these checks (or under a profile that has
/// since narrowed) is checked again when the request is approved: the request is denied,
/// naming the edit, and no certificate is made.
#[test]
fn a_stored_edit_is_checked_again_at_approval() {
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let requester = server.token.clone().unwrap();
    let id = pending(&server, &requester, "stored.test");
    // A legitimate edit, then its stored value changed to OCSPSigning behind the API's back.
    let resp = edit(
        &server,
        &mgr,
        id,
        "2.5.29.37",
        json!({"eku": ["clientAuth"]}),
    );
    assert_eq!(resp.status, 200, "{resp}");
    let ocsp_signing = "300a06082b06010505070309";
    let db = server.data.join("signet.db");
    let script = format!(
        "{BLOB_PY}import sqlite3\nc = sqlite3.connect({db:?})\nexts = read_blob(c.execute(\"SELECT extensions FROM requests WHERE id = {id}\").fetchone()[0])\nfor e in exts:\n    if e[2] == bytes.fromhex('551d25'):\n        e[3] = bytes.fromhex('{ocsp_signing}')\nc.execute(\"UPDATE requests SET extensions = ? WHERE id = {id}\", (write_blob(exts),))\nc.commit()\nc.close()\n",
        db = db.to_str().unwrap()
    );
    let run = run_program("python3", &["-c", &script]);
    assert_eq!(run.code, 0, "{run}");

    let approved = server.call(
        Some(&mgr),
        "POST",
        &format!("/api/v1/cas/{}/requests/{id}/approve", server.ca),
        None,
    );
    let v = approved.json();
    assert_eq!(v["status"], "denied", "{v:#}");
    assert!(
        v["message"].as_str().unwrap().contains("OCSPSigning"),
        "{v:#}"
    );
    assert!(v.get("certificate").is_none_or(Value::is_null), "{v:#}");
}

/// With M-of-N approval, one manager must not edit a request another has approved and then
/// complete the count alone: an edit clears the approvals given so far.
#[test]
fn an_edit_clears_earlier_approvals() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(DUAL_PROFILE);
    server.serve();
    let requester = server.create_token(&["requester"], "req");
    let ann = server.create_token(&["manager"], "ann");
    let bob = server.create_token(&["manager"], "bob");
    let v = server.submit_cn_as(&requester, "dual.test", "dual");
    let id = v["id"].as_i64().unwrap();
    let approve = |token: &str| {
        server.call(
            Some(token),
            "POST",
            &format!("/api/v1/cas/{}/requests/{id}/approve", server.ca),
            None,
        )
    };
    assert!(approve(&ann).text().contains("1 of 2"));
    // Bob changes what Ann approved, then approves: that is one approval, not two.
    let resp = edit(
        &server,
        &bob,
        id,
        "2.5.29.17",
        json!({"san": ["dns:dual.test", "dns:other.test"]}),
    );
    assert_eq!(resp.status, 200, "{resp}");
    assert!(
        resp.text().contains("earlier approvals no longer count"),
        "{resp}"
    );
    let second = approve(&bob).json();
    assert_eq!(second["status"], "pending", "{second:#}");
    assert!(
        second["message"].as_str().unwrap().contains("1 of 2"),
        "{second:#}"
    );
    // Ann approves the edited request: now it is issued, with the edit.
    let issued = approve(&ann).json();
    assert_eq!(issued["status"], "issued", "{issued:#}");
}
