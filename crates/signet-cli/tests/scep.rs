//! SCEP (RFC 8894) end to end against the real binary: micromdm's `scepclient` (Debian
//! `scep`) enrolls with a one-time challenge, is refused a wrong or reused one, renews, and
//! waits for a manager's approval by resending; certmonger enrolls through `scep-submit`
//! and collects its certificate after approval; every certificate passes `openssl verify`
//! and pkilint. Malformed and hostile messages (built here with the CMS code, as an
//! attacker would) get SCEP's own errors and store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::RsaKeyPair;
use common::*;
use signet_x509::cms::{self, Attribute, ContentCipher, DigestAlg, oid};

const SHA256_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

fn scep_tools() -> bool {
    oracle::available(
        "scepclient",
        Path::new("/usr/bin/scepclient").exists(),
        "apt-get install scep",
    )
}

fn certmonger_present() -> bool {
    oracle::available(
        "certmonger",
        Path::new("/usr/lib/certmonger/scep-submit").exists(),
        "apt-get install certmonger",
    )
}

/// The GetCACert answer: the RA certificate and the CA's, PEM files in `dir`; the RA's
/// SHA-256 fingerprint (hex), which scepclient's `-ca-fingerprint` selects it by.
fn ca_certs(server: &Server) -> (PathBuf, String) {
    let r = server.get(&format!("/scep/{}?operation=GetCACert", server.ca));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.content_type, "application/x-x509-ca-ra-cert");
    let p7 = server.work_file("getcacert.p7b");
    std::fs::write(&p7, &r.body).unwrap();
    let pem = server.work_file("getcacert.pem");
    let run = run_program(
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            p7.to_str().unwrap(),
            "-print_certs",
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    let text = std::fs::read_to_string(&pem).unwrap();
    assert!(
        text.contains("SCEP RA") && text.contains("Root CA"),
        "{text}"
    );
    let ra_pem = std::fs::read(
        server
            .data
            .join("scep")
            .join(&server.ca)
            .join("ra-cert.pem"),
    )
    .unwrap();
    let (_, ra_der) = signet_x509::pem::decode(&ra_pem).unwrap();
    assert!(
        r.body.windows(ra_der.len()).any(|w| w == ra_der),
        "GetCACert holds the RA certificate"
    );
    (pem, hex::encode(signet_x509::sha256(&ra_der)))
}

fn manager(server: &Server) -> String {
    server.create_token(&["manager"], "scep-officer")
}

fn cli_as(server: &Server, token: &str, args: &[&str]) -> Run {
    let url = server.url();
    let mut full = args.to_vec();
    full.extend(["--token", token, "--server", url.as_str()]);
    run_signet(&full, &[], None)
}

fn challenge(server: &Server, mgr: &str) -> String {
    let run = cli_as(
        server,
        mgr,
        &["admin", "scep", "challenge", "--valid", "10m"],
    );
    run.expect_code(0);
    let c = run.stdout.trim().to_owned();
    assert_eq!(c.len(), 40, "only the challenge on stdout: {run}");
    c
}

