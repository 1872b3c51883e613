//! The HTTPS listener against a real client: fixtures come from the `openssl` command line
//! and requests from `curl`, so the test exercises the TLS stack the way deployments will
//! meet it rather than a client built from the same rustls code as the server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Extension};
use axum::routing::get;
use signet_server::tls::{PeerCertificates, TlsError, serve, server_config};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Runs a command and insists that it succeeds, showing its stderr otherwise.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A directory of certificates and keys made with the openssl command line.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read fixture")
    }

    fn openssl(&self, args: &[&str]) {
        run(Command::new("openssl")
            .current_dir(self.dir.path())
            .args(args));
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("write fixture");
    }

    /// A self-signed P-256 CA certificate `{name}.pem` with key `{name}.key`.
    fn ca(&self, name: &str) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let ext = format!("{name}.ext");
        let pem = format!("{name}.pem");
        let subject = format!("/CN=Signet test {name}");
        self.write(
            &ext,
            "basicConstraints=critical,CA:TRUE\n\
             keyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\n",
        );
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ]);
        self.openssl(&["req", "-new", "-key", &key, "-subj", &subject, "-out", &csr]);
        self.openssl(&[
            "x509", "-req", "-in", &csr, "-signkey", &key, "-extfile", &ext, "-days", "2",
            "-sha256", "-out", &pem,
        ]);
    }

    /// A P-256 end-entity certificate `{name}.pem` issued by `ca`, with key `{name}.key`.
    /// `ecparam` writes an "EC PARAMETERS" block and a SEC1 "EC PRIVATE KEY"; `genpkey`
    /// writes PKCS#8, so both key formats are exercised.
    fn leaf(&self, name: &str, ca: &str, subject: &str, extensions: &str, sec1: bool) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let ext = format!("{name}.ext");
        let pem = format!("{name}.pem");
        let ca_pem = format!("{ca}.pem");
        let ca_key = format!("{ca}.key");
        self.write(&ext, extensions);
        if sec1 {
            self.openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-out", &key]);
        } else {
            self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ]);
        }
        self.openssl(&["req", "-new", "-key", &key, "-subj", subject, "-out", &csr]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "0x2a",
            "-extfile",
            &ext,
            "-days",
            "1",
            "-sha256",
            "-out",
            &pem,
        ]);
    }

    /// The trusted CA, a server certificate for localhost, the client `alice`, and `mallory`
    /// whose certificate comes from a CA the server does not trust.
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        pki.ca("ca");
        pki.ca("rogue-ca");
        pki.leaf(
            "server",
            "ca",
            "/CN=localhost",
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\n\
             authorityKeyIdentifier=keyid\n",
            true,
        );
        let client_ext = "basicConstraints=CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n\
                          authorityKeyIdentifier=keyid\n";
        pki.leaf("alice", "ca", "/CN=alice", client_ext, false);
        pki.leaf("mallory", "rogue-ca", "/CN=mallory", client_ext, false);
        pki
    }

    fn config(&self) -> Arc<rustls::ServerConfig> {
        server_config(
            &self.read("server.pem"),
            &self.read("server.key"),
            &self.read("ca.pem"),
        )
        .expect("server config")
    }

    fn der(&self, name: &str) -> Vec<u8> {
        signet_x509::pem::decode(&self.read(name))
            .expect("decode PEM fixture")
            .1
    }
}

/// Runs curl against `https://localhost:{port}{path}` on a blocking thread, optionally with
/// a client certificate (`name.pem` / `name.key`).
async fn curl(pki_dir: &Path, port: u16, path: &str, client: Option<&str>) -> Output {
    let mut cmd = Command::new("/usr/bin/curl");
    cmd.current_dir(pki_dir)
        .args(["--silent", "--show-error", "--fail", "--noproxy", "*"])
        .args(["--max-time", "20", "--cacert", "ca.pem", "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"));
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(format!("{name}.pem"))
            .arg("--key")
            .arg(format!("{name}.key"));
    }
    cmd.arg(format!("https://localhost:{port}{path}"));
    tokio::task::spawn_blocking(move || cmd.output().expect("run curl"))
        .await
        .expect("curl thread")
}

fn body(out: &Output) -> String {
    assert!(
        out.status.success(),
        "curl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 body")
}

/// Tells which certificate, if any, the request came with, without parsing it.
async fn who(peer: Option<Extension<PeerCertificates>>) -> String {
    match peer {
        Some(Extension(PeerCertificates(chain))) => format!("cert:{} bytes", chain[0].len()),
        None => "none".to_owned(),
    }
}

async fn addr(ConnectInfo(remote): ConnectInfo<SocketAddr>) -> String {
    remote.ip().to_string()
}

/// A running `serve`: its port, the trigger for shutdown, and its task.
struct Server {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(config: Arc<rustls::ServerConfig>, app: Router, drain: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(listener, config, app, shutdown, drain));
        Server {
            port,
            stop: Some(stop),
            task,
        }
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).expect("server still running");
        }
    }

    /// Waits for `serve` to return, failing the test if it takes longer than `limit`.
    async fn finished(self, limit: Duration) {
        tokio::time::timeout(limit, self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task")
            .expect("serve result");
    }
}

