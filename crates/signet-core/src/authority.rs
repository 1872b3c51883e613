//! `Authority`: the engine. It owns the CAs (key, policy module, exit modules), runs the
//! request lifecycle (seed steps 4, 5, 7, 8) and implements `Enroll` in process.
//!
//! Submit, step by step:
//! 1. Resolve the CA (name or `host/name` config string) and the profile; unknown → error,
//!    nothing stored.
//! 2. On the worker pool: parse the PKCS#10 and check its signature (malformed → error,
//!    nothing stored), run `Policy::verify` on a fresh `Draft`, and on `Issue` build the
//!    TBSCertificate and sign it.
//! 3. Commit the request row, its extensions, the certificate and the outbox events in one
//!    durable transaction (`Store::create_request`). Only then is the certificate returned.
//! 4. Wake the exit delivery loop (`Authority::deliver`), which notifies each exit module of
//!    the events in its mask, in outbox order, and acknowledges them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use signet_x509::{
    CertificationRequest, DistinguishedName, Extension, KeyAlgorithm, TbsCertificateParams, ext,
};

use crate::auth::{Identity, Role};
use crate::cluster::{CaSync, Leases, NodeId, NodeSync};
use crate::draft::{Draft, ExtensionOrigin};
use crate::edit::{EditRefused, check_officer_edit};
use crate::enroll::{CaSummary, EnrollError, SubmitRequest, SubmitResponse};
use crate::event::{Event, EventMask};
use crate::exit::Exit;
use crate::ids::{CaName, ProfileName, RequestId, SerialNumber};
use crate::limits::{Limits, RateLimiter};
use crate::model::{RequestRecord, RequestStatus, StoredExtension};
use crate::policy::{
    CaInfo, CertificateHistory, IssuanceNeeds, ModuleError, Policy, PolicyCtx, RequestProps,
    Verdict,
};
use crate::pool::WorkPool;
use crate::revocation::{KeyFactory, OcspCache, RevocationConfig, RevocationState};
use crate::signer::{BuildError, Clock, Random, Signer};
use crate::store::{
    AuditTarget, HistoryQuery, NewAudit, NewCertificate, NewEvent, NewRequest, Store, StoreError,
    TokenRecord,
};
use crate::time_mark::{ClockBehind, TimeMark};

/// Limits on what a submitter may send alongside the CSR.
pub const MAX_ATTRIBUTES: usize = 64;
/// The most bytes all request attributes of one request may hold together (names and
/// values): every byte is stored, so a requester cannot make each request cost 256 KiB.
pub const MAX_ATTRIBUTES_TOTAL: usize = 8192;
/// The largest certificate request accepted (DER or PEM as sent). The largest Signet
/// accepts in practice, ML-DSA-65 with a full extension request, is about 6 KiB.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
pub const MAX_ATTRIBUTE_LEN: usize = 4096;
/// How far notBefore is backdated to absorb clients' clock skew (AD CS `ClockSkewMinutes`
/// defaults to 10).
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// The most a policy may ask notBefore to be backdated ([`IssuanceNeeds::backdate`]): more
/// would let a certificate claim to have existed long before it was issued.
pub const MAX_BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

mod issue;
mod keys;
mod submit;

pub(crate) use keys::KeyState;
use keys::duplicate_index;
pub use keys::{CrlScope, Renewal, RetiredKey, SHARDS_PER_KEY};

pub(crate) use issue::{Prepared, decide};

