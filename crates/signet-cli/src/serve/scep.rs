//! `[ca.scep]` → the SCEP server (`signet_scep`), merged into the HTTP router, and each
//! CA's RA certificate: an RSA key written beside the CA's (encrypted under the CA
//! passphrase, as the CA key is), its certificate issued by the CA at first start and again
//! when a third of its lifetime is left or it was revoked.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signet_api::CaName;
use signet_core::Authority;
use signet_scep::{RaKey, Scep, ScepCa, ScepParts};
use signet_store::SqlStore;
use zeroize::Zeroizing;

use super::service_key::{Service, ServiceKeys};

use crate::config::{ChallengeCheck, Config};

/// The SCEP server for the CAs with `[ca.scep] enabled = true`, with their RA certificates,
/// and the task that renews them; `None` when no CA has SCEP on.
pub async fn build(
    config: &Config,
    authority: &Arc<Authority>,
    store: &Arc<SqlStore>,
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
    let ras = ServiceKeys {
        service: Service::ScepRa,
        data: data.to_path_buf(),
        passphrase: passphrase.map(|p| Zeroizing::new(p.to_vec())),
        validity,
    };
    for (ca, v) in &ras.validity {
        ensure(&ras, &scep, authority, ca, *v)
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
                    if let Err(e) = ensure(&ras, &scep, &authority, ca, *v).await {
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

/// Installs what `keys` says is due for `ca`.
async fn ensure(
    keys: &ServiceKeys,
    scep: &Scep,
    authority: &Authority,
    ca: &CaName,
    validity: Duration,
) -> Result<()> {
    let installed = scep.ra_certificate(ca);
    if let Some(new) = keys
        .ensure(authority, ca, validity, installed.as_deref())
        .await?
    {
        scep.set_ra(ca, RaKey::from_pkcs8(&new.pkcs8, new.certificate)?);
    }
    Ok(())
}
