//! An offline root made by Signet itself (issue 20): `signet ca create --self-signed` makes
//! the root with its key outside the data directory; `signet ca sign --offline --csr` signs
//! an issuing CA's request (with a name constraint) and `signet ca install` installs it;
//! `signet serve` runs with the root offline (no key, no requests, OCSP `unauthorized`,
//! healthy) and the issuing CA online; `signet ca sign --offline --crl` publishes the root's
//! CRL beside the running server, which serves it; a revocation through the server's admin
//! API then appears on the next one. openssl verifies chains and CRLs, pkilint lints.
//! Refused: a key that is not the root's, a request whose signature does not verify.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Run, Server, cert_serial, pkilint, run_program, run_signet, wait_until, write_pem};

/// The root key's passphrase file in the work directory.
fn passphrase(work: &Path) -> String {
    let path = work.join("root.pass");
    fs::write(&path, "correct horse battery staple\n").expect("passphrase file");
    path.display().to_string()
}

/// `signet ca sign --offline --data DATA --name root --key KEY --passphrase-file PASS ARGS`.
fn sign(data: &str, key: &str, pass: &str, args: &[&str]) -> Run {
    let mut full = vec![
        "ca",
        "sign",
        "--offline",
        "--data",
        data,
        "--name",
        "root",
        "--key",
        key,
        "--passphrase-file",
        pass,
    ];
    full.extend_from_slice(args);
    run_signet(&full, &[], None)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `openssl crl -verify` of a DER CRL against the root; answers the PEM copy's path.
fn verified_crl(work: &Path, der: &[u8], root: &str, stem: &str) -> PathBuf {
    let der_path = work.join(format!("{stem}.crl"));
    fs::write(&der_path, der).expect("CRL file");
    let pem = work.join(format!("{stem}.crl.pem"));
    let run = run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            &path(&der_path),
            "-CAfile",
            root,
            "-verify",
            "-out",
            &path(&pem),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("verify OK"),
        "the root signed it: {run}"
    );
    pem
}

