//! Offline CAs: `signet ca create --self-signed` makes an offline root, and
//! `signet ca sign --offline` signs with its key, given for that command only (a key file on
//! removable media, or a PKCS#11 token brought online for the ceremony).
//!
//! - The root's key is written to `--key-out` (encrypted), never into the data directory;
//!   its certificate goes to `ca/NAME/cert.pem`, and `signet.toml` gets a `[[ca]]` with
//!   `offline = true` and no `key`. `signet serve` then loads no key for it and signs nothing
//!   with it (`signet_core::offline`): it refuses requests to it, answers its OCSP requests
//!   `unauthorized`, and serves the newest CRL stored for it.
//! - `sign --csr` checks a sub-CA's request and signs its certificate (cA with a
//!   pathLenConstraint, keyCertSign and cRLSign, SKI and AKI, the root's CDP and AIA
//!   caIssuers, name constraints when given), and records it in the store under the root
//!   with an `Issued` event and a `ca-sign` audit record, before writing it out: the server
//!   can then revoke it like any certificate of its own.
//! - `sign --crl` publishes the root's CRL through the engine's own publication
//!   (`Authority::publish_crls`) with the key present in this process: the same scan of the
//!   revoked certificates, numbers continuing from the store's, and the same stored record,
//!   `CrlIssued` event and `crl-publish` audit record. A running server loads it with its
//!   cluster sync (`[server] cluster_sync`, about a second) and serves it at
//!   `/crl/NAME.crl`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use signet_core::{Random, SerialNumber, Signer, Store};
use signet_keys::{SoftwareKey, SystemRandom};
use signet_x509::ext;
use signet_x509::{
    CertificateInfo, DistinguishedName, KeyUsage, NameConstraints, NameSubtree,
    TbsCertificateParams,
};

use crate::config::{CaConfig, Config, toml_string};
use crate::init::{CaKey, KeyChoice};

/// The actor of what these commands record: the operator at the CA's host.
const OPERATOR: &str = "signet ca sign (local operator)";
/// How far a signed certificate's notBefore goes back, for relying parties' clock skew.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
const DAY: u64 = 86_400;
/// An offline root's validity unless `--days` says otherwise: twenty years.
const ROOT_DAYS: u32 = 3650 * 2;
/// A sub-CA certificate's validity unless `--days` says otherwise: five years.
const SUB_CA_DAYS: u32 = 1825;
/// The first CRL's validity, at `ca create --self-signed`.
const FIRST_CRL_DAYS: u32 = 30;

/// `signet ca create --self-signed`: what an offline root adds to `ca create`.
#[derive(Args)]
pub(crate) struct RootArgs {
    /// Make an offline root: a self-signed CA certificate whose key goes to --key-out (or is
    /// made on the token of --key-uri), never into the data directory. `signet serve` loads
    /// no key for it; `signet ca sign --offline` signs its sub-CAs and CRLs.
    #[arg(long, conflicts_with_all = ["parent", "csr_out"])]
    pub(crate) self_signed: bool,
    /// With --self-signed: where to write the root's key (PKCS#8 PEM, encrypted with the
    /// passphrase; unencrypted with --dev), e.g. on removable media. Not in the data
    /// directory, and never overwritten.
    #[arg(long, requires = "self_signed", conflicts_with = "key_uri")]
    pub(crate) key_out: Option<PathBuf>,
    /// With --self-signed: the root certificate's validity in days (default 7300).
    #[arg(long, requires = "self_signed")]
    pub(crate) days: Option<u32>,
}

