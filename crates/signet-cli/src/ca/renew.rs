//! `signet ca renew` (AD CS "Renew CA certificate"): a new certificate for a CA, with its
//! key or a new one.
//!
//! - A root signs its new certificate itself. With a new key it also makes the two cross
//!   certificates (the new key certified by the old one and the reverse), so relying parties
//!   that trust either root verify what both keys issue.
//! - A CA under a parent makes a request: for an outside parent (`--csr-out`), or submitted
//!   to a CA of this installation (`--parent`); `signet ca install --name NAME` then installs
//!   the certificate the parent returns, as for a new CA.
//!
//! Installing a renewal raises the CA's certificate index; a new key also raises its key
//! index and moves the old key to `[[ca.retired]]`, where it keeps signing the CRLs and
//! OCSP responses of what it issued until its certificate expires. Files are never
//! overwritten: `ca/NAME/key-K.pem`, `cert-C.pem`, `cross-J-K.pem`.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use signet_core::{CaName, SerialNumber, Signer};
use signet_x509::{DistinguishedName, KeyUsage};
use zeroize::Zeroizing;

use super::{Parent, Pending, audit};
use crate::config::{CaConfig, Config};
use crate::init::{CaKey, KeyChoice, write_private};

/// What `signet ca renew` was asked.
pub(super) struct RenewOptions<'a> {
    pub(super) data: &'a Path,
    pub(super) name: &'a str,
    /// `Some`: a new key, made as chosen.
    pub(super) new_key: Option<NewKey<'a>>,
    /// The new certificate's lifetime (a root's); default: the current one's.
    pub(super) days: Option<u32>,
    pub(super) passphrase: Option<Zeroizing<Vec<u8>>>,
    /// For a CA under a parent: where the request goes.
    pub(super) csr_out: Option<&'a Path>,
    pub(super) parent: Option<&'a Parent>,
}

/// `--new-key` and how to make it.
pub(super) struct NewKey<'a> {
    /// `None`: the current key's algorithm.
    pub(super) algorithm: Option<signet_x509::KeyAlgorithm>,
    pub(super) key_uri: Option<&'a str>,
    pub(super) existing: bool,
    pub(super) rsa_pss: bool,
}

/// A renewal ready to be written into `signet.toml`.
pub(super) struct Installed {
    /// `[[ca]] key` after the renewal (unchanged without a new key).
    pub(super) key: String,
    pub(super) rsa_pss: bool,
    /// The new certificate file, relative to the data directory.
    pub(super) certificate: String,
    /// `Some`: the cross certificates file (a root renewed with a new key).
    pub(super) cross: Option<String>,
    pub(super) new_key: bool,
}

