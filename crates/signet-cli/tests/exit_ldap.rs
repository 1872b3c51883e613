//! The `ldap` exit module against a real OpenLDAP server: each test starts Debian's `slapd`
//! on a free loopback port with its own temp-dir configuration (core, cosine and
//! inetOrgPerson schemas; an mdb database for dc=example,dc=test), adds entries with
//! `ldapadd`, and reads what Signet published back with `ldapsearch`, byte for byte.
//!
//! # Layout
//! - [`Slapd`]: the throwaway directory server (killed on drop).
//! - [`ldap_exit`], [`with_user_profile`]: Signet configuration.
//! - The tests: publish, remove on revoke and CRLs; a missing entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

const SUFFIX: &str = "dc=example,dc=test";
const ROOT_DN: &str = "cn=admin,dc=example,dc=test";
/// The rootdn's password: only in slapd.conf, the password file and ldap-utils' arguments.
const ROOT_PW: &str = "s3cret-ldap-root-pw";

/// The entries every test starts with: the suffix, `ou=people` with Alice, and a CRL
/// distribution point entry for CA `demo`.
const BASE_LDIF: &str = "\
dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: cn=Alice Doe,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
cn: Alice Doe
sn: Doe
mail: alice@example.test

dn: ou=cdp,dc=example,dc=test
objectClass: organizationalUnit
ou: cdp

dn: cn=demo,ou=cdp,dc=example,dc=test
objectClass: cRLDistributionPoint
cn: demo
";

/// A slapd process serving dc=example,dc=test on `url`, configured in its own temp dir.
struct Slapd {
    dir: tempfile::TempDir,
    url: String,
    child: Child,
    /// With TLS: the CA certificate the tools trust for StartTLS (`-ZZ`).
    tls_ca: Option<String>,
}

/// slapd's TLS identity: certificate, key, and the CA that issued the certificate.
struct Tls<'a> {
    cert: &'a Path,
    key: &'a Path,
    ca: &'a Path,
}

