//! Checks `SoftwareKey` against oracles we did not write: the `openssl` command line (OpenSSL
//! 3.0) for P-256, P-384, Ed25519 and RSA, and Python's `cryptography` (which bundles a newer
//! OpenSSL) for ML-DSA-65, which OpenSSL 3.0 does not know. Every fixture is generated here,
//! in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_core::Signer;
use signet_keys::{KeyError, SoftwareKey};
use signet_x509::KeyAlgorithm;

#[path = "common/oracle.rs"]
mod oracle;

const PASS: &str = "correct horse battery staple";

/// The classical algorithms, which OpenSSL 3.0 knows.
const CLASSICAL: [KeyAlgorithm; 6] = [
    KeyAlgorithm::P256,
    KeyAlgorithm::P384,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa { bits: 2048 },
    KeyAlgorithm::Rsa { bits: 3072 },
    KeyAlgorithm::Rsa { bits: 4096 },
];

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SoftwareKey>();
    assert_send_sync::<signet_keys::SystemRandom>();
};

#[test]
fn openssl_reads_our_encrypted_pem_and_agrees_on_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    for alg in CLASSICAL {
        let key = SoftwareKey::generate(alg).unwrap();
        let pem = write(
            dir.path(),
            &format!("{alg}.pem"),
            key.to_encrypted_pem(PASS.as_bytes()).unwrap().as_bytes(),
        );

        let spki = openssl_public_key_der(&pem, Some(PASS));
        assert_eq!(
            spki,
            key.public_key_der(),
            "{alg}: OpenSSL sees another public key"
        );

        // And the encryption scheme is the one we say we write.
        let parsed = openssl_ok(
            Command::new("openssl")
                .arg("asn1parse")
                .arg("-in")
                .arg(&pem),
        );
        let parsed = String::from_utf8_lossy(&parsed.stdout);
        for name in ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"] {
            assert!(parsed.contains(name), "{alg}: {name} not in\n{parsed}");
        }
        let iterations = format!(":{:06X}", signet_keys::PBKDF2_ITERATIONS);
        assert!(
            parsed.contains(&iterations),
            "{alg}: iteration count {iterations} not in\n{parsed}"
        );
    }
}

#[test]
fn openssl_reads_our_unencrypted_pem() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
    ] {
        let key = SoftwareKey::generate(alg).unwrap();
        let pem = key.to_unencrypted_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let path = write(dir.path(), &format!("{alg}.pem"), pem.as_bytes());
        assert_eq!(
            openssl_public_key_der(&path, None),
            key.public_key_der(),
            "{alg}"
        );
    }
}

#[test]
fn wrong_passphrase_fails_in_openssl_and_here() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::MlDsa65,
    ] {
        let key = SoftwareKey::generate(alg).unwrap();
        let pem = key.to_encrypted_pem(PASS.as_bytes()).unwrap();
        if alg != KeyAlgorithm::MlDsa65 {
            let path = write(dir.path(), &format!("{alg}.pem"), pem.as_bytes());
            let out = openssl(
                Command::new("openssl")
                    .args(["pkey", "-pubout", "-passin", "pass:wrong horse"])
                    .arg("-in")
                    .arg(&path),
            );
            assert!(
                !out.status.success(),
                "{alg}: OpenSSL accepted a wrong passphrase"
            );
        }
        assert!(
            matches!(
                SoftwareKey::from_pem(pem.as_bytes(), Some(b"wrong horse")),
                Err(KeyError::WrongPassphrase)
            ),
            "{alg}"
        );
        assert!(
            matches!(
                SoftwareKey::from_pem(pem.as_bytes(), None),
                Err(KeyError::PassphraseRequired)
            ),
            "{alg}"
        );
    }
}

#[test]
fn openssl_verifies_our_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let message = write(dir.path(), "message", b"tbsCertificate, more or less");
    let tampered = write(dir.path(), "tampered", b"tbsCertificate, more or less!");
    for alg in CLASSICAL {
        let key = SoftwareKey::generate(alg).unwrap();
        let sig = key.sign(&std::fs::read(&message).unwrap()).unwrap();
        let sig = write(dir.path(), &format!("{alg}.sig"), &sig);
        let public = write(dir.path(), &format!("{alg}.pub.der"), key.public_key_der());

        let verify = |msg: &Path| -> Output {
            let mut cmd = Command::new("openssl");
            match alg {
                // Ed25519 signs the message itself, not a digest.
                KeyAlgorithm::Ed25519 => cmd
                    .args([
                        "pkeyutl", "-verify", "-rawin", "-pubin", "-keyform", "DER", "-inkey",
                    ])
                    .arg(&public)
                    .arg("-sigfile")
                    .arg(&sig)
                    .arg("-in")
                    .arg(msg),
                _ => {
                    let digest = if alg == KeyAlgorithm::P384 {
                        "-sha384"
                    } else {
                        "-sha256"
                    };
                    cmd.args(["dgst", digest, "-keyform", "DER", "-verify"])
                        .arg(&public)
                        .arg("-signature")
                        .arg(&sig)
                        .arg(msg)
                }
            };
            openssl(&mut cmd)
        };
        let good = verify(&message);
        assert!(
            good.status.success(),
            "{alg}: OpenSSL rejected our signature: {}",
            String::from_utf8_lossy(&good.stderr)
        );
        assert!(
            !verify(&tampered).status.success(),
            "{alg}: OpenSSL verified a tampered message"
        );
    }
}

