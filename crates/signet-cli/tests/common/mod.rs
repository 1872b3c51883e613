//! The integration test harness (atuin's `tests/common` style): each test gets its own
//! temporary data directory, runs the real `signet` binary (`signet init`, then
//! `signet serve --listen 127.0.0.1:0`), reads the one stdout line that names the port, and
//! talks to it over plain HTTP/1.1 with the tiny blocking client below. Certificates are
//! checked with oracles we did not write: `openssl` and pkilint.
//!
//! Nothing here sleeps to make an assertion true: waits are polls with a deadline, and a
//! server left running by a failing test is stopped by `Drop` (SIGTERM, then SIGKILL).
//!
//! # Layout
//! - [`Server`]: init, serve, stop (SIGTERM), kill (SIGKILL), restart, CLI and HTTP helpers.
//! - [`http`] and [`Response`]: the HTTP/1.1 client over `std::net::TcpStream`.
//! - `openssl_*`: CSR generation and certificate inspection with the `openssl` CLI.
//! - [`pkilint`]: `lint_pkix_cert`, failing on ERROR/CRITICAL/FATAL findings.
//! - [`wait_until`], [`event_files`]: polling helpers for asynchronous exit delivery.
#![allow(dead_code)]

pub mod acme;
pub mod oracle;

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long `signet serve` may take to print its listening line (RSA-4096 keys load fast;
/// this only guards against a hung process).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop (drain, Shutdown event, delivery) may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long asynchronous exit delivery may take to show up on disk.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `signet` binary cargo built for this test run.
pub fn signet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_signet"))
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/signet-cli has a workspace two levels up")
        .to_path_buf()
}

