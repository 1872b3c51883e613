//! `wasm`: third-party policy and exit modules as WebAssembly components, run in a sandbox.
//!
//! The interface is `wit/signet.wit`: its imports mirror AD CS `ICertServerPolicy` and
//! `ICertServerExit`, its exports `ICertPolicy` and `ICertExit`. A component gets no WASI: no
//! files, network or clock, only what those functions hand it.
//!
//! Every call (`initialize`, `verify-request`, `notify`) runs in a fresh instance of the
//! module with three limits:
//! - `fuel`: instructions, roughly (wasmtime fuel);
//! - `memory_mb`: linear memory and tables; growing past it traps;
//! - `deadline_ms`: wall-clock time, enforced by epoch interruption (a 10 ms tick).
//!
//! A module that traps, runs out of any of them, or returns something malformed fails the
//! call with a message naming the module: the request ends `failed` (policy) or the delivery
//! fails and is retried (exit). The CA itself never goes down with it.
//!
//! A policy module's edits are made on a copy of the draft and applied to the real one only
//! when the call returns a verdict, so a module that traps halfway leaves nothing behind.
//!
//! ```toml
//! [[ca.policy.chain]]
//! module = "wasm"
//! path = "modules/ticket-policy.wasm"   # relative to the data directory
//! fuel = 10_000_000
//! memory_mb = 16
//! deadline_ms = 100
//! ```

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use signet_core::draft::{Draft, ExtensionOrigin};
use signet_core::{
    BoxFuture, CaInfo, Event, EventMask, Exit, ExitCtx, ModuleError, Policy, PolicyCtx,
    ProfileName, RequestProps, Verdict,
};
use signet_x509::{DistinguishedName, Extension, San};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};

use signet_policy::ConfigError;

mod policy_world {
    wasmtime::component::bindgen!({ path: "wit", world: "policy" });
}

mod exit_world {
    wasmtime::component::bindgen!({ path: "wit", world: "exit" });
}

use exit_world::signet::modules::types as exit_types;
use policy_world::signet::modules::types as policy_types;

/// The epoch tick: deadlines are counted in these.
const TICK: Duration = Duration::from_millis(10);
/// The largest module file accepted.
const MAX_MODULE_BYTES: u64 = 32 * 1024 * 1024;
/// The most memory a module may be given (`memory_mb`), and the pool's slot size.
const MAX_MEMORY_MB: u32 = 256;
/// Instances that may exist at once across all modules (calls in flight); a call beyond it
/// fails. Policy calls are bounded by the CA's worker pool, exit calls by the exit count.
const POOL_INSTANCES: u32 = 128;
/// Log lines one call may write; the rest are dropped (with a note).
const MAX_LOG_LINES: usize = 64;
const MAX_LOG_LINE: usize = 2048;

