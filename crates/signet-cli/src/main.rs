//! `signet`: the one binary. `init` makes a CA, `serve` runs it, `config` discovers CAs,
//! `request` submits and retrieves requests through `Enroll` over HTTP, `bench` measures
//! issuance throughput.
//!
//! # Layout
//! - `config.rs`: the `signet.toml` schema and template.
//! - `init.rs`, `serve.rs`: `signet init`, `signet serve`; `serve/delivery.rs` (the exit
//!   delivery tasks) and `serve/maintenance.rs` (CRL publication, responder renewal), the
//!   loops that drive the engine beside the HTTP server.
//! - `request.rs`: `signet config` and `signet request ...`.
//! - `admin.rs`: `signet admin ...` and `signet audit ...`.
//! - `bench.rs`: `signet bench`.
//! - `ca.rs`: `signet ca create` and `signet ca install` (a CA under an outside parent).
//! - `cli_docs.rs`: `signet completions` and the man pages in `docs/man` (`signet man`).
//! - `backup.rs`: `signet backup` and `signet restore` (`backup/archive.rs`: the file format).
#![forbid(unsafe_code)]

/// mimalloc instead of glibc malloc: allocation and freeing were 12% of the issuing server's
/// CPU under load (issue 21's profile); see docs/PERFORMANCE.md for the A/B figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod audit_anchors;
mod backup;
mod bench;
mod bench_revocation;
mod ca;
mod ca_offline;
mod cli_docs;
mod config;
mod crl;
mod db;
mod doctor;
mod init;
mod modules;
mod progress;
mod request;
mod serve;
mod token_key;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "signet",
    version,
    about = "Signet: an open-source certificate authority server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a root CA, its database, signet.toml and the bootstrap admin token.
    Init {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        /// The CA name (the CAName of the config string host/CAName).
        #[arg(long, default_value = "demo")]
        ca: String,
        /// p256, p384, ed25519, rsa2048, rsa3072, rsa4096 or mldsa65.
        #[arg(long, default_value = "p256")]
        key: String,
        /// The CA subject, e.g. "O=Example,CN=Example Root CA" (written in DER order).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 3650)]
        validity_days: u32,
        /// A DNS suffix the default profiles accept (repeatable); default: localhost, test.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Development mode: the CA key is written UNENCRYPTED.
        #[arg(long)]
        dev: bool,
        /// A file holding the passphrase that encrypts the CA key (or SIGNET_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// The listen address written to signet.toml.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// A PostgreSQL database instead of the embedded SQLite file: a postgres:// URL
        /// (libpq style: several hosts, target_session_attrs, sslmode=verify-full and
        /// sslrootcert), written to signet.toml as [server] database. It must be empty.
        #[arg(long)]
        database: Option<String>,
        /// A file holding the PostgreSQL password (or SIGNET_DATABASE_PASSWORD).
        #[arg(long)]
        database_password_file: Option<String>,
        /// Keep the CA key on a PKCS#11 token (an HSM), named by an RFC 7512 URI:
        /// pkcs11:token=T;object=K?module-path=M&pin-source=file:F (the PIN from that file
        /// or SIGNET_PKCS11_PIN). The key pair is made on the token (--key says which),
        /// unless --existing.
        #[arg(long)]
        key_uri: Option<String>,
        /// With --key-uri: use the key already on the token instead of making one.
        #[arg(long, requires = "key_uri")]
        existing: bool,
        /// An RSA CA key signs RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) instead of
        /// PKCS#1 v1.5.
        #[arg(long)]
        rsa_pss: bool,
    },
    /// Run the CA server.
    Serve {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        /// Overrides [server] listen, e.g. 127.0.0.1:0 for any free port.
        #[arg(long)]
        listen: Option<String>,
        /// Development mode: initialise an unencrypted dev CA in --data if there is none.
        #[arg(long)]
        dev: bool,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// List the CAs of a server with their config strings.
    Config {
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        json: bool,
    },
    /// Submit and retrieve certificate requests.
    Request {
        #[command(subcommand)]
        command: request::RequestCommand,
    },
    /// Administer a running server: view, approve, deny, edit, revoke, import, tokens.
    Admin(admin::AdminArgs),
    /// Verify or export the hash-chained audit log.
    Audit(admin::AuditArgs),
    /// Publish CRLs now and list the published ones.
    Crl(crl::CrlArgs),
    /// Report settings that re-open the AD CS misconfigurations ESC1–ESC8.
    ///
    /// Exit status: 0 nothing high-risk, 2 high-risk findings, 1 error.
    Doctor {
        #[arg(long, default_value = "signet-data")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Measure issuance throughput over HTTP against a durable SQLite store.
    Bench(bench::BenchArgs),
    /// Move the database: copy an installation from SQLite to PostgreSQL.
    Db(db::DbArgs),
    /// Add a CA whose certificate comes from a parent elsewhere (an offline root): create
    /// its key and request, then install the certificate the parent returns.
    Ca(ca::CaArgs),
    /// Print a shell completion script to standard output.
    ///
    /// Install it where the shell looks for completions, e.g.
    /// `signet completions bash > /etc/bash_completion.d/signet`.
    Completions {
        /// The shell the script is for.
        shell: cli_docs::Shell,
    },
    /// Archive a data directory, database included, into one encrypted file; works while
    /// `signet serve` runs on it.
    Backup(backup::BackupArgs),
    /// Restore a `signet backup` archive into a new data directory, checked before use.
    Restore(backup::RestoreArgs),
}

fn main() -> ExitCode {
    // The hidden `signet man` (which writes docs/man) is added beside the derived CLI, not in
    // `Command`: completion scripts offer hidden subcommands too, and must not offer it.
    let matches = Cli::command()
        .subcommand(cli_docs::man_command())
        .get_matches();
    let result = match matches.subcommand() {
        Some(("man", args)) => cli_docs::man(args, Cli::command()),
        _ => match Cli::from_arg_matches(&matches) {
            Ok(cli) => run(cli),
            Err(e) => e.format(&mut Cli::command()).exit(),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// The CA key passphrase from a file or `SIGNET_PASSPHRASE`, wiped from memory when dropped.
/// (The environment variable itself stays in the process environment: prefer the file.)
fn read_passphrase(file: Option<&PathBuf>) -> Result<Option<Zeroizing<Vec<u8>>>> {
    read_secret(file, "SIGNET_PASSPHRASE")
}

/// A secret from a file, else from the environment variable `env`, without its trailing
/// newline, wiped from memory when dropped.
fn read_secret(file: Option<&PathBuf>, env: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let raw = match file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => std::env::var_os(env).map(|v| v.into_encoded_bytes()),
    };
    Ok(raw.map(|p| {
        let mut p = Zeroizing::new(p);
        while p.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            p.pop();
        }
        p
    }))
}

fn init_logging(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // A log that cannot be written (a full disk under a redirected stderr) must not stop
        // the CA: tracing-subscriber would report the failure with `eprintln!`, which panics
        // on the same full stderr. The lines are lost; the CA goes on.
        .log_internal_errors(false);
    if format == "json" {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init {
            data,
            ca,
            key,
            subject,
            validity_days,
            domains,
            dev,
            passphrase_file,
            listen,
            database,
            database_password_file,
            key_uri,
            existing,
            rsa_pss,
        } => {
            init_logging("text", "warn");
            let passphrase = if dev && passphrase_file.is_none() {
                None
            } else {
                read_passphrase(passphrase_file.as_ref())?
            };
            init::run(&init::InitOptions {
                data,
                ca,
                key,
                subject,
                validity_days,
                domains,
                dev: dev && passphrase.is_none(),
                passphrase,
                listen,
                database,
                database_password_file,
                key_uri,
                existing,
                rsa_pss,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data,
            listen,
            dev,
            passphrase_file,
        } => {
            let passphrase = read_passphrase(passphrase_file.as_ref())?;
            if dev && !data.join("signet.toml").exists() {
                init_logging("text", "info");
                eprintln!(
                    "--dev: no CA in {}, creating a development CA",
                    data.display()
                );
                init::run(&init::InitOptions {
                    data: data.clone(),
                    ca: "demo".into(),
                    key: "p256".into(),
                    subject: None,
                    validity_days: 3650,
                    domains: Vec::new(),
                    dev: true,
                    passphrase: None,
                    listen: "127.0.0.1:8080".into(),
                    database: None,
                    database_password_file: None,
                    key_uri: None,
                    existing: false,
                    rsa_pss: false,
                })?;
            }
            let config = config::Config::load(&data)?;
            init_logging(&config.logging.format, &config.logging.level);
            runtime()?.block_on(serve::run(data, listen, passphrase))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { server, json } => {
            init_logging("text", "warn");
            runtime()?.block_on(request::config(&server, json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Request { command } => {
            init_logging("text", "warn");
            runtime()?.block_on(request::run(command))
        }
        Command::Admin(args) => {
            init_logging("text", "warn");
            runtime()?.block_on(admin::run(args))
        }
        Command::Doctor { data, json } => doctor::run(&data, json),
        Command::Db(args) => {
            init_logging("text", "warn");
            db::run(args)
        }
        Command::Ca(args) => {
            init_logging("text", "warn");
            ca::run(args)
        }
        Command::Crl(args) => {
            init_logging("text", "warn");
            runtime()?.block_on(crl::run(args))
        }
        Command::Audit(args) => {
            init_logging("text", "warn");
            runtime()?.block_on(admin::audit(args))
        }
        Command::Bench(args) => {
            init_logging("text", "warn");
            runtime()?.block_on(bench::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            cli_docs::completions(shell, Cli::command())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => {
            init_logging("text", "warn");
            backup::backup(args)
        }
        Command::Restore(args) => {
            init_logging("text", "warn");
            backup::restore(args)
        }
    }
}