/// A `signet` command with a clean environment: no inherited SIGNET_* variables, so a
/// developer's shell cannot change what a test exercises.
pub fn signet_cmd() -> Command {
    let mut cmd = Command::new(signet_bin());
    cmd.env_remove("SIGNET_PASSPHRASE")
        .env_remove("SIGNET_SERVER")
        .env_remove("SIGNET_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// The result of running a command to completion.
pub struct Run {
    pub what: String,
    /// The exit code, or -1 if the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(what: String, out: std::process::Output) -> Run {
        Run {
            what,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "expected exit status {code} from {self}");
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (exit {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `signet ARGS` with extra environment variables and optional standard input.
pub fn run_signet(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = signet_cmd();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let what = format!("signet {}", args.join(" "));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        pipe.write_all(input)
            .unwrap_or_else(|e| panic!("writing stdin of {what}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    Run::from_output(what, out)
}

/// Runs any program to completion.
pub fn run_program(program: &str, args: &[&str]) -> Run {
    let what = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Run::from_output(what, out)
}

/// Sends a signal with the `kill` command (no libc, no unsafe).
fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits for a child with a deadline, polling.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(e) => panic!("waiting for the server process: {e}"),
        }
    }
}

/// Polls `f` every 25 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Why `signet serve` did not come up.
#[derive(Debug)]
pub struct ServeFailure {
    pub code: Option<i32>,
    /// What the process wrote to stderr during this start.
    pub stderr: String,
}

/// One Signet data directory and, while it runs, its `signet serve` process.
pub struct Server {
    root: TempDir,
    /// `signet init --data` (holds signet.toml, signet.db, ca/, admin.token).
    pub data: PathBuf,
    /// A scratch directory for CSRs, keys and certificates the test makes.
    pub work: PathBuf,
    /// The CA name given to `signet init --ca`.
    pub ca: String,
    /// Extra environment variables for `signet serve` (e.g. SIGNET_PASSPHRASE).
    pub serve_env: Vec<(String, String)>,
    /// Extra arguments for `signet serve` (e.g. --passphrase-file F).
    pub serve_args: Vec<String>,
    /// `signet serve --listen` (default `127.0.0.1:0`: a free port); a fixed port when
    /// signet.toml's `public_url` must name it (ACME).
    pub listen: String,
    /// `host:port` of the running server.
    addr: Option<String>,
    /// A requester token, made with the bootstrap admin token at the first start; `get`,
    /// `post` and `cli` send it.
    pub token: Option<String>,
    child: Option<Child>,
    log: PathBuf,
    starts: usize,
}

impl Server {
    /// `signet init --data DIR ARGS` (the CA is `demo` unless ARGS name one with `--ca`);
    /// the server is not started, so a test can edit signet.toml first.
    pub fn init(args: &[&str]) -> Server {
        Server::init_env(args, &[])
    }

    /// Like [`Server::init`], with extra environment variables for `signet init`.
    pub fn init_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let server = Server::prepare(args);
        let data = server
            .data
            .to_str()
            .expect("temp paths are UTF-8")
            .to_string();
        let mut full = vec!["init", "--data", data.as_str()];
        if !args.contains(&"--ca") {
            full.extend(["--ca", "demo"]);
        }
        full.extend_from_slice(args);
        let run = run_signet(&full, env, None);
        assert_eq!(run.code, 0, "signet init failed: {run}");
        server
    }

    /// A fresh temp directory, with nothing initialised in it (for tests of `init` itself).
    pub fn prepare(args: &[&str]) -> Server {
        let root = tempfile::Builder::new()
            .prefix("signet-it-")
            .tempdir()
            .expect("temp dir");
        let data = root.path().join("data");
        let work = root.path().join("work");
        fs::create_dir_all(&work).expect("creating the work directory");
        let ca = args
            .iter()
            .position(|a| *a == "--ca")
            .and_then(|i| args.get(i + 1))
            .map_or_else(|| "demo".to_string(), |s| s.to_string());
        let log = root.path().join("serve.log");
        Server {
            root,
            data,
            work,
            ca,
            serve_env: Vec::new(),
            serve_args: Vec::new(),
            listen: "127.0.0.1:0".to_string(),
            addr: None,
            token: None,
            child: None,
            log,
            starts: 0,
        }
    }

    /// `signet init --dev ARGS` and `signet serve`.
    pub fn start(args: &[&str]) -> Server {
        let mut args = args.to_vec();
        if !args.contains(&"--dev") && !args.contains(&"--passphrase-file") {
            args.push("--dev");
        }
        let mut server = Server::init(&args);
        server.serve();
        server
    }

    /// Another node of this installation: a copy of its data directory (configuration, CA
    /// and audit keys, admin token) in a directory of its own, not started, sharing the
    /// database named in signet.toml (a PostgreSQL database: docs/HA.md) and this node's
    /// requester token.
    pub fn another_node(&self) -> Server {
        let mut node = Server::prepare(&["--ca", &self.ca]);
        let out = Command::new("cp")
            .arg("-a")
            .arg(&self.data)
            .arg(&node.data)
            .output()
            .expect("running cp");
        assert!(out.status.success(), "copying the data directory: {out:?}");
        node.token = self.token.clone();
        node
    }

    /// Appends TOML to the end of signet.toml (e.g. another `[[ca.exit]]`).
    pub fn append_config(&self, toml: &str) {
        let path = self.data.join("signet.toml");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("opening signet.toml");
        write!(f, "\n{toml}\n").expect("appending to signet.toml");
    }

    /// Starts `signet serve` and waits for its listening line; panics if it does not come up.
    pub fn serve(&mut self) {
        if let Err(f) = self.try_serve() {
            panic!(
                "signet serve did not start (exit {:?}):\n{}",
                f.code, f.stderr
            );
        }
        if self.token.is_none() {
            self.token = Some(self.create_token(&["requester"], "tester"));
        }
    }

    /// The bootstrap administrator token `signet init` wrote.
    pub fn admin_token(&self) -> String {
        fs::read_to_string(self.data.join("admin.token"))
            .expect("reading admin.token")
            .trim()
            .to_string()
    }

    /// A `ca = true` profile `subca` for the last `[[ca]]` of signet.toml: manual approval by
    /// one manager, `path_len = 0`, P-256 keys, and the `extra` lines (name constraints, say).
    pub fn append_subca_profile(&self, extra: &str) {
        self.append_config(&format!(
            r#"[ca.policy.profiles.subca]
description = "Issuing CAs"
approval = "manual"
ca = true
path_len = 0
validity_days = 30
key_algorithms = ["p256"]
subject_attributes = ["CN", "O"]
require_san = false
key_usage = ["keyCertSign", "cRLSign"]
extended_key_usage = []
approvals = 1
{extra}"#
        ));
    }

    /// `signet ca create --parent PARENT --profile subca --name NAME ARGS` against the running
    /// server with the requester token; returns the id of the pending request it submitted.
    pub fn create_sub_ca(
        &self,
        parent: &str,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> String {
        let data = self.data.display().to_string();
        let url = self.url();
        let token = self.token.clone().expect("a requester token");
        let mut full = vec![
            "ca",
            "create",
            "--data",
            &data,
            "--name",
            name,
            "--parent",
            parent,
            "--profile",
            "subca",
            "--server",
            &url,
            "--token",
            &token,
        ];
        full.extend_from_slice(args);
        let run = run_signet(&full, env, None);
        assert_eq!(run.code, 0, "{run}");
        assert!(
            run.stdout.contains(&format!("on CA {parent}: pending")),
            "{run}"
        );
        run.stdout
            .split("  request ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .expect("the request id")
            .to_string()
    }

    /// `signet admin approve ID --ca CA` as a new manager `name`.
    pub fn approve_as_manager(&self, ca: &str, id: &str, name: &str) {
        let manager = self.create_token(&["manager"], name);
        let url = self.url();
        let run = run_signet(
            &[
                "admin", "approve", id, "--ca", ca, "--token", &manager, "--server", &url,
            ],
            &[],
            None,
        );
        assert_eq!(run.code, 0, "approved and issued: {run}");
    }

    /// `signet ca install --name NAME`, fetching what `create_sub_ca` asked for.
    pub fn install_sub_ca(&self, name: &str) -> Run {
        let data = self.data.display().to_string();
        let url = self.url();
        let token = self.token.clone().expect("a requester token");
        run_signet(
            &[
                "ca", "install", "--data", &data, "--name", name, "--server", &url, "--token",
                &token,
            ],
            &[],
            None,
        )
    }

    /// `signet admin token create --role R... --name NAME` with the admin token.
    pub fn create_token(&self, roles: &[&str], name: &str) -> String {
        let admin = self.admin_token();
        let mut args = vec![
            "admin",
            "token",
            "create",
            "--name",
            name,
            "--token",
            admin.as_str(),
        ];
        for r in roles {
            args.extend(["--role", r]);
        }
        let url = self.url();
        args.extend(["--server", url.as_str()]);
        let run = run_signet(&args, &[], None);
        assert_eq!(run.code, 0, "creating a {roles:?} token: {run}");
        let token = run.stdout.trim().to_string();
        assert!(
            token.starts_with("signet_") && !token.contains('\n'),
            "token create prints only the token: {run}"
        );
        token
    }

    /// One HTTP exchange authenticated with `token` (none: anonymous).
    pub fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON"))
            .unwrap_or_default();
        http(self.addr(), method, path, &headers, &bytes)
    }

    /// Starts `signet serve --listen LISTEN`; returns its stderr if it exits first.
    pub fn try_serve(&mut self) -> Result<(), ServeFailure> {
        assert!(self.child.is_none(), "the server is already running");
        self.starts += 1;
        let log_offset = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening serve.log");
        writeln!(log, "===== signet serve, start #{} =====", self.starts)
            .expect("writing serve.log");
        let mut cmd = signet_cmd();
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.data)
            .args(["--listen", self.listen.as_str()])
            .args(&self.serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (k, v) in &self.serve_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning signet serve");
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Forward the first line, then drain stdout until the process exits so that
            // it never blocks on a full pipe.
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) > 0 {
                let _ = tx.send(line);
            }
            drop(tx);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed without a line: the process is exiting.
                let status = wait_timeout(&mut child, STOP_TIMEOUT);
                if status.is_none() {
                    send_signal(child.id(), "KILL");
                    let _ = child.wait();
                }
                return Err(ServeFailure {
                    code: status.and_then(|s| s.code()),
                    stderr: self.log_since(log_offset),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                send_signal(child.id(), "KILL");
                let _ = child.wait();
                panic!(
                    "signet serve printed no listening line within {START_TIMEOUT:?}; log:\n{}",
                    self.log_since(log_offset)
                );
            }
        };
        let addr = line
            .trim_end()
            .strip_prefix("signet: listening on http://")
            .unwrap_or_else(|| {
                send_signal(child.id(), "KILL");
                panic!("unexpected first stdout line from signet serve: {line:?}")
            })
            .to_string();
        self.addr = Some(addr);
        self.child = Some(child);
        Ok(())
    }

    /// Graceful stop: SIGTERM, then wait for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("stop: the server is not running");
        self.addr = None;
        send_signal(child.id(), "TERM");
        match wait_timeout(&mut child, STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                send_signal(child.id(), "KILL");
                let _ = child.wait();
                panic!(
                    "signet serve did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.log_tail()
                );
            }
        }
    }

    /// Graceful stop that must exit 0.
    pub fn stop_ok(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "signet serve exited with {status} after SIGTERM; log:\n{}",
            self.log_tail()
        );
    }

    /// Starts `signet serve` with its standard output and error both written to `output`
    /// (e.g. `/dev/full`, a log disk that is full) on a free fixed port, and waits for
    /// `/healthz` to answer: the listening line may be lost, so readiness is polled.
    pub fn serve_with_output(&mut self, output: &Path) {
        assert!(self.child.is_none(), "the server is already running");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        self.listen = format!("127.0.0.1:{port}");
        let open = || {
            fs::OpenOptions::new()
                .write(true)
                .open(output)
                .expect("opening the output file")
        };
        let mut cmd = signet_cmd();
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.data)
            .args(["--listen", self.listen.as_str()])
            .args(&self.serve_args)
            .stdout(Stdio::from(open()))
            .stderr(Stdio::from(open()));
        for (k, v) in &self.serve_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawning signet serve"));
        self.addr = Some(self.listen.clone());
        wait_until(START_TIMEOUT, "signet serve to answer /healthz", || {
            let child = self.child.as_mut().expect("started");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "signet serve exited with {status} writing to {}",
                    output.display()
                );
            }
            (TcpStream::connect(self.addr()).is_ok() && self.get("/healthz").status == 200)
                .then_some(())
        });
        if self.token.is_none() {
            self.token = Some(self.create_token(&["requester"], "tester"));
        }
    }

    /// Crash: SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("kill: the server is not running");
        self.addr = None;
        send_signal(child.id(), "KILL");
        let _ = child.wait();
    }

    /// Graceful stop (must exit 0) and start again on the same data directory.
    pub fn restart(&mut self) {
        self.stop_ok();
        self.serve();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.addr.as_deref().expect("the server is not running")
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The whole serve log (every start).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_since(&self, offset: u64) -> String {
        let bytes = fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// The last 80 lines of the serve log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// The CA certificate file `signet init` wrote.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.data.join("ca").join(&self.ca).join("cert.pem")
    }

    /// A path in the scratch directory.
    pub fn work_file(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// Runs `signet ARGS --server URL`.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_stdin(args, None)
    }

    /// Runs `signet ARGS --server URL` with standard input.
    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let url = self.url();
        let mut full = args.to_vec();
        full.extend(["--server", url.as_str()]);
        let env: Vec<(&str, &str)> = match &self.token {
            Some(t) if !args.contains(&"--token") => vec![("SIGNET_TOKEN", t.as_str())],
            _ => Vec::new(),
        };
        run_signet(&full, &env, stdin)
    }

    fn auth_header(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub fn get(&self, path: &str) -> Response {
        let auth = self.auth_header();
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http(self.addr(), "GET", path, &headers, b"")
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Response {
        let auth = self.auth_header();
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        http(self.addr(), "POST", path, &headers, body)
    }

    /// `POST /api/v1/cas/{ca}/requests` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("serialising JSON");
        self.post(path, "application/json", &bytes)
    }

    /// Submits a PEM CSR file as JSON to this server's CA and returns the 201 body.
    pub fn submit(&self, csr: &Path, profile: Option<&str>) -> serde_json::Value {
        let resp = self.submit_raw(csr, profile);
        assert_eq!(resp.status, 201, "submitting {}: {resp}", csr.display());
        resp.json()
    }

    /// Submits a PEM CSR file as JSON, whatever the answer.
    pub fn submit_raw(&self, csr: &Path, profile: Option<&str>) -> Response {
        let pem =
            fs::read_to_string(csr).unwrap_or_else(|e| panic!("reading {}: {e}", csr.display()));
        let mut body = serde_json::json!({ "csr": pem });
        if let Some(p) = profile {
            body["profile"] = serde_json::Value::String(p.to_string());
        }
        self.post_json(&format!("/api/v1/cas/{}/requests", self.ca), &body)
    }

    /// `GET /api/v1/cas/{ca}/requests/{id}`, which must answer 200.
    pub fn request_status(&self, id: i64) -> serde_json::Value {
        let resp = self.get(&format!("/api/v1/cas/{}/requests/{id}", self.ca));
        assert_eq!(resp.status, 200, "GET request {id}: {resp}");
        resp.json()
    }

    /// Issues a certificate for a fresh P-256 CSR with CN=`cn` and returns the response.
    pub fn issue(&self, cn: &str) -> serde_json::Value {
        let csr = openssl_csr(&self.work, "p256", &format!("/CN={cn}"), &[]);
        let v = self.submit(&csr, None);
        assert_eq!(v["status"], "issued", "CN={cn} should be issued: {v:#}");
        v
    }

    /// The value of a Prometheus sample line `name{labels} value` exactly as rendered.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let resp = self.get("/metrics");
        assert_eq!(resp.status, 200, "GET /metrics: {resp}");
        resp.text().lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- signet serve log ({}) -----\n{}\n----- end of log -----",
                self.root.path().display(),
                self.log_tail()
            );
        }
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "TERM");
            if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
                send_signal(child.id(), "KILL");
                let _ = child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 client