/// A free loopback port: bind port 0, note it, release it for slapd.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Slapd {
    /// Writes slapd.conf, starts slapd in the foreground (`-d 0`) on a free loopback port,
    /// waits until it answers, and adds [`BASE_LDIF`].
    fn start() -> Slapd {
        Slapd::start_with(free_port(), None)
    }

    /// Like [`Slapd::start`] on `port`; with `tls`, StartTLS is offered and simple binds
    /// without TLS are refused (`security simple_bind=64`), so a client that binds at all
    /// used TLS.
    fn start_with(port: u16, tls: Option<Tls<'_>>) -> Slapd {
        let slapd = ["/usr/sbin/slapd", "/usr/local/sbin/slapd"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("slapd not found: run scripts/test.sh, which installs slapd and ldap-utils");
        let dir = tempfile::Builder::new()
            .prefix("signet-slapd-")
            .tempdir()
            .expect("temp dir");
        let db = dir.path().join("db");
        fs::create_dir_all(&db).unwrap();
        let conf = dir.path().join("slapd.conf");
        fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {pid}\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"{ROOT_DN}\"\n\
                 rootpw {ROOT_PW}\n\
                 directory {db}\n\
                 {tls}",
                pid = dir.path().join("slapd.pid").display(),
                db = db.display(),
                tls = tls.as_ref().map_or(String::new(), |t| format!(
                    "TLSCertificateFile {}\nTLSCertificateKeyFile {}\nsecurity simple_bind=64\n",
                    t.cert.display(),
                    t.key.display()
                )),
            ),
        )
        .unwrap();
        let url = format!("ldap://127.0.0.1:{port}/");
        let log = fs::File::create(dir.path().join("slapd.log")).unwrap();
        let child = Command::new(slapd)
            .args(["-f", &conf.display().to_string(), "-h", &url, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {slapd}: {e}"));
        let tls_ca = tls.map(|t| t.ca.display().to_string());
        let mut server = Slapd {
            dir,
            url,
            child,
            tls_ca,
        };
        wait_until(Duration::from_secs(15), "slapd to answer", || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("slapd exited with {status}:\n{}", server.log());
            }
            let run = server.tool(
                "ldapsearch",
                &["-LLL", "-s", "base", "-b", SUFFIX, "dn"],
                None,
            );
            // 32 (noSuchObject): up, but the suffix entry is not there yet.
            (run.code == 0 || run.code == 32).then_some(())
        });
        server.add(BASE_LDIF);
        server
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Runs an ldap-utils tool bound as the rootdn, with `ldif` as its input file.
    fn tool(&self, program: &str, args: &[&str], ldif: Option<&str>) -> Run {
        let cacert;
        let mut full = Vec::new();
        if let Some(ca) = &self.tls_ca {
            cacert = format!("LDAPTLS_CACERT={ca}");
            full.extend([cacert.as_str(), program, "-ZZ"]);
        } else {
            full.push(program);
        }
        full.extend(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW]);
        let file;
        if let Some(text) = ldif {
            file = unique(self.dir.path(), "input", "ldif");
            fs::write(&file, text).unwrap();
            full.extend(["-f", file.to_str().unwrap()]);
        }
        full.extend_from_slice(args);
        // `env` sets LDAPTLS_CACERT for the tool alone.
        run_program("env", &full)
    }

    fn add(&self, ldif: &str) {
        let run = self.tool("ldapadd", &[], Some(ldif));
        assert_eq!(run.code, 0, "ldapadd: {run}");
    }

    /// The values of `attribute` of entry `dn`, as the bytes ldapsearch wrote to files
    /// (`-tt`), so binary values are compared exactly; empty if the entry has none.
    fn values(&self, dn: &str, attribute: &str) -> Vec<Vec<u8>> {
        let out = unique(self.dir.path(), "values", "d");
        fs::create_dir_all(&out).unwrap();
        let run = self.tool(
            "ldapsearch",
            &[
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-tt",
                "-T",
                out.to_str().unwrap(),
                "-s",
                "base",
                "-b",
                dn,
                "(objectClass=*)",
                attribute,
            ],
            None,
        );
        assert_eq!(run.code, 0, "ldapsearch {dn} {attribute}: {run}");
        run.stdout
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.split_once(":< file://")?;
                name.eq_ignore_ascii_case(attribute)
                    .then(|| fs::read(rest).unwrap_or_else(|e| panic!("{rest}: {e}")))
            })
            .collect()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- slapd log -----\n{}\n-----", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `[[ca.exit]]` table for the `ldap` module at `slapd`, bound as the rootdn with the
/// password in `ldap.pw` of the data directory, plus `extra` keys.
fn ldap_exit(server: &Server, slapd: &Slapd, name: &str, extra: &str) -> String {
    fs::write(server.data.join("ldap.pw"), format!("{ROOT_PW}\n")).unwrap();
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"ldap\"\nurl = \"{url}\"\n\
         bind_dn = \"{ROOT_DN}\"\npassword_file = \"ldap.pw\"\ntimeout = \"5s\"\n{extra}\n",
        url = slapd.url
    )
}

/// Adds a `user` profile (auto-approved, CN and an e-mail SAN under example.test) before
/// the exit modules in signet.toml.
fn with_user_profile(server: &Server) {
    const USER: &str = r#"
[ca.policy.profiles.user]
description = "S/MIME and client certificates for people in the directory"
approval = "auto"
validity_days = 30
key_algorithms = ["p256"]
subject_attributes = ["CN"]
require_san = false
email_domains = ["example.test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["clientAuth", "emailProtection"]

"#;
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).unwrap();
    let exits = "# Exit modules (AD CS ICertExit)";
    assert!(text.contains(exits));
    fs::write(&path, text.replace(exits, &format!("{USER}{exits}"))).unwrap();
}

/// Writes the PEM of an issue answer and returns the certificate's DER.
fn issued_der(server: &Server, answer: &serde_json::Value, stem: &str) -> Vec<u8> {
    let pem = write_pem(
        &server.work,
        stem,
        answer["certificate"].as_str().expect("certificate"),
    );
    cert_der(&pem)
}

/// The body of a CRL as relying parties fetch it.
fn served_crl(server: &Server, path: &str) -> Vec<u8> {
    let r = http(server.addr(), "GET", path, &[], b"");
    assert_eq!(r.status, 200, "GET {path}: {r}");
    r.body
}