#[test]
fn encrypted_pem_round_trips() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::MlDsa65,
    ] {
        let key = SoftwareKey::generate(alg).unwrap();
        let pem = key.to_encrypted_pem(PASS.as_bytes()).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let back = SoftwareKey::from_pem(pem.as_bytes(), Some(PASS.as_bytes())).unwrap();
        assert_eq!(back.key_algorithm(), alg);
        assert_eq!(back.public_key_der(), key.public_key_der(), "{alg}");
    }
}

#[test]
fn loads_keys_openssl_encrypted_with_pbes2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], KeyAlgorithm); 4] = [
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyAlgorithm::P256,
        ),
        (
            "p384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyAlgorithm::P384,
        ),
        ("ed25519", &["-algorithm", "ED25519"], KeyAlgorithm::Ed25519),
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
    ];
    for (name, genpkey_args, alg) in cases {
        let plain = dir.path().join(format!("{name}.plain.pem"));
        openssl_ok(
            Command::new("openssl")
                .arg("genpkey")
                .args(genpkey_args)
                .arg("-out")
                .arg(&plain),
        );
        let expected = openssl_public_key_der(&plain, None);

        // The unencrypted PKCS#8 `openssl genpkey` writes loads without a passphrase.
        let key = SoftwareKey::from_pem(&std::fs::read(&plain).unwrap(), None).unwrap();
        assert_eq!(key.key_algorithm(), alg);
        assert_eq!(key.public_key_der(), expected, "{name}: unencrypted");

        // The command the docs recommend, and OpenSSL's other PBES2 defaults.
        let variants: [&[&str]; 3] = [
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"],
            &[
                "-v2",
                "aes-128-cbc",
                "-v2prf",
                "hmacWithSHA512",
                "-iter",
                "1000",
            ],
            &["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA1"],
        ];
        for (i, variant) in variants.into_iter().enumerate() {
            let encrypted = dir.path().join(format!("{name}.{i}.enc.pem"));
            openssl_ok(
                Command::new("openssl")
                    .args(["pkcs8", "-topk8"])
                    .args(variant)
                    .args(["-passout", "pass:x"])
                    .arg("-in")
                    .arg(&plain)
                    .arg("-out")
                    .arg(&encrypted),
            );
            let pem = std::fs::read(&encrypted).unwrap();
            let key = SoftwareKey::from_pem(&pem, Some(b"x")).unwrap();
            assert_eq!(key.key_algorithm(), alg);
            assert_eq!(key.public_key_der(), expected, "{name} {variant:?}");
            assert!(matches!(
                SoftwareKey::from_pem(&pem, Some(b"y")),
                Err(KeyError::WrongPassphrase)
            ));

            // What we sign with the loaded key, OpenSSL verifies with its own public key.
            let sig = write(dir.path(), "sig", &key.sign(b"hello").unwrap());
            let msg = write(dir.path(), "msg", b"hello");
            let out = if alg == KeyAlgorithm::Ed25519 {
                openssl(
                    Command::new("openssl")
                        .args(["pkeyutl", "-verify", "-rawin", "-inkey"])
                        .arg(&plain)
                        .arg("-sigfile")
                        .arg(&sig)
                        .arg("-in")
                        .arg(&msg),
                )
            } else {
                let digest = if alg == KeyAlgorithm::P384 {
                    "-sha384"
                } else {
                    "-sha256"
                };
                openssl(
                    Command::new("openssl")
                        .args(["dgst", digest, "-prverify"])
                        .arg(&plain)
                        .arg("-signature")
                        .arg(&sig)
                        .arg(&msg),
                )
            };
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn unsupported_keys_from_openssl_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 3] = [
        (
            "p521",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        ),
        ("ed448", &["-algorithm", "ED448"]),
        (
            "rsa1024",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        ),
    ];
    for (name, args) in cases {
        let path = dir.path().join(format!("{name}.pem"));
        openssl_ok(
            Command::new("openssl")
                .arg("genpkey")
                .args(args)
                .arg("-out")
                .arg(&path),
        );
        let err = SoftwareKey::from_pem(&std::fs::read(&path).unwrap(), None).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported(_)), "{name}: {err:?}");
    }

    // Legacy (pre-PKCS#8) encodings and scrypt-encrypted keys.
    let ec = dir.path().join("ec.pem");
    openssl_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&ec),
    );
    let err = SoftwareKey::from_pem(&std::fs::read(&ec).unwrap(), None).unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err:?}");

    let scrypt = dir.path().join("scrypt.pem");
    let plain = dir.path().join("p256.pem");
    openssl_ok(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&plain),
    );
    openssl_ok(
        Command::new("openssl")
            .args(["pkcs8", "-topk8", "-scrypt", "-passout", "pass:x", "-in"])
            .arg(&plain)
            .arg("-out")
            .arg(&scrypt),
    );
    let err = SoftwareKey::from_pem(&std::fs::read(&scrypt).unwrap(), Some(b"x")).unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err:?}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let key = SoftwareKey::generate(KeyAlgorithm::P256).unwrap();
    let encrypted = key.to_encrypted_pem(b"pw").unwrap();
    let plain = key.to_unencrypted_pem().unwrap();

    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello".to_vec(),
        vec![0xff; 300],
        b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n".to_vec(),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"
            .to_vec(),
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n".to_vec(),
    ];
    // Every truncation and a few bit flips of real documents.
    for doc in [&encrypted, &plain] {
        for cut in (0..doc.len()).step_by(7) {
            inputs.push(doc.as_bytes()[..cut].to_vec());
        }
        let body_start = doc.find('\n').unwrap() + 1;
        for pos in (body_start..doc.len() - 40).step_by(13) {
            let mut bytes = doc.as_bytes().to_vec();
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            inputs.push(bytes);
        }
    }
    let public = key.public_key_der().to_vec();
    for input in &inputs {
        for passphrase in [None, Some(&b"pw"[..]), Some(b"other")] {
            // Flipping a base64 character can still decode to the same key (e.g. padding bits);
            // then it must be the same key. Otherwise it must be an error.
            if let Ok(k) = SoftwareKey::from_pem(input, passphrase) {
                assert_eq!(
                    k.public_key_der(),
                    public,
                    "a corrupted file produced another key"
                );
            }
        }
    }
}

