//! `signet ca install`: the certificate a parent returned, checked against the CA's key, the
//! path up to a self-signed root and the CA's profiles, then written and added to
//! `signet.toml` (a new CA) or installed as the CA's next certificate (a renewal).

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use signet_x509::ext::{self, oid};
use signet_x509::{CertificateInfo, KeyUsage, NameSubtree};

use signet_api::Enroll;

use super::{Pending, Source, audit, new_ca_dir, renew};
use crate::config::{Config, Template};

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

pub(super) fn install(data: &Path, name: &str, source: Source, domains: Vec<String>) -> Result<()> {
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
    crate::init::sync_file_system(data)?;
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
