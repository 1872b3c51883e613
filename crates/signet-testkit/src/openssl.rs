//! The `openssl` command as an oracle: something Signet did not write checks what it made.
//!
//! A missing `openssl` fails the test that needs it (it is never a silent skip).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs `openssl` with `args`; panics if it cannot be started (not installed).
pub fn run(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap_or_else(|e| {
        panic!("the openssl oracle is needed by this test and could not be run ({e}); install openssl")
    })
}

/// Writes `der` as PEM (`label`) to `dir/name` and returns the path.
pub fn write_pem(dir: &Path, name: &str, label: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, signet_x509::pem::encode(label, der)).expect("writing a PEM file");
    path
}

/// Checks `leaf` (DER) against the CA certificate `ca` (DER) with `openssl verify`, at
/// `at` (the test's clock); panics with openssl's output if it does not verify.
pub fn verify_certificate(dir: &Path, ca: &[u8], leaf: &[u8], at: SystemTime) {
    let ca = write_pem(dir, "ca.pem", "CERTIFICATE", ca);
    let leaf = write_pem(dir, "leaf.pem", "CERTIFICATE", leaf);
    let at = at
        .duration_since(UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs()
        .to_string();
    let out = run(&[
        "verify",
        "-attime",
        &at,
        "-CAfile",
        path_str(&ca),
        path_str(&leaf),
    ]);
    assert!(
        out.status.success(),
        "openssl verify refused the certificate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The path as a `&str` (temporary paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