/// One CA as configured: its identity, key, certificate chain and modules.
pub struct CaRuntime {
    pub info: CaInfo,
    pub key_algorithm: KeyAlgorithm,
    pub signer: Arc<dyn Signer>,
    /// The CA certificate first, then its issuers (a root has just itself).
    pub chain: Vec<Vec<u8>>,
    /// The CA certificate's notBefore: nothing it issues starts earlier.
    pub not_before: SystemTime,
    /// The CA certificate's notAfter: nothing it issues may outlive it.
    pub not_after: SystemTime,
    pub policy: Arc<dyn Policy>,
    pub exits: Vec<Arc<dyn Exit>>,
    /// Retry settings by exit module name; a module without an entry gets the defaults.
    pub exit_retry: HashMap<String, crate::delivery::RetryPolicy>,
    /// CRL and OCSP settings.
    pub revocation: RevocationConfig,
    /// What renewals of the CA certificate left: indexes, earlier keys, cross certificates.
    pub renewal: Renewal,
}

/// Engine-wide settings and seams.
pub struct AuthorityConfig {
    /// The host part of config strings (`host/CAName`).
    pub host: String,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Worker threads for CPU work; usually the number of cores.
    pub workers: usize,
    /// AD CS `RoleSeparationEnabled`: an identity holding both admin and manager may do
    /// nothing. On unless the configuration turns it off.
    pub role_separation: bool,
    /// Recorded as the details of the `config-load` audit record at start (a JSON object,
    /// e.g. the configuration file's SHA-256).
    pub config_details: String,
    /// Makes the delegated OCSP responders' keys; `None`: the CA key signs OCSP responses.
    pub key_factory: Option<Arc<dyn KeyFactory>>,
    /// Request rates and pending quotas per requester.
    pub limits: Limits,
    /// The key shared-secret tokens derive from (`TokenSpec::shared_secret`); `None`:
    /// such tokens can be neither made nor used.
    pub token_secret_key: Option<TokenSecretKey>,
    /// This process's name among the nodes sharing the database (see [`crate::cluster`]):
    /// unique per process, as the holder of the leases it takes.
    pub node: NodeId,
    /// How far the clock may fall behind the newest time on record before the engine signs
    /// nothing (`[server] max_clock_regression`; [`crate::time_mark`]).
    pub max_clock_regression: Duration,
}

/// The server key from which the secrets of shared-secret tokens are derived:
/// `signet_` + hex(HMAC-SHA256(key, "signet token secret v1" || seed)). Its `Debug` shows
/// no bytes; it is overwritten with zeros when dropped.
pub struct TokenSecretKey([u8; 32]);

impl TokenSecretKey {
    pub fn new(key: [u8; 32]) -> TokenSecretKey {
        TokenSecretKey(key)
    }

    /// The secret of the token with `seed`.
    pub(crate) fn secret(&self, seed: &[u8; 16]) -> String {
        let mut data = b"signet token secret v1".to_vec();
        data.extend_from_slice(seed);
        format!(
            "signet_{}",
            hex::encode(signet_x509::hmac_sha256(&self.0, &data))
        )
    }
}

impl Drop for TokenSecretKey {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&mut self.0);
    }
}

impl std::fmt::Debug for TokenSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecretKey(..)")
    }
}

/// How many OCSP responses each CA keeps cached.
pub use signet_api::admin::DeliveryReport;

pub const OCSP_CACHE_ENTRIES: usize = 262_144;

pub(crate) struct CaState {
    pub(crate) runtime: CaRuntime,
    pub(crate) authority_key_id: [u8; 20],
    /// Exit modules with the masks they returned from `start`.
    exits: Mutex<Vec<(Arc<dyn Exit>, EventMask)>>,
    pub(crate) revocation: RevocationState,
    pub(crate) ocsp_cache: OcspCache,
    /// What the cluster sync last saw of this CA in the store.
    pub(crate) cluster: CaSync,
    /// The CDP and AIA extensions of each partition (`0..=partitions`) of the current key,
    /// from the public URL.
    relying_party_extensions: Vec<Vec<Extension>>,
    /// Every key: the current one first, then the retired ones.
    pub(crate) keys: Vec<KeyState>,
}

