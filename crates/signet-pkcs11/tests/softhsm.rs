//! `Pkcs11Key` against SoftHSM2 (Debian's), checked with oracles we did not write: openssl
//! verifies every signature with the SubjectPublicKeyInfo the key reports, and OpenSC's
//! `pkcs11-tool` confirms the private keys cannot be read off the token.
//!
//! Each test runs its body in a child process with a token of its own (SoftHSM reads its
//! configuration once per process).

use std::path::Path;
use std::process::Command;

use signet_core::{Signer, SignerError};
use signet_pkcs11::{Pkcs11Error, Pkcs11Key, Pkcs11Uri};
use signet_testkit::softhsm::SoftHsm;
use signet_x509::{KeyAlgorithm, SignatureAlgorithm};

const LABEL: &str = "signet-test";

/// Verifies `signature` over `message` with openssl and the key's SPKI.
fn openssl_verifies(key: &Pkcs11Key, message: &[u8], signature: &[u8], dir: &Path) -> bool {
    let spki = dir.join("spki.der");
    let pem = dir.join("spki.pem");
    std::fs::write(&spki, key.public_key_der()).expect("spki");
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-in"])
        .arg(&spki)
        .arg("-out")
        .arg(&pem)
        .output()
        .expect("openssl pkey");
    assert!(out.status.success(), "openssl reads the SPKI: {out:?}");
    std::fs::write(dir.join("msg"), message).expect("msg");
    std::fs::write(dir.join("sig"), signature).expect("sig");
    let mut cmd = Command::new("openssl");
    if key.key_algorithm() == KeyAlgorithm::Ed25519 {
        cmd.args(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"])
            .arg(&pem)
            .arg("-in")
            .arg(dir.join("msg"))
            .arg("-sigfile")
            .arg(dir.join("sig"));
    } else {
        let hash = if key.key_algorithm() == KeyAlgorithm::P384 {
            "-sha384"
        } else {
            "-sha256"
        };
        cmd.args(["dgst", hash]);
        if key.algorithm() == SignatureAlgorithm::RsaPssSha256 {
            cmd.args([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ]);
        }
        cmd.arg("-verify")
            .arg(&pem)
            .arg("-signature")
            .arg(dir.join("sig"))
            .arg(dir.join("msg"));
    }
    cmd.output().expect("openssl verify").status.success()
}

#[test]
fn keys_are_generated_on_the_token_sign_and_never_leave_it() {
    let Some(hsm) = SoftHsm::of_this_child(LABEL) else {
        return SoftHsm::new(LABEL)
            .run_in_child("keys_are_generated_on_the_token_sign_and_never_leave_it");
    };
    let work = tempfile::tempdir().expect("tempdir");

    // A wrong PIN (before anything logged in to the token: a login stands for the whole
    // process) is refused without showing it.
    let wrong = work.path().join("wrong-pin");
    std::fs::write(&wrong, "11112222\n").expect("a wrong PIN");
    let uri = hsm.uri("p256").replace(
        &hsm.pin_file().display().to_string(),
        &wrong.display().to_string(),
    );
    let e = Pkcs11Key::generate(&Pkcs11Uri::parse(&uri).expect("uri"), KeyAlgorithm::P256)
        .expect_err("a wrong PIN is refused");
    assert!(matches!(e, Pkcs11Error::Pin(_)), "{e:?}");
    assert!(!e.to_string().contains("11112222"), "{e}");

    for (object, algorithm) in [
        ("p256", KeyAlgorithm::P256),
        ("p384", KeyAlgorithm::P384),
        ("ed25519", KeyAlgorithm::Ed25519),
        ("rsa2048", KeyAlgorithm::Rsa { bits: 2048 }),
    ] {
        let uri = Pkcs11Uri::parse(&hsm.uri(object)).expect("uri");
        let key = Pkcs11Key::generate(&uri, algorithm).expect("generate");
        assert_eq!(key.key_algorithm(), algorithm);
        let message = format!("a message for {object}");
        let signature = key.sign(message.as_bytes()).expect("sign");
        assert!(
            openssl_verifies(&key, message.as_bytes(), &signature, work.path()),
            "openssl verifies the {object} signature"
        );
        assert!(
            !openssl_verifies(&key, b"another message", &signature, work.path()),
            "and not over another message"
        );

        // The same key, opened as an existing one: the same public key.
        let again = Pkcs11Key::open(&uri).expect("open");
        assert_eq!(again.public_key_der(), key.public_key_der());
        // Generating over it is refused.
        let twice = Pkcs11Key::generate(&uri, algorithm);
        assert!(
            matches!(twice, Err(Pkcs11Error::Key(_))),
            "a second key of the same label is refused: {twice:?}"
        );
    }

    // The RSA key signs RSASSA-PSS on request (SHA-256, MGF1-SHA-256, 32-byte salt).
    let uri = Pkcs11Uri::parse(&hsm.uri("rsa2048")).expect("uri");
    let pss = Pkcs11Key::open(&uri)
        .expect("open")
        .with_rsa_pss()
        .expect("an RSA key signs PSS");
    assert_eq!(pss.algorithm(), SignatureAlgorithm::RsaPssSha256);
    let signature = pss.sign(b"a PSS message").expect("sign");
    assert!(
        openssl_verifies(&pss, b"a PSS message", &signature, work.path()),
        "openssl verifies the PSS signature"
    );
    let p256 = Pkcs11Key::open(&Pkcs11Uri::parse(&hsm.uri("p256")).expect("uri")).expect("open");
    assert!(p256.with_rsa_pss().is_err(), "PSS is refused for an EC key");

    // OpenSC, a second client: the token reports every private key sensitive (its value
    // cannot be read) and never extractable (it cannot be wrapped out), since it was made.
    let list = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "pkcs11-tool lists: {list:?}");
    assert_eq!(
        listing
            .matches("Access:     sensitive, always sensitive, never extractable")
            .count(),
        4,
        "every private key is sensitive and never extractable:\n{listing}"
    );
}