/// Issue → `userCertificate;binary` of the entry the filter finds holds the certificate;
/// revoke → removed; publish CRLs → the CRL and delta CRL served over HTTP are the values
/// of `certificateRevocationList;binary` and `deltaRevocationList;binary` of crl_dn.
#[test]
fn certificates_and_crls_are_published_and_removed() {
    let slapd = Slapd::start();
    let mut server = Server::init(&["--dev"]);
    with_user_profile(&server);
    server.append_config(&ldap_exit(
        &server,
        &slapd,
        "directory",
        "base = \"ou=people,dc=example,dc=test\"\n\
         filter = \"(&(objectClass=inetOrgPerson)(mail={email}))\"\n\
         remove_on_revoke = true\n\
         crl_dn = \"cn={ca},ou=cdp,dc=example,dc=test\"",
    ));
    server.serve();
    let alice = "cn=Alice Doe,ou=people,dc=example,dc=test";

    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=Alice Doe",
        &["email:alice@example.test"],
    );
    let answer = server.submit(&csr, Some("user"));
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let der = issued_der(&server, &answer, "alice");
    let published = wait_until(
        DELIVERY_TIMEOUT,
        "the certificate in Alice's userCertificate;binary",
        || {
            let v = slapd.values(alice, "userCertificate;binary");
            (!v.is_empty()).then_some(v)
        },
    );
    assert_eq!(
        published,
        [der],
        "the entry holds exactly the issued certificate, byte for byte"
    );

    // Revocation removes the value.
    let manager = server.create_token(&["manager"], "mgr");
    let serial = answer["serial"].as_str().expect("serial");
    let r = server.call(
        Some(&manager),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", server.ca),
        Some(&json!({ "reason": "keyCompromise" })),
    );
    assert_eq!(r.status, 200, "revoking: {r}");
    wait_until(
        DELIVERY_TIMEOUT,
        "the revoked certificate to leave Alice's entry",
        || {
            slapd
                .values(alice, "userCertificate;binary")
                .is_empty()
                .then_some(())
        },
    );

    // A CRL publication (full and delta) reaches the CDP entry.
    let admin = server.admin_token();
    let r = server.call(
        Some(&admin),
        "POST",
        &format!("/api/v1/cas/{}/crls", server.ca),
        Some(&json!({ "delta": false })),
    );
    assert_eq!(r.status, 201, "publishing CRLs: {r}");
    let cdp = "cn=demo,ou=cdp,dc=example,dc=test";
    let full = served_crl(&server, "/crl/demo.crl");
    let delta = served_crl(&server, "/crl/demo/delta.crl");
    assert_ne!(full, delta);
    for (attribute, served) in [
        ("certificateRevocationList;binary", &full),
        ("deltaRevocationList;binary", &delta),
    ] {
        let values = wait_until(
            DELIVERY_TIMEOUT,
            &format!("the served CRL in {cdp} {attribute}"),
            || {
                let v = slapd.values(cdp, attribute);
                (v.first() == Some(served)).then_some(v)
            },
        );
        assert_eq!(values.len(), 1, "{attribute} holds one CRL");
    }
    // The published CRL is the one listing the revoked certificate.
    let crl = signet_x509::crl::parse_crl(&full).expect("a CRL");
    assert!(
        crl.entries.iter().any(|e| e.0 == serial),
        "{serial} is on the published CRL: {:?}",
        crl.entries
    );

    let log = server.log();
    assert!(
        log.contains("certificate published to LDAP") && log.contains("CRL published to LDAP"),
        "{log}"
    );
    assert!(!log.contains(ROOT_PW), "the bind password is never logged");
}