/// The limits every call of a module runs under.
#[derive(Debug, Clone, Copy)]
struct Limits {
    fuel: u64,
    memory_bytes: usize,
    deadline_ticks: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleConfig {
    #[serde(default)]
    module: Option<String>,
    path: String,
    #[serde(default = "default_fuel")]
    fuel: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: u32,
    #[serde(default = "default_deadline_ms")]
    deadline_ms: u64,
    /// Exit modules: events to narrow the module's own choice to (none: all it asks for).
    #[serde(default)]
    events: Option<Vec<String>>,
}

fn default_fuel() -> u64 {
    10_000_000
}
fn default_memory_mb() -> u32 {
    16
}
fn default_deadline_ms() -> u64 {
    100
}

/// A module file read, checked and compiled.
struct Loaded {
    path: PathBuf,
    component: Component,
    limits: Limits,
    events: Option<Vec<String>>,
}

fn load(kind: &str, config: &toml::Value, data_dir: &Path) -> Result<Loaded, ConfigError> {
    let err = |m: String| ConfigError::new(kind, m);
    let parsed: ModuleConfig = config
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| err(e.message().to_string()))?;
    let _ = parsed.module;
    if parsed.fuel == 0 || parsed.fuel > 10_000_000_000 {
        return Err(err("fuel must be between 1 and 10000000000".into()));
    }
    if parsed.memory_mb == 0 || parsed.memory_mb > MAX_MEMORY_MB {
        return Err(err(format!(
            "memory_mb must be between 1 and {MAX_MEMORY_MB}"
        )));
    }
    if parsed.deadline_ms == 0 || parsed.deadline_ms > 60_000 {
        return Err(err("deadline_ms must be between 1 and 60000".into()));
    }
    let path = if Path::new(&parsed.path).is_absolute() {
        PathBuf::from(&parsed.path)
    } else {
        data_dir.join(&parsed.path)
    };
    let size = std::fs::metadata(&path)
        .map_err(|e| err(format!("{}: {e}", path.display())))?
        .len();
    if size > MAX_MODULE_BYTES {
        return Err(err(format!(
            "{}: {size} bytes is more than the {MAX_MODULE_BYTES} accepted",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    if wasmparser_is_core_module(&bytes) {
        return Err(err(format!(
            "{}: this is a core WebAssembly module, not a component; make it one with `wasm-tools component new` (see examples/wasm/build.sh)",
            path.display()
        )));
    }
    let engine = engine().map_err(|e| err(e.to_string()))?;
    let component = Component::from_binary(engine, &bytes)
        .map_err(|e| err(format!("{}: not a valid component: {e:#}", path.display())))?;
    Ok(Loaded {
        path,
        component,
        limits: Limits {
            fuel: parsed.fuel,
            memory_bytes: usize::try_from(parsed.memory_mb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024 * 1024),
            deadline_ticks: parsed.deadline_ms.div_ceil(TICK.as_millis() as u64) + 1,
        },
        events: parsed.events,
    })
}

/// A core module starts with the magic and version 1; a component with the magic and the
/// component layer's version.
fn wasmparser_is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The one engine every module shares, with its epoch ticker.
fn engine() -> Result<&'static Engine, ModuleError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = wasmtime::Config::new();
            config.consume_fuel(true);
            config.epoch_interruption(true);
            config.max_wasm_stack(1024 * 1024);
            // Every call makes a fresh instance, so instantiation is on the issuance path.
            // The defaults suit few long-lived instances: each memory mapped and unmapped
            // (a TLB shootdown on every core) with a multi-GiB reservation. A pool of
            // pre-reserved slots, reset with memset, makes instantiation a few allocations.
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(POOL_INSTANCES)
                .total_core_instances(POOL_INSTANCES)
                .total_memories(POOL_INSTANCES)
                .total_tables(POOL_INSTANCES)
                .max_memory_size(MAX_MEMORY_MB as usize * 1024 * 1024)
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(1 << 16);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            config.memory_reservation(u64::from(MAX_MEMORY_MB) * 1024 * 1024);
            config.memory_guard_size(0);
            config.guard_before_linear_memory(false);
            config.memory_init_cow(false);
            let engine = Engine::new(&config).map_err(|e| format!("wasmtime: {e:#}"))?;
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("signet-wasm-epoch".into())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(TICK);
                    }
                })
                .map_err(|e| format!("starting the wasm epoch thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| ModuleError::new("wasm", e.clone()))
}

/// A store for one call, with the module's limits.
fn store<T>(
    engine: &Engine,
    limits: Limits,
    data: T,
    limiter: fn(&mut T) -> &mut StoreLimits,
) -> Result<Store<T>, wasmtime::Error> {
    let mut store = Store::new(engine, data);
    store.limiter(move |s| -> &mut dyn wasmtime::ResourceLimiter { limiter(s) });
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(limits.deadline_ticks);
    Ok(store)
}

fn store_limits(limits: Limits) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .table_elements(100_000)
        .instances(16)
        .tables(16)
        .memories(4)
        .trap_on_grow_failure(true)
        .build()
}

/// Describes why a call failed, in words an administrator can act on.
fn describe_failure(error: &wasmtime::Error, limits: Limits) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => {
            format!(
                "ran out of fuel ({} units): the module loops or does too much",
                limits.fuel
            )
        }
        Some(wasmtime::Trap::Interrupt) => format!(
            "exceeded its deadline of about {} ms",
            (limits.deadline_ticks - 1) * TICK.as_millis() as u64
        ),
        Some(trap) => trap.to_string(),
        None => {
            let text = format!("{error:#}");
            // A failed memory.grow under `trap_on_grow_failure` is an error, not a `Trap`.
            if (text.contains("memory") && text.contains("limit")) || text.contains("grow") {
                format!(
                    "exceeded its memory limit of {} MiB: {text}",
                    limits.memory_bytes / (1024 * 1024)
                )
            } else {
                format!("failed: {text}")
            }
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn from_unix_seconds(s: i64) -> Option<SystemTime> {
    if s >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(s.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(s.unsigned_abs()))
    }
}

fn sans_text(sans: &[San]) -> String {
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `DNS:a, IP:10.0.0.1, email:x@y, URI:https://z` (the form `sans_text` writes).
fn parse_sans(text: &str) -> Result<Vec<San>, String> {
    let mut sans = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, value) = item
            .split_once(':')
            .ok_or_else(|| format!("SAN {item:?} is not KIND:VALUE"))?;
        let san = match kind.to_ascii_lowercase().as_str() {
            "dns" => San::Dns(value.to_string()),
            "ip" => San::Ip(
                value
                    .parse()
                    .map_err(|_| format!("SAN {item:?}: bad IP address"))?,
            ),
            "email" => San::Email(value.to_string()),
            "uri" => San::Uri(value.to_string()),
            _ => return Err(format!("SAN {item:?}: kind must be DNS, IP, email or URI")),
        };
        sans.push(san);
    }
    Ok(sans)
}

