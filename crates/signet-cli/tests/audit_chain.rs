//! The audit chain against someone who can write `signet.db` (issue 14, finding 4).
//!
//! Each test plays the attacker with the database file: it opens `signet.db` with rusqlite,
//! drops Signet's append-only triggers, edits or deletes audit rows and recomputes every
//! later hash with the published (unkeyed) SHA-256 formula, then checks that
//! `signet audit verify` (offline, and through the REST API of a running server) reports it.
//! Checkpoints are checked as an outside witness sees them: the `file` exit module's record
//! of the `AuditCheckpoint` event, its signature checked with `openssl pkeyutl` against the
//! audit signing key's public half.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::*;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

/// `[server]` options for these tests: a checkpoint every second.
const FAST_CHECKPOINTS: &str = "audit_checkpoint = \"1s\"";

fn file_exit(name: &str, directory: &str, events: &str) -> String {
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"file\"\ndirectory = \"{directory}\"\nevents = {events}\n"
    )
}

/// Sets `audit_checkpoint` in `[server]` of signet.toml (replacing the line `signet init`
/// wrote, or adding one).
fn server_options(server: &Server, lines: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).expect("signet.toml");
    let text = if text.contains("audit_checkpoint = \"5m\"") {
        text.replacen("audit_checkpoint = \"5m\"", lines, 1)
    } else {
        text.replacen("[server]\n", &format!("[server]\n{lines}\n"), 1)
    };
    fs::write(&path, text).expect("writing signet.toml");
}

fn cli_as(server: &Server, token: &str, args: &[&str]) -> Run {
    let url = server.url();
    let mut full = args.to_vec();
    full.extend(["--token", token, "--server", url.as_str()]);
    run_signet(&full, &[], None)
}

fn verify_offline(server: &Server, extra: &[&str]) -> Run {
    let data = server.data.to_str().expect("UTF-8 path").to_string();
    let mut args = vec!["audit", "verify", "--data", data.as_str()];
    args.extend_from_slice(extra);
    run_signet(&args, &[], None)
}

/// A pending request with two officer edits (`set-extension` records) and an approval.
fn officer_history(server: &Server) -> String {
    let mgr = server.create_token(&["manager"], "mgr");
    let requester = server.token.clone().expect("requester token");
    let v = server.submit_cn_as(&requester, "edit.test", "manual");
    assert_eq!(v["status"], "pending", "{v:#}");
    let id = v["id"].to_string();
    cli_as(
        server,
        &mgr,
        &[
            "admin",
            "set-ext",
            &id,
            "2.5.29.17",
            "--san",
            "dns:edit.test",
        ],
    )
    .expect_code(0);
    cli_as(
        server,
        &mgr,
        &["admin", "set-ext", &id, "2.5.29.37", "--eku", "clientAuth"],
    )
    .expect_code(0);
    cli_as(server, &mgr, &["admin", "approve", &id]).expect_code(0);
    id
}

// ---------------------------------------------------------------------------------------
// The attacker's tools: the database file and the published unkeyed formula
// ---------------------------------------------------------------------------------------

/// Opens the database as an attacker would, with Signet's append-only triggers dropped.
fn attacker_db(server: &Server) -> Connection {
    let conn = Connection::open(server.data.join("signet.db")).expect("opening signet.db");
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_append_only_update;
         DROP TRIGGER IF EXISTS audit_append_only_delete;
         DROP TRIGGER IF EXISTS audit_checkpoints_append_only_update;
         DROP TRIGGER IF EXISTS audit_checkpoints_append_only_delete;",
    )
    .expect("dropping the triggers");
    conn
}

/// The hash of the original, unkeyed chain (`signet-audit-v1`), as documented in
/// signet-store's `audit` module and ARCHITECTURE.md.
#[allow(clippy::too_many_arguments)]
fn unkeyed_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    ca: Option<&str>,
    target: &str,
    details: &str,
    prev: &[u8],
) -> Vec<u8> {
    fn field(buf: &mut Vec<u8>, s: &str) {
        buf.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    let mut buf = b"signet-audit-v1\0".to_vec();
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&at.to_be_bytes());
    field(&mut buf, actor);
    field(&mut buf, action);
    match ca {
        Some(ca) => {
            buf.push(1);
            field(&mut buf, ca);
        }
        None => buf.push(0),
    }
    field(&mut buf, target);
    field(&mut buf, details);
    buf.extend_from_slice(prev);
    signet_x509::sha256(&buf).to_vec()
}