/// The engine. Cheap to share behind an `Arc`.
pub struct Authority {
    host: String,
    cas: HashMap<CaName, Arc<CaState>>,
    order: Vec<CaName>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) pool: WorkPool,
    pub(crate) separation: bool,
    config_details: String,
    /// API tokens by the SHA-256 of their secret, loaded at start, kept current by this
    /// node's token creation and revocation, and reloaded by the cluster sync when another
    /// node may have changed them.
    pub(crate) tokens: RwLock<HashMap<[u8; 32], TokenRecord>>,
    /// Bumped (under the `tokens` write lock) by every change this node makes to `tokens`,
    /// so a reload read before the change does not undo it.
    pub(crate) token_changes: AtomicU64,
    pub(crate) node: NodeId,
    pub(crate) leases: Leases,
    pub(crate) node_sync: Mutex<NodeSync>,
    accepting: AtomicBool,
    wake: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    /// Requests committed by this node, so exit delivery does not read back from the store
    /// what it has just written.
    pub(crate) recent: RecentRequests,
    /// When each pending request last raised `RetrievePending`: polling is unauthenticated
    /// and cheap, a durable event is not, so one event per request per minute is recorded.
    polled: Mutex<HashMap<RequestId, SystemTime>>,
    pub(crate) key_factory: Option<Arc<dyn KeyFactory>>,
    limits: Limits,
    rate: RateLimiter,
    pub(crate) token_secret_key: Option<TokenSecretKey>,
    /// The newest time on record or signed with: nothing is signed while the clock is
    /// behind it by more than the bound ([`Authority::signing_time`]).
    pub(crate) mark: TimeMark,
}

