//! The one oracle rule of Signet's tests (the same file in every crate that needs it).
//!
//! A check against a tool we did not write (openssl, pkilint, Python `cryptography`, node,
//! Chromium) never skips silently: a missing tool fails the test with how to install it,
//! unless the run opts out by naming the oracle in `SIGNET_SKIP_ORACLES` (comma-separated,
//! e.g. `SIGNET_SKIP_ORACLES=pkilint,chromium`); then the test prints what it skipped.

/// Whether the oracle `name` may be used: `true` when `present`; when it is missing, panics
/// with `install` (how to get it), or returns `false` after printing a SKIPPED line if
/// `SIGNET_SKIP_ORACLES` names it.
pub fn available(name: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    let skip = std::env::var("SIGNET_SKIP_ORACLES").unwrap_or_default();
    assert!(
        skip.split(',').any(|s| s.trim() == name),
        "the {name} oracle is missing: {install}. Run scripts/test.sh, or set \
         SIGNET_SKIP_ORACLES={name} to skip its checks explicitly"
    );
    eprintln!("SKIPPED: the {name} checks (SIGNET_SKIP_ORACLES={skip}; {name} is missing)");
    false
}