// ---------------------------------------------------------------------------------------

/// An HTTP response.
pub struct Response {
    pub status: u16,
    /// The Content-Type header, or "" if absent.
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// "METHOD path", for failure messages.
    pub what: String,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{self}: body is not JSON: {e}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks an RFC 9457 problem: status, content type, the four members; returns `detail`.
    pub fn expect_problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "expected a {status} problem: {self}");
        assert_eq!(
            self.content_type, "application/problem+json",
            "a {status} error must be application/problem+json: {self}"
        );
        let p = self.json();
        assert_eq!(
            p["status"], status,
            "problem.status must equal the HTTP status: {self}"
        );
        assert!(
            p["type"].as_str().is_some_and(|t| !t.is_empty()),
            "problem without `type`: {self}"
        );
        assert!(
            p["title"].as_str().is_some_and(|t| !t.is_empty()),
            "problem without `title`: {self}"
        );
        let detail = p["detail"].as_str().unwrap_or_default().to_string();
        assert!(
            !detail.trim().is_empty(),
            "problem without a human `detail`: {self}"
        );
        detail
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.text();
        let shown: String = body.chars().take(2000).collect();
        write!(
            f,
            "{} -> {} [{}] {shown}",
            self.what, self.status, self.content_type
        )
    }
}

