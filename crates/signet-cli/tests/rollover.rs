//! CA renewal with a new key (issue 20, AD CS "Renew CA certificate"): `signet ca renew
//! --new-key` on a root; the old key keeps signing the CRL and OCSP answers of what it
//! issued (`demo.crl`), the new key those of what it issues (`demo(1).crl`); cross
//! certificates let relying parties that trust only one root verify the other's leaves.
//! Oracles: `openssl verify -crl_check`, `openssl verify -untrusted`, `openssl crl`,
//! `openssl ocsp`, pkilint.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Server, pkilint, run_program, write_pem};

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Issues a leaf and writes it as PEM; returns its file and serial.
fn leaf(server: &Server, cn: &str) -> (PathBuf, String) {
    let v = server.issue(cn);
    let pem = v["certificate"].as_str().expect("certificate PEM");
    let path = write_pem(&server.work, cn, pem);
    (path, v["serial"].as_str().expect("serial").to_string())
}

fn revoke(server: &Server, manager: &str, serial: &str) {
    let run = server.cli(&[
        "admin",
        "revoke",
        serial,
        "--reason",
        "keyCompromise",
        "--token",
        manager,
    ]);
    assert_eq!(run.code, 0, "revoking {serial}: {run}");
}

/// `GET path` (DER) written to the work directory as PEM under `label`.
fn fetch_pem(server: &Server, path: &str, label: &str, stem: &str) -> PathBuf {
    let r = server.get(path);
    assert_eq!(r.status, 200, "GET {path}: {r}");
    let file = server.work_file(&format!("{stem}.pem"));
    fs::write(&file, signet_x509::pem::encode(label, &r.body)).expect("writing");
    file
}

/// `openssl verify -crl_check -CAfile ca -CRLfile crl [-untrusted u] cert`.
fn verify(ca: &Path, crl: Option<&Path>, untrusted: Option<&Path>, cert: &Path) -> common::Run {
    let mut args = vec!["verify"];
    if let Some(crl) = crl {
        args.extend(["-crl_check", "-CRLfile", p(crl)]);
    }
    if let Some(u) = untrusted {
        args.extend(["-untrusted", p(u)]);
    }
    args.extend(["-CAfile", p(ca), p(cert)]);
    run_program("openssl", &args)
}

fn text(cert: &Path) -> String {
    let run = run_program("openssl", &["x509", "-in", p(cert), "-noout", "-text"]);
    assert_eq!(run.code, 0, "{run}");
    run.stdout
}

