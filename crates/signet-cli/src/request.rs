//! `signet config` and `signet request submit|status`: thin shells over `RemoteEnroll`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use signet_core::{Enroll, RequestId, RequestStatus, SubmitRequest, SubmitResponse};

use signet_client::remote::RemoteEnroll;

#[derive(Subcommand)]
pub enum RequestCommand {
    /// Submit a PKCS#10 request (PEM or DER; `-` reads standard input).
    ///
    /// Exit status: 0 issued, 2 pending, 3 denied, 4 failed, 1 error.
    Submit {
        csr: PathBuf,
        /// CA name or config string; default: the server's only CA.
        #[arg(long)]
        ca: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        /// A request attribute `name=value` (repeatable).
        #[arg(long = "attr")]
        attributes: Vec<String>,
        /// Write the certificate and its chain (PEM) here when issued.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// API token (or SIGNET_TOKEN); profiles refuse anonymous requests unless they allow them.
        #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Retrieve a request's disposition (and certificate, once issued).
    ///
    /// Exit status: 0 issued, 2 pending, 3 denied, 4 failed, 5 revoked, 1 error.
    Status {
        id: String,
        #[arg(long)]
        ca: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// API token (or SIGNET_TOKEN); profiles refuse anonymous requests unless they allow them.
        #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// `signet config`.
pub async fn config(server: &str, json: bool) -> Result<()> {
    let enroll = RemoteEnroll::new(server)?;
    let cas = enroll.list_cas().await?;
    if json {
        let list: Vec<signet_client::wire::CaView> = cas.iter().cloned().map(Into::into).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for c in cas {
        println!("{}", c.config);
        println!("  name:      {}", c.name);
        println!("  subject:   {}", c.subject);
        println!("  key:       {}", c.key_algorithm);
        println!("  policy:    {}", c.policy);
        let profiles: Vec<String> = c
            .profiles
            .iter()
            .map(|p| {
                if Some(p) == c.default_profile.as_ref() {
                    format!("{p} (default)")
                } else {
                    p.clone()
                }
            })
            .collect();
        println!("  profiles:  {}", profiles.join(", "));
        println!("  exits:     {}", c.exits.join(", "));
        if c.cert_index > 0 || c.keys.len() > 1 {
            println!("  cert index: {}", c.cert_index);
            for k in &c.keys {
                println!(
                    "  key {}:     {} until {}{}",
                    k.index,
                    if k.current {
                        "issuing"
                    } else {
                        "retired, signs CRLs"
                    },
                    signet_x509::time::rfc3339(k.not_after),
                    k.crl_url
                        .as_deref()
                        .map(|u| format!(", CRL {u}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

pub(crate) async fn default_ca(enroll: &RemoteEnroll, ca: Option<String>) -> Result<String> {
    if let Some(ca) = ca {
        return Ok(ca);
    }
    let cas = enroll.list_cas().await?;
    match cas.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => bail!("the server has no CA"),
        many => bail!(
            "the server has several CAs ({}): choose one with --ca",
            many.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn run(command: RequestCommand) -> Result<ExitCode> {
    match command {
        RequestCommand::Submit {
            csr,
            ca,
            profile,
            attributes,
            out,
            json,
            server,
            token,
        } => {
            let bytes = if csr.as_os_str() == "-" {
                use std::io::Read;
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .context("reading standard input")?;
                buf
            } else {
                std::fs::read(&csr).with_context(|| format!("reading {}", csr.display()))?
            };
            let attributes = attributes
                .iter()
                .map(|a| {
                    a.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--attr {a:?} is not name=value"))
                })
                .collect::<Result<Vec<_>>>()?;
            let enroll = RemoteEnroll::new(&server)?.with_token(token);
            let ca = default_ca(&enroll, ca).await?;
            let response = enroll
                .submit(SubmitRequest {
                    ca: ca.clone(),
                    csr: bytes,
                    profile,
                    attributes,
                    caller: None,
                })
                .await?;
            report(&ca, &response, out.as_ref(), json)
        }
        RequestCommand::Status {
            id,
            ca,
            out,
            json,
            server,
            token,
        } => {
            let id: RequestId = id.parse()?;
            let enroll = RemoteEnroll::new(&server)?.with_token(token);
            let ca = default_ca(&enroll, ca).await?;
            let response = enroll.retrieve(&ca, id, None).await?;
            report(&ca, &response, out.as_ref(), json)
        }
    }
}

fn report(ca: &str, r: &SubmitResponse, out: Option<&PathBuf>, json: bool) -> Result<ExitCode> {
    let pem_cert = r
        .certificate
        .as_ref()
        .map(|d| signet_x509::pem::encode("CERTIFICATE", d));
    if let (Some(path), Some(cert)) = (out, &pem_cert) {
        let mut text = cert.clone();
        for c in &r.chain {
            text.push_str(&signet_x509::pem::encode("CERTIFICATE", c));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        let v = serde_json::json!({
            "id": r.id.get(), "ca": ca, "status": r.status.as_str(), "message": r.message,
            "serial": r.serial.map(|s| s.to_hex()), "certificate": pem_cert,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut line = format!("request {} on {ca}: {}", r.id, r.status);
        if let Some(s) = &r.serial {
            line.push_str(&format!(" (serial {s})"));
        }
        println!("{line}");
        if let Some(m) = &r.message
            && r.status != RequestStatus::Issued
        {
            println!("  {m}");
        }
        if let (Some(path), true) = (out, pem_cert.is_some()) {
            println!("  certificate and chain written to {}", path.display());
        }
    }
    Ok(ExitCode::from(match r.status {
        RequestStatus::Issued => 0,
        RequestStatus::Pending => 2,
        RequestStatus::Denied => 3,
        RequestStatus::Failed => 4,
        RequestStatus::Revoked => 5,
    }))
}