/// Like [`http`], but `None` when the exchange fails (the server is down or dies during it),
/// for clients that move to another node.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        http(addr, method, path, headers, body)
    }))
    .ok()
}

/// One HTTP/1.1 exchange over a fresh connection (`Connection: close`).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let what = format!("{method} {path}");
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: connecting to {addr}: {e}"));
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .expect("set_write_timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // A server may answer (e.g. 413) and close before reading a large body: a failed write
    // is then not an error as long as a response can be read.
    let write_error = stream.write_all(&request).err();
    let _ = stream.flush();

    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read_error = loop {
        match stream.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if response_complete(&raw) {
                    break None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    match parse_response(&raw) {
        Some((status, headers, body)) => {
            let content_type = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            Response {
                status,
                content_type,
                headers,
                body,
                what,
            }
        }
        None => panic!(
            "{what}: no complete HTTP response from {addr} (write error: {write_error:?}, read error: \
             {read_error:?}); got {} bytes: {:?}",
            raw.len(),
            String::from_utf8_lossy(&raw[..raw.len().min(500)])
        ),
    }
}

fn header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Whether `raw` holds a whole response by its Content-Length (chunked bodies read to EOF).
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = header_end(raw) else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + len)
}

type Parsed = (u16, Vec<(String, String)>, Vec<u8>);

fn parse_response(raw: &[u8]) -> Option<Parsed> {
    let end = header_end(raw)?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[end..];
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        rest.get(..len)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some((status, headers, body))
}

fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------
// openssl
// ---------------------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique file name in `dir`.
pub fn unique(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    dir.join(format!("{n:03}-{clean}.{ext}"))
}