#[test]
fn signs_concurrently_from_several_threads() {
    let key = std::sync::Arc::new(SoftwareKey::generate(KeyAlgorithm::P256).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let key = key.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let msg = format!("{t}-{i}");
                    let sig = key.sign(msg.as_bytes()).unwrap();
                    assert!(sig.len() > 8);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// ML-DSA-65 against Python's `cryptography` (OpenSSL 3.0 has no ML-DSA). A `python3` without
/// a `cryptography` that has ML-DSA fails the test unless `SIGNET_SKIP_ORACLES` names
/// `cryptography` ([`oracle::available`]).
#[test]
fn mldsa65_against_python_cryptography() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.asymmetric import mldsa",
        ])
        .output();
    if !oracle::available(
        "cryptography",
        probe.is_ok_and(|o| o.status.success()),
        "python3 has no `cryptography` with ML-DSA; install it with `pip install 'cryptography>=47'`",
    ) {
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let key = SoftwareKey::generate(KeyAlgorithm::MlDsa65).unwrap();
    let pem = write(
        dir.path(),
        "mldsa.pem",
        key.to_encrypted_pem(PASS.as_bytes()).unwrap().as_bytes(),
    );
    let plain = write(
        dir.path(),
        "mldsa.plain.pem",
        key.to_unencrypted_pem().unwrap().as_bytes(),
    );
    let msg = b"an ML-DSA signed message";
    let sig = write(dir.path(), "mldsa.sig", &key.sign(msg).unwrap());

    // Python loads our encrypted and unencrypted PEM, prints the SPKI it sees, verifies our
    // signature, then writes its own key with PBES2 for us to load.
    let theirs = dir.path().join("theirs.pem");
    let script = r#"
import sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import mldsa
enc, plain, sig, msg, out, pw = sys.argv[1:]
k = s.load_pem_private_key(open(enc, "rb").read(), password=pw.encode())
k2 = s.load_pem_private_key(open(plain, "rb").read(), password=None)
assert isinstance(k, mldsa.MLDSA65PrivateKey), type(k)
spki = k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
assert spki == k2.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
k.public_key().verify(open(sig, "rb").read(), msg.encode())
mine = mldsa.MLDSA65PrivateKey.generate()
open(out, "wb").write(mine.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b"x")))
sys.stdout.write(spki.hex() + "\n" + mine.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo).hex())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&pem)
        .arg(&plain)
        .arg(&sig)
        .arg(std::str::from_utf8(msg).unwrap())
        .arg(&theirs)
        .arg(PASS)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        hex(key.public_key_der()),
        "Python sees another public key"
    );

    let their_spki = lines.next().unwrap();
    let loaded = SoftwareKey::from_pem(&std::fs::read(&theirs).unwrap(), Some(b"x")).unwrap();
    assert_eq!(loaded.key_algorithm(), KeyAlgorithm::MlDsa65);
    assert_eq!(hex(loaded.public_key_der()), their_spki);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `openssl pkey -pubout -outform DER` of a private key file.
fn openssl_public_key_der(private_key: &Path, pass: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("openssl");
    cmd.args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(private_key);
    if let Some(pass) = pass {
        cmd.arg("-passin").arg(format!("pass:{pass}"));
    }
    openssl_ok(&mut cmd).stdout
}

fn openssl(cmd: &mut Command) -> Output {
    cmd.output()
        .expect("the openssl command line must be installed")
}

fn openssl_ok(cmd: &mut Command) -> Output {
    let out = openssl(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
