//! `signet admin ...` and `signet audit ...`: the administration API over HTTP (ICertAdmin,
//! ICertView, tokens, the audit log), and the offline audit check of a data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Value, json};
use signet_client::wire::{AuditCheckView, AuditView, RecordView, RequestView, TokenView};

use signet_client::remote::{RemoteEnroll, path_segment, problem};

mod acme;
mod audit;

pub use audit::{AuditArgs, audit};

/// Where the server is and who is calling.
#[derive(Args, Clone)]
pub struct Connection {
    #[arg(
        long,
        env = "SIGNET_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// API token (or SIGNET_TOKEN).
    #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

#[derive(Args)]
pub struct AdminArgs {
    #[command(flatten)]
    conn: Connection,
    /// CA name or config string; default: the server's only CA.
    #[arg(long, global = true)]
    ca: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// List requests and certificates (ICertView), newest filters first.
    View(ViewArgs),
    /// The pending queue (`view --status pending`).
    Pending {
        #[arg(long)]
        json: bool,
    },
    /// One request in full: attributes, extensions, approvals, history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending or denied request (resubmits it once enough managers approved).
    ///
    /// Exit status: 0 issued, 2 pending, 3 denied, 4 failed, 1 error.
    Approve { id: String },
    /// Deny a pending request.
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Set request attributes (`name=value`) or remove them (`--remove name`).
    SetAttr {
        id: String,
        attributes: Vec<String>,
        #[arg(long = "remove")]
        remove: Vec<String>,
    },
    /// Set, replace or disable an extension of a pending request.
    SetExt {
        id: String,
        /// Dotted OID (2.5.29.17 subjectAltName, 2.5.29.37 extKeyUsage, ...).
        oid: String,
        /// The extension value (the DER inside extnValue), hex.
        #[arg(long)]
        der: Option<String>,
        /// subjectAltName entries: dns:NAME, ip:ADDR, email:ADDR, uri:URI (repeatable).
        #[arg(long)]
        san: Vec<String>,
        /// extKeyUsage purposes: serverAuth, clientAuth, ... or dotted OIDs (repeatable).
        #[arg(long)]
        eku: Vec<String>,
        #[arg(long)]
        critical: bool,
        /// Keep the extension recorded but out of the certificate.
        #[arg(long)]
        disable: bool,
    },
    /// Revoke a certificate by serial (hex).
    Revoke {
        serial: String,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
        #[arg(long)]
        reason: String,
        /// YYYY-MM-DD[THH:MM:SSZ]: when the key was (or may have been) compromised.
        #[arg(long)]
        invalidity_date: Option<String>,
    },
    /// Release a certificate from hold.
    Unrevoke { serial: String },
    /// Import a certificate issued elsewhere with this CA's key (PEM or DER file).
    Import { certificate: PathBuf },
    /// Exit module delivery: cursor, lag, retries and parked events per module.
    Exits {
        #[command(subcommand)]
        command: Option<ExitsCommand>,
        #[arg(long)]
        json: bool,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// ACME: accounts, orders, External Account Binding keys, early renewal.
    Acme {
        #[command(subcommand)]
        command: acme::AcmeCommand,
    },
    /// SCEP: one-time challenge passwords for devices.
    Scep {
        #[command(subcommand)]
        command: ScepCommand,
    },
}

#[derive(Subcommand)]
enum ScepCommand {
    /// Make a one-time challenge password (needs the manager role); prints only the
    /// challenge. It enrolls one device, once, before it expires.
    Challenge {
        /// The profile (must be the CA's SCEP profile; default: it).
        #[arg(long)]
        profile: Option<String>,
        /// How long it stays usable: 90s, 60m, 12h, 7d (at most 30 days).
        #[arg(long, default_value = "60m")]
        valid: String,
    },
}

#[derive(Args)]
struct ViewArgs {
    /// pending, issued, denied, failed or revoked.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    profile: Option<String>,
    #[arg(long)]
    requester: Option<String>,
    /// Substring of the subject or of a SAN.
    #[arg(long)]
    q: Option<String>,
    #[arg(long)]
    serial: Option<String>,
    #[arg(long)]
    submitted_after: Option<String>,
    #[arg(long)]
    submitted_before: Option<String>,
    #[arg(long)]
    issued_after: Option<String>,
    #[arg(long)]
    issued_before: Option<String>,
    /// Unrevoked certificates that expire within N days.
    #[arg(long)]
    expiring_days: Option<u32>,
    /// Only requests with a certificate.
    #[arg(long)]
    certificates: bool,
    /// Show rows after this request id (the `next` of the previous page).
    #[arg(long)]
    after: Option<i64>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token on stdout.
    Create {
        /// admin, manager, auditor or requester (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Limit the token to these CAs (repeatable); default: every CA.
        #[arg(long = "ca")]
        cas: Vec<String>,
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        expires_days: Option<u32>,
        /// The token may also serve as a CMP shared secret (password-based MAC, with the
        /// token's name as the reference): the server can recompute it from a stored seed
        /// and its token-secret key, where other tokens are kept only as a hash.
        #[arg(long)]
        shared_secret: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: u64 },
}

#[derive(Subcommand)]
enum ExitsCommand {
    /// Events parked (given up on) for a module, oldest first.
    Parked {
        #[arg(long)]
        module: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Deliver a parked event again; on success it leaves the parked list.
    Retry { module: String, seq: u64 },
    /// Park the event a module is failing on now, so later events flow.
    Skip { module: String },
}

fn client(conn: &Connection) -> Result<RemoteEnroll> {
    Ok(RemoteEnroll::new(&conn.server)?.with_token(conn.token.clone()))
}

async fn call(c: &RemoteEnroll, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    Ok(c.json::<Value>(method, path, body).await?)
}

pub async fn run(args: AdminArgs) -> Result<ExitCode> {
    let c = client(&args.conn)?;
    // Tokens belong to the server, not to a CA: no CA discovery for them.
    let command = match args.command {
        AdminCommand::Token { command } => return token(&c, command).await,
        other => other,
    };
    let ca_name = match &args.ca {
        Some(ca) => ca.clone(),
        None => crate::request::default_ca(&c, None).await?,
    };
    let ca = path_segment(&ca_name);
    match command {
        AdminCommand::Acme { command } => acme::run(&c, &ca, command).await,
        AdminCommand::Scep {
            command: ScepCommand::Challenge { profile, valid },
        } => {
            let valid = signet_x509::time::parse_duration(&valid)
                .map_err(|e| anyhow::anyhow!("--valid {valid:?}: {e}"))?;
            let v = call(
                &c,
                Method::POST,
                &format!("/api/v1/cas/{ca}/scep/challenges"),
                Some(json!({ "profile": profile, "valid_seconds": valid.as_secs() })),
            )
            .await?;
            // Scripts read stdout: the challenge and nothing else.
            println!("{}", v["challenge"].as_str().unwrap_or_default());
            eprintln!(
                "one-time SCEP challenge {} for profile {}, usable once until {}",
                v["id"].as_str().unwrap_or_default(),
                v["profile"].as_str().unwrap_or_default(),
                v["expires"].as_str().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Exits { command, json } => exits(&c, &ca, command, json).await,
        AdminCommand::View(v) => view(&c, &ca, v).await,
        AdminCommand::Pending { json } => {
            view(
                &c,
                &ca,
                ViewArgs {
                    status: Some("pending".into()),
                    profile: None,
                    requester: None,
                    q: None,
                    serial: None,
                    submitted_after: None,
                    submitted_before: None,
                    issued_after: None,
                    issued_before: None,
                    expiring_days: None,
                    certificates: false,
                    after: None,
                    limit: 100,
                    json,
                },
            )
            .await
        }
        AdminCommand::Show { id, json } => {
            let v = call(
                &c,
                Method::GET,
                &format!("/api/v1/cas/{ca}/requests/{}/details", path_segment(&id)),
                None,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let r: RecordView = serde_json::from_value(v)?;
                print_details(&r);
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Approve { id } => {
            let v = call(
                &c,
                Method::POST,
                &format!("/api/v1/cas/{ca}/requests/{}/approve", path_segment(&id)),
                Some(json!({})),
            )
            .await?;
            disposition(v)
        }
        AdminCommand::Deny { id, reason } => {
            let v = call(
                &c,
                Method::POST,
                &format!("/api/v1/cas/{ca}/requests/{}/deny", path_segment(&id)),
                Some(json!({ "reason": reason })),
            )
            .await?;
            disposition(v)
        }
        AdminCommand::SetAttr {
            id,
            attributes,
            remove,
        } => {
            let mut body = serde_json::Map::new();
            for a in &attributes {
                let (k, v) = a
                    .split_once('=')
                    .with_context(|| format!("{a:?} is not name=value"))?;
                body.insert(k.to_string(), Value::String(v.to_string()));
            }
            for k in remove {
                body.insert(k, Value::Null);
            }
            if body.is_empty() {
                bail!("nothing to change: give name=value or --remove name");
            }
            let v = call(
                &c,
                Method::PATCH,
                &format!("/api/v1/cas/{ca}/requests/{}/attributes", path_segment(&id)),
                Some(Value::Object(body)),
            )
            .await?;
            println!(
                "request {} attributes updated (version {})",
                v["id"], v["version"]
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::SetExt {
            id,
            oid,
            der,
            san,
            eku,
            critical,
            disable,
        } => {
            let path = format!(
                "/api/v1/cas/{ca}/requests/{}/extensions/{}",
                path_segment(&id),
                path_segment(&oid)
            );
            let body = if disable {
                json!({ "disabled": true })
            } else if let Some(d) = der {
                json!({ "value": d, "critical": critical })
            } else if !san.is_empty() {
                json!({ "san": san, "critical": critical })
            } else if !eku.is_empty() {
                json!({ "eku": eku, "critical": critical })
            } else {
                bail!("give --der HEX, --san ..., --eku ... or --disable");
            };
            let v = call(&c, Method::PUT, &path, Some(body)).await?;
            println!(
                "request {} extension {oid} updated (version {})",
                v["id"], v["version"]
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Revoke {
            serial,
            reason,
            invalidity_date,
        } => {
            let mut body = json!({ "reason": reason });
            if let Some(t) = invalidity_date {
                body["invalidity_date"] = Value::String(t);
            }
            let v = call(
                &c,
                Method::POST,
                &format!(
                    "/api/v1/cas/{ca}/certificates/{}/revoke",
                    path_segment(&serial)
                ),
                Some(body),
            )
            .await?;
            println!(
                "certificate {serial} revoked ({}); request {} is {}",
                reason,
                v["id"],
                v["status"].as_str().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Unrevoke { serial } => {
            let v = call(
                &c,
                Method::POST,
                &format!(
                    "/api/v1/cas/{ca}/certificates/{}/unrevoke",
                    path_segment(&serial)
                ),
                Some(json!({})),
            )
            .await?;
            println!(
                "certificate {serial} released from hold; request {} is {}",
                v["id"],
                v["status"].as_str().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Import { certificate } => {
            let bytes = std::fs::read(&certificate)
                .with_context(|| format!("reading {}", certificate.display()))?;
            let (status, body) = c
                .call(
                    Method::POST,
                    &format!("/api/v1/cas/{ca}/certificates"),
                    Some("application/pkix-cert"),
                    bytes,
                )
                .await?;
            if !status.is_success() {
                return Err(problem(status, &body).into());
            }
            let v: RequestView = serde_json::from_slice(&body)?;
            println!(
                "imported as request {} (serial {})",
                v.id,
                v.serial.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Token { command } => token(&c, command).await,
    }
}

async fn token(c: &RemoteEnroll, command: TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::Create {
            roles,
            name,
            cas,
            groups,
            expires_days,
            shared_secret,
        } => {
            let v = call(c, Method::POST, "/api/v1/tokens", Some(json!({
                "roles": roles, "name": name, "cas": cas, "groups": groups, "expires_days": expires_days,
                "shared_secret": shared_secret,
            }))).await?;
            let t: TokenView = serde_json::from_value(v)?;
            // Scripts read stdout: the token and nothing else.
            println!("{}", t.token.unwrap_or_default());
            eprintln!(
                "created token {} ({}) with roles {}; it is shown only once",
                t.id,
                t.name,
                t.roles.join(",")
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { json } => {
            let v = call(c, Method::GET, "/api/v1/tokens", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let tokens: Vec<TokenView> = serde_json::from_value(v)?;
            println!(
                "{:>4}  {:<20} {:<22} {:<12} {:<21} STATE",
                "ID", "NAME", "ROLES", "CAS", "EXPIRES"
            );
            for t in tokens {
                println!(
                    "{:>4}  {:<20} {:<22} {:<12} {:<21} {}",
                    t.id,
                    t.name,
                    t.roles.join(","),
                    if t.cas.is_empty() {
                        "*".to_string()
                    } else {
                        t.cas.join(",")
                    },
                    t.expires_at.unwrap_or_else(|| "never".into()),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id } => {
            let (status, body) = c
                .call(
                    Method::DELETE,
                    &format!("/api/v1/tokens/{id}"),
                    None,
                    Vec::new(),
                )
                .await?;
            if !status.is_success() {
                return Err(problem(status, &body).into());
            }
            println!("token {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn view(c: &RemoteEnroll, ca: &str, v: ViewArgs) -> Result<ExitCode> {
    let mut q: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, val: Option<String>| {
        if let Some(val) = val {
            q.push((k.to_string(), val));
        }
    };
    add("status", v.status);
    add("profile", v.profile);
    add("requester", v.requester);
    add("q", v.q);
    add("serial", v.serial);
    add("submitted_after", v.submitted_after);
    add("submitted_before", v.submitted_before);
    add("issued_after", v.issued_after);
    add("issued_before", v.issued_before);
    add(
        "expiring_within_days",
        v.expiring_days.map(|d| d.to_string()),
    );
    add("after", v.after.map(|a| a.to_string()));
    add("limit", Some(v.limit.to_string()));
    let query: Vec<String> = q
        .iter()
        .map(|(k, val)| format!("{k}={}", path_segment(val)))
        .collect();
    let what = if v.certificates {
        "certificates"
    } else {
        "requests"
    };
    let page = call(
        c,
        Method::GET,
        &format!("/api/v1/cas/{ca}/{what}?{}", query.join("&")),
        None,
    )
    .await?;
    if v.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<RecordView> = serde_json::from_value(page["items"].clone())?;
    println!(
        "{:>6}  {:<8} {:<10} {:<16} {:<34} {:<20} SERIAL / NOT AFTER",
        "ID", "STATUS", "PROFILE", "REQUESTER", "SUBJECT", "SUBMITTED"
    );
    for r in &items {
        let cert = r.certificate.as_ref().map_or(String::new(), |c| {
            format!("{} {}", &c.serial[..16.min(c.serial.len())], c.not_after)
        });
        println!(
            "{:>6}  {:<8} {:<10} {:<16} {:<34} {:<20} {}",
            r.id,
            r.status,
            r.profile.as_deref().unwrap_or("-"),
            truncate(r.requester.as_deref().unwrap_or("-"), 16),
            truncate(&r.subject, 34),
            r.submitted_at,
            cert
        );
    }
    if let Some(next) = page["next"].as_i64() {
        eprintln!("more: --after {next}");
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn print_details(r: &RecordView) {
    println!("request {} on CA {}: {}", r.id, r.ca, r.status);
    println!("  profile:    {}", r.profile.as_deref().unwrap_or("-"));
    println!(
        "  requester:  {}",
        r.requester.as_deref().unwrap_or("(anonymous)")
    );
    println!("  subject:    {}", r.subject);
    println!("  submitted:  {}", r.submitted_at);
    if let Some(m) = &r.message {
        println!("  message:    {m}");
    }
    println!(
        "  approvals:  {} of {} ({})",
        r.approvals.len(),
        r.approvals_required.unwrap_or(1),
        r.approvals
            .iter()
            .map(|a| a.approver.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(c) = &r.certificate {
        println!("  serial:     {}", c.serial);
        println!("  validity:   {} .. {}", c.not_before, c.not_after);
        println!("  SANs:       {}", c.sans.join(", "));
        if let Some(at) = &c.revoked_at {
            println!(
                "  revoked:    {at} ({})",
                c.revocation_reason.as_deref().unwrap_or("?")
            );
        }
    }
    for (k, v) in r.attributes.iter().flatten() {
        println!("  attribute:  {k}={v}");
    }
    for e in r.extensions.iter().flatten() {
        println!(
            "  extension:  {} {}{}[{}] {}",
            e.oid,
            if e.critical { "critical " } else { "" },
            if e.disabled { "disabled " } else { "" },
            e.origin,
            e.value
        );
    }
    for h in r.history.iter().flatten() {
        println!(
            "  history:    #{} {} {} by {} {}",
            h.seq, h.at, h.action, h.actor, h.details
        );
    }
}

fn disposition(v: Value) -> Result<ExitCode> {
    let r: RequestView = serde_json::from_value(v)?;
    println!("request {}: {}", r.id, r.status);
    if let Some(m) = &r.message {
        println!("  {m}");
    }
    if let Some(s) = &r.serial {
        println!("  serial: {s}");
    }
    Ok(ExitCode::from(match r.status.as_str() {
        "issued" => 0,
        "pending" => 2,
        "denied" => 3,
        "failed" => 4,
        _ => 1,
    }))
}

/// `signet admin exits ...`.
async fn exits(
    c: &RemoteEnroll,
    ca: &str,
    command: Option<ExitsCommand>,
    json: bool,
) -> Result<ExitCode> {
    let text = |v: &Value, k: &str| match &v[k] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match command {
        None => {
            let v = call(c, Method::GET, &format!("/api/v1/cas/{ca}/exits"), None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<16} {:>8} {:>8} {:>6} {:>8} {:>6} {:<20} LAST ERROR",
                "MODULE", "CURSOR", "HEAD", "LAG", "ATTEMPTS", "PARKED", "NEXT ATTEMPT"
            );
            for m in v.as_array().into_iter().flatten() {
                println!(
                    "{:<16} {:>8} {:>8} {:>6} {:>8} {:>6} {:<20} {}",
                    text(m, "exit"),
                    text(m, "cursor"),
                    text(m, "head"),
                    text(m, "lag"),
                    text(m, "attempts"),
                    text(m, "parked"),
                    text(m, "next_attempt_at"),
                    text(m, "last_error"),
                );
            }
        }
        Some(ExitsCommand::Parked { module, json }) => {
            let query = module
                .map(|m| format!("?exit={}", path_segment(&m)))
                .unwrap_or_default();
            let v = call(
                c,
                Method::GET,
                &format!("/api/v1/cas/{ca}/exits/parked{query}"),
                None,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<16} {:>8} {:<16} {:>8} {:>8} {:<20} ERROR",
                "MODULE", "SEQ", "EVENT", "REQUEST", "ATTEMPTS", "PARKED AT"
            );
            for p in v.as_array().into_iter().flatten() {
                println!(
                    "{:<16} {:>8} {:<16} {:>8} {:>8} {:<20} {}",
                    text(p, "exit"),
                    text(p, "seq"),
                    text(p, "event"),
                    text(p, "request_id"),
                    text(p, "attempts"),
                    text(p, "parked_at"),
                    text(p, "error"),
                );
            }
        }
        Some(ExitsCommand::Retry { module, seq }) => {
            let path = format!(
                "/api/v1/cas/{ca}/exits/{}/parked/{seq}/retry",
                path_segment(&module)
            );
            let (status, body) = c.call(Method::POST, &path, None, Vec::new()).await?;
            if !status.is_success() {
                return Err(problem(status, &body).into());
            }
            println!("event {seq} delivered to {module}");
        }
        Some(ExitsCommand::Skip { module }) => {
            let path = format!("/api/v1/cas/{ca}/exits/{}/skip", path_segment(&module));
            let v = call(c, Method::POST, &path, Some(json!({}))).await?;
            println!("event {} parked for {module}", text(&v, "seq"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
