//! `[ca.scep]` → the SCEP server (`signet_scep`), merged into the HTTP router, and each
//! CA's RA certificate: an RSA key written beside the CA's (encrypted under the CA
//! passphrase, as the CA key is), its certificate issued by the CA at first start and again
//! when a third of its lifetime is left or it was revoked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use signet_api::CaName;
use signet_core::{Authority, Signer};
use signet_keys::SoftwareKey;
use signet_scep::{RaKey, Scep, ScepCa, ScepParts};
use signet_store::SqliteStore;
use signet_x509::KeyAlgorithm;
use zeroize::Zeroizing;

use crate::config::{ChallengeCheck, Config};

/// The SCEP server for the CAs with `[ca.scep] enabled = true`, with their RA certificates,
/// and the task that renews them; `None` when no CA has SCEP on.
pub async fn build(
    config: &Config,
    authority: &Arc<Authority>,
    store: &Arc<SqliteStore>,
    metrics: &Arc<signet_server::Metrics>,
    data: &Path,
    passphrase: Option<&[u8]>,
) -> Result<Option<(Arc<Scep>, tokio::task::JoinHandle<()>)>> {
    let mut cas = Vec::new();
    let mut validity = Vec::new();
    for ca in &config.cas {
        let Some(scep) = ca.scep.as_ref().filter(|s| s.enabled) else {
            continue;
        };
        let name = CaName::new(&ca.name).with_context(|| format!("CA {:?}", ca.name))?;
        let profiles = ca.profiles();
        let profile = scep
            .profile
            .clone()
            .or_else(|| {
                ca.policy
                    .get("default_profile")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned)
            })
            .with_context(|| format!("CA {}: [ca.scep] needs a profile", ca.name))?;
        if let Some(table) = profiles
            && !table.contains_key(&profile)
        {
            bail!(
                "CA {}: [ca.scep] profile {profile:?} is not a profile of [ca.policy]",
                ca.name
            );
        }
        let ra_validity = scep
            .ra_validity
            .within(
                Duration::from_secs(3600),
                Duration::from_secs(5 * 366 * 86400),
            )
            .with_context(|| format!("CA {}: [ca.scep] ra_validity", ca.name))?;
        validity.push((name.clone(), ra_validity));
        cas.push(ScepCa {
            ca: name,
            profile,
            static_challenge: scep.challenge.clone().filter(|c| !c.is_empty()),
            policy_checks_challenge: scep.challenge_check == ChallengeCheck::Policy,
            legacy_crypto: scep.legacy_crypto,
        });
    }
    if cas.is_empty() {
        return Ok(None);
    }
    let scep = Scep::new(ScepParts {
        cas,
        // Requests count in `signet_requests_total` as REST submissions do.
        enroll: Arc::new(signet_server::metrics::CountedEnroll::new(
            Arc::clone(authority) as _,
            Arc::clone(metrics),
        )),
        authn: Arc::clone(authority) as _,
        store: Arc::clone(store) as _,
        revocation: Arc::clone(authority) as _,
        role_separation: config.security.role_separation,
    });
    let ras = RaKeys {
        data: data.to_path_buf(),
        passphrase: passphrase.map(|p| Zeroizing::new(p.to_vec())),
        validity,
    };
    for (ca, v) in &ras.validity {
        ras.ensure(&scep, authority, ca, *v)
            .await
            .with_context(|| format!("CA {ca}: the SCEP RA certificate"))?;
        let ra_sha256 = scep
            .ra_certificate(ca)
            .map(|c| hex::encode(signet_x509::sha256(&c)))
            .unwrap_or_default();
        // The fingerprint is what scepclient's -ca-fingerprint takes.
        tracing::info!(ca = %ca, %ra_sha256, "SCEP enabled");
    }
    let task = {
        let (scep, authority) = (Arc::clone(&scep), Arc::clone(authority));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                for (ca, v) in &ras.validity {
                    if let Err(e) = ras.ensure(&scep, &authority, ca, *v).await {
                        tracing::error!(ca = %ca, error = format!("{e:#}"), "renewing the SCEP RA certificate failed");
                    }
                }
                if let Err(e) = scep.purge().await {
                    tracing::warn!(error = %e, "SCEP purge failed");
                }
            }
        })
    };
    Ok(Some((scep, task)))
}

