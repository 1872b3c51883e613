//! A renewed CA's earlier keys and cross certificates (`[[ca.retired]]`,
//! `cross_certificates`), loaded beside its current key.

use std::path::Path;

use anyhow::{Context, Result, bail};
use signet_core::CaName;
use signet_core::authority::{Renewal, RetiredKey};

use crate::config::{CaConfig, Config};

/// The renewal state of a CA as configured: each retired key loaded (it keeps signing
/// CRLs) and checked against its certificate, and the cross certificates read.
pub(crate) fn load(
    data: &Path,
    name: &CaName,
    ca: &CaConfig,
    passphrase: Option<&[u8]>,
) -> Result<Renewal> {
    let mut retired = Vec::with_capacity(ca.retired.len());
    for r in &ca.retired {
        if r.key_index >= ca.key_index {
            bail!(
                "CA {name}: retired key index {} is not below the current key index {}",
                r.key_index,
                ca.key_index
            );
        }
        let (signer, _) = super::load_ca_key(data, name, &r.key, r.rsa_pss, passphrase)
            .with_context(|| format!("CA {name}: retired key {}", r.key_index))?;
        let certificate = first_certificate(data, &r.certificate)?;
        let info = signet_x509::parse_certificate(&certificate)
            .with_context(|| format!("parsing {}", r.certificate))?;
        if info.spki_der != signer.public_key_der() {
            bail!(
                "CA {name}: the retired key {} does not match the certificate {}",
                r.key,
                r.certificate
            );
        }
        retired.push(RetiredKey {
            index: r.key_index,
            signer,
            certificate,
        });
    }
    let mut cross_certificates = Vec::new();
    for file in &ca.cross_certificates {
        let path = Config::resolve(data, file);
        let pem = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        cross_certificates.extend(
            signet_x509::pem::decode_all(&pem, "CERTIFICATE")
                .with_context(|| format!("parsing {}", path.display()))?,
        );
    }
    Ok(Renewal {
        key_index: ca.key_index,
        cert_index: ca.cert_index,
        retired,
        cross_certificates,
    })
}

/// The first certificate of a PEM file named relative to the data directory.
fn first_certificate(data: &Path, file: &str) -> Result<Vec<u8>> {
    let path = Config::resolve(data, file);
    let pem = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    signet_x509::pem::decode_all(&pem, "CERTIFICATE")
        .with_context(|| format!("parsing {}", path.display()))?
        .into_iter()
        .next()
        .with_context(|| format!("{} holds no certificate", path.display()))
}