/// `signet ca sign --offline`: sign a sub-CA certificate or a CRL with an offline CA's key.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["csr", "crl"])))]
#[command(group(ArgGroup::new("signing_key").required(true).args(["key", "key_uri"])))]
pub(crate) struct SignArgs {
    /// The key is given here, for this command only (an offline CA's; required).
    #[arg(long, required = true)]
    offline: bool,
    #[arg(long, default_value = "./signet-data")]
    data: PathBuf,
    /// The offline CA (`offline = true` in signet.toml).
    #[arg(long)]
    name: String,
    /// The CA's key file (PKCS#8 PEM, as `ca create --self-signed --key-out` wrote it).
    #[arg(long)]
    key: Option<PathBuf>,
    /// A file holding the key file's passphrase (or SIGNET_PASSPHRASE).
    #[arg(long, requires = "key")]
    passphrase_file: Option<PathBuf>,
    /// The CA's key on a PKCS#11 token (an RFC 7512 URI).
    #[arg(long)]
    key_uri: Option<String>,
    /// Sign this sub-CA certificate request (PEM or DER): its subject and key; the
    /// extensions it asks for are ignored (the options below decide).
    #[arg(long, requires = "out")]
    csr: Option<PathBuf>,
    /// Publish the CA's CRL: every certificate of it revoked in the store, the next number.
    #[arg(long, conflicts_with_all = ["days", "path_len", "permitted_dns", "excluded_dns"])]
    crl: bool,
    /// Where to write the certificate (PEM), or with --crl the CRL (DER). Never overwritten.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --csr: the certificate's validity in days (default 1825), cut at the CA
    /// certificate's end.
    #[arg(long, requires = "csr")]
    days: Option<u32>,
    /// With --csr: the pathLenConstraint, CAs allowed below the new one (0: it issues only
    /// leaves).
    #[arg(long, requires = "csr", default_value_t = 0)]
    path_len: u8,
    /// With --csr: a DNS subtree the new CA may issue for (repeatable): a critical
    /// nameConstraints extension.
    #[arg(long = "permitted-dns", requires = "csr")]
    permitted_dns: Vec<String>,
    /// With --csr: a DNS subtree the new CA may not issue for (repeatable).
    #[arg(long = "excluded-dns", requires = "csr")]
    excluded_dns: Vec<String>,
    /// With --crl: the CRL's nextUpdate, in days from now.
    #[arg(long, requires = "crl", default_value_t = 30)]
    next_update: u32,
}

/// Creates the offline root `name`: key, self-signed certificate, `[[ca]]` in signet.toml,
/// the `ca-create` audit record, and its first CRL (so the URL its sub-CAs name answers).
pub(crate) fn create_root(
    data: &Path,
    name: &str,
    subject: Option<&str>,
    choice: &KeyChoice<'_>,
    passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
    root: &RootArgs,
) -> Result<()> {
    let config = Config::load(data)?;
    let dir = crate::ca::new_ca_dir(data, &config, name)?;
    if dir.exists() {
        bail!(
            "{} exists: remove it to create CA {name} again",
            dir.display()
        );
    }
    let key_out = match (&root.key_out, choice.key_uri) {
        (Some(out), None) => Some(check_key_out(data, out)?),
        (None, Some(_)) => None,
        _ => bail!("--self-signed needs --key-out FILE (or the key on a token: --key-uri)"),
    };
    let days = root.days.unwrap_or(ROOT_DAYS);
    if days == 0 {
        bail!("--days must be at least 1");
    }
    let subject_text = subject.map_or_else(|| format!("O=Signet,CN={name} Root CA"), str::to_owned);
    let subject = DistinguishedName::parse(&subject_text)
        .with_context(|| format!("--subject {subject_text:?}"))?;
    if subject.is_empty() {
        bail!("--subject must not be empty: a CA's name is its issuer name (RFC 5280 4.1.2.4)");
    }

    let key = CaKey::make(choice)?;
    let now = SystemTime::now();
    let cert = signet_core::authority::self_signed_ca(
        key.signer(),
        &subject,
        random_serial()?,
        now - Duration::from_secs(60),
        now + Duration::from_secs(u64::from(days) * DAY),
        KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN),
    )
    .map_err(anyhow::Error::msg)
    .context("signing the root certificate")?;
    // The key first: a root certificate whose key was lost is worth nothing.
    if let Some(out) = &key_out {
        key.write(out, passphrase.as_ref())?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(
        dir.join("cert.pem"),
        signet_x509::pem::encode("CERTIFICATE", &cert),
    )
    .context("writing cert.pem")?;
    let config_path = data.join("signet.toml");
    let mut text = fs::read_to_string(&config_path).context("reading signet.toml")?;
    text.push_str(&offline_block(name, choice.rsa_pss));
    fs::write(&config_path, text).context("writing signet.toml")?;
    crate::init::sync_file_system(data)?;
    let fingerprint = hex::encode(signet_x509::sha256(&cert));
    crate::ca::audit(
        data,
        &config,
        "ca-create",
        name,
        serde_json::json!({
            "subject": subject.to_string(),
            "key": key.key_algorithm().to_string(),
            "on_token": matches!(key, CaKey::Token(_)),
            "offline": true,
            "certificate_sha256": fingerprint,
        }),
    )?;
    println!(
        "Created the offline root CA {name} ({})",
        key.key_algorithm()
    );
    println!("  subject:     {subject}");
    println!("  certificate: {}", dir.join("cert.pem").display());
    println!("  SHA-256:     {fingerprint}");
    println!("  valid for:   {days} days");
    match (&key, &key_out) {
        (CaKey::Token(k), _) => println!("  key:         on the PKCS#11 token {}", k.uri()),
        (_, Some(out)) => println!(
            "  key:         {} ({}); keep it offline, it is not in the data directory",
            out.display(),
            if passphrase.is_some() {
                "encrypted, PBES2"
            } else {
                "UNENCRYPTED"
            }
        ),
        _ => {}
    }
    // The first CRL while the key is here, so the URL sub-CA certificates name never 404s.
    let config = Config::load(data)?;
    let ca = find_offline(&config, name)?;
    let signer: Arc<dyn Signer> = match key {
        CaKey::Software(k) => Arc::new(k),
        CaKey::Token(k) => Arc::new(*k),
    };
    match publish_crl(data, &config, ca, signer, FIRST_CRL_DAYS) {
        Ok(published) => print_crl(&published, None),
        // The root exists; only its first CRL is missing, and the next command signs it.
        Err(e) => eprintln!(
            "warning: the first CRL of CA {name} was not published ({e:#}): sign it with `signet ca sign --offline --crl` before sub-CA certificates are used"
        ),
    }
    println!(
        "signet.toml has CA {name} (offline = true): restart `signet serve` to serve its certificate and CRL."
    );
    println!(
        "Sign sub-CAs and CRLs with: signet ca sign --offline --data {} --name {name} --key KEY (--csr CSR --out CERT | --crl)",
        data.display()
    );
    Ok(())
}

