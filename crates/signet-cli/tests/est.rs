//! EST (RFC 7030) end to end with clients we did not write: curl + openssl, and Bouncy
//! Castle's EST client (`tests/est/EstClient.java`, compiled here). Signet issues its own
//! HTTPS server certificate, serves `[server.tls]`, and `[ca.est]` (on in `signet init
//! --dev`, profile `device`) answers on the HTTPS listener only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::acme::spawn;
use common::*;

/// A dev server with `[server.tls]` and EST.
struct EstServer {
    server: Server,
    port: u16,
    mgr: String,
    ca_pem: PathBuf,
}

impl EstServer {
    /// `signet init --dev`, `extra` appended to signet.toml (e.g. `[[identity]]` tables or a
    /// `client_ca`), then served with an HTTPS listener.
    fn start(extra: &str) -> EstServer {
        let mut server = Server::start(&[]);
        let mgr = server.create_token(&["manager"], "mgr");
        let (pem, key) =
            server.tls_server_certificate("/CN=localhost", &["DNS:localhost", "IP:127.0.0.1"]);
        let port = server.serve_tls(&pem, &key, extra);
        let ca_pem = server.ca_cert_path();
        EstServer {
            server,
            port,
            mgr,
            ca_pem,
        }
    }

    fn work(&self) -> &Path {
        &self.server.work
    }