/// Recomputes `prev_hash` and `hash` of every record from `from` on with the unkeyed formula,
/// so each back-link and hash agree again.
fn rechain_from(conn: &Connection, from: i64) {
    let mut prev: Vec<u8> = if from <= 1 {
        vec![0; 32]
    } else {
        conn.query_row(
            "SELECT hash FROM audit WHERE seq = ?1",
            params![from - 1],
            |r| r.get(0),
        )
        .expect("the record before")
    };
    type Row = (i64, i64, String, String, Option<String>, String, String);
    let rows: Vec<Row> = conn
        .prepare(
            "SELECT seq, at, actor, action, ca, target, details FROM audit WHERE seq >= ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map(params![from], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, at, actor, action, ca, target, details) in rows {
        let hash = unkeyed_hash(
            seq,
            at,
            &actor,
            &action,
            ca.as_deref(),
            &target,
            &details,
            &prev,
        );
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev, hash, seq],
        )
        .expect("rewriting a link");
        prev = hash;
    }
}

/// Does the table exist (it does not before the fix)?
fn has_table(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .unwrap()
    .is_some()
}

fn audit_head(conn: &Connection) -> i64 {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM audit", [], |r| r.get(0))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// An officer's `set-extension` record is edited and every later hash recomputed with the
/// unkeyed formula: offline verify and the REST verify of the restarted server report it.
#[test]
fn rewritten_set_extension_record_is_detected() {
    let mut server = Server::start(&[]);
    let id = officer_history(&server);
    server.stop_ok();
    verify_offline(&server, &[]).expect_code(0);

    let conn = attacker_db(&server);
    let target = format!("{}/request/{id}", server.ca);
    let (seq, details): (i64, String) = conn
        .query_row(
            "SELECT seq, details FROM audit WHERE action = 'set-extension' AND target = ?1 ORDER BY seq LIMIT 1",
            params![target],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a set-extension record");
    // The SAN the officer set, dNSName "edit.test", as hex DER in the details.
    let edit_test = "656469742e74657374";
    assert!(
        details.contains("2.5.29.17") && details.contains(edit_test),
        "{details}"
    );
    // The edit hides which name the officer added: "fine.test", same length, valid DER.
    let forged = details.replace(edit_test, "66696e652e74657374");
    assert_ne!(forged, details, "{details}");
    conn.execute(
        "UPDATE audit SET details = ?1 WHERE seq = ?2",
        params![forged, seq],
    )
    .unwrap();
    rechain_from(&conn, seq);
    drop(conn);

    let offline = verify_offline(&server, &[]);
    assert_eq!(
        offline.code, 1,
        "the rewrite went unnoticed offline: {offline}"
    );
    assert!(offline.stdout.contains("BROKEN"), "{offline}");
    assert!(
        offline.stdout.contains(&format!("record {seq}")),
        "verify names the rewritten record {seq}: {offline}"
    );

    // The server refuses to start (and to sign a checkpoint over the rewritten head) while
    // its witness file names a record that changed; moved aside, as the refusal says, the
    // REST verify of the live database reports the rewrite too.
    let refused = server
        .try_serve()
        .expect_err("started over a rewritten log");
    assert!(
        refused.stderr.contains("removed or changed"),
        "{}",
        refused.stderr
    );
    fs::rename(
        server.data.join("audit-checkpoint.json"),
        server.work_file("moved-aside.json"),
    )
    .unwrap();
    server.serve();
    let auditor = server.create_token(&["auditor"], "aud");
    let online = cli_as(&server, &auditor, &["audit", "verify", "--json"]);
    assert_eq!(
        online.code, 1,
        "the rewrite went unnoticed online: {online}"
    );
    let v: Value = serde_json::from_str(&online.stdout).expect("JSON");
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(v["first_broken"], seq, "{v:#}");
}

/// Cutting the newest records off the end, with nothing but the data directory: the
/// checkpoint signed at shutdown (stored, and in audit-checkpoint.json) still covers them.
#[test]
fn deleting_the_newest_records_is_detected() {
    let mut server = Server::start(&[]);
    officer_history(&server);
    server.stop_ok();
    verify_offline(&server, &[]).expect_code(0);
    let conn = attacker_db(&server);
    let head = audit_head(&conn);
    conn.execute("DELETE FROM audit WHERE seq > ?1", params![head - 2])
        .unwrap();
    drop(conn);
    let run = verify_offline(&server, &[]);
    assert_eq!(run.code, 1, "truncation went unnoticed: {run}");
    assert!(
        run.stdout.contains(&format!(
            "covers record {head}, but the log ends at record {}",
            head - 2
        )),
        "{run}"
    );
}

/// Deleting the newest records is detected against the checkpoint signed at shutdown; an
/// attacker who also deletes the stored checkpoints and the local witness file is caught by
/// the checkpoint the `file` exit module kept outside the database.
#[test]
fn truncation_is_detected_against_checkpoints() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit("witness", "witness", "[\"AuditCheckpoint\"]"));
    server.serve();
    officer_history(&server);
    server.stop_ok();
    let ok = verify_offline(&server, &[]);
    ok.expect_code(0);
    assert!(ok.stdout.contains("checkpoint"), "{ok}");

    let witnessed = event_files(&server.data.join("witness"));
    let last = witnessed
        .iter()
        .rfind(|e| e.event == "AuditCheckpoint")
        .unwrap_or_else(|| panic!("no AuditCheckpoint event delivered: {witnessed:?}"));
    let kept = server.work_file("kept-checkpoint.json");
    fs::copy(&last.path, &kept).unwrap();
    let covered = last.json()["details"]["seq"].as_i64().expect("seq");

    // Cut the last three records: the chain that remains is internally consistent.
    let conn = attacker_db(&server);
    let head = audit_head(&conn);
    assert_eq!(head, covered, "the shutdown checkpoint covers the head");
    conn.execute("DELETE FROM audit WHERE seq > ?1", params![head - 3])
        .unwrap();
    drop(conn);
    let run = verify_offline(&server, &[]);
    assert_eq!(run.code, 1, "truncation went unnoticed: {run}");
    assert!(run.stdout.contains("BROKEN"), "{run}");

    // The attacker also removes every stored checkpoint and the local witness file.
    let conn = attacker_db(&server);
    if has_table(&conn, "audit_checkpoints") {
        conn.execute("DELETE FROM audit_checkpoints", []).unwrap();
    }
    drop(conn);
    let _ = fs::remove_file(server.data.join("audit-checkpoint.json"));
    let kept_arg = kept.to_str().unwrap().to_string();
    let run = verify_offline(&server, &["--checkpoint", &kept_arg]);
    assert_eq!(
        run.code, 1,
        "truncation went unnoticed against the witnessed checkpoint: {run}"
    );
    assert!(
        run.stdout.contains(&format!("{covered}")),
        "verify names the witnessed record {covered}: {run}"
    );
}