/// The `openssl req -newkey` arguments for a key type.
fn newkey_args(key: &str) -> Vec<String> {
    match key {
        "p256" => vec![
            "-newkey".into(),
            "ec".into(),
            "-pkeyopt".into(),
            "ec_paramgen_curve:P-256".into(),
        ],
        "p384" => vec![
            "-newkey".into(),
            "ec".into(),
            "-pkeyopt".into(),
            "ec_paramgen_curve:P-384".into(),
        ],
        "ed25519" => vec!["-newkey".into(), "ed25519".into()],
        rsa if rsa.starts_with("rsa") => vec!["-newkey".into(), format!("rsa:{}", &rsa[3..])],
        other => panic!("openssl_csr: unknown key type {other:?}"),
    }
}

/// An OCSP response fetched by hand (`body`), checked by `openssl ocsp -respin` against the
/// server's CA: it verifies and names `cert` with `status`; returns openssl's output.
pub fn expect_ocsp_body(server: &Server, body: &[u8], cert: &Path, status: &str) -> String {
    let ca = server.ca_cert_path();
    let file = unique(&server.work, "response", "der");
    fs::write(&file, body).expect("writing the response");
    let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let (file, ca, cert_s) = (s(&file), s(&ca), s(cert));
    let run = run_program(
        "openssl",
        &[
            "ocsp",
            "-respin",
            &file,
            "-issuer",
            &ca,
            "-CAfile",
            &ca,
            "-no_nonce",
            "-cert",
            &cert_s,
        ],
    );
    expect_ocsp_status(&run, cert, status)
}

/// `openssl ocsp`'s run verified the response, which names `cert` with `status` (good,
/// revoked, unknown); returns its stdout and stderr.
pub fn expect_ocsp_status(run: &Run, cert: &Path, status: &str) -> String {
    let out = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        run.code == 0
            && out.contains("Response verify OK")
            && out.contains(&format!("{}: {status}", cert.display())),
        "expected a verified `{status}` answer: {run}"
    );
    out
}

/// Makes a new key and a PEM CSR with `openssl req` (subject like "/CN=app.test", SANs in
/// openssl syntax like "DNS:a.test" or "IP:127.0.0.1"); returns the CSR path (the key is
/// beside it, `.key`).
pub fn openssl_csr(dir: &Path, key: &str, subj: &str, sans: &[&str]) -> PathBuf {
    let csr = unique(dir, &format!("{key}{subj}"), "csr");
    let key_path = csr.with_extension("key");
    let mut args: Vec<String> = vec!["req".into(), "-new".into()];
    args.extend(newkey_args(key));
    args.extend([
        "-nodes".into(),
        "-keyout".into(),
        key_path.display().to_string(),
        "-subj".into(),
        subj.into(),
        "-out".into(),
        csr.display().to_string(),
    ]);
    if !sans.is_empty() {
        args.extend([
            "-addext".into(),
            format!("subjectAltName={}", sans.join(",")),
        ]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_program("openssl", &refs);
    assert_eq!(run.code, 0, "making a CSR failed: {run}");
    csr
}

/// Converts a PEM CSR to DER.
pub fn csr_der(csr_pem: &Path) -> Vec<u8> {
    let out = unique(csr_pem.parent().expect("CSR has a directory"), "csr", "der");
    openssl_to_der("req", csr_pem, &out)
}

/// Converts a PEM certificate to DER.
pub fn cert_der(cert_pem: &Path) -> Vec<u8> {
    openssl_to_der("x509", cert_pem, &cert_pem.with_extension("der"))
}

/// `openssl SUBCOMMAND -in PEM -outform DER -out OUT`, and the DER it wrote.
fn openssl_to_der(subcommand: &str, pem: &Path, out: &Path) -> Vec<u8> {
    let (input, output) = (pem.display().to_string(), out.display().to_string());
    let run = run_program(
        "openssl",
        &[
            subcommand, "-in", &input, "-outform", "DER", "-out", &output,
        ],
    );
    assert_eq!(
        run.code, 0,
        "openssl {subcommand}: converting {input} to DER: {run}"
    );
    fs::read(out).expect("reading the DER file")
}

/// Writes PEM text to a new file in `dir`.
pub fn write_pem(dir: &Path, stem: &str, pem: &str) -> PathBuf {
    let path = unique(dir, stem, "pem");
    fs::write(&path, pem).expect("writing a PEM file");
    path
}

/// Writes the first PEM block of a file (e.g. the leaf of `--out`'s leaf + chain) to a new
/// file beside it.
pub fn first_pem(path: &Path) -> PathBuf {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let end_marker = "-----END CERTIFICATE-----";
    let end = text
        .find(end_marker)
        .unwrap_or_else(|| panic!("no certificate in {}:\n{text}", path.display()));
    let out = path.with_extension("first.pem");
    fs::write(&out, format!("{}\n", &text[..end + end_marker.len()]))
        .expect("writing the first PEM block");
    out
}

/// `openssl verify -x509_strict -CAfile CA CERT` must say OK.
pub fn openssl_verify(ca_pem: &Path, cert_pem: &Path) {
    let ca = ca_pem.display().to_string();
    let cert = cert_pem.display().to_string();
    let run = run_program(
        "openssl",
        &["verify", "-x509_strict", "-CAfile", &ca, &cert],
    );
    assert!(
        run.code == 0 && run.stdout.trim_end().ends_with(": OK"),
        "openssl verify rejected the certificate:\n{run}\n{}",
        cert_text(cert_pem)
    );
}

/// `openssl x509 -noout -text`.
pub fn cert_text(cert_pem: &Path) -> String {
    let run = run_program(
        "openssl",
        &[
            "x509",
            "-in",
            &cert_pem.display().to_string(),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(
        run.code, 0,
        "openssl x509 cannot read the certificate: {run}"
    );
    run.stdout
}

/// The serial number as `openssl x509 -serial` prints it (uppercase hex, no prefix).
pub fn cert_serial(cert_pem: &Path) -> String {
    x509_field(cert_pem, "-serial", &[])
}

/// A validity date as `openssl x509 -dateopt iso_8601` prints it (`2026-12-05 20:30:10Z`,
/// which sorts as time): `which` is `startdate` (notBefore) or `enddate` (notAfter).
pub fn cert_date(cert_pem: &Path, which: &str) -> String {
    x509_field(cert_pem, &format!("-{which}"), &["-dateopt", "iso_8601"])
}

/// The value `openssl x509 -noout FIELD OPTIONS...` prints after `name=`.
pub fn x509_field(cert_pem: &Path, field: &str, options: &[&str]) -> String {
    let path = cert_pem.display().to_string();
    let mut args = vec!["x509", "-in", &path, "-noout", field];
    args.extend_from_slice(options);
    let run = run_program("openssl", &args);
    assert_eq!(run.code, 0, "openssl x509 {field}: {run}");
    run.stdout
        .trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("odd {field} output: {run}"))
        .1
        .to_string()
}

// ---------------------------------------------------------------------------------------
// pkilint
// ---------------------------------------------------------------------------------------

/// One pkilint finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: String,
    pub code: String,
    pub node_path: String,
    pub message: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} at {}", self.severity, self.code, self.node_path)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// pkilint's `tool` (`lint_pkix_cert`, ...): in $SIGNET_PKILINT_BIN, else
/// `<workspace>/.venv/bin`, else on `PATH`. A missing pkilint fails the test unless
/// `SIGNET_SKIP_ORACLES` names `pkilint` ([`oracle::available`]); then `None`.
pub fn pkilint_bin(tool: &str) -> Option<PathBuf> {
    let bin = match std::env::var_os("SIGNET_PKILINT_BIN") {
        Some(dir) => PathBuf::from(dir).join(tool),
        None => std::iter::once(workspace_root().join(".venv").join("bin"))
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ))
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(tool)),
    };
    oracle::available(
        "pkilint",
        bin.is_file(),
        &format!(
            "pkilint's {tool} was not found at {} (SIGNET_PKILINT_BIN={:?}) nor on PATH; \
             scripts/test.sh installs it into .venv (`pip install pkilint==0.13.3`)",
            bin.display(),
            std::env::var_os("SIGNET_PKILINT_BIN")
        ),
    )
    .then_some(bin)
}

