//! Test helpers: an `openssl` CLI runner in a temp dir, aws-lc-rs test keys, and a tiny DER
//! writer for hand-built fixtures.
#![allow(dead_code, clippy::unwrap_used)]

pub mod oracle;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, ML_DSA_65_SIGNING, PqdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use signet_x509::{
    DistinguishedName, Extension, KeyAlgorithm, SignatureAlgorithm, TbsCertificateParams,
    assemble_certificate, encode_tbs_certificate,
};

/// Runs the real `openssl` binary inside a temporary directory.
pub struct Openssl {
    pub dir: tempfile::TempDir,
}

impl Openssl {
    pub fn new() -> Openssl {
        Openssl {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs `openssl args...`; returns (success, stdout + stderr).
    pub fn try_run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl CLI must be installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs `openssl args...` and panics with its output if it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let (ok, text) = self.try_run(args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }

    /// Generates a private key with `genpkey`; `spec` is e.g. `ec:P-256`, `rsa:2048`,
    /// `ed25519`.
    pub fn genkey(&self, name: &str, spec: &str) {
        let out = self.path(name);
        let out = out.to_str().unwrap();
        match spec.split_once(':') {
            Some(("ec", curve)) => {
                let opt = format!("ec_paramgen_curve:{curve}");
                self.run(&["genpkey", "-algorithm", "EC", "-pkeyopt", &opt, "-out", out]);
            }
            Some(("rsa", bits)) => {
                let opt = format!("rsa_keygen_bits:{bits}");
                self.run(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &opt,
                    "-out",
                    out,
                ]);
            }
            _ => {
                self.run(&["genpkey", "-algorithm", spec, "-out", out]);
            }
        };
    }

    /// Makes a CSR for `key` with subject C=US, O=Example Corp, CN=demo, a challengePassword,
    /// the standard test SANs and any `extra` arguments (digest, -sigopt ...).
    pub fn csr(&self, key: &str, out: &str, extra: &[&str]) -> Vec<u8> {
        self.write(
            "req.cnf",
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
             [dn]\nC = US\nO = Example Corp\nCN = demo\n\
             [attrs]\nchallengePassword = s3cret-pass\n",
        );
        let mut args = vec![
            "req", "-new", "-config", "req.cnf", "-key", key, "-addext", SAN_ARG, "-out", out,
        ];
        args.extend_from_slice(extra);
        self.run(&args);
        self.read(out)
    }
}

pub const SAN_ARG: &str =
    "subjectAltName=DNS:a.example,IP:10.0.0.1,email:x@example.com,URI:https://x.example";

/// A signing key held in aws-lc-rs.
pub enum TestKey {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
    MlDsa65(PqdsaKeyPair),
}

impl TestKey {
    pub fn generate(alg: KeyAlgorithm) -> TestKey {
        match alg {
            KeyAlgorithm::P256 => {
                TestKey::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
            }
            KeyAlgorithm::P384 => {
                TestKey::P384(EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap())
            }
            KeyAlgorithm::Ed25519 => TestKey::Ed25519(Ed25519KeyPair::generate().unwrap()),
            KeyAlgorithm::Rsa { bits: 2048 } => {
                TestKey::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
            }
            KeyAlgorithm::MlDsa65 => {
                TestKey::MlDsa65(PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).unwrap())
            }
            other => panic!("no test key for {other}"),
        }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            TestKey::P256(_) => KeyAlgorithm::P256,
            TestKey::P384(_) => KeyAlgorithm::P384,
            TestKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            TestKey::Rsa(_) => KeyAlgorithm::Rsa { bits: 2048 },
            TestKey::MlDsa65(_) => KeyAlgorithm::MlDsa65,
        }
    }

    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.algorithm().signature_algorithm()
    }

    /// SubjectPublicKeyInfo DER, as aws-lc-rs encodes it.
    pub fn spki_der(&self) -> Vec<u8> {
        let der: PublicKeyX509Der<'static> = match self {
            TestKey::P256(k) | TestKey::P384(k) => k.public_key().as_der().unwrap(),
            TestKey::Ed25519(k) => k.public_key().as_der().unwrap(),
            TestKey::Rsa(k) => k.public_key().as_der().unwrap(),
            TestKey::MlDsa65(k) => k.public_key().as_der().unwrap(),
        };
        der.as_ref().to_vec()
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            TestKey::P256(k) | TestKey::P384(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            TestKey::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            TestKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
            TestKey::MlDsa65(k) => {
                let mut sig = vec![0u8; 4627];
                let n = k.sign(msg, &mut sig).unwrap();
                sig.truncate(n);
                sig
            }
        }
    }
}

/// Signs a certificate with `issuer_key`.
pub struct CertSpec<'a> {
    pub serial: [u8; 20],
    pub issuer: &'a DistinguishedName,
    pub subject: &'a DistinguishedName,
    pub spki_der: &'a [u8],
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub extensions: Vec<Extension>,
}

impl CertSpec<'_> {
    pub fn sign(&self, issuer_key: &TestKey) -> Vec<u8> {
        let tbs = encode_tbs_certificate(&TbsCertificateParams {
            serial: &self.serial,
            signature: issuer_key.signature_algorithm(),
            issuer: self.issuer,
            not_before: self.not_before,
            not_after: self.not_after,
            subject: self.subject,
            spki_der: self.spki_der,
            extensions: &self.extensions,
        })
        .unwrap();
        let sig = issuer_key.sign(&tbs);
        assemble_certificate(&tbs, issuer_key.signature_algorithm(), &sig).unwrap()
    }
}

/// A validity window around now.
pub fn validity_now() -> (SystemTime, SystemTime) {
    let now = SystemTime::now();
    (
        now - Duration::from_secs(3600),
        now + Duration::from_secs(90 * 86_400),
    )
}

/// A serial number with the given first byte and a counter in the rest.
pub fn serial(first: u8, n: u8) -> [u8; 20] {
    let mut s = [0x5a; 20];
    s[0] = first;
    s[19] = n;
    s
}

// A minimal DER writer for fixtures built by hand.

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// Finds `needle` in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Deterministic pseudo-random bytes (xorshift64*), for garbage inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Runs the pkilint tool `tool` (`lint_pkix_cert`, `lint_crl`, `lint_ocsp_response`) from
/// `$SIGNET_PKILINT_BIN` (set by scripts/test.sh), else the workspace venv, else `PATH`, as
/// `tool lint ARGS FILE`, and asserts it printed nothing: pkilint exits 0 even when it cannot
/// load a file, so any output is a finding. A missing pkilint fails the test unless
/// `SIGNET_SKIP_ORACLES` names it ([`oracle::available`]).
pub fn pkilint_silent(tool: &str, args: &[&str], file: &std::path::Path) {
    let bin = match std::env::var_os("SIGNET_PKILINT_BIN") {
        Some(dir) => PathBuf::from(dir).join(tool),
        None => {
            let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
            std::iter::once(venv)
                .chain(std::env::split_paths(
                    &std::env::var_os("PATH").unwrap_or_default(),
                ))
                .map(|dir| dir.join(tool))
                .find(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from(tool))
        }
    };
    if !oracle::available(
        "pkilint",
        bin.is_file(),
        &format!(
            "{tool} not found at {} nor on PATH; install it with `pip install pkilint==0.13.3`",
            bin.display()
        ),
    ) {
        return;
    }
    let out = Command::new(&bin)
        .arg("lint")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "{tool} {args:?} on {}:\n{text}",
        file.display()
    );
}
