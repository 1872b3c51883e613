//! Signet's built-in exit modules: what the CA tells other systems after the fact. `log` and
//! `file` stay on the machine; `command`, `webhook`, `smtp` and `ldap` reach other systems,
//! one cargo feature each (all on by default). A configuration naming a transport the build
//! lacks is refused at load with the feature to turn on.
//!
//! Modules see only their context object (`ExitCtx`); they never touch the store or the
//! key. Each parses its own section of `signet.toml` from a `toml::Value`.
//!
//! # Layout
//! - [`common`]: `LogExit`, `FileExit`, and what every exit shares (the event record,
//!   `events` masks, paths).
//! - [`command`] (feature `command`): `CommandExit`, runs a program per event (JSON on stdin).
//! - [`webhook`] (feature `webhook`): `WebhookExit`, signed JSON events over HTTP(S).
//! - [`smtp`] (feature `smtp`): `SmtpExit`, e-mail from templates.
//! - [`ldap`] (feature `ldap`): `LdapExit`, certificates and CRLs published to a directory.
//! - [`build_exit`]: constructs one of them from its configuration.
#![forbid(unsafe_code)]

#[cfg(feature = "command")]
pub mod command;
pub mod common;
#[cfg(feature = "ldap")]
pub mod ldap;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "webhook")]
pub mod webhook;

use std::path::Path;
use std::sync::Arc;

use signet_core::Exit;
pub use signet_policy::ConfigError;

/// Every exit module kind of this crate, whether or not this build has it.
pub const KINDS: &[&str] = &["log", "file", "ldap", "webhook", "smtp", "command"];

/// Builds an exit module instance of this crate. `name` is the instance name (it keys the
/// delivery cursor), `kind` the module type, `data_dir` resolves relative paths.
pub fn build_exit(
    name: &str,
    kind: &str,
    config: &toml::Value,
    data_dir: &Path,
) -> Result<Arc<dyn Exit>, ConfigError> {
    // Only the transports left out of the build use this.
    #[allow(unused_variables)]
    let missing = |feature: &str| {
        ConfigError::new(
            kind,
            format!(
                "this build has no `{kind}` exit module: build signet with the cargo feature \
                 `{feature}` (signet-cli, or `signet-exits/{feature}`), or remove the exit"
            ),
        )
    };
    match kind {
        "log" => Ok(Arc::new(common::LogExit::from_toml(name, config)?)),
        "file" => Ok(Arc::new(common::FileExit::from_toml(
            name, config, data_dir,
        )?)),
        #[cfg(feature = "ldap")]
        "ldap" => Ok(Arc::new(ldap::LdapExit::from_toml(name, config, data_dir)?)),
        #[cfg(feature = "webhook")]
        "webhook" => Ok(Arc::new(webhook::WebhookExit::from_toml(
            name, config, data_dir,
        )?)),
        #[cfg(feature = "smtp")]
        "smtp" => Ok(Arc::new(smtp::SmtpExit::from_toml(name, config, data_dir)?)),
        #[cfg(feature = "command")]
        "command" => Ok(Arc::new(command::CommandExit::from_toml(
            name, config, data_dir,
        )?)),
        #[cfg(not(feature = "ldap"))]
        "ldap" => Err(missing("ldap")),
        #[cfg(not(feature = "webhook"))]
        "webhook" => Err(missing("webhook")),
        #[cfg(not(feature = "smtp"))]
        "smtp" => Err(missing("smtp")),
        #[cfg(not(feature = "command"))]
        "command" => Err(missing("command")),
        other => Err(ConfigError::new(
            other,
            format!("unknown exit module (known: {})", KINDS.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    /// Run with `--no-default-features` to see it: a transport left out of the build is
    /// refused with the feature to turn on.
    #[test]
    #[cfg(not(feature = "smtp"))]
    fn a_transport_left_out_names_its_feature() {
        let config = toml::Value::Table(toml::Table::new());
        let e = super::build_exit("mail", "smtp", &config, std::path::Path::new("."))
            .err()
            .expect("refused");
        assert_eq!(
            e.to_string(),
            "smtp module: this build has no `smtp` exit module: build signet with the cargo \
             feature `smtp` (signet-cli, or `signet-exits/smtp`), or remove the exit"
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_known_ones() {
        let config = toml::Value::Table(toml::Table::new());
        let e = super::build_exit("x", "fax", &config, std::path::Path::new("."))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("known: log, file, ldap"), "{e}");
    }
}
