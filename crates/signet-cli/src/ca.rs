//! `signet ca create` and `signet ca install`: a CA whose certificate comes from a parent
//! outside this installation — an offline root, or another CA product. `create` makes the
//! key (here or on a PKCS#11 token) and a certificate request; `install` checks what the
//! parent returned and adds the CA to `signet.toml`, where `signet serve` picks it up.
//!
//! Between the two, the CA waits in `ca/NAME/`: its key (`key.pem`, unless it is on a
//! token), its request (`request.pem`) and `pending.toml` (where the key is). It is not in
//! `signet.toml` until it is installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use signet_x509::ext::{self, oid};
use signet_x509::{CertificateInfo, DistinguishedName, KeyUsage, NameSubtree};

use signet_api::Enroll;

use crate::config::{Config, Template};
use crate::init::{CaKey, KeyChoice, write_private};

mod renew;

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

/// The certificate and its chain (issuer first) from files or from the server.
fn fetch(name: &str, pending: &Pending, source: Source) -> Result<Vec<Vec<u8>>> {
    match source {
        Source::Files { certificate, chain } => {
            let cert_bytes = fs::read(&certificate)
                .with_context(|| format!("reading {}", certificate.display()))?;
            let cert_der = signet_x509::pem::decode_all(&cert_bytes, "CERTIFICATE")
                .ok()
                .and_then(|v| v.into_iter().next())
                .unwrap_or(cert_bytes);
            let chain_pem =
                fs::read(&chain).with_context(|| format!("reading {}", chain.display()))?;
            let mut path = vec![cert_der];
            path.extend(
                signet_x509::pem::decode_all(&chain_pem, "CERTIFICATE")
                    .with_context(|| format!("reading {}", chain.display()))?,
            );
            Ok(path)
        }
        Source::Request(remote) => {
            let (Some(parent), Some(id)) = (&pending.parent, pending.request) else {
                bail!(
                    "CA {name} was created for an outside parent: give --certificate and --chain"
                );
            };
            let id = signet_api::RequestId::new(id).context("the request id in pending.toml")?;
            let response = crate::runtime()?
                .block_on(remote.client()?.retrieve(parent, id, None))
                .with_context(|| format!("reading request {id} of CA {parent}"))?;
            let Some(cert) = response.certificate else {
                bail!(
                    "request {id} of CA {parent} is {}{}: nothing to install yet",
                    response.status,
                    response
                        .message
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                );
            };
            let mut path = vec![cert];
            path.extend(response.chain);
            Ok(path)
        }
    }
}

/// Why a certificate cannot be installed for a CA.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the certificate is not for this CA's key (its public key differs from the request's)")]
    WrongKey,
    #[error("{0} is not a CA certificate: {1}")]
    NotCa(String, &'static str),
    #[error("{0} is not valid now (from {1:?} to {2:?})")]
    NotValidNow(String, SystemTime, SystemTime),
    #[error("the chain does not verify: {0}")]
    Chain(String),
    #[error(
        "the chain does not end at a self-signed root: give the parent's certificates up to the root"
    )]
    NoRoot,
    #[error("{0} allows {1} CA certificate(s) below it, and this path puts {2} there")]
    PathLength(String, u32, usize),
    #[error(
        "the profiles' domain {domain} lies outside the name constraints of {cert}: leaves for it would not verify"
    )]
    NotPermitted { domain: String, cert: String },
    #[error(
        "the profiles' domain {domain} includes {excluded}, which {cert} excludes: leaves for it would not verify"
    )]
    Excluded {
        domain: String,
        excluded: String,
        cert: String,
    },
}

