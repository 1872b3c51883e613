//! The ACME client tests' harness (tests/acme_clients.rs): a dev data directory with
//! `[ca.acme]` enabled, `signet serve` on a fixed free port (the ACME URLs are built from
//! `[server] public_url`, so it must name the real port), `pebble-challtestsrv` as the DNS
//! server validation asks (every name is `A 127.0.0.1`), and real clients (certbot, lego)
//! run as child processes with a deadline, their output kept for the failure message.
//!
//! The recipes these follow, with their quirks, are in `../shared/interop/acme/RECIPES.md`;
//! nothing here reads that directory at test time (the hook scripts are written by the test).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Run, Server, http, oracle, run_program};

/// How long one client run (certbot, lego) may take before it is killed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long pebble-challtestsrv may take to listen.
const CHALLTESTSRV_START: Duration = Duration::from_secs(20);

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The full path of `name` on PATH, if it is there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The oracle `name` (certbot, lego, pebble-challtestsrv) under the oracle rule: its path,
/// or `None` when it is missing and `SIGNET_SKIP_ORACLES` names it (a missing tool that is
/// not named fails the test).
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = on_path(name);
    let install = match name {
        "certbot" => {
            "install certbot from PyPI into the test venv (scripts/test.sh: pip install certbot==5.8.0) and put its bin on PATH"
        }
        "lego" => "apt-get install lego",
        "pebble-challtestsrv" => "apt-get install pebble",
        _ => "install it",
    };
    if oracle::available(name, found.is_some(), install) {
        found
    } else {
        None
    }
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    let run = run_program("chmod", &["755", path.to_str().expect("UTF-8 path")]);
    assert_eq!(run.code, 0, "{run}");
}

// ---------------------------------------------------------------------------------------
// Child processes with a deadline
// ---------------------------------------------------------------------------------------

/// A client process running in the background, its output going to files.
pub struct Running {
    child: Option<Child>,
    what: String,
    out: PathBuf,
    err: PathBuf,
}

/// Starts `cmd` (stdin closed, stdout and stderr to `dir/stem.{out,err}`).
pub fn spawn(mut cmd: Command, dir: &Path, stem: &str) -> Running {
    let what = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = super::unique(dir, stem, "out");
    let err = out.with_extension("err");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("creating the stdout file"))
        .stderr(fs::File::create(&err).expect("creating the stderr file"));
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Running {
        child: Some(child),
        what,
        out,
        err,
    }
}