/// The number of requests the CA holds (any status), as a certificate manager sees them.
fn request_count(server: &Server, mgr: &str) -> usize {
    let r = server.call(
        Some(mgr),
        "GET",
        &format!("/api/v1/cas/{}/requests?limit=1000", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "{r}");
    r.json()["items"].as_array().map_or(0, Vec::len)
}

fn scepclient(server: &Server, dir: &Path, fp: &str, extra: &[&str]) -> Run {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("key.pem");
    let url = format!("{}/scep/{}", server.url(), server.ca);
    let mut args = vec![
        "-private-key",
        key.to_str().unwrap(),
        "-server-url",
        url.as_str(),
        "-ca-fingerprint",
        fp,
    ];
    args.extend_from_slice(extra);
    run_program("scepclient", &args)
}

#[test]
fn scepclient_enrolls_with_a_one_time_challenge_and_renews() {
    if !scep_tools() {
        return;
    }
    let server = Server::start(&[]);
    let caps = server.get(&format!("/scep/{}?operation=GetCACaps&message=", server.ca));
    assert_eq!(caps.status, 200);
    for cap in [
        "POSTPKIOperation",
        "SCEPStandard",
        "SHA-256",
        "SHA-512",
        "AES",
        "Renewal",
    ] {
        assert!(
            caps.text().lines().any(|l| l == cap),
            "{cap} in {}",
            caps.text()
        );
    }
    let (chain, fp) = ca_certs(&server);
    let mgr = manager(&server);
    let one_time = challenge(&server, &mgr);
    // Stored as a hash only: the database never holds the challenge itself.
    let db = std::fs::read(server.data.join("signet.db")).unwrap();
    assert!(!db.windows(one_time.len()).any(|w| w == one_time.as_bytes()));

    let dev = server.work_file("dev1");
    let run = scepclient(
        &server,
        &dev,
        &fp,
        &["-challenge", &one_time, "-cn", "dev1.test"],
    );
    run.expect_code(0);
    let cert = dev.join("client.pem");
    openssl_verify(&chain, &cert);
    pkilint(&cert);
    let text = cert_text(&cert);
    assert!(
        text.contains("CN = dev1.test") || text.contains("CN=dev1.test"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("DNS:dev1.test"), "{text}");
    let first_serial = cert_serial(&cert);

    // The challenge was used: a second device with it is refused, and so is a wrong one;
    // neither reaches the CA.
    let before = request_count(&server, &mgr);
    for (name, ch) in [("dev2", one_time.as_str()), ("dev3", "not-a-challenge")] {
        let run = scepclient(
            &server,
            &server.work_file(name),
            &fp,
            &["-challenge", ch, "-cn", "dev2.test"],
        );
        assert!(
            run.stdout.contains("failInfo: badRequest")
                || run.stderr.contains("failInfo: badRequest"),
            "{run}"
        );
        assert!(!server.work_file(name).join("client.pem").exists());
    }
    assert_eq!(
        request_count(&server, &mgr),
        before,
        "refused challenges store nothing"
    );

    // Renewal: a RenewalReq signed with the current certificate, same key.
    let run = scepclient(
        &server,
        &dev,
        &fp,
        &["-certificate", cert.to_str().unwrap(), "-cn", "dev1.test"],
    );
    run.expect_code(0);
    openssl_verify(&chain, &cert);
    pkilint(&cert);
    assert_ne!(cert_serial(&cert), first_serial, "a new certificate");

    // The same key asking again with another name and a wrong challenge is a new request
    // (and refused), not a poll that hands back the old certificate.
    std::fs::remove_file(dev.join("csr.pem")).unwrap();
    let before = request_count(&server, &mgr);
    let run = scepclient(
        &server,
        &dev,
        &fp,
        &["-challenge", "WRONG", "-cn", "other.test"],
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("failInfo: badRequest"),
        "{run}"
    );
    assert_eq!(request_count(&server, &mgr), before);

    // The audit log holds the challenge's creation and its use.
    let auditor = server.create_token(&["auditor"], "aud");
    let audit = cli_as(&server, &auditor, &["audit", "export"]);
    audit.expect_code(0);
    assert!(audit.stdout.contains("scep-challenge-create"), "{audit}");
    assert!(audit.stdout.contains("scep-challenge-use"), "{audit}");
    cli_as(&server, &auditor, &["audit", "verify"]).expect_code(0);
}

/// Points `[ca.scep]` at the manual profile.
fn scep_profile_manual(server: &Server) {
    let path = server.data.join("signet.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let toml = toml.replacen(
        "[ca.scep]\nenabled = true\nprofile = \"device\"",
        "[ca.scep]\nenabled = true\nprofile = \"manual\"",
        1,
    );
    assert!(toml.contains("profile = \"manual\""));
    std::fs::write(&path, toml).unwrap();
}

fn pending_ids(server: &Server, mgr: &str) -> Vec<String> {
    let run = cli_as(server, mgr, &["admin", "pending", "--json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v.as_array()
        .or(v["items"].as_array())
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["id"].to_string().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn pending_requests_are_polled_and_delivered_after_approval() {
    if !scep_tools() || !certmonger_present() {
        return;
    }
    let mut server = Server::init(&["--dev"]);
    scep_profile_manual(&server);
    server.serve();
    let (chain, fp) = ca_certs(&server);
    let mgr = manager(&server);

    // scepclient: PENDING, then it resends the identical PKCSReq every 30 s.
    let dev = server.work_file("pending-dev");
    std::fs::create_dir_all(&dev).unwrap();
    let ch = challenge(&server, &mgr);
    let url = format!("{}/scep/{}", server.url(), server.ca);
    let mut child = KillOnDrop(
        Command::new("scepclient")
            .args([
                "-private-key",
                dev.join("key.pem").to_str().unwrap(),
                "-server-url",
                &url,
                "-ca-fingerprint",
                &fp,
                "-challenge",
                &ch,
                "-cn",
                "waiting.test",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let id = wait_until(
        Duration::from_secs(20),
        "scepclient's request pending",
        || pending_ids(&server, &mgr).into_iter().next(),
    );
    let before = request_count(&server, &mgr);
    cli_as(&server, &mgr, &["admin", "approve", &id]).expect_code(0);
    let status = wait_until(
        Duration::from_secs(75),
        "scepclient to collect its certificate",
        || child.0.try_wait().unwrap(),
    );
    assert!(
        status.success(),
        "scepclient: {status:?}\n{}",
        server.log_tail()
    );
    let cert = dev.join("client.pem");
    openssl_verify(&chain, &cert);
    pkilint(&cert);
    assert_eq!(
        request_count(&server, &mgr),
        before,
        "the resends were polls, not new requests"
    );

    // certmonger: PENDING, then (after approval) its next attempt collects the certificate.
    let state = server.work_file("certmonger");
    for d in ["requests", "cas", "local", "tmp"] {
        std::fs::create_dir_all(state.join(d)).unwrap();
    }
    let sock = server.work_file("cm.sock");
    let envs = [
        ("CERTMONGER_CONFIG_DIR", state.clone()),
        ("CERTMONGER_REQUESTS_DIR", state.join("requests")),
        ("CERTMONGER_CAS_DIR", state.join("cas")),
        ("CERTMONGER_LOCAL_CA_DIR", state.join("local")),
        ("CERTMONGER_TMPDIR", state.join("tmp")),
    ];
    // certmonger runs once per machine: a second daemon exits at once.
    assert!(
        run_program("pgrep", &["-x", "certmonger"])
            .stdout
            .trim()
            .is_empty(),
        "another certmonger is running on this machine; stop it (this test starts its own, with private state)"
    );
    let mut daemon = Command::new("certmonger");
    daemon
        .args(["-n", "-L", "-P", sock.to_str().unwrap(), "-p"])
        .arg(server.work_file("certmonger.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in &envs {
        daemon.env(k, v);
    }
    // Killed however the test ends: a leftover daemon would block the next run.
    let mut daemon = KillOnDrop(daemon.spawn().unwrap());
    let getcert = |args: &[&str]| -> Run {
        let mut c = Command::new("getcert");
        c.args(args).env(
            "CERTMONGER_PVT_ADDRESS",
            format!("unix:path={}", sock.display()),
        );
        let out = c.output().unwrap();
        Run {
            what: format!("getcert {}", args.join(" ")),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    wait_until(Duration::from_secs(10), "certmonger to take a CA", || {
        (getcert(&["add-scep-ca", "-c", "signet", "-u", &url]).code == 0).then_some(())
    });
    let (crt, key) = (server.work_file("cm.crt"), server.work_file("cm.key"));
    let ch = challenge(&server, &mgr);
    getcert(&[
        "request",
        "-c",
        "signet",
        "-f",
        crt.to_str().unwrap(),
        "-k",
        key.to_str().unwrap(),
        "-L",
        &ch,
        "-N",
        "CN=cm.test",
    ])
    .expect_code(0);
    let id = wait_until(
        Duration::from_secs(30),
        "certmonger's request pending",
        || pending_ids(&server, &mgr).into_iter().next(),
    );
    let before = request_count(&server, &mgr);
    // certmonger's own CertPoll (GetCertInitial, kept in its request file as `scep_gic`),
    // sent by its own helper: pending before the approval, the certificate after.
    let gic = stored_message(&state.join("requests"), "scep_gic");
    let ra_pem = server
        .data
        .join("scep")
        .join(&server.ca)
        .join("ra-cert.pem");
    let ca_pem = server.ca_cert_path();
    let poll = || {
        run_program(
            "/usr/lib/certmonger/scep-submit",
            &[
                "-u",
                &url,
                "-r",
                ra_pem.to_str().unwrap(),
                "-N",
                ca_pem.to_str().unwrap(),
                "-g",
                gic.to_str().unwrap(),
            ],
        )
    };
    let waiting = poll();
    assert!(![0, 2, 3].contains(&waiting.code), "pending: {waiting}");
    cli_as(&server, &mgr, &["admin", "approve", &id]).expect_code(0);
    let issued = poll();
    issued.expect_code(0);
    assert!(issued.stdout.contains("-----BEGIN PKCS7-----"), "{issued}");
    // And its resubmission (a PKCS#10 built anew for the same key, subject and challenge).
    getcert(&["resubmit", "-f", crt.to_str().unwrap()]).expect_code(0);
    wait_until(
        Duration::from_secs(30),
        "certmonger to collect its certificate",
        || {
            let list = getcert(&["list", "-f", crt.to_str().unwrap()]);
            list.stdout.contains("status: MONITORING").then_some(())
        },
    );
    daemon.stop();
    openssl_verify(&chain, &crt);
    pkilint(&crt);
    assert_eq!(
        request_count(&server, &mgr),
        before,
        "certmonger's resubmission was a poll"
    );
}

/// A PEM message certmonger keeps in its request file (`name=-----BEGIN ...`, continued
/// on lines that start with a space), written to a file of its own.
fn stored_message(requests: &Path, name: &str) -> PathBuf {
    let entry = std::fs::read_dir(requests)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(entry.path()).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{name}=")));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let mut pem = vec![first[name.len() + 1..].to_owned()];
    pem.extend(
        lines
            .take_while(|l| l.starts_with(' '))
            .map(|l| l[1..].to_owned()),
    );
    let out = requests.with_file_name(format!("{name}.pem"));
    std::fs::write(&out, pem.join("\n") + "\n").unwrap();
    out
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A device's key, its self-signed signer certificate and a CSR with a challenge.
struct Device {
    key: PathBuf,
    signer: Vec<u8>,
    csr: Vec<u8>,
}

fn device(server: &Server, name: &str, challenge: &str) -> Device {
    let key = server.work_file(&format!("{name}.key"));
    let conf = server.work_file(&format!("{name}.cnf"));
    std::fs::write(
        &conf,
        format!(
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = {name}.test\n[attrs]\nchallengePassword = {challenge}\n"
        ),
    )
    .unwrap();
    let csr = server.work_file(&format!("{name}.csr"));
    run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-config",
            conf.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            csr.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let signer = server.work_file(&format!("{name}-signer.der"));
    run_program(
        "openssl",
        &[
            "req",
            "-x509",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=SCEP SIGNER",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            signer.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    Device {
        signer: std::fs::read(signer).unwrap(),
        csr: std::fs::read(csr).unwrap(),
        key,
    }
}

fn pkcs8(key: &Path) -> Vec<u8> {
    let out = key.with_extension("p8");
    run_program(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            key.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            out.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    std::fs::read(out).unwrap()
}

/// A pkiMessage as a client builds it: `content` enveloped to `recipient`, signed by
/// `signer_key` with `signer` in the certificates.
fn pki_message(
    kind: &str,
    content: &[u8],
    recipient: &[u8],
    cipher: ContentCipher,
    signer: &[u8],
    signer_key: &Path,
    transaction: &str,
) -> Vec<u8> {
    let env = cms::envelope(content, recipient, cipher).unwrap();
    let attrs = vec![
        Attribute::printable_string(oid::SCEP_MESSAGE_TYPE, kind).unwrap(),
        Attribute::printable_string(oid::SCEP_TRANSACTION_ID, transaction).unwrap(),
        Attribute::octet_string(oid::SCEP_SENDER_NONCE, &rand16()).unwrap(),
    ];
    let pair = RsaKeyPair::from_pkcs8(&pkcs8(signer_key)).unwrap();
    cms::sign(
        &env,
        DigestAlg::Sha256,
        &SHA256_WITH_RSA,
        signer,
        &attrs,
        &[signer.to_vec()],
        |tbs| {
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                tbs,
                &mut sig,
            )
            .unwrap();
            Ok(sig)
        },
    )
    .unwrap()
}

fn rand16() -> [u8; 16] {
    let mut n = [0u8; 16];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    n
}

/// A CertRep's pkiStatus and failInfo.
fn cert_rep(r: &Response) -> (String, Option<String>, cms::SignedMessage) {
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.content_type, "application/x-pki-message");
    let signed = cms::parse_signed_data(&r.body).unwrap();
    let s = &signed.signers[0];
    let attr = |o: &str| s.signed_attribute(o).and_then(Attribute::string_value);
    assert_eq!(attr(oid::SCEP_MESSAGE_TYPE).as_deref(), Some("3"));
    (
        attr(oid::SCEP_PKI_STATUS).unwrap(),
        attr(oid::SCEP_FAIL_INFO),
        signed,
    )
}

fn post_pki(server: &Server, body: &[u8]) -> Response {
    http(
        server.addr(),
        "POST",
        &format!("/scep/{}?operation=PKIOperation", server.ca),
        &[("Content-Type", "application/x-pki-message")],
        body,
    )
}

#[test]
fn hostile_scep_messages_get_scep_errors_and_store_nothing() {
    let server = Server::start(&[]);
    let ra_pem = std::fs::read(
        server
            .data
            .join("scep")
            .join(&server.ca)
            .join("ra-cert.pem"),
    )
    .unwrap();
    let (_, ra) = signet_x509::pem::decode(&ra_pem).unwrap();
    let mgr = manager(&server);
    let before = request_count(&server, &mgr);

    // Not SCEP at all, truncated, oversized: plain HTTP errors.
    let ch = challenge(&server, &mgr);
    let dev = device(&server, "hostile", &ch);
    let good = pki_message(
        "19",
        &dev.csr,
        &ra,
        ContentCipher::Aes256Cbc,
        &dev.signer,
        &dev.key,
        "tx-hostile",
    );
    assert_eq!(post_pki(&server, b"garbage").status, 400);
    assert_eq!(post_pki(&server, &good[..good.len() / 2]).status, 400);
    assert_eq!(post_pki(&server, &vec![0x30; 200 * 1024]).status, 413);

    // A bad signature: FAILURE badMessageCheck.
    let mut forged = good.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let (status, fail, _) = cert_rep(&post_pki(&server, &forged));
    assert_eq!(
        (status.as_str(), fail.as_deref()),
        ("2", Some("1")),
        "bad signature"
    );

    // Encrypted to another RSA certificate than the RA's: badMessageCheck.
    let other = device(&server, "other", "x");
    let misdirected = pki_message(
        "19",
        &dev.csr,
        &other.signer,
        ContentCipher::Aes128Cbc,
        &dev.signer,
        &dev.key,
        "tx-other",
    );
    // Implicit rejection decrypts with a random key instead; about once in 256 its output
    // has valid padding, and the garbage is then no CSR (badRequest) rather than
    // undecryptable (badMessageCheck). Refused either way, and nothing is stored.
    let (status, fail, _) = cert_rep(&post_pki(&server, &misdirected));
    assert!(
        status == "2" && matches!(fail.as_deref(), Some("1") | Some("2")),
        "wrong recipient: {status} {fail:?}"
    );

    // Signed by another key than the one requested (someone else's CSR): badMessageCheck.
    let stolen = pki_message(
        "19",
        &dev.csr,
        &ra,
        ContentCipher::Aes128Cbc,
        &other.signer,
        &other.key,
        "tx-stolen",
    );
    let (status, fail, _) = cert_rep(&post_pki(&server, &stolen));
    assert_eq!(
        (status.as_str(), fail.as_deref()),
        ("2", Some("1")),
        "signer is not the requested key"
    );

    // A RenewalReq signed by a certificate this CA did not issue, made to look like the
    // device's own (the request's subject): badMessageCheck.
    let lookalike = server.work_file("lookalike.der");
    run_program(
        "openssl",
        &[
            "req",
            "-x509",
            "-key",
            dev.key.to_str().unwrap(),
            "-subj",
            "/CN=hostile.test",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            lookalike.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let lookalike = std::fs::read(lookalike).unwrap();
    let renewal = pki_message(
        "17",
        &dev.csr,
        &ra,
        ContentCipher::Aes256Cbc,
        &lookalike,
        &dev.key,
        "tx-renew",
    );
    let (status, fail, _) = cert_rep(&post_pki(&server, &renewal));
    assert_eq!(
        (status.as_str(), fail.as_deref()),
        ("2", Some("1")),
        "renewal by a stranger"
    );

    // Content that is no CSR: badRequest.
    let junk = pki_message(
        "19",
        b"not a csr",
        &ra,
        ContentCipher::Aes256Cbc,
        &dev.signer,
        &dev.key,
        "tx-junk",
    );
    let (status, fail, _) = cert_rep(&post_pki(&server, &junk));
    assert_eq!((status.as_str(), fail.as_deref()), ("2", Some("2")));

    // A CertPoll for an unknown transaction: badCertId.
    let poll = pki_message(
        "20",
        b"\x30\x00",
        &ra,
        ContentCipher::Aes256Cbc,
        &dev.signer,
        &dev.key,
        "tx-unknown",
    );
    let (status, fail, _) = cert_rep(&post_pki(&server, &poll));
    assert_eq!((status.as_str(), fail.as_deref()), ("2", Some("4")));
    assert_eq!(
        request_count(&server, &mgr),
        before,
        "nothing hostile reached the CA"
    );

    // The challenge was not spent by any of that: the genuine message, sent over GET with
    // standard base64 whose `+` and `/` are left unescaped (as macOS sends them), enrolls.
    use base64ct::Encoding;
    let b64 = base64ct::Base64::encode_string(&good);
    let r = http(
        server.addr(),
        "GET",
        &format!(
            "/scep/{}/pkiclient.exe?operation=PKIOperation&message={b64}",
            server.ca
        ),
        &[],
        b"",
    );
    let (status, fail, signed) = cert_rep(&r);
    assert_eq!(
        (status.as_str(), fail),
        ("0", None),
        "{}",
        server.log_tail()
    );
    let key = PrivateDecryptingKey::from_pkcs8(&pkcs8(&dev.key)).unwrap();
    let key = Pkcs1PrivateDecryptingKey::new(key).unwrap();
    let degenerate = cms::parse_enveloped_data(signed.content.as_deref().unwrap())
        .unwrap()
        .decrypt(&dev.signer, &key)
        .unwrap();
    let p7 = server.work_file("issued.p7b");
    std::fs::write(&p7, degenerate).unwrap();
    let issued = server.work_file("issued.pem");
    run_program(
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            p7.to_str().unwrap(),
            "-print_certs",
            "-out",
            issued.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    openssl_verify(&server.ca_cert_path(), &issued);
    assert_eq!(request_count(&server, &mgr), before + 1);

    // The same message again (base64url over GET) is a resend: the same certificate, no new
    // request.
    let b64url = base64ct::Base64UrlUnpadded::encode_string(&good);
    let r = http(
        server.addr(),
        "GET",
        &format!(
            "/scep/{}?operation=PKIOperation&message={b64url}",
            server.ca
        ),
        &[],
        b"",
    );
    assert_eq!(cert_rep(&r).0, "0");
    assert_eq!(
        request_count(&server, &mgr),
        before + 1,
        "a resend is a poll"
    );

    // CertPoll for the transaction: the certificate.
    let poll = pki_message(
        "20",
        b"\x30\x00",
        &ra,
        ContentCipher::Aes256Cbc,
        &dev.signer,
        &dev.key,
        "tx-hostile",
    );
    let (status, _, signed) = cert_rep(&post_pki(&server, &poll));
    assert_eq!(status, "0", "CertPoll of a known transaction");
    let polled = cms::parse_enveloped_data(signed.content.as_deref().unwrap())
        .unwrap()
        .decrypt(&dev.signer, &key)
        .unwrap();
    assert_eq!(polled, std::fs::read(&p7).unwrap(), "the same certificate");

    // GetCert signed with the issued certificate, for itself: answered; GetCRL: the CRL.
    let issued_der = cert_der(&issued);
    let own = cms::issuer_and_serial(&issued_der).unwrap();
    let get_cert = pki_message(
        "21",
        &own,
        &ra,
        ContentCipher::Aes256Cbc,
        &issued_der,
        &dev.key,
        "tx-getcert",
    );
    let (status, _, signed) = cert_rep(&post_pki(&server, &get_cert));
    assert_eq!(status, "0", "GetCert for the signer's own certificate");
    let got = cms::parse_enveloped_data(signed.content.as_deref().unwrap())
        .unwrap()
        .decrypt(&issued_der, &key)
        .unwrap();
    assert!(got.windows(issued_der.len()).any(|w| w == issued_der));
    let get_crl = pki_message(
        "22",
        &own,
        &ra,
        ContentCipher::Aes256Cbc,
        &issued_der,
        &dev.key,
        "tx-getcrl",
    );
    let (status, _, signed) = cert_rep(&post_pki(&server, &get_crl));
    assert_eq!(status, "0", "GetCRL");
    let crl = cms::parse_enveloped_data(signed.content.as_deref().unwrap())
        .unwrap()
        .decrypt(&issued_der, &key)
        .unwrap();
    let crl_p7 = server.work_file("crl.p7b");
    std::fs::write(&crl_p7, crl).unwrap();
    let printed = run_program(
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            crl_p7.to_str().unwrap(),
            "-print_certs",
        ],
    );
    printed.expect_code(0);
    assert!(
        printed.stdout.contains("Certificate Revocation List"),
        "{printed}"
    );
    assert_eq!(
        request_count(&server, &mgr),
        before + 1,
        "polls and gets store nothing"
    );

    // With legacy_crypto off, DES is refused with badAlg.
    let mut server = server;
    server.stop_ok();
    let path = server.data.join("signet.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replacen(
        "legacy_crypto = true",
        "legacy_crypto = false",
        1,
    );
    std::fs::write(&path, toml).unwrap();
    server.serve();
    let des = pki_message(
        "19",
        &dev.csr,
        &ra,
        ContentCipher::DesCbc,
        &dev.signer,
        &dev.key,
        "tx-des",
    );
    let (status, fail, _) = cert_rep(&post_pki(&server, &des));
    assert_eq!(
        (status.as_str(), fail.as_deref()),
        ("2", Some("0")),
        "DES refused"
    );
}

/// `challenge_check = "policy"`: the challenge reaches the policy module as the
/// `challengePassword` attribute, and a `rules` module decides (as a module checking an
/// external system's dynamic challenges would).
#[test]
fn the_policy_module_can_check_challenges_itself() {
    if !scep_tools() {
        return;
    }
    let mut server = Server::init(&["--dev"]);
    chain_policy(
        &server,
        r#"
[[ca.policy.chain.rules]]
name = "mdm-challenge"
when = 'request.profile == "device" && request.attributes["challengePassword"] != "from-mdm-42"'
action = "deny"
message = "the MDM does not know this challenge"
"#,
    );
    let path = server.data.join("signet.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        toml.replacen(
            "challenge_check = \"signet\"",
            "challenge_check = \"policy\"",
            1,
        ),
    )
    .unwrap();
    server.serve();
    let (chain, fp) = ca_certs(&server);
    let mgr = manager(&server);

    let dev = server.work_file("mdm1");
    scepclient(
        &server,
        &dev,
        &fp,
        &["-challenge", "from-mdm-42", "-cn", "mdm1.test"],
    )
    .expect_code(0);
    openssl_verify(&chain, &dev.join("client.pem"));

    let run = scepclient(
        &server,
        &server.work_file("mdm2"),
        &fp,
        &["-challenge", "guessed", "-cn", "mdm2.test"],
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("failInfo: badRequest"),
        "{run}"
    );
    let denied = server.call(
        Some(&mgr),
        "GET",
        &format!("/api/v1/cas/{}/requests?status=denied", server.ca),
        None,
    );
    assert!(
        denied
            .text()
            .contains("the MDM does not know this challenge"),
        "{denied}"
    );
}

/// The RA certificate: issued by the CA (verified, pkilint-clean, keyEncipherment), its key
/// not stored in clear when the CA key is encrypted, taken up again at restart, and
/// replaced when a manager revokes it.
#[test]
fn the_ra_certificate_is_kept_across_restarts_and_replaced_when_revoked() {
    let mut server = Server::start(&[]);
    let dir = server.data.join("scep").join(&server.ca);
    let first = std::fs::read(dir.join("ra-cert.pem")).unwrap();
    let ra = dir.join("ra-cert.pem");
    openssl_verify(&server.ca_cert_path(), &ra);
    pkilint(&ra);
    let text = cert_text(&ra);
    assert!(
        text.contains("Key Encipherment") && text.contains("Digital Signature"),
        "{text}"
    );
    assert!(text.contains("SCEP RA"), "{text}");

    server.restart();
    assert_eq!(
        std::fs::read(&ra).unwrap(),
        first,
        "taken up again, not reissued"
    );

    let mgr = manager(&server);
    let serial = cert_serial(&ra);
    cli_as(
        &server,
        &mgr,
        &["admin", "revoke", &serial, "--reason", "keyCompromise"],
    )
    .expect_code(0);
    server.restart();
    let second = std::fs::read(&ra).unwrap();
    assert_ne!(second, first, "a revoked RA certificate is replaced");
    openssl_verify(&server.ca_cert_path(), &ra);
    let (_, der) = signet_x509::pem::decode(&second).unwrap();
    let r = server.get(&format!(
        "/scep/{}?operation=GetCACert&message=0",
        server.ca
    ));
    assert!(
        r.body.windows(der.len()).any(|w| w == der),
        "GetCACert serves the new RA"
    );
}

/// With a passphrase-protected CA, the RA key is encrypted under the same passphrase.
#[test]
fn the_ra_key_is_encrypted_like_the_ca_key() {
    let secrets = tempfile::tempdir().unwrap();
    let pass = secrets.path().join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let pass = pass.to_str().unwrap().to_owned();
    let mut server = Server::init(&["--passphrase-file", &pass]);
    // Plain `signet init` writes [ca.scep] commented out.
    let path = server.data.join("signet.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let commented = "# [ca.scep]\n# enabled = true\n# profile = \"device\"";
    assert!(toml.contains(commented), "{toml}");
    std::fs::write(
        &path,
        toml.replacen(
            commented,
            "[ca.scep]\nenabled = true\nprofile = \"device\"",
            1,
        ),
    )
    .unwrap();
    server.serve_args = vec!["--passphrase-file".into(), pass.clone()];
    server.serve();
    let key = server.data.join("scep").join(&server.ca).join("ra-key.pem");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem:.40}"
    );
    let passin = format!("file:{pass}");
    run_program(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            &passin,
            "-noout",
        ],
    )
    .expect_code(0);
    let r = server.get(&format!("/scep/{}?operation=GetCACaps", server.ca));
    assert_eq!(r.status, 200, "{r}");
}