/// Why the engine could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("CA {ca}: configured twice")]
    Duplicate { ca: CaName },
    /// The CA certificate or key could not be read (key identifier, issuer hashes).
    #[error("CA {ca}: reading its certificate and key")]
    Certificate {
        ca: CaName,
        #[source]
        source: signet_x509::Error,
    },
    #[error("CA {ca}: key index {index} is configured twice")]
    KeyIndex { ca: CaName, index: u32 },
    #[error("CA {ca}: [ca.revocation]")]
    Revocation {
        ca: CaName,
        #[source]
        source: crate::revocation::RevocationConfigError,
    },
    #[error("CA {ca}: the delegated OCSP responder certificate")]
    Responder {
        ca: CaName,
        #[source]
        source: crate::revocation::ResponderError,
    },
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Authority {
    /// Builds the engine. Nothing runs until [`Authority::start`].
    pub fn new(config: AuthorityConfig, cas: Vec<CaRuntime>) -> Result<Authority, StartError> {
        let mut map = HashMap::new();
        let mut order = Vec::new();
        for runtime in cas {
            let name = runtime.info.name.clone();
            let authority_key_id =
                ext::key_identifier(runtime.signer.public_key_der()).map_err(|source| {
                    StartError::Certificate {
                        ca: name.clone(),
                        source,
                    }
                })?;
            if map.contains_key(&name) {
                return Err(StartError::Duplicate { ca: name });
            }
            runtime
                .revocation
                .check()
                .map_err(|source| StartError::Revocation {
                    ca: name.clone(),
                    source,
                })?;
            let mut keys = Vec::with_capacity(1 + runtime.renewal.retired.len());
            keys.push(KeyState::new(
                runtime.renewal.key_index,
                Arc::clone(&runtime.signer),
                &runtime.info.certificate,
            ));
            for r in &runtime.renewal.retired {
                keys.push(KeyState::new(
                    r.index,
                    Arc::clone(&r.signer),
                    &r.certificate,
                ));
            }
            let keys = keys
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| StartError::Certificate {
                    ca: name.clone(),
                    source,
                })?;
            if let Some(index) = duplicate_index(&keys) {
                return Err(StartError::KeyIndex { ca: name, index });
            }
            // CDP and AIA of each partition, encoded once rather than per certificate.
            let key_index = runtime.renewal.key_index;
            let relying_party_extensions = (0..=runtime.revocation.partitions)
                .map(|partition| {
                    let scope = CrlScope {
                        key: key_index,
                        partition,
                    };
                    runtime.revocation.certificate_extensions(&name, scope)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| StartError::Revocation {
                    ca: name.clone(),
                    source: crate::revocation::RevocationConfigError::Extension(source),
                })?;
            order.push(name.clone());
            map.insert(
                name,
                Arc::new(CaState {
                    runtime,
                    authority_key_id,
                    exits: Mutex::new(Vec::new()),
                    revocation: RevocationState::default(),
                    ocsp_cache: OcspCache::new(OCSP_CACHE_ENTRIES),
                    cluster: CaSync::default(),
                    relying_party_extensions,
                    keys,
                }),
            );
        }
        Ok(Authority {
            host: config.host,
            cas: map,
            order,
            store: config.store,
            clock: config.clock,
            random: config.random,
            pool: WorkPool::new(config.workers),
            separation: config.role_separation,
            config_details: config.config_details,
            tokens: RwLock::new(HashMap::new()),
            token_changes: AtomicU64::new(0),
            node: config.node,
            leases: Leases::default(),
            node_sync: Mutex::new(NodeSync::default()),
            accepting: AtomicBool::new(false),
            wake: Mutex::new(None),
            recent: RecentRequests::default(),
            polled: Mutex::new(HashMap::new()),
            key_factory: config.key_factory,
            limits: config.limits,
            rate: RateLimiter::default(),
            token_secret_key: config.token_secret_key,
            mark: TimeMark::new(config.max_clock_regression),
        })
    }

    /// The state of a configured CA (names come from `ca_names`).
    pub(crate) fn state(&self, name: &CaName) -> &Arc<CaState> {
        &self.cas[name]
    }

    /// Registers the callback that wakes the exit delivery loop after a commit.
    pub fn set_wake(&self, f: Box<dyn Fn() + Send + Sync>) {
        if let Ok(mut w) = self.wake.lock() {
            *w = Some(f);
        }
    }

    pub(crate) fn wake(&self) {
        if let Ok(w) = self.wake.lock()
            && let Some(f) = w.as_ref()
        {
            f();
        }
    }

    /// Seed step 1: start each CA's policy module and exit modules (collecting their event
    /// masks), then record a `Startup` event per CA. Then accept requests.
    pub async fn start(&self) -> Result<(), StartError> {
        tracing::info!(node = %self.node, "starting this node");
        // Before this start writes anything: a clock that is behind dates its own records
        // wrongly too. The stored CRLs raise the mark as they are loaded.
        self.mark.raise(self.store.newest_time().await?);
        let now = self.clock.now();
        let tokens = self.store.list_tokens().await?;
        if let Ok(mut map) = self.tokens.write() {
            *map = tokens.into_iter().map(|t| (t.hash, t)).collect();
        }
        self.store
            .append_audit(vec![NewAudit {
                at: now,
                actor: "system".into(),
                action: "config-load".into(),
                ca: None,
                target: AuditTarget::None,
                details: self.config_details.clone(),
            }])
            .await?;
        let mut events = Vec::new();
        for name in &self.order {
            let ca = &self.cas[name];
            ca.runtime.policy.start(&ca.runtime.info)?;
            let mut started = Vec::new();
            for exit in &ca.runtime.exits {
                let mask = exit.start(&ca.runtime.info)?;
                tracing::info!(ca = %name, exit = exit.name(), mask = format!("{:#x}", mask.0), "exit module started");
                started.push((Arc::clone(exit), mask));
            }
            if let Ok(mut exits) = ca.exits.lock() {
                *exits = started;
            }
            events.push(NewEvent {
                ca: name.clone(),
                event: Event::Startup,
                request_id: None,
                at: now,
                details: "{}".into(),
            });
        }
        self.store.append_events(events).await?;
        self.start_revocation().await?;
        self.accepting.store(true, Ordering::SeqCst);
        self.wake();
        Ok(())
    }

    /// The time to sign with now, raising the newest time on record to it; `Err` while the
    /// clock is behind that mark by more than `[server] max_clock_regression` (see
    /// [`crate::time_mark`]). Every certificate, CRL and OCSP response is dated by it (audit
    /// checkpoints, revocations and denials still take the clock as it is).
    pub(crate) fn signing_time(&self) -> Result<SystemTime, ClockBehind> {
        let now = self.clock.now();
        self.mark.check(now)?;
        self.mark.raise(now);
        Ok(now)
    }

    /// Why the engine signs nothing now, if it does not: the clock is behind the newest time
    /// on record by more than the bound. For `/healthz`; recovers by itself once the clock
    /// is corrected.
    pub fn clock_behind(&self) -> Option<ClockBehind> {
        self.mark.check(self.clock.now()).err()
    }

    /// Stops accepting new submissions (they get `Unavailable`). In-flight ones finish.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// Records a `Shutdown` event per CA. Call after in-flight requests drained, then run a
    /// last [`Authority::deliver`] and [`Authority::stop_modules`].
    pub async fn record_shutdown(&self) -> Result<(), StoreError> {
        self.stop_accepting();
        let now = self.clock.now();
        let events = self
            .order
            .iter()
            .map(|name| NewEvent {
                ca: name.clone(),
                event: Event::Shutdown,
                request_id: None,
                at: now,
                details: "{}".into(),
            })
            .collect();
        self.store.append_events(events).await
    }

    /// Calls `ShutDown` on every module and stops the worker pool.
    pub fn stop_modules(&self) {
        for name in &self.order {
            let ca = &self.cas[name];
            ca.runtime.policy.shutdown();
            for exit in &ca.runtime.exits {
                exit.shutdown();
            }
        }
        self.pool.close();
    }

    /// Config discovery for every CA.
    pub fn summaries(&self) -> Vec<CaSummary> {
        self.order
            .iter()
            .map(|name| {
                let rt = &self.cas[name].runtime;
                CaSummary {
                    name: name.to_string(),
                    config: format!("{}/{}", self.host, name),
                    subject: rt.info.subject.to_string(),
                    key_algorithm: rt.key_algorithm.config_name(),
                    policy: rt.policy.name().to_string(),
                    exits: rt.exits.iter().map(|e| e.name().to_string()).collect(),
                    profiles: rt
                        .policy
                        .profiles()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    default_profile: rt.policy.default_profile().map(|p| p.to_string()),
                    cert_index: rt.renewal.cert_index,
                    keys: self.cas[name]
                        .keys
                        .iter()
                        .map(|k| signet_api::CaKeySummary {
                            index: k.index,
                            current: k.index == rt.renewal.key_index,
                            certificate_sha256: hex::encode(signet_x509::sha256(&k.certificate)),
                            not_after: k.not_after,
                            crl_url: rt.revocation.crl_url(
                                name,
                                CrlScope {
                                    key: k.index,
                                    partition: 0,
                                },
                            ),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// The CA names in configuration order.
    pub fn ca_names(&self) -> &[CaName] {
        &self.order
    }

    /// Resolves a CA by name or by config string (`host/name` or AD CS's `host\name`).
    pub(crate) fn resolve(&self, ca: &str) -> Result<&Arc<CaState>, EnrollError> {
        // A config string names this server: another host's `host/name` is not ours.
        let name = match ca.rsplit_once(['/', '\\']) {
            Some((host, name)) if host.eq_ignore_ascii_case(&self.host) => Some(name),
            Some(_) => None,
            None => Some(ca),
        };
        name.and_then(|n| CaName::new(n).ok())
            .and_then(|n| self.cas.get(&n))
            .ok_or_else(|| EnrollError::UnknownCa(ca.chars().take(100).collect()))
    }

    /// The canonical name of a CA given by name or config string, if it exists.
    pub fn ca_name(&self, ca: &str) -> Option<&CaName> {
        self.resolve(ca).ok().map(|c| &c.runtime.info.name)
    }

    /// The chain (CA certificate first) of a CA.
    pub fn chain(&self, ca: &str) -> Result<Vec<Vec<u8>>, EnrollError> {
        Ok(self.resolve(ca)?.runtime.chain.clone())
    }

    /// Whether a certificate one of these CAs issued (found by its issuer name) is revoked,
    /// for TLS client authentication: a revoked or held client certificate authenticates
    /// nobody. Certificates of other issuers are not known here (`false`).
    pub async fn is_revoked(
        &self,
        issuer: &DistinguishedName,
        serial: &SerialNumber,
    ) -> Result<bool, EnrollError> {
        for name in &self.order {
            let ca = &self.cas[name];
            if ca.runtime.info.subject.as_der() != issuer.as_der() {
                continue;
            }
            let status = self
                .store
                .certificate_status(name, *serial)
                .await
                .map_err(|e| internal("store", &e))?;
            if status.is_some_and(|s| s.revocation.is_some()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Seeds steps 7–8: one delivery pass over every (CA, exit module) pair, each until it
    /// is caught up or failing (see [`Authority::deliver_exit`]; a module in backoff is left
    /// alone). The server runs one task per pair instead; this is for shutdown and tests.
    pub async fn deliver(&self) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        for name in &self.order {
            let exits: Vec<String> = self.cas[name]
                .runtime
                .exits
                .iter()
                .map(|e| e.name().to_string())
                .collect();
            let mut lag = 0;
            for exit in exits {
                loop {
                    match self.deliver_exit(name, &exit).await {
                        Ok(step) => {
                            report.delivered += step.delivered;
                            report.failed += step.failed;
                            match step.next {
                                crate::delivery::NextRun::Now => continue,
                                crate::delivery::NextRun::At(_) => report.retry = true,
                                crate::delivery::NextRun::Idle => {}
                            }
                            lag = u64::max(lag, step.head.saturating_sub(step.cursor));
                        }
                        Err(e) => {
                            tracing::warn!(ca = %name, exit, error = ?e, "exit delivery failed; will retry");
                            report.retry = true;
                        }
                    }
                    break;
                }
            }
            report.lag.push((name.clone(), lag));
        }
        report
    }
}

impl CaState {
    /// A started exit module and the mask it asked for.
    pub(crate) fn started_exit(&self, exit: &str) -> Option<(Arc<dyn Exit>, EventMask)> {
        self.exits
            .lock()
            .ok()?
            .iter()
            .find(|(e, _)| e.name() == exit)
            .map(|(e, m)| (Arc::clone(e), *m))
    }
}

impl CaRuntime {
    /// The retry settings of an exit module.
    pub fn retry_policy(&self, exit: &str) -> crate::delivery::RetryPolicy {
        self.exit_retry.get(exit).copied().unwrap_or_default()
    }
}

/// A bounded first-in-first-out map of the newest requests this node committed, with the
/// events each write raised. It saves exit delivery a store read per event (about a tenth of
/// the CPU at 5,000 certificates/s).
///
/// Another node may change a request after this node wrote it, and this map does not know.
/// So an entry answers only for an event its write raised that a request raises at most
/// once ([`RecentRequests::ONCE`]: `Issued`, `Imported`): the entry is then the request as
/// of that event. Every other event reads the store.
/// Invariant: whatever changes a request's stored state on this node must also replace its
/// entry here (with the events it raised), or a later `Issued` would be delivered with a
/// stale row.
#[derive(Default)]
pub(crate) struct RecentRequests {
    inner: Mutex<(
        HashMap<RequestId, RecentRequest>,
        std::collections::VecDeque<RequestId>,
    )>,
}

/// A request as this node last wrote it, and the events that write raised.
type RecentRequest = (RequestRecord, EventMask);

impl RecentRequests {
    const CAPACITY: usize = 8192;
    /// The events a request raises at most once in its life.
    const ONCE: EventMask = EventMask(Event::Issued as u32 | Event::Imported as u32);

    /// Records the newest committed state of a request and the events its write raised.
    pub(crate) fn insert(&self, id: RequestId, record: RequestRecord, raised: EventMask) {
        if let Ok(mut guard) = self.inner.lock() {
            let (map, order) = &mut *guard;
            if map.insert(id, (record, raised)).is_none() {
                order.push_back(id);
            }
            while order.len() > Self::CAPACITY {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// The request as of `event`, if this node's newest write of it raised that event and
    /// the event is one a request raises once.
    pub(crate) fn get(&self, id: RequestId, event: Event) -> Option<RequestRecord> {
        if !Self::ONCE.contains(event) {
            return None;
        }
        let guard = self.inner.lock().ok()?;
        let (record, raised) = guard.0.get(&id)?;
        raised.contains(event).then(|| record.clone())
    }
}

/// The events of a write, as a mask.
pub(crate) fn raised(events: &[(Event, String)]) -> EventMask {
    events.iter().fold(EventMask::NONE, |m, (e, _)| m.with(*e))
}

impl NewRequest {
    /// The record as the store now holds it under `id`.
    pub(crate) fn into_record(self, id: RequestId) -> RequestRecord {
        RequestRecord {
            id,
            ca: self.ca,
            status: self.status,
            profile: self.profile,
            requester: self.requester,
            format: self.format,
            raw: self.raw,
            subject: self.subject,
            submitted_at: self.submitted_at,
            resolved_at: self.resolved_at,
            message: self.message,
            attributes: self.attributes,
            extensions: self.extensions,
            certificate: self.certificate.map(NewCertificate::into_record),
            approvals: Vec::new(),
            version: 0,
        }
    }
}

impl NewCertificate {
    pub(crate) fn into_record(self) -> crate::model::CertificateRecord {
        crate::model::CertificateRecord {
            serial: self.serial,
            der: self.der,
            subject: self.subject,
            sans: self.sans,
            not_before: self.not_before,
            not_after: self.not_after,
            revocation: None,
        }
    }
}

pub(crate) use signet_x509::time::whole_seconds;

pub(crate) fn check_attributes(attributes: &[(String, String)]) -> Result<(), EnrollError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(EnrollError::BadRequest(format!(
            "too many request attributes ({}; at most {MAX_ATTRIBUTES})",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(EnrollError::BadRequest(format!(
                "invalid request attribute name {:?}",
                name.chars().take(64).collect::<String>()
            )));
        }
        if value.len() > MAX_ATTRIBUTE_LEN {
            return Err(EnrollError::BadRequest(format!(
                "request attribute {name} is longer than {MAX_ATTRIBUTE_LEN} bytes"
            )));
        }
    }
    let total: usize = attributes.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_ATTRIBUTES_TOTAL {
        return Err(EnrollError::BadRequest(format!(
            "the request attributes hold {total} bytes together; at most {MAX_ATTRIBUTES_TOTAL} are accepted"
        )));
    }
    Ok(())
}

pub(crate) fn response_from_record(record: RequestRecord, chain: Vec<Vec<u8>>) -> SubmitResponse {
    SubmitResponse {
        id: record.id,
        status: record.status,
        message: record.message,
        serial: record.certificate.as_ref().map(|c| c.serial),
        certificate: record.certificate.map(|c| c.der),
        chain,
    }
}

/// A short id that ties a requester-visible failure to its log line: wall-clock
/// microseconds and a process-wide counter, so two incidents never share an id.
fn incident_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let micros = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", micros & 0xffff_ffff_ffff)
}

/// Logs an unexpected error with its causes under a fresh incident id and returns the
/// opaque error.
pub(crate) fn internal(what: &str, error: &(dyn std::error::Error + 'static)) -> EnrollError {
    // A database or a key device that cannot be reached is no bug of this server: the
    // client may retry.
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(StoreError::Unavailable(why)) = e.downcast_ref::<StoreError>() {
            tracing::warn!(%what, error = %why, "the database is unavailable");
            return EnrollError::Unavailable("the database is unavailable: retry shortly".into());
        }
        if let Some(crate::SignerError::Unavailable(why)) = e.downcast_ref::<crate::SignerError>() {
            tracing::warn!(%what, error = %why, "the CA key is unavailable");
            return EnrollError::Unavailable("the CA key is unavailable: retry shortly".into());
        }
        cause = e.source();
    }
    let incident = incident_id();
    tracing::error!(%incident, %what, error = ?Chain(error).to_string(), "internal error");
    EnrollError::Internal { incident }
}

/// An error and its `source()` chain on one line (`outer: cause: root cause`), for logs and
/// for errors stored as text (an exit module's delivery error).
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// Issues the self-signed certificate of a new root CA: v3, basicConstraints cA (critical),
/// keyUsage keyCertSign + cRLSign (+ digitalSignature, for OCSP responses signed by the CA),
/// SKI, and AKI equal to the SKI.
pub fn self_signed_root(
    signer: &dyn Signer,
    subject: &DistinguishedName,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>, BuildError> {
    let usage = signet_x509::KeyUsage::KEY_CERT_SIGN
        .union(signet_x509::KeyUsage::CRL_SIGN)
        .union(signet_x509::KeyUsage::DIGITAL_SIGNATURE);
    self_signed_ca(signer, subject, serial, not_before, not_after, usage)
}

/// Issues a self-signed CA certificate with the key usage `usage` (critical) and otherwise as
/// [`self_signed_root`]: an offline root's has keyCertSign and cRLSign only, as it signs no
/// OCSP responses.
pub fn self_signed_ca(
    signer: &dyn Signer,
    subject: &DistinguishedName,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
    usage: signet_x509::KeyUsage,
) -> Result<Vec<u8>, BuildError> {
    let validity = (not_before, not_after);
    same_name_ca(
        signer,
        subject,
        signer.public_key_der(),
        serial,
        validity,
        usage,
    )
}

/// Issues a CA certificate for `spki` under the name `subject`, signed by `issuer`, a key
/// of the CA of the same name: its own (a self-signed certificate) or another (a cross
/// certificate between the old and new key of a renewed root). basicConstraints cA
/// (critical), keyUsage `usage` (critical), SKI of `spki` and AKI of `issuer`'s key tell
/// the keys apart.
pub fn same_name_ca(
    issuer: &dyn Signer,
    subject: &DistinguishedName,
    spki: &[u8],
    serial: SerialNumber,
    (not_before, not_after): (SystemTime, SystemTime),
    usage: signet_x509::KeyUsage,
) -> Result<Vec<u8>, BuildError> {
    let key_id = |spki| ext::key_identifier(spki).map_err(BuildError::encode("key identifier"));
    let extensions = [
        ext::basic_constraints(true, None),
        ext::key_usage(usage),
        ext::subject_key_identifier(&key_id(spki)?),
        ext::authority_key_identifier(&key_id(issuer.public_key_der())?),
    ];
    let algorithm = issuer.algorithm();
    let tbs = signet_x509::encode_tbs_certificate(&TbsCertificateParams {
        serial: serial.as_bytes(),
        signature: algorithm,
        issuer: subject,
        not_before,
        not_after,
        subject,
        spki_der: spki,
        extensions: &extensions,
    })
    .map_err(BuildError::encode("certificate"))?;
    let signature = issuer.sign(&tbs).map_err(BuildError::sign("certificate"))?;
    signet_x509::assemble_certificate(&tbs, algorithm, &signature)
        .map_err(BuildError::encode("signed certificate"))
}