/// `openssl ocsp` for `cert` issued by `issuer`; returns the output.
fn ocsp(server: &Server, issuer: &Path, cert: &Path) -> String {
    let url = format!("{}/ocsp/{}", server.url(), server.ca);
    let run = run_program(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            p(issuer),
            "-cert",
            p(cert),
            "-url",
            &url,
            "-CAfile",
            p(issuer),
            "-no_nonce",
        ],
    );
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn root_renewed_with_a_new_key_keeps_both_keys_verifiable() {
    let mut server = Server::start(&[]);
    let manager = server.create_token(&["manager"], "officer");
    let old_root = server.work_file("old-root.pem");
    fs::copy(server.ca_cert_path(), &old_root).expect("copying the root");
    let (old_good, _) = leaf(&server, "old-good.test");
    let (old_bad, old_bad_serial) = leaf(&server, "old-bad.test");
    revoke(&server, &manager, &old_bad_serial);
    server.stop_ok();

    let data = server.data.display().to_string();
    let toml_before = fs::read_to_string(server.data.join("signet.toml")).expect("toml");
    // A root has no parent to send a request to: refused, nothing changed.
    let refused = common::run_signet(
        &[
            "ca",
            "renew",
            "--data",
            &data,
            "--name",
            "demo",
            "--new-key",
            "--dev",
            "--csr-out",
            "/tmp/never.csr",
        ],
        &[],
        None,
    );
    assert_ne!(refused.code, 0, "{refused}");
    assert!(refused.stderr.contains("is a root"), "{refused}");
    assert_eq!(
        fs::read_to_string(server.data.join("signet.toml")).expect("toml"),
        toml_before
    );

    let run = common::run_signet(
        &[
            "ca",
            "renew",
            "--data",
            &data,
            "--name",
            "demo",
            "--new-key",
            "--dev",
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("key index 1"), "{run}");
    let new_root = server.data.join("ca/demo/cert-1.pem");
    let cross = server.data.join("ca/demo/cross-0-1.pem");
    pkilint(&new_root);
    let cross_pem = fs::read_to_string(&cross).expect("cross certificates");
    for (i, block) in cross_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .enumerate()
    {
        pkilint(&write_pem(&server.work, &format!("cross-{i}"), block));
    }
    server.serve();

    let (new_good, _) = leaf(&server, "new-good.test");
    let (new_bad, new_bad_serial) = leaf(&server, "new-bad.test");
    revoke(&server, &manager, &new_bad_serial);
    // Each key's leaves name that key's CRL and certificate.
    assert!(text(&old_good).contains("/crl/demo.crl"));
    let new_text = text(&new_good);
    assert!(new_text.contains("/crl/demo(1).crl"), "{new_text}");
    assert!(new_text.contains("/ca/demo(1).crt"), "{new_text}");

    let admin = server.admin_token();
    let published = server.call(
        Some(&admin),
        "POST",
        "/api/v1/cas/demo/crls",
        Some(&serde_json::json!({ "delta": false })),
    );
    assert_eq!(published.status, 201, "{published}");
    let urls = published.text();
    assert!(
        urls.contains("/crl/demo.crl") && urls.contains("/crl/demo(1).crl"),
        "{urls}"
    );

    let crl0 = fetch_pem(&server, "/crl/demo.crl", "X509 CRL", "crl0");
    let crl1 = fetch_pem(&server, "/crl/demo(1).crl", "X509 CRL", "crl1");
    // Each CRL is signed by its own key.
    for (crl, ca) in [(&crl0, &old_root), (&crl1, &new_root)] {
        let run = run_program(
            "openssl",
            &["crl", "-in", p(crl), "-CAfile", p(ca), "-noout"],
        );
        assert!(
            run.stderr.contains("verify OK") || run.stdout.contains("verify OK"),
            "{run}"
        );
    }
    let wrong = run_program(
        "openssl",
        &["crl", "-in", p(&crl1), "-CAfile", p(&old_root), "-noout"],
    );
    assert!(!format!("{wrong}").contains("verify OK"), "{wrong}");

    // Old leaves against the old key's CRL, new ones against the new key's.
    assert_eq!(verify(&old_root, Some(&crl0), None, &old_good).code, 0);
    let revoked = verify(&old_root, Some(&crl0), None, &old_bad);
    assert!(
        revoked.code != 0 && format!("{revoked}").contains("revoked"),
        "{revoked}"
    );
    let ok = verify(&new_root, Some(&crl1), None, &new_good);
    assert_eq!(ok.code, 0, "{ok}");
    let revoked = verify(&new_root, Some(&crl1), None, &new_bad);
    assert!(
        revoked.code != 0 && format!("{revoked}").contains("revoked"),
        "{revoked}"
    );

    // Cross certificates: served, and they bridge both ways.
    let served = server.get("/api/v1/cas/demo/cross-certificates");
    assert_eq!(served.status, 200, "{served}");
    assert_eq!(
        served.text(),
        fs::read_to_string(&cross).expect("cross file")
    );
    assert_ne!(verify(&old_root, None, None, &new_good).code, 0);
    let bridged = verify(&old_root, None, Some(&cross), &new_good);
    assert_eq!(bridged.code, 0, "{bridged}");
    let bridged = verify(&new_root, None, Some(&cross), &old_good);
    assert_eq!(bridged.code, 0, "{bridged}");

    // AIA caIssuers: each key's certificate at its own URL.
    let first = |file: &Path| {
        let pem = fs::read(file).expect("reading a certificate");
        signet_x509::pem::decode_all(&pem, "CERTIFICATE").expect("PEM")[0].clone()
    };
    let aia0 = fetch_pem(&server, "/ca/demo.crt", "CERTIFICATE", "aia0");
    let aia1 = fetch_pem(&server, "/ca/demo(1).crt", "CERTIFICATE", "aia1");
    assert_eq!(first(&aia0), first(&old_root));
    assert_eq!(first(&aia1), first(&new_root));
    assert_eq!(server.get("/ca/demo(0).crt").status, 404);
    assert_eq!(server.get("/ca/demo(7).crt").status, 404);

    // OCSP: each key answers for its own certificates; a CertID naming the other key gets
    // `unknown`, never another key's "good".
    let out = ocsp(&server, &old_root, &old_bad);
    assert!(
        out.contains("Response verify OK") && out.contains(": revoked"),
        "{out}"
    );
    let out = ocsp(&server, &new_root, &new_good);
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{out}"
    );
    let out = ocsp(&server, &new_root, &old_good);
    assert!(out.contains(": unknown"), "{out}");

    // The indexes in discovery and `signet config`.
    let cas = server.get("/api/v1/cas").json();
    let ca = &cas.as_array().expect("list")[0];
    assert_eq!(ca["cert_index"], 1, "{ca:#}");
    assert_eq!(ca["keys"][0]["index"], 1, "{ca:#}");
    assert_eq!(ca["keys"][0]["current"], true, "{ca:#}");
    assert_eq!(ca["keys"][1]["index"], 0, "{ca:#}");
    let config = server.cli(&["config"]);
    assert!(
        config.stdout.contains("key 0:") && config.stdout.contains("retired"),
        "{config}"
    );

    // Renewed again, same key: certificate index 2, key index 1, and the new key's leaves
    // verify under the new certificate.
    server.stop_ok();
    let run = common::run_signet(
        &["ca", "renew", "--data", &data, "--name", "demo", "--dev"],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "{run}");
    server.serve();
    let cas = server.get("/api/v1/cas").json();
    assert_eq!(cas[0]["cert_index"], 2, "{cas:#}");
    assert_eq!(cas[0]["keys"][0]["index"], 1, "{cas:#}");
    let newest = server.data.join("ca/demo/cert-2.pem");
    assert_eq!(verify(&newest, None, None, &new_good).code, 0);
    let auditor = server.create_token(&["auditor"], "auditor");
    let audit = server.cli(&["audit", "verify", "--token", &auditor]);
    assert_eq!(audit.code, 0, "{audit}");
    let export = server.call(Some(&auditor), "GET", "/api/v1/audit?limit=1000", None);
    assert!(export.text().matches("ca-renew").count() >= 2, "{export}");
}