/// `signet ca sign --offline`.
pub(crate) fn sign(args: SignArgs) -> Result<()> {
    let config = Config::load(&args.data)?;
    let ca = find_offline(&config, &args.name)?;
    let (_, root) = crate::serve::read_ca_certificate(&args.data, ca)?;
    if let Some(out) = &args.out
        && out.exists()
    {
        bail!("{} exists: refusing to overwrite it", out.display());
    }
    // Everything about the request is checked before the key is opened.
    let csr = match &args.csr {
        Some(path) => Some(read_csr(path, &root)?),
        None => None,
    };
    let signer = open_key(&args, ca)?;
    if signer.public_key_der() != root.spki_der {
        bail!(
            "the key given is not CA {}'s (its public key differs from {}'s): nothing was signed",
            ca.name,
            ca.certificate
        );
    }
    match csr {
        Some(csr) => {
            let out = args.out.as_deref().context("--out")?;
            let options = SubCaOptions {
                days: args.days.unwrap_or(SUB_CA_DAYS),
                path_len: args.path_len,
                permitted_dns: args.permitted_dns.clone(),
                excluded_dns: args.excluded_dns.clone(),
            };
            sign_sub_ca(
                &args.data,
                &config,
                ca,
                &root,
                signer.as_ref(),
                &csr,
                &options,
                out,
            )
        }
        None => {
            if args.next_update == 0 {
                bail!("--next-update must be at least 1 day");
            }
            let published = publish_crl(&args.data, &config, ca, signer, args.next_update)?;
            if let Some(out) = &args.out {
                write_new(out, &published.der)?;
            }
            print_crl(&published, args.out.as_deref());
            Ok(())
        }
    }
}

/// The `[[ca]]` table of an offline root.
fn offline_block(name: &str, rsa_pss: bool) -> String {
    let ca = toml_string(name);
    let rsa_pss = if rsa_pss {
        "\n# Its RSA key signs RSASSA-PSS (`signet ca sign --offline` reads this).\nrsa_pss = true"
    } else {
        ""
    };
    format!(
        r#"
# Added by `signet ca create --self-signed`: an offline root (docs/CEREMONY.md). Its key is
# not on this server: `signet serve` signs nothing for it, refuses requests to it and
# answers its OCSP requests "unauthorized". `signet ca sign --offline` signs its sub-CA
# certificates and CRLs where the key is; the server serves the newest CRL stored at
# PUBLIC_URL/crl/{name}.crl.
[[ca]]
name = {ca}
offline = true
certificate = "ca/{name}/cert.pem"{rsa_pss}

[ca.revocation]
# public_url = "http://pki.example.com"   # overrides [server] public_url for this CA
# The CRL is signed offline (its nextUpdate from `signet ca sign --offline --crl
# --next-update DAYS`): no delta CRLs, no partitions, no OCSP.
delta_period = "0s"
"#
    )
}