/// A certificate whose entry does not exist: delivery fails with a clear error in the log,
/// the server keeps issuing, a `missing_entry = "skip"` instance acknowledges with a
/// warning, and once the entry appears the retried event publishes the certificate.
#[test]
fn a_missing_entry_fails_delivery_and_the_server_keeps_serving() {
    let slapd = Slapd::start();
    let mut server = Server::init(&["--dev"]);
    let template = "dn_template = \"cn={common_name},ou=people,dc=example,dc=test\"";
    server.append_config(&ldap_exit(&server, &slapd, "directory", template));
    server.append_config(&ldap_exit(
        &server,
        &slapd,
        "lenient",
        &format!("{template}\nmissing_entry = \"skip\""),
    ));
    server.serve();

    let answer = server.issue("bob.test");
    let bob = "cn=bob.test,ou=people,dc=example,dc=test";
    let expected = format!("not published: no entry {bob}");
    wait_until(DELIVERY_TIMEOUT, "the failed delivery in the log", || {
        let log = server.log();
        log.lines()
            .any(|l| {
                l.contains("exit delivery failed")
                    && l.contains("directory")
                    && l.contains(&expected)
            })
            .then_some(())
    });
    wait_until(DELIVERY_TIMEOUT, "the skip warning in the log", || {
        let log = server.log();
        log.lines()
            .any(|l| l.contains("lenient") && l.contains("certificate not published to LDAP"))
            .then_some(())
    });

    // The server keeps serving while the exit retries.
    let other = server.issue("carol.test");
    assert_eq!(other["status"], "issued", "{other:#}");
    assert!(server.is_running());

    // The entry appears; the retried event publishes Bob's certificate.
    slapd.add(&format!(
        "dn: {bob}\nobjectClass: inetOrgPerson\ncn: bob.test\nsn: Bob\n"
    ));
    let der = issued_der(&server, &answer, "bob");
    let published = wait_until(
        Duration::from_secs(60),
        "the retried certificate in Bob's entry",
        || {
            let v = slapd.values(bob, "userCertificate;binary");
            (!v.is_empty()).then_some(v)
        },
    );
    assert_eq!(published, [der]);
    assert!(
        !server.log().contains(ROOT_PW),
        "the bind password is never logged"
    );
}

/// StartTLS with `ca_file`: slapd presents a certificate Signet issued (IP SAN 127.0.0.1)
/// and refuses simple binds without TLS, so a published certificate proves the module bound
/// over TLS and verified slapd against `ca_file`. `profiles` keeps slapd's own certificate
/// out of the directory.
#[test]
fn starttls_with_ca_file() {
    let port = free_port();
    let mut server = Server::init(&["--dev"]);
    with_user_profile(&server);
    let url = format!("ldap://127.0.0.1:{port}/");
    fs::write(server.data.join("ldap.pw"), format!("{ROOT_PW}\n")).unwrap();
    server.append_config(&format!(
        "[[ca.exit]]\nname = \"directory\"\nmodule = \"ldap\"\nurl = \"{url}\"\n\
         starttls = true\nca_file = \"{ca}\"\n\
         bind_dn = \"{ROOT_DN}\"\npassword_file = \"ldap.pw\"\ntimeout = \"5s\"\n\
         dn_template = \"cn={{common_name}},ou=people,dc=example,dc=test\"\n\
         profiles = [\"user\"]\n",
        ca = server.ca_cert_path().display()
    ));
    server.serve();

    // slapd's certificate, from Signet's `server` profile.
    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=ldap.test",
        &["DNS:ldap.test", "IP:127.0.0.1"],
    );
    let answer = server.submit(&csr, None);
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let cert = write_pem(
        &server.work,
        "slapd",
        answer["certificate"].as_str().expect("certificate"),
    );
    let key = csr.with_extension("key");
    let ca = server.ca_cert_path();
    let slapd = Slapd::start_with(
        port,
        Some(Tls {
            cert: &cert,
            key: &key,
            ca: &ca,
        }),
    );

    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=Alice Doe",
        &["email:alice@example.test"],
    );
    let answer = server.submit(&csr, Some("user"));
    assert_eq!(answer["status"], "issued", "{answer:#}");
    let der = issued_der(&server, &answer, "alice");
    let alice = "cn=Alice Doe,ou=people,dc=example,dc=test";
    let published = wait_until(
        DELIVERY_TIMEOUT,
        "the certificate in Alice's entry over StartTLS",
        || {
            let v = slapd.values(alice, "userCertificate;binary");
            (!v.is_empty()).then_some(v)
        },
    );
    assert_eq!(published, [der]);
}