/// Log output of one call, bounded.
struct CallLog {
    module: Arc<str>,
    lines: usize,
}

impl CallLog {
    fn write(&mut self, level: u8, message: &str) {
        self.lines += 1;
        if self.lines > MAX_LOG_LINES {
            if self.lines == MAX_LOG_LINES + 1 {
                tracing::warn!(target: "signet::wasm", module = %self.module, "further log lines of this call dropped");
            }
            return;
        }
        let message = match message.char_indices().nth(MAX_LOG_LINE) {
            Some((i, _)) => &message[..i],
            None => message,
        };
        // The module may echo request data: a line break must not start a forged log line.
        let message = message.escape_debug().to_string();
        match level {
            0 => tracing::debug!(target: "signet::wasm", module = %self.module, "{message}"),
            1 => tracing::info!(target: "signet::wasm", module = %self.module, "{message}"),
            2 => tracing::warn!(target: "signet::wasm", module = %self.module, "{message}"),
            _ => tracing::error!(target: "signet::wasm", module = %self.module, "{message}"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Policy modules
// ------------------------------------------------------------------------------------------

/// An edit a policy module made, replayed on the real draft once it returns a verdict.
enum Edit {
    Subject(DistinguishedName),
    Sans(Vec<San>),
    Validity(SystemTime, SystemTime),
    SetExtension(Extension),
    Disable(String),
    Enable(String),
}

/// What one `verify-request` call sees and does (`ICertServerPolicy`).
struct PolicyState {
    /// `None` during `initialize`, which has no request: every property reads as absent.
    request: Option<RequestProps>,
    approver: Option<String>,
    draft: Option<Draft>,
    edits: Vec<Edit>,
    limits: StoreLimits,
    log: CallLog,
}

fn policy_limiter(s: &mut PolicyState) -> &mut StoreLimits {
    &mut s.limits
}

fn ca_info_policy(ca: &CaInfo) -> policy_types::CaInfo {
    policy_types::CaInfo {
        name: ca.name.as_str().to_string(),
        config: ca.config.clone(),
        subject: ca.subject.to_string(),
        certificate: ca.certificate.clone(),
    }
}

fn policy_extension(e: &signet_core::model::StoredExtension) -> policy_types::Extension {
    policy_types::Extension {
        oid: e.oid.clone(),
        critical: e.critical,
        disabled: e.disabled,
        origin: e.origin.as_str().to_string(),
        value: e.value.clone(),
    }
}

const NO_DRAFT: &str = "there is no certificate to edit during initialize";

impl policy_types::Host for PolicyState {}

impl policy_world::signet::modules::policy_server::Host for PolicyState {
    fn get_request_property(&mut self, name: String) -> Option<policy_types::Value> {
        use policy_types::Value;
        let r = self.request.as_ref()?;
        Some(match name.as_str() {
            "RequestID" => Value::Number(r.id?.get()),
            "RequesterName" => Value::Text(r.requester.clone()?),
            "CertificateTemplate" => Value::Text(r.profile.as_str().to_string()),
            "Subject" => Value::Text(r.csr.subject.to_string()),
            "SubjectAltNames" => Value::Text(sans_text(&r.csr.sans)),
            "PublicKeyAlgorithm" => Value::Text(key_name(r.csr.key).to_string()),
            "PublicKeyLength" => Value::Number(match r.csr.key {
                signet_x509::KeyAlgorithm::Rsa { bits } => i64::from(bits),
                _ => 0,
            }),
            "RawPublicKey" => Value::Binary(r.csr.spki_der.clone()),
            "RawRequest" => Value::Binary(r.csr.der.clone()),
            "SubmittedWhen" => Value::Date(unix_seconds(r.submitted_at)),
            "Officer" => Value::Text(self.approver.clone()?),
            _ => return None,
        })
    }

    fn get_request_attribute(&mut self, name: String) -> Option<String> {
        self.request
            .as_ref()?
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone())
    }

    fn get_certificate_property(&mut self, name: String) -> Option<policy_types::Value> {
        use policy_types::Value;
        let draft = self.draft.as_ref()?;
        Some(match name.as_str() {
            "Subject" => Value::Text(draft.subject().to_string()),
            "SubjectAltNames" => Value::Text(sans_text(draft.sans())),
            "NotBefore" => Value::Date(unix_seconds(draft.not_before())),
            "NotAfter" => Value::Date(unix_seconds(draft.not_after())),
            "RawPublicKey" => Value::Binary(self.request.as_ref()?.csr.spki_der.clone()),
            _ => return None,
        })
    }

    fn set_certificate_property(
        &mut self,
        name: String,
        value: policy_types::Value,
    ) -> Result<(), String> {
        use policy_types::Value;
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        match (name.as_str(), value) {
            ("Subject", Value::Text(text)) => {
                let dn = DistinguishedName::parse(&text)
                    .map_err(|e| format!("Subject {text:?}: {e}"))?;
                draft.set_subject(dn.clone());
                self.edits.push(Edit::Subject(dn));
            }
            ("SubjectAltNames", Value::Text(text)) => {
                let sans = parse_sans(&text)?;
                draft.set_sans(sans.clone());
                self.edits.push(Edit::Sans(sans));
            }
            (field @ ("NotBefore" | "NotAfter"), Value::Date(seconds)) => {
                let at = from_unix_seconds(seconds)
                    .ok_or_else(|| format!("{field}: {seconds} is out of range"))?;
                let (nb, na) = match field {
                    "NotBefore" => (at, draft.not_after()),
                    _ => (draft.not_before(), at),
                };
                draft.set_validity(nb, na).map_err(|e| e.to_string())?;
                self.edits.push(Edit::Validity(nb, na));
            }
            ("Subject" | "SubjectAltNames", _) => return Err(format!("{name} takes text")),
            ("NotBefore" | "NotAfter", _) => return Err(format!("{name} takes a date")),
            _ => {
                return Err(format!(
                    "{name:?} cannot be set (settable: Subject, SubjectAltNames, NotBefore, NotAfter)"
                ));
            }
        }
        Ok(())
    }

    fn enumerate_extensions(&mut self) -> Vec<String> {
        match &self.draft {
            Some(d) => d.extensions().iter().map(|e| e.oid.clone()).collect(),
            None => Vec::new(),
        }
    }

    fn get_certificate_extension(&mut self, oid: String) -> Option<policy_types::Extension> {
        self.draft.as_ref()?.extension(&oid).map(policy_extension)
    }

    fn set_certificate_extension(
        &mut self,
        oid: String,
        critical: bool,
        value: Vec<u8>,
    ) -> Result<(), String> {
        if !signet_x509::ext::is_dotted_oid(&oid) {
            return Err(format!("{oid:?} is not a dotted OID"));
        }
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        if let Err(e) = signet_x509::ext::check_der_tree(&value) {
            return Err(format!(
                "the value of extension {oid} is not well-formed DER: {e}"
            ));
        }
        let ext = Extension {
            oid,
            critical,
            value,
        };
        draft
            .set_extension(ext.clone(), ExtensionOrigin::Policy)
            .map_err(|e| e.to_string())?;
        self.edits.push(Edit::SetExtension(ext));
        Ok(())
    }

    fn disable_extension(&mut self, oid: String) -> Result<(), String> {
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        draft.disable_extension(&oid).map_err(|e| e.to_string())?;
        self.edits.push(Edit::Disable(oid));
        Ok(())
    }

    fn enable_extension(&mut self, oid: String) -> Result<(), String> {
        let draft = self.draft.as_mut().ok_or(NO_DRAFT)?;
        draft.enable_extension(&oid).map_err(|e| e.to_string())?;
        self.edits.push(Edit::Enable(oid));
        Ok(())
    }

    fn log(&mut self, level: policy_types::Level, message: String) {
        self.log.write(level as u8, &message);
    }
}

fn key_name(key: signet_x509::KeyAlgorithm) -> &'static str {
    use signet_x509::KeyAlgorithm;
    match key {
        KeyAlgorithm::P256 => "p256",
        KeyAlgorithm::P384 => "p384",
        KeyAlgorithm::Ed25519 => "ed25519",
        KeyAlgorithm::Rsa { .. } => "rsa",
        KeyAlgorithm::MlDsa65 => "mldsa65",
    }
}

/// The `wasm` policy module.
pub struct WasmPolicy {
    name: Arc<str>,
    path: PathBuf,
    limits: Limits,
    pre: policy_world::PolicyPre<PolicyState>,
}

impl std::fmt::Debug for WasmPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPolicy")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WasmPolicy {
    pub fn from_toml(config: &toml::Value, data_dir: &Path) -> Result<WasmPolicy, ConfigError> {
        let loaded = load("wasm", config, data_dir)?;
        if loaded.events.is_some() {
            return Err(ConfigError::new("wasm", "`events` is for exit modules"));
        }
        let engine = engine().map_err(|e| ConfigError::new("wasm", e.to_string()))?;
        let mut linker: Linker<PolicyState> = Linker::new(engine);
        policy_world::Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| ConfigError::new("wasm", format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&loaded.component)
            .and_then(policy_world::PolicyPre::new)
            .map_err(|e| {
                ConfigError::new(
                    "wasm",
                    format!(
                        "{}: not a Signet policy module (world signet:modules/policy): {e:#}",
                        loaded.path.display()
                    ),
                )
            })?;
        let name: Arc<str> = loaded
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wasm".into())
            .into();
        Ok(WasmPolicy {
            name,
            path: loaded.path,
            limits: loaded.limits,
            pre,
        })
    }

    fn failure(&self, what: &str, message: String) -> ModuleError {
        ModuleError::new(format!("wasm {}", self.name), format!("{what}: {message}"))
    }

    /// Runs `f` against a fresh instance, with the module's limits.
    fn call<R>(
        &self,
        state: PolicyState,
        what: &str,
        f: impl FnOnce(&policy_world::Policy, &mut Store<PolicyState>) -> wasmtime::Result<R>,
    ) -> Result<(R, PolicyState), ModuleError> {
        let engine = self.pre.engine();
        let mut store = store(engine, self.limits, state, policy_limiter)
            .map_err(|e| self.failure(what, format!("{e:#}")))?;
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        match result {
            Ok(r) => Ok((r, store.into_data())),
            Err(e) => Err(self.failure(what, describe_failure(&e, self.limits))),
        }
    }

    fn state(&self, request: Option<RequestProps>, draft: Option<Draft>) -> PolicyState {
        PolicyState {
            request,
            approver: None,
            draft,
            edits: Vec::new(),
            limits: store_limits(self.limits),
            log: CallLog {
                module: self.name.clone(),
                lines: 0,
            },
        }
    }
}

impl Policy for WasmPolicy {
    fn name(&self) -> &str {
        "wasm"
    }
    fn description(&self) -> String {
        format!("WebAssembly policy module {}", self.path.display())
    }
    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        let state = self.state(None, None);
        let info = ca_info_policy(ca);
        let (result, _) = self.call(state, "initialize", |p, s| p.call_initialize(s, &info))?;
        result.map_err(|m| self.failure("initialize", format!("the module refused to start: {m}")))
    }
    fn has_profile(&self, _profile: &ProfileName) -> bool {
        false
    }
    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }
    fn default_profile(&self) -> Option<ProfileName> {
        None
    }
    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let mut state = self.state(Some(ctx.request().clone()), Some(ctx.draft().clone()));
        state.approver = ctx.approver().map(str::to_string);
        let new_request = ctx.is_new_request();
        let (verdict, state) = self.call(state, "verify-request", |p, s| {
            p.call_verify_request(s, new_request)
        })?;
        for edit in state.edits {
            let applied = match edit {
                Edit::Subject(dn) => {
                    ctx.set_subject(dn);
                    Ok(())
                }
                Edit::Sans(sans) => {
                    ctx.set_sans(sans);
                    Ok(())
                }
                Edit::Validity(nb, na) => ctx.set_validity(nb, na),
                Edit::SetExtension(ext) => ctx.set_extension(ext),
                Edit::Disable(oid) => ctx.disable_extension(&oid),
                Edit::Enable(oid) => ctx.enable_extension(&oid),
            };
            applied.map_err(|e| self.failure("verify-request", e.to_string()))?;
        }
        Ok(match verdict {
            policy_types::Verdict::Issue => Verdict::Issue,
            policy_types::Verdict::Pending(m) => Verdict::Pending(bounded_message(m)),
            policy_types::Verdict::Deny(m) => Verdict::Deny(bounded_message(m)),
        })
    }
}