    /// One curl exchange with `https://localhost:PORT/.well-known/est/{op}`.
    fn curl(&self, op: &str, args: &[&str]) -> Reply {
        let resolve = format!("localhost:{}:127.0.0.1", self.port);
        let url = format!("https://localhost:{}/.well-known/est/{op}", self.port);
        let head = unique(self.work(), "hdr", "txt");
        let body = unique(self.work(), "body", "bin");
        let (h, b, ca) = (
            head.display().to_string(),
            body.display().to_string(),
            self.ca_pem.display().to_string(),
        );
        let mut all = vec![
            "-sS",
            "--resolve",
            &resolve,
            "--cacert",
            &ca,
            "-D",
            &h,
            "-o",
            &b,
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        all.push(&url);
        let run = run_program("curl", &all);
        assert_eq!(run.code, 0, "curl failed: {run}");
        let headers = fs::read_to_string(&head).unwrap_or_default();
        Reply {
            status: run.stdout.trim().parse().expect("curl's http_code"),
            headers,
            body: fs::read(&body).unwrap_or_default(),
            body_path: body,
        }
    }

    /// POSTs a base64 CSR file to `op` with `auth` curl arguments (`--user`, `--cert`...).
    fn post(&self, op: &str, csr_b64: &Path, auth: &[&str]) -> Reply {
        let data = format!("@{}", csr_b64.display());
        let mut args = vec![
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            data.as_str(),
        ];
        args.extend_from_slice(auth);
        self.curl(op, &args)
    }

    /// The id the next valid request gets (over REST): a bad EST request that stored
    /// nothing leaves it one past the previous one.
    fn next_id(&self) -> i64 {
        self.server.issue("valid.test")["id"].as_i64().expect("id")
    }

    /// Approves request `id` as the manager; the approval's JSON.
    fn approve(&self, id: i64) -> serde_json::Value {
        let resp = self.server.call(
            Some(&self.mgr),
            "POST",
            &format!("/api/v1/cas/{}/requests/{id}/approve", self.server.ca),
            Some(&serde_json::json!({})),
        );
        assert_eq!(resp.status, 200, "{resp}");
        resp.json()
    }

    /// The ids of the pending requests.
    fn pending(&self) -> Vec<i64> {
        let resp = self.server.call(
            Some(&self.mgr),
            "GET",
            &format!("/api/v1/cas/{}/requests?status=pending", self.server.ca),
            None,
        );
        assert_eq!(resp.status, 200, "{resp}");
        let v = resp.json();
        v["items"]
            .as_array()
            .or_else(|| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_i64())
            .collect()
    }

    /// The request record of `id` as the manager sees it.
    fn request(&self, id: i64) -> serde_json::Value {
        let resp = self.server.call(
            Some(&self.mgr),
            "GET",
            &format!("/api/v1/cas/{}/requests/{id}/details", self.server.ca),
            None,
        );
        assert_eq!(resp.status, 200, "{resp}");
        resp.json()
    }
}

/// A curl answer.
struct Reply {
    status: u16,
    /// The raw response head.
    headers: String,
    body: Vec<u8>,
    body_path: PathBuf,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `base64 -di BODY | openssl pkcs7 -inform DER -print_certs` into a PEM file: the
    /// recipe of RFC 7030 clients in shell.
    fn certificates_pem(&self, dir: &Path) -> PathBuf {
        assert_eq!(self.status, 200, "{self}");
        assert_eq!(
            self.header("Content-Transfer-Encoding").as_deref(),
            Some("base64"),
            "{self}"
        );
        assert!(self.header("Content-Length").is_some(), "{self}");
        let out = unique(dir, "p7", "pem");
        let run = run_program(
            "sh",
            &[
                "-c",
                &format!(
                    "base64 -di '{}' | openssl pkcs7 -inform DER -print_certs -out '{}'",
                    self.body_path.display(),
                    out.display()
                ),
            ],
        );
        assert_eq!(run.code, 0, "not a base64 PKCS#7: {run}\n{self}");
        // Only the PEM blocks (-print_certs writes subject= and issuer= lines too).
        let text = fs::read_to_string(&out).unwrap();
        let pem: Vec<&str> = text
            .split_inclusive('\n')
            .scan(false, |inside, line| {
                let keep = *inside || line.starts_with("-----BEGIN");
                *inside = keep && !line.starts_with("-----END");
                Some(keep.then_some(line))
            })
            .flatten()
            .collect();
        fs::write(&out, pem.concat()).unwrap();
        out
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", self.headers.trim_end(), self.text())
    }
}

/// A new P-256 key and CSR for `subj` (openssl), as an EST body: base64 DER in 64-column
/// lines (the PEM body), with CRLF line ends when `crlf`. Returns (body file, key file).
fn csr_body(dir: &Path, subj: &str, sans: &[&str], crlf: bool) -> (PathBuf, PathBuf) {
    let csr = openssl_csr(dir, "p256", subj, sans);
    base64_body(&csr, crlf)
}

/// The base64 body of a PEM CSR file, and its key beside it.
fn base64_body(csr_pem: &Path, crlf: bool) -> (PathBuf, PathBuf) {
    let pem = fs::read_to_string(csr_pem).unwrap();
    let b64: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let body = b64.join(if crlf { "\r\n" } else { "\n" }) + "\n";
    let out = csr_pem.with_extension("b64");
    fs::write(&out, body).unwrap();
    (out, csr_pem.with_extension("key"))
}

fn basic(user: &str, token: &str) -> String {
    format!("{user}:{token}")
}

/// Checks an issued certificate: `openssl verify` against the CA, pkilint, and its subject.
fn check_issued(est: &EstServer, reply: &Reply, cn: &str) -> PathBuf {
    assert_eq!(
        reply.header("Content-Type").as_deref(),
        Some("application/pkcs7-mime; smime-type=certs-only"),
        "{reply}"
    );
    let pem = reply.certificates_pem(est.work());
    assert_eq!(
        fs::read_to_string(&pem)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        1
    );
    openssl_verify(&est.ca_pem, &pem);
    pkilint(&pem);
    let text = cert_text(&pem);
    assert!(text.contains(&format!("Subject: CN = {cn}")), "{text}");
    pem
}

#[test]
fn curl_cacerts_enroll_reenroll_and_refusals() {
    let est = EstServer::start("");
    let work = est.work().to_path_buf();

    // cacerts: the chain as base64 certs-only PKCS#7; openssl verifies the CA with it.
    let cacerts = est.curl("cacerts", &[]);
    assert_eq!(
        cacerts.header("Content-Type").as_deref(),
        Some("application/pkcs7-mime")
    );
    let chain = cacerts.certificates_pem(&work);
    let run = run_program(
        "openssl",
        &[
            "verify",
            "-CAfile",
            chain.to_str().unwrap(),
            est.ca_pem.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    // The same under the CA's label.
    assert_eq!(
        est.curl(&format!("{}/cacerts", est.server.ca), &[]).status,
        200
    );
    assert_eq!(est.curl("nosuchca/cacerts", &[]).status, 404);

    // csrattrs: base64 DER that openssl parses, naming the curves and challengePassword.
    let attrs = est.curl("csrattrs", &[]);
    assert_eq!(attrs.status, 200, "{attrs}");
    assert_eq!(
        attrs.header("Content-Type").as_deref(),
        Some("application/csrattrs")
    );
    let parsed = run_program(
        "sh",
        &[
            "-c",
            &format!(
                "base64 -di '{}' | openssl asn1parse -inform DER",
                attrs.body_path.display()
            ),
        ],
    );
    assert_eq!(parsed.code, 0, "{parsed}");
    for name in [
        "challengePassword",
        "id-ecPublicKey",
        "prime256v1",
        "secp384r1",
        "rsaEncryption",
        "Extension Request",
    ] {
        assert!(
            parsed.stdout.contains(name),
            "csrattrs lacks {name}:\n{}",
            parsed.stdout
        );
    }

    // simpleenroll with HTTP Basic: user = the token's name.
    let token = est_token(&est.server, "dev1");
    let (csr, key) = csr_body(&work, "/CN=dev1.test", &[], true);
    let enrolled = est.post("simpleenroll", &csr, &["--user", &basic("dev1", &token)]);
    let dev1 = check_issued(&est, &enrolled, "dev1.test");

    // serverkeygen is off unless `[ca.est] serverkeygen = true`: 501 with the reason.
    let r = est.post("serverkeygen", &csr, &["--user", &basic("dev1", &token)]);
    assert_eq!(r.status, 501, "{r}");
    assert!(
        r.text()
            .contains("serverkeygen is not enabled for this CA ([ca.est] serverkeygen = true)"),
        "{r}"
    );

    // Refusals: no credentials, a wrong password, another identity's token.
    let mut last = est.next_id();
    let none = est.post("simpleenroll", &csr, &[]);
    assert_eq!(none.status, 401, "{none}");
    assert_eq!(
        none.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"signet\"")
    );
    assert!(
        none.body.is_empty(),
        "a 401 must have an empty body: {none}"
    );
    assert_eq!(
        none.header("Content-Length").as_deref(),
        Some("0"),
        "{none}"
    );
    let wrong = est.post("simpleenroll", &csr, &["--user", "dev1:signet_wrong"]);
    assert_eq!(wrong.status, 401, "{wrong}");
    let other = est_token(&est.server, "dev2");
    let borrowed = est.post("simpleenroll", &csr, &["--user", &basic("dev1", &other)]);
    assert_eq!(borrowed.status, 401, "{borrowed}");
    let next = est.next_id();
    assert_eq!(next, last + 1, "refused requests store nothing");
    last = next;

    // Bad bodies: 400 (garbage, truncated, bad signature), 413 (too large); nothing stored.
    let auth = basic("dev1", &token);
    let garbage = work.join("garbage.b64");
    fs::write(&garbage, "this is not base64 at all!!\r\n").unwrap();
    let truncated = work.join("truncated.b64");
    let full = fs::read_to_string(&csr).unwrap();
    fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let not_a_csr = work.join("notcsr.b64");
    fs::write(&not_a_csr, "MIIBAAAA\r\n").unwrap();
    let huge = work.join("huge.b64");
    fs::write(&huge, "QUFB".repeat(20_000)).unwrap();
    for (file, status, needle) in [
        (&garbage, 400, "base64"),
        (&truncated, 400, ""),
        (&not_a_csr, 400, "certification request"),
        (&huge, 413, "larger"),
    ] {
        let r = est.post("simpleenroll", file, &["--user", &auth]);
        assert_eq!(r.status, status, "{}: {r}", file.display());
        assert!(r.text().contains(needle), "{r}");
    }
    // A CSR whose signature does not verify (one byte of the signature flipped).
    let der = csr_der(&openssl_csr(&work, "p256", "/CN=dev1.test", &[]));
    let mut bad = der.clone();
    let last_byte = bad.len() - 1;
    bad[last_byte] ^= 1;
    let bad_sig = work.join("badsig.der");
    fs::write(&bad_sig, &bad).unwrap();
    let bad_sig_b64 = work.join("badsig.b64");
    let run = run_program(
        "sh",
        &[
            "-c",
            &format!(
                "base64 -w 64 '{}' > '{}'",
                bad_sig.display(),
                bad_sig_b64.display()
            ),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let r = est.post("simpleenroll", &bad_sig_b64, &["--user", &auth]);
    assert_eq!(r.status, 400, "{r}");
    // The channel binding: a challengePassword that is not this connection's tls-exporter.
    let bound = openssl_csr_with_challenge(&work, "dev1.test", "not-the-binding");
    let r = est.post(
        "simpleenroll",
        &base64_body(&bound, false).0,
        &["--user", &auth],
    );
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("channel binding mismatch"), "{r}");
    let next = est.next_id();
    assert_eq!(next, last + 1, "bad bodies store nothing");

    // The plain HTTP listener does not serve EST.
    let plain = est.server.post(
        "/.well-known/est/simpleenroll",
        "application/pkcs10",
        &full.into_bytes(),
    );
    assert_eq!(plain.status, 404, "{plain}");
    assert_eq!(est.server.get("/.well-known/est/cacerts").status, 404);

    // simpleenroll with a TLS client certificate this CA issued (dev1's).
    let (csr3, _) = csr_body(&work, "/CN=dev3.test", &[], false);
    let (c, k) = (dev1.display().to_string(), key.display().to_string());
    let by_cert = est.post("simpleenroll", &csr3, &["--cert", &c, "--key", &k]);
    check_issued(&est, &by_cert, "dev3.test");

    // simplereenroll with the current certificate: the subject is kept, the key is new.
    let (renew, renew_key) = csr_body(&work, "/CN=dev1.test", &[], false);
    let renewed = est.post("simplereenroll", &renew, &["--cert", &c, "--key", &k]);
    let dev1b = check_issued(&est, &renewed, "dev1.test");
    assert_ne!(cert_serial(&dev1b), cert_serial(&dev1));
    // The renewed certificate renews in turn.
    let (renew2, _) = csr_body(&work, "/CN=dev1.test", &["DNS:dev1.test"], false);
    let (c2, k2) = (dev1b.display().to_string(), renew_key.display().to_string());
    let again = est.post("simplereenroll", &renew2, &["--cert", &c2, "--key", &k2]);
    check_issued(&est, &again, "dev1.test");

    // Another name, or an added SAN, is refused with a 400 naming the difference.
    let last = est.next_id();
    let (other_cn, _) = csr_body(&work, "/CN=other.test", &[], false);
    let r = est.post("simplereenroll", &other_cn, &["--cert", &c, "--key", &k]);
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("subject"), "{r}");
    let (more, _) = csr_body(
        &work,
        "/CN=dev1.test",
        &["DNS:dev1.test", "DNS:extra.test"],
        false,
    );
    let r = est.post("simplereenroll", &more, &["--cert", &c, "--key", &k]);
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("DNS:extra.test"), "{r}");
    // Basic alone may not renew; no credentials at all is the 401 challenge.
    let r = est.post("simplereenroll", &renew, &["--user", &auth]);
    assert_eq!(r.status, 403, "{r}");
    assert!(r.text().contains("client certificate"), "{r}");
    let r = est.post("simplereenroll", &renew, &[]);
    assert_eq!(r.status, 401, "{r}");
    assert!(r.body.is_empty());
    assert_eq!(est.next_id(), last + 1, "refused renewals store nothing");
}

/// A CSR for `CN=cn` carrying a challengePassword attribute (openssl leaves the attributes
/// out when `-subj` is given, so the subject comes from the config too).
fn openssl_csr_with_challenge(dir: &Path, cn: &str, password: &str) -> PathBuf {
    let csr = unique(dir, "challenge", "csr");
    let key = csr.with_extension("key");
    let conf = csr.with_extension("cnf");
    fs::write(
        &conf,
        format!(
            "[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = {cn}\n[attrs]\nchallengePassword = {password}\n"
        ),
    )
    .unwrap();
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
            conf.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    csr
}

/// An openssl CA outside Signet with the SAME subject as Signet's CA: (CA PEM, its key).
fn foreign_ca(est: &EstServer) -> (PathBuf, PathBuf) {
    let work = est.work();
    let subject = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            est.ca_pem.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
        ],
    );
    let subject = subject
        .stdout
        .trim()
        .strip_prefix("subject=")
        .unwrap()
        .to_string();
    let ca_key = unique(work, "foreign-ca", "key");
    let ca = ca_key.with_extension("pem");
    let run = run_program(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            ca_key.to_str().unwrap(),
            "-out",
            ca.to_str().unwrap(),
            "-subj",
            &subject,
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    (ca, ca_key)
}

