//! `signet admin acme ...`: the ACME administration API (`/api/v1/cas/{ca}/acme/...`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use hyper::Method;
use serde_json::{Value, json};
use signet_client::remote::{RemoteEnroll, path_segment};

use super::call;

#[derive(Subcommand)]
pub enum AcmeCommand {
    /// ACME accounts of the CA, newest first.
    Accounts {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// ACME orders of the CA (of one account with --account), newest first.
    Orders {
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// External Account Binding keys.
    Eab {
        #[command(subcommand)]
        command: EabCommand,
    },
    /// Move a certificate's renewal window into the past (RFC 9773), so ACME clients that
    /// check renewal information renew it now.
    RenewEarly {
        #[arg(long)]
        serial: String,
    },
}

#[derive(Subcommand)]
pub enum EabCommand {
    /// Create a key; prints `KID HMAC` (base64url) on one line, shown only once.
    Create {
        /// The identity name accounts bound with it enroll as (default: eab-KID).
        #[arg(long)]
        name: Option<String>,
        /// Let it bind an account of any CA of this server.
        #[arg(long)]
        any_ca: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key (accounts it bound keep working).
    Revoke {
        /// The key id (ids of older keys may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

fn print_rows(rows: &[Value], columns: &[&str]) {
    println!("{}", columns.join("\t"));
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[*c] {
                Value::Null => "-".to_owned(),
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other["value"].as_str().unwrap_or("?").to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
}

pub async fn run(c: &RemoteEnroll, ca: &str, command: AcmeCommand) -> Result<ExitCode> {
    let base = format!("/api/v1/cas/{ca}/acme");
    match command {
        AcmeCommand::Accounts { limit, json } => {
            let v = call(
                c,
                Method::GET,
                &format!("{base}/accounts?limit={limit}"),
                None,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v["accounts"])?);
            } else {
                let rows = v["accounts"].as_array().cloned().unwrap_or_default();
                print_rows(
                    &rows,
                    &[
                        "id",
                        "status",
                        "requester",
                        "eab_kid",
                        "created_at",
                        "contact",
                    ],
                );
            }
        }
        AcmeCommand::Orders {
            account,
            limit,
            json,
        } => {
            let mut path = format!("{base}/orders?limit={limit}");
            if let Some(a) = account {
                path.push_str(&format!("&account={}", path_segment(&a)));
            }
            let v = call(c, Method::GET, &path, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v["orders"])?);
            } else {
                let rows = v["orders"].as_array().cloned().unwrap_or_default();
                print_rows(
                    &rows,
                    &[
                        "id",
                        "status",
                        "account",
                        "profile",
                        "request",
                        "serial",
                        "identifiers",
                    ],
                );
            }
        }
        AcmeCommand::Eab { command } => match command {
            EabCommand::Create { name, any_ca } => {
                let v = call(
                    c,
                    Method::POST,
                    &format!("{base}/eab"),
                    Some(json!({ "name": name, "any_ca": any_ca })),
                )
                .await?;
                // Scripts read stdout: `KID HMAC` and nothing else.
                println!(
                    "{} {}",
                    v["kid"].as_str().unwrap_or_default(),
                    v["hmac"].as_str().unwrap_or_default()
                );
                eprintln!(
                    "created EAB key {} for {}; the HMAC key is shown only once",
                    v["kid"].as_str().unwrap_or_default(),
                    v["name"].as_str().unwrap_or_default()
                );
            }
            EabCommand::List { json } => {
                let v = call(c, Method::GET, &format!("{base}/eab"), None).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&v["keys"])?);
                } else {
                    let rows = v["keys"].as_array().cloned().unwrap_or_default();
                    print_rows(
                        &rows,
                        &[
                            "kid",
                            "name",
                            "ca",
                            "account",
                            "created_by",
                            "created_at",
                            "revoked_at",
                        ],
                    );
                }
            }
            EabCommand::Revoke { kid } => {
                call(
                    c,
                    Method::DELETE,
                    &format!("{base}/eab/{}", path_segment(&kid)),
                    None,
                )
                .await?;
                eprintln!("revoked EAB key {kid}");
            }
        },
        AcmeCommand::RenewEarly { serial } => {
            call(
                c,
                Method::POST,
                &format!("{base}/renew-early"),
                Some(json!({ "serial": serial })),
            )
            .await?;
            eprintln!("certificate {serial}: renewal information now says renew");
        }
    }
    Ok(ExitCode::SUCCESS)
}