fn install(data: &Path, name: &str, source: Source, domains: Vec<String>) -> Result<()> {
    let config = Config::load(data)?;
    let dir = data.join("ca").join(name);
    let pending: Pending = toml::from_str(
        &fs::read_to_string(dir.join("pending.toml")).with_context(|| {
            format!("CA {name} has no request waiting (`signet ca create` or `signet ca renew`)")
        })?,
    )
    .context("reading pending.toml")?;
    if pending.renewal {
        renew::find(&config, name)?;
    } else {
        new_ca_dir(data, &config, name)?;
    }
    let request = signet_x509::parse_csr(&fs::read(dir.join("request.pem"))?)
        .context("reading request.pem")?;
    let path = fetch(name, &pending, source)?;
    let infos = path
        .iter()
        .map(|der| signet_x509::parse_certificate(der).context("parsing a certificate"))
        .collect::<Result<Vec<_>>>()?;
    if infos[0].spki_der != request.spki_der {
        return Err(InstallError::WrongKey.into());
    }
    check_path(&path, &infos, SystemTime::now())?;
    if pending.renewal {
        // The CA's profiles stay as they are; domains given are checked against the new path.
        check_domains(&infos, &domains)?;
        return install_renewed(data, &config, name, &pending, &path);
    }
    let domains = if domains.is_empty() {
        default_domains(&infos[0])?
    } else {
        domains
    };
    crate::init::check_domains(&domains)?;
    check_domains(&infos, &domains)?;

    // cert.pem: the CA certificate, then its chain up to the root (served as the chain).
    let pem: String = path
        .iter()
        .map(|der| signet_x509::pem::encode("CERTIFICATE", der))
        .collect();
    fs::write(dir.join("cert.pem"), pem).context("writing cert.pem")?;
    let key_uri = signet_pkcs11::Pkcs11Uri::is_pkcs11(&pending.key).then_some(pending.key.as_str());
    let block = Template {
        ca: name,
        acme: false,
        domains: &domains,
        listen: "",
        database: "",
        database_password_file: None,
        key_uri,
        rsa_pss: pending.rsa_pss,
    }
    .ca_block();
    let config_path = data.join("signet.toml");
    let mut text = fs::read_to_string(&config_path).context("reading signet.toml")?;
    text.push_str("\n# Added by `signet ca install`.\n");
    text.push_str(&block);
    fs::write(&config_path, text).context("writing signet.toml")?;
    fs::remove_file(dir.join("pending.toml")).context("removing pending.toml")?;
    audit(
        data,
        &config,
        "ca-install",
        name,
        serde_json::json!({
            "subject": infos[0].subject.to_string(),
            "issuer": infos[0].issuer.to_string(),
            "serial": infos[0].serial_hex,
            "certificate_sha256": hex::encode(signet_x509::sha256(&path[0])),
            "root": infos[infos.len() - 1].subject.to_string(),
            "domains": domains,
        }),
    )?;
    println!("Installed CA {name}");
    println!("  subject: {}", infos[0].subject);
    println!("  issuer:  {}", infos[0].issuer);
    println!(
        "  path:    {} certificates up to {}",
        path.len(),
        infos[infos.len() - 1].subject
    );
    println!("  domains: {}", domains.join(", "));
    println!("Restart `signet serve` to start it.");
    Ok(())
}

/// Installs a renewed certificate of CA `name` as its next certificate index (and key index,
/// when the request was made for a new key).
fn install_renewed(
    data: &Path,
    config: &Config,
    name: &str,
    pending: &Pending,
    path: &[Vec<u8>],
) -> Result<()> {
    let ca = renew::find(config, name)?;
    let cert_index = ca.cert_index + 1;
    let file = format!("ca/{name}/cert-{cert_index}.pem");
    let target = Config::resolve(data, &file);
    if target.exists() {
        bail!("{} exists: refusing to overwrite it", target.display());
    }
    let pem: String = path
        .iter()
        .map(|der| signet_x509::pem::encode("CERTIFICATE", der))
        .collect();
    fs::write(&target, pem).with_context(|| format!("writing {}", target.display()))?;
    let new_key = pending.key != ca.key;
    renew::install_renewal(
        data,
        config,
        ca,
        &renew::Installed {
            key: pending.key.clone(),
            rsa_pss: pending.rsa_pss,
            certificate: file.clone(),
            cross: None,
            new_key,
        },
    )?;
    fs::remove_file(data.join("ca").join(name).join("pending.toml"))
        .context("removing pending.toml")?;
    let key_index = ca.key_index + u32::from(new_key);
    audit(
        data,
        config,
        "ca-install",
        name,
        serde_json::json!({
            "renewal": true,
            "cert_index": cert_index,
            "key_index": key_index,
            "new_key": new_key,
            "certificate_sha256": hex::encode(signet_x509::sha256(&path[0])),
        }),
    )?;
    println!(
        "Installed the renewed certificate of CA {name}: certificate index {cert_index}, key index {key_index}"
    );
    println!("  certificate: {file}");
    println!("Restart `signet serve` to issue with it.");
    Ok(())
}

