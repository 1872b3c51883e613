//! `signet crl ...`: publish CRLs now (AD CS `certutil -CRL`, `ICertAdmin2::PublishCRLs`) and
//! list the published ones, over the administration API.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Value, json};

use crate::admin::Connection;
use signet_client::remote::{RemoteEnroll, path_segment};

#[derive(Args)]
pub struct CrlArgs {
    #[command(flatten)]
    conn: Connection,
    /// CA name or config string; default: the server's only CA.
    #[arg(long, global = true)]
    ca: Option<String>,
    #[command(subcommand)]
    command: CrlCommand,
}

#[derive(Subcommand)]
enum CrlCommand {
    /// Publish a full CRL (and a fresh delta) of every partition now; admin role.
    Publish {
        /// Only delta CRLs.
        #[arg(long)]
        delta: bool,
        #[arg(long)]
        json: bool,
    },
    /// The recently published CRLs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: CrlArgs) -> Result<ExitCode> {
    let c = RemoteEnroll::new(&args.conn.server)?.with_token(args.conn.token.clone());
    let ca = match &args.ca {
        Some(ca) => ca.clone(),
        None => crate::request::default_ca(&c, None).await?,
    };
    let path = format!("/api/v1/cas/{}/crls", path_segment(&ca));
    let (value, json) = match args.command {
        CrlCommand::Publish { delta, json } => (
            c.json::<Value>(Method::POST, &path, Some(json!({ "delta": delta })))
                .await?,
            json,
        ),
        CrlCommand::List { limit, json } => (
            c.json::<Value>(Method::GET, &format!("{path}?limit={limit}"), None)
                .await?,
            json,
        ),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<6} {:<8} {:<8} {:>9}  {:<20}  {:<20}  URL",
        "SHARD", "NUMBER", "KIND", "ENTRIES", "THIS UPDATE", "NEXT UPDATE"
    );
    for crl in value.as_array().into_iter().flatten() {
        let kind = match crl.get("delta_base").and_then(Value::as_u64) {
            Some(base) => format!("delta:{base}"),
            None => "full".into(),
        };
        // serde_json's Display ignores width: format the numbers as strings first.
        let num = |k: &str| crl[k].as_u64().map(|n| n.to_string()).unwrap_or_default();
        println!(
            "{:<6} {:<8} {:<8} {:>9}  {:<20}  {:<20}  {}",
            num("shard"),
            num("number"),
            kind,
            num("entries"),
            crl["this_update"].as_str().unwrap_or(""),
            crl["next_update"].as_str().unwrap_or(""),
            crl.get("url").and_then(Value::as_str).unwrap_or("-"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