/// The offline CA `name` of signet.toml.
fn find_offline<'a>(config: &'a Config, name: &str) -> Result<&'a CaConfig> {
    let ca = config
        .cas
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("--name {name}: signet.toml has no such CA"))?;
    if !ca.offline {
        bail!(
            "CA {name} is not offline: its key is on the server, which issues and publishes for it (a `ca = true` profile, `signet crl publish`)"
        );
    }
    Ok(ca)
}

/// `--key-out`, refused when it exists or lies in the data directory (the point of an
/// offline root is that the server's host does not hold its key).
fn check_key_out(data: &Path, out: &Path) -> Result<PathBuf> {
    if out.exists() {
        bail!("{} exists: refusing to overwrite it", out.display());
    }
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => real(p),
        _ => real(Path::new(".")),
    };
    if parent.starts_with(real(data)) {
        bail!(
            "--key-out {}: the offline root's key must not be in the data directory; write it to removable media",
            out.display()
        );
    }
    Ok(out.to_path_buf())
}

/// The CA's key from `--key` (a PKCS#8 PEM, encrypted or not) or `--key-uri`.
fn open_key(args: &SignArgs, ca: &CaConfig) -> Result<Arc<dyn Signer>> {
    if let Some(uri) = &args.key_uri {
        let uri = signet_pkcs11::Pkcs11Uri::parse(uri).context("--key-uri")?;
        let mut key = signet_pkcs11::Pkcs11Key::open(&uri)
            .with_context(|| format!("opening CA {}'s key on its token", ca.name))?;
        if ca.rsa_pss {
            key = key.with_rsa_pss().context("rsa_pss")?;
        }
        return Ok(Arc::new(key));
    }
    let path = args.key.as_ref().context("--key or --key-uri")?;
    let pem = zeroize::Zeroizing::new(
        fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let passphrase = crate::read_passphrase(args.passphrase_file.as_ref())?;
    let key = SoftwareKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_slice())).map_err(
        |e| match e {
            signet_keys::KeyError::PassphraseRequired => anyhow::anyhow!(
                "the key {} is encrypted: give --passphrase-file FILE or set SIGNET_PASSPHRASE",
                path.display()
            ),
            other => anyhow::anyhow!("loading {}: {other}", path.display()),
        },
    )?;
    let key = if ca.rsa_pss {
        key.with_rsa_pss().context("rsa_pss")?
    } else {
        key
    };
    Ok(Arc::new(key))
}

/// Reads and checks a sub-CA's request: its signature (proof of possession), a subject, and
/// a key and name other than the CA's own.
fn read_csr(path: &Path, root: &CertificateInfo) -> Result<signet_x509::CertificationRequest> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let csr = signet_x509::parse_csr(&bytes).with_context(|| {
        format!(
            "{}: not a certificate request whose signature verifies",
            path.display()
        )
    })?;
    if csr.subject.is_empty() {
        bail!("the request has no subject: a CA's name is its issuer name");
    }
    if csr.spki_der == root.spki_der {
        bail!("the request is for the CA's own key");
    }
    if csr.subject.as_der() == root.subject.as_der() {
        bail!("the request names the CA itself ({})", root.subject);
    }
    Ok(csr)
}

/// What the sub-CA certificate gets besides the request's subject and key.
struct SubCaOptions {
    days: u32,
    path_len: u8,
    permitted_dns: Vec<String>,
    excluded_dns: Vec<String>,
}

