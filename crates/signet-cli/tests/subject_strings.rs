//! Subject strings in legacy encodings (issue 14): a request whose subject carries
//! TeletexString or BMPString values gets a certificate whose subject is UTF8String (and
//! PrintableString for countryName), judged by `openssl x509 -nameopt show_type`, `openssl
//! verify` and pkilint. The finer cases (UniversalString, countryName or emailAddress sent as
//! BMPString, values that do not decode) are unit-tested in `signet-x509`'s `tests/csr.rs`,
//! where requests can be built byte by byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// A profile that copies CN, O and C from the request and issues at once.
const PEOPLE: &str = r#"
[ca.policy.profiles.people]
description = "Named people, issued at once"
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
subject_attributes = ["CN", "O", "C"]
common_name_as_dns = false
require_san = false
key_usage = ["digitalSignature"]
extended_key_usage = ["clientAuth"]
"#;

/// A CSR made by `openssl req` with OpenSSL's `default` string mask, which picks the
/// "smallest" string type: TeletexString for a Latin-1 value, BMPString for one beyond.
fn legacy_csr(dir: &Path, dn: &str) -> PathBuf {
    let config = dir.join("legacy.cnf");
    fs::write(
        &config,
        format!(
            "[req]\nprompt = no\nstring_mask = default\nutf8 = yes\n\
             distinguished_name = dn\n[dn]\n{dn}\n"
        ),
    )
    .unwrap();
    let csr = unique(dir, "legacy", "csr");
    let key = csr.with_extension("key");
    let run = run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-config",
            config.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    csr
}

/// The subject as `openssl x509|req -nameopt show_type,utf8,sep_multiline` prints it.
fn subject_types(kind: &str, file: &Path) -> String {
    let run = run_program(
        "openssl",
        &[
            kind,
            "-in",
            file.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "show_type,utf8,sep_multiline,esc_ctrl",
        ],
    );
    run.expect_code(0);
    run.stdout
}

#[test]
fn teletex_and_bmp_subject_strings_become_utf8() {
    let mut server = Server::init(&["--dev"]);
    server.append_config(PEOPLE);
    server.serve();

    let csr = legacy_csr(&server.work, "C = DE\nO = Müller GmbH\nCN = Grüße ☃");
    // The oracle agrees the request carries the legacy types.
    let requested = subject_types("req", &csr);
    assert!(
        requested.contains("O=T61STRING:Müller GmbH") && requested.contains("CN=BMPSTRING:Grüße ☃"),
        "openssl wrote other types than expected: {requested}"
    );

    let answer = server.submit(&csr, Some("people"));
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let pem = write_pem(
        &server.work,
        "legacy",
        answer["certificate"].as_str().unwrap(),
    );
    let issued = subject_types("x509", &pem);
    assert!(
        issued.contains("C=PRINTABLESTRING:DE")
            && issued.contains("O=UTF8STRING:Müller GmbH")
            && issued.contains("CN=UTF8STRING:Grüße ☃"),
        "the certificate's subject strings are not re-encoded: {issued}"
    );
    assert!(
        !issued.contains("BMPSTRING") && !issued.contains("T61STRING"),
        "{issued}"
    );
    openssl_verify(&server.ca_cert_path(), &pem);
    let findings = pkilint(&pem);
    assert!(
        !findings
            .iter()
            .any(|f| f.code.to_lowercase().contains("string")),
        "pkilint notes a string type: {findings:?}"
    );
}