impl Running {
    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Waits up to `timeout`; a process still running then is killed (its exit code is
    /// then -1 and stderr says so).
    pub fn wait(mut self, timeout: Duration) -> Run {
        let mut child = self.child.take().expect("waited once");
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        };
        let mut stderr = fs::read_to_string(&self.err).unwrap_or_default();
        if timed_out {
            stderr.push_str(&format!(
                "\n[killed after {timeout:?}: the test's deadline]\n"
            ));
        }
        Run {
            what: self.what.clone(),
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// pebble-challtestsrv: the mock DNS server
// ---------------------------------------------------------------------------------------

/// `pebble-challtestsrv` answering DNS only (its http-01, https and tls-alpn-01 responders
/// are off, so the clients under test can bind their own): every name is `A 127.0.0.1`
/// with no AAAA; TXT records are set through its management API.
pub struct ChallTestSrv {
    child: Option<Child>,
    /// The management API's port (`/set-txt`, `/clear-txt`, ...).
    pub management: u16,
    /// The DNS port (UDP and TCP).
    pub dns: u16,
    log: PathBuf,
}

impl ChallTestSrv {
    /// Starts it on free loopback ports and waits until its management API listens;
    /// `None` when the run skips the oracle.
    pub fn start(dir: &Path) -> Option<ChallTestSrv> {
        let bin = tool("pebble-challtestsrv")?;
        let management = free_port();
        let dns = free_port();
        let log = dir.join("challtestsrv.log");
        let mut cmd = Command::new(bin);
        cmd.args([
            "-management",
            &format!("127.0.0.1:{management}"),
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("creating challtestsrv.log"))
        .stderr(Stdio::from(
            fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("opening challtestsrv.log"),
        ));
        let child = cmd.spawn().expect("spawning pebble-challtestsrv");
        let mut srv = ChallTestSrv {
            child: Some(child),
            management,
            dns,
            log,
        };
        let deadline = Instant::now() + CHALLTESTSRV_START;
        loop {
            if TcpStream::connect(("127.0.0.1", management)).is_ok()
                && TcpStream::connect(("127.0.0.1", dns)).is_ok()
            {
                return Some(srv);
            }
            if let Some(status) = srv.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "pebble-challtestsrv exited with {status}:\n{}",
                    fs::read_to_string(&srv.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "pebble-challtestsrv did not listen within {CHALLTESTSRV_START:?}:\n{}",
                fs::read_to_string(&srv.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:MANAGEMENT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.management)
    }

    /// `127.0.0.1:DNS`, for `dns_resolvers` and `lego --dns.resolvers`.
    pub fn resolver(&self) -> String {
        format!("127.0.0.1:{}", self.dns)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs JSON to its management API (e.g. `/add-a`); must answer 200.
    pub fn post(&self, path: &str, body: &Value) {
        let addr = format!("127.0.0.1:{}", self.management);
        let bytes = serde_json::to_vec(body).expect("JSON");
        let resp = http(
            &addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &bytes,
        );
        assert_eq!(resp.status, 200, "challtestsrv {path}: {resp}");
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// A Signet CA with ACME enabled
// ---------------------------------------------------------------------------------------

/// What `[ca.acme]` says, and extra TOML for signet.toml (more profiles).
pub struct AcmeConfig {
    pub profiles: Vec<String>,
    pub default_profile: String,
    pub eab: bool,
    /// Appended to signet.toml (e.g. `[ca.policy.profiles.NAME]` tables for the CA).
    pub extra_toml: String,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            profiles: vec!["server".into()],
            default_profile: "server".into(),
            eab: false,
            extra_toml: String::new(),
        }
    }
}

/// A profile like the dev `server` profile that also allows wildcard names.
pub const WILDCARD_PROFILE: &str = r#"
[ca.policy.profiles.wild]
description = "TLS server certificates with wildcard names, issued at once"
approval = "auto"
validity_days = 30
key_algorithms = ["p256", "p384", "rsa"]
subject_attributes = ["CN"]
common_name_as_dns = true
require_san = true
dns_suffixes = ["test"]
allow_wildcards = true
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth"]
"#;

/// A short-lived server profile (a second profile to select over ACME).
pub const SHORT_PROFILE: &str = r#"
[ca.policy.profiles.short]
description = "TLS server certificates for 7 days, issued at once"
approval = "auto"
validity_days = 7
key_algorithms = ["p256", "p384", "rsa"]
subject_attributes = ["CN"]
common_name_as_dns = true
require_san = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]
"#;

/// A server profile a certificate manager must approve.
pub const APPROVED_PROFILE: &str = r#"
[ca.policy.profiles.approved]
description = "TLS server certificates, issued after a certificate manager approves"
approval = "manual"
approvals = 1
validity_days = 30
key_algorithms = ["p256", "p384", "rsa"]
subject_attributes = ["CN"]
common_name_as_dns = true
require_san = true
dns_suffixes = ["test"]
key_usage = ["digitalSignature"]
extended_key_usage = ["serverAuth"]
"#;

/// signet.toml with `public_url` naming `port`, any `[ca.acme]` the template wrote removed,
/// `acme` appended (it belongs to the only `[[ca]]`), then `extra`.
fn acme_config_text(text: &str, port: u16, acme: &str, extra: &str) -> String {
    let mut out = String::new();
    let mut in_acme = false;
    let mut url_set = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_acme = t.starts_with("[ca.acme]") || t.starts_with("[ca.acme.");
        }
        if in_acme {
            continue;
        }
        if !url_set && line.starts_with("public_url =") {
            out.push_str(&format!("public_url = \"http://127.0.0.1:{port}\"\n"));
            url_set = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(
        url_set,
        "signet.toml has no [server] public_url line:\n{text}"
    );
    format!("{out}\n{acme}\n{extra}\n")
}

/// A dev CA (`demo`) serving ACME, its mock DNS server and the ports validation uses.
pub struct AcmeCa {
    pub server: Server,
    pub dns: ChallTestSrv,
    /// Where http-01 validation connects (the client under test listens there).
    pub http01_port: u16,
    /// Where tls-alpn-01 validation connects.
    pub tlsalpn01_port: u16,
    /// `{public_url}/acme/demo/directory`.
    pub directory: String,
    /// The CA chain as the server hands it out (`/api/v1/cas/demo/chain`), PEM.
    pub ca_chain: PathBuf,
    /// A manager token (approve, view, show).
    pub manager: String,
}

impl AcmeCa {
    /// `signet init --dev`, `[ca.acme]` as `cfg` says, challtestsrv, `signet serve`.
    /// `None` when the run skips pebble-challtestsrv.
    pub fn start(cfg: &AcmeConfig) -> Option<AcmeCa> {
        let mut server = Server::init(&["--dev"]);
        let dns = ChallTestSrv::start(&server.work)?;
        let port = free_port();
        let http01_port = free_port();
        let tlsalpn01_port = free_port();
        let list = |v: &[String]| {
            v.iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let acme = format!(
            "[ca.acme]\nenabled = true\nprofiles = [{}]\ndefault_profile = \"{}\"\neab = {}\n\
             http01_port = {http01_port}\ntlsalpn01_port = {tlsalpn01_port}\n\
             dns_resolvers = [\"{}\"]\ncaa_identities = []\n\
             allowed_ranges = [\"127.0.0.0/8\"]\n",
            list(&cfg.profiles),
            cfg.default_profile,
            cfg.eab,
            dns.resolver(),
        );
        let path = server.data.join("signet.toml");
        let text = fs::read_to_string(&path).expect("reading signet.toml");
        fs::write(&path, acme_config_text(&text, port, &acme, &cfg.extra_toml))
            .expect("writing signet.toml");
        server.listen = format!("127.0.0.1:{port}");
        server.serve();
        let directory = format!("{}/acme/{}/directory", server.url(), server.ca);
        let chain = server.get(&format!("/api/v1/cas/{}/chain", server.ca));
        assert_eq!(chain.status, 200, "{chain}");
        let ca_chain = super::write_pem(&server.work, "ca-chain", &chain.text());
        let manager = server.create_token(&["manager"], "acme-manager");
        Some(AcmeCa {
            server,
            dns,
            http01_port,
            tlsalpn01_port,
            directory,
            ca_chain,
            manager,
        })
    }

    /// A fresh scratch directory for one client run.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = super::unique(&self.server.work, name, "d");
        fs::create_dir_all(&d).expect("creating a client directory");
        d
    }

    /// `signet ARGS --server URL --token MANAGER`.
    pub fn as_manager(&self, args: &[&str]) -> Run {
        let mut full = args.to_vec();
        full.extend(["--token", self.manager.as_str()]);
        self.server.cli(&full)
    }

    /// `signet admin acme eab create --ca CA --name NAME` with the admin token: `(KID, HMAC)`.
    pub fn eab_create(&self, name: &str) -> (String, String) {
        let admin = self.server.admin_token();
        let run = self.server.cli(&[
            "admin",
            "acme",
            "eab",
            "create",
            "--ca",
            &self.server.ca,
            "--name",
            name,
            "--token",
            &admin,
        ]);
        assert_eq!(run.code, 0, "creating an EAB key: {run}");
        let line = run.stdout.trim();
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(kid), Some(hmac), None) => (kid.to_string(), hmac.to_string()),
            _ => panic!("eab create prints `KID HMAC` on one line: {run}"),
        }
    }

    /// The `admin view --certificates --json` item of the certificate in `cert_pem`.
    pub fn view_certificate(&self, cert_pem: &Path) -> Value {
        let serial = super::cert_serial(cert_pem);
        let run = self.as_manager(&[
            "admin",
            "view",
            "--certificates",
            "--ca",
            &self.server.ca,
            "--json",
        ]);
        assert_eq!(run.code, 0, "{run}");
        let page: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("admin view --json is not JSON ({e}): {run}"));
        let want = serial.trim_start_matches('0').to_ascii_lowercase();
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|item| {
                item["certificate"]["serial"]
                    .as_str()
                    .is_some_and(|s| s.trim_start_matches('0').to_ascii_lowercase() == want)
            })
            .cloned()
            .unwrap_or_else(|| panic!("serial {serial} is not in admin view:\n{page:#}"))
    }

    /// `admin show ID --json`.
    pub fn show(&self, id: &str) -> Value {
        let run = self.as_manager(&["admin", "show", id, "--ca", &self.server.ca, "--json"]);
        assert_eq!(run.code, 0, "{run}");
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("admin show --json is not JSON ({e}): {run}"))
    }

    /// The request behind the certificate in `cert_pem`, which must carry the
    /// `acme-account` and `acme-order` attributes, with profile `profile`; its details.
    pub fn assert_acme_request(&self, cert_pem: &Path, profile: &str) -> Value {
        let item = self.view_certificate(cert_pem);
        let id = item["id"].to_string().trim_matches('"').to_string();
        let details = self.show(&id);
        for name in ["acme-account", "acme-order"] {
            assert!(
                attribute(&details, name).is_some_and(|v| !v.is_empty()),
                "request {id} has no {name} attribute:\n{details:#}"
            );
        }
        assert_eq!(details["profile"], profile, "{details:#}");
        details
    }

    /// `openssl verify -CAfile <the server's CA chain> -untrusted FULLCHAIN LEAF` says OK.
    pub fn verify(&self, leaf: &Path, fullchain: &Path) {
        let run = run_program(
            "openssl",
            &[
                "verify",
                "-CAfile",
                self.ca_chain.to_str().expect("UTF-8"),
                "-untrusted",
                fullchain.to_str().expect("UTF-8"),
                leaf.to_str().expect("UTF-8"),
            ],
        );
        assert!(
            run.code == 0 && run.stdout.trim_end().ends_with(": OK"),
            "openssl verify rejected the ACME certificate:\n{run}\n{}",
            super::cert_text(leaf)
        );
    }

    /// `openssl ocsp` for the certificate in `leaf` against this CA's responder: its
    /// output (`LEAF: good` / `LEAF: revoked`).
    pub fn ocsp(&self, leaf: &Path) -> Run {
        let ca = self.server.ca_cert_path();
        let url = format!("{}/ocsp/{}", self.server.url(), self.server.ca);
        run_program(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                ca.to_str().expect("UTF-8"),
                "-cert",
                leaf.to_str().expect("UTF-8"),
                "-url",
                &url,
                "-CAfile",
                ca.to_str().expect("UTF-8"),
            ],
        )
    }