/// Signs, records and writes a sub-CA certificate.
#[allow(clippy::too_many_arguments)]
fn sign_sub_ca(
    data: &Path,
    config: &Config,
    ca: &CaConfig,
    root: &CertificateInfo,
    signer: &dyn Signer,
    csr: &signet_x509::CertificationRequest,
    options: &SubCaOptions,
    out: &Path,
) -> Result<()> {
    let name = signet_core::CaName::new(&ca.name).context("CA name")?;
    if options.days == 0 {
        bail!("--days must be at least 1");
    }
    let now = signet_x509::time::whole_seconds(SystemTime::now());
    if now >= root.not_after {
        bail!("CA {name}'s certificate has expired: it can sign nothing");
    }
    let not_before = now
        .checked_sub(BACKDATE)
        .unwrap_or(now)
        .max(root.not_before);
    let wanted = now + Duration::from_secs(u64::from(options.days) * DAY);
    let not_after = wanted.min(root.not_after);
    let extensions = sub_ca_extensions(ca, config, &name, root, csr, options)?;
    let serial = random_serial()?;
    let algorithm = signer.algorithm();
    let tbs = signet_x509::encode_tbs_certificate(&TbsCertificateParams {
        serial: serial.as_bytes(),
        signature: algorithm,
        issuer: &root.subject,
        not_before,
        not_after,
        subject: &csr.subject,
        spki_der: &csr.spki_der,
        extensions: &extensions,
    })
    .context("encoding the certificate")?;
    let signature = signer.sign(&tbs).context("signing the certificate")?;
    let der = signet_x509::assemble_certificate(&tbs, algorithm, &signature)
        .context("encoding the certificate")?;
    signet_x509::verify_issued_by(&der, &root.subject, &root.spki_der)
        .context("the signed certificate does not verify with the CA's key")?;

    // Recorded before it leaves this command (DESIGN: no certificate without its record).
    record_sub_ca(
        data,
        config,
        &name,
        csr,
        &der,
        (serial, main_crl_shard(ca)),
        (not_before, not_after),
        &extensions,
        options,
    )?;
    let pem = signet_x509::pem::encode("CERTIFICATE", &der);
    write_new(out, pem.as_bytes())?;
    println!("Signed the certificate of sub-CA {}", csr.subject);
    println!("  issuer:    {} (CA {name})", root.subject);
    println!("  serial:    {}", serial.to_hex());
    println!(
        "  validity:  {} to {}",
        signet_x509::time::rfc3339(not_before),
        signet_x509::time::rfc3339(not_after)
    );
    if not_after < wanted {
        println!("  (cut at the end of CA {name}'s certificate)");
    }
    println!("  path_len:  {}", options.path_len);
    if !options.permitted_dns.is_empty() || !options.excluded_dns.is_empty() {
        println!(
            "  names:     permitted [{}], excluded [{}]",
            options.permitted_dns.join(", "),
            options.excluded_dns.join(", ")
        );
    }
    println!("  written:   {}", out.display());
    println!(
        "Recorded under CA {name}: revoke it with `signet admin revoke {} --ca {name}`, then sign a new CRL.",
        serial.to_hex()
    );
    Ok(())
}

/// The sub-CA certificate's extensions: basicConstraints (cA, pathLen) and keyUsage
/// (keyCertSign, cRLSign), both critical; SKI of the request's key; AKI of the CA's; name
/// constraints (critical) when given; the CA's CDP and AIA caIssuers when it has a URL.
fn sub_ca_extensions(
    ca: &CaConfig,
    config: &Config,
    name: &signet_core::CaName,
    root: &CertificateInfo,
    csr: &signet_x509::CertificationRequest,
    options: &SubCaOptions,
) -> Result<Vec<signet_x509::Extension>> {
    let key_id = ext::key_identifier(&csr.spki_der).context("the request's key")?;
    // As the engine does for its own CAs (`Authority::new`): the SHA-1 of the CA's key, which
    // is also the SKI `ca create --self-signed` put in the root certificate.
    let authority_key_id = ext::key_identifier(&root.spki_der).context("the CA's key")?;
    let mut extensions = vec![
        ext::basic_constraints(true, Some(options.path_len)),
        ext::key_usage(KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN)),
        ext::subject_key_identifier(&key_id),
        ext::authority_key_identifier(&authority_key_id),
    ];
    if !options.permitted_dns.is_empty() || !options.excluded_dns.is_empty() {
        let subtrees = |list: &[String], flag: &str| -> Result<Vec<NameSubtree>> {
            list.iter()
                .map(|d| {
                    check_dns_subtree(d).with_context(|| format!("--{flag} {d:?}"))?;
                    Ok(NameSubtree::Dns(d.to_ascii_lowercase()))
                })
                .collect()
        };
        let nc = NameConstraints {
            permitted: subtrees(&options.permitted_dns, "permitted-dns")?,
            excluded: subtrees(&options.excluded_dns, "excluded-dns")?,
        };
        extensions.push(ext::name_constraints(&nc).context("encoding nameConstraints")?);
    }
    let revocation = ca
        .revocation
        .to_config(config.server.public_url.as_deref())
        .with_context(|| format!("CA {name}: [ca.revocation]"))?;
    extensions.extend(
        revocation
            .offline_certificate_extensions(name, ca.key_index)
            .context("encoding the CDP and AIA")?,
    );
    Ok(extensions)
}

