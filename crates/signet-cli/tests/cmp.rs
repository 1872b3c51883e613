//! CMP (RFC 9483) end to end against the real binary with `openssl cmp` (OpenSSL 3.0):
//! ir with MAC protection, cr signed with the certificate it gave, kur, rr, p10cr, genm,
//! certConf and implicit confirmation, a request waiting for a manager and polled through
//! the approval, and a certificate revoked when its confirmation does not come. Every
//! certificate passes `openssl verify` and pkilint. Refusals (wrong MAC secret, unknown
//! sender, bad proof of possession made as an attacker would, malformed DER, wrong content
//! type, another CA) get the PKIFailureInfo that says why and store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use signet_x509::cmp::{FailInfo, PkiBody, PkiStatus};

/// Revokes the live token named `name` with the admin token.
fn revoke_token(server: &Server, name: &str) {
    let admin = server.admin_token();
    let url = server.url();
    let list = run_signet(
        &[
            "admin", "token", "list", "--json", "--token", &admin, "--server", &url,
        ],
        &[],
        None,
    );
    list.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name && t["revoked_at"].is_null())
        .map(|t| t["id"].to_string())
        .unwrap();
    assert_eq!(
        v.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["shared_secret"],
        true
    );
    run_signet(
        &[
            "admin", "token", "revoke", &id, "--token", &admin, "--server", &url,
        ],
        &[],
        None,
    )
    .expect_code(0);
}

