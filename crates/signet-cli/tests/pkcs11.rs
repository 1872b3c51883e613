//! A CA whose key is on a PKCS#11 token (SoftHSM2 from Debian): `signet init --key-uri`
//! makes the key on the token (or uses one there with `--existing`), `signet serve` signs
//! with it, openssl and pkilint accept what it issues, OpenSC's `pkcs11-tool` sees a key
//! that cannot leave the token, and a token that goes away makes requests fail with 503,
//! storing nothing, until it is back — without a restart. An issuing CA under that root,
//! its key on the token too, issues leaves that verify up to the root.

mod common;

use std::fs;
use std::time::Duration;

use common::{Server, openssl_csr, openssl_verify, pkilint, run_signet, wait_until, write_pem};
use signet_testkit::softhsm::SoftHsm;

fn env_of(hsm: &SoftHsm) -> Vec<(String, String)> {
    hsm.env()
        .into_iter()
        .map(|(k, v)| (k, v.display().to_string()))
        .collect()
}

#[test]
fn a_ca_on_a_token_issues_and_recovers_from_losing_the_token() {
    let hsm = SoftHsm::new("signet-ca");
    let env = env_of(&hsm);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let uri = hsm.uri("root-2026");
    let mut server = Server::init_env(&["--dev", "--key", "p256", "--key-uri", &uri], &env_refs);

    // The key is on the token: signet.toml names it, no key file was written.
    let config = fs::read_to_string(server.data.join("signet.toml")).expect("signet.toml");
    assert!(
        config.contains(&format!("key = \"{uri}\"")),
        "signet.toml names the token key:\n{config}"
    );
    assert!(
        !server.data.join("ca/demo/key.pem").exists(),
        "no key file is written for a token key"
    );
    let listing = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(
        listing.contains("label:      root-2026")
            && listing.contains("Access:     sensitive, always sensitive, never extractable"),
        "pkcs11-tool sees a sensitive, never-extractable key:\n{listing}"
    );

    server.serve_env = env.clone();
    server.serve();
    let ca = server.ca_cert_path();
    pkilint(&ca);
    let v = server.issue("on-a-token.test");
    let leaf = write_pem(
        &server.work,
        "on-a-token",
        v["certificate"].as_str().expect("certificate"),
    );
    openssl_verify(&ca, &leaf);
    pkilint(&leaf);
    let last_id = v["id"].as_i64().expect("request id");

    // The token goes away (its directory moved): requests fail with 503 and nothing is
    // stored for them.
    let away = hsm.tokens_dir().with_extension("away");
    fs::rename(hsm.tokens_dir(), &away).expect("taking the token away");
    for i in 0..3 {
        let csr = openssl_csr(
            &server.work,
            "p256",
            &format!("/CN=while-away-{i}.test"),
            &[],
        );
        let resp = server.submit_raw(&csr, None);
        assert_eq!(
            resp.status, 503,
            "a request while the token is away: {resp}"
        );
        assert!(
            resp.text().contains("CA key is unavailable"),
            "the problem says why: {resp}"
        );
    }

    // /healthz says so (a load balancer moves traffic away), with the reason.
    let why = wait_until(
        Duration::from_secs(10),
        "/healthz to report the key",
        || {
            let h = server.get("/healthz");
            (h.status == 503).then(|| h.text())
        },
    );
    assert!(why.contains("the key of CA demo cannot sign"), "{why}");

    // The token comes back: the running server issues again, and the refused requests
    // left no record (the next request takes the next id).
    fs::rename(&away, hsm.tokens_dir()).expect("bringing the token back");
    let v = wait_until(
        Duration::from_secs(15),
        "issuance after the token is back",
        || {
            let csr = openssl_csr(&server.work, "p256", "/CN=back.test", &[]);
            let resp = server.submit_raw(&csr, None);
            (resp.status == 201).then(|| resp.json())
        },
    );
    assert_eq!(v["status"], "issued", "{v:#}");
    assert_eq!(
        v["id"].as_i64(),
        Some(last_id + 1),
        "nothing was stored for the refused requests"
    );
    let leaf = write_pem(
        &server.work,
        "back",
        v["certificate"].as_str().expect("cert"),
    );
    openssl_verify(&ca, &leaf);
    wait_until(Duration::from_secs(10), "/healthz to recover", || {
        (server.get("/healthz").status == 200).then_some(())
    });

    // An issuing CA under this root, its key on the token too: its request goes through the
    // root's sub-CA profile (`ca create --parent`), a manager approves, `ca install` fetches
    // the certificate; the leaves it issues verify up to the root.
    server.stop_ok();
    server.append_subca_profile("");
    server.serve();
    let issuing_uri = hsm.uri("issuing-2026");
    let id = server.create_sub_ca(
        "demo",
        "issuing",
        &[
            "--key-uri",
            &issuing_uri,
            "--subject",
            "O=Signet,CN=Issuing on a token",
        ],
        &env_refs,
    );
    server.approve_as_manager("demo", &id, "mia");
    let install = server.install_sub_ca("issuing");
    assert_eq!(install.code, 0, "{install}");
    server.stop_ok();
    server.serve();
    server.ca = "issuing".into();
    let v = server.issue("leaf-of-issuing.test");
    let leaf = write_pem(
        &server.work,
        "leaf-of-issuing",
        v["certificate"].as_str().expect("cert"),
    );
    let issuing = server.data.join("ca/issuing/cert.pem");
    let verify = common::run_program(
        "openssl",
        &[
            "verify",
            "-CAfile",
            ca.to_str().expect("utf-8"),
            "-untrusted",
            issuing.to_str().expect("utf-8"),
            leaf.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        verify.code, 0,
        "a leaf of the token issuing CA verifies to the token root: {verify}"
    );
    pkilint(&leaf);
    let listing = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert_eq!(
        listing
            .matches("Access:     sensitive, always sensitive, never extractable")
            .count(),
        2,
        "both CA keys stay on the token:\n{listing}"
    );
    server.stop_ok();
    server.ca = "demo".into();

    // The same key for another installation: refused without --existing, used with it.
    let other = Server::prepare(&[]);
    let data = other.data.display().to_string();
    let twice = run_signet(
        &["init", "--data", &data, "--dev", "--key-uri", &uri],
        &env_refs,
        None,
    );
    assert_ne!(
        twice.code, 0,
        "a second key under the same label is refused"
    );
    assert!(twice.stderr.contains("already holds a key"), "{twice}");
    assert!(
        !other.data.join("signet.toml").exists(),
        "and nothing is initialised"
    );
    let existing = run_signet(
        &[
            "init",
            "--data",
            &data,
            "--dev",
            "--key-uri",
            &uri,
            "--existing",
        ],
        &env_refs,
        None,
    );
    assert_eq!(existing.code, 0, "--existing uses the key: {existing}");
    let first = fs::read_to_string(&ca).expect("the first CA");
    let second = fs::read_to_string(other.data.join("ca/demo/cert.pem")).expect("the second CA");
    assert_eq!(
        spki_of(&first, &server.work),
        spki_of(&second, &server.work),
        "both CA certificates certify the token's key"
    );
}

/// The SubjectPublicKeyInfo of a PEM certificate, as openssl prints it.
fn spki_of(pem: &str, work: &std::path::Path) -> String {
    let path = work.join("spki-of.pem");
    fs::write(&path, pem).expect("writing the certificate");
    let run = common::run_program(
        "openssl",
        &[
            "x509",
            "-in",
            path.to_str().expect("utf-8"),
            "-noout",
            "-pubkey",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    run.stdout
}

/// A root on the token renewed with a new key made on the same token: both keys stay
/// there (never extractable), the server loads the retired one from `[[ca.retired]]` by its
/// URI, and each key's CRL verifies under its own certificate.
#[test]
fn a_root_on_a_token_renews_with_a_new_token_key() {
    let hsm = SoftHsm::new("signet-roll");
    let env = env_of(&hsm);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let first = hsm.uri("root-2026");
    let mut server = Server::init_env(&["--dev", "--key", "p256", "--key-uri", &first], &env_refs);
    let old_root = server.work_file("old-root.pem");
    fs::copy(server.ca_cert_path(), &old_root).expect("copying the root");
    let data = server.data.display().to_string();
    let second = hsm.uri("root-2036");
    let run = run_signet(
        &[
            "ca",
            "renew",
            "--data",
            &data,
            "--name",
            "demo",
            "--new-key",
            "--key",
            "p384",
            "--key-uri",
            &second,
            "--dev",
        ],
        &env_refs,
        None,
    );
    assert_eq!(run.code, 0, "{run}");
    let config = fs::read_to_string(server.data.join("signet.toml")).expect("signet.toml");
    assert!(config.contains(&format!("key = \"{second}\"")), "{config}");
    assert!(config.contains("[[ca.retired]]") && config.contains(&format!("key = \"{first}\"")));
    assert!(
        !server.data.join("ca/demo/key-1.pem").exists(),
        "no key file for a token key"
    );
    let listing = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert_eq!(
        listing.matches("never extractable").count(),
        2,
        "both keys stay on the token:\n{listing}"
    );

    server.serve_env = env.clone();
    server.serve();
    let new_root = server.data.join("ca/demo/cert-1.pem");
    let v = server.issue("after-rollover.test");
    let leaf = write_pem(
        &server.work,
        "after",
        v["certificate"].as_str().expect("cert"),
    );
    openssl_verify(&new_root, &leaf);
    pkilint(&leaf);
    for (path, root) in [
        ("/crl/demo.crl", &old_root),
        ("/crl/demo(1).crl", &new_root),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "GET {path}: {r}");
        let crl = server.work_file("key.crl");
        fs::write(&crl, &r.body).expect("writing the CRL");
        let run = common::run_program(
            "openssl",
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                crl.to_str().expect("utf-8"),
                "-CAfile",
                root.to_str().expect("utf-8"),
                "-noout",
            ],
        );
        assert!(format!("{run}").contains("verify OK"), "{path}: {run}");
    }
}