/// A DNS name constraint: labels of letters, digits and hyphens, optionally with a leading
/// dot (RFC 5280 4.2.1.10: only the names below it).
fn check_dns_subtree(d: &str) -> Result<()> {
    let host = d.strip_prefix('.').unwrap_or(d);
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        bail!("not a DNS name");
    }
    Ok(())
}

/// Records the sub-CA certificate under the CA, with its request, the `Issued` event and
/// the `ca-sign` audit record, in one transaction.
#[allow(clippy::too_many_arguments)]
fn record_sub_ca(
    data: &Path,
    config: &Config,
    name: &signet_core::CaName,
    csr: &signet_x509::CertificationRequest,
    der: &[u8],
    (serial, shard): (SerialNumber, u32),
    (not_before, not_after): (SystemTime, SystemTime),
    extensions: &[signet_x509::Extension],
    options: &SubCaOptions,
) -> Result<()> {
    let now = signet_x509::time::whole_seconds(SystemTime::now());
    let subject = csr.subject.to_string();
    let audit = signet_core::NewAudit {
        at: now,
        actor: OPERATOR.into(),
        action: "ca-sign".into(),
        ca: Some(name.clone()),
        target: signet_core::AuditTarget::ThisRequest,
        details: serde_json::json!({
            "serial": serial.to_hex(),
            "subject": subject,
            "request_sha256": hex::encode(signet_x509::sha256(&csr.der)),
            "certificate_sha256": hex::encode(signet_x509::sha256(der)),
            "not_after": signet_x509::time::unix_seconds(not_after),
            "path_len": options.path_len,
            "permitted_dns": options.permitted_dns,
            "excluded_dns": options.excluded_dns,
        })
        .to_string(),
    };
    let record = signet_core::NewRequest {
        ca: name.clone(),
        status: signet_core::RequestStatus::Issued,
        profile: None,
        requester: Some(OPERATOR.into()),
        format: csr.format.as_str().into(),
        raw: csr.der.clone(),
        subject: subject.clone(),
        submitted_at: now,
        resolved_at: Some(now),
        message: Some("signed offline by `signet ca sign --offline`".into()),
        attributes: Vec::new(),
        extensions: extensions
            .iter()
            .map(|e| signet_core::StoredExtension {
                oid: e.oid.clone(),
                critical: e.critical,
                disabled: false,
                origin: signet_core::ExtensionOrigin::Server,
                value: e.value.clone(),
            })
            .collect(),
        certificate: Some(signet_core::NewCertificate {
            serial,
            der: der.to_vec(),
            subject,
            sans: Vec::new(),
            not_before,
            not_after,
            // An offline CA has one CRL per key (no partitions).
            shard,
            spki_sha256: signet_x509::sha256(&csr.spki_der),
            unique_key: false,
        }),
        events: vec![(
            signet_core::Event::Issued,
            signet_core::audit_details::to_json(&signet_core::audit_details::Serial {
                serial: serial.to_hex(),
            }),
        )],
        audit: vec![audit],
    };
    let store = open_store(data, config)?;
    let created = crate::init::block_on(store.create_request(record));
    crate::init::block_on(store.close());
    created
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("recording the certificate: {e}"))
}

