//! `signet ca create` and `signet ca install`: a CA whose certificate comes from a parent
//! outside this installation — an offline root, or another CA product. `create` makes the
//! key (here or on a PKCS#11 token) and a certificate request; `install` checks what the
//! parent returned and adds the CA to `signet.toml`, where `signet serve` picks it up.
//!
//! Between the two, the CA waits in `ca/NAME/`: its key (`key.pem`, unless it is on a
//! token), its request (`request.pem`) and `pending.toml` (where the key is). It is not in
//! `signet.toml` until it is installed.
//!
//! Layout: this file has the commands and `create`; `ca/install.rs` the checks and the
//! installation (a new CA or a renewal); `ca/renew.rs` `signet ca renew`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use signet_x509::ext;
use signet_x509::{DistinguishedName, KeyUsage, NameSubtree};

use signet_api::Enroll;

use crate::config::Config;
use crate::init::{CaKey, KeyChoice, write_private};

mod install;
mod renew;

use install::install;

#[derive(Args)]
pub struct CaArgs {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Subcommand)]
enum CaCommand {
    /// Make a new CA's key and a certificate request (CSR) for its parent, an offline root
    /// or a CA elsewhere; `signet ca install` installs the certificate it returns.
    Create {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        /// The new CA's name.
        #[arg(long)]
        name: String,
        /// Where to write the CSR (PEM) for the parent (an outside one; with --parent it
        /// is optional).
        #[arg(long, required_unless_present_any = ["parent", "self_signed"])]
        csr_out: Option<PathBuf>,
        /// A CA of this installation to issue the new CA's certificate: the request goes to
        /// the running server like any other, through the parent's policy (a `ca = true`
        /// profile), recorded and audited; once issued (after a manager's approval when the
        /// profile wants one), `signet ca install --name NAME` installs it.
        #[arg(long)]
        parent: Option<String>,
        /// With --parent: the parent's sub-CA profile.
        #[arg(long, requires = "parent")]
        profile: Option<String>,
        /// With --parent: the server's base URL.
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// With --parent: an API token allowed to submit to the parent (or SIGNET_TOKEN).
        #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The CA subject, e.g. "O=Example,CN=Example Issuing CA 1" (DER order); default
        /// "O=Signet,CN=NAME".
        #[arg(long)]
        subject: Option<String>,
        /// p256, p384, ed25519, rsa2048, rsa3072, rsa4096 or mldsa65.
        #[arg(long, default_value = "p256")]
        key: String,
        /// The key on a PKCS#11 token (an RFC 7512 URI), made there unless --existing.
        #[arg(long)]
        key_uri: Option<String>,
        /// With --key-uri: use the key already on the token.
        #[arg(long, requires = "key_uri")]
        existing: bool,
        /// An RSA key signs RSASSA-PSS instead of PKCS#1 v1.5.
        #[arg(long)]
        rsa_pss: bool,
        /// Ask for a pathLenConstraint (CAs allowed below the new one). A parent's sub-CA
        /// profile grants it when it is no more than its own `path_len`.
        #[arg(long)]
        path_len: Option<u8>,
        /// Ask for a permitted DNS name constraint (repeatable): the new CA may only issue
        /// names at or below these. A parent's profile grants subtrees within its own.
        #[arg(long = "permitted-dns")]
        permitted_dns: Vec<String>,
        /// Ask for an excluded DNS name constraint (repeatable).
        #[arg(long = "excluded-dns")]
        excluded_dns: Vec<String>,
        /// Development mode: the key file is written UNENCRYPTED.
        #[arg(long)]
        dev: bool,
        /// A file holding the passphrase that encrypts the key (or SIGNET_PASSPHRASE): the
        /// installation's, which `signet serve` is given; with --self-signed, the root
        /// key's own.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        root: crate::ca_offline::RootArgs,
    },
    /// Sign with an offline CA's key, given for this command only: a sub-CA's certificate
    /// (--csr), recorded in the store, or the CA's CRL (--crl), which the running server
    /// then serves.
    Sign(crate::ca_offline::SignArgs),
    /// Renew a CA's certificate (AD CS "Renew CA certificate"), with its key or a new one.
    ///
    /// A root signs its new certificate itself and, with a new key, the cross certificates
    /// between its old and new key; a CA under a parent makes a request (--csr-out, or
    /// --parent to a CA of this installation) that `signet ca install` completes. With a
    /// new key, the old one keeps signing the CRLs (CA(k).crl per key) and OCSP responses
    /// of what it issued. Restart `signet serve` afterwards.
    Renew {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        #[arg(long)]
        name: String,
        /// Make a new key (else the certificate is renewed for the same key).
        #[arg(long)]
        new_key: bool,
        /// With --new-key: p256, p384, ed25519, rsa2048, rsa3072, rsa4096 or mldsa65;
        /// default: the current key's algorithm.
        #[arg(long, requires = "new_key")]
        key: Option<String>,
        /// With --new-key: the new key on a PKCS#11 token (an RFC 7512 URI).
        #[arg(long, requires = "new_key")]
        key_uri: Option<String>,
        /// With --key-uri: use the key already on the token.
        #[arg(long, requires = "key_uri")]
        existing: bool,
        /// With --new-key: an RSA key signs RSASSA-PSS.
        #[arg(long, requires = "new_key")]
        rsa_pss: bool,
        /// A root's new certificate lifetime in days; default: the current one's.
        #[arg(long)]
        days: Option<u32>,
        /// A CA under an outside parent: where to write the renewal request.
        #[arg(long, conflicts_with = "parent")]
        csr_out: Option<PathBuf>,
        /// A CA under a CA of this installation: submit the request there.
        #[arg(long)]
        parent: Option<String>,
        /// With --parent: the parent's sub-CA profile.
        #[arg(long, requires = "parent")]
        profile: Option<String>,
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Development mode: a new key file is written UNENCRYPTED.
        #[arg(long)]
        dev: bool,
        /// The installation's passphrase (or SIGNET_PASSPHRASE): opens the current key and
        /// encrypts a new one.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Install the CA certificate the parent returned: checked against the key, the chain
    /// and the CA's profiles, then added to signet.toml (restart `signet serve`).
    Install {
        #[arg(long, default_value = "./signet-data")]
        data: PathBuf,
        #[arg(long)]
        name: String,
        /// The CA certificate (PEM or DER). Without it, the certificate and chain of the
        /// request `signet ca create --parent` submitted are fetched from the server.
        #[arg(long, requires = "chain")]
        certificate: Option<PathBuf>,
        /// The parent's certificates up to and including the root (PEM), issuer first.
        #[arg(long, requires = "certificate")]
        chain: Option<PathBuf>,
        /// Without --certificate: the server's base URL.
        #[arg(long, env = "SIGNET_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Without --certificate: an API token that may read the request (or SIGNET_TOKEN).
        #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// A DNS suffix the new CA's profiles accept (repeatable); default: the
        /// certificate's permitted DNS name constraints, else localhost and test. Each must
        /// lie within the name constraints of every certificate on the path.
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
}

/// Where a created CA's key is, until it is installed (`ca/NAME/pending.toml`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    /// `ca/NAME/key.pem`, or a PKCS#11 URI.
    key: String,
    rsa_pss: bool,
    /// With `--parent`: the parent CA and the request submitted to it.
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    request: Option<i64>,
    /// A renewal of an installed CA (`signet ca renew`), not a new CA.
    #[serde(default)]
    renewal: bool,
}

pub fn run(args: CaArgs) -> Result<std::process::ExitCode> {
    match args.command {
        CaCommand::Create {
            data,
            name,
            csr_out,
            parent,
            profile,
            server,
            token,
            subject,
            key,
            key_uri,
            existing,
            rsa_pss,
            path_len,
            permitted_dns,
            excluded_dns,
            dev,
            passphrase_file,
            root,
        } => {
            let passphrase = crate::read_passphrase(passphrase_file.as_ref())?;
            let asked = Asked {
                path_len,
                permitted_dns,
                excluded_dns,
            };
            if passphrase.is_none() && !dev && key_uri.is_none() {
                bail!(
                    "the CA key is encrypted at rest: give --passphrase-file FILE or set SIGNET_PASSPHRASE (or --dev)"
                );
            }
            let choice = KeyChoice {
                algorithm: crate::init::key_algorithm(&key)?,
                key_uri: key_uri.as_deref(),
                existing,
                rsa_pss,
            };
            if root.self_signed {
                crate::ca_offline::create_root(
                    &data,
                    &name,
                    subject.as_deref(),
                    &choice,
                    passphrase,
                    &root,
                )?;
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let parent = parent.map(|ca| Parent {
                ca,
                profile,
                remote: Remote { server, token },
            });
            create(
                &data,
                &name,
                csr_out.as_deref(),
                parent.as_ref(),
                subject.as_deref(),
                &choice,
                &asked,
                passphrase,
            )?;
        }
        CaCommand::Sign(args) => crate::ca_offline::sign(args)?,
        CaCommand::Renew {
            data,
            name,
            new_key,
            key,
            key_uri,
            existing,
            rsa_pss,
            days,
            csr_out,
            parent,
            profile,
            server,
            token,
            dev,
            passphrase_file,
        } => {
            let passphrase = crate::read_passphrase(passphrase_file.as_ref())?;
            let config = Config::load(&data)?;
            let current = renew::find(&config, &name)?;
            let on_disk = !signet_pkcs11::Pkcs11Uri::is_pkcs11(&current.key);
            if passphrase.is_none() && !dev && (on_disk || (new_key && key_uri.is_none())) {
                bail!(
                    "the CA keys are encrypted at rest: give --passphrase-file FILE or set SIGNET_PASSPHRASE (or --dev)"
                );
            }
            let new_key = match new_key {
                true => Some(renew::NewKey {
                    algorithm: key.as_deref().map(crate::init::key_algorithm).transpose()?,
                    key_uri: key_uri.as_deref(),
                    existing,
                    rsa_pss,
                }),
                false => None,
            };
            let parent = parent.map(|ca| Parent {
                ca,
                profile,
                remote: Remote { server, token },
            });
            renew::renew(renew::RenewOptions {
                data: &data,
                name: &name,
                new_key,
                days,
                passphrase,
                csr_out: csr_out.as_deref(),
                parent: parent.as_ref(),
            })?;
        }
        CaCommand::Install {
            data,
            name,
            certificate,
            chain,
            server,
            token,
            domains,
        } => {
            let source = match (certificate, chain) {
                (Some(certificate), Some(chain)) => Source::Files { certificate, chain },
                _ => Source::Request(Remote { server, token }),
            };
            install(&data, &name, source, domains)?
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The running server and the token to call it with.
struct Remote {
    server: String,
    token: Option<String>,
}

impl Remote {
    fn client(&self) -> Result<signet_client::RemoteEnroll> {
        Ok(signet_client::RemoteEnroll::new(&self.server)?.with_token(self.token.clone()))
    }
}

/// `--parent`: a CA of this installation and its sub-CA profile.
struct Parent {
    ca: String,
    profile: Option<String>,
    remote: Remote,
}

/// Where the certificate to install comes from.
enum Source {
    Files {
        certificate: PathBuf,
        chain: PathBuf,
    },
    /// The request `create --parent` submitted, read from the server.
    Request(Remote),
}

/// Appends an audit record of a change to the installation's CAs, as `actor` (the local
/// operator: these commands run on the CA's host, not through the API). Safe beside a
/// running server: each write transaction reads the chain head afresh.
pub(crate) fn audit(
    data: &Path,
    config: &Config,
    action: &str,
    ca: &str,
    details: serde_json::Value,
) -> Result<()> {
    let keys = crate::audit_anchors::for_verify(data, None)?;
    let database = config.database(data)?;
    let store = database
        .open(keys)
        .map_err(|e| anyhow::anyhow!("opening {database}: {e}"))?;
    let record = signet_core::NewAudit {
        at: SystemTime::now(),
        actor: format!(
            "signet ca {} (local operator)",
            action.trim_start_matches("ca-")
        ),
        action: action.into(),
        ca: Some(signet_core::CaName::new(ca).context("CA name")?),
        target: signet_core::AuditTarget::Other(format!("ca/{ca}")),
        details: details.to_string(),
    };
    use signet_core::Store;
    let appended = crate::init::block_on(store.append_audit(vec![record]));
    crate::init::block_on(store.close());
    appended.map_err(|e| anyhow::anyhow!("recording the audit record: {e}"))
}

/// The directory of CA `name`, refusing a name the installation already has.
pub(crate) fn new_ca_dir(data: &Path, config: &Config, name: &str) -> Result<PathBuf> {
    signet_core::CaName::new(name).context("--name")?;
    if config.cas.iter().any(|c| c.name == name) {
        bail!("signet.toml already has a CA named {name}");
    }
    Ok(data.join("ca").join(name))
}

/// The constraints a new CA's request asks its parent for.
#[derive(Default)]
struct Asked {
    path_len: Option<u8>,
    permitted_dns: Vec<String>,
    excluded_dns: Vec<String>,
}

impl Asked {
    /// basicConstraints (with the pathLenConstraint asked for), keyUsage and, when subtrees
    /// are asked for, nameConstraints: what the request's extensionRequest carries.
    fn extensions(&self) -> Result<Vec<signet_x509::Extension>> {
        let mut out = vec![
            ext::basic_constraints(true, self.path_len),
            ext::key_usage(KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN)),
        ];
        let dns = |list: &[String]| -> Result<Vec<NameSubtree>> {
            crate::init::check_domains(list)?;
            Ok(list
                .iter()
                .map(|d| NameSubtree::Dns(d.to_ascii_lowercase()))
                .collect())
        };
        let names = signet_x509::NameConstraints {
            permitted: dns(&self.permitted_dns)?,
            excluded: dns(&self.excluded_dns)?,
        };
        if !(names.permitted.is_empty() && names.excluded.is_empty()) {
            out.push(ext::name_constraints(&names).context("--permitted-dns/--excluded-dns")?);
        }
        Ok(out)
    }
}

#[allow(clippy::too_many_arguments)]
fn create(
    data: &Path,
    name: &str,
    csr_out: Option<&Path>,
    parent: Option<&Parent>,
    subject: Option<&str>,
    choice: &KeyChoice<'_>,
    asked: &Asked,
    passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
) -> Result<()> {
    let config = Config::load(data)?;
    let dir = new_ca_dir(data, &config, name)?;
    if dir.exists() {
        bail!(
            "{} exists: CA {name} was created already (install its certificate with `signet ca install`, or remove the directory to start over)",
            dir.display()
        );
    }
    if let Some(out) = csr_out
        && out.exists()
    {
        bail!("{} exists: refusing to overwrite it", out.display());
    }
    if let Some(p) = parent
        && !config.cas.iter().any(|c| c.name == p.ca)
    {
        bail!("--parent {}: signet.toml has no such CA", p.ca);
    }
    let subject_text = subject.map_or_else(|| format!("O=Signet,CN={name}"), str::to_owned);
    let subject = DistinguishedName::parse(&subject_text)
        .with_context(|| format!("--subject {subject_text:?}"))?;
    if subject.is_empty() {
        bail!("--subject must not be empty");
    }
    let extensions = asked.extensions()?;
    let key = CaKey::make(choice)?;
    let csr = make_csr(&subject, key.signer(), &extensions)?;
    let pem = signet_x509::pem::encode("CERTIFICATE REQUEST", &csr);

    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_ref = match (&key, choice.key_uri) {
        (CaKey::Token(_), Some(uri)) => uri.to_owned(),
        _ => {
            key.write(&dir.join("key.pem"), passphrase.as_ref())?;
            format!("ca/{name}/key.pem")
        }
    };
    fs::write(dir.join("request.pem"), &pem).context("writing request.pem")?;
    if let Some(out) = csr_out {
        fs::write(out, &pem).with_context(|| format!("writing {}", out.display()))?;
    }
    // With a parent here: its policy decides, on the running server, like any request.
    let submitted = parent.map(|p| submit(p, &csr)).transpose()?;
    let pending = toml::to_string(&Pending {
        key: key_ref,
        rsa_pss: choice.rsa_pss,
        parent: parent.map(|p| p.ca.clone()),
        request: submitted.as_ref().map(|r| r.id.get()),
        renewal: false,
    })
    .context("encoding pending.toml")?;
    write_private(&dir.join("pending.toml"), pending.as_bytes())?;
    audit(
        data,
        &config,
        "ca-create",
        name,
        serde_json::json!({
            "subject": subject.to_string(),
            "key": key.key_algorithm().to_string(),
            "on_token": matches!(key, CaKey::Token(_)),
            "request_sha256": hex::encode(signet_x509::sha256(&csr)),
            "parent": parent.map(|p| p.ca.clone()),
            "parent_request": submitted.as_ref().map(|r| r.id.get()),
        }),
    )?;
    println!(
        "Created the key and request of CA {name} ({})",
        key.key_algorithm()
    );
    println!("  subject: {subject}");
    print_next_steps(data, name, csr_out, parent, &submitted);
    Ok(())
}

/// A CA's certificate request: its subject and key, asking for what a CA certificate
/// needs (`Asked::extensions`; the parent decides).
fn make_csr(
    subject: &DistinguishedName,
    signer: &dyn signet_core::Signer,
    extensions: &[signet_x509::Extension],
) -> Result<Vec<u8>> {
    let info = signet_x509::encode_csr_info(subject, signer.public_key_der(), extensions)
        .context("encoding the request")?;
    let signature = signer.sign(&info).context("signing the request")?;
    signet_x509::assemble_csr(&info, signer.algorithm(), &signature).context("encoding the request")
}

/// Submits a CA's request to its parent in this installation, on the running server: the
/// parent's policy decides, like for any request.
fn submit(p: &Parent, csr: &[u8]) -> Result<signet_api::SubmitResponse> {
    crate::runtime()?
        .block_on(p.remote.client()?.submit(signet_api::SubmitRequest {
            ca: p.ca.clone(),
            csr: csr.to_vec(),
            profile: p.profile.clone(),
            attributes: Vec::new(),
            caller: None,
        }))
        .with_context(|| format!("submitting the request to CA {}", p.ca))
}

/// What the operator does next, once a CA's request is written or submitted.
fn print_next_steps(
    data: &Path,
    name: &str,
    csr_out: Option<&Path>,
    parent: Option<&Parent>,
    submitted: &Option<signet_api::SubmitResponse>,
) {
    match (parent, submitted) {
        (Some(p), Some(r)) => {
            println!("  request {} on CA {}: {}", r.id, p.ca, r.status);
            if r.status == signet_api::RequestStatus::Pending {
                println!(
                    "A certificate manager approves it (signet admin approve {} --ca {}); then: signet ca install --data {} --name {name}",
                    r.id,
                    p.ca,
                    data.display()
                );
            } else {
                println!(
                    "Then: signet ca install --data {} --name {name}",
                    data.display()
                );
            }
        }
        _ => {
            if let Some(out) = csr_out {
                println!(
                    "  request: {} (also in {})",
                    out.display(),
                    data.join("ca").join(name).join("request.pem").display()
                );
            }
            println!(
                "Have the parent sign it as a CA certificate, then: signet ca install --data {} --name {name} --certificate CERT --chain PARENT-CHAIN",
                data.display()
            );
        }
    }
}
