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
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use signet_policy::ConfigError;

mod exit;
mod policy;

pub use exit::WasmExit;
pub use policy::WasmPolicy;

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
    let engine = engine().map_err(|e| ConfigError::caused(kind, "the engine", e))?;
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
    static ENGINE: OnceLock<Result<Engine, EngineError>> = OnceLock::new();
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
            let engine = Engine::new(&config).map_err(EngineError::Wasmtime)?;
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
                .map_err(EngineError::Thread)?;
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| ModuleError::new("wasm", signet_exits::common::describe(e)))
}

/// A store for one call, with the module's limits.
fn store<T>(
    engine: &Engine,
    limits: Limits,
    data: T,
    limiter: fn(&mut T) -> &mut CallLimits,
) -> Result<Store<T>, wasmtime::Error> {
    let mut store = Store::new(engine, data);
    store.limiter(move |s| -> &mut dyn wasmtime::ResourceLimiter { limiter(s) });
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(limits.deadline_ticks);
    Ok(store)
}

fn store_limits(limits: Limits) -> CallLimits {
    CallLimits {
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .table_elements(100_000)
            .instances(16)
            .tables(16)
            .memories(4)
            .trap_on_grow_failure(true)
            .build(),
        memory_refused: false,
    }
}

/// One call's resource limits (wasmtime's `StoreLimits`), remembering whether a linear
/// memory was refused room: a failed `memory.grow` under `trap_on_grow_failure` reaches the
/// host as a plain error, not a `Trap`, and this flag is how [`CallFailure::of`] knows it
/// was the memory limit without reading the error's text.
struct CallLimits {
    limits: StoreLimits,
    memory_refused: bool,
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.limits.memory_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.memory_refused = true;
        }
        answer
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Why one call of a module failed, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
enum CallFailure {
    /// The call's store could not be made.
    #[error("{0:#}")]
    Setup(wasmtime::Error),
    #[error("ran out of fuel ({0} units): the module loops or does too much")]
    OutOfFuel(u64),
    #[error("exceeded its deadline of about {0} ms")]
    Deadline(u64),
    #[error("{0}")]
    Trap(wasmtime::Trap),
    #[error("exceeded its memory limit of {mib} MiB: {error:#}")]
    Memory { mib: usize, error: wasmtime::Error },
    #[error("failed: {0:#}")]
    Other(wasmtime::Error),
}

impl CallFailure {
    /// Classifies a failed instantiation or call; `memory_refused` is what the call's
    /// [`CallLimits`] recorded.
    fn of(error: wasmtime::Error, limits: Limits, memory_refused: bool) -> CallFailure {
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => CallFailure::OutOfFuel(limits.fuel),
            Some(wasmtime::Trap::Interrupt) => {
                CallFailure::Deadline((limits.deadline_ticks - 1) * TICK.as_millis() as u64)
            }
            Some(trap) => CallFailure::Trap(*trap),
            // A failed memory.grow under `trap_on_grow_failure` is an error, not a `Trap`.
            None if memory_refused => CallFailure::Memory {
                mib: limits.memory_bytes / (1024 * 1024),
                error,
            },
            None => CallFailure::Other(error),
        }
    }
}

/// The shared engine could not be made.
#[derive(Debug, thiserror::Error)]
enum EngineError {
    #[error("wasmtime: {0:#}")]
    Wasmtime(wasmtime::Error),
    #[error("starting the wasm epoch thread")]
    Thread(#[source] std::io::Error),
}

/// Why a `SubjectAltNames` text does not parse (the guest reads the message).
#[derive(Debug, thiserror::Error)]
enum SanError {
    #[error("SAN {0:?} is not KIND:VALUE")]
    NotKindValue(String),
    #[error("SAN {0:?}: bad IP address")]
    BadIp(String),
    #[error("SAN {0:?}: kind must be DNS, IP, email or URI")]
    UnknownKind(String),
}

/// A host function's refusal as the guest receives it: the WIT functions return
/// `result<_, string>`, so the message crosses the sandbox as text.
fn to_guest(e: impl std::fmt::Display) -> String {
    e.to_string()
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
fn parse_sans(text: &str) -> Result<Vec<San>, SanError> {
    let mut sans = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, value) = item
            .split_once(':')
            .ok_or_else(|| SanError::NotKindValue(item.to_string()))?;
        let san = match kind.to_ascii_lowercase().as_str() {
            "dns" => San::Dns(value.to_string()),
            "ip" => San::Ip(
                value
                    .parse()
                    .map_err(|_| SanError::BadIp(item.to_string()))?,
            ),
            "email" => San::Email(value.to_string()),
            "uri" => San::Uri(value.to_string()),
            _ => return Err(SanError::UnknownKind(item.to_string())),
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