    /// The ACME order `id` as `signet admin acme orders --json` lists it.
    pub fn acme_order(&self, id: &str) -> Value {
        let run = self.as_manager(&["admin", "acme", "orders", "--ca", &self.server.ca, "--json"]);
        assert_eq!(run.code, 0, "{run}");
        let v: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("admin acme orders --json is not JSON ({e}): {run}"));
        v["orders"]
            .as_array()
            .or_else(|| v.as_array())
            .into_iter()
            .flatten()
            .find(|o| o["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("order {id} is not listed: {run}"))
    }

    /// The ids in the pending queue (`admin pending --json`), oldest first as listed.
    pub fn pending_ids(&self) -> Vec<String> {
        let run = self.as_manager(&["admin", "pending", "--ca", &self.server.ca, "--json"]);
        assert_eq!(run.code, 0, "{run}");
        let page: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("admin pending --json is not JSON ({e}): {run}"));
        page["items"]
            .as_array()
            .or_else(|| page.as_array())
            .into_iter()
            .flatten()
            .map(|i| i["id"].to_string().trim_matches('"').to_string())
            .collect()
    }

    /// [`certbot`] against this CA's directory.
    pub fn certbot(&self, dir: &Path, subcommand: &str, args: &[&str]) -> Option<Command> {
        certbot(&self.directory, dir, subcommand, args)
    }

