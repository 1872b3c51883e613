//! The `smtp` exit module against a real SMTP server we did not write: an `aiosmtpd` sink
//! (PyPI, installed into the test venv by scripts/test.sh) on loopback that records every
//! mail it accepts, parsed with Python's `email` package.
//!
//! # Layout
//! - [`Sink`]: the aiosmtpd sink (plain, or with `require_starttls` and an openssl-made
//!   certificate) and its records.
//! - Tests: recipients (e-mail SAN, attribute, `to`), the manager notice on Pending,
//!   placeholders, no-recipient events; STARTTLS with `ca_file`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{DELIVERY_TIMEOUT, Server, openssl_csr, run_program, wait_until, workspace_root};

/// Arguments: state dir, then optionally cert and key (STARTTLS required). Writes `port`,
/// appends each accepted mail to `mails.jsonl`.
const SINK_PY: &str = r#"
import asyncio, email, email.policy, json, os, ssl, sys
from aiosmtpd.smtp import SMTP

state = sys.argv[1]
tls = sys.argv[2:4]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": sorted(envelope.rcpt_tos),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "body": msg.get_content(),
            "tls": session.ssl is not None,
        }
        with open(os.path.join(state, "mails.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"

async def main():
    ctx = None
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls[0], tls[1])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="sink.test", tls_context=ctx,
                     require_starttls=ctx is not None),
        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(state, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
    await server.serve_forever()

asyncio.run(main())
"#;

/// The venv python with aiosmtpd: $SIGNET_PYTHON, else `<workspace>/.venv/bin/python`.
/// Fails (never skips) when aiosmtpd is missing.
fn python() -> PathBuf {
    let py = std::env::var_os("SIGNET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let run = run_program(py.to_str().expect("UTF-8 path"), &["-c", "import aiosmtpd"]);
    assert_eq!(
        run.code,
        0,
        "aiosmtpd is not importable with {} (SIGNET_PYTHON={:?}): run scripts/test.sh, which \
         installs it into .venv and exports SIGNET_PYTHON\n{run}",
        py.display(),
        std::env::var_os("SIGNET_PYTHON")
    );
    py
}

struct Sink {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Sink {
    fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> Sink {
        fs::create_dir_all(dir).expect("sink dir");
        fs::write(dir.join("sink.py"), SINK_PY).expect("writing sink.py");
        // The sink's log (e.g. the refused handshakes of the wrong-CA test) stays in its dir.
        let log = fs::File::create(dir.join("sink.log")).expect("sink.log");
        let mut cmd = Command::new(python());
        cmd.arg(dir.join("sink.py"))
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((cert, key)) = tls {
            cmd.args([cert, key]);
        }
        let child = cmd.spawn().expect("starting the aiosmtpd sink");
        let port_file = dir.join("port");
        let port = wait_until(Duration::from_secs(20), "the sink's port file", || {
            fs::read_to_string(&port_file).ok()?.trim().parse().ok()
        });
        Sink {
            dir: dir.to_path_buf(),
            port,
            child,
        }
    }

    fn mails(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.dir.join("mails.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits for a mail whose subject contains `needle`.
    fn wait_for(&self, needle: &str) -> serde_json::Value {
        wait_until(
            DELIVERY_TIMEOUT,
            &format!("a mail with {needle:?} in its subject"),
            || {
                self.mails()
                    .into_iter()
                    .find(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
            },
        )
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rcpts(mail: &serde_json::Value) -> Vec<String> {
    mail["rcpt_tos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn submit_with(
    server: &Server,
    csr: &Path,
    profile: Option<&str>,
    attributes: serde_json::Value,
) -> serde_json::Value {
    let pem = fs::read_to_string(csr).expect("reading the CSR");
    let mut body = serde_json::json!({ "csr": pem, "attributes": attributes });
    if let Some(p) = profile {
        body["profile"] = p.into();
    }
    let resp = server.post_json(&format!("/api/v1/cas/{}/requests", server.ca), &body);
    assert_eq!(resp.status, 201, "{resp}");
    resp.json()
}

/// Lets the `server` profile issue e-mail SANs in example.org.
fn allow_email_sans(server: &Server) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).expect("signet.toml");
    assert!(text.contains("email_domains = []"), "the template changed");
    fs::write(
        &path,
        text.replace("email_domains = []", "email_domains = [\"example.org\"]"),
    )
    .expect("writing signet.toml");
}

#[test]
fn mails_go_to_request_and_configured_recipients() {
    let mut server = Server::init(&["--dev"]);
    allow_email_sans(&server);
    let sink = Sink::start(&server.work.join("sink"), None);
    server.append_config(&format!(
        r#"[[ca.exit]]
name = "mail"
module = "smtp"
server = "127.0.0.1"
port = {port}
tls = "none"
timeout = "5s"
from = "Signet CA <ca@example.org>"
to = ["audit@example.org"]
managers = ["boss@example.org", "deputy@example.org"]
recipient_attribute = "notify"

[ca.exit.templates.Issued]
subject = "Issued {{serial}} to {{requester}} (request {{request_id}})"
body = "CA {{ca}}: {{subject}} valid until {{not_after}}; names {{sans}}."

[[ca.exit]]
name = "quiet"
module = "smtp"
server = "127.0.0.1"
port = {port}
tls = "none"
from = "quiet@example.org"
email_sans = false
events = ["Denied"]
"#,
        port = sink.port
    ));
    server.serve();

    // Issued: the e-mail SAN, the attribute and `to`; a custom template.
    let csr = openssl_csr(
        &server.work,
        "p256",
        "/CN=mail.test",
        &["DNS:mail.test", "email:alice@example.org"],
    );
    let issued = submit_with(
        &server,
        &csr,
        None,
        serde_json::json!({ "notify": "bob@example.org" }),
    );
    assert_eq!(issued["status"], "issued", "{issued:#}");
    let serial = issued["serial"].as_str().expect("serial");
    let id = issued["id"].as_i64().expect("id");
    let mail = sink.wait_for(&format!("Issued {serial}"));
    assert_eq!(
        mail["subject"],
        format!("Issued {serial} to tester (request {id})"),
        "{mail:#}"
    );
    assert_eq!(
        rcpts(&mail),
        ["alice@example.org", "audit@example.org", "bob@example.org"],
        "{mail:#}"
    );
    assert_eq!(mail["mail_from"], "ca@example.org", "{mail:#}");
    let body = mail["body"].as_str().expect("body");
    assert!(
        body.starts_with("CA demo: CN=mail.test valid until 20"),
        "{body}"
    );
    let pem = common::write_pem(
        &server.work,
        "issued",
        issued["certificate"].as_str().expect("certificate"),
    );
    // openssl prints `2027-12-02 00:00:00Z`; the module writes RFC 3339.
    let iso = common::cert_date(&pem, "enddate").replace(' ', "T");
    assert!(
        body.contains(&format!("valid until {iso};")),
        "{body} vs {iso}"
    );
    assert!(body.contains("email:alice@example.org"), "{body}");

    // Pending: the requester (attribute) and `to` get the built-in notice, the managers
    // the approval request.
    let csr = openssl_csr(&server.work, "p256", "/CN=pending.test", &[]);
    let pending = submit_with(
        &server,
        &csr,
        Some("manual"),
        serde_json::json!({ "notify": "carol@example.org" }),
    );
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let pid = pending["id"].as_i64().expect("id");
    let mail = sink.wait_for(&format!("Certificate request {pid} is pending"));
    assert_eq!(
        mail["subject"],
        format!("[demo] Certificate request {pid} is pending")
    );
    assert_eq!(
        rcpts(&mail),
        ["audit@example.org", "carol@example.org"],
        "{mail:#}"
    );
    let notice = sink.wait_for(&format!("Request {pid} needs approval"));
    assert_eq!(
        rcpts(&notice),
        ["boss@example.org", "deputy@example.org"],
        "{notice:#}"
    );
    let body = notice["body"].as_str().expect("body");
    assert!(
        body.contains(&format!("signet admin approve {pid}")) && body.contains("from tester"),
        "{body}"
    );

    // Denied: no address in the request, so `to` only; the reason is in the body. The
    // `quiet` exit has no recipient at all: it acknowledges without mail.
    let csr = openssl_csr(&server.work, "p256", "/CN=denied.example.org", &[]);
    let denied = submit_with(&server, &csr, None, serde_json::json!({}));
    assert_eq!(denied["status"], "denied", "{denied:#}");
    let did = denied["id"].as_i64().expect("id");
    let mail = sink.wait_for(&format!("Certificate request {did} was denied"));
    assert_eq!(rcpts(&mail), ["audit@example.org"], "{mail:#}");
    assert!(
        mail["body"]
            .as_str()
            .is_some_and(|b| b.contains("Reason: ") && b.contains("denied.example.org")),
        "{mail:#}"
    );

    // An address with a line break from the request never reaches a header.
    let csr = openssl_csr(&server.work, "p256", "/CN=inject.test", &[]);
    let sneaky = submit_with(
        &server,
        &csr,
        None,
        serde_json::json!({ "notify": "eve@example.org\r\nBcc: mallory@example.org" }),
    );
    let sid = sneaky["id"].as_i64().expect("id");
    let mail = sink.wait_for(&format!("(request {sid})"));
    assert_eq!(rcpts(&mail), ["audit@example.org"], "{mail:#}");

    wait_until(DELIVERY_TIMEOUT, "signet_outbox_lag{ca=\"demo\"} 0", || {
        server
            .metric("signet_outbox_lag{ca=\"demo\"}")
            .filter(|l| *l == 0.0)
    });
    server.stop_ok();
    let mails = sink.mails();
    assert!(
        mails.iter().all(|m| m["mail_from"] != "quiet@example.org"),
        "the exit without recipients sent nothing: {mails:#?}"
    );
    assert!(
        mails
            .iter()
            .all(|m| !rcpts(m).iter().any(|r| r.contains("mallory"))),
        "{mails:#?}"
    );
    assert!(
        mails
            .iter()
            .all(|m| !m["body"].as_str().unwrap_or("").contains("OCSP Responder")),
        "the CA's own responder certificate is not mailed to `to`: {mails:#?}"
    );
}

fn openssl(args: &[&str]) {
    let run = run_program("openssl", args);
    assert_eq!(run.code, 0, "{run}");
}

/// An openssl-made CA (`ca.pem`) and a server certificate for 127.0.0.1.
fn server_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    fs::create_dir_all(dir).expect("pki dir");
    let p = |n: &str| dir.join(n).display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=Test Mail CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
        "-subj",
        "/CN=sink",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("server.pem"),
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn starttls_with_ca_file() {
    let mut server = Server::init(&["--dev"]);
    let (ca, cert, key) = server_cert(&server.work.join("pki"));
    let sink = Sink::start(&server.work.join("sink"), Some((&cert, &key)));
    let exit = |name: &str, ca_file: &Path| {
        format!(
            "[[ca.exit]]\nname = \"{name}\"\nmodule = \"smtp\"\nserver = \"127.0.0.1\"\n\
             port = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout = \"5s\"\n\
             from = \"{name}@example.org\"\nto = [\"audit@example.org\"]\nevents = [\"Issued\"]\n",
            sink.port,
            ca_file.display()
        )
    };
    server.append_config(&exit("secure", &ca));
    // Trusting another CA (Signet's own), the module must refuse the sink's certificate.
    let wrong = server.ca_cert_path();
    server.append_config(&exit("wrongca", &wrong));
    server.serve();
    let issued = server.issue("tls-mail.test");
    let cn = "CN=tls-mail.test";
    let mail = wait_until(DELIVERY_TIMEOUT, "the STARTTLS mail", || {
        sink.mails()
            .into_iter()
            .find(|m| m["subject"].as_str().is_some_and(|s| s.contains(cn)))
    });
    assert_eq!(mail["tls"], true, "the mail came over STARTTLS: {mail:#}");
    assert_eq!(mail["mail_from"], "secure@example.org", "{mail:#}");
    assert!(
        mail["body"]
            .as_str()
            .is_some_and(|b| b.contains(issued["serial"].as_str().expect("serial"))),
        "{mail:#}"
    );
    wait_until(DELIVERY_TIMEOUT, "the wrong-CA exit to fail", || {
        server
            .log()
            .lines()
            .find(|l| l.contains("exit delivery failed") && l.contains("wrongca"))
            .map(str::to_string)
    });
    assert!(
        sink.mails()
            .iter()
            .all(|m| m["mail_from"] != "wrongca@example.org"),
        "nothing is sent to a server whose certificate is not trusted"
    );
    server.kill();
}
