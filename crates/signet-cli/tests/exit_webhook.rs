//! The `webhook` exit module against a receiver we did not write the HMAC for: a Python
//! `http.server` script that checks `Signet-Signature` with Python's own `hmac` module,
//! rejects stale timestamps, and records every attempt and every accepted event.
//!
//! # Layout
//! - [`Receiver`]: the Python receiver (plain HTTP or HTTPS, optionally requiring a client
//!   certificate), its control file (answer 500 N times) and its records.
//! - [`TestPki`]: an openssl-made CA, server and client certificate for the HTTPS test.
//! - Tests: issue/deny/revoke, retries (500 and a wrong secret), HTTPS with mutual TLS, and
//!   delivery across a SIGKILL while the receiver is down.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{DELIVERY_TIMEOUT, Server, event_files, openssl_csr, run_program, wait_until};

const SECRET: &str = "correct horse battery staple 0123456789";

/// The receiver. Arguments: state dir, port (0: any), then optionally cert, key, client CA.
/// Writes `port` once listening; appends each attempt to `attempts.jsonl` and each accepted
/// event to `events.jsonl`; answers 500 while `fail` (a number in a file) is above zero.
const RECEIVER_PY: &str = r#"
import hashlib, hmac, http.server, json, os, ssl, sys, time

state, port = sys.argv[1], int(sys.argv[2])
tls = sys.argv[3:6]