/// Runs `lint_pkix_cert lint -f JSON CERT`; panics on any ERROR, CRITICAL or FATAL finding
/// and prints WARNING and NOTICE findings. Returns every finding.
pub fn pkilint(cert_pem: &Path) -> Vec<Finding> {
    let findings = pkilint_findings("lint_pkix_cert", &[], cert_pem);
    let bad: Vec<&Finding> = findings.iter().filter(|f| is_error_finding(f)).collect();
    for f in findings
        .iter()
        .filter(|f| matches!(f.severity.as_str(), "WARNING" | "NOTICE"))
    {
        eprintln!("pkilint {}: {f}", cert_pem.display());
    }
    assert!(
        bad.is_empty(),
        "pkilint lint_pkix_cert reports error-level findings for {}:\n{}\n{}",
        cert_pem.display(),
        bad.iter()
            .map(|f| format!("  {f}"))
            .collect::<Vec<_>>()
            .join("\n"),
        cert_text(cert_pem)
    );
    findings
}

// ---------------------------------------------------------------------------------------
// Exit module output
// ---------------------------------------------------------------------------------------

/// One `events/<seq>-<Event>.json` record of the `file` exit module.
#[derive(Debug, Clone)]
pub struct EventFile {
    pub seq: u64,
    pub event: String,
    pub path: PathBuf,
}

impl EventFile {
    pub fn json(&self) -> serde_json::Value {
        let text = fs::read_to_string(&self.path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", self.path.display()))
    }
}

/// The event records in `<dir>/events`, sorted by sequence number (temporary files ignored).
pub fn event_files(dir: &Path) -> Vec<EventFile> {
    let events = dir.join("events");
    let Ok(entries) = fs::read_dir(&events) else {
        return Vec::new();
    };
    let mut out: Vec<EventFile> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?;
            let (seq, event) = stem.split_once('-')?;
            Some(EventFile {
                seq: seq.parse().ok()?,
                event: event.to_string(),
                path: e.path(),
            })
        })
        .collect();
    out.sort_by_key(|e| e.seq);
    out
}

/// The event names in `<dir>/events`, in sequence order.
pub fn event_names(dir: &Path) -> Vec<String> {
    event_files(dir).into_iter().map(|e| e.event).collect()
}

// ---------------------------------------------------------------------------------------
// pkilint for any document type
// ---------------------------------------------------------------------------------------

