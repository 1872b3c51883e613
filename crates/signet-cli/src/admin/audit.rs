//! `signet audit verify|export`: the audit chain checked offline (`--data`) or through the
//! server, against the audit key and the signed checkpoints.

use super::*;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit chain with the audit key and the signed checkpoints, and say how far
    /// back it can vouch; exit 1 on a broken link or a checkpoint the chain contradicts.
    Verify {
        /// Check the database of this data directory directly (server stopped, or a copy),
        /// with its audit.key, audit-signing.pub and audit-checkpoint.json.
        #[arg(long)]
        data: Option<PathBuf>,
        /// A checkpoint kept outside the database (an `AuditCheckpoint` event record of the
        /// file or webhook exit module, audit-checkpoint.json, or a log holding them);
        /// repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// The audit signing public key to trust instead of DIR/audit-signing.pub (a copy
        /// kept elsewhere); with --data only.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        #[command(flatten)]
        conn: Connection,
        #[arg(long)]
        json: bool,
    },
    /// Write the audit log as JSON lines.
    Export {
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: Connection,
    },
}

pub async fn audit(args: AuditArgs) -> Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            data,
            checkpoints,
            public_key,
            conn,
            json,
        } => {
            let mut witnessed = Vec::new();
            for file in &checkpoints {
                for c in crate::audit_anchors::read_checkpoints(file)? {
                    witnessed.push((file.display().to_string(), c));
                }
            }
            let check: AuditCheckView = match data {
                Some(dir) => {
                    let config = crate::config::Config::load(&dir)?;
                    let db = config.database(&dir)?;
                    let keys = crate::audit_anchors::for_verify(&dir, public_key.as_deref())?;
                    // The local witness the server rewrites after each checkpoint.
                    witnessed.extend(crate::audit_anchors::local_witness(&dir)?);
                    let report = signet_store::audit::verify_database(&db, &keys, &witnessed)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    AuditCheckView::from(&report)
                }
                None => {
                    if public_key.is_some() {
                        anyhow::bail!(
                            "--public-key needs --data (the server checks with the key it holds)"
                        );
                    }
                    let c = client(&conn)?;
                    let v = if witnessed.is_empty() {
                        call(&c, Method::GET, "/api/v1/audit/verify", None).await?
                    } else {
                        let body: Vec<Value> = witnessed
                            .iter()
                            .map(|(_, c)| {
                                json!({
                                    "checkpoint": c.number,
                                    "seq": c.seq,
                                    "hash": hex::encode(&c.hash),
                                    "at": signet_x509::time::unix_seconds(c.at),
                                    "signature": hex::encode(&c.signature),
                                })
                            })
                            .collect();
                        call(
                            &c,
                            Method::POST,
                            "/api/v1/audit/verify",
                            Some(json!({ "checkpoints": body })),
                        )
                        .await?
                    };
                    serde_json::from_value(v)?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&check)?);
            } else {
                if check.ok {
                    println!(
                        "audit log intact: {} records, every link verifies",
                        check.records
                    );
                } else {
                    println!(
                        "audit log BROKEN at record {}: {}",
                        check.first_broken.unwrap_or(0),
                        check.reason.as_deref().unwrap_or("")
                    );
                }
                // The first problem is the headline already.
                let headline = format!(
                    "BROKEN at record {}: {}",
                    check.first_broken.unwrap_or(0),
                    check.reason.as_deref().unwrap_or("")
                );
                for line in check.statement.iter().filter(|l| **l != headline) {
                    println!("  {line}");
                }
            }
            Ok(if check.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Export { data, conn } => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match data {
                Some(dir) => {
                    let config = crate::config::Config::load(&dir)?;
                    let db = config.database(&dir)?;
                    signet_store::audit::export(&db, |r| {
                        let line = serde_json::to_string(&AuditView::from(&r)).unwrap_or_default();
                        writeln!(out, "{line}")
                    })
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                None => {
                    let c = client(&conn)?;
                    let mut after = 0u64;
                    loop {
                        let (status, body) = c
                            .call(
                                Method::GET,
                                &format!("/api/v1/audit?after={after}&limit=1000"),
                                None,
                                Vec::new(),
                            )
                            .await?;
                        if !status.is_success() {
                            return Err(problem(status, &body).into());
                        }
                        out.write_all(&body)?;
                        let text = String::from_utf8_lossy(&body);
                        let last = text
                            .lines()
                            .last()
                            .and_then(|l| serde_json::from_str::<AuditView>(l).ok());
                        match last {
                            Some(l) if text.lines().count() >= 1000 => after = l.seq,
                            _ => break,
                        }
                    }
                }
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