/// Messages from a module reach requesters: keep them one short line.
fn bounded_message(m: String) -> String {
    let line: String = m
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(512)
        .collect();
    if line.trim().is_empty() {
        "(the policy module gave no reason)".into()
    } else {
        line
    }
}

// ------------------------------------------------------------------------------------------
// Exit modules
// ------------------------------------------------------------------------------------------

/// What one `notify` call sees (`ICertServerExit`), read-only.
struct ExitState {
    /// `None` during `initialize`.
    event: Option<ExitCtx>,
    limits: StoreLimits,
    log: CallLog,
}

fn exit_limiter(s: &mut ExitState) -> &mut StoreLimits {
    &mut s.limits
}

impl exit_types::Host for ExitState {}

impl exit_world::signet::modules::exit_server::Host for ExitState {
    fn get_request_property(&mut self, name: String) -> Option<exit_types::Value> {
        use exit_types::Value;
        let r = self.event.as_ref()?.request.as_ref()?;
        Some(match name.as_str() {
            "RequestID" => Value::Number(r.id.get()),
            "RequesterName" => Value::Text(r.requester.clone()?),
            "CertificateTemplate" => Value::Text(r.profile.as_ref()?.as_str().to_string()),
            "Subject" => Value::Text(r.subject.clone()),
            "Disposition" => Value::Text(r.status.as_str().to_string()),
            "DispositionMessage" => Value::Text(r.message.clone()?),
            "RequestType" => Value::Text(r.format.clone()),
            "RawRequest" => Value::Binary(r.raw.clone()),
            "SubmittedWhen" => Value::Date(unix_seconds(r.submitted_at)),
            "ResolvedWhen" => Value::Date(unix_seconds(r.resolved_at?)),
            _ => return None,
        })
    }

