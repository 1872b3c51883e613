//! The crate layout holds by test, not by convention: which workspace crate may depend on
//! which, and which crates must stay free of HTTP, SQL and an async runtime. Reads
//! `cargo metadata --no-deps` (no build, no download) and checks normal dependencies
//! (dev-dependencies are free: tests may use anything). An external crate counts as reached
//! when the crate or a workspace crate it depends on names it (optional ones included).
//!
//! A new crate gets a line in [`RULES`]; a crate without one fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// External crates that mean HTTP, SQL or an async runtime.
const HTTP_SQL_ASYNC: &[&str] = &[
    "axum",
    "hyper",
    "hyper-util",
    "http-body-util",
    "reqwest",
    "tokio",
    "tokio-rustls",
    "async-std",
    "smol",
    "rusqlite",
    "libsqlite3-sys",
    "sqlx",
    "tokio-postgres",
    "postgres",
    "diesel",
];

/// What a front end may reach: the front-end API and the DER crate.
const FRONT_END: &[&str] = &["signet-api", "signet-x509"];
/// What an engine-side crate (the engine's modules, the store, the keys) may reach.
const ENGINE_SIDE: &[&str] = &["signet-api", "signet-core", "signet-x509"];
/// The engine's modules: policy modules, exit modules and the wasm host may use each other.
const MODULES: &[&str] = &[
    "signet-api",
    "signet-core",
    "signet-x509",
    "signet-policy",
    "signet-exits",
    "signet-wasm",
];

/// What a policy module must not reach: it runs on the issuance path and opens no
/// connections (SMTP, LDAP, HTTP) and runs no foreign code (the wasm host is its own crate).
const NETWORK_AND_SANDBOX: &[&str] = &[
    "lettre",
    "ldap3",
    "hyper",
    "hyper-util",
    "reqwest",
    "tokio",
    "tokio-rustls",
    "wasmtime",
    "rusqlite",
    "sqlx",
    "tokio-postgres",
];

/// One crate's rule.
struct Rule {
    /// The workspace crates it may depend on (`None`: any; only the binary).
    may_depend_on: Option<&'static [&'static str]>,
    /// External crates it must not reach, directly or through its dependencies.
    must_not_reach: &'static [&'static str],
}

const fn only(crates: &'static [&'static str]) -> Rule {
    Rule {
        may_depend_on: Some(crates),
        must_not_reach: &[],
    }
}

/// Every workspace crate, with what it may depend on. Add a line for a new crate.
const RULES: &[(&str, Rule)] = &[
    // DER in and out; depends on no other workspace crate.
    ("signet-x509", only(&[])),
    // The front-end API: values and traits only.
    (
        "signet-api",
        Rule {
            may_depend_on: Some(&["signet-x509"]),
            must_not_reach: HTTP_SQL_ASYNC,
        },
    ),
    // The engine: no HTTP, no SQL, no async runtime; never the store, keys, modules or
    // front ends (they are injected through its traits).
    (
        "signet-core",
        Rule {
            may_depend_on: Some(&["signet-api", "signet-x509"]),
            must_not_reach: HTTP_SQL_ASYNC,
        },
    ),
    ("signet-keys", only(ENGINE_SIDE)),
    // Keys on PKCS#11 tokens: the engine side and the software keys' encodings; the FFI
    // lives in cryptoki, not here (no `unsafe`).
    (
        "signet-pkcs11",
        only(&["signet-api", "signet-core", "signet-x509", "signet-keys"]),
    ),
    ("signet-store", only(ENGINE_SIDE)),
    (
        "signet-policy",
        Rule {
            may_depend_on: Some(&["signet-api", "signet-core", "signet-x509"]),
            must_not_reach: NETWORK_AND_SANDBOX,
        },
    ),
    ("signet-exits", only(MODULES)),
    ("signet-wasm", only(MODULES)),
    // Front ends: the front-end API and DER only (the HTTP server also the wire types).
    ("signet-client", only(FRONT_END)),
    (
        "signet-server",
        only(&["signet-api", "signet-x509", "signet-client"]),
    ),
    ("signet-acme", only(FRONT_END)),
    ("signet-scep", only(FRONT_END)),
    ("signet-est", only(FRONT_END)),
    ("signet-cmp", only(FRONT_END)),
    // Test support (dev-dependency only, never in the binary).
    (
        "signet-testkit",
        Rule {
            may_depend_on: None,
            must_not_reach: &[],
        },
    ),
    // The binary wires everything together.
    (
        "signet-cli",
        Rule {
            may_depend_on: None,
            must_not_reach: &[],
        },
    ),
];

#[test]
fn every_crate_keeps_to_its_layer() {
    let metadata = metadata();
    let problems = check(&metadata);
    assert!(
        problems.is_empty(),
        "the crate layout is broken:\n  {}",
        problems.join("\n  ")
    );
}

/// The workspace's `cargo metadata`.
fn metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root is two levels above the crate");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--no-deps",
        ])
        .current_dir(root)
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Every broken rule, as a sentence.
fn check(metadata: &Value) -> Vec<String> {
    let packages = metadata["packages"].as_array().expect("packages");
    // Workspace crate -> the names of its normal (non-dev) dependencies.
    let deps: BTreeMap<&str, Vec<&str>> = packages
        .iter()
        .filter_map(|p| {
            let names = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .collect();
            Some((p["name"].as_str()?, names))
        })
        .collect();
    let workspace: BTreeSet<&str> = deps.keys().copied().collect();

    let mut problems = Vec::new();
    for (&name, direct) in &deps {
        let Some((_, rule)) = RULES.iter().find(|(n, _)| *n == name) else {
            problems.push(format!(
                "add a line for crate {name} to RULES in crates/signet-cli/tests/crate_layout.rs (what may it depend on?)"
            ));
            continue;
        };
        if let Some(allowed) = rule.may_depend_on {
            for dep in direct.iter().filter(|d| workspace.contains(*d)) {
                if !allowed.contains(dep) {
                    problems.push(format!(
                        "{name} depends on {dep}, but may depend only on {} among the workspace crates",
                        if allowed.is_empty() {
                            "nothing".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
            }
        }
        for (reached, path) in reachable(&deps, name) {
            if rule.must_not_reach.contains(&reached) {
                problems.push(format!(
                    "{name} reaches {reached}, which its rule forbids, through {}",
                    path.join(" -> ")
                ));
            }
        }
    }
    problems
}

/// Every crate reachable from `start` through workspace crates, each with one path to it
/// (`start` first).
fn reachable<'a>(
    deps: &BTreeMap<&'a str, Vec<&'a str>>,
    start: &'a str,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut queue = vec![(start, vec![start])];
    while let Some((name, path)) = queue.pop() {
        for &next in deps.get(name).into_iter().flatten() {
            if seen.contains_key(next) {
                continue;
            }
            let mut p = path.clone();
            p.push(next);
            seen.insert(next, p.clone());
            queue.push((next, p));
        }
    }
    seen
}