/// Where the RA keys live and how they are sealed.
struct RaKeys {
    data: PathBuf,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    validity: Vec<(CaName, Duration)>,
}

impl RaKeys {
    fn paths(&self, ca: &CaName) -> (PathBuf, PathBuf) {
        let dir = self.data.join("scep").join(ca.as_str());
        (dir.join("ra-key.pem"), dir.join("ra-cert.pem"))
    }

    /// Installs the stored RA key and certificate when still good, else issues new ones.
    async fn ensure(
        &self,
        scep: &Scep,
        authority: &Authority,
        ca: &CaName,
        validity: Duration,
    ) -> Result<()> {
        // The installed RA first: no file read, no key decryption, while it stays good.
        if let Some(installed) = scep.ra_certificate(ca)
            && good(authority, ca, &installed).await
        {
            return Ok(());
        }
        let (key_path, cert_path) = self.paths(ca);
        if let Some(ra) = self.stored(authority, ca, &key_path, &cert_path).await {
            if scep.ra_certificate(ca).as_deref() != Some(ra.certificate()) {
                scep.set_ra(ca, ra);
            }
            return Ok(());
        }
        let passphrase = self.passphrase.as_ref().map(|p| p.to_vec());
        let key = tokio::task::spawn_blocking(move || -> Result<(SoftwareKey, String)> {
            let key = SoftwareKey::generate(KeyAlgorithm::Rsa { bits: 2048 })?;
            let pem = match &passphrase {
                Some(p) => key.to_encrypted_pem(p)?,
                None => key.to_unencrypted_pem()?,
            };
            Ok((key, pem))
        })
        .await
        .context("generating the RA key")??;
        let (key, pem) = key;
        let (der, serial) = authority
            .issue_scep_ra_certificate(ca, key.public_key_der(), validity)
            .await
            .context("issuing the RA certificate")?;
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
        let ra = RaKey::from_pkcs8(&key.pkcs8_der()?, der)?;
        scep.set_ra(ca, ra);
        tracing::debug!(ca = %ca, %serial, "SCEP RA key and certificate written");
        Ok(())
    }

    /// The stored RA, if its certificate is still good ([`good`]) and its key opens.
    async fn stored(
        &self,
        authority: &Authority,
        ca: &CaName,
        key_path: &Path,
        cert_path: &Path,
    ) -> Option<RaKey> {
        let pem = std::fs::read(cert_path).ok()?;
        let (_, der) = signet_x509::pem::decode(&pem).ok()?;
        if !good(authority, ca, &der).await {
            return None;
        }
        let key_pem = std::fs::read(key_path).ok()?;
        let key = SoftwareKey::from_pem(&key_pem, self.passphrase.as_deref().map(|p| p.as_slice()))
            .map_err(
                |e| tracing::warn!(error = %e, "the SCEP RA key does not open; issuing a new one"),
            )
            .ok()?;
        RaKey::from_pkcs8(&key.pkcs8_der().ok()?, der)
            .map_err(|e| tracing::warn!(error = %e, "the stored SCEP RA; issuing a new one"))
            .ok()
    }
}

/// Whether an RA certificate may go on serving: a current certificate of the CA's current
/// key (valid, not revoked) with more than a third of its lifetime left.
async fn good(authority: &Authority, ca: &CaName, der: &[u8]) -> bool {
    let now = SystemTime::now();
    let info =
        match signet_api::enroll::current_certificate(authority, authority, ca.as_str(), der, now)
            .await
        {
            Ok(Ok(info)) => info,
            Ok(Err(why)) => {
                tracing::warn!(ca = %ca, %why, "the SCEP RA certificate; issuing a new one");
                return false;
            }
            Err(e) => {
                tracing::warn!(ca = %ca, error = %e, "checking the SCEP RA certificate");
                return false;
            }
        };
    let lifetime = info
        .not_after
        .duration_since(info.not_before)
        .unwrap_or_default();
    let due = now + lifetime / 3 >= info.not_after;
    if due {
        tracing::info!(ca = %ca, serial = %info.serial_hex, "the SCEP RA certificate is due for renewal");
    }
    !due
}