#[test]
fn concurrent_signers_share_the_pool_and_a_lost_token_is_unavailable_until_it_returns() {
    let Some(hsm) = SoftHsm::of_this_child(LABEL) else {
        return SoftHsm::new(LABEL).run_in_child(
            "concurrent_signers_share_the_pool_and_a_lost_token_is_unavailable_until_it_returns",
        );
    };
    let uri = Pkcs11Uri::parse(&hsm.uri("ca")).expect("uri");
    let key = Pkcs11Key::generate(&uri, KeyAlgorithm::P256).expect("generate");
    let work = tempfile::tempdir().expect("tempdir");

    // Eight threads at once, each signing 25 messages.
    let signatures: Vec<(String, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let key = &key;
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let m = format!("thread {t} message {i}");
                            let sig = key.sign(m.as_bytes()).expect("sign");
                            (m, sig)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .flat_map(|h| h.join().expect("a signer thread"))
            .collect();
        handles
    });
    assert_eq!(signatures.len(), 200);
    for (m, sig) in signatures.iter().step_by(20) {
        assert!(openssl_verifies(&key, m.as_bytes(), sig, work.path()));
    }

    // The token goes away: signing fails as unavailable, not as a wrong key.
    let away = hsm.tokens_dir().with_extension("away");
    std::fs::rename(hsm.tokens_dir(), &away).expect("moving the token away");
    let lost = key.sign(b"while the token is away");
    assert!(
        matches!(lost, Err(SignerError::Unavailable(_))),
        "a lost token is Unavailable: {lost:?}"
    );
    // It comes back: the same key object signs again, without being opened anew (within
    // a few seconds: the module is cycled at most once a second).
    std::fs::rename(&away, hsm.tokens_dir()).expect("moving the token back");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let back = loop {
        match key.sign(b"the token is back") {
            Ok(sig) => break sig,
            Err(SignerError::Unavailable(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("signs again once the token is back: {e}"),
        }
    };
    assert!(openssl_verifies(
        &key,
        b"the token is back",
        &back,
        work.path()
    ));

    // Signers keep signing while the token goes away and comes back: each signature is
    // made or refused as unavailable (no other failure, no crash while the module is cycled
    // under them), and all sign again afterwards.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcomes: Vec<(usize, usize)> = std::thread::scope(|s| {
        let signers: Vec<_> = (0..4)
            .map(|_| {
                let (key, stop) = (&key, &stop);
                s.spawn(move || {
                    let (mut made, mut refused) = (0, 0);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match key.sign(b"under churn") {
                            Ok(_) => made += 1,
                            Err(SignerError::Unavailable(_)) => refused += 1,
                            Err(e) => panic!("a signature failed otherwise: {e}"),
                        }
                    }
                    (made, refused)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::rename(hsm.tokens_dir(), &away).expect("away");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        std::fs::rename(&away, hsm.tokens_dir()).expect("back");
        std::thread::sleep(std::time::Duration::from_millis(2500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        signers
            .into_iter()
            .map(|h| h.join().expect("a signer thread"))
            .collect()
    });
    let refused: usize = outcomes.iter().map(|o| o.1).sum();
    assert!(
        refused > 0,
        "some signatures were refused while the token was away: {outcomes:?}"
    );
    let last = key.sign(b"after the churn").expect("signs after the churn");
    assert!(openssl_verifies(
        &key,
        b"after the churn",
        &last,
        work.path()
    ));
}