    /// [`run_certbot`].
    pub fn run_certbot(&self, dir: &Path, cmd: Command) -> Run {
        run_certbot(dir, cmd)
    }

    /// [`lego`] against this CA's directory.
    pub fn lego(&self, dir: &Path, args: &[&str]) -> Option<Command> {
        lego(&self.directory, dir, args)
    }

    /// [`lego_exec_hook`] for this CA's challtestsrv.
    pub fn lego_exec_hook(&self, dir: &Path) -> PathBuf {
        lego_exec_hook(&self.dns, dir)
    }

    /// [`certbot_dns_hooks`] for this CA's challtestsrv.
    pub fn certbot_dns_hooks(&self, dir: &Path) -> (PathBuf, PathBuf) {
        certbot_dns_hooks(&self.dns, dir)
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// certbot with its state in `dir` (config, work, logs), non-interactive, against the ACME
/// directory `directory`: `certbot SUBCOMMAND ARGS`. `None` when the run skips certbot.
pub fn certbot(directory: &str, dir: &Path, subcommand: &str, args: &[&str]) -> Option<Command> {
    let bin = tool("certbot")?;
    let mut cmd = Command::new(bin);
    cmd.arg(subcommand)
        .args(["--server", directory])
        .arg("--config-dir")
        .arg(dir.join("config"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--logs-dir")
        .arg(dir.join("logs"))
        .args(["--register-unsafely-without-email", "--agree-tos", "-n"])
        .args(args)
        .env_remove("REQUESTS_CA_BUNDLE");
    Some(cmd)
}

/// Runs a certbot command to completion (deadline [`CLIENT_TIMEOUT`]); the run, with the
/// tail of certbot's own log appended to stderr.
pub fn run_certbot(dir: &Path, cmd: Command) -> Run {
    let mut run = spawn(cmd, dir, "certbot").wait(CLIENT_TIMEOUT);
    let log = fs::read_to_string(dir.join("logs/letsencrypt.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    run.stderr.push_str("\n--- letsencrypt.log (tail) ---\n");
    run.stderr
        .push_str(&lines[lines.len().saturating_sub(60)..].join("\n"));
    run
}

/// lego with its state in `dir` against the ACME directory `directory`:
/// `lego GLOBAL... run`. `None` when the run skips lego.
pub fn lego(directory: &str, dir: &Path, args: &[&str]) -> Option<Command> {
    let bin = tool("lego")?;
    let mut cmd = Command::new(bin);
    cmd.args(["--server", directory])
        .args(["--accept-tos", "--email", "admin@example.test"])
        .arg("--path")
        .arg(dir)
        .args(args)
        .arg("run")
        .env_remove("LEGO_CA_CERTIFICATES")
        .env_remove("LEGO_PATH");
    Some(cmd)
}

/// The lego `exec` DNS provider hook for challtestsrv `dns`, written into `dir`.
pub fn lego_exec_hook(dns: &ChallTestSrv, dir: &Path) -> PathBuf {
    let path = dir.join("lego-exec-challtestsrv.sh");
    write_script(
        &path,
        &format!(
            "#!/bin/sh\n\
             # lego exec DNS provider: $1 = present|cleanup, $2 = FQDN with the dot, $3 = value\n\
             set -e\n\
             MGMT={}\n\
             case \"$1\" in\n\
             \x20 present) curl -fsS -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" \"$MGMT/set-txt\" ;;\n\
             \x20 cleanup) curl -fsS -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" \"$MGMT/clear-txt\" ;;\n\
             \x20 *) echo \"unknown action $1\" >&2; exit 1 ;;\n\
             esac\n",
            dns.url()
        ),
    );
    path
}

/// certbot's `--manual-auth-hook` and `--manual-cleanup-hook` for dns-01 through
/// challtestsrv `dns`, written into `dir`.
pub fn certbot_dns_hooks(dns: &ChallTestSrv, dir: &Path) -> (PathBuf, PathBuf) {
    let auth = dir.join("certbot-dns-auth.sh");
    let cleanup = dir.join("certbot-dns-cleanup.sh");
    let url = dns.url();
    write_script(
        &auth,
        &format!(
            "#!/bin/sh\n\
             # certbot sets CERTBOT_DOMAIN (without \"*.\") and CERTBOT_VALIDATION.\n\
             curl -fsS -X POST -d \"{{\\\"host\\\":\\\"_acme-challenge.${{CERTBOT_DOMAIN}}.\\\",\\\"value\\\":\\\"${{CERTBOT_VALIDATION}}\\\"}}\" {url}/set-txt\n"
        ),
    );
    write_script(
        &cleanup,
        &format!(
            "#!/bin/sh\n\
             curl -fsS -X POST -d \"{{\\\"host\\\":\\\"_acme-challenge.${{CERTBOT_DOMAIN}}.\\\"}}\" {url}/clear-txt\n"
        ),
    );
    (auth, cleanup)
}

/// The value of request attribute `name` in `admin show --json` output (an object of
/// name → value, or a list of `{name, value}` / `[name, value]`).
pub fn attribute(details: &Value, name: &str) -> Option<String> {
    let attrs = &details["attributes"];
    if let Some(v) = attrs.get(name) {
        return v.as_str().map(str::to_string);
    }
    attrs.as_array()?.iter().find_map(|a| {
        if a["name"] == name {
            a["value"].as_str().map(str::to_string)
        } else if a[0] == name {
            a[1].as_str().map(str::to_string)
        } else {
            None
        }
    })
}

/// Panics with the run (and `extra`, e.g. the server log) unless it exited 0.
pub fn expect_ok(run: &Run, extra: &str) {
    assert_eq!(
        run.code, 0,
        "the client failed: {run}\n--- more ---\n{extra}"
    );
}