    fn get_request_attribute(&mut self, name: String) -> Option<String> {
        self.event.as_ref()?.attribute(&name).map(str::to_string)
    }

    fn get_certificate_property(&mut self, name: String) -> Option<exit_types::Value> {
        use exit_types::Value;
        let c = self
            .event
            .as_ref()?
            .request
            .as_ref()?
            .certificate
            .as_ref()?;
        Some(match name.as_str() {
            "RawCertificate" => Value::Binary(c.der.clone()),
            "SerialNumber" => Value::Text(c.serial.to_hex()),
            "Subject" => Value::Text(c.subject.clone()),
            "SubjectAltNames" => Value::Text(c.sans.join(", ")),
            "NotBefore" => Value::Date(unix_seconds(c.not_before)),
            "NotAfter" => Value::Date(unix_seconds(c.not_after)),
            _ => return None,
        })
    }

    fn enumerate_extensions(&mut self) -> Vec<String> {
        match self.event.as_ref().and_then(|e| e.request.as_ref()) {
            Some(r) => r.extensions.iter().map(|e| e.oid.clone()).collect(),
            None => Vec::new(),
        }
    }

    fn get_certificate_extension(&mut self, oid: String) -> Option<exit_types::Extension> {
        let r = self.event.as_ref()?.request.as_ref()?;
        r.extensions
            .iter()
            .find(|e| e.oid == oid)
            .map(|e| exit_types::Extension {
                oid: e.oid.clone(),
                critical: e.critical,
                disabled: e.disabled,
                origin: e.origin.as_str().to_string(),
                value: e.value.clone(),
            })
    }