/// The attacker cuts the newest records and the checkpoints that cover them but cannot reach
/// the witness file: the server must not start and sign a fresh checkpoint over the cut log
/// (which would also overwrite the witness).
#[test]
fn a_server_refuses_to_sign_over_a_cut_log() {
    let mut server = Server::init(&["--dev"]);
    server.serve();
    officer_history(&server);
    server.stop_ok();
    let witness = server.data.join("audit-checkpoint.json");
    let before = fs::read_to_string(&witness).expect("the witness file");

    let conn = attacker_db(&server);
    let head = audit_head(&conn);
    conn.execute("DELETE FROM audit WHERE seq > ?1", params![head - 3])
        .unwrap();
    conn.execute(
        "DELETE FROM audit_checkpoints WHERE seq > ?1",
        params![head - 3],
    )
    .unwrap();
    drop(conn);

    let refused = server
        .try_serve()
        .expect_err("the server started over a cut log");
    assert!(
        refused.stderr.contains("were removed or changed"),
        "the refusal says why: {}",
        refused.stderr
    );
    assert_eq!(
        fs::read_to_string(&witness).unwrap(),
        before,
        "the witness file was overwritten"
    );
}

/// With the audit key an attacker can recompute a consistent keyed chain; the checkpoint an
/// exit module kept outside the database still catches the rewrite.
#[test]
fn keyed_rewrite_is_caught_by_a_witnessed_checkpoint() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(&file_exit("witness", "witness", "[\"AuditCheckpoint\"]"));
    server.serve();
    officer_history(&server);
    server.stop_ok();
    let last = event_files(&server.data.join("witness"))
        .into_iter()
        .rfind(|e| e.event == "AuditCheckpoint")
        .expect("a checkpoint event");
    let kept = server.work_file("kept.json");
    fs::copy(&last.path, &kept).unwrap();
    let kept_arg = kept.to_str().unwrap().to_string();
    verify_offline(&server, &["--checkpoint", &kept_arg]).expect_code(0);

    // Rewrite a record, then re-key the whole chain with the stolen key (the attacker read
    // the data directory) and drop the evidence inside it.
    let key = fs::read_to_string(server.data.join("audit.key")).expect("audit.key");
    let conn = attacker_db(&server);
    conn.execute(
        "UPDATE audit SET actor = 'mallory' WHERE action = 'approve'",
        [],
    )
    .unwrap();
    conn.execute("DELETE FROM audit_checkpoints", []).unwrap();
    drop(conn);
    let _ = fs::remove_file(server.data.join("audit-checkpoint.json"));
    rechain_keyed(&server, &key);
    let alone = verify_offline(&server, &[]);
    assert_eq!(
        alone.code, 0,
        "without an outside witness a re-keyed chain verifies (documented): {alone}"
    );
    let run = verify_offline(&server, &["--checkpoint", &kept_arg]);
    assert_eq!(
        run.code, 1,
        "the witnessed checkpoint did not catch it: {run}"
    );
    assert!(run.stdout.contains("BROKEN"), "{run}");

    // The REST verification of the running server, given the same witnessed checkpoint
    // (POST /api/v1/audit/verify), says the same; without it, it cannot know.
    server.serve();
    let auditor = server.create_token(&["auditor"], "aud");
    cli_as(&server, &auditor, &["audit", "verify"]).expect_code(0);
    let online = cli_as(
        &server,
        &auditor,
        &["audit", "verify", "--checkpoint", &kept_arg],
    );
    assert_eq!(online.code, 1, "{online}");
    assert!(
        online.stdout.contains("is missing from the database"),
        "{online}"
    );
}

