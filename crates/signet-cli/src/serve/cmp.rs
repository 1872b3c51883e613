//! `[ca.cmp]` → the CMP server (`signet_cmp`), merged into both listeners' router, with
//! each CA's CMP responder key (P-256, beside the CA key, its certificate issued by the
//! CA; see `service_key`), and the task that renews it and revokes certificates whose
//! confirmation did not come in time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use signet_api::CaName;
use signet_cmp::{Cmp, CmpCa, CmpParts, ResponderKey};
use signet_core::Authority;
use zeroize::Zeroizing;

use super::service_key::{Service, ServiceKeys};
use crate::config::Config;

/// How often overdue confirmations are looked for.
const CONFIRM_SWEEP: Duration = Duration::from_secs(5);

/// The CMP server for the CAs with `[ca.cmp] enabled = true` and its maintenance task;
/// `None` when no CA has CMP on.
pub async fn build(
    config: &Config,
    authority: &Arc<Authority>,
    metrics: &Arc<signet_server::Metrics>,
    data: &Path,
    passphrase: Option<&[u8]>,
) -> Result<Option<(Arc<Cmp>, tokio::task::JoinHandle<()>)>> {
    let mut cas = Vec::new();
    let mut validity = Vec::new();
    for ca in &config.cas {
        let Some(cmp) = ca.cmp.as_ref().filter(|c| c.enabled) else {
            continue;
        };
        let context = || format!("CA {}: [ca.cmp]", ca.name);
        let name = CaName::new(&ca.name).with_context(|| format!("CA {:?}", ca.name))?;
        let profile = ca
            .front_end_profile(cmp.profile.as_deref())
            .with_context(context)?;
        let range = |d: &crate::config::DurationSetting, min: u64, max: u64, what: &str| {
            d.within(Duration::from_secs(min), Duration::from_secs(max))
                .with_context(|| format!("CA {}: [ca.cmp] {what}", ca.name))
        };
        validity.push((
            name.clone(),
            range(
                &cmp.responder_validity,
                3600,
                5 * 366 * 86400,
                "responder_validity",
            )?,
        ));
        cas.push(CmpCa {
            ca: name,
            profile,
            implicit_confirm: cmp.implicit_confirm,
            confirm_wait: range(&cmp.confirm_wait, 1, 7 * 86400, "confirm_wait")?,
            check_after: range(&cmp.check_after, 1, 86400, "check_after")?,
        });
    }
    if cas.is_empty() {
        return Ok(None);
    }
    let cmp = Cmp::new(CmpParts {
        cas,
        // Requests count in `signet_requests_total` as REST submissions do.
        enroll: Arc::new(signet_server::metrics::CountedEnroll::new(
            Arc::clone(authority) as _,
            Arc::clone(metrics),
        )),
        authn: Arc::clone(authority) as _,
        holder: Arc::clone(authority) as _,
        revocation: Arc::clone(authority) as _,
    })
    .context("[ca.cmp]")?;
    let keys = ServiceKeys {
        service: Service::CmpResponder,
        data: data.to_path_buf(),
        passphrase: passphrase.map(|p| Zeroizing::new(p.to_vec())),
        validity,
    };
    for (ca, v) in &keys.validity {
        ensure(&keys, &cmp, authority, ca, *v)
            .await
            .with_context(|| format!("CA {ca}: the CMP responder certificate"))?;
        tracing::info!(ca = %ca, path = %format!("/cmp/{ca}"), "CMP enabled");
    }
    let task = {
        let (cmp, authority) = (Arc::clone(&cmp), Arc::clone(authority));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CONFIRM_SWEEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_check = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                cmp.expire_unconfirmed().await;
                if last_check.elapsed() >= Duration::from_secs(3600) {
                    last_check = tokio::time::Instant::now();
                    for (ca, v) in &keys.validity {
                        if let Err(e) = ensure(&keys, &cmp, &authority, ca, *v).await {
                            tracing::error!(ca = %ca, error = format!("{e:#}"), "renewing the CMP responder certificate failed");
                        }
                    }
                }
            }
        })
    };
    Ok(Some((cmp, task)))
}

/// Installs what `keys` says is due for `ca`.
async fn ensure(
    keys: &ServiceKeys,
    cmp: &Cmp,
    authority: &Authority,
    ca: &CaName,
    validity: Duration,
) -> Result<()> {
    let installed = cmp.responder_certificate(ca);
    if let Some(new) = keys
        .ensure(authority, ca, validity, installed.as_deref())
        .await?
    {
        cmp.set_responder(ca, ResponderKey::from_pkcs8(&new.pkcs8, new.certificate)?);
    }
    Ok(())
}
