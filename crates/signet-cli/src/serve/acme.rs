//! `[ca.acme]` → the ACME server (`signet_acme::server`), merged into the HTTP router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signet_acme::server::{Acme, AcmeCa, AcmeLimits, AcmeParts, ProfileOffer};
use signet_acme::validate::{IpRange, ValidationConfig, Validator};
use signet_api::CaName;
use signet_core::Authority;
use signet_store::SqlStore;

use crate::config::{AcmeToml, CaConfig, Config};

/// The ACME settings of one CA, checked.
fn ca_settings(ca: &CaConfig, acme: &AcmeToml, public_url: &str) -> Result<AcmeCa> {
    let name = CaName::new(&ca.name).with_context(|| format!("CA {:?}", ca.name))?;
    let profiles_table = ca.profiles();
    let describe = |p: &str| {
        profiles_table
            .and_then(|t| t.get(p))
            .and_then(|p| p.get("description"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let offered: Vec<String> = match &acme.profiles {
        Some(list) => list.clone(),
        None => profiles_table
            .map(|t| {
                t.iter()
                    .filter(|(_, p)| {
                        p.get("approval").and_then(|a| a.as_str()).unwrap_or("auto") == "auto"
                    })
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default(),
    };
    if offered.is_empty() {
        bail!("offers no profile: list them in `profiles`");
    }
    if let Some(table) = profiles_table
        && let Some(unknown) = offered.iter().find(|p| !table.contains_key(p.as_str()))
    {
        bail!("profiles: {unknown:?} is not a profile of [ca.policy]");
    }
    let policy_default = ca.policy.get("default_profile").and_then(|d| d.as_str());
    let default_profile = match (&acme.default_profile, policy_default) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if offered.iter().any(|p| p == d) => d.to_owned(),
        _ => offered[0].clone(),
    };
    let ranges = |list: &[String], key: &str| -> Result<Vec<IpRange>> {
        list.iter()
            .map(|r| r.parse().with_context(|| format!("{key}: {r:?}")))
            .collect()
    };
    let mut validation = ValidationConfig {
        http01_port: acme.http01_port,
        tlsalpn01_port: acme.tlsalpn01_port,
        ..ValidationConfig::default()
    };
    validation.dns_resolvers = acme
        .dns_resolvers
        .iter()
        .map(|r| {
            r.parse::<SocketAddr>()
                .with_context(|| format!("dns_resolvers: {r:?} is not host:port"))
        })
        .collect::<Result<_>>()?;
    // CAA is on by default, answering to the host clients reach this CA at.
    let caa_identities = match (acme.caa, acme.caa_identities.is_empty()) {
        (false, _) => Vec::new(),
        (true, false) => acme.caa_identities.clone(),
        (true, true) => vec![url_host(public_url).with_context(|| {
            format!("caa_identities: no host in public_url {public_url:?}; list the CA's issuer domain names")
        })?],
    };
    validation.caa_identities = caa_identities.clone();
    validation.allowed = ranges(&acme.allowed_ranges, "allowed_ranges")?;
    if let Some(denied) = &acme.denied_ranges {
        validation.denied = ranges(denied, "denied_ranges")?;
    }
    let validator = Validator::new(validation).context("validation settings")?;
    let authz_reuse = acme
        .authz_reuse
        .within(
            Duration::from_secs(60),
            Duration::from_secs(398 * 24 * 3600),
        )
        .context("authz_reuse")?;
    if !(1..=100).contains(&acme.renew_before_percent) {
        bail!("renew_before_percent must be between 1 and 100");
    }
    Ok(AcmeCa {
        ca: name,
        profiles: offered
            .iter()
            .map(|p| ProfileOffer {
                name: p.clone(),
                description: describe(p),
            })
            .collect(),
        default_profile,
        eab_required: acme.eab,
        caa_identities,
        terms_of_service: acme.terms_of_service.clone(),
        validator: Arc::new(validator),
        authz_reuse,
        renew_share: f64::from(acme.renew_before_percent) / 100.0,
        limits: AcmeLimits {
            orders_per_account_per_hour: acme.orders_per_account_per_hour,
            pending_authzs_per_account: acme.pending_authzs_per_account,
            orders_per_domain_per_hour: acme.orders_per_domain_per_hour,
        },
    })
}

/// The host of a URL (`http://ca.example:8080/x` → `ca.example`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The ACME server for the CAs with `[ca.acme] enabled = true`, if any.
pub async fn build(
    config: &Config,
    authority: &Arc<Authority>,
    store: &Arc<SqlStore>,
    metrics: &Arc<signet_server::Metrics>,
    public_url: String,
) -> Result<Option<Arc<Acme>>> {
    let mut cas = Vec::new();
    for ca in &config.cas {
        if let Some(acme) = ca.acme.as_ref().filter(|a| a.enabled) {
            cas.push(
                ca_settings(ca, acme, &public_url)
                    .with_context(|| format!("CA {}: [ca.acme]", ca.name))?,
            );
        }
    }
    if cas.is_empty() {
        return Ok(None);
    }
    let acme = Acme::new(AcmeParts {
        public_url,
        cas,
        // Finalizations count in `signet_requests_total` as REST submissions do.
        enroll: Arc::new(signet_server::metrics::CountedEnroll::new(
            Arc::clone(authority) as _,
            Arc::clone(metrics),
        )),
        holder: Arc::clone(authority) as _,
        authn: Arc::clone(authority) as _,
        store: Arc::clone(store) as _,
        role_separation: config.security.role_separation,
    })
    .await
    .context("starting ACME")?;
    for ca in acme.ca_names() {
        tracing::info!(directory = %acme.directory_url(ca), "ACME enabled");
    }
    Ok(Some(acme))
}

/// Removes used nonces and expired orders and authorizations, and ends abandoned orders
/// (`AcmeOrder::abandoned`), every `period`.
pub fn spawn_purge(acme: Arc<Acme>, period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match acme.purge().await {
                Ok(p) if p.abandoned > 0 => tracing::warn!(
                    abandoned = p.abandoned,
                    "ACME orders whose finalization was interrupted (the server stopped between \
                     the claim and the CA's answer) are now invalid; their clients place new orders"
                ),
                Ok(p) if p.nonces + p.orders + p.authorizations > 0 => tracing::debug!(
                    nonces = p.nonces,
                    orders = p.orders,
                    authorizations = p.authorizations,
                    "ACME purge"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(problem = ?e.problem.detail, "ACME purge failed"),
            }
        }
    })
}
