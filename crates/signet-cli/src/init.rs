//! `signet init`: a root CA, its database, `signet.toml` and the bootstrap admin token.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use signet_core::{Random, SerialNumber};
use signet_keys::{SoftwareKey, SystemRandom};
use signet_x509::{DistinguishedName, KeyAlgorithm};

use crate::config::Template;

/// What to create.
pub struct InitOptions {
    pub data: PathBuf,
    pub ca: String,
    pub key: String,
    pub subject: Option<String>,
    pub validity_days: u32,
    pub domains: Vec<String>,
    pub dev: bool,
    pub passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
    pub listen: String,
    /// `[server] database`: `None` for the SQLite default, or a `postgres://` URL.
    pub database: Option<String>,
    pub database_password_file: Option<String>,
    /// The CA key on a PKCS#11 token (an RFC 7512 URI) instead of a key file.
    pub key_uri: Option<String>,
    /// With `key_uri`: the key exists on the token; otherwise it is generated there.
    pub existing: bool,
    /// An RSA CA key signs RSASSA-PSS.
    pub rsa_pss: bool,
}

/// Creates the data directory. Refuses to touch an existing configuration.
pub fn run(opts: &InitOptions) -> Result<()> {
    let name = signet_core::CaName::new(&opts.ca).context("--ca")?;
    let algorithm = key_algorithm(&opts.key)?;
    let config_path = opts.data.join("signet.toml");
    if config_path.exists() {
        bail!(
            "{} already exists: refusing to overwrite an existing CA",
            config_path.display()
        );
    }
    let database = crate::config::database(
        &opts.data,
        opts.database.as_deref().unwrap_or("signet.db"),
        opts.database_password_file.as_deref(),
    )?;
    // A shared database that already holds an installation belongs to another CA, whose
    // audit chain other keys link. Nodes of one installation copy the first node's data
    // directory instead of running init again (docs/HA.md). Checked before anything is
    // written.
    let (existing, _) = signet_store::audit::anchors_of(&database)
        .map_err(|e| anyhow::anyhow!("reading the database {database}: {e}"))?;
    if existing > 0 {
        bail!(
            "the database {database} already holds a Signet installation ({existing} audit records): \
             signet init needs an empty database; to add a node, copy the first node's data directory"
        );
    }
    if opts.passphrase.is_none() && !opts.dev {
        bail!(
            "the CA key is encrypted at rest: give --passphrase-file FILE or set SIGNET_PASSPHRASE \
             (or pass --dev for an unencrypted development key)"
        );
    }
    if opts.validity_days == 0 {
        bail!("--validity-days must be at least 1");
    }
    check_domains(&opts.domains)?;
    let subject_text = opts
        .subject
        .clone()
        .unwrap_or_else(|| format!("O=Signet,CN={} Root CA", opts.ca));
    let subject = DistinguishedName::parse(&subject_text)
        .with_context(|| format!("--subject {subject_text:?}"))?;
    if subject.is_empty() {
        bail!("--subject must not be empty: a CA's name is its issuer name (RFC 5280 4.1.2.4)");
    }

    let key = CaKey::make(&KeyChoice {
        algorithm,
        key_uri: opts.key_uri.as_deref(),
        existing: opts.existing,
        rsa_pss: opts.rsa_pss,
    })?;
    let mut serial = [0u8; 20];
    SystemRandom::new()
        .fill(&mut serial)
        .context("random serial")?;
    let now = SystemTime::now();
    let not_before = now - Duration::from_secs(60);
    let not_after = now + Duration::from_secs(u64::from(opts.validity_days) * 86_400);
    let algorithm = key.key_algorithm();
    let cert = signet_core::authority::self_signed_root(
        key.signer(),
        &subject,
        SerialNumber::from_random(serial),
        not_before,
        not_after,
    )
    .map_err(anyhow::Error::msg)
    .context("signing the CA certificate")?;

    // The data directory holds the CA keys, the audit keys, admin.token and the database:
    // its owner only (0700).
    private_dir(&opts.data)?;
    let ca_dir = opts.data.join("ca").join(name.as_str());
    fs::create_dir_all(&ca_dir).with_context(|| format!("creating {}", ca_dir.display()))?;
    key.write(&ca_dir.join("key.pem"), opts.passphrase.as_ref())?;
    fs::write(
        ca_dir.join("cert.pem"),
        signet_x509::pem::encode("CERTIFICATE", &cert),
    )
    .context("writing the CA certificate")?;

    let domains = if opts.domains.is_empty() {
        // RFC 6761 names: safe for a development CA, never a real site.
        vec!["localhost".to_string(), "test".to_string()]
    } else {
        opts.domains.clone()
    };
    let template = Template {
        ca: name.as_str(),
        domains: &domains,
        listen: &opts.listen,
        acme: opts.dev,
        database: opts.database.as_deref().unwrap_or("signet.db"),
        database_password_file: opts.database_password_file.as_deref(),
        key_uri: opts.key_uri.as_deref(),
        rsa_pss: opts.rsa_pss,
    };
    let mut token = [0u8; 32];
    SystemRandom::new()
        .fill(&mut token)
        .context("random token")?;
    let token = zeroize::Zeroizing::new(format!("signet_{}", hex::encode(token)));
    write_private(
        &opts.data.join("admin.token"),
        format!("{}\n", token.as_str()).as_bytes(),
    )?;

    // The audit chain's key and checkpoint signing key, before the first audit record.
    crate::audit_anchors::create(&opts.data, opts.passphrase.as_ref().map(|p| p.as_slice()))?;
    let audit_keys = crate::audit_anchors::for_verify(&opts.data, None)?;
    let store = database
        .open(audit_keys)
        .map_err(|e| anyhow::anyhow!("creating the database {database}: {e}"))?;
    // The bootstrap administrator: an every-CA admin token, stored as its hash like any other.
    let created = SystemTime::now();
    let bootstrap = signet_core::NewToken {
        name: "bootstrap-admin".into(),
        hash: signet_x509::sha256(token.as_bytes()),
        roles: signet_core::Roles::from_roles(&[signet_core::Role::Admin]),
        cas: Vec::new(),
        groups: Vec::new(),
        created_at: created,
        created_by: "signet init".into(),
        expires_at: None,
        secret_seed: None,
        audit: vec![signet_core::NewAudit {
            at: created,
            actor: "signet init".into(),
            action: "token-create".into(),
            ca: None,
            target: signet_core::AuditTarget::Other("token/bootstrap-admin".into()),
            details: r#"{"name":"bootstrap-admin","roles":"admin","cas":""}"#.into(),
        }],
    };
    use signet_core::Store;
    block_on(store.create_token(bootstrap))
        .map_err(|e| anyhow::anyhow!("recording the bootstrap admin token: {e}"))?;
    block_on(store.close());
    drop(store);
    // signet.toml last: its presence is what marks the directory as initialised.
    fs::write(&config_path, template.render()).context("writing signet.toml")?;
    sync_file_system(&opts.data)?;

    let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &cert);
    println!("Created CA {name} in {}", opts.data.display());
    println!("  subject:     {subject}");
    println!(
        "  key:         {algorithm} ({})",
        match (&key, opts.dev) {
            (CaKey::Token(k), _) => format!("on the PKCS#11 token {}", k.uri()),
            (CaKey::Software(_), true) => "UNENCRYPTED".into(),
            (CaKey::Software(_), false) => "encrypted, PBES2".into(),
        }
    );
    println!("  valid until: {} days from now", opts.validity_days);
    println!("  SHA-256:     {}", hex::encode(fingerprint.as_ref()));
    println!("  config:      {}", config_path.display());
    println!(
        "  admin token: {} (mode 0600)",
        opts.data.join("admin.token").display()
    );
    println!("  DNS names:   {}", domains.join(", "));
    println!(
        "  audit keys:  {}, {} (mode 0600); keep a copy of {} off this machine",
        crate::audit_anchors::KEY_FILE,
        crate::audit_anchors::SIGNING_KEY_FILE,
        opts.data
            .join(crate::audit_anchors::PUBLIC_KEY_FILE)
            .display()
    );
    if opts.dev && matches!(key, CaKey::Software(_)) {
        eprintln!();
        eprintln!(
            "WARNING: --dev: the CA private key is stored UNENCRYPTED in {}.",
            ca_dir.join("key.pem").display()
        );
        eprintln!(
            "WARNING: use this CA for development only; never trust it outside this machine."
        );
    }
    Ok(())
}

