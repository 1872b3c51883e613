//! Exit delivery (issue 6): one delivery task per (CA, exit module), so a slow or failing
//! module delays nobody else; retries with a stored backoff that survives a crash; parking
//! after `max_attempts`, and the administration of parked events (`signet admin exits`,
//! retry, skip, audit, roles); the `command` exit module; per-module metrics.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{DELIVERY_TIMEOUT, Server, event_files, run_signet, wait_until};
use serde_json::Value;

/// A hook script for the `command` module. Every call appends its stdin to `calls.jsonl`;
/// while `fail` exists it prints to stderr and exits 3; while `slow` exists it sleeps first;
/// otherwise it appends stdin to `delivered.jsonl` and writes its environment to `env.txt`.
fn hook_script(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("hook dir");
    let script = dir.join("hook.sh");
    fs::write(
        &script,
        "#!/bin/sh\n\
         d=\"$1\"\n\
         input=$(cat)\n\
         printf '%s\\n' \"$input\" >> \"$d/calls.jsonl\"\n\
         if [ -e \"$d/slow\" ]; then sleep 20; fi\n\
         if [ -e \"$d/fail\" ]; then echo \"the flag file is up\" >&2; exit 3; fi\n\
         env > \"$d/env.txt\"\n\
         printf '%s\\n' \"$input\" >> \"$d/delivered.jsonl\"\n",
    )
    .expect("writing the hook script");
    script
}

fn command_exit(name: &str, dir: &Path, extra: &str) -> String {
    let script = hook_script(dir);
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"command\"\nprogram = \"/bin/sh\"\n\
         args = [\"{}\", \"{}\"]\nevents = [\"Issued\"]\n{extra}\n",
        script.display(),
        dir.display()
    )
}