    fn log(&mut self, level: exit_types::Level, message: String) {
        self.log.write(level as u8, &message);
    }
}

fn event_flag(e: Event) -> exit_types::Events {
    use exit_types::Events;
    match e {
        Event::Issued => Events::ISSUED,
        Event::Pending => Events::PENDING,
        Event::Denied => Events::DENIED,
        Event::Revoked => Events::REVOKED,
        Event::RetrievePending => Events::RETRIEVE_PENDING,
        Event::CrlIssued => Events::CRL_ISSUED,
        Event::Shutdown => Events::SHUTDOWN,
        Event::Startup => Events::STARTUP,
        Event::Imported => Events::IMPORTED,
        // Signet's own event has no flag in the WIT world: a wasm exit cannot ask for it.
        Event::AuditCheckpoint => Events::empty(),
    }
}

fn event_mask(flags: exit_types::Events) -> EventMask {
    let mut mask = EventMask::NONE;
    for e in Event::ALL {
        // AuditCheckpoint has no flag (an empty one, which every set "contains").
        if e != Event::AuditCheckpoint && flags.contains(event_flag(e)) {
            mask = EventMask(mask.0 | e.bit());
        }
    }
    mask
}

/// The `wasm` exit module.
pub struct WasmExit {
    name: String,
    log_name: Arc<str>,
    path: PathBuf,
    limits: Limits,
    /// Configured narrowing of the module's own choice of events.
    narrow: Option<EventMask>,
    pre: exit_world::ExitPre<ExitState>,
}