/// Refuses a `--domain` that is not a DNS name (labels of letters, digits and hyphens).
pub(crate) fn check_domains(domains: &[String]) -> Result<()> {
    for d in domains {
        let ok = !d.is_empty()
            && d.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            bail!("--domain {d:?} is not a DNS name");
        }
    }
    Ok(())
}

/// A `--key` name: p256, p384, ed25519, rsa2048, rsa3072, rsa4096 or mldsa65.
pub(crate) fn key_algorithm(name: &str) -> Result<KeyAlgorithm> {
    KeyAlgorithm::from_config_name(name)
        .filter(|k| !matches!(k, KeyAlgorithm::Rsa { bits } if ![2048, 3072, 4096].contains(bits)))
        .with_context(|| {
            format!(
                "unknown key type {name:?} (p256, p384, ed25519, rsa2048, rsa3072, rsa4096, mldsa65)"
            )
        })
}

/// Which key a new CA gets (`signet init`, `signet ca create`).
pub(crate) struct KeyChoice<'a> {
    /// The algorithm of a key made here or on the token (an existing token key has its own).
    pub(crate) algorithm: KeyAlgorithm,
    /// A PKCS#11 URI: the key is on that token.
    pub(crate) key_uri: Option<&'a str>,
    /// With `key_uri`: use the key there instead of making one.
    pub(crate) existing: bool,
    pub(crate) rsa_pss: bool,
}