/// A clientAuth certificate for `cn` from the foreign CA: (leaf PEM, its key).
fn foreign_certificate(est: &EstServer, ca: &(PathBuf, PathBuf), cn: &str) -> (PathBuf, PathBuf) {
    let work = est.work();
    let csr = openssl_csr(work, "p256", &format!("/CN={cn}"), &[]);
    let ext = unique(work, "ext", "cnf");
    fs::write(
        &ext,
        format!(
            "extendedKeyUsage = clientAuth\nkeyUsage = critical,digitalSignature\nsubjectAltName = DNS:{cn}\n"
        ),
    )
    .unwrap();
    let leaf = unique(work, "foreign-leaf", "pem");
    let run = run_program(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            ca.0.to_str().unwrap(),
            "-CAkey",
            ca.1.to_str().unwrap(),
            "-set_serial",
            "4660",
            "-days",
            "30",
            "-extfile",
            ext.to_str().unwrap(),
            "-out",
            leaf.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    (leaf, csr.with_extension("key"))
}

#[test]
fn foreign_and_revoked_certificates_do_not_renew() {
    // The client roots: Signet's CA and a foreign CA with the same subject, so the TLS
    // handshake passes and only EST's own checks stand between the foreign certificate
    // and a renewal.
    let server = Server::start(&[]);
    let mgr = server.create_token(&["manager"], "mgr");
    let (pem, key) =
        server.tls_server_certificate("/CN=localhost", &["DNS:localhost", "IP:127.0.0.1"]);
    let mut est = EstServer {
        ca_pem: server.ca_cert_path(),
        server,
        port: 0,
        mgr,
    };
    let foreign = foreign_ca(&est);
    let (foreign_leaf, foreign_key) = foreign_certificate(&est, &foreign, "dev1.test");
    let (gateway, gateway_key) = foreign_certificate(&est, &foreign, "gateway.test");
    let roots = est.work().join("client-roots.pem");
    fs::write(
        &roots,
        fs::read_to_string(&est.ca_pem).unwrap() + &fs::read_to_string(&foreign.0).unwrap(),
    )
    .unwrap();
    // `client_ca` lands in [server.tls] (serve_tls writes the table last); a mapped
    // identity (the gateway's certificate) may enroll, not renew.
    let extra = format!(
        "client_ca = \"{}\"\n\n[[identity]]\nname = \"gateway\"\nsubject = \"CN=gateway.test\"\nroles = [\"requester\"]\ngroups = [\"est\"]\n",
        roots.display()
    );
    est.port = est.server.serve_tls(&pem, &key, &extra);

    let token = est_token(&est.server, "dev1");
    let work = est.work().to_path_buf();
    let (csr, key1) = csr_body(&work, "/CN=dev1.test", &[], false);
    let dev1 = check_issued(
        &est,
        &est.post("simpleenroll", &csr, &["--user", &basic("dev1", &token)]),
        "dev1.test",
    );
    let (c, k) = (dev1.display().to_string(), key1.display().to_string());
    let (renew, _) = csr_body(&work, "/CN=dev1.test", &[], false);

    let mut last = est.next_id();
    // The foreign certificate has dev1's name and an issuer named like Signet's CA.
    let (fc, fk) = (
        foreign_leaf.display().to_string(),
        foreign_key.display().to_string(),
    );
    let r = est.post("simplereenroll", &renew, &["--cert", &fc, "--key", &fk]);
    assert_eq!(r.status, 401, "a foreign certificate must not renew: {r}");
    let r = est.post("simpleenroll", &renew, &["--cert", &fc, "--key", &fk]);
    assert_eq!(
        r.status, 401,
        "a foreign unmapped certificate must not enroll: {r}"
    );
    // The gateway's mapped certificate enrolls but does not renew.
    let (gc, gk) = (
        gateway.display().to_string(),
        gateway_key.display().to_string(),
    );
    let r = est.post("simplereenroll", &renew, &["--cert", &gc, "--key", &gk]);
    assert_eq!(r.status, 401, "{r}");
    let next = est.next_id();
    assert_eq!(next, last + 1, "refused renewals store nothing");
    let (gw_csr, _) = csr_body(&work, "/CN=gw-device.test", &[], false);
    let r = est.post("simpleenroll", &gw_csr, &["--cert", &gc, "--key", &gk]);
    check_issued(&est, &r, "gw-device.test");
    last = est.next_id();

    // dev1's own certificate renews until it is revoked.
    let ok = est.post("simplereenroll", &renew, &["--cert", &c, "--key", &k]);
    check_issued(&est, &ok, "dev1.test");
    let last_before = est.next_id();
    assert!(last_before > last);
    last = last_before;
    let serial = cert_serial(&dev1);
    let revoked = est.server.call(
        Some(&est.mgr),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", est.server.ca),
        Some(&serde_json::json!({ "reason": "keyCompromise" })),
    );
    assert_eq!(revoked.status, 200, "{revoked}");
    let (renew2, _) = csr_body(&work, "/CN=dev1.test", &[], false);
    let r = est.post("simplereenroll", &renew2, &["--cert", &c, "--key", &k]);
    assert_eq!(r.status, 403, "a revoked certificate must not renew: {r}");
    assert!(r.text().contains("revoked"), "{r}");
    let r = est.post("simpleenroll", &renew2, &["--cert", &c, "--key", &k]);
    assert_eq!(r.status, 403, "a revoked certificate must not enroll: {r}");
    assert_eq!(est.next_id(), last + 1, "refused requests store nothing");
}

/// `[ca.est]` with the manual profile and a 1-second Retry-After.
fn use_manual_profile(est: &mut EstServer) {
    est.server.stop_ok();
    let path = est.server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    let text = text
        .replacen(
            "[ca.est]\nenabled = true\nprofile = \"device\"",
            "[ca.est]\nenabled = true\nprofile = \"manual\"",
            1,
        )
        .replacen("retry_after = \"60s\"", "retry_after = \"1s\"", 1);
    assert!(text.contains("profile = \"manual\""), "{text}");
    fs::write(&path, text).unwrap();
    est.server.serve();
}

#[test]
fn a_pending_request_is_answered_when_repeated_after_approval() {
    let mut est = EstServer::start("");
    use_manual_profile(&mut est);
    let token = est_token(&est.server, "dev5");
    let auth = basic("dev5", &token);
    let (csr, _) = csr_body(est.work(), "/CN=dev5.test", &[], false);

    let first = est.post("simpleenroll", &csr, &["--user", &auth]);
    assert_eq!(first.status, 202, "{first}");
    assert_eq!(first.header("Retry-After").as_deref(), Some("1"), "{first}");
    assert!(first.body.is_empty(), "{first}");
    let pending = est.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    // Repeated before a decision: still 202, and no second request.
    let again = est.post("simpleenroll", &csr, &["--user", &auth]);
    assert_eq!(again.status, 202, "{again}");
    assert_eq!(est.pending(), pending);
    // Another caller with the same CSR does not get dev5's request.
    let other = est_token(&est.server, "dev6");
    let theirs = est.post("simpleenroll", &csr, &["--user", &basic("dev6", &other)]);
    assert_eq!(theirs.status, 202, "{theirs}");
    assert_eq!(est.pending().len(), 2);

    let approved = est.approve(pending[0]);
    assert_eq!(approved["status"], "issued", "{approved:#}");
    let done = est.post("simpleenroll", &csr, &["--user", &auth]);
    check_issued(&est, &done, "dev5.test");
    let record = est.request(pending[0]);
    assert_eq!(record["requester"], "dev5", "{record:#}");
    assert_eq!(record["profile"], "manual", "{record:#}");
}

/// `[ca.est] serverkeygen = true` (the template writes `serverkeygen = false`).
fn enable_serverkeygen(est: &mut EstServer) {
    est.server.stop_ok();
    let path = est.server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\nserverkeygen = false\n"), "{text}");
    fs::write(
        &path,
        text.replacen("\nserverkeygen = false\n", "\nserverkeygen = true\n", 1),
    )
    .unwrap();
    est.server.serve();
}

/// A `serverkeygen` answer split on its boundary (RFC 7030 §4.4.2): each part's headers and
/// its base64 content decoded.
fn multipart_parts(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    assert_eq!(reply.status, 200, "{reply}");
    let content_type = reply.header("Content-Type").expect("Content-Type");
    let boundary = content_type
        .strip_prefix("multipart/mixed; boundary=")
        .unwrap_or_else(|| panic!("not multipart/mixed: {content_type}"));
    let length: usize = reply
        .header("Content-Length")
        .expect("Content-Length, not chunked")
        .parse()
        .unwrap();
    assert_eq!(length, reply.body.len());
    assert_eq!(reply.header("Cache-Control").as_deref(), Some("no-store"));
    let text = String::from_utf8(reply.body.clone()).expect("an ASCII body");
    let delimiter = format!("--{boundary}");
    let mut pieces: Vec<&str> = text.split(delimiter.as_str()).collect();
    // Before the first delimiter: nothing; after the last: "--" and CRLF.
    assert_eq!(pieces.remove(0), "", "{text}");
    assert_eq!(pieces.pop(), Some("--\r\n"), "{text}");
    pieces
        .into_iter()
        .map(|piece| {
            let (head, content) = piece
                .strip_prefix("\r\n")
                .and_then(|p| p.split_once("\r\n\r\n"))
                .unwrap_or_else(|| panic!("a part without headers: {piece:?}"));
            let compact: String = content.split_whitespace().collect();
            let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&compact)
                .expect("base64 content");
            (head.to_owned(), der)
        })
        .collect()
}