/// The `file` exit module records each checkpoint; its signature verifies with openssl
/// against `audit-signing.pub`, and the checkpoint names the chain head it covers.
#[test]
fn exit_modules_receive_signed_checkpoints() {
    let mut server = Server::init(&["--dev"]);
    server_options(&server, FAST_CHECKPOINTS);
    server.append_config(&file_exit("witness", "witness", "[\"AuditCheckpoint\"]"));
    server.append_config(
        "[[ca.exit]]\nname = \"journal\"\nmodule = \"log\"\nevents = [\"AuditCheckpoint\"]\n",
    );
    server.serve();
    let dir = server.data.join("witness");
    server.issue("one.test");
    let first = wait_until(DELIVERY_TIMEOUT, "a checkpoint event", || {
        event_files(&dir)
            .into_iter()
            .find(|e| e.event == "AuditCheckpoint")
    })
    .json();
    assert_eq!(first["event_bit"], 0x10000, "{first:#}");
    let d = &first["details"];
    let number = d["checkpoint"].as_u64().expect("number");
    // Activity after the first checkpoint leads to another one within the interval.
    server.issue("two.test");
    let later = wait_until(DELIVERY_TIMEOUT, "a later checkpoint", || {
        event_files(&dir).into_iter().map(|e| e.json()).find(|j| {
            j["event"] == "AuditCheckpoint" && j["details"]["checkpoint"].as_u64() > Some(number)
        })
    });
    assert!(
        later["details"]["seq"].as_u64() > d["seq"].as_u64(),
        "{later:#}"
    );

    let signed = d["signed"].as_str().expect("signed text");
    assert_eq!(
        signed,
        format!(
            "signet-audit-checkpoint-v1 {} {} {} {}",
            d["checkpoint"],
            d["seq"],
            d["hash"].as_str().unwrap(),
            d["at"]
        ),
        "{d:#}"
    );
    let msg = server.work_file("checkpoint.txt");
    fs::write(&msg, signed).unwrap();
    let sig = server.work_file("checkpoint.sig");
    fs::write(
        &sig,
        hex_decode(d["signature"].as_str().expect("signature")),
    )
    .unwrap();
    let public = server.data.join("audit-signing.pub");
    let run = run_program(
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            public.to_str().unwrap(),
            "-rawin",
            "-in",
            msg.to_str().unwrap(),
            "-sigfile",
            sig.to_str().unwrap(),
        ],
    );
    assert_eq!(
        run.code, 0,
        "openssl does not accept the checkpoint signature: {run}"
    );
    assert!(
        run.stdout.contains("Signature Verified Successfully"),
        "{run}"
    );
    // The log exit writes the checkpoint too.
    assert!(
        server.log().contains("AuditCheckpoint") && server.log().contains(signed),
        "{}",
        server.log_tail()
    );

    // Key files: the secrets are 0600, the public key is for copying elsewhere.
    #[cfg(unix)]
    for f in ["audit.key", "audit-signing.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(server.data.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    server.stop_ok();
    let run = verify_offline(&server, &[]);
    run.expect_code(0);
    assert!(run.stdout.contains("verified with the audit key"), "{run}");

    // The log exit's lines are a witness `verify --checkpoint` reads back.
    let log = server.work_file("serve.log");
    fs::write(&log, server.log()).unwrap();
    let run = verify_offline(&server, &["--checkpoint", log.to_str().unwrap()]);
    run.expect_code(0);
    assert!(run.stdout.contains("witnessed outside it"), "{run}");
    assert!(!run.stdout.contains(", 0 witnessed"), "{run}");
}

