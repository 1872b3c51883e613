//! `[ca.est]` → the EST server (`signet_est`), merged into the HTTPS listener's router only.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signet_api::CaName;
use signet_core::Authority;
use signet_est::{Est, EstCa, EstParts, KeyKind};

use crate::config::{CaConfig, Config, EstToml};

/// The EST server for the CAs with `[ca.est] enabled = true`, if any.
pub fn build(
    config: &Config,
    authority: &Arc<Authority>,
    metrics: &Arc<signet_server::Metrics>,
    cert_identities: &Arc<Vec<signet_server::auth::CertMapping>>,
) -> Result<Option<Arc<Est>>> {
    let mut cas = Vec::new();
    for ca in &config.cas {
        if let Some(est) = ca.est.as_ref().filter(|e| e.enabled) {
            cas.push(ca_settings(ca, est).with_context(|| format!("CA {}: [ca.est]", ca.name))?);
        }
    }
    if cas.is_empty() {
        return Ok(None);
    }
    if config.server.tls.is_none() {
        tracing::warn!(
            cas = ?cas.iter().map(|c| c.ca.as_str()).collect::<Vec<_>>(),
            "[ca.est] is enabled but there is no [server.tls]: EST is served on the HTTPS listener only, so it is unreachable"
        );
    }
    let mappings = Arc::clone(cert_identities);
    let est = Est::new(EstParts {
        cas,
        // Enrollments count in `signet_requests_total` as REST submissions do.
        enroll: Arc::new(signet_server::metrics::CountedEnroll::new(
            Arc::clone(authority) as _,
            Arc::clone(metrics),
        )),
        authn: Arc::clone(authority) as _,
        // The `[[identity]]` certificate mappings, as the REST API applies them.
        map_certificate: Arc::new(move |der: &[u8]| {
            let info = signet_x509::parse_certificate(der).ok()?;
            signet_server::auth::mapped_identity(&mappings, &info)
        }),
    })
    .context("[ca.est]")?;
    for ca in est.ca_names() {
        tracing::info!(ca = %ca, path = %format!("/.well-known/est/{ca}/"), "EST enabled (HTTPS listener)");
    }
    Ok(Some(est))
}

/// The EST settings of one CA, checked against its policy's profiles.
fn ca_settings(ca: &CaConfig, est: &EstToml) -> Result<EstCa> {
    let name = CaName::new(&ca.name).with_context(|| format!("CA {:?}", ca.name))?;
    let profile = match (
        &est.profile,
        ca.policy.get("default_profile").and_then(|d| d.as_str()),
    ) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => bail!("name the `profile` EST requests go to"),
    };
    let profiles = ca.profiles();
    let Some(table) = profiles.and_then(|t| t.get(&profile)) else {
        bail!(
            "profile {profile:?} is not a profile of [ca.policy] (known: {})",
            profiles
                .map(|t| t.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        );
    };
    let key_kinds = table
        .get("key_algorithms")
        .and_then(|k| k.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|k| k.as_str())
                .filter_map(|k| k.parse::<KeyKind>().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if key_kinds.is_empty() {
        bail!("profile {profile:?} lists no key_algorithms");
    }
    // serverkeygen refuses a profile that waits for a manager (the generated key would have
    // to be kept until approval); `approval` is required in a profile.
    let issues_at_once = table.get("approval").and_then(|a| a.as_str()) == Some("auto");
    if est.serverkeygen && !issues_at_once {
        tracing::warn!(ca = %name, profile = %profile, "[ca.est] serverkeygen = true, but the profile waits for a manager: serverkeygen requests are refused (400)");
    }
    let retry_after = est
        .retry_after
        .whole_seconds()
        .context("retry_after")?
        .clamp(Duration::from_secs(1), Duration::from_secs(24 * 3600));
    Ok(EstCa {
        ca: name,
        profile,
        realm: est.realm.clone(),
        serverkeygen: est.serverkeygen,
        issues_at_once,
        reenroll_may_change_names: est.reenroll_may_change_names,
        key_kinds,
        retry_after,
    })
}