/// The PEM public key of a key or certificate file, as openssl prints it.
fn public_key_pem(dir: &Path, tool: &[&str], input: &Path) -> String {
    let out = unique(dir, "pub", "pem");
    let mut args: Vec<&str> = tool.to_vec();
    let (i, o) = (input.display().to_string(), out.display().to_string());
    args.extend(["-in", &i, "-out", &o]);
    let run = run_program("openssl", &args);
    assert_eq!(run.code, 0, "openssl {tool:?}: {run}");
    fs::read_to_string(&out).unwrap()
}

/// Checks a `serverkeygen` answer: the key (PKCS#8 DER that `openssl pkey` reads) and the
/// certificate (certs-only PKCS#7: verified, linted, named as the CSR asked) belong
/// together. Returns (key PEM file, certificate PEM file).
fn check_serverkeygen(
    est: &EstServer,
    reply: &Reply,
    cn: &str,
    sans: &[&str],
) -> (PathBuf, PathBuf) {
    let work = est.work();
    let parts = multipart_parts(reply);
    assert_eq!(parts.len(), 2, "{reply}");
    assert_eq!(
        parts[0].0,
        "Content-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64"
    );
    assert_eq!(
        parts[1].0,
        "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n\
         Content-Transfer-Encoding: base64"
    );

    let key_der = unique(work, "skg-key", "der");
    fs::write(&key_der, &parts[0].1).unwrap();
    let key_pem = unique(work, "skg-key", "pem");
    let run = run_program(
        "openssl",
        &[
            "pkey",
            "-inform",
            "DER",
            "-in",
            key_der.to_str().unwrap(),
            "-out",
            key_pem.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "openssl pkey rejects the key: {run}");

    let p7 = unique(work, "skg-p7", "der");
    fs::write(&p7, &parts[1].1).unwrap();
    let printed = unique(work, "skg-certs", "pem");
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
            printed.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "not a PKCS#7: {run}");
    assert_eq!(
        fs::read_to_string(&printed)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        1,
        "the issued certificate alone"
    );
    // Only the certificate's PEM (-print_certs writes subject= and issuer= lines too).
    let cert = unique(work, "skg-cert", "pem");
    let run = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            printed.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    openssl_verify(&est.ca_pem, &cert);
    pkilint(&cert);
    let text = cert_text(&cert);
    assert!(text.contains(&format!("Subject: CN = {cn}")), "{text}");
    for san in sans {
        assert!(text.contains(san), "{san} missing:\n{text}");
    }
    assert_eq!(
        public_key_pem(work, &["x509", "-pubkey", "-noout"], &cert),
        public_key_pem(work, &["pkey", "-pubout"], &key_pem),
        "the certificate certifies the returned key"
    );
    (key_pem, cert)
}

