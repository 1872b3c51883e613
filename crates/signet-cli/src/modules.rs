//! Builds a CA's policy and exit modules from their `signet.toml` tables: the built-in ones
//! (`signet-policy`, `signet-exits`) and, with the cargo feature `wasm`, third-party ones
//! (`signet-wasm`). `data_dir` resolves relative paths.

use std::path::Path;
use std::sync::Arc;

use signet_core::{Exit, Policy};
use signet_policy::ConfigError;

/// The policy module kinds this build has.
pub const POLICY_MODULES: &[&str] = &[
    "profiles",
    "rules",
    "chain",
    #[cfg(feature = "wasm")]
    "wasm",
];

/// Builds a policy module of the given kind from its configuration table.
// Without `wasm`, `data_dir` is only handed on to a chain's members.
#[cfg_attr(not(feature = "wasm"), allow(clippy::only_used_in_recursion))]
pub fn build_policy(
    kind: &str,
    config: &toml::Value,
    data_dir: &Path,
) -> Result<Arc<dyn Policy>, ConfigError> {
    match kind {
        "profiles" | "rules" => signet_policy::build_policy(kind, config),
        "chain" => Ok(Arc::new(signet_policy::chain::ChainPolicy::from_toml(
            config,
            |kind, entry| build_policy(kind, entry, data_dir),
        )?)),
        #[cfg(feature = "wasm")]
        "wasm" => Ok(Arc::new(signet_wasm::WasmPolicy::from_toml(
            config, data_dir,
        )?)),
        other => Err(ConfigError::new(
            other,
            format!(
                "unknown policy module (known: {})",
                POLICY_MODULES.join(", ")
            ),
        )),
    }
}

/// Builds an exit module instance. `name` is the instance name (it keys the delivery
/// cursor), `kind` the module type.
pub fn build_exit(
    name: &str,
    kind: &str,
    config: &toml::Value,
    data_dir: &Path,
) -> Result<Arc<dyn Exit>, ConfigError> {
    match kind {
        #[cfg(feature = "wasm")]
        "wasm" => Ok(Arc::new(signet_wasm::WasmExit::from_toml(
            name, config, data_dir,
        )?)),
        k if signet_exits::KINDS.contains(&k) => {
            signet_exits::build_exit(name, kind, config, data_dir)
        }
        other => {
            let mut known = signet_exits::KINDS.to_vec();
            if cfg!(feature = "wasm") {
                known.push("wasm");
            }
            Err(ConfigError::new(
                other,
                format!("unknown exit module (known: {})", known.join(", ")),
            ))
        }
    }
}