impl std::fmt::Debug for WasmExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmExit")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WasmExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<WasmExit, ConfigError> {
        let loaded = load("wasm", config, data_dir)?;
        let narrow = match &loaded.events {
            Some(names) => Some(signet_exits::common::parse_mask("wasm", Some(names))?),
            None => None,
        };
        let engine = engine().map_err(|e| ConfigError::new("wasm", e.to_string()))?;
        let mut linker: Linker<ExitState> = Linker::new(engine);
        exit_world::Exit::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| ConfigError::new("wasm", format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&loaded.component)
            .and_then(exit_world::ExitPre::new)
            .map_err(|e| {
                ConfigError::new(
                    "wasm",
                    format!(
                        "{}: not a Signet exit module (world signet:modules/exit): {e:#}",
                        loaded.path.display()
                    ),
                )
            })?;
        Ok(WasmExit {
            name: name.to_string(),
            log_name: name.into(),
            path: loaded.path,
            limits: loaded.limits,
            narrow,
            pre,
        })
    }

    fn state(&self, event: Option<ExitCtx>) -> ExitState {
        ExitState {
            event,
            limits: store_limits(self.limits),
            log: CallLog {
                module: self.log_name.clone(),
                lines: 0,
            },
        }
    }

    fn call<R>(
        pre: &exit_world::ExitPre<ExitState>,
        limits: Limits,
        state: ExitState,
        f: impl FnOnce(&exit_world::Exit, &mut Store<ExitState>) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        let mut store =
            store(pre.engine(), limits, state, exit_limiter).map_err(|e| format!("{e:#}"))?;
        pre.instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store))
            .map_err(|e| describe_failure(&e, limits))
    }
}