#[test]
fn serverkeygen_returns_the_key_and_its_certificate() {
    let mut est = EstServer::start("");
    enable_serverkeygen(&mut est);
    let work = est.work().to_path_buf();
    let token = est_token(&est.server, "dev8");
    let auth = basic("dev8", &token);

    // Basic: the subject and SANs come from the CSR, the key is new (P-256 for a P-256 CSR).
    let csr = openssl_csr(
        &work,
        "p256",
        "/CN=kg8.test",
        &["DNS:kg8.test", "DNS:www.kg8.test"],
    );
    let (body, csr_key) = base64_body(&csr, false);
    let reply = est.post("serverkeygen", &body, &["--user", &auth]);
    let (key, cert) = check_serverkeygen(&est, &reply, "kg8.test", &["DNS:www.kg8.test"]);
    assert_ne!(
        public_key_pem(&work, &["pkey", "-pubout"], &key),
        public_key_pem(&work, &["pkey", "-pubout"], &csr_key),
        "the CSR's key is not used"
    );
    let key_text = run_program(
        "openssl",
        &["pkey", "-in", key.to_str().unwrap(), "-noout", "-text"],
    );
    assert!(key_text.stdout.contains("prime256v1"), "{key_text}");

    // An RSA CSR gets an RSA 2048 key; the returned key and certificate work as this CA's
    // client certificate (authentication as for simpleenroll).
    let csr = openssl_csr(&work, "rsa3072", "/CN=kg9.test", &["DNS:kg9.test"]);
    let (body, _) = base64_body(&csr, true);
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let reply = est.post("serverkeygen", &body, &["--cert", &c, "--key", &k]);
    let (key, _) = check_serverkeygen(&est, &reply, "kg9.test", &["DNS:kg9.test"]);
    let key_text = run_program(
        "openssl",
        &["pkey", "-in", key.to_str().unwrap(), "-noout", "-text"],
    );
    assert!(key_text.stdout.contains("2048 bit"), "{key_text}");

    // Refusals store nothing: no credentials, a request for an encrypted key.
    let last = est.next_id();
    let none = est.post("serverkeygen", &body, &[]);
    assert_eq!(none.status, 401, "{none}");
    let cnf = work.join("decrypt-key-id.cnf");
    fs::write(
        &cnf,
        "oid_section = new_oids\n[new_oids]\ndecryptKeyID = 1.2.840.113549.1.9.16.2.37\n\
         [req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
         [dn]\nCN = kg10.test\n[attrs]\ndecryptKeyID = key-1\n",
    )
    .unwrap();
    let encrypted = work.join("decrypt-key-id.csr");
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
            work.join("decrypt-key-id.key").to_str().unwrap(),
            "-config",
            cnf.to_str().unwrap(),
            "-out",
            encrypted.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let (body, _) = base64_body(&encrypted, false);
    let r = est.post("serverkeygen", &body, &["--user", &auth]);
    assert_eq!(r.status, 501, "{r}");
    assert!(
        r.text().contains("encrypted key delivery is not supported"),
        "{r}"
    );
    assert_eq!(est.next_id(), last + 1, "refused requests store nothing");
}