/// Runs `TOOL lint ARGS -s ALL -f JSON FILE` with any pkilint linter (`lint_crl`,
/// `lint_ocsp_response`, `lint_cabf_serverauth_cert`, ...) and returns every finding without
/// judging them. Panics if pkilint did not lint the document: it can report "Failed to load"
/// and still exit 0, so the output must hold no "Failed" and must be JSON naming at least
/// one validator that ran (with `-s ALL`, validators without findings are listed too).
/// No findings when the run skips pkilint (`SIGNET_SKIP_ORACLES=pkilint`).
pub fn pkilint_findings(tool: &str, args: &[&str], file: &Path) -> Vec<Finding> {
    let Some(bin) = pkilint_bin(tool) else {
        return Vec::new();
    };
    let path = file.display().to_string();
    let mut full = vec!["lint"];
    full.extend_from_slice(args);
    full.extend(["-s", "ALL", "-f", "JSON", path.as_str()]);
    let run = run_program(bin.to_str().expect("UTF-8 path"), &full);
    assert!(
        !run.stdout.contains("Failed") && !run.stderr.contains("Failed"),
        "pkilint {tool} could not load {path}:\n{run}"
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("pkilint {tool} output is not JSON ({e}):\n{run}"));
    let results = doc["results"]
        .as_array()
        .unwrap_or_else(|| panic!("pkilint {tool} output has no results: {run}"));
    assert!(
        !results.is_empty(),
        "pkilint {tool} ran no validator on {path}: {run}"
    );
    let mut findings = Vec::new();
    for result in results {
        let node_path = result["node_path"].as_str().unwrap_or_default().to_string();
        for d in result["finding_descriptions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            findings.push(Finding {
                severity: d["severity"].as_str().unwrap_or_default().to_string(),
                code: d["code"].as_str().unwrap_or_default().to_string(),
                node_path: node_path.clone(),
                message: d["message"].as_str().map(str::to_string),
            });
        }
    }
    findings
}

/// Whether a pkilint finding is error-level (ERROR, CRITICAL or FATAL).
pub fn is_error_finding(f: &Finding) -> bool {
    matches!(f.severity.as_str(), "ERROR" | "CRITICAL" | "FATAL")
}

// ---------------------------------------------------------------------------------------
// Policy configuration
// ---------------------------------------------------------------------------------------

/// signet.toml's policy turned into a chain: `profiles` (as `signet init` wrote it), then
/// `rules` with `rules_toml` (the `[[ca.policy.chain.rules]]` entries).
pub fn chain_policy(server: &Server, rules_toml: &str) {
    let path = server.data.join("signet.toml");
    let text = fs::read_to_string(&path).expect("reading signet.toml");
    let head = "[ca.policy]\nmodule = \"profiles\"\n";
    assert!(text.contains(head), "the template changed:\n{text}");
    let exits = "# Exit modules (AD CS ICertExit)";
    assert!(text.contains(exits));
    let text = text
        .replace(
            head,
            "[ca.policy]\nmodule = \"chain\"\n\n[[ca.policy.chain]]\nmodule = \"profiles\"\n",
        )
        .replace("[ca.policy.profiles.", "[ca.policy.chain.profiles.")
        .replace(
            exits,
            &format!("[[ca.policy.chain]]\nmodule = \"rules\"\n{rules_toml}\n\n{exits}"),
        );
    fs::write(&path, text).expect("writing signet.toml");
}

