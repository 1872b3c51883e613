//! Signet's built-in policy modules, the ones on the issuance path: `profiles` (AD CS
//! certificate templates / EJBCA profiles), `rules` (CEL issuance rules) and `chain`
//! (policy modules in sequence). This crate opens no connection and hosts no third-party
//! code: exit modules live in `signet-exits`, WebAssembly modules in `signet-wasm`.
//!
//! Modules see only their context object (`PolicyCtx`); they never touch the store or the
//! key. Each module parses its own section of `signet.toml` from a `toml::Value`, so the
//! configuration loader stays generic.
//!
//! # Layout
//! - [`profiles`]: `ProfilesPolicy` and `ProfileConfig`.
//! - [`rules`]: `RulesPolicy`, CEL issuance rules.
//! - [`chain`]: `ChainPolicy`, policy modules in sequence (the caller builds each one).
//! - [`ConfigError`]: a module configuration refused, shared by every module crate.
//! - [`duration`]: `DurationSetting`, how every duration in `signet.toml` is written.
//! - [`build_policy`]: constructs `profiles` or `rules` from its configuration.
#![forbid(unsafe_code)]

pub mod chain;
pub mod duration;
pub mod profiles;
pub mod rules;

pub use duration::{DurationError, DurationSetting};

use std::sync::Arc;

use signet_core::Policy;

/// A module's configuration was rejected; the message names the offending key, and the
/// cause (when there is one: a duration, a file, a member of a chain) says what to write.
#[derive(Debug, thiserror::Error)]
#[error("{module} module: {message}")]
pub struct ConfigError {
    pub module: String,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    pub fn new(module: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            module: module.to_string(),
            message: message.into(),
            source: None,
        }
    }

    /// A refusal with its cause kept as the error's source (shown by `{:#}` and the log).
    pub fn caused(
        module: &str,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ConfigError {
        ConfigError {
            module: module.to_string(),
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Builds a policy module of this crate that stands alone (`profiles`, `rules`) from its
/// configuration table. `chain` needs a builder for its members: see
/// [`chain::ChainPolicy::from_toml`].
pub fn build_policy(kind: &str, config: &toml::Value) -> Result<Arc<dyn Policy>, ConfigError> {
    match kind {
        "profiles" => Ok(Arc::new(profiles::ProfilesPolicy::from_toml(config)?)),
        "rules" => Ok(Arc::new(rules::RulesPolicy::from_toml(config)?)),
        other => Err(ConfigError::new(
            other,
            "not a policy module of signet-policy (profiles, rules)",
        )),
    }
}