#[test]
fn serverkeygen_refuses_a_manual_profile_and_stores_nothing() {
    let mut est = EstServer::start("");
    enable_serverkeygen(&mut est);
    use_manual_profile(&mut est);
    let token = est_token(&est.server, "dev9");
    let (csr, _) = csr_body(est.work(), "/CN=kg11.test", &[], false);
    let last = est.next_id();
    let r = est.post("serverkeygen", &csr, &["--user", &basic("dev9", &token)]);
    assert_eq!(r.status, 400, "{r}");
    assert!(
        r.text()
            .contains("serverkeygen needs a profile that issues at once"),
        "{r}"
    );
    assert!(est.pending().is_empty(), "nothing waits for a manager");
    assert_eq!(est.next_id(), last + 1, "nothing was stored");
}

/// The Bouncy Castle jars (Debian: libbcprov-java libbcpkix-java libbcutil-java).
const BC_JARS: &str =
    "/usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar:/usr/share/java/bcutil.jar";

/// Compiles tests/est/EstClient.java into `dir`; the java command line prefix.
fn bouncy_castle(dir: &Path) -> Vec<String> {
    let present = on_path("javac").is_some()
        && on_path("java").is_some()
        && BC_JARS.split(':').all(|j| Path::new(j).exists());
    assert!(
        present,
        "Bouncy Castle's EST client needs javac, java and {BC_JARS}: apt-get install \
         default-jdk-headless libbcprov-java libbcpkix-java libbcutil-java (scripts/test.sh does)"
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/est/EstClient.java");
    let out = dir.join("java");
    let run = run_program(
        "javac",
        &[
            "-cp",
            BC_JARS,
            "-d",
            out.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "javac: {run}");
    vec![
        "java".into(),
        "-cp".into(),
        format!("{}:{BC_JARS}", out.display()),
        "EstClient".into(),
    ]
}

fn on_path(name: &str) -> Option<PathBuf> {
    common::acme::on_path(name)
}

/// Runs EstClient with `args`; must exit 0.
fn bc(prefix: &[String], args: &[&str]) -> Run {
    let mut all: Vec<&str> = prefix.iter().skip(1).map(String::as_str).collect();
    all.extend_from_slice(args);
    let run = run_program(&prefix[0], &all);
    assert_eq!(run.code, 0, "Bouncy Castle EST client failed: {run}");
    run
}

#[test]
fn bouncy_castle_enrolls_renews_and_waits_for_approval() {
    let mut est = EstServer::start("");
    let work = est.work().to_path_buf();
    let java = bouncy_castle(&work);
    let server = format!("localhost:{}", est.port);
    let ca = est.ca_pem.display().to_string();

    let run = bc(
        &java,
        &[
            "cacerts",
            &server,
            "--trust",
            &ca,
            "--out",
            work.join("bc-cacerts.pem").to_str().unwrap(),
        ],
    );
    assert!(run.stdout.contains("hasCertificates=true"), "{run}");
    let run = bc(&java, &["csrattrs", &server, "--trust", &ca]);
    assert!(run.stdout.contains("hasAttributesResponse=true"), "{run}");

    // simpleenroll with HTTP Basic (BC answers the 401 challenge; the realm must match).
    let token = est_token(&est.server, "java1");
    let (cert, key) = (work.join("java1.crt"), work.join("java1.key"));
    let run = bc(
        &java,
        &[
            "enroll",
            &server,
            "--trust",
            &ca,
            "--user",
            "java1",
            "--pass",
            &token,
            "--realm",
            "signet",
            "--cn",
            "java1.test",
            "--key-out",
            key.to_str().unwrap(),
            "--cert-out",
            cert.to_str().unwrap(),
        ],
    );
    assert!(
        run.stdout
            .contains("simpleenroll OK: subject=CN=java1.test"),
        "{run}"
    );
    openssl_verify(&est.ca_pem, &cert);
    pkilint(&cert);

    // simplereenroll with the certificate in a PKCS#12 as the TLS client key.
    let p12 = work.join("java1.p12");
    let run = run_program(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-passout",
            "pass:changeit",
            "-out",
            p12.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let renewed = work.join("java1r.crt");
    let run = bc(
        &java,
        &[
            "enroll",
            &server,
            "--trust",
            &ca,
            "--p12",
            p12.to_str().unwrap(),
            "--p12pass",
            "changeit",
            "--cn",
            "java1.test",
            "--reenroll",
            "--key-out",
            work.join("java1r.key").to_str().unwrap(),
            "--cert-out",
            renewed.to_str().unwrap(),
        ],
    );
    assert!(
        run.stdout
            .contains("simplereenroll OK: subject=CN=java1.test"),
        "{run}"
    );
    openssl_verify(&est.ca_pem, &renewed);
    assert_ne!(cert_serial(&renewed), cert_serial(&cert));

    // A 202: BC repeats the request after Retry-After until a manager approves.
    use_manual_profile(&mut est);
    let server = format!("localhost:{}", est.port);
    let token = est_token(&est.server, "java2");
    let mut cmd = Command::new(&java[0]);
    cmd.args(&java[1..]).args([
        "enroll",
        &server,
        "--trust",
        &ca,
        "--user",
        "java2",
        "--pass",
        &token,
        "--cn",
        "java2.test",
        "--retry",
        "120",
        "--key-out",
        work.join("java2.key").to_str().unwrap(),
        "--cert-out",
        work.join("java2.crt").to_str().unwrap(),
    ]);
    let client = spawn(cmd, &work, "bc-retry");
    let id = wait_until(Duration::from_secs(60), "BC's pending request", || {
        est.pending().first().copied()
    });
    est.approve(id);
    let run = client.wait(Duration::from_secs(90));
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("202 Accepted: retrying"), "{run}");
    assert!(
        run.stdout
            .contains("simpleenroll OK: subject=CN=java2.test"),
        "{run}"
    );
    openssl_verify(&est.ca_pem, &work.join("java2.crt"));
    assert_eq!(est.pending(), Vec::<i64>::new());
}

/// RFC 7030 §3.5 with RFC 9266: a CSR whose challengePassword is the base64 of the
/// connection's tls-exporter value enrolls on that connection, and only there.
#[test]
fn a_csr_bound_to_its_tls_connection_enrolls_there_only() {
    use std::io::{Read, Write};
    let est = EstServer::start("");
    let token = est_token(&est.server, "dev7");
    let flat = |s: String| s.replace("\r\n", "");

    let mut roots = rustls::RootCertStore::empty();
    for der in signet_x509::pem::decode_all(&fs::read(&est.ca_pem).unwrap(), "CERTIFICATE").unwrap()
    {
        roots.add(der.into()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", est.port)).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    let binding = conn
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
        .unwrap();
    let password = flat(signet_est::encode_base64_body(&binding));
    let csr = openssl_csr_with_challenge(est.work(), "dev7.test", &password);
    let (body_file, _) = base64_body(&csr, false);
    let body = fs::read_to_string(&body_file).unwrap();
    let auth = flat(signet_est::encode_base64_body(
        format!("dev7:{token}").as_bytes(),
    ));
    let request = format!(
        "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // The server may close without close_notify after `Connection: close`.
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("smime-type=certs-only"), "{answer}");

    // The same CSR on another connection carries the wrong binding.
    let r = est.post(
        "simpleenroll",
        &body_file,
        &["--user", &basic("dev7", &token)],
    );
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("channel binding mismatch"), "{r}");
}

/// A requester token in group `est`: the `device` profile enrolls only groups scep and est.
fn est_token(server: &Server, name: &str) -> String {
    let admin = server.admin_token();
    let url = server.url();
    let run = run_signet(
        &[
            "admin",
            "token",
            "create",
            "--name",
            name,
            "--role",
            "requester",
            "--group",
            "est",
            "--token",
            &admin,
            "--server",
            &url,
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "creating an est token: {run}");
    run.stdout.trim().to_string()
}
