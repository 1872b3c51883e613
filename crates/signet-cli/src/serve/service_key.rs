//! The keys and certificates of the front ends' own services: the SCEP RA (RSA: clients
//! encrypt to it) and the CMP responder (P-256: it signs CMP answers). Each is a key file
//! beside the CA's (encrypted under the CA passphrase, as the CA key is) and a certificate
//! the CA issues at first start and again when a third of its lifetime is left, or when it
//! is revoked or no longer the CA key's.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use signet_api::CaName;
use signet_core::{Authority, Signer};
use signet_keys::SoftwareKey;
use signet_x509::KeyAlgorithm;
use zeroize::Zeroizing;

/// Which service a key serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    ScepRa,
    CmpResponder,
}

impl Service {
    fn algorithm(self) -> KeyAlgorithm {
        match self {
            Service::ScepRa => KeyAlgorithm::Rsa { bits: 2048 },
            Service::CmpResponder => KeyAlgorithm::P256,
        }
    }

    /// The directory under the data directory, and the file names' stem.
    fn files(self) -> (&'static str, &'static str) {
        match self {
            Service::ScepRa => ("scep", "ra"),
            Service::CmpResponder => ("cmp", "responder"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Service::ScepRa => "SCEP RA",
            Service::CmpResponder => "CMP responder",
        }
    }
}

/// A key and certificate to install (PKCS#8 DER, certificate DER).
pub struct Installable {
    pub pkcs8: Zeroizing<Vec<u8>>,
    pub certificate: Vec<u8>,
}

/// Where a service's keys live and how they are sealed.
pub struct ServiceKeys {
    pub service: Service,
    pub data: PathBuf,
    pub passphrase: Option<Zeroizing<Vec<u8>>>,
    /// Each CA's certificate validity.
    pub validity: Vec<(CaName, Duration)>,
}

impl ServiceKeys {
    fn paths(&self, ca: &CaName) -> (PathBuf, PathBuf) {
        let (dir, stem) = self.service.files();
        let dir = self.data.join(dir).join(ca.as_str());
        (
            dir.join(format!("{stem}-key.pem")),
            dir.join(format!("{stem}-cert.pem")),
        )
    }

    /// What to install for `ca` when `installed` (the certificate in use, if any) is no
    /// longer good: the stored pair if it is, else a new key and certificate. `None`: keep
    /// the installed one.
    pub async fn ensure(
        &self,
        authority: &Authority,
        ca: &CaName,
        validity: Duration,
        installed: Option<&[u8]>,
    ) -> Result<Option<Installable>> {
        // The installed certificate first: no file read, no key decryption, while it stays
        // good.
        if let Some(installed) = installed
            && good(authority, ca, installed, self.service).await
        {
            return Ok(None);
        }
        let (key_path, cert_path) = self.paths(ca);
        if let Some(behind) = authority.clock_behind() {
            // A clock that is behind can judge no validity, and nothing new is signed until
            // it is corrected (`/healthz` says so): keep what is installed, or take up what
            // is stored, and look again at the next check.
            tracing::warn!(ca = %ca, error = %behind, "the {} certificate is kept as it is", self.service.label());
            if installed.is_some() {
                return Ok(None);
            }
            return Ok(self.open_stored(&key_path, &cert_path));
        }
        if let Some(stored) = self.stored(authority, ca, &key_path, &cert_path).await {
            if installed == Some(stored.certificate.as_slice()) {
                return Ok(None);
            }
            return Ok(Some(stored));
        }
        let passphrase = self.passphrase.as_ref().map(|p| p.to_vec());
        let algorithm = self.service.algorithm();
        let (key, pem) = tokio::task::spawn_blocking(move || -> Result<(SoftwareKey, String)> {
            let key = SoftwareKey::generate(algorithm)?;
            let pem = match &passphrase {
                Some(p) => key.to_encrypted_pem(p)?,
                None => key.to_unencrypted_pem()?,
            };
            Ok((key, pem))
        })
        .await
        .with_context(|| format!("generating the {} key", self.service.label()))??;
        let issued = match self.service {
            Service::ScepRa => {
                authority
                    .issue_scep_ra_certificate(ca, key.public_key_der(), validity)
                    .await
            }
            Service::CmpResponder => {
                authority
                    .issue_cmp_responder_certificate(ca, key.public_key_der(), validity)
                    .await
            }
        };
        let (der, serial) =
            issued.with_context(|| format!("issuing the {} certificate", self.service.label()))?;
        if let Some(dir) = key_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Written beside and renamed over the old ones: a crash leaves either the old pair,
        // or a key and certificate that do not match, which the next start replaces.
        let (key_new, cert_new) = (
            key_path.with_extension("pem.new"),
            cert_path.with_extension("pem.new"),
        );
        let _ = std::fs::remove_file(&key_new);
        crate::init::write_private(&key_new, pem.as_bytes())?;
        std::fs::write(&cert_new, signet_x509::pem::encode("CERTIFICATE", &der))
            .with_context(|| format!("writing {}", cert_new.display()))?;
        for (from, to) in [(&key_new, &key_path), (&cert_new, &cert_path)] {
            std::fs::rename(from, to).with_context(|| format!("replacing {}", to.display()))?;
        }
        tracing::debug!(ca = %ca, %serial, "{} key and certificate written", self.service.label());
        Ok(Some(Installable {
            pkcs8: key.pkcs8_der()?,
            certificate: der,
        }))
    }