pub(super) fn renew(opts: RenewOptions<'_>) -> Result<()> {
    let config = Config::load(opts.data)?;
    let ca = find(&config, opts.name)?;
    let name = CaName::new(&ca.name).context("--name")?;
    if ca.offline {
        bail!(
            "CA {name} is offline (its key is not in the installation): renewing an offline root is not supported yet; create a new root with `signet ca create --self-signed` and sign its cross certificate by hand"
        );
    }
    let dir = opts.data.join("ca").join(opts.name);
    if dir.join("pending.toml").exists() {
        bail!(
            "{} exists: a renewal or creation of CA {name} waits for `signet ca install`",
            dir.join("pending.toml").display()
        );
    }
    let current = current_chain(opts.data, ca)?;
    let info = signet_x509::parse_certificate(&current[0]).context("the CA certificate")?;
    let root = current.len() == 1 && info.issuer.as_der() == info.subject.as_der();
    if !root && opts.csr_out.is_none() && opts.parent.is_none() {
        bail!(
            "CA {name} has a parent ({}): give --csr-out FILE for an outside parent, or --parent CA",
            info.issuer
        );
    }
    if root && (opts.csr_out.is_some() || opts.parent.is_some()) {
        bail!(
            "CA {name} is a root: it signs its new certificate itself (no --csr-out or --parent)"
        );
    }
    let passphrase = opts.passphrase.as_ref().map(|p| p.as_slice());
    let (old_key, old_algorithm) =
        crate::serve::load_ca_key(opts.data, &name, &ca.key, ca.rsa_pss, passphrase)?;
    if old_key.public_key_der() != info.spki_der {
        bail!(
            "CA {name}: the key {} does not match its certificate",
            ca.key
        );
    }
    let key_index = ca.key_index + u32::from(opts.new_key.is_some());
    let cert_index = ca.cert_index + 1;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let made = opts
        .new_key
        .as_ref()
        .map(|k| {
            CaKey::make(&KeyChoice {
                algorithm: k.algorithm.unwrap_or(old_algorithm),
                key_uri: k.key_uri,
                existing: k.existing,
                rsa_pss: k.rsa_pss,
            })
        })
        .transpose()?;
    let key_ref = match (&made, &opts.new_key) {
        (Some(CaKey::Token(_)), Some(choice)) => choice.key_uri.unwrap_or_default().to_owned(),
        (Some(key), _) => {
            let file = format!("ca/{name}/key-{key_index}.pem");
            let encrypt = opts.passphrase.as_ref();
            key.write(&Config::resolve(opts.data, &file), encrypt)?;
            file
        }
        (None, _) => ca.key.clone(),
    };
    let rsa_pss = opts.new_key.as_ref().map_or(ca.rsa_pss, |c| c.rsa_pss);
    let signer: &dyn Signer = match &made {
        Some(k) => k.signer(),
        None => &*old_key,
    };

    if !root {
        return request(&opts, &config, &info.subject, signer, key_ref, rsa_pss);
    }

    let lifetime = opts.days.map_or_else(
        || {
            info.not_after
                .duration_since(info.not_before)
                .unwrap_or_default()
        },
        |d| Duration::from_secs(u64::from(d) * 86_400),
    );
    let now = SystemTime::now();
    let not_before = now - Duration::from_secs(60);
    let certificate = signet_core::authority::self_signed_root(
        signer,
        &info.subject,
        random_serial()?,
        not_before,
        now + lifetime,
    )
    .map_err(anyhow::Error::msg)
    .context("signing the new CA certificate")?;
    let cert_file = format!("ca/{name}/cert-{cert_index}.pem");
    write_new(
        &Config::resolve(opts.data, &cert_file),
        signet_x509::pem::encode("CERTIFICATE", &certificate).as_bytes(),
    )?;
    let cross = match &made {
        Some(new) => {
            let old_until = info.not_after;
            let new_by_old = cross_certificate(
                &info.subject,
                new.signer().public_key_der(),
                &*old_key,
                not_before,
                old_until.min(now + lifetime),
            )?;
            let old_by_new = cross_certificate(
                &info.subject,
                &info.spki_der,
                new.signer(),
                not_before,
                old_until,
            )?;
            let file = format!("ca/{name}/cross-{}-{key_index}.pem", ca.key_index);
            let pem = [&new_by_old, &old_by_new]
                .iter()
                .map(|der| signet_x509::pem::encode("CERTIFICATE", der))
                .collect::<String>();
            write_new(&Config::resolve(opts.data, &file), pem.as_bytes())?;
            Some((file, new_by_old, old_by_new))
        }
        None => None,
    };
    let installed = Installed {
        key: key_ref,
        rsa_pss,
        certificate: cert_file,
        cross: cross.as_ref().map(|c| c.0.clone()),
        new_key: made.is_some(),
    };
    install_renewal(opts.data, &config, ca, &installed)?;
    let mut details = serde_json::json!({
        "subject": info.subject.to_string(),
        "cert_index": cert_index,
        "key_index": key_index,
        "new_key": made.is_some(),
        "certificate_sha256": hex::encode(signet_x509::sha256(&certificate)),
        "previous_sha256": hex::encode(signet_x509::sha256(&current[0])),
    });
    if let Some((_, a, b)) = &cross {
        details["cross_sha256"] = serde_json::json!([
            hex::encode(signet_x509::sha256(a)),
            hex::encode(signet_x509::sha256(b)),
        ]);
    }
    audit(opts.data, &config, "ca-renew", opts.name, details)?;
    println!("Renewed root CA {name}: certificate index {cert_index}, key index {key_index}");
    println!("  certificate: {}", installed.certificate);
    if let Some((file, _, _)) = &cross {
        println!(
            "  cross certificates: {file} (key {key_index} signed by key {}, and the reverse)",
            ca.key_index
        );
    }
    if made.is_some() {
        println!(
            "  key {} keeps signing the CRLs and OCSP responses of what it issued until its certificate expires",
            ca.key_index
        );
    }
    println!("Restart `signet serve` to issue with it.");
    Ok(())
}

