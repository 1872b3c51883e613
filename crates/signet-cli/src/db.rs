//! `signet db copy`: moves an installation from its SQLite file to PostgreSQL (docs/HA.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// `signet db ...`.
#[derive(Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy the installation's SQLite database into an empty PostgreSQL database, check
    /// every table and the audit chain there, and point signet.toml at it. Stop the server
    /// first.
    Copy {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        /// The PostgreSQL database: a postgres:// URL (as `signet init --database`).
        #[arg(long)]
        to: String,
        /// A file holding the PostgreSQL password (or SIGNET_DATABASE_PASSWORD).
        #[arg(long)]
        to_password_file: Option<String>,
        /// Leave signet.toml as it is (to copy without switching yet).
        #[arg(long)]
        keep_config: bool,
    },
}

pub fn run(args: DbArgs) -> Result<ExitCode> {
    match args.command {
        DbCommand::Copy {
            data,
            to,
            to_password_file,
            keep_config,
        } => copy(&data, &to, to_password_file.as_deref(), keep_config),
    }
}

fn copy(data: &Path, to: &str, password_file: Option<&str>, keep_config: bool) -> Result<ExitCode> {
    let config = crate::config::Config::load(data)?;
    let from = config.database(data)?;
    if !matches!(from, signet_store::Database::Sqlite(_)) {
        bail!("[server] database is {from}, not a SQLite file: there is nothing to copy from");
    }
    let target = crate::config::database(data, to, password_file)?;
    if !matches!(target, signet_store::Database::Postgres(_)) {
        bail!("--to must be a postgres:// URL");
    }
    let report = signet_store::copy::copy(&from, &target)
        .map_err(|e| anyhow::anyhow!("copying {from} to {target}: {e}"))?;
    for (table, rows) in &report.tables {
        if *rows > 0 {
            println!("{table:<20} {rows:>10} rows");
        }
    }
    println!("copied {} rows from {from} to {target}", report.rows());

    // The copy must verify with the installation's own keys, as the original does.
    let keys = crate::audit_anchors::for_verify(data, None)?;
    let witnessed = crate::audit_anchors::local_witness(data)?;
    let check = signet_store::audit::verify_database(&target, &keys, &witnessed)
        .map_err(|e| anyhow::anyhow!("verifying the copy's audit chain: {e}"))?;
    if !check.ok() {
        let (seq, why) = check.first_problem().cloned().unwrap_or_default();
        bail!("the copy's audit chain does not verify at record {seq}: {why}");
    }
    println!(
        "audit chain verified on {target}: {} records, {} checkpoints",
        check.records, check.checkpoints_stored
    );
    if keep_config {
        println!("signet.toml unchanged: set [server] database to use the copy");
    } else {
        point_config_at(data, to, password_file)?;
        println!("signet.toml now names {target}; the SQLite file is left as it was");
    }
    Ok(ExitCode::SUCCESS)
}

/// Rewrites `[server] database` (and `database_password_file`) in signet.toml, keeping the
/// rest of the file and its comments.
fn point_config_at(data: &Path, url: &str, password_file: Option<&str>) -> Result<()> {
    let path = data.join("signet.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = String::with_capacity(text.len() + 128);
    let mut section = String::new();
    let mut replaced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
        }
        let key = trimmed.split('=').next().unwrap_or("").trim();
        if section == "[server]" && (key == "database" || key == "database_password_file") {
            if key == "database" && !replaced {
                out.push_str(&format!("database = {}\n", crate::config::toml_string(url)));
                if let Some(f) = password_file {
                    out.push_str(&format!(
                        "database_password_file = {}\n",
                        crate::config::toml_string(f)
                    ));
                }
                replaced = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !replaced {
        bail!(
            "{} has no [server] database line to change: set database = {:?} there",
            path.display(),
            url
        );
    }
    // Check before replacing: the result must still load.
    let tmp = data.join("signet.toml.new");
    std::fs::write(&tmp, &out).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    crate::config::Config::load(data).context("signet.toml after the change")?;
    Ok(())
}