#[test]
fn signet_runs_an_offline_root_above_its_issuing_ca() {
    let mut server = Server::init(&["--dev"]);
    let data = path(&server.data);
    let work = server.work.clone();
    let pass = passphrase(&work);
    let key = path(&work.join("root.key"));

    // 1. The root: key outside the data directory, certificate inside, offline in
    //    signet.toml, its first CRL stored.
    let inside = path(&server.data.join("root.key"));
    let refused = run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "root",
            "--self-signed",
            "--key-out",
            &inside,
            "--passphrase-file",
            &pass,
        ],
        &[],
        None,
    );
    assert!(
        refused.stderr.contains("must not be in the data directory"),
        "{refused}"
    );
    let created = run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "root",
            "--self-signed",
            "--key",
            "p384",
            "--key-out",
            &key,
            "--passphrase-file",
            &pass,
            "--subject",
            "O=Example,CN=Example Root CA",
        ],
        &[],
        None,
    );
    assert_eq!(created.code, 0, "{created}");
    assert!(
        fs::read_to_string(&key)
            .expect("the key file")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "the root key is encrypted"
    );
    assert!(!server.data.join("ca/root/key.pem").exists());
    let root = path(&server.data.join("ca/root/cert.pem"));
    pkilint(Path::new(&root));
    let text = run_program("openssl", &["x509", "-in", &root, "-noout", "-text"]);
    assert!(
        text.stdout.contains("CA:TRUE") && text.stdout.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    let config = fs::read_to_string(server.data.join("signet.toml")).expect("toml");
    let block = config
        .split("name = \"root\"")
        .nth(1)
        .expect("the root's [[ca]]");
    assert!(block.contains("offline = true"), "{config}");
    assert!(!block.lines().any(|l| l.starts_with("key =")), "{config}");

    // 2. The issuing CA's request, signed by the root with a name constraint.
    let csr = path(&work.join("issuing.csr"));
    run_signet(
        &[
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            "issuing",
            "--csr-out",
            &csr,
            "--dev",
            "--subject",
            "O=Example,CN=Example Issuing CA",
        ],
        &[],
        None,
    )
    .expect_code(0);

    // Refused, writing nothing: a key that is not the root's...
    let other_key = path(&work.join("other.key"));
    run_program(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            &other_key,
        ],
    )
    .expect_code(0);
    let bad_out = work.join("bad.pem");
    let refused = sign(
        &data,
        &other_key,
        &pass,
        &["--csr", &csr, "--out", &path(&bad_out)],
    );
    assert!(refused.stderr.contains("is not CA root's"), "{refused}");
    assert!(!bad_out.exists(), "nothing written");
    // ... and a request whose signature does not verify.
    let mut der = common::csr_der(Path::new(&csr));
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let forged = work.join("forged.csr");
    fs::write(&forged, &der).expect("forged CSR");
    let refused = sign(
        &data,
        &key,
        &pass,
        &["--csr", &path(&forged), "--out", &path(&bad_out)],
    );
    assert!(refused.stderr.contains("signature"), "{refused}");
    assert!(!bad_out.exists(), "nothing written");

    let issuing = work.join("issuing.pem");
    let signed = sign(
        &data,
        &key,
        &pass,
        &[
            "--csr",
            &csr,
            "--out",
            &path(&issuing),
            "--permitted-dns",
            "example.test",
        ],
    );
    assert_eq!(signed.code, 0, "{signed}");
    pkilint(&issuing);
    let text = common::cert_text(&issuing);
    for want in [
        "CA:TRUE, pathlen:0",
        "Permitted",
        "DNS:example.test",
        "/crl/root.crl",
        "CA Issuers",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    assert!(
        !text.contains("OCSP"),
        "no OCSP for an offline root:\n{text}"
    );
    run_program("openssl", &["verify", "-CAfile", &root, &path(&issuing)]).expect_code(0);
    run_signet(
        &[
            "ca",
            "install",
            "--data",
            &data,
            "--name",
            "issuing",
            "--certificate",
            &path(&issuing),
            "--chain",
            &root,
        ],
        &[],
        None,
    )
    .expect_code(0);

    // 3. The server: the root offline, the issuing CA online.
    server.serve();
    assert_eq!(
        server.get("/healthz").status,
        200,
        "an offline key is no failure"
    );
    server.ca = "issuing".into();
    let leaf = server.issue("host.example.test");
    let leaf = write_pem(
        &work,
        "leaf",
        leaf["certificate"].as_str().expect("certificate"),
    );
    run_program(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &path(&issuing),
            &path(&leaf),
        ],
    )
    .expect_code(0);
    // A leaf outside the root's constraint, signed with the issuing CA's key by openssl:
    // openssl refuses the path.
    let stray_csr = common::openssl_csr(
        &work,
        "p256",
        "/CN=host.other.test",
        &["DNS:host.other.test"],
    );
    let stray = path(&work.join("stray.pem"));
    run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &path(&stray_csr),
            "-CA",
            &path(&issuing),
            "-CAkey",
            &path(&server.data.join("ca/issuing/key.pem")),
            "-CAcreateserial",
            "-days",
            "1",
            "-copy_extensions",
            "copyall",
            "-out",
            &stray,
        ],
    )
    .expect_code(0);
    let outside = run_program(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &path(&issuing),
            &stray,
        ],
    );
    assert_ne!(outside.code, 0, "{outside}");
    assert!(
        format!("{}{}", outside.stdout, outside.stderr).contains("permitted subtree violation"),
        "{outside}"
    );

    // The root takes no requests (409, nothing stored) and answers OCSP `unauthorized`.
    let manager = server.create_token(&["manager"], "officer");
    let view = |server: &Server| -> usize {
        let run = run_signet(
            &[
                "admin",
                "view",
                "--json",
                "--ca",
                "root",
                "--token",
                &manager,
                "--server",
                &server.url(),
            ],
            &[],
            None,
        );
        run.expect_code(0);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        v["items"].as_array().expect("items").len()
    };
    assert_eq!(
        view(&server),
        1,
        "the issuing CA's certificate is recorded under the root"
    );
    server.ca = "root".into();
    let root_csr = common::openssl_csr(
        &work,
        "p256",
        "/CN=host.example.test",
        &["DNS:host.example.test"],
    );
    let refused = server.submit_raw(&root_csr, None);
    let detail = refused.expect_problem(409);
    assert!(detail.contains("offline"), "{detail}");
    assert_eq!(view(&server), 1, "nothing stored");
    let ocsp = server.post("/ocsp/root", "application/ocsp-request", b"\x30\x00");
    assert_eq!(
        ocsp.body,
        [0x30, 0x03, 0x0a, 0x01, 0x06],
        "OCSP unauthorized: {ocsp}"
    );
    // The server does not sign the root's CRLs.
    let admin = server.admin_token();
    let publish = server.call(
        Some(&admin),
        "POST",
        "/api/v1/cas/root/crls",
        Some(&serde_json::json!({})),
    );
    let detail = publish.expect_problem(409);
    assert!(
        detail.contains("signet ca sign --offline --crl"),
        "{detail}"
    );

    // 4. The root's CRL, signed beside the running server, is what it serves.
    let served_number = |server: &Server, number: u64| -> Option<Vec<u8>> {
        let r = server.get("/crl/root.crl");
        (r.status == 200 && crl_number(&r.body) == number).then_some(r.body)
    };
    wait_until(Duration::from_secs(5), "the first CRL", || {
        served_number(&server, 1)
    });
    let out = work.join("crl2.der");
    let published = sign(&data, &key, &pass, &["--crl", "--out", &path(&out)]);
    assert_eq!(published.code, 0, "{published}");
    assert!(
        published.stdout.contains("CRL number 2 (0 revoked"),
        "{published}"
    );
    let served = wait_until(Duration::from_secs(10), "CRL 2 served", || {
        served_number(&server, 2)
    });
    assert_eq!(
        served,
        fs::read(&out).expect("crl2"),
        "the server serves what was signed"
    );
    verified_crl(&work, &served, &root, "served2");

    // 5. Revoked through the server, on the next CRL.
    let serial = cert_serial(&issuing);
    run_signet(
        &[
            "admin",
            "revoke",
            &serial,
            "--ca",
            "root",
            "--reason",
            "keyCompromise",
            "--token",
            &manager,
            "--server",
            &server.url(),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let out = work.join("crl3.der");
    let published = sign(
        &data,
        &key,
        &pass,
        &["--crl", "--next-update", "7", "--out", &path(&out)],
    );
    assert_eq!(published.code, 0, "{published}");
    assert!(
        published.stdout.contains("CRL number 3 (1 revoked"),
        "{published}"
    );
    let served = wait_until(Duration::from_secs(10), "CRL 3 served", || {
        served_number(&server, 3)
    });
    let crl = verified_crl(&work, &served, &root, "served3");
    let check = run_program(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            &root,
            "-CRLfile",
            &path(&crl),
            &path(&issuing),
        ],
    );
    assert_ne!(check.code, 0, "{check}");
    assert!(
        format!("{}{}", check.stdout, check.stderr).contains("certificate revoked"),
        "{check}"
    );

    // Every step is in the audit log, whose chain still verifies.
    server.stop_ok();
    let export = run_signet(&["audit", "export", "--data", &data], &[], None);
    export.expect_code(0);
    for action in [
        "\"ca-create\"",
        "\"ca-sign\"",
        "\"crl-publish\"",
        "\"revoke\"",
    ] {
        assert!(
            export.stdout.contains(action),
            "{action}:\n{}",
            export.stdout
        );
    }
    run_signet(&["audit", "verify", "--data", &data], &[], None).expect_code(0);
}

/// The CRL number `openssl crl -crlnumber` prints for a DER CRL (0 if it prints none).
fn crl_number(der: &[u8]) -> u64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("x.crl");
    fs::write(&file, der).expect("CRL");
    let run = run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            &path(&file),
            "-noout",
            "-crlnumber",
        ],
    );
    run.stdout
        .trim()
        .strip_prefix("crlNumber=0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_default()
}