/// A token usable as a CMP shared secret (`--shared-secret`), named `name`.
fn shared_secret_token(server: &Server, name: &str) -> String {
    let admin = server.admin_token();
    let url = server.url();
    let run = run_signet(
        &[
            "admin",
            "token",
            "create",
            "--role",
            "requester",
            "--name",
            name,
            "--shared-secret",
            "--token",
            &admin,
            "--server",
            &url,
        ],
        &[],
        None,
    );
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

fn ec_key(server: &Server, stem: &str) -> PathBuf {
    let key = unique(&server.work, stem, "key");
    run_program(
        "openssl",
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    key
}

/// `openssl cmp -server ADDR -path /cmp/CA ARGS`; its messages (which it prints on
/// standard output) are in `stderr` too.
fn cmp_client(server: &Server, args: &[&str]) -> Run {
    let path = format!("/cmp/{}", server.ca);
    let mut full = vec!["cmp", "-server", server.addr(), "-path", &path];
    full.extend_from_slice(args);
    both(run_program("openssl", &full))
}

fn both(mut run: Run) -> Run {
    run.stderr = format!("{}{}", run.stdout, run.stderr);
    run
}

/// `openssl cmp -cmd CMD` signed with `cert` and `key`, trusting the CA for the answer.
fn signed(server: &Server, cmd: &str, cert: &Path, key: &Path, args: &[&str]) -> Run {
    let ca = server.ca_cert_path();
    let mut full = vec![
        "-cmd",
        cmd,
        "-cert",
        cert.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
        "-trusted",
        ca.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    cmp_client(server, &full)
}

/// The MAC credentials of `openssl cmp` for a shared-secret token.
fn mac_args(name: &str, token: &str) -> Vec<String> {
    vec![
        "-ref".into(),
        name.into(),
        "-secret".into(),
        format!("pass:{token}"),
        "-recipient".into(),
        "/O=Signet/CN=demo Root CA".into(),
    ]
}

/// `openssl cmp -cmd ir` with the MAC credentials `mac` ([`mac_args`]) for a new key.
fn mac_ir(
    server: &Server,
    mac: &[String],
    key: &Path,
    subject: &str,
    cert: &Path,
    extra: &[&str],
) -> Run {
    let mut args = strs(mac);
    args.extend([
        "-cmd",
        "ir",
        "-newkey",
        key.to_str().unwrap(),
        "-subject",
        subject,
        "-certout",
        cert.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cmp_client(server, &args)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn request_count(server: &Server) -> usize {
    let admin = server.create_token(&["auditor"], &format!("aud{}", rand_suffix()));
    let r = server.call(
        Some(&admin),
        "GET",
        &format!("/api/v1/cas/{}/requests?limit=1000", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "{r}");
    r.json()["items"].as_array().map_or(0, Vec::len)
}

fn rand_suffix() -> String {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The certificate's status as the REST API reports it (`issued`, `revoked`...).
fn certificate_status(server: &Server, cert: &Path) -> serde_json::Value {
    let auditor = server.create_token(&["auditor"], &format!("aud{}", rand_suffix()));
    let serial = cert_serial(cert);
    let r = server.call(
        Some(&auditor),
        "GET",
        &format!("/api/v1/cas/{}/certificates/{serial}", server.ca),
        None,
    );
    assert_eq!(r.status, 200, "{r}");
    r.json()
}

fn checked(server: &Server, cert: &Path) {
    openssl_verify(&server.ca_cert_path(), cert);
    pkilint(cert);
}

#[test]
fn ir_with_mac_then_cr_kur_and_rr_signed_with_the_issued_certificates() {
    let server = Server::start(&[]);
    let token = shared_secret_token(&server, "dev1");
    let mac = mac_args("dev1", &token);
    let key1 = ec_key(&server, "k1");
    let ir_cert = server.work_file("ir.crt");
    let capubs = server.work_file("capubs.crt");
    let mut args = strs(&mac);
    args.extend([
        "-cmd",
        "ir",
        "-newkey",
        key1.to_str().unwrap(),
        "-subject",
        "/CN=dev1.test",
        "-certout",
        ir_cert.to_str().unwrap(),
        "-cacertsout",
        capubs.to_str().unwrap(),
    ]);
    let run = cmp_client(&server, &args);
    run.expect_code(0);
    assert!(
        run.stderr.contains("sending CERTCONF") && run.stderr.contains("received PKICONF"),
        "the certificate is confirmed: {run}"
    );
    checked(&server, &ir_cert);
    assert!(cert_text(&ir_cert).contains("DNS:dev1.test"));
    // caPubs carry the root the new entity may not have had.
    assert_eq!(
        cert_der(&capubs),
        cert_der(&server.ca_cert_path()),
        "caPubs is the CA certificate"
    );

    // cr, signed with the certificate ir gave; the answer is signed by the CMP responder,
    // which openssl checks against the CA (digitalSignature, chain).
    let key2 = ec_key(&server, "k2");
    let cr_cert = server.work_file("cr.crt");
    let run = signed(
        &server,
        "cr",
        &ir_cert,
        &key1,
        &[
            "-newkey",
            key2.to_str().unwrap(),
            "-subject",
            "/CN=dev2.test",
            "-certout",
            cr_cert.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    checked(&server, &cr_cert);

    // kur: the certificate renews itself with a new key; the subject and SANs stay.
    let key3 = ec_key(&server, "k3");
    let kur_cert = server.work_file("kur.crt");
    let run = signed(
        &server,
        "kur",
        &cr_cert,
        &key2,
        &[
            "-newkey",
            key3.to_str().unwrap(),
            "-certout",
            kur_cert.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    checked(&server, &kur_cert);
    assert_ne!(cert_serial(&kur_cert), cert_serial(&cr_cert));
    assert!(cert_text(&kur_cert).contains("DNS:dev2.test"));

    // kur signed by one certificate for another is refused (badCertId).
    let run = signed(
        &server,
        "kur",
        &ir_cert,
        &key1,
        &[
            "-oldcert",
            kur_cert.to_str().unwrap(),
            "-newkey",
            key2.to_str().unwrap(),
            "-certout",
            server.work_file("no.crt").to_str().unwrap(),
        ],
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(run.stderr.contains("badCertId"), "{run}");

    // rr: the certificate revokes itself.
    let run = signed(
        &server,
        "rr",
        &kur_cert,
        &key3,
        &["-oldcert", kur_cert.to_str().unwrap(), "-revreason", "1"],
    );
    run.expect_code(0);
    assert!(run.stderr.contains("revocation accepted"), "{run}");
    let status = certificate_status(&server, &kur_cert);
    assert_eq!(status["status"], "revoked", "{status:#}");

    // A revoked certificate no longer signs for anything.
    let run = signed(
        &server,
        "cr",
        &kur_cert,
        &key3,
        &[
            "-newkey",
            key2.to_str().unwrap(),
            "-subject",
            "/CN=dev2.test",
            "-certout",
            server.work_file("no2.crt").to_str().unwrap(),
            "-unprotected_errors",
        ],
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(run.stderr.contains("certRevoked"), "{run}");
}

#[test]
fn p10cr_implicit_confirm_genm_and_the_well_known_path() {
    let server = Server::start(&[]);
    let token = shared_secret_token(&server, "dev2");
    let mac = mac_args("dev2", &token);
    let key = ec_key(&server, "p10");
    let csr = server.work_file("p10.csr");
    run_program(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=p10.test",
            "-out",
            csr.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let cert = server.work_file("p10.crt");
    let mut args = strs(&mac);
    args.extend([
        "-cmd",
        "p10cr",
        "-csr",
        csr.to_str().unwrap(),
        "-certout",
        cert.to_str().unwrap(),
    ]);
    cmp_client(&server, &args).expect_code(0);
    checked(&server, &cert);

    // implicitConfirm asked and granted: no certConf is sent.
    let key2 = ec_key(&server, "impl");
    let cert2 = server.work_file("impl.crt");
    let run = mac_ir(
        &server,
        &mac,
        &key2,
        "/CN=impl.test",
        &cert2,
        &["-implicit_confirm"],
    );
    run.expect_code(0);
    assert!(!run.stderr.contains("CERTCONF"), "{run}");
    checked(&server, &cert2);

    // genm: the current CRL (what OpenSSL 3.0 can ask for by name), on the RFC 9483 path.
    let path = format!("/.well-known/cmp/p/{}", server.ca);
    let mut args = vec!["cmp", "-server", server.addr(), "-path", &path];
    args.extend(strs(&mac));
    args.extend(["-cmd", "genm", "-infotype", "currentCRL"]);
    let run = both(run_program("openssl", &args));
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("genp contains ITAV of type: id-it-currentCRL"),
        "{run}"
    );
}

#[test]
fn an_unconfirmed_certificate_is_revoked() {
    let mut server = Server::init(&["--dev"]);
    set_cmp(
        &server,
        &[("implicit_confirm", "false"), ("confirm_wait", "\"2s\"")],
    );
    server.serve();
    let token = shared_secret_token(&server, "dev3");
    let key = ec_key(&server, "unconf");
    let cert = server.work_file("unconf.crt");
    let mac = mac_args("dev3", &token);
    let run = mac_ir(
        &server,
        &mac,
        &key,
        "/CN=unconf.test",
        &cert,
        &["-disable_confirm"],
    );
    run.expect_code(0);
    assert_eq!(certificate_status(&server, &cert)["status"], "issued");
    wait_until(
        Duration::from_secs(20),
        "the unconfirmed certificate revoked",
        || (certificate_status(&server, &cert)["status"] == "revoked").then_some(()),
    );
    let status = certificate_status(&server, &cert);
    assert_eq!(
        status["certificate"]["revocation_reason"], "cessationOfOperation",
        "{status:#}"
    );
}

/// Rewrites `[ca.cmp]` settings in signet.toml.
fn set_cmp(server: &Server, settings: &[(&str, &str)]) {
    let path = server.data.join("signet.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[ca.cmp]").expect("[ca.cmp] in signet.toml");
    for (key, value) in settings {
        let at = start + text[start..].find(&format!("\n{key} = ")).expect(key) + 1;
        let end = at + text[at..].find('\n').unwrap();
        text.replace_range(at..end, &format!("{key} = {value}"));
    }
    std::fs::write(&path, text).unwrap();
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_request_waits_for_a_manager_and_the_client_polls_until_approval() {
    let mut server = Server::init(&["--dev"]);
    set_cmp(
        &server,
        &[("profile", "\"manual\""), ("check_after", "\"1s\"")],
    );
    server.serve();
    let token = shared_secret_token(&server, "dev4");
    let mgr = server.create_token(&["manager"], "cmp-officer");
    let key = ec_key(&server, "wait");
    let cert = server.work_file("wait.crt");
    let path = format!("/cmp/{}", server.ca);
    let mut child = KillOnDrop(
        Command::new("openssl")
            .args(["cmp", "-server", server.addr(), "-path", &path])
            .args(mac_args("dev4", &token))
            .args([
                "-cmd",
                "ir",
                "-newkey",
                key.to_str().unwrap(),
                "-subject",
                "/CN=waiting.test",
                "-certout",
                cert.to_str().unwrap(),
                "-total_timeout",
                "120",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = server.url();
    let id = wait_until(Duration::from_secs(20), "the CMP request pending", || {
        let run = run_signet(
            &[
                "admin", "pending", "--json", "--token", &mgr, "--server", &url,
            ],
            &[],
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
        let items = v.as_array().or(v["items"].as_array())?.clone();
        items
            .first()
            .map(|i| i["id"].to_string().trim_matches('"').to_owned())
    });
    // The client is polling, not resubmitting: still one request.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(child.0.try_wait().unwrap().is_none(), "openssl still polls");
    run_signet(
        &["admin", "approve", &id, "--token", &mgr, "--server", &url],
        &[],
        None,
    )
    .expect_code(0);
    let status = wait_until(Duration::from_secs(30), "openssl cmp to finish", || {
        child.0.try_wait().unwrap()
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "openssl cmp: {status:?}\n{stderr}");
    assert!(stderr.contains("received POLLREP"), "{stderr}");
    assert!(stderr.contains("received PKICONF"), "{stderr}");
    checked(&server, &cert);
}

/// POSTs a CMP message; the answer's HTTP status, pvno and parsed body.
fn post_cmp(server: &Server, path: &str, content_type: &str, der: &[u8]) -> (u16, u32, PkiBody) {
    let r = http(
        server.addr(),
        "POST",
        path,
        &[("Content-Type", content_type)],
        der,
    );
    assert_eq!(r.content_type, "application/pkixcmp", "{r}");
    let msg = signet_x509::cmp::parse_message(&r.body).expect("the answer is a CMP message");
    (r.status, msg.header.pvno, msg.body)
}

fn expect_error(body: &PkiBody, fail: FailInfo) -> String {
    let PkiBody::Error(e) = body else {
        panic!("expected an error message, got {body:?}");
    };
    assert_eq!(e.status.status, PkiStatus::Rejection);
    assert!(
        e.status.fail_info.has(fail),
        "failInfo {:?}, expected {fail:?}: {:?}",
        e.status.fail_info,
        e.status.status_string
    );
    e.status.status_string.clone().unwrap_or_default()
}

/// An `ir` as openssl makes it (saved with -reqout; the server it names is not there).
fn openssl_ir(server: &Server, name: &str, token: &str, extra: &[&str]) -> Vec<u8> {
    let key = ec_key(server, "req");
    let out = unique(&server.work, "ir", "der");
    let mut args = vec![
        "cmp",
        "-server",
        "127.0.0.1:9",
        "-cmd",
        "ir",
        "-ref",
        name,
        "-newkey",
        key.to_str().unwrap(),
        "-subject",
        "/CN=attack.test",
        "-certout",
        "/dev/null",
        "-reqout",
        out.to_str().unwrap(),
    ];
    let secret = format!("pass:{token}");
    args.extend(["-secret", &secret]);
    args.extend_from_slice(extra);
    let _ = run_program("openssl", &args);
    std::fs::read(&out).expect("openssl wrote the request before connecting")
}

#[test]
fn refusals_say_why_and_store_nothing() {
    let server = Server::start(&[]);
    let token = shared_secret_token(&server, "dev5");
    let path = format!("/cmp/{}", server.ca);

    let key = ec_key(&server, "w");
    let wrong = |args: &[&str]| {
        let mut full = vec![
            "-cmd",
            "ir",
            "-newkey",
            key.to_str().unwrap(),
            "-subject",
            "/CN=wrong.test",
            "-certout",
            "/dev/null",
            "-unprotected_errors",
        ];
        full.extend_from_slice(args);
        cmp_client(&server, &full)
    };
    // A revoked shared-secret token is no secret any more.
    let gone = shared_secret_token(&server, "gone");
    let gone_secret = format!("pass:{gone}");
    assert_eq!(
        wrong(&["-ref", "gone", "-secret", &gone_secret, "-popo", "1"]).code,
        0,
        "usable before it is revoked"
    );
    revoke_token(&server, "gone");
    let run = wrong(&["-ref", "gone", "-secret", &gone_secret]);
    assert!(run.stderr.contains("signerNotTrusted"), "{run}");
    let before = request_count(&server);
    // Wrong MAC secret: badMessageCheck.
    let run = wrong(&["-ref", "dev5", "-secret", "pass:not-the-token"]);
    assert!(run.stderr.contains("badMessageCheck"), "{run}");
    // Unknown sender: signerNotTrusted.
    let secret = format!("pass:{token}");
    let run = wrong(&["-ref", "nobody", "-secret", &secret]);
    assert!(run.stderr.contains("signerNotTrusted"), "{run}");
    // An ordinary token (not made with --shared-secret) is no MAC secret either.
    let plain = server.create_token(&["requester"], "plain");
    let plain_secret = format!("pass:{plain}");
    let run = wrong(&["-ref", "plain", "-secret", &plain_secret]);
    assert!(run.stderr.contains("signerNotTrusted"), "{run}");
    // Another CA named as the recipient: wrongAuthority.
    let run = wrong(&[
        "-ref",
        "dev5",
        "-secret",
        &secret,
        "-recipient",
        "/CN=Other CA",
    ]);
    assert!(run.stderr.contains("wrongAuthority"), "{run}");
    // A CA that does not exist here: 404.
    let ir = openssl_ir(&server, "dev5", &token, &[]);
    let (status, pvno, body) = post_cmp(&server, "/cmp/elsewhere", "application/pkixcmp", &ir);
    assert_eq!((status, pvno), (404, 2), "answered with the request's pvno");
    expect_error(&body, FailInfo::WRONG_AUTHORITY);
    // raVerified POP: badPOP.
    let ra = openssl_ir(&server, "dev5", &token, &["-popo", "0"]);
    let (status, _, body) = post_cmp(&server, &path, "application/pkixcmp", &ra);
    assert_eq!(status, 200);
    expect_error(&body, FailInfo::BAD_POP);

    // A signature POP that does not verify, made as an attacker holding the token would:
    // flip a bit of the POP signature and MAC the message again.
    let tampered = tamper_pop(&ir, &token);
    let (status, _, body) = post_cmp(&server, &path, "application/pkixcmp", &tampered);
    assert_eq!(status, 200);
    let text = expect_error(&body, FailInfo::BAD_POP);
    assert!(text.contains("proof of possession"), "{text}");
    // The same message untampered is accepted (the tampering is what failed).
    let (status, _, body) = post_cmp(&server, &path, "application/pkixcmp", &ir);
    assert_eq!(status, 200);
    assert!(matches!(body, PkiBody::Other(1)), "an ip: {body:?}");
    let after_good = request_count(&server);
    assert_eq!(after_good, before + 1);

    // Malformed DER: 400 and badDataFormat.
    let (status, _, body) = post_cmp(&server, &path, "application/pkixcmp", b"\x30\x03\x02\x01");
    assert_eq!(status, 400);
    expect_error(&body, FailInfo::BAD_DATA_FORMAT);
    // The wrong content type: 415 and badDataFormat.
    let ir2 = openssl_ir(&server, "dev5", &token, &[]);
    let (status, _, body) = post_cmp(&server, &path, "application/octet-stream", &ir2);
    assert_eq!(status, 415);
    expect_error(&body, FailInfo::BAD_DATA_FORMAT);
    // The same transactionID again: transactionIdInUse... or issued anew? The first ir
    // is confirmed-pending, so reusing its transactionID is refused.
    let (_, _, body) = post_cmp(&server, &path, "application/pkixcmp", &ir);
    expect_error(&body, FailInfo::TRANSACTION_ID_IN_USE);

    assert_eq!(
        request_count(&server),
        after_good,
        "no refusal stored anything"
    );
}

/// The ir with its POP signature's last byte flipped and its MAC recomputed with `token`.
fn tamper_pop(ir: &[u8], token: &str) -> Vec<u8> {
    let msg = signet_x509::cmp::parse_message(ir).unwrap();
    let PkiBody::Ir(reqs) = &msg.body else {
        panic!("not an ir")
    };
    let signet_x509::cmp::Pop::Signature { signature, .. } = &reqs[0].pop else {
        panic!("no signature POP")
    };
    let at = ir
        .windows(signature.len())
        .position(|w| w == signature.as_slice())
        .unwrap()
        + signature.len()
        - 1;
    let mut out = ir.to_vec();
    out[at] ^= 0x01;
    let tampered = signet_x509::cmp::parse_message(&out).unwrap();
    let params = tampered.pbm_params().unwrap().unwrap();
    let mac = params.mac(token.as_bytes(), &tampered.protected_part());
    let old = msg.protection.as_ref().unwrap();
    assert!(out.ends_with(old), "the MAC is the message's last bytes");
    let n = out.len();
    out[n - old.len()..].copy_from_slice(&mac);
    out
}

/// Content start and end of the DER TLV at `i`.
fn tlv_at(b: &[u8], i: usize) -> (usize, usize) {
    let n = usize::from(b[i + 1]);
    if n & 0x80 == 0 {
        return (i + 2, i + 2 + n);
    }
    let k = n & 0x7f;
    let len = b[i + 2..i + 2 + k]
        .iter()
        .fold(0usize, |a, &x| (a << 8) | usize::from(x));
    (i + 2 + k, i + 2 + k + len)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    signet_x509::der_tlv(tag, content)
}

/// HMAC-SHA256 keyed with PBKDF2-HMAC-SHA256(secret, salt, iterations, 32) over `data`,
/// computed by Python's hashlib (not by Signet).
fn python_pbmac1(secret: &str, salt: &[u8], iterations: u32, data: &[u8]) -> Vec<u8> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let script = format!(
        "import hashlib, hmac\n\
         k = hashlib.pbkdf2_hmac('sha256', {secret:?}.encode(), bytes.fromhex('{}'), {iterations}, 32)\n\
         print(hmac.new(k, bytes.fromhex('{}'), hashlib.sha256).hexdigest())",
        hex(salt),
        hex(data)
    );
    let run = run_program("python3", &["-c", &script]);
    run.expect_code(0);
    let out = run.stdout.trim();
    (0..out.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&out[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn pbmac1_protection_per_rfc_9481_is_verified_and_answered_in_kind() {
    let server = Server::start(&[]);
    let token = shared_secret_token(&server, "dev6");
    let ir = openssl_ir(&server, "dev6", &token, &[]);
    // Swap openssl's PBM protectionAlg for PBMAC1 (PBKDF2-HMAC-SHA256, 10000 iterations,
    // HMAC-SHA256), keep the rest of the header and the body, MAC with Python.
    let salt = [7u8; 16];
    let iterations = 10_000;
    let alg = signet_x509::cmp::Pbmac1Params {
        salt: salt.to_vec(),
        iterations,
        key_length: 32,
        prf: signet_x509::cmp::pbmac1::Hmac::Sha256,
        mac: signet_x509::cmp::pbmac1::Hmac::Sha256,
    }
    .algorithm_identifier();
    let shown = server.work_file("pbmac1-alg.der");
    std::fs::write(&shown, &alg).unwrap();
    let parsed = run_program(
        "openssl",
        &[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            shown.to_str().unwrap(),
        ],
    );
    parsed.expect_code(0);
    for name in ["PBMAC1", "PBKDF2", "hmacWithSHA256"] {
        assert!(parsed.stdout.contains(name), "{name}: {parsed}");
    }
    let (message, protected) = with_pbmac1(&ir, &alg, None, &token, &salt, iterations);
    let path = format!("/cmp/{}", server.ca);
    let r = http(
        server.addr(),
        "POST",
        &path,
        &[("Content-Type", "application/pkixcmp")],
        &message,
    );
    assert_eq!(r.status, 200, "{r}");
    let answer = signet_x509::cmp::parse_message(&r.body).unwrap();
    assert!(
        matches!(answer.body, PkiBody::Other(1)),
        "an ip: {:?}",
        answer.body
    );
    // The answer is PBMAC1-protected too, and Python's MAC over it matches.
    let Some(signet_x509::cmp::MacAlgorithm::Pbmac1(p)) = answer.mac_algorithm().unwrap() else {
        panic!("the answer is not PBMAC1-protected");
    };
    assert_ne!(p.salt, salt, "a fresh salt");
    let expected = python_pbmac1(&token, &p.salt, p.iterations, &answer.protected_part());
    assert_eq!(answer.protection.as_deref(), Some(expected.as_slice()));

    // The same message with the wrong secret's MAC is refused.
    let (forged, forged_part) = with_pbmac1(&ir, &alg, None, "not-the-token", &salt, iterations);
    assert_eq!(forged_part, protected);
    let (_, _, body) = post_cmp(&server, &path, "application/pkixcmp", &forged);
    expect_error(&body, FailInfo::BAD_MESSAGE_CHECK);
}

/// `msg` (an openssl-made request) with its protectionAlg replaced by `alg` (a PBMAC1
/// AlgorithmIdentifier with `salt` and `iterations`, PBKDF2-HMAC-SHA256 and HMAC-SHA256),
/// its body by `body` when given, and a MAC computed by Python with `secret`. The message
/// and its ProtectedPart.
fn with_pbmac1(
    msg: &[u8],
    alg: &[u8],
    body: Option<&[u8]>,
    secret: &str,
    salt: &[u8],
    iterations: u32,
) -> (Vec<u8>, Vec<u8>) {
    with_pbmac1_pvno(msg, alg, body, secret, salt, iterations, None)
}

/// [`with_pbmac1`], with the header's pvno replaced by `pvno` when given.
fn with_pbmac1_pvno(
    msg: &[u8],
    alg: &[u8],
    body: Option<&[u8]>,
    secret: &str,
    salt: &[u8],
    iterations: u32,
    pvno: Option<u8>,
) -> (Vec<u8>, Vec<u8>) {
    let (msg_start, _) = tlv_at(msg, 0);
    let (h_start, h_end) = tlv_at(msg, msg_start);
    let (_, body_end) = tlv_at(msg, h_end);
    let mut header = Vec::new();
    let mut i = h_start;
    while i < h_end {
        let (_, end) = tlv_at(msg, i);
        if msg[i] == 0xa1 {
            header.extend(der(0xa1, alg));
        } else if let (0x02, Some(p)) = (msg[i], pvno) {
            header.extend(der(0x02, &[p]));
        } else {
            header.extend_from_slice(&msg[i..end]);
        }
        i = end;
    }
    let header = der(0x30, &header);
    let body = body.unwrap_or(&msg[h_end..body_end]);
    let protected = der(0x30, &[header.as_slice(), body].concat());
    let mac = python_pbmac1(secret, salt, iterations, &protected);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&mac);
    let message = der(
        0x30,
        &[header.as_slice(), body, &der(0xa0, &der(0x03, &bits))].concat(),
    );
    (message, protected)
}

fn pbmac1_sha256(salt: &[u8], iterations: u32) -> Vec<u8> {
    signet_x509::cmp::Pbmac1Params {
        salt: salt.to_vec(),
        iterations,
        key_length: 32,
        prf: signet_x509::cmp::pbmac1::Hmac::Sha256,
        mac: signet_x509::cmp::pbmac1::Hmac::Sha256,
    }
    .algorithm_identifier()
}

fn oid_der(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut c = vec![u8::try_from(arcs[0] * 40 + arcs[1]).unwrap()];
    for &a in &arcs[2..] {
        let mut bytes = vec![u8::try_from(a & 0x7f).unwrap()];
        let mut v = a >> 7;
        while v > 0 {
            bytes.push(u8::try_from(v & 0x7f).unwrap() | 0x80);
            v >>= 7;
        }
        bytes.reverse();
        c.extend(bytes);
    }
    der(0x06, &c)
}

#[test]
fn genm_answers_what_rfc_9483_section_4_3_lists() {
    let server = Server::start(&[]);
    let token = shared_secret_token(&server, "dev7");
    // An openssl-made genm whose body is replaced by one asking for caCerts, rootCaCert,
    // certReqTemplate and crlStatusList (OpenSSL 3.0 cannot name them).
    let out = unique(&server.work, "genm", "der");
    let secret = format!("pass:{token}");
    let _ = run_program(
        "openssl",
        &[
            "cmp",
            "-server",
            "127.0.0.1:9",
            "-cmd",
            "genm",
            "-ref",
            "dev7",
            "-secret",
            &secret,
            "-infotype",
            "signKeyPairTypes",
            "-reqout",
            out.to_str().unwrap(),
        ],
    );
    let genm = std::fs::read(&out).unwrap();
    let itav = |oid: &str| der(0x30, &oid_der(oid));
    let asks = [
        "1.3.6.1.5.5.7.4.17", // caCerts
        "1.3.6.1.5.5.7.4.20", // rootCaCert
        "1.3.6.1.5.5.7.4.19", // certReqTemplate
        "1.3.6.1.5.5.7.4.22", // crlStatusList
    ];
    let content: Vec<u8> = asks.iter().flat_map(|o| itav(o)).collect();
    let body = der(0xb5, &der(0x30, &content));
    let salt = [9u8; 16];
    let alg = pbmac1_sha256(&salt, 2000);
    // As a cmp2021 client would send it: pvno 3, answered with pvno 3.
    let (message, _) = with_pbmac1_pvno(&genm, &alg, Some(&body), &token, &salt, 2000, Some(3));
    let path = format!("/.well-known/cmp/p/{}", server.ca);
    let (status, pvno, body) = post_cmp(&server, &path, "application/pkixcmp", &message);
    assert_eq!((status, pvno), (200, 3));
    let PkiBody::Genp(items) = body else {
        panic!("expected a genp, got {body:?}");
    };
    let find = |oid: &str| {
        items
            .iter()
            .find(|i| i.info_type == oid)
            .unwrap_or_else(|| panic!("{oid} missing from {items:?}"))
    };
    // caCerts: SEQUENCE OF the CA certificate.
    let ca_certs = find("1.3.6.1.5.5.7.4.17").value.clone().unwrap();
    assert_eq!(ca_certs, der(0x30, &cert_der(&server.ca_cert_path())));
    // rootCaKeyUpdate and certReqTemplate answered, without a value: no update, no template.
    assert!(find("1.3.6.1.5.5.7.4.18").value.is_none());
    assert!(find("1.3.6.1.5.5.7.4.19").value.is_none());
    // crls: SEQUENCE OF the current CRL, which openssl reads and verifies with the CA key.
    let crls = find("1.3.6.1.5.5.7.4.23").value.clone().unwrap();
    let (c, _) = tlv_at(&crls, 0);
    let (_, e) = tlv_at(&crls, c);
    let crl = server.work_file("genp.crl");
    std::fs::write(&crl, &crls[c..e]).unwrap();
    let ca = server.ca_cert_path();
    let run = run_program(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl.to_str().unwrap(),
            "-CAfile",
            ca.to_str().unwrap(),
            "-noout",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains("verify OK") || run.stdout.contains("verify OK"),
        "{run}"
    );
}

#[test]
fn with_a_passphrase_the_cmp_responder_key_is_encrypted_and_kept_across_restarts() {
    let secrets = tempfile::tempdir().unwrap();
    let pass = secrets.path().join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let pass = pass.to_str().unwrap().to_owned();
    let mut server = Server::init(&["--passphrase-file", &pass]);
    // Plain `signet init` writes [ca.cmp] commented out.
    let path = server.data.join("signet.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let commented = "# [ca.cmp]\n# enabled = true\n# profile = \"server\"";
    assert!(toml.contains(commented), "{toml}");
    std::fs::write(
        &path,
        toml.replacen(
            commented,
            "[ca.cmp]\nenabled = true\nprofile = \"server\"",
            1,
        ),
    )
    .unwrap();
    server.serve_args = vec!["--passphrase-file".into(), pass.clone()];
    server.serve();
    let dir = server.data.join("cmp").join(&server.ca);
    let pem = std::fs::read_to_string(dir.join("responder-key.pem")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    let responder = dir.join("responder-cert.pem");
    openssl_verify(&server.ca_cert_path(), &responder);
    let text = cert_text(&responder);
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(
        text.contains("CMC Certificate Authority"),
        "id-kp-cmcCA: {text}"
    );
    let serial = cert_serial(&responder);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data.join("token-secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A restart takes up the stored responder; a shared-secret token made before it still
    // works (its secret is recomputed from the kept key).
    let token = shared_secret_token(&server, "dev8");
    server.restart();
    assert_eq!(
        cert_serial(&responder),
        serial,
        "the same responder certificate"
    );
    let key = ec_key(&server, "after");
    let cert = server.work_file("after.crt");
    let mac = mac_args("dev8", &token);
    mac_ir(&server, &mac, &key, "/CN=after.test", &cert, &[]).expect_code(0);
    checked(&server, &cert);
}