/// The path from the new CA to a self-signed root: each certificate signed by the next, every
/// one a CA (basicConstraints cA, keyCertSign) valid now, every pathLenConstraint met; the new
/// CA's also with cRLSign (it signs its CRLs).
fn check_path(
    path: &[Vec<u8>],
    infos: &[CertificateInfo],
    now: SystemTime,
) -> Result<(), InstallError> {
    for (i, info) in infos.iter().enumerate() {
        let who = info.subject.to_string();
        let bc = info
            .extensions
            .iter()
            .find(|e| e.oid == oid::BASIC_CONSTRAINTS)
            .and_then(|e| ext::parse_basic_constraints(&e.value).ok());
        let Some((true, path_len)) = bc else {
            return Err(InstallError::NotCa(who, "basicConstraints cA is not set"));
        };
        let usage = info
            .extensions
            .iter()
            .find(|e| e.oid == oid::KEY_USAGE)
            .and_then(|e| ext::parse_key_usage(&e.value).ok());
        let needs = if i == 0 {
            KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN)
        } else {
            KeyUsage::KEY_CERT_SIGN
        };
        if usage.is_some_and(|u| !u.contains(needs)) {
            return Err(InstallError::NotCa(
                who,
                "keyUsage lacks keyCertSign (or, for this CA, cRLSign)",
            ));
        }
        if now < info.not_before || now > info.not_after {
            return Err(InstallError::NotValidNow(
                who,
                info.not_before,
                info.not_after,
            ));
        }
        // Below certificate i on this path are the CAs 0..i (the new CA included).
        if let Some(limit) = path_len
            && i > 0
            && i > limit as usize
        {
            return Err(InstallError::PathLength(who, limit, i));
        }
        let issuer = infos.get(i + 1).unwrap_or(info);
        if info.issuer.as_der() != issuer.subject.as_der() {
            return Err(if i + 1 == infos.len() {
                InstallError::NoRoot
            } else {
                InstallError::Chain(format!("{who} is not issued by {}", issuer.subject))
            });
        }
        signet_x509::verify_issued_by(&path[i], &issuer.subject, &issuer.spki_der)
            .map_err(|e| InstallError::Chain(format!("{who}: {e}")))?;
    }
    Ok(())
}

/// The DNS subtrees a certificate permits, else the development defaults.
fn default_domains(cert: &CertificateInfo) -> Result<Vec<String>> {
    let permitted: Vec<String> = name_constraints(cert)?
        .map(|nc| {
            nc.permitted
                .into_iter()
                .filter_map(|s| match s {
                    NameSubtree::Dns(d) => Some(d.trim_start_matches('.').to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(if permitted.is_empty() {
        vec!["localhost".into(), "test".into()]
    } else {
        permitted
    })
}

fn name_constraints(cert: &CertificateInfo) -> Result<Option<signet_x509::NameConstraints>> {
    cert.extensions
        .iter()
        .find(|e| e.oid == oid::NAME_CONSTRAINTS)
        .map(|e| ext::parse_name_constraints(&e.value))
        .transpose()
        .context("reading nameConstraints")
}

/// Every domain the new CA's profiles accept (a name equal to it or below it) lies within
/// the permitted DNS subtrees of each certificate on the path that has some, and no excluded
/// subtree lies within it: otherwise the CA would issue leaves that do not verify.
fn check_domains(infos: &[CertificateInfo], domains: &[String]) -> Result<()> {
    for info in infos {
        let Some(nc) = name_constraints(info)? else {
            continue;
        };
        let dns = |list: &[NameSubtree]| -> Vec<String> {
            list.iter()
                .filter_map(|s| match s {
                    NameSubtree::Dns(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        };
        let (permitted, excluded) = (dns(&nc.permitted), dns(&nc.excluded));
        for domain in domains {
            let domain = domain.to_ascii_lowercase();
            if !permitted.is_empty() && !permitted.iter().any(|p| within(&domain, p)) {
                return Err(InstallError::NotPermitted {
                    domain,
                    cert: info.subject.to_string(),
                }
                .into());
            }
            if let Some(x) = excluded
                .iter()
                .find(|x| within(&domain, x) || within(x, &domain))
            {
                return Err(InstallError::Excluded {
                    domain,
                    excluded: x.clone(),
                    cert: info.subject.to_string(),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Whether every DNS name at or below `name` is within the subtree `base` (RFC 5280
/// 4.2.1.10: a base matches itself and the names below it; `.example.com` only those below).
fn within(name: &str, base: &str) -> bool {
    match base.strip_prefix('.') {
        Some(below) => name.ends_with(&format!(".{below}")),
        None => name == base || name.ends_with(&format!(".{base}")),
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn dns_subtrees_match_themselves_and_below() {
        assert!(within("example.test", "example.test"));
        assert!(within("a.example.test", "example.test"));
        assert!(!within("badexample.test", "example.test"));
        assert!(!within("example.test", ".example.test"));
        assert!(within("a.example.test", ".example.test"));
        assert!(!within("test", "example.test"));
    }
}