def append(name, record):
    with open(os.path.join(state, name), "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ts = self.headers.get("Signet-Timestamp", "")
        sig = self.headers.get("Signet-Signature", "")
        with open(os.path.join(state, "secret"), "rb") as f:
            secret = f.read().strip()
        expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        valid = hmac.compare_digest(expected, sig) and fresh
        event = json.loads(body)
        status = 200 if valid else 401
        fail_path = os.path.join(state, "fail")
        if valid and os.path.exists(fail_path):
            n = int(open(fail_path).read() or "0")
            if n > 0:
                open(fail_path, "w").write(str(n - 1))
                status = 500
        append("attempts.jsonl", {"seq": event.get("seq"), "valid": valid, "status": status,
                                  "idempotency_key": self.headers.get("Idempotency-Key"),
                                  "event_header": self.headers.get("Signet-Event")})
        if status == 200:
            append("events.jsonl", event)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(tls[2])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(os.path.join(state, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
server.serve_forever()
"#;

/// A running (or stopped) Python receiver.
struct Receiver {
    dir: PathBuf,
    port: u16,
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    child: Option<Child>,
}

impl Receiver {
    /// Starts a receiver in `dir` that accepts `secret`.
    fn start(dir: &Path, secret: &str, tls: Option<(PathBuf, PathBuf, PathBuf)>) -> Receiver {
        fs::create_dir_all(dir).expect("receiver dir");
        fs::write(dir.join("receiver.py"), RECEIVER_PY).expect("writing receiver.py");
        fs::write(dir.join("secret"), format!("{secret}\n")).expect("receiver secret");
        let mut r = Receiver {
            dir: dir.to_path_buf(),
            port: 0,
            tls,
            child: None,
        };
        r.run();
        r
    }

    /// (Re)starts the process on the same port (any port the first time).
    fn run(&mut self) {
        let _ = fs::remove_file(self.dir.join("port"));
        let mut cmd = Command::new("python3");
        cmd.arg(self.dir.join("receiver.py"))
            .arg(&self.dir)
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some((cert, key, ca)) = &self.tls {
            cmd.args([cert, key, ca]);
        }
        let child = cmd.spawn().expect("starting python3 receiver.py");
        self.child = Some(child);
        let port_file = self.dir.join("port");
        self.port = wait_until(Duration::from_secs(20), "the receiver's port file", || {
            fs::read_to_string(&port_file).ok()?.trim().parse().ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/hook", self.port)
    }

    /// Answer 500 to the next `n` correctly signed attempts.
    fn fail_next(&self, n: u32) {
        fs::write(self.dir.join("fail"), n.to_string()).expect("fail file");
    }

    fn set_secret(&self, secret: &str) {
        fs::write(self.dir.join("secret"), format!("{secret}\n")).expect("receiver secret");
    }

    fn lines(&self, name: &str) -> Vec<serde_json::Value> {
        fs::read_to_string(self.dir.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Accepted (validly signed, answered 200) events.
    fn events(&self) -> Vec<serde_json::Value> {
        self.lines("events.jsonl")
    }

    fn attempts(&self) -> Vec<serde_json::Value> {
        self.lines("attempts.jsonl")
    }

    /// Waits for an accepted event of kind `event` for request `id`.
    fn wait_for(&self, event: &str, id: i64) -> serde_json::Value {
        wait_until(
            DELIVERY_TIMEOUT,
            &format!("a valid {event} for request {id} at the receiver"),
            || {
                self.events()
                    .into_iter()
                    .find(|e| e["event"] == event && e["request"]["id"] == id)
            },
        )
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// signet.toml lines for a webhook exit; the secret file goes into the data directory.
fn webhook_exit(server: &Server, name: &str, url: &str, events: &str, extra: &str) -> String {
    fs::write(
        server.data.join(format!("{name}.secret")),
        format!("{SECRET}\n"),
    )
    .expect("writing the secret file");
    format!(
        "[[ca.exit]]\nname = \"{name}\"\nmodule = \"webhook\"\nurl = \"{url}\"\n\
         secret_file = \"{name}.secret\"\nevents = {events}\ntimeout = \"5s\"\n{extra}\n"
    )
}

fn manager(server: &Server) -> String {
    server.create_token(&["manager"], "mgr")
}

fn revoke(server: &Server, token: &str, serial: &str) {
    let r = server.call(
        Some(token),
        "POST",
        &format!("/api/v1/cas/{}/certificates/{serial}/revoke", server.ca),
        Some(&serde_json::json!({ "reason": "keyCompromise" })),
    );
    assert_eq!(r.status, 200, "revoking {serial}: {r}");
}

fn id(v: &serde_json::Value) -> i64 {
    v["id"].as_i64().expect("request id")
}

#[test]
fn issued_denied_revoked_arrive_signed() {
    let mut server = Server::init(&["--dev"]);
    let rx = Receiver::start(&server.work.join("rx"), SECRET, None);
    server.append_config(&webhook_exit(
        &server,
        "hook",
        &rx.url("http"),
        "[\"Issued\", \"Denied\", \"Revoked\"]",
        "",
    ));
    server.serve();

    let issued = server.issue("hook.test");
    let serial = issued["serial"].as_str().expect("serial").to_string();
    let ev = rx.wait_for("Issued", id(&issued));
    assert_eq!(ev["ca"], "demo", "{ev:#}");
    assert_eq!(ev["config"], "localhost/demo", "{ev:#}");
    let seq = ev["seq"].as_u64().expect("seq");
    assert_eq!(ev["idempotency_key"], format!("demo:{seq}"), "{ev:#}");
    assert_eq!(ev["request"]["status"], "issued", "{ev:#}");
    assert_eq!(ev["request"]["requester"], "tester", "{ev:#}");
    assert!(
        ev["request"]["subject"]
            .as_str()
            .is_some_and(|s| s.contains("hook.test")),
        "{ev:#}"
    );
    assert_eq!(ev["certificate"]["serial"], serial.as_str(), "{ev:#}");
    assert!(
        ev["certificate"]["sans"].to_string().contains("hook.test"),
        "{ev:#}"
    );
    let (nb, na) = (
        ev["certificate"]["not_before"]
            .as_u64()
            .expect("not_before"),
        ev["certificate"]["not_after"].as_u64().expect("not_after"),
    );
    assert!(nb > 1_600_000_000 && na > nb, "{ev:#}");
    assert_eq!(
        ev["certificate"]["pem"].as_str().map(str::trim),
        issued["certificate"].as_str().map(str::trim),
        "the PEM in the event is the issued certificate"
    );

    let csr = openssl_csr(&server.work, "p256", "/CN=denied.example.org", &[]);
    let denied = server.submit(&csr, None);
    assert_eq!(denied["status"], "denied", "{denied:#}");
    let ev = rx.wait_for("Denied", id(&denied));
    assert!(
        ev["request"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("denied.example.org")),
        "{ev:#}"
    );
    assert!(ev["certificate"].is_null(), "{ev:#}");

    let mgr = manager(&server);
    revoke(&server, &mgr, &serial);
    let ev = rx.wait_for("Revoked", id(&issued));
    assert_eq!(ev["certificate"]["serial"], serial.as_str(), "{ev:#}");
    assert!(
        ev["certificate"].get("pem").is_none(),
        "only Issued carries the PEM: {ev:#}"
    );

    server.stop_ok();
    let attempts = rx.attempts();
    assert!(
        attempts.iter().all(|a| a["valid"] == true),
        "every attempt was signed with the shared secret: {attempts:#?}"
    );
    assert!(
        attempts
            .iter()
            .all(|a| a["idempotency_key"] == format!("demo:{}", a["seq"])
                && a["event_header"].is_string()),
        "{attempts:#?}"
    );
    assert!(
        !server.log().contains(SECRET),
        "the secret never reaches the log"
    );
}

#[test]
fn failed_deliveries_are_retried() {
    let mut server = Server::init(&["--dev"]);
    let rx = Receiver::start(&server.work.join("rx"), SECRET, None);
    server.append_config(&webhook_exit(
        &server,
        "hook",
        &rx.url("http"),
        "[\"Issued\"]",
        "",
    ));
    rx.fail_next(3);
    server.serve();

    // 500: the first three attempts fail, the fourth is accepted. (The CA's own OCSP
    // responder certificate, issued at start, may take some of the failures.)
    let issued = server.issue("retry.test");
    let ev = rx.wait_for("Issued", id(&issued));
    let seq = ev["seq"].as_u64().expect("seq");
    let statuses: Vec<u64> = rx
        .attempts()
        .iter()
        .map(|a| a["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(
        statuses[..3],
        [500, 500, 500],
        "the receiver answered 500 three times: {statuses:?}"
    );
    assert!(
        statuses.len() >= 4 && statuses.last() == Some(&200),
        "{statuses:?}"
    );

    // A receiver with another secret rejects the signature (401); signet retries until the
    // receiver has the right secret again.
    rx.set_secret("a different secret, not signet's");
    let issued = server.issue("secret.test");
    let rejected = wait_until(DELIVERY_TIMEOUT, "a rejected signature", || {
        rx.attempts()
            .into_iter()
            .find(|a| a["valid"] == false && a["seq"].as_u64() > Some(seq))
    });
    assert_eq!(rejected["status"], 401, "{rejected:#}");
    wait_until(DELIVERY_TIMEOUT, "the failure metric", || {
        server
            .metric("signet_exit_delivery_failures_total")
            .filter(|n| *n >= 4.0)
    });
    assert!(
        !rx.events()
            .iter()
            .any(|e| e["request"]["id"] == id(&issued)),
        "nothing is accepted while the secrets differ"
    );
    rx.set_secret(SECRET);
    let ev = rx.wait_for("Issued", id(&issued));
    assert_eq!(
        ev["seq"], rejected["seq"],
        "the rejected event is the one redelivered"
    );
    server.stop_ok();
}

/// An openssl-made CA with a server certificate for 127.0.0.1 and a client certificate.
struct TestPki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn openssl(args: &[&str]) {
    let run = run_program("openssl", args);
    assert_eq!(run.code, 0, "{run}");
}

fn test_pki(dir: &Path) -> TestPki {
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
        "/CN=Test Hook CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    for (who, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        fs::write(dir.join(format!("{who}.ext")), ext).expect("ext file");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&format!("{who}.key")),
            "-out",
            &p(&format!("{who}.csr")),
            "-subj",
            &format!("/CN={who}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p(&format!("{who}.csr")),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p(&format!("{who}.ext")),
            "-out",
            &p(&format!("{who}.pem")),
        ]);
    }
    TestPki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

#[test]
fn https_with_client_certificate() {
    let mut server = Server::init(&["--dev"]);
    let pki = test_pki(&server.work.join("pki"));
    let rx = Receiver::start(
        &server.work.join("rx"),
        SECRET,
        Some((
            pki.server_cert.clone(),
            pki.server_key.clone(),
            pki.ca.clone(),
        )),
    );
    let extra = format!(
        "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    server.append_config(&webhook_exit(
        &server,
        "tls",
        &rx.url("https"),
        "[\"Issued\"]",
        &extra,
    ));
    // A second exit to the same receiver without a client certificate: the receiver refuses
    // its handshakes, so it never delivers.
    server.append_config(&webhook_exit(
        &server,
        "anon",
        &rx.url("https"),
        "[\"Issued\"]",
        &format!("ca_file = \"{}\"\n", pki.ca.display()),
    ));
    server.serve();
    let issued = server.issue("tls.test");
    let ev = rx.wait_for("Issued", id(&issued));
    assert_eq!(
        ev["certificate"]["pem"].as_str().map(str::trim),
        issued["certificate"].as_str().map(str::trim)
    );
    wait_until(DELIVERY_TIMEOUT, "the anonymous exit to fail", || {
        server
            .log()
            .lines()
            .find(|l| l.contains("exit delivery failed") && l.contains("anon"))
            .map(str::to_string)
    });
    let keys: Vec<String> = rx
        .events()
        .iter()
        .map(|e| e["idempotency_key"].as_str().unwrap_or("").to_string())
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "only the exit with a client certificate delivered: {keys:?}"
    );
    // The anonymous exit is still failing; a crash is as good as a stop here.
    server.kill();
}

/// The durability test of issue 6: with the receiver down, requests are submitted and the
/// server is SIGKILLed; after the receiver and the server are back, every event the
/// webhook's mask covers (every outbox seq, as a `file` exit with the same mask records
/// them) arrives at least once.
#[test]
fn every_event_arrives_after_sigkill() {
    let mask = "[\"Issued\", \"Pending\", \"Denied\", \"Revoked\"]";
    let mut server = Server::init(&["--dev"]);
    let mut rx = Receiver::start(&server.work.join("rx"), SECRET, None);
    server.append_config(&webhook_exit(&server, "hook", &rx.url("http"), mask, ""));
    server.append_config(&format!(
        "[[ca.exit]]\nname = \"oracle\"\nmodule = \"file\"\ndirectory = \"exits/oracle\"\nevents = {mask}\n"
    ));
    server.serve();
    rx.stop();

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id(&server.issue(&format!("down{i}.test"))));
    }
    let csr = openssl_csr(&server.work, "p256", "/CN=denied.example.org", &[]);
    ids.push(id(&server.submit(&csr, None)));
    let csr = openssl_csr(&server.work, "p256", "/CN=pending.test", &[]);
    let pending = server.submit(&csr, Some("manual"));
    assert_eq!(pending["status"], "pending", "{pending:#}");
    ids.push(id(&pending));
    let issued = server.issue("revoked.test");
    ids.push(id(&issued));
    let mgr = manager(&server);
    revoke(&server, &mgr, issued["serial"].as_str().expect("serial"));
    // Kill once every event is in the outbox and the oracle has it (so the events exist);
    // the webhook cannot have delivered them, its receiver is down.
    let oracle = server.data.join("exits/oracle");
    let recorded = |ids: &[i64]| {
        let files = event_files(&oracle);
        let seen: BTreeSet<i64> = files
            .iter()
            .filter_map(|f| f.json()["request"]["id"].as_i64())
            .collect();
        ids.iter()
            .all(|i| seen.contains(i))
            .then(|| files.iter().map(|f| f.seq).collect::<BTreeSet<u64>>())
    };
    wait_until(DELIVERY_TIMEOUT, "the oracle's records", || recorded(&ids));
    server.kill();

    rx.run();
    server.serve();
    // Every request event and the Revoked one (and the responder certificates the CA issues
    // itself) are in the oracle...
    let expected: BTreeSet<u64> = wait_until(DELIVERY_TIMEOUT, "the oracle's records", || {
        recorded(&ids).filter(|seqs| seqs.len() > ids.len() + 1)
    });
    // ...and every seq the oracle saw reaches the webhook receiver.
    wait_until(DELIVERY_TIMEOUT, "every seq at the receiver", || {
        let got: BTreeSet<u64> = rx
            .events()
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        expected.is_subset(&got).then_some(())
    });
    server.stop_ok();
    let got: Vec<u64> = rx
        .events()
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    let all: BTreeSet<u64> = event_files(&oracle).iter().map(|f| f.seq).collect();
    let missing: Vec<&u64> = all.iter().filter(|s| !got.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "seqs never delivered: {missing:?} (got {got:?})"
    );
    assert!(
        expected.len() > ids.len() + 1,
        "Issued x4, Denied, Pending, Revoked and the responder certificate: {expected:?}"
    );
}