    /// The stored pair, if its certificate is still good ([`good`]) and its key opens.
    async fn stored(
        &self,
        authority: &Authority,
        ca: &CaName,
        key_path: &Path,
        cert_path: &Path,
    ) -> Option<Installable> {
        let pem = std::fs::read(cert_path).ok()?;
        let (_, der) = signet_x509::pem::decode(&pem).ok()?;
        if !good(authority, ca, &der, self.service).await {
            return None;
        }
        self.open_stored(key_path, cert_path)
    }

    /// The stored pair, if its key opens and is its certificate's (its validity unjudged).
    fn open_stored(&self, key_path: &Path, cert_path: &Path) -> Option<Installable> {
        let pem = std::fs::read(cert_path).ok()?;
        let (_, der) = signet_x509::pem::decode(&pem).ok()?;
        let key_pem = std::fs::read(key_path).ok()?;
        let label = self.service.label();
        let key = SoftwareKey::from_pem(&key_pem, self.passphrase.as_deref().map(|p| p.as_slice()))
            .map_err(
                |e| tracing::warn!(error = %e, "the {label} key does not open; issuing a new one"),
            )
            .ok()?;
        if signet_x509::parse_certificate(&der).ok()?.spki_der != key.public_key_der() {
            tracing::warn!("the stored {label} key is not its certificate's; issuing a new one");
            return None;
        }
        Some(Installable {
            pkcs8: key.pkcs8_der().ok()?,
            certificate: der,
        })
    }
}

/// Whether a service certificate may go on serving: a current certificate of the CA's
/// current key (valid, not revoked) with more than a third of its lifetime left.
async fn good(authority: &Authority, ca: &CaName, der: &[u8], service: Service) -> bool {
    let now = SystemTime::now();
    let label = service.label();
    let info =
        match signet_api::enroll::current_certificate(authority, authority, ca.as_str(), der, now)
            .await
        {
            Ok(Ok(info)) => info,
            Ok(Err(why)) => {
                tracing::warn!(ca = %ca, %why, "the {label} certificate; issuing a new one");
                return false;
            }
            Err(e) => {
                tracing::warn!(ca = %ca, error = %e, "checking the {label} certificate");
                return false;
            }
        };
    let lifetime = info
        .not_after
        .duration_since(info.not_before)
        .unwrap_or_default();
    let due = now + lifetime / 3 >= info.not_after;
    if due {
        tracing::info!(ca = %ca, serial = %info.serial_hex, "the {label} certificate is due for renewal");
    }
    !due
}
