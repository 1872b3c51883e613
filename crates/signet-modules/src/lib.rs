//! Signet's built-in modules: the `profiles` policy module (AD CS certificate templates /
//! EJBCA profiles) and the `log`, `file`, `ldap`, `webhook` and `smtp` exit modules.
//!
//! Modules see only their context objects (`PolicyCtx`, `ExitCtx`); they never touch the
//! store or the key. Each module parses its own section of `signet.toml` from a
//! `toml::Value`, so the configuration loader stays generic.
//!
//! # Layout
//! - [`profiles`]: `ProfilesPolicy` and `ProfileConfig`.
//! - [`rules`]: `RulesPolicy`, CEL issuance rules.
//! - [`chain`]: `ChainPolicy`, policy modules in sequence.
//! - [`exits`]: `LogExit`, `FileExit`.
//! - [`ldap`]: `LdapExit`, certificates and CRLs published to a directory.
//! - [`webhook`]: `WebhookExit`, signed JSON events over HTTP(S).
//! - [`smtp`]: `SmtpExit`, e-mail from templates.
//! - [`command`]: `CommandExit`, runs a program per event (JSON on stdin).
//! - [`wasm`] (cargo feature `wasm`, on by default): `WasmPolicy`, `WasmExit`, third-party
//!   modules as sandboxed WebAssembly components (`wit/signet.wit`).
//! - [`build_policy`], [`build_exit`]: construct a module from its configuration.
#![forbid(unsafe_code)]

pub mod chain;
pub mod command;
pub mod exits;
pub mod ldap;
pub mod profiles;
pub mod rules;
pub mod smtp;
#[cfg(feature = "wasm")]
pub mod wasm;
pub mod webhook;

use std::path::Path;
use std::sync::Arc;

use signet_core::{Exit, Policy};

/// A module's configuration was rejected; the message names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("{module} module: {message}")]
pub struct ConfigError {
    pub module: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(module: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            module: module.to_string(),
            message: message.into(),
        }
    }
}

/// Builds a policy module of the given kind from its configuration table; `data_dir`
/// resolves relative paths (a `wasm` module's file).
pub fn build_policy(
    kind: &str,
    config: &toml::Value,
    data_dir: &Path,
) -> Result<Arc<dyn Policy>, ConfigError> {
    match kind {
        "profiles" => Ok(Arc::new(profiles::ProfilesPolicy::from_toml(config)?)),
        "rules" => Ok(Arc::new(rules::RulesPolicy::from_toml(config)?)),
        "chain" => Ok(Arc::new(chain::ChainPolicy::from_toml(config, data_dir)?)),
        #[cfg(feature = "wasm")]
        "wasm" => Ok(Arc::new(wasm::WasmPolicy::from_toml(config, data_dir)?)),
        other => Err(ConfigError::new(
            other,
            format!(
                "unknown policy module (known: {})",
                POLICY_MODULES.join(", ")
            ),
        )),
    }
}

/// The policy module kinds this build has.
pub const POLICY_MODULES: &[&str] = &[
    "profiles",
    "rules",
    "chain",
    #[cfg(feature = "wasm")]
    "wasm",
];

/// The exit module kinds this build has.
pub const EXIT_MODULES: &[&str] = &[
    "log",
    "file",
    "ldap",
    "webhook",
    "smtp",
    "command",
    #[cfg(feature = "wasm")]
    "wasm",
];

/// Builds an exit module instance. `name` is the instance name (it keys the delivery
/// cursor), `kind` the module type, `data_dir` resolves relative paths.
pub fn build_exit(
    name: &str,
    kind: &str,
    config: &toml::Value,
    data_dir: &Path,
) -> Result<Arc<dyn Exit>, ConfigError> {
    match kind {
        "log" => Ok(Arc::new(exits::LogExit::from_toml(name, config)?)),
        "file" => Ok(Arc::new(exits::FileExit::from_toml(
            name, config, data_dir,
        )?)),
        "ldap" => Ok(Arc::new(ldap::LdapExit::from_toml(name, config, data_dir)?)),
        "webhook" => Ok(Arc::new(webhook::WebhookExit::from_toml(
            name, config, data_dir,
        )?)),
        "smtp" => Ok(Arc::new(smtp::SmtpExit::from_toml(name, config, data_dir)?)),
        "command" => Ok(Arc::new(command::CommandExit::from_toml(
            name, config, data_dir,
        )?)),
        #[cfg(feature = "wasm")]
        "wasm" => Ok(Arc::new(wasm::WasmExit::from_toml(name, config, data_dir)?)),
        other => Err(ConfigError::new(
            other,
            format!("unknown exit module (known: {})", EXIT_MODULES.join(", ")),
        )),
    }
}
