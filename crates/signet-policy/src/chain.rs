//! `chain`: composes policy modules. Each runs in turn on the same draft, so each sees the
//! edits of the ones before it; the first `deny` wins at once, any `pending` makes the
//! request pending (after the rest have run, so a later deny still wins), otherwise it is
//! issued. A module with profiles runs only for its own profiles; one without (`rules`)
//! runs for every profile.
//!
//! ```toml
//! [ca.policy]
//! module = "chain"
//! [[ca.policy.chain]]
//! module = "profiles"
//! default_profile = "server"
//! [ca.policy.chain.profiles.server]
//! # ...
//! [[ca.policy.chain]]
//! module = "rules"
//! [[ca.policy.chain.rules]]
//! name = "no-corp"
//! when = 'request.dns.exists(d, d.endsWith(".corp.example.com"))'
//! action = "deny"
//! ```

use std::sync::Arc;

use signet_core::{
    CaInfo, IssuanceNeeds, ModuleError, Policy, PolicyCtx, ProfileAccess, ProfileName, Verdict,
};

use crate::ConfigError;

/// The `chain` policy module.
pub struct ChainPolicy {
    modules: Vec<Arc<dyn Policy>>,
    name: String,
}

impl std::fmt::Debug for ChainPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainPolicy")
            .field("name", &self.name)
            .finish()
    }
}

impl ChainPolicy {
    /// Builds the chain from `[ca.policy]`; `build` constructs each member from its kind and
    /// table (the caller knows every module kind of the build, `wasm` included).
    pub fn from_toml(
        config: &toml::Value,
        build: impl Fn(&str, &toml::Value) -> Result<Arc<dyn Policy>, ConfigError>,
    ) -> Result<ChainPolicy, ConfigError> {
        let err = |m: String| ConfigError::new("chain", m);
        let table = config
            .as_table()
            .ok_or_else(|| err("[ca.policy] must be a table".into()))?;
        if let Some(unknown) = table.keys().find(|k| *k != "module" && *k != "chain") {
            return Err(err(format!(
                "unknown key {unknown:?} (expected [[ca.policy.chain]])"
            )));
        }
        let entries = table
            .get("chain")
            .and_then(|c| c.as_array())
            .ok_or_else(|| err("needs [[ca.policy.chain]] entries, each with a `module`".into()))?;
        if entries.is_empty() {
            return Err(err("the chain is empty".into()));
        }
        let mut modules = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let kind = entry
                .get("module")
                .and_then(|m| m.as_str())
                .ok_or_else(|| err(format!("entry {}: needs `module`", i + 1)))?;
            if kind == "chain" {
                return Err(err(format!("entry {}: a chain cannot hold a chain", i + 1)));
            }
            let module = build(kind, entry).map_err(|e| {
                ConfigError::caused("chain", format!("entry {} ({kind})", i + 1), e)
            })?;
            modules.push(module);
        }
        if modules.iter().all(|m| m.profiles().is_empty()) {
            return Err(err(
                "no module in the chain defines profiles (put `profiles` first)".into(),
            ));
        }
        let name = modules
            .iter()
            .map(|m| m.name().to_string())
            .collect::<Vec<_>>()
            .join("+");
        Ok(ChainPolicy { modules, name })
    }

    /// Whether `m` takes part for `profile`.
    fn applies(m: &dyn Policy, profile: &ProfileName) -> bool {
        m.profiles().is_empty() || m.has_profile(profile)
    }
}

impl Policy for ChainPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> String {
        let parts: Vec<String> = self.modules.iter().map(|m| m.description()).collect();
        format!("chain: {}", parts.join(", then "))
    }

    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        self.modules.iter().try_for_each(|m| m.start(ca))
    }

    fn has_profile(&self, profile: &ProfileName) -> bool {
        self.modules
            .iter()
            .any(|m| !m.profiles().is_empty() && m.has_profile(profile))
    }

    fn profiles(&self) -> Vec<ProfileName> {
        let mut out: Vec<ProfileName> = Vec::new();
        for p in self.modules.iter().flat_map(|m| m.profiles()) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    fn default_profile(&self) -> Option<ProfileName> {
        self.modules.iter().find_map(|m| m.default_profile())
    }

    fn access(&self, profile: &ProfileName) -> ProfileAccess {
        self.modules
            .iter()
            .find(|m| !m.profiles().is_empty() && m.has_profile(profile))
            .map(|m| m.access(profile))
            .unwrap_or_default()
    }

    /// What the modules taking part need, together: history if any asks for it, the
    /// backdate of the first that sets one.
    fn issuance(&self, profile: &ProfileName) -> IssuanceNeeds {
        let mut needs = IssuanceNeeds::default();
        for m in self
            .modules
            .iter()
            .filter(|m| Self::applies(m.as_ref(), profile))
        {
            let n = m.issuance(profile);
            needs.key_holders |= n.key_holders;
            needs.held |= n.held;
            needs.backdate = needs.backdate.or(n.backdate);
        }
        needs
    }

    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let profile = ctx.profile().clone();
        let mut pending = None;
        for m in &self.modules {
            if !Self::applies(m.as_ref(), &profile) {
                continue;
            }
            match m.verify(ctx)? {
                Verdict::Deny(reason) => return Ok(Verdict::Deny(reason)),
                Verdict::Pending(reason) => {
                    pending.get_or_insert(reason);
                }
                Verdict::Issue => {}
            }
        }
        Ok(pending.map_or(Verdict::Issue, Verdict::Pending))
    }

    /// An edit stands only if every module the profile runs through accepts it.
    fn check_edit(
        &self,
        request: &signet_core::RequestProps,
        edit: &signet_core::ExtensionEdit,
    ) -> Result<(), signet_core::EditRefused> {
        self.modules
            .iter()
            .filter(|m| Self::applies(m.as_ref(), &request.profile))
            .try_for_each(|m| m.check_edit(request, edit))
    }

    fn shutdown(&self) {
        for m in &self.modules {
            m.shutdown();
        }
    }
}