/// Runs a browser test script (`tests/web/SCRIPT`, playwright-core driving Debian's
/// chromium) with `config` in `SIGNET_E2E`, plus `url` (the server), `out` (a fresh
/// directory for downloads, returned) and `screenshots` (`target/web-screenshots`). Returns
/// the script's last stdout line parsed as JSON; panics with its output when it fails.
/// `None` when the run skips the browser (`SIGNET_SKIP_ORACLES=chromium`).
pub fn browser(
    script: &str,
    server: &Server,
    mut config: serde_json::Value,
) -> Option<(serde_json::Value, PathBuf)> {
    let web = workspace_root().join("crates/signet-cli/tests/web");
    let chromium = std::env::var("SIGNET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let playwright = web.join("node_modules/playwright-core").is_dir();
    let browser = Path::new(&chromium).is_file();
    if !oracle::available(
        "chromium",
        playwright && browser,
        &format!(
            "{}: install Debian's chromium and run `npm ci` in {} (scripts/test.sh does both)",
            if browser {
                "playwright-core is not installed".to_string()
            } else {
                format!("{chromium} is missing")
            },
            web.display()
        ),
    ) {
        return None;
    }
    let out = server
        .work
        .join(format!("browser-{}", script.trim_end_matches(".mjs")));
    std::fs::create_dir_all(&out).expect("browser output directory");
    let screenshots = workspace_root().join("target/web-screenshots");
    let obj = config.as_object_mut().expect("config is a JSON object");
    obj.insert("url".into(), server.url().into());
    obj.insert("out".into(), out.display().to_string().into());
    obj.insert(
        "screenshots".into(),
        screenshots.display().to_string().into(),
    );
    let run = Command::new("node")
        .arg(web.join(script))
        .current_dir(&web)
        .env("SIGNET_E2E", config.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node {script}: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "browser test {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        run.status
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("{}");
    let value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON result ({e}):\n{stdout}\n{stderr}"));
    Some((value, out))
}

/// A manual profile that two distinct managers must approve (admin and console tests).
pub const DUAL_PROFILE: &str = r#"
[ca.policy.profiles.dual]
description = "two managers must approve"
approval = "manual"
approvals = 2
validity_days = 30
key_algorithms = ["p256"]
subject_attributes = ["CN"]
common_name_as_dns = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]
"#;

impl Server {
    /// An openssl CSR for `/CN=cn` submitted to `profile` with `token` over the REST API,
    /// which must answer 201; its JSON body.
    pub fn submit_cn_as(&self, token: &str, cn: &str, profile: &str) -> serde_json::Value {
        let csr = openssl_csr(&self.work, "p256", &format!("/CN={cn}"), &[]);
        let pem = fs::read_to_string(&csr).expect("reading the CSR");
        let resp = self.call(
            Some(token),
            "POST",
            &format!("/api/v1/cas/{}/requests", self.ca),
            Some(&serde_json::json!({ "csr": pem, "profile": profile })),
        );
        assert_eq!(resp.status, 201, "{resp}");
        resp.json()
    }

    /// An HTTPS server certificate for `subj` with `sans` from this CA's `server` profile:
    /// (certificate and chain as PEM, its key).
    pub fn tls_server_certificate(&self, subj: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let csr = openssl_csr(&self.work, "p256", subj, sans);
        let issued = self.submit(&csr, Some("server"));
        assert_eq!(issued["status"], "issued", "{issued:#}");
        let mut pem = issued["certificate"]
            .as_str()
            .expect("certificate")
            .to_string();
        for c in issued["chain"].as_array().expect("chain") {
            pem.push_str(c.as_str().expect("chain PEM"));
        }
        (
            write_pem(&self.work, "tls-server", &pem),
            csr.with_extension("key"),
        )
    }

    /// A client certificate for `subj` from the `manual` profile, approved by `manager`:
    /// (the approval's JSON body, the certificate as PEM, its key).
    pub fn approved_client_certificate(
        &self,
        manager: &str,
        subj: &str,
        stem: &str,
    ) -> (serde_json::Value, PathBuf, PathBuf) {
        let csr = openssl_csr(&self.work, "p256", subj, &[]);
        let pending = self.submit(&csr, Some("manual"));
        let id = pending["id"].as_i64().expect("request id");
        let approved = self.call(
            Some(manager),
            "POST",
            &format!("/api/v1/cas/{}/requests/{id}/approve", self.ca),
            Some(&serde_json::json!({})),
        );
        assert_eq!(approved.status, 200, "{approved}");
        let v = approved.json();
        let pem = write_pem(
            &self.work,
            stem,
            v["certificate"].as_str().expect("certificate"),
        );
        (v, pem, csr.with_extension("key"))
    }

    /// Restarts the server with `[server.tls]` on a free loopback port (`certificate`, `key`)
    /// and `identities` (`[[identity]]` tables) appended; the HTTPS port.
    pub fn serve_tls(&mut self, certificate: &Path, key: &Path, identities: &str) -> u16 {
        self.stop_ok();
        let path = self.data.join("signet.toml");
        let original = fs::read_to_string(&path).expect("reading signet.toml");
        // The free port is found by binding and closing; another process may take it before
        // the server binds it, so a start that finds it taken tries another.
        for attempt in 0.. {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            fs::write(&path, &original).expect("writing signet.toml");
            self.append_config(&format!(
                "[server.tls]\nlisten = \"127.0.0.1:{port}\"\ncertificate = \"{}\"\nkey = \"{}\"\n\n{identities}",
                certificate.display(),
                key.display()
            ));
            match self.try_serve() {
                Ok(()) => {
                    if self.token.is_none() {
                        self.token = Some(self.create_token(&["requester"], "tester"));
                    }
                    return port;
                }
                Err(f) if attempt < 5 && f.stderr.contains("Address already in use") => continue,
                Err(f) => panic!(
                    "signet serve did not start (exit {:?}):\n{}",
                    f.code, f.stderr
                ),
            }
        }
        unreachable!("the loop returns or panics")
    }
}

// ---------------------------------------------------------------------------------------
// Raw connections (listener hardening tests)
// ---------------------------------------------------------------------------------------

/// A TCP connection to `addr` from the loopback address `source` (e.g. "127.0.0.2"), so a
/// test can play a second client machine; blocking, with the harness's HTTP timeouts.
pub fn connect_from(source: &str, addr: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime for one connect");
    let source: std::net::SocketAddr = format!("{source}:0").parse().expect("source address");
    let addr: std::net::SocketAddr = addr.parse().expect("server address");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(source).expect("binding the source address");
        socket.connect(addr).await
    });
    let stream = stream
        .unwrap_or_else(|e| panic!("connecting to {addr} from {source}: {e}"))
        .into_std()
        .expect("a std stream");
    stream.set_nonblocking(false).expect("blocking mode");
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("set_read_timeout");
    stream
}

/// One `GET path` (`Connection: close`) from the loopback address `source`; the status, or
/// `None` when the server closed the connection without answering.
pub fn get_from(source: &str, addr: &str, path: &str) -> Option<Response> {
    let mut stream = connect_from(source, addr);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // A refused connection may already be closed: the failure shows as no response.
    let _ = stream.write_all(request.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let (status, headers, body) = parse_response(&raw)?;
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Some(Response {
        status,
        content_type,
        headers,
        body,
        what: format!("GET {path} from {source}"),
    })
}

/// Whether the server closes `stream` (end of file or reset) within `timeout`; whatever it
/// sends first is read and ignored. `false` means the connection was still open.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set_read_timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            // Reset or aborted: closed by the server.
            Err(_) => return true,
        }
    }
}
