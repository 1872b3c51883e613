//! The committed fuzz corpora as a regression test, on the stable toolchain.
//!
//! `fuzz/` is a cargo-fuzz project outside the workspace (libFuzzer needs nightly). Its
//! targets' bodies are plain functions in `fuzz/src/`, included here as a module, and every
//! file of `fuzz/corpus/<target>/` (seeds, the inputs the fuzzing runs kept, and every crash
//! once found) goes through its target's function again. A panic fails the test with the
//! file's name; so does a target without a corpus, or a corpus directory without a target.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz;

/// `fuzz/` at the root of the checkout.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn every_committed_corpus_input_runs_without_a_panic() {
    let corpus = fuzz_dir().join("corpus");
    let mut failures = Vec::new();
    let mut total = 0usize;
    for (name, run) in fuzz::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        files.retain(|p| p.is_file());
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus inputs", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{name}: {}: {message}", file.display()));
            }
        }
        total += files.len();
    }
    assert!(
        failures.is_empty(),
        "{} of {total} corpus inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_directory_has_a_target() {
    let targets: BTreeSet<&str> = fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    let corpus = fuzz_dir().join("corpus");
    for entry in std::fs::read_dir(&corpus).unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
    {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", corpus.display()));
        let name = entry.file_name();
        let name = name.to_string_lossy();
        assert!(
            targets.contains(name.as_ref()),
            "fuzz/corpus/{name} has no target in fuzz/src/lib.rs"
        );
    }
}

#[test]
fn every_fuzz_binary_has_a_corpus_and_a_target() {
    let targets: BTreeSet<&str> = fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    let manifest = fuzz_dir().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let bins: BTreeSet<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|section| section.lines().find_map(|l| l.strip_prefix("name = ")))
        .map(|name| name.trim_matches('"'))
        .collect();
    assert_eq!(
        bins, targets,
        "fuzz/Cargo.toml's [[bin]]s and fuzz/src/lib.rs's TARGETS"
    );
}

/// sha256WithRSAEncryption, NULL parameters, as an AlgorithmIdentifier.
const SHA256_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

/// Writes the `scep_message` seeds: pkiMessages as a SCEP client builds them (content
/// enveloped to the fixed RA certificate in `fuzz/keys/`, signed with the same key, whose
/// certificate goes along), for PKCSReq and RenewalReq (a PKCS#10 from the `parse_csr`
/// seeds; AES-128 and DES-EDE3) and GetCert (the RA certificate's issuerAndSerialNumber).
/// Every run checks that such messages, and the committed seeds, get through the RA's reading
/// to their content (else the seeds would not reach the PKCS#10 parser); the seeds are
/// rewritten only with `SIGNET_WRITE_SCEP_SEEDS=1` (the envelope's key and IV are random, so
/// each build differs in bytes).
#[test]
fn scep_seeds_reach_the_content() {
    use signet_x509::cms::{self, Attribute, ContentCipher, DigestAlg, oid};

    let keys = fuzz_dir().join("keys");
    let pkcs8 = std::fs::read(keys.join("scep-ra.key.der")).expect("the RA key");
    let cert = std::fs::read(keys.join("scep-ra.crt.der")).expect("the RA certificate");
    let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pkcs8).expect("an RSA key");
    let csr = std::fs::read(fuzz_dir().join("corpus/parse_csr/seed-rsa2048.der")).expect("CSR");
    let get_cert = cms::issuer_and_serial(&cert).expect("issuerAndSerialNumber");
    let ra = signet_scep::RaKey::from_pkcs8(&pkcs8, cert.clone()).expect("the RA key");
    let out = fuzz_dir().join("corpus/scep_message");
    let messages: [(&str, &str, &[u8], ContentCipher); 4] = [
        ("pkcsreq-aes", "19", &csr, ContentCipher::Aes128Cbc),
        ("pkcsreq-des3", "19", &csr, ContentCipher::DesEde3Cbc),
        ("renewalreq", "17", &csr, ContentCipher::Aes128Cbc),
        ("getcert", "21", &get_cert, ContentCipher::Aes128Cbc),
    ];
    for (name, kind, content, cipher) in messages {
        let enveloped = cms::envelope(content, &cert, cipher).expect("envelope");
        let attrs = [
            Attribute::printable_string(oid::SCEP_MESSAGE_TYPE, kind).expect("messageType"),
            Attribute::printable_string(oid::SCEP_TRANSACTION_ID, name).expect("transactionID"),
            Attribute::octet_string(oid::SCEP_SENDER_NONCE, &[7; 16]).expect("senderNonce"),
        ];
        let message = cms::sign(
            &enveloped,
            DigestAlg::Sha256,
            &SHA256_WITH_RSA,
            &cert,
            &attrs,
            std::slice::from_ref(&cert),
            |tbs| {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    tbs,
                    &mut sig,
                )
                .expect("RSA signature");
                Ok(sig)
            },
        )
        .expect("SignedData");
        let read = signet_scep::message::read(&message, &ra, true).expect("the message reads");
        assert_eq!(read.content, content);
        let seed = out.join(format!("seed-{name}.der"));
        if std::env::var_os("SIGNET_WRITE_SCEP_SEEDS").is_some() {
            std::fs::write(&seed, &message).expect("seed written");
        }
        let committed = std::fs::read(&seed).expect("the committed seed");
        let read = signet_scep::message::read(&committed, &ra, true)
            .unwrap_or_else(|e| panic!("{}: {e:?}", seed.display()));
        assert_eq!(read.content, content, "{}", seed.display());
    }
}
