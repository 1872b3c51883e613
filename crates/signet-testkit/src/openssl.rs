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

/// Asks `answer` (an OCSP responder: request DER in, response DER out) about `leaf`, with
/// the request `openssl ocsp` makes, and returns what `openssl ocsp` says of the answer after
/// checking its signature against the CA certificate: `good`, `revoked` or `unknown`.
pub fn ocsp_status(
    dir: &Path,
    ca: &[u8],
    leaf: &[u8],
    answer: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let ca = write_pem(dir, "ca.pem", "CERTIFICATE", ca);
    let cert = write_pem(dir, "leaf.pem", "CERTIFICATE", leaf);
    let request = dir.join("ocsp-request.der");
    let out = run(&[
        "ocsp",
        "-issuer",
        path_str(&ca),
        "-cert",
        path_str(&cert),
        "-no_nonce",
        "-reqout",
        path_str(&request),
    ]);
    assert!(out.status.success(), "openssl ocsp -reqout: {out:?}");
    let der = std::fs::read(&request).expect("reading the OCSP request");
    let response = dir.join("ocsp-response.der");
    std::fs::write(&response, answer(&der)).expect("writing the OCSP response");
    let out = run(&[
        "ocsp",
        "-respin",
        path_str(&response),
        "-issuer",
        path_str(&ca),
        "-cert",
        path_str(&cert),
        "-CAfile",
        path_str(&ca),
        "-no_nonce",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("Response verify OK"),
        "openssl ocsp -respin: {stdout}{stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("leaf.pem:"))
        .unwrap_or_else(|| panic!("no status line: {stdout}"));
    line.rsplit(": ").next().unwrap_or("").trim().to_string()
}