/// Waits for `fut` with a generous bound so a hung server fails the test instead of the CI job.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("timed out")
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_optional_and_verified() {
    let pki = Pki::new();
    let app = Router::new().route("/", get(who)).route("/addr", get(addr));
    let mut server = Server::start(pki.config(), app, Duration::from_secs(5)).await;
    let port = server.port;
    let dir = pki.dir.path();

    // A client speaking plain HTTP to the TLS port fails its handshake; the loop goes on.
    let mut plain = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");

    // A client that connects and never starts the handshake must not block anyone.
    let _silent = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");

    let none = bounded(curl(dir, port, "/", None)).await;
    assert_eq!(body(&none), "none");

    let alice = bounded(curl(dir, port, "/", Some("alice"))).await;
    let alice_len = pki.der("alice.pem").len();
    assert_eq!(body(&alice), format!("cert:{alice_len} bytes"));

    let mallory = bounded(curl(dir, port, "/", Some("mallory"))).await;
    assert!(
        !mallory.status.success(),
        "a certificate from an untrusted CA must fail, got {:?}",
        String::from_utf8_lossy(&mallory.stdout)
    );
    assert!(
        mallory.stdout.is_empty(),
        "no response body for an untrusted certificate"
    );

    // The failed handshake did not stop the accept loop.
    let again = bounded(curl(dir, port, "/", Some("alice"))).await;
    assert_eq!(body(&again), format!("cert:{alice_len} bytes"));

    let remote = bounded(curl(dir, port, "/addr", None)).await;
    assert_eq!(body(&remote), "127.0.0.1");

    // The silent connection is still in its handshake; shutdown drops it instead of
    // waiting out the drain time.
    let started = Instant::now();
    server.shutdown();
    server.finished(Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));

    // The listening socket is closed once serve has returned.
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_a_request_in_flight_finish() {
    let pki = Pki::new();
    let entered = Arc::new(Notify::new());
    let app = Router::new().route(
        "/slow",
        get({
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow done"
            }
        }),
    );
    let mut server = Server::start(pki.config(), app, Duration::from_secs(10)).await;
    let port = server.port;
    let dir = pki.dir.path().to_owned();

    let request = tokio::spawn(async move { curl(&dir, port, "/slow", Some("alice")).await });
    bounded(entered.notified()).await;
    server.shutdown();

    let out = bounded(request).await.expect("curl task");
    assert_eq!(body(&out), "slow done");
    server.finished(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_time_bounds_shutdown() {
    let pki = Pki::new();
    let entered = Arc::new(Notify::new());
    let app = Router::new().route(
        "/hang",
        get({
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                std::future::pending::<()>().await;
                "unreachable"
            }
        }),
    );
    let drain = Duration::from_millis(500);
    let mut server = Server::start(pki.config(), app, drain).await;
    let port = server.port;
    let dir = pki.dir.path().to_owned();

    let request = tokio::spawn(async move { curl(&dir, port, "/hang", None).await });
    bounded(entered.notified()).await;
    let started = Instant::now();
    server.shutdown();
    server.finished(Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(
        took >= drain && took < Duration::from_secs(3),
        "serve returned after {took:?}, drain is {drain:?}"
    );

    // The connection was closed under the client, which therefore fails.
    let out = bounded(request).await.expect("curl task");
    assert!(!out.status.success());
}

#[test]
fn configuration_errors_name_the_input() {
    let pki = Pki::new();
    let chain = pki.read("server.pem");
    let key = pki.read("server.key");
    let roots = pki.read("ca.pem");

    // The server chain may carry intermediates and several client roots may be trusted.
    let mut chain_with_ca = chain.clone();
    chain_with_ca.extend_from_slice(&roots);
    let mut two_roots = roots.clone();
    two_roots.extend_from_slice(&pki.read("rogue-ca.pem"));
    server_config(&chain_with_ca, &key, &two_roots).expect("chain and several roots");

    // A PKCS#8 key works as well as the SEC1 one the server has.
    server_config(&pki.read("alice.pem"), &pki.read("alice.key"), &roots).expect("PKCS#8 key");

    // An RSA server key in the traditional PKCS#1 form.
    pki.openssl(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    pki.openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "rsa.key",
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
        "-out",
        "rsa.pem",
    ]);
    assert!(
        String::from_utf8_lossy(&pki.read("rsa.key")).contains("BEGIN RSA PRIVATE KEY"),
        "openssl wrote PKCS#1"
    );
    server_config(&pki.read("rsa.pem"), &pki.read("rsa.key"), &roots).expect("PKCS#1 key");

    let err = server_config(&chain, &pki.read("alice.key"), &roots).expect_err("wrong key");
    assert!(matches!(err, TlsError::ServerKey(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("server certificate and private key")
    );

    let err = server_config(&chain, &key, b"").expect_err("no roots");
    assert!(
        matches!(
            err,
            TlsError::NoCertificates {
                what: "client CA certificates"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("client CA certificates"), "{err}");

    let err = server_config(&key, &key, &roots).expect_err("key as chain");
    assert!(
        err.to_string().contains("server certificate chain"),
        "{err}"
    );

    let err = server_config(&chain, &chain, &roots).expect_err("cert as key");
    assert!(matches!(err, TlsError::NoPrivateKey), "{err:?}");

    let err = server_config(&chain, b"-----BEGIN CERTIFICATE-----\nAAAA\n", &roots)
        .expect_err("broken PEM");
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    assert!(err.to_string().contains("server private key"), "{err}");

    pki.openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        "alice.key",
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:secret",
        "-out",
        "alice-encrypted.key",
    ]);
    let err =
        server_config(&chain, &pki.read("alice-encrypted.key"), &roots).expect_err("encrypted key");
    assert!(matches!(err, TlsError::EncryptedPrivateKey), "{err:?}");

    let mut two_keys = key.clone();
    two_keys.extend_from_slice(&pki.read("alice.key"));
    let err = server_config(&chain, &two_keys, &roots).expect_err("two keys");
    assert!(matches!(err, TlsError::MultiplePrivateKeys(2)), "{err:?}");
}
