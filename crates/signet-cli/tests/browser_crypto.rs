//! The web enrollment page's browser-side crypto (`signet-server/web/static/pkcs10.js`:
//! PKCS#10 CSRs, encrypted PKCS#8, PKCS#12), run under Node's WebCrypto by
//! `tests/web/pkcs10.test.mjs` and checked there with the `openssl` CLI.
//!
//! Node and openssl are oracles: a missing one fails the test unless `SIGNET_SKIP_ORACLES`
//! names it (`node`, `openssl`; see `tests/common/oracle.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[path = "common/oracle.rs"]
mod oracle;

/// Whether `program ARGS` runs and exits 0; its stdout when it does.
fn tool_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn pkcs10_js_under_node() {
    // Node 20.19 or later: global WebCrypto, node:test, and ES module syntax detection
    // (pkcs10.js is a plain `.js` ES module with no package.json beside it).
    let node = tool_output("node", &["--version"]);
    let version: Option<(u32, u32)> = node.as_deref().and_then(|v| {
        let mut parts = v.strip_prefix('v')?.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    });
    if !oracle::available(
        "node",
        version.is_some_and(|v| v >= (20, 19)),
        &format!("node 20.19 or later is needed (found {node:?}); install it from nodejs.org"),
    ) {
        return;
    }
    if !oracle::available(
        "openssl",
        tool_output("openssl", &["version"]).is_some(),
        "the openssl CLI is needed; install it with `apt-get install openssl`",
    ) {
        return;
    }

    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    let out = Command::new("node")
        .args(["--test", "pkcs10.test.mjs"])
        .current_dir(&web)
        .env("NO_COLOR", "1")
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`node --test pkcs10.test.mjs` in {} failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        web.display(),
        out.status
    );
    // A run that found no tests would also exit 0.
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0\n"),
        "unexpected node --test summary:\n{stdout}\n{stderr}"
    );
}