/// Publishes the CA's full CRL with `signer` through the engine (see the module
/// documentation), valid for `days`; answers the CRL.
fn publish_crl(
    data: &Path,
    config: &Config,
    ca: &CaConfig,
    signer: Arc<dyn Signer>,
    days: u32,
) -> Result<Arc<signet_core::revocation::PublishedCrl>> {
    let name = signet_core::CaName::new(&ca.name).context("CA name")?;
    let algorithm = signet_x509::spki_key_algorithm(signer.public_key_der())
        .context("the CA key's algorithm")?;
    let renewal = crate::serve::renewal::load(data, &name, ca, None)?;
    let mut runtime = crate::serve::ca_runtime(
        data,
        &config.server,
        ca,
        signer,
        algorithm,
        renewal,
        crate::serve::Modules::None,
    )?;
    // This CRL is valid for --next-update days; an offline CA publishes no deltas.
    runtime.revocation.crl_period = Duration::from_secs(u64::from(days) * DAY);
    runtime.revocation.crl_overlap = Duration::ZERO;
    runtime.revocation.delta_period = None;
    let store = Arc::new(open_store(data, config)?);
    let authority = signet_core::Authority::new(
        signet_core::AuthorityConfig {
            host: config.server.host.clone(),
            store: Arc::clone(&store) as Arc<dyn Store>,
            clock: Arc::new(signet_core::SystemClock),
            random: Arc::new(SystemRandom::new()),
            workers: 1,
            role_separation: config.security.role_separation,
            config_details: "{}".into(),
            key_factory: None,
            limits: config.security.limits(),
            token_secret_key: None,
            node: crate::serve::node::generate(&config.server.host)?,
            max_clock_regression: crate::serve::health::max_clock_regression(&config.server)?,
        },
        vec![runtime],
    )
    .context("building the CA")?;
    let operator = signet_core::Identity {
        name: OPERATOR.into(),
        roles: signet_core::Roles::from_roles(&[signet_core::Role::Admin]),
        cas: vec![name.clone()],
        groups: Vec::new(),
        via: "local".into(),
    };
    let published =
        crate::init::block_on(authority.publish_crls(Some(&operator), name.as_str(), false));
    authority.stop_modules();
    crate::init::block_on(store.close());
    published.with_context(|| format!("publishing CA {name}'s CRL"))?;
    authority
        .crl(name.as_str(), main_crl_shard(ca), false)
        .context("the published CRL")
}

/// The shard of the main CRL of the CA's current key (`signet_core::authority::CrlScope`).
fn main_crl_shard(ca: &CaConfig) -> u32 {
    signet_core::authority::CrlScope {
        key: ca.key_index,
        partition: 0,
    }
    .shard()
}

fn print_crl(crl: &signet_core::revocation::PublishedCrl, out: Option<&Path>) {
    println!(
        "Published CRL number {} ({} revoked certificates)",
        crl.number, crl.entries
    );
    println!(
        "  thisUpdate {}, nextUpdate {}: sign the next one before then",
        signet_x509::time::rfc3339(crl.this_update),
        signet_x509::time::rfc3339(crl.next_update)
    );
    if let Some(out) = out {
        println!("  written:   {} (DER)", out.display());
    }
    println!("  stored: a running `signet serve` serves it within its cluster_sync interval");
}

fn open_store(data: &Path, config: &Config) -> Result<signet_store::SqlStore> {
    let keys = crate::audit_anchors::for_verify(data, None)?;
    let database = config.database(data)?;
    database
        .open(keys)
        .map_err(|e| anyhow::anyhow!("opening {database}: {e}"))
}

fn random_serial() -> Result<SerialNumber> {
    let mut serial = [0u8; 20];
    SystemRandom::new()
        .fill(&mut serial)
        .context("random serial")?;
    Ok(SerialNumber::from_random(serial))
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_constraints_are_host_names_or_dotted_suffixes() {
        assert!(check_dns_subtree("example.test").is_ok());
        assert!(check_dns_subtree(".example.test").is_ok());
        assert!(check_dns_subtree("").is_err());
        assert!(check_dns_subtree(".").is_err());
        assert!(check_dns_subtree("a..b").is_err());
        assert!(check_dns_subtree("x\"]\nevil").is_err());
        assert!(check_dns_subtree("*.example.test").is_err());
    }

    #[test]
    fn the_offline_block_parses_as_an_offline_ca() {
        #[derive(serde::Deserialize)]
        struct Cas {
            ca: Vec<CaConfig>,
        }
        let block = offline_block("root", true);
        let parsed: Cas = toml::from_str(&block).expect("the block parses");
        let ca = &parsed.ca[0];
        assert!(ca.offline && ca.key.is_empty() && ca.rsa_pss);
        ca.check_offline().expect("a valid offline CA");
        let revocation = ca.revocation.to_config(None).expect("revocation");
        assert!(revocation.delta_period.is_none());
    }
}