fn file_exit(name: &str, directory: &str) -> String {
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"file\"\ndirectory = \"{directory}\"\nevents = [\"Issued\"]\n"
    )
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn seqs(path: &Path) -> Vec<u64> {
    lines(path)
        .iter()
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

fn exits(server: &Server, token: &str) -> Vec<Value> {
    let resp = server.call(Some(token), "GET", "/api/v1/cas/demo/exits", None);
    assert_eq!(resp.status, 200, "{resp}");
    resp.json().as_array().cloned().unwrap_or_default()
}

fn exit_row(server: &Server, token: &str, exit: &str) -> Value {
    exits(server, token)
        .into_iter()
        .find(|r| r["exit"] == exit)
        .unwrap_or_else(|| panic!("no exit {exit} in the status list"))
}

/// Waits until every module has caught up with the outbox (the start-up events).
fn wait_caught_up(server: &Server, token: &str) {
    wait_until(DELIVERY_TIMEOUT, "every exit module caught up", || {
        exits(server, token)
            .iter()
            .all(|r| r["lag"] == 0)
            .then_some(())
    });
}

fn admin_cli(server: &Server, token: &str, args: &[&str]) -> common::Run {
    let url = server.url();
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    full.extend(["--server", url.as_str(), "--token", token]);
    run_signet(&full, &[], None)
}

fn audit_actions(server: &Server, token: &str) -> Vec<Value> {
    let resp = server.call(Some(token), "GET", "/api/v1/audit", None);
    assert_eq!(resp.status, 200, "{resp}");
    resp.text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit JSON line"))
        .collect()
}

/// A module that hangs (20 s per call) and one that fails are configured before a `file`
/// exit: issuance stays fast and the file exit gets its event at once. With max_attempts = 3
/// the failing event is parked, later events flow, and the parked event is listed, retried
/// (audited) once the cause is gone; `skip` parks a stuck event (audited); a requester gets
/// 403 on every exit endpoint; /metrics has the per-module series.
#[test]
fn failing_modules_are_isolated_parked_retried_and_skipped() {
    let mut server = Server::init(&["--dev"]);
    let slow = server.work.join("slow");
    let hook = server.work.join("hook");
    let stuck = server.work.join("stuck");
    server.append_config(&command_exit("slow", &slow, "timeout = \"60s\""));
    server.append_config(&command_exit(
        "hook",
        &hook,
        "max_attempts = 3\nbackoff_initial = \"100ms\"\nbackoff_max = \"200ms\"",
    ));
    server.append_config(&command_exit("stuck", &stuck, "backoff_initial = \"1s\""));
    server.append_config(&file_exit("archive", "exits/archive"));
    server.serve();
    let admin = server.admin_token();
    let requester = server.token.clone().expect("requester token");
    wait_caught_up(&server, &admin);
    fs::write(slow.join("slow"), "").expect("flag");
    fs::write(hook.join("fail"), "").expect("flag");
    fs::write(stuck.join("fail"), "").expect("flag");

    let started = Instant::now();
    let a = server.issue("a.test");
    let b = server.issue("b.test");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "issuance waited for exit modules: {:?}",
        started.elapsed()
    );
    // The file exit is not held up by the hanging or failing modules before it.
    let archive = server.data.join("exits/archive");
    wait_until(
        Duration::from_secs(10),
        "the archive got both certificates",
        || {
            let subjects: Vec<String> = event_files(&archive)
                .iter()
                .map(|e| {
                    e.json()["request"]["subject"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            (subjects.iter().any(|s| s.contains("a.test"))
                && subjects.iter().any(|s| s.contains("b.test")))
            .then_some(())
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the file exit waited behind the slow module"
    );

    // `hook` parks a's event after 3 attempts, then b's after 3 more: nothing is stuck.
    let row = wait_until(DELIVERY_TIMEOUT, "hook parked two events", || {
        let r = exit_row(&server, &admin, "hook");
        (r["parked"] == 2 && r["lag"] == 0).then_some(r)
    });
    assert_eq!(row["attempts"], 0, "{row:#}");
    let calls = seqs(&hook.join("calls.jsonl"));
    let parked = server
        .call(
            Some(&admin),
            "GET",
            "/api/v1/cas/demo/exits/parked?exit=hook",
            None,
        )
        .json();
    let parked = parked.as_array().cloned().unwrap_or_default();
    assert_eq!(parked.len(), 2, "{parked:#?}");
    let first = parked[0]["seq"].as_u64().expect("seq");
    assert_eq!(parked[0]["attempts"], 3, "{parked:#?}");
    assert!(
        parked[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("the flag file is up"),
        "the error carries the program's stderr: {parked:#?}"
    );
    assert_eq!(
        calls.iter().filter(|s| **s == first).count(),
        3,
        "exactly max_attempts calls: {calls:?}"
    );
    assert_eq!(parked[0]["request_id"], a["id"], "{parked:#?}");

    // The cause is fixed: a later event flows, and the parked one is retried from the CLI.
    fs::remove_file(hook.join("fail")).expect("flag");
    let c = server.issue("c.test");
    wait_until(DELIVERY_TIMEOUT, "hook delivered c", || {
        lines(&hook.join("delivered.jsonl"))
            .iter()
            .any(|v| v["request"]["id"] == c["id"])
            .then_some(())
    });
    let run = admin_cli(&server, &admin, &["exits", "parked", "--module", "hook"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains(&first.to_string()), "{run}");
    let run = admin_cli(&server, &admin, &["exits"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("hook") && run.stdout.contains("archive"),
        "{run}"
    );
    let run = admin_cli(
        &server,
        &admin,
        &["exits", "retry", "hook", &first.to_string()],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        lines(&hook.join("delivered.jsonl"))
            .iter()
            .any(|v| v["seq"] == first && v["request"]["id"] == a["id"]),
        "the retried event was delivered"
    );
    let parked = server
        .call(
            Some(&admin),
            "GET",
            "/api/v1/cas/demo/exits/parked?exit=hook",
            None,
        )
        .json();
    assert_eq!(parked.as_array().map(Vec::len), Some(1), "{parked:#}");
    // Retrying what is not parked (any more) is a 404.
    let resp = server.call(
        Some(&admin),
        "POST",
        &format!("/api/v1/cas/demo/exits/hook/parked/{first}/retry"),
        None,
    );
    assert_eq!(resp.status, 404, "{resp}");
    let _ = b;

    // `stuck` keeps retrying (20 attempts, 1 s apart and more): skip parks its event now.
    wait_until(DELIVERY_TIMEOUT, "stuck failing", || {
        let r = exit_row(&server, &admin, "stuck");
        (r["attempts"].as_u64().unwrap_or(0) >= 1).then_some(())
    });
    let stuck_on = exit_row(&server, &admin, "stuck")["failing_seq"]
        .as_u64()
        .expect("failing_seq");
    let run = admin_cli(&server, &admin, &["exits", "skip", "stuck"]);
    assert_eq!(run.code, 0, "{run}");
    let parked = server
        .call(
            Some(&admin),
            "GET",
            "/api/v1/cas/demo/exits/parked?exit=stuck",
            None,
        )
        .json();
    assert_eq!(parked[0]["seq"], stuck_on, "{parked:#}");
    // The next event is now the one it is stuck on.
    wait_until(DELIVERY_TIMEOUT, "stuck moved on", || {
        let r = exit_row(&server, &admin, "stuck");
        (r["cursor"].as_u64().unwrap_or(0) >= stuck_on).then_some(())
    });

    let auditor = server.create_token(&["auditor"], "aud");
    let audit = audit_actions(&server, &auditor);
    let retry = audit
        .iter()
        .find(|r| r["action"] == "exit-retry")
        .unwrap_or_else(|| panic!("no exit-retry audit record: {audit:#?}"));
    assert!(
        retry["details"].to_string().contains("delivered"),
        "{retry:#}"
    );
    assert!(
        audit.iter().any(|r| r["action"] == "exit-skip"),
        "no exit-skip audit record"
    );

    // A requester may neither read nor change exit delivery.
    for (method, path) in [
        ("GET", "/api/v1/cas/demo/exits".to_string()),
        ("GET", "/api/v1/cas/demo/exits/parked".to_string()),
        (
            "POST",
            format!("/api/v1/cas/demo/exits/hook/parked/{first}/retry"),
        ),
        ("POST", "/api/v1/cas/demo/exits/stuck/skip".to_string()),
    ] {
        let resp = server.call(Some(&requester), method, &path, None);
        assert_eq!(resp.status, 403, "{method} {path}: {resp}");
    }
    // An auditor reads, but may not skip.
    let names: Vec<Value> = exits(&server, &auditor)
        .iter()
        .map(|r| r["exit"].clone())
        .collect();
    for name in ["slow", "hook", "stuck", "archive"] {
        assert!(names.contains(&Value::from(name)), "{names:?}");
    }
    let resp = server.call(
        Some(&auditor),
        "POST",
        "/api/v1/cas/demo/exits/stuck/skip",
        None,
    );
    assert_eq!(resp.status, 403, "{resp}");

    // Per-module metrics.
    let m = |s: &str| server.metric(s);
    assert!(m("signet_exit_delivered_total{ca=\"demo\",exit=\"archive\"}").unwrap_or(0.0) >= 2.0);
    assert!(m("signet_exit_failed_total{ca=\"demo\",exit=\"hook\"}").unwrap_or(0.0) >= 6.0);
    assert_eq!(
        m("signet_exit_parked_total{ca=\"demo\",exit=\"hook\"}"),
        Some(2.0)
    );
    assert_eq!(
        m("signet_exit_lag{ca=\"demo\",exit=\"archive\"}"),
        Some(0.0)
    );
}

/// A module in backoff keeps its attempt count and schedule across a crash (SIGKILL).
#[test]
fn backoff_state_survives_a_crash() {
    let mut server = Server::init(&["--dev"]);
    let hook = server.work.join("hook");
    server.append_config(&command_exit(
        "hook",
        &hook,
        "backoff_initial = \"1s\"\nbackoff_max = \"2s\"",
    ));
    server.serve();
    let admin = server.admin_token();
    wait_caught_up(&server, &admin);
    fs::write(hook.join("fail"), "").expect("flag");
    server.issue("a.test");
    let before = wait_until(DELIVERY_TIMEOUT, "two failed attempts", || {
        let r = exit_row(&server, &admin, "hook");
        (r["attempts"].as_u64().unwrap_or(0) >= 2).then_some(r)
    });
    let seq = before["failing_seq"].as_u64().expect("failing_seq");
    assert!(before["next_attempt_at"].is_string(), "{before:#}");
    assert!(
        before["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("exited with"),
        "{before:#}"
    );
    server.kill();
    server.serve();
    let after = exit_row(&server, &admin, "hook");
    assert_eq!(after["failing_seq"], seq, "{after:#}");
    assert!(
        after["attempts"].as_u64() >= before["attempts"].as_u64(),
        "attempts were reset by the restart: before {before:#}, after {after:#}"
    );
    let n = after["attempts"].as_u64().unwrap_or(0);
    wait_until(DELIVERY_TIMEOUT, "attempts keep counting", || {
        let r = exit_row(&server, &admin, "hook");
        (r["attempts"].as_u64().unwrap_or(0) > n).then_some(())
    });
    // Fixed: the event is delivered and the failure state clears.
    fs::remove_file(hook.join("fail")).expect("flag");
    wait_until(DELIVERY_TIMEOUT, "delivered after the fix", || {
        let r = exit_row(&server, &admin, "hook");
        (r["attempts"] == 0 && r["lag"] == 0 && r["last_success_at"].is_string()).then_some(())
    });
    assert!(seqs(&hook.join("delivered.jsonl")).contains(&seq));
}

/// The `command` module: the event JSON (with the certificate PEM on Issued) on stdin, an
/// environment of PATH only, non-zero exit = not delivered (stderr in the error), and a
/// program past its timeout is killed.
#[test]
fn command_module_stdin_exit_status_and_timeout() {
    let mut server = Server::init(&["--dev"]);
    let hook = server.work.join("hook");
    let sleeper = server.work.join("sleeper");
    server.append_config(&command_exit("hook", &hook, ""));
    server.append_config(&command_exit(
        "sleeper",
        &sleeper,
        "timeout = \"1s\"\nbackoff_initial = \"1s\"",
    ));
    server
        .serve_env
        .push(("SIGNET_TEST_SECRET".into(), "do-not-leak".into()));
    server.serve();
    let admin = server.admin_token();
    wait_caught_up(&server, &admin);
    fs::write(sleeper.join("slow"), "").expect("flag");

    let a = server.issue("stdin.test");
    let record = wait_until(DELIVERY_TIMEOUT, "hook got the event", || {
        lines(&hook.join("delivered.jsonl"))
            .into_iter()
            .find(|v| v["request"]["id"] == a["id"])
    });
    assert_eq!(record["event"], "Issued");
    assert_eq!(record["ca"], "demo");
    assert!(
        record["request"]["subject"]
            .as_str()
            .unwrap_or("")
            .contains("stdin.test")
    );
    let pem = record["certificate"]["pem"].as_str().unwrap_or("");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{record:#}");
    assert_eq!(
        pem.trim(),
        a["certificate"].as_str().unwrap_or("").trim(),
        "the PEM on stdin is the issued certificate"
    );
    let env = fs::read_to_string(hook.join("env.txt")).expect("env.txt");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(
        !env.contains("SIGNET_TEST_SECRET"),
        "the environment leaked: {env}"
    );

    // Exit status 3 is a failed delivery, with the program's stderr in the error.
    fs::write(hook.join("fail"), "").expect("flag");
    server.issue("fails.test");
    let row = wait_until(DELIVERY_TIMEOUT, "hook failing", || {
        let r = exit_row(&server, &admin, "hook");
        (r["attempts"].as_u64().unwrap_or(0) >= 1).then_some(r)
    });
    let error = row["last_error"].as_str().unwrap_or("");
    assert!(error.contains("exit status: 3"), "{row:#}");
    assert!(error.contains("the flag file is up"), "{row:#}");

    // The sleeper is killed at its 1 s timeout (not after its 20 s sleep).
    let row = wait_until(Duration::from_secs(15), "the sleeper timed out", || {
        let r = exit_row(&server, &admin, "sleeper");
        (r["attempts"].as_u64().unwrap_or(0) >= 1).then_some(r)
    });
    assert!(
        row["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{row:#}"
    );
    assert!(
        !lines(&sleeper.join("delivered.jsonl"))
            .iter()
            .any(|v| v["request"]["id"] == a["id"]),
        "the killed program acknowledged nothing"
    );
}

/// Delivery settings are checked at start with clear errors.
#[test]
fn bad_delivery_settings_are_refused() {
    for (extra, expected) in [
        ("max_attempts = 0", "max_attempts"),
        ("backoff_initial = \"soon\"", "backoff_initial"),
        (
            "backoff_initial = \"10s\"\nbackoff_max = \"1s\"",
            "shorter than",
        ),
        ("timeout = \"0s\"", "timeout"),
    ] {
        let mut server = Server::init(&["--dev"]);
        let dir = server.work.join("hook");
        server.append_config(&command_exit("hook", &dir, extra));
        let failure = server
            .try_serve()
            .err()
            .unwrap_or_else(|| panic!("{extra} was accepted"));
        assert!(
            failure.stderr.contains(expected),
            "{extra}: expected {expected:?} in:\n{}",
            failure.stderr
        );
    }
}