/// The new CA's key: in memory (then written to `key.pem`) or on a PKCS#11 token.
pub(crate) enum CaKey {
    Software(SoftwareKey),
    Token(Box<signet_pkcs11::Pkcs11Key>),
}

impl CaKey {
    /// Generates the key, or, with a URI, generates it on the token or opens the one there.
    pub(crate) fn make(choice: &KeyChoice<'_>) -> Result<CaKey> {
        let spinner = crate::progress::spinner(if choice.existing {
            "opening the CA key on its token"
        } else {
            "generating the CA key"
        });
        let key = CaKey::make_now(choice);
        spinner.finish_and_clear();
        key
    }

    fn make_now(choice: &KeyChoice<'_>) -> Result<CaKey> {
        let Some(uri) = choice.key_uri else {
            let key = SoftwareKey::generate(choice.algorithm).context("generating the CA key")?;
            return Ok(CaKey::Software(if choice.rsa_pss {
                key.with_rsa_pss().context("--rsa-pss")?
            } else {
                key
            }));
        };
        let uri = signet_pkcs11::Pkcs11Uri::parse(uri).context("--key-uri")?;
        let mut key = if choice.existing {
            signet_pkcs11::Pkcs11Key::open(&uri).context("opening the CA key on its token")?
        } else {
            signet_pkcs11::Pkcs11Key::generate(&uri, choice.algorithm)
                .context("generating the CA key on its token")?
        };
        if choice.rsa_pss {
            key = key.with_rsa_pss().context("--rsa-pss")?;
        }
        Ok(CaKey::Token(Box::new(key)))
    }

    pub(crate) fn signer(&self) -> &dyn signet_core::Signer {
        match self {
            CaKey::Software(k) => k,
            CaKey::Token(k) => &**k,
        }
    }

    pub(crate) fn key_algorithm(&self) -> KeyAlgorithm {
        match self {
            CaKey::Software(k) => k.key_algorithm(),
            CaKey::Token(k) => k.key_algorithm(),
        }
    }

    /// Writes a software key to `path` (encrypted with `passphrase`, or plain for `--dev`);
    /// a token key has no file.
    pub(crate) fn write(
        &self,
        path: &Path,
        passphrase: Option<&zeroize::Zeroizing<Vec<u8>>>,
    ) -> Result<()> {
        let CaKey::Software(key) = self else {
            return Ok(());
        };
        let pem = match passphrase {
            Some(p) => key.to_encrypted_pem(p).context("encrypting the CA key")?,
            None => key.to_unencrypted_pem().context("encoding the CA key")?,
        };
        write_private(path, pem.as_bytes())
    }
}

/// Runs a store future to completion on this thread. `init` runs both outside and inside
/// the tokio runtime (from `bench`), and the store's futures need no runtime: they resolve
/// when its writer thread answers.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Writes a file readable by its owner only (0600), failing if it exists.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Flushes the whole file system holding `dir` to its disk (`syncfs`): the files `init`
/// wrote, and the directory entries naming them. Without it a power cut in the seconds
/// after `init` reported success could leave signet.toml empty: the loop-disk fault tests
/// (tests/faults.rs) found it so when the disk failed shortly after `init`.
pub(crate) fn sync_file_system(dir: &Path) -> Result<()> {
    let d = fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    rustix::fs::syncfs(&d).with_context(|| format!("flushing {} to its disk", dir.display()))
}

/// Creates `dir` (and its parents) if needed and makes it accessible to its owner only.
pub(crate) fn private_dir(dir: &std::path::Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}