impl Exit for WasmExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!("WebAssembly exit module {}", self.path.display())
    }
    fn start(&self, ca: &CaInfo) -> Result<EventMask, ModuleError> {
        let info = exit_types::CaInfo {
            name: ca.name.as_str().to_string(),
            config: ca.config.clone(),
            subject: ca.subject.to_string(),
            certificate: ca.certificate.clone(),
        };
        let wanted = Self::call(&self.pre, self.limits, self.state(None), |e, s| {
            e.call_initialize(s, &info)
        })
        .map_err(|m| ModuleError::new(&self.name, format!("initialize: {m}")))?
        .map_err(|m| {
            ModuleError::new(
                &self.name,
                format!(
                    "initialize: the module refused to start: {}",
                    bounded_message(m)
                ),
            )
        })?;
        let mask = event_mask(wanted);
        Ok(match self.narrow {
            Some(n) => EventMask(mask.0 & n.0),
            None => mask,
        })
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            // A call may run for its whole deadline: keep it off the runtime's threads.
            let pre = self.pre.clone();
            let limits = self.limits;
            let event = exit_types::Event {
                kind: event_flag(ctx.event),
                seq: ctx.seq,
                at: unix_seconds(ctx.at),
                details: ctx.details.clone(),
            };
            let state = self.state(Some(ctx.clone()));
            let outcome = tokio::task::spawn_blocking(move || {
                Self::call(&pre, limits, state, |e, s| e.call_notify(s, &event))
            })
            .await
            .map_err(|e| ModuleError::new(&self.name, format!("notify task: {e}")))?;
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(m)) => Err(ModuleError::new(
                    &self.name,
                    format!("notify: the module reported: {}", bounded_message(m)),
                )),
                Err(m) => Err(ModuleError::new(&self.name, format!("notify: {m}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_round_trip() {
        let sans = parse_sans("DNS:a.example, IP:10.0.0.1, email:x@example.com, URI:https://z")
            .expect("parses");
        assert_eq!(
            sans_text(&sans),
            "DNS:a.example, IP:10.0.0.1, email:x@example.com, URI:https://z"
        );
        assert!(parse_sans("a.example").is_err());
        assert!(parse_sans("IP:nope").is_err());
    }
}