/// The `[[ca]]` table of CA `name`.
pub(super) fn find<'c>(config: &'c Config, name: &str) -> Result<&'c CaConfig> {
    config
        .cas
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("signet.toml has no CA named {name}"))
}

/// The CA certificate and its chain, as configured.
fn current_chain(data: &Path, ca: &CaConfig) -> Result<Vec<Vec<u8>>> {
    let path = Config::resolve(data, &ca.certificate);
    let pem = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let chain = signet_x509::pem::decode_all(&pem, "CERTIFICATE")
        .with_context(|| format!("parsing {}", path.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(chain)
}

/// A CA under a parent: the request for its new certificate, written or submitted, and
/// `pending.toml` for `signet ca install`.
fn request(
    opts: &RenewOptions<'_>,
    config: &Config,
    subject: &DistinguishedName,
    signer: &dyn Signer,
    key: String,
    rsa_pss: bool,
) -> Result<()> {
    let name = opts.name;
    let csr = super::make_csr(subject, signer, &super::Asked::default().extensions()?)?;
    let dir = opts.data.join("ca").join(name);
    let pem = signet_x509::pem::encode("CERTIFICATE REQUEST", &csr);
    fs::write(dir.join("request.pem"), &pem).context("writing request.pem")?;
    if let Some(out) = opts.csr_out {
        write_new(out, pem.as_bytes())?;
    }
    let submitted = opts.parent.map(|p| super::submit(p, &csr)).transpose()?;
    let pending = toml::to_string(&Pending {
        key,
        rsa_pss,
        parent: opts.parent.map(|p| p.ca.clone()),
        request: submitted.as_ref().map(|r| r.id.get()),
        renewal: true,
    })
    .context("encoding pending.toml")?;
    write_private(&dir.join("pending.toml"), pending.as_bytes())?;
    audit(
        opts.data,
        config,
        "ca-renew",
        name,
        serde_json::json!({
            "subject": subject.to_string(),
            "new_key": opts.new_key.is_some(),
            "request_sha256": hex::encode(signet_x509::sha256(&csr)),
            "parent": opts.parent.map(|p| p.ca.clone()),
            "parent_request": submitted.as_ref().map(|r| r.id.get()),
        }),
    )?;
    println!(
        "Made the renewal request of CA {name} ({})",
        if opts.new_key.is_some() {
            "new key"
        } else {
            "same key"
        }
    );
    super::print_next_steps(opts.data, name, opts.csr_out, opts.parent, &submitted);
    Ok(())
}

/// Writes a renewal into `signet.toml`: the CA's `key`, `certificate` and indexes, the old
/// key to `[[ca.retired]]` when the key changed, and the cross certificates. The file is
/// edited in place (comments kept) and read back before it replaces the old one.
pub(super) fn install_renewal(
    data: &Path,
    config: &Config,
    ca: &CaConfig,
    installed: &Installed,
) -> Result<()> {
    let path = data.join("signet.toml");
    let text = fs::read_to_string(&path).context("reading signet.toml")?;
    let key_index = ca.key_index + u32::from(installed.new_key);
    let mut set = vec![
        ("key", quote(&installed.key)),
        ("certificate", quote(&installed.certificate)),
        ("rsa_pss", installed.rsa_pss.to_string()),
        ("key_index", key_index.to_string()),
        ("cert_index", (ca.cert_index + 1).to_string()),
    ];
    let mut cross: Vec<String> = ca.cross_certificates.clone();
    if let Some(file) = &installed.cross {
        cross.push(file.clone());
    }
    if !cross.is_empty() {
        let list = cross
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        set.push(("cross_certificates", format!("[{list}]")));
    }
    let retired = installed.new_key.then(|| {
        format!(
            "\n# Key {} until renewal {}: signs the CRLs and OCSP responses of what it issued.\n[[ca.retired]]\nkey_index = {}\nkey = {}\ncertificate = {}\nrsa_pss = {}\n",
            ca.key_index,
            ca.cert_index + 1,
            ca.key_index,
            quote(&ca.key),
            quote(&ca.certificate),
            ca.rsa_pss
        )
    });
    let edited = edit_ca_table(&text, &ca.name, &set, retired.as_deref())?;
    // Read back: the edit must say exactly what was meant.
    let parsed: Config = toml::from_str(&edited).context("the edited signet.toml")?;
    let after = find(&parsed, &ca.name)?;
    let ok = after.key == installed.key
        && after.certificate == installed.certificate
        && after.key_index == key_index
        && after.cert_index == ca.cert_index + 1
        && after.retired.len() == ca.retired.len() + usize::from(installed.new_key)
        && parsed.cas.len() == config.cas.len();
    if !ok {
        bail!("editing signet.toml went wrong; nothing was changed (edit it by hand)");
    }
    let tmp = data.join("signet.toml.new");
    fs::write(&tmp, edited).context("writing signet.toml.new")?;
    fs::rename(&tmp, &path).context("replacing signet.toml")?;
    crate::init::sync_file_system(data)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Sets top-level keys of the `[[ca]]` table named `name` (replacing the lines that set
/// them, else adding them after its `name` line) and appends `tail` at the end of that
/// table's section (before the next `[[ca]]`).
fn edit_ca_table(
    text: &str,
    name: &str,
    set: &[(&str, String)],
    tail: Option<&str>,
) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let is_ca_header = |l: &str| l.trim() == "[[ca]]";
    let key_of = |l: &str| {
        let t = l.trim_start();
        let (k, _) = t.split_once('=')?;
        let k = k.trim();
        (!k.is_empty() && !t.starts_with('#') && !t.starts_with('['))
            .then(|| k.trim_matches('"').to_owned())
    };
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| is_ca_header(lines[i]))
        .collect();
    let mut section = None;
    for (n, &start) in headers.iter().enumerate() {
        let end = headers.get(n + 1).copied().unwrap_or(lines.len());
        // The table's own keys end at its first sub-table header.
        let own_end = (start + 1..end)
            .find(|&i| lines[i].trim_start().starts_with('['))
            .unwrap_or(end);
        let named = (start + 1..own_end).any(|i| {
            key_of(lines[i]).as_deref() == Some("name")
                && lines[i]
                    .split_once('=')
                    .is_some_and(|(_, v)| v.trim() == quote(name))
        });
        if named {
            section = Some((start, own_end, end));
            break;
        }
    }
    let Some((start, own_end, end)) = section else {
        bail!(
            "signet.toml has no [[ca]] table with name = {}",
            quote(name)
        );
    };
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + set.len() + 8);
    out.extend(lines[..=start].iter().map(|l| l.to_string()));
    let mut done = vec![false; set.len()];
    let mut name_at = None;
    for line in &lines[start + 1..own_end] {
        let key = key_of(line);
        match key
            .as_deref()
            .and_then(|k| set.iter().position(|(s, _)| *s == k))
        {
            Some(i) if !done[i] => {
                out.push(format!("{} = {}", set[i].0, set[i].1));
                done[i] = true;
            }
            Some(_) => {}
            None => {
                out.push(line.to_string());
                if key.as_deref() == Some("name") {
                    name_at = Some(out.len());
                }
            }
        }
    }
    let missing: Vec<String> = set
        .iter()
        .zip(&done)
        .filter(|(_, d)| !**d)
        .map(|((k, v), _)| format!("{k} = {v}"))
        .collect();
    let at = name_at.unwrap_or(start + 1);
    out.splice(at..at, missing);
    out.extend(lines[own_end..end].iter().map(|l| l.to_string()));
    if let Some(tail) = tail {
        out.extend(tail.lines().map(str::to_owned));
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

/// A cross certificate: `spki` certified under `subject` by `issuer` (another key of the
/// same CA name).
fn cross_certificate(
    subject: &DistinguishedName,
    spki: &[u8],
    issuer: &dyn Signer,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>> {
    signet_core::authority::same_name_ca(
        issuer,
        subject,
        spki,
        random_serial()?,
        (not_before, not_after),
        KeyUsage::KEY_CERT_SIGN.union(KeyUsage::CRL_SIGN),
    )
    .map_err(anyhow::Error::msg)
    .context("signing a cross certificate")
}

fn random_serial() -> Result<SerialNumber> {
    use signet_core::Random;
    let mut serial = [0u8; 20];
    signet_keys::SystemRandom::new()
        .fill(&mut serial)
        .context("random serial")?;
    Ok(SerialNumber::from_random(serial))
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        bail!("{} exists: refusing to overwrite it", path.display());
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