/// An installation from before the audit key: its unkeyed records stay verifiable as the
/// legacy segment, the first start creates the keys and a keyed segment follows.
#[test]
fn existing_unkeyed_chain_becomes_the_legacy_segment() {
    let mut server = Server::start(&[]);
    server.issue("old.test");
    server.stop_ok();
    // Make the directory look like one written before this change: no key files, no
    // checkpoints, every record hashed with the unkeyed formula.
    for f in [
        "audit.key",
        "audit-signing.key",
        "audit-signing.pub",
        "audit-checkpoint.json",
    ] {
        let _ = fs::remove_file(server.data.join(f));
    }
    let conn = attacker_db(&server);
    if has_table(&conn, "audit_checkpoints") {
        conn.execute("DELETE FROM audit_checkpoints", []).unwrap();
    }
    rechain_from(&conn, 1);
    let legacy_head = audit_head(&conn);
    drop(conn);

    server.serve();
    assert!(
        server.data.join("audit.key").exists(),
        "the first start creates the key"
    );
    server.issue("new.test");
    server.stop_ok();
    let run = verify_offline(&server, &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!("records 1–{legacy_head}")) && run.stdout.contains("unkeyed"),
        "verify names the legacy segment: {run}"
    );
    assert!(run.stdout.contains("verified with the audit key"), "{run}");
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Recomputes the whole chain as the keyed formula does, with a stolen `audit.key`.
fn rechain_keyed(server: &Server, key_file: &str) {
    let mut key = None;
    let mut first_seq = 1i64;
    for line in key_file.lines() {
        if let Some(k) = line.strip_prefix("key ") {
            key = Some(hex_decode(k.trim()));
        } else if let Some(f) = line.strip_prefix("first-seq ") {
            first_seq = f.trim().parse().expect("first-seq");
        }
    }
    let key = key.expect("a key line in audit.key");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let conn = attacker_db(server);
    rechain_from(&conn, 1);
    let mut prev: Vec<u8> = if first_seq <= 1 {
        vec![0; 32]
    } else {
        conn.query_row(
            "SELECT hash FROM audit WHERE seq = ?1",
            params![first_seq - 1],
            |r| r.get(0),
        )
        .unwrap()
    };
    type Row = (i64, i64, String, String, Option<String>, String, String);
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, at, actor, action, ca, target, details FROM audit WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map(params![first_seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, at, actor, action, ca, target, details) in rows {
        // The keyed formula: the unkeyed one's input with the v2 domain, under HMAC-SHA256.
        let input = keyed_input(
            seq,
            at,
            &actor,
            &action,
            ca.as_deref(),
            &target,
            &details,
            &prev,
        );
        let tag = aws_lc_rs::hmac::sign(&key, &input);
        let hash = tag.as_ref().to_vec();
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

#[allow(clippy::too_many_arguments)]
fn keyed_input(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    ca: Option<&str>,
    target: &str,
    details: &str,
    prev: &[u8],
) -> Vec<u8> {
    fn field(buf: &mut Vec<u8>, s: &str) {
        buf.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    let mut buf = b"signet-audit-v2\0".to_vec();
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&at.to_be_bytes());
    field(&mut buf, actor);
    field(&mut buf, action);
    match ca {
        Some(ca) => {
            buf.push(1);
            field(&mut buf, ca);
        }
        None => buf.push(0),
    }
    field(&mut buf, target);
    field(&mut buf, details);
    buf.extend_from_slice(prev);
    buf
}
