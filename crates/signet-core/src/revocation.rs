//! Revocation: CRLs (full, delta, partitioned) and the OCSP responder.
//!
//! - Each CA has partitions ("shards"). Shard 0 is the CA's main CRL at `/crl/{ca}.crl`; with
//!   `partitions = N`, new certificates are assigned shard 1..=N at issuance (from their
//!   serial) and each shard has its own CRL at `/crl/{ca}/{n}.crl`, named by the
//!   certificates' cRLDistributionPoints and by the CRL's issuingDistributionPoint. The shard
//!   is stored with the certificate, so changing N later never moves a certificate.
//! - Full and delta CRLs of a shard share one number sequence. A delta lists the revocation
//!   changes after its base's snapshot: each change takes the next revocation sequence number
//!   of its CA (assigned by the store's single writer), and every CRL records the highest one
//!   its scan saw. Releases from hold appear in deltas as removeFromCRL.
//! - [`Authority::revocation_tick`] publishes what is due (full CRLs every `crl_period`,
//!   deltas every `delta_period`, each valid for its period plus an overlap) and renews the
//!   delegated OCSP responder certificate; [`Authority::publish_crls`] publishes on demand.
//! - The delegated responder certificate is issued once and kept: its key is stored sealed by
//!   the [`KeyFactory`] (encrypted under the CA passphrase) with the certificate, and a
//!   restart takes both up again while the certificate is unrevoked, was issued by the
//!   current CA key and has more than a third of its validity left. Otherwise, or when the
//!   sealed key does not open (the passphrase changed), a new one is issued, and its key
//!   replaces the stored one.
//!   At start, a shard that never had a CRL gets its first one before `start` returns, so a
//!   CRL URL named in a certificate is never a 404 once the server listens.
//!   Each publication is stored, emits `CrlIssued` and is audited, in one transaction.
//! - OCSP: [`Authority::ocsp`] answers RFC 6960 requests (CertIDs hashed with SHA-1, SHA-256,
//!   SHA-384 or SHA-512). Single-certificate responses without a nonce are cached per serial
//!   and CertID (the response echoes the CertID, so each hash gets its own) and re-signed
//!   once half their validity has passed; a revocation change drops the serial's cached
//!   responses before the change is acknowledged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use signet_x509::crl::{CrlParams, CrlWriter, REMOVE_FROM_CRL, RevokedEntry};
use signet_x509::ocsp::{self, CertStatus, ResponseStatus, SingleResponse};
use signet_x509::{DistinguishedName, KeyAlgorithm, TbsCertificateParams, ext};

use crate::auth::{Identity, Role, require};
use crate::authority::{Authority, CLOCK_SKEW, CaState, internal, whole_seconds};
use crate::draft::ExtensionOrigin;
use crate::enroll::EnrollError;
use crate::event::Event;
use crate::ids::{CaName, SerialNumber};
use crate::model::{RequestStatus, StoredExtension};
use crate::signer::{Signer, SignerError};
use crate::store::{
    AuditTarget, CrlRecord, NewAudit, NewCertificate, NewCrl, NewRequest, RevokedQuery,
};
pub use signet_api::revocation::{OcspReply, PublishedCrl, PublishedSummary};

/// Who signs OCSP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderMode {
    /// The CA key itself.
    Ca,
    /// A delegated responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) that the
    /// CA issues once, keeps across restarts (its key sealed in the store, see
    /// [`KeyFactory`]) and renews before it expires.
    Delegated,
}

/// A CA's revocation settings (`[ca.revocation]`).
#[derive(Debug, Clone)]
pub struct RevocationConfig {
    /// The public base URL (`http://pki.example.com`) for the CDP and AIA URLs put in
    /// certificates and the IDP put in CRLs; `None`: certificates carry neither.
    pub base_url: Option<String>,
    /// CRL partitions for new certificates; 0: every certificate is on the main CRL.
    pub partitions: u32,
    pub crl_period: Duration,
    pub crl_overlap: Duration,
    /// `None`: no delta CRLs.
    pub delta_period: Option<Duration>,
    pub delta_overlap: Duration,
    /// How long a revoked certificate stays on CRLs after it expires.
    pub keep_expired: Duration,
    pub ocsp_validity: Duration,
    pub responder: ResponderMode,
    pub responder_validity: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        RevocationConfig {
            base_url: None,
            partitions: 0,
            crl_period: Duration::from_secs(7 * 24 * HOUR),
            crl_overlap: Duration::from_secs(24 * HOUR),
            delta_period: Some(Duration::from_secs(HOUR)),
            delta_overlap: Duration::from_secs(HOUR / 6),
            keep_expired: Duration::ZERO,
            ocsp_validity: Duration::from_secs(24 * HOUR),
            responder: ResponderMode::Delegated,
            responder_validity: Duration::from_secs(7 * 24 * HOUR),
        }
    }
}

/// Most partitions a CA may have (Let's Encrypt uses 128).
pub const MAX_PARTITIONS: u32 = 4096;

impl RevocationConfig {
    /// Checks the settings; the message names what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.partitions > MAX_PARTITIONS {
            return Err(format!("partitions: at most {MAX_PARTITIONS}"));
        }
        if self.partitions > 0 && self.base_url.is_none() {
            return Err("partitions need a public base URL: each partition's CRL is named by the certificates' CRL distribution point".into());
        }
        if let Some(url) = &self.base_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.bytes().all(|b| b.is_ascii_graphic())
                && !url.ends_with('/');
            if !ok {
                return Err(format!(
                    "public URL {url:?}: an http(s) URL without a trailing slash"
                ));
            }
        }
        if self.crl_period < Duration::from_secs(1) {
            return Err("crl_period must be at least 1s".into());
        }
        if self.ocsp_validity < Duration::from_secs(60) {
            return Err("ocsp_validity must be at least 60s".into());
        }
        if self.responder_validity < Duration::from_secs(3600) {
            return Err("ocsp_responder_validity must be at least 1h".into());
        }
        Ok(())
    }

    /// The shard a new certificate with this serial belongs to.
    pub fn shard_for(&self, serial: &SerialNumber) -> u32 {
        if self.partitions == 0 {
            return 0;
        }
        let b = serial.as_bytes();
        let n = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        1 + n % self.partitions
    }

    fn crl_url(&self, ca: &CaName, shard: u32) -> Option<String> {
        let base = self.base_url.as_deref()?;
        Some(match shard {
            0 => format!("{base}/crl/{ca}.crl"),
            n => format!("{base}/crl/{ca}/{n}.crl"),
        })
    }

    fn delta_url(&self, ca: &CaName, shard: u32) -> Option<String> {
        let base = self.base_url.as_deref()?;
        self.delta_period?;
        Some(match shard {
            0 => format!("{base}/crl/{ca}/delta.crl"),
            n => format!("{base}/crl/{ca}/{n}-delta.crl"),
        })
    }

    /// The extensions every certificate of this CA carries for relying parties: CDP of its
    /// shard and AIA (OCSP, caIssuers).
    pub(crate) fn certificate_extensions(
        &self,
        ca: &CaName,
        shard: u32,
    ) -> Result<Vec<signet_x509::Extension>, String> {
        let (Some(base), Some(crl)) = (self.base_url.as_deref(), self.crl_url(ca, shard)) else {
            return Ok(Vec::new());
        };
        let ocsp = format!("{base}/ocsp/{ca}");
        let issuer = format!("{base}/ca/{ca}.crt");
        Ok(vec![
            ext::crl_distribution_points(&crl).map_err(|e| e.to_string())?,
            ext::authority_info_access(Some(&ocsp), Some(&issuer)).map_err(|e| e.to_string())?,
        ])
    }
}

/// Makes keys: the delegated OCSP responder's.
///
/// A factory that can seal keys lets a restart take up the stored responder certificate
/// instead of issuing a new one at every start. Sealing must protect the key at least as
/// well as the CA key is protected (the server's factory encrypts it under the CA
/// passphrase), because a responder key signs "good" for any certificate of the CA for as
/// long as its certificate is valid (it carries ocsp-nocheck, so it cannot be revoked in a
/// way clients check).
pub trait KeyFactory: Send + Sync {
    fn generate(&self, algorithm: KeyAlgorithm) -> Result<Arc<dyn Signer>, SignerError>;

    /// A new key and its sealed form to store, or `None` when this factory's keys live only
    /// in memory (the default).
    fn generate_sealed(
        &self,
        algorithm: KeyAlgorithm,
    ) -> Result<(Arc<dyn Signer>, Option<SealedKey>), SignerError> {
        Ok((self.generate(algorithm)?, None))
    }

    /// Opens a key [`KeyFactory::generate_sealed`] sealed (possibly in an earlier run).
    fn open(&self, sealed: &SealedKey) -> Result<Arc<dyn Signer>, SignerError> {
        let _ = sealed;
        Err(SignerError("this key factory keeps no keys".into()))
    }
}

/// A private key as a [`KeyFactory`] stores it (for Signet's software keys: an encrypted
/// PKCS#8 PEM). Opaque to the engine and the store; its `Debug` shows no bytes, and it is
/// overwritten with zeros when dropped (best effort: copies the allocator made are not).
pub struct SealedKey(Vec<u8>);

impl SealedKey {
    pub fn new(bytes: Vec<u8>) -> SealedKey {
        SealedKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SealedKey {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&mut self.0);
    }
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedKey({} bytes)", self.0.len())
    }
}

/// The newest CRLs of one shard.
#[derive(Debug, Clone, Default)]
struct ShardCrls {
    base: Option<Arc<PublishedCrl>>,
    delta: Option<Arc<PublishedCrl>>,
    /// The highest number used so far.
    last_number: u64,
}

/// Per-CA revocation state kept by the engine.
#[derive(Default)]
pub(crate) struct RevocationState {
    crls: RwLock<HashMap<u32, ShardCrls>>,
    /// One publication at a time per CA (numbers are allocated from memory).
    publishing: AtomicBool,
    responder: RwLock<Option<Arc<Responder>>>,
    /// Shards beyond the configured ones (an earlier configuration's partitions) that had
    /// CRLs or hold revoked certificates at start; read once, as new certificates only go to
    /// configured shards.
    extra_shards: RwLock<Vec<u32>>,
}

/// Who signs OCSP responses now.
pub(crate) struct Responder {
    signer: Arc<dyn Signer>,
    /// SHA-1 of the responder's public key (ResponderID byKey).
    key_hash: [u8; 20],
    /// The responder certificate and its serial (`None` when the CA key signs).
    certificate: Option<Vec<u8>>,
    serial: Option<SerialNumber>,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// The OCSP response cache: single-certificate responses without a nonce, by serial and, for
/// one serial, by the CertID exactly as the client sent it: the response echoes that CertID,
/// so a client asking with SHA-256 must never get the answer cached for a SHA-1 CertID.
pub(crate) struct OcspCache {
    shards: Vec<Mutex<CacheShard>>,
    per_shard: usize,
}

#[derive(Default)]
struct CacheShard {
    /// The responses for one serial, one per CertID encoding (at most
    /// [`MAX_CERT_ID_VARIANTS`]).
    map: HashMap<SerialNumber, Vec<Arc<CachedResponse>>>,
    /// Bumped by every invalidation: a response computed from a read made before the bump
    /// is not cached.
    epoch: u64,
}

struct CachedResponse {
    /// The CertID TLV the response answers.
    cert_id: Box<[u8]>,
    der: Arc<[u8]>,
    this_update: SystemTime,
    next_update: SystemTime,
    refresh_at: SystemTime,
}

const CACHE_SHARDS: usize = 16;

/// The CertID encodings of one serial that can match a CA: four hash algorithms, each with
/// NULL or absent parameters (the serial's encoding is fixed by DER).
const MAX_CERT_ID_VARIANTS: usize = 8;

impl OcspCache {
    pub(crate) fn new(capacity: usize) -> OcspCache {
        OcspCache {
            shards: (0..CACHE_SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(CACHE_SHARDS).max(16),
        }
    }

    fn shard(&self, serial: &SerialNumber) -> &Mutex<CacheShard> {
        let i = usize::from(serial.as_bytes()[19]) % CACHE_SHARDS;
        &self.shards[i]
    }

    fn get(
        &self,
        serial: &SerialNumber,
        cert_id: &[u8],
        now: SystemTime,
    ) -> (Option<Arc<CachedResponse>>, u64) {
        let Ok(shard) = self.shard(serial).lock() else {
            return (None, u64::MAX);
        };
        let hit = shard
            .map
            .get(serial)
            .and_then(|v| v.iter().find(|c| *c.cert_id == *cert_id))
            .filter(|c| now < c.refresh_at)
            .cloned();
        (hit, shard.epoch)
    }

    fn insert(&self, serial: SerialNumber, epoch: u64, response: Arc<CachedResponse>) {
        let Ok(mut shard) = self.shard(&serial).lock() else {
            return;
        };
        if shard.epoch != epoch {
            return;
        }
        if shard.map.len() >= self.per_shard {
            let now = response.this_update;
            shard.map.retain(|_, v| {
                v.retain(|c| c.refresh_at > now);
                !v.is_empty()
            });
            if shard.map.len() >= self.per_shard {
                shard.map.clear();
            }
        }
        let variants = shard.map.entry(serial).or_default();
        variants.retain(|c| c.cert_id != response.cert_id);
        if variants.len() >= MAX_CERT_ID_VARIANTS {
            variants.remove(0);
        }
        variants.push(response);
    }

    /// Drops the cached response for a serial (a revocation change).
    pub(crate) fn invalidate(&self, serial: &SerialNumber) {
        if let Ok(mut shard) = self.shard(serial).lock() {
            shard.map.remove(serial);
            shard.epoch += 1;
        }
    }

    fn clear(&self) {
        for s in &self.shards {
            if let Ok(mut shard) = s.lock() {
                shard.map.clear();
                shard.epoch += 1;
            }
        }
    }
}

mod answer;
mod responder;

impl Authority {
    /// Loads the newest stored CRLs of every CA (numbers survive restarts) and issues the
    /// delegated OCSP responder certificates. Called by `start`.
    pub(crate) async fn start_revocation(&self) -> Result<(), crate::authority::StartError> {
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            let records = self.store.latest_crls(&name).await?;
            let mut map: HashMap<u32, ShardCrls> = HashMap::new();
            for r in records {
                let entry = map.entry(r.shard).or_default();
                entry.last_number = entry.last_number.max(r.number);
                let published = Arc::new(PublishedCrl::from(r));
                if published.delta_base.is_some() {
                    entry.delta = Some(published);
                } else {
                    entry.base = Some(published);
                }
            }
            // Shards beyond the configured ones keep being published: those that had CRLs
            // (their certificates name those URLs) and those holding revoked certificates.
            // Both are cheap to find: the crls table is small, and the revoked-certificate
            // index answers the second without reading the certificates table.
            let configured = state.runtime.revocation.partitions;
            let mut extra: Vec<u32> = map.keys().copied().filter(|&s| s > configured).collect();
            for s in self.store.shards_in_use(&name).await? {
                if s > configured && !extra.contains(&s) {
                    extra.push(s);
                }
            }
            extra.sort_unstable();
            if let Ok(mut crls) = state.revocation.crls.write() {
                *crls = map;
            }
            if let Ok(mut e) = state.revocation.extra_shards.write() {
                *e = extra;
            }
            self.renew_responder(&state, false)
                .await
                .map_err(|e| crate::authority::StartError::Ca(name.to_string(), e))?;
            // A shard that never had a CRL (a new CA, or partitions added since the last run)
            // gets its first one before the server listens, so the CRL URL that certificates
            // name never answers 404. Stored CRLs are served as they are; the maintenance loop
            // renews what is due. A failure here is retried by that loop.
            let now = self.clock.now();
            for (shard, _) in self.due_publications(&state, now) {
                if self.current(&state, shard).base.is_some() {
                    continue;
                }
                if let Err(e) = self.publish_shard(&state, shard, true, "system").await {
                    tracing::error!(ca = %name, shard, error = %e, "first CRL publication failed");
                }
            }
        }
        Ok(())
    }

    /// One maintenance pass: publishes every CRL that is due and renews responder
    /// certificates nearing their end. Errors are logged; the next pass retries.
    pub async fn revocation_tick(&self) {
        let now = self.clock.now();
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            if let Err(e) = self.renew_responder(&state, false).await {
                tracing::error!(ca = %name, error = %e, "could not renew the OCSP responder certificate");
            }
            for (shard, full) in self.due_publications(&state, now) {
                if let Err(e) = self.publish_shard(&state, shard, full, "system").await {
                    tracing::error!(ca = %name, shard, error = %e, "scheduled CRL publication failed");
                }
            }
        }
    }

    /// Shards whose full CRL (`true`) or delta CRL (`false`) is due.
    fn due_publications(&self, state: &CaState, now: SystemTime) -> Vec<(u32, bool)> {
        let cfg = &state.runtime.revocation;
        let shards = self.shards(state);
        let Ok(crls) = state.revocation.crls.read() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for shard in shards {
            let current = crls.get(&shard);
            let base = current.and_then(|c| c.base.as_ref());
            match base {
                Some(b) if now < b.this_update + cfg.crl_period => {
                    if let Some(period) = cfg.delta_period {
                        let last = current
                            .and_then(|c| c.delta.as_ref())
                            .filter(|d| d.delta_base == Some(b.number))
                            .map_or(b.this_update, |d| d.this_update);
                        if now >= last + period {
                            due.push((shard, false));
                        }
                    }
                }
                _ => due.push((shard, true)),
            }
        }
        due
    }

    /// Every shard that has or may get certificates: 0, the configured partitions, and any
    /// shard that still holds certificates from an earlier configuration.
    fn shards(&self, state: &CaState) -> Vec<u32> {
        let mut shards: Vec<u32> = (0..=state.runtime.revocation.partitions).collect();
        if let Ok(extra) = state.revocation.extra_shards.read() {
            shards.extend(extra.iter().copied());
        }
        shards
    }

    /// On demand (AD CS `ICertAdmin2::PublishCRLs`): full CRLs (each followed by a fresh delta
    /// when deltas are on) of every shard, or only deltas. Needs the admin role.
    pub async fn publish_crls(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        delta_only: bool,
    ) -> Result<Vec<PublishedSummary>, EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Admin, Some(&name), self.separation)?;
        if delta_only && state.runtime.revocation.delta_period.is_none() {
            return Err(EnrollError::BadRequest(format!(
                "CA {name} publishes no delta CRLs (delta_period = \"0s\")"
            )));
        }
        let shards = self.shards(&state);
        let mut out = Vec::new();
        for shard in shards {
            out.extend(
                self.publish_shard(&state, shard, !delta_only, &who.name)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Publishes one shard's full CRL (and then its delta) or only its delta.
    async fn publish_shard(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        full: bool,
        actor: &str,
    ) -> Result<Vec<PublishedSummary>, EnrollError> {
        let flag = &state.revocation.publishing;
        if flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EnrollError::Conflict(
                "a CRL publication of this CA is in progress; retry shortly".into(),
            ));
        }
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(flag);
        let mut out = Vec::new();
        if full {
            out.push(self.publish_one(state, shard, None, actor).await?);
        }
        if state.runtime.revocation.delta_period.is_some() {
            let base = self.current(state, shard).base;
            match base {
                Some(base) => out.push(self.publish_one(state, shard, Some(base), actor).await?),
                None => {
                    // No base yet: a delta needs one, so publish the base first.
                    out.push(self.publish_one(state, shard, None, actor).await?);
                    if let Some(base) = self.current(state, shard).base {
                        out.push(self.publish_one(state, shard, Some(base), actor).await?);
                    }
                }
            }
        }
        Ok(out)
    }

    fn current(&self, state: &CaState, shard: u32) -> ShardCrls {
        state
            .revocation
            .crls
            .read()
            .ok()
            .and_then(|c| c.get(&shard).cloned())
            .unwrap_or_default()
    }

    /// The CRL a `CrlIssued` event announces (from its details: shard, number, and
    /// `delta_base` for a delta), or the newer CRL of the same partition and kind that has
    /// superseded it since; `None` if the engine holds neither.
    pub(crate) fn event_crl(&self, state: &CaState, details: &str) -> Option<Arc<PublishedCrl>> {
        let shard = u32::try_from(details_u64(details, "shard")?).ok()?;
        let number = details_u64(details, "number")?;
        let delta = details_u64(details, "delta_base").is_some();
        let crls = self.current(state, shard);
        let held = if delta { crls.delta } else { crls.base }?;
        (held.number >= number).then_some(held)
    }

    /// Scans, builds, signs and stores one CRL; `base` makes it a delta of that base.
    async fn publish_one(
        &self,
        state: &Arc<CaState>,
        shard: u32,
        base: Option<Arc<PublishedCrl>>,
        actor: &str,
    ) -> Result<PublishedSummary, EnrollError> {
        let rt = &state.runtime;
        let cfg = &rt.revocation;
        let name = rt.info.name.clone();
        let now = whole_seconds(self.clock.now());
        let scan = self
            .store
            .scan_revoked(RevokedQuery {
                ca: name.clone(),
                shard,
                changed_after: base.as_ref().map(|b| b.revocation_seq),
                expired_before: now.checked_sub(cfg.keep_expired).unwrap_or(now),
            })
            .await
            .map_err(|e| internal("store", &e))?;
        let number = self.current(state, shard).last_number + 1;
        let (period, overlap) = match &base {
            None => (cfg.crl_period, cfg.crl_overlap),
            Some(_) => (
                cfg.delta_period.unwrap_or(cfg.crl_period),
                cfg.delta_overlap,
            ),
        };
        let next_update = now + period + overlap;
        let scope_url = cfg.crl_url(&name, shard);
        let delta_url = cfg.delta_url(&name, shard);
        let delta_base = base.as_ref().map(|b| b.number);
        let job_state = Arc::clone(state);
        let job_url = scope_url.clone();
        let revocation_seq = scan.revocation_seq;
        let rows = scan.rows;
        let (der, entries) = self
            .pool
            .run(move || {
                let rt = &job_state.runtime;
                let params = CrlParams {
                    issuer: &rt.info.subject,
                    signature: rt.signer.algorithm(),
                    this_update: now,
                    next_update,
                    number,
                    authority_key_id: &job_state.authority_key_id,
                    delta_base,
                    distribution_point: job_url.as_deref(),
                    freshest: if delta_base.is_none() {
                        delta_url.as_deref()
                    } else {
                        None
                    },
                };
                let mut writer = CrlWriter::new(&params, rows.len()).map_err(|e| e.to_string())?;
                for row in &rows {
                    let entry = match &row.revocation {
                        Some(r) => RevokedEntry {
                            serial: row.serial.as_bytes(),
                            revoked_at: r.at,
                            reason: Some(r.reason.code()),
                            invalidity_date: r.invalidity_date,
                        },
                        // Released from hold since the base (deltas only).
                        None => RevokedEntry {
                            serial: row.serial.as_bytes(),
                            revoked_at: row.changed_at,
                            reason: Some(REMOVE_FROM_CRL),
                            invalidity_date: None,
                        },
                    };
                    writer.push(&entry).map_err(|e| e.to_string())?;
                }
                drop(rows);
                let signature = rt.signer.sign(writer.tbs()).map_err(|e| e.to_string())?;
                let entries = writer.count();
                let der = writer.assemble(&signature).map_err(|e| e.to_string())?;
                Ok::<_, String>((der, entries))
            })
            .await
            .map_err(|e| internal("worker pool", &e))?
            .map_err(|e| internal("building a CRL", &e))?;
        let details = crate::admin::JsonObject::new()
            .num("shard", u64::from(shard))
            .num("number", number)
            .opt_num("delta_base", delta_base)
            .num("entries", entries)
            .num("this_update", crate::admin::unix(now))
            .num("next_update", crate::admin::unix(next_update))
            .opt_str("url", scope_url.as_deref())
            .finish();
        let audit = NewAudit {
            at: now,
            actor: actor.to_string(),
            action: "crl-publish".into(),
            ca: Some(name.clone()),
            target: AuditTarget::Other(format!("{name}/crl/{shard}/{number}")),
            details: details.clone(),
        };
        let der = Arc::new(der);
        self.store
            .store_crl(NewCrl {
                ca: name.clone(),
                shard,
                number,
                delta_base,
                revocation_seq,
                this_update: now,
                next_update,
                entries,
                der: Arc::clone(&der),
                events: vec![(Event::CrlIssued, details)],
                audit: vec![audit],
            })
            .await
            .map_err(|e| internal("store", &e))?;
        let published = Arc::new(PublishedCrl {
            number,
            shard,
            delta_base,
            revocation_seq,
            this_update: now,
            next_update,
            entries,
            der,
        });
        if let Ok(mut crls) = state.revocation.crls.write() {
            let entry = crls.entry(shard).or_default();
            entry.last_number = number;
            if delta_base.is_some() {
                entry.delta = Some(published);
            } else {
                entry.base = Some(published);
            }
        }
        self.wake();
        tracing::info!(ca = %name, shard, number, ?delta_base, entries, "CRL published");
        Ok(PublishedSummary {
            shard,
            number,
            delta_base,
            entries,
            this_update: now,
            next_update,
            url: match delta_base {
                None => scope_url,
                Some(_) => cfg.delta_url(&name, shard),
            },
        })
    }

    /// The newest full (`delta = false`) or delta CRL of a shard, for `/crl/...`.
    pub fn crl(&self, ca: &str, shard: u32, delta: bool) -> Option<Arc<PublishedCrl>> {
        let state = self.resolve(ca).ok()?;
        let crls = self.current(state, shard);
        if delta { crls.delta } else { crls.base }
    }

    /// Stored CRLs of a CA, newest first (metadata only). Admin, manager or auditor.
    pub async fn list_crls(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        limit: u32,
    ) -> Result<Vec<CrlRecord>, EnrollError> {
        let state = self.resolve(ca)?;
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        let allowed = [Role::Admin, Role::Manager, Role::Auditor]
            .into_iter()
            .any(|r| who.authorize(r, Some(&name), self.separation).is_ok());
        if !allowed {
            who.authorize(Role::Admin, Some(&name), self.separation)?;
        }
        self.store
            .list_crls(&name, limit.clamp(1, 1000))
            .await
            .map_err(|e| internal("store", &e))
    }

    /// The URL a shard's full or delta CRL is published at, if a public URL is set.
    pub fn crl_url(&self, ca: &str, shard: u32, delta: bool) -> Option<String> {
        let state = self.resolve(ca).ok()?;
        let cfg = &state.runtime.revocation;
        let name = &state.runtime.info.name;
        if delta {
            cfg.delta_url(name, shard)
        } else {
            cfg.crl_url(name, shard)
        }
    }
}

/// A number field of a `CrlIssued` event's details, which [`crate::admin::JsonObject`] wrote
/// (`{"shard":0,"number":3,...}`: no whitespace, keys never repeated), so finding `"key":`
/// is enough; this crate has no JSON parser.
fn details_u64(details: &str, key: &str) -> Option<u64> {
    let start = details.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = details.get(start..)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::details_u64;
    use crate::admin::JsonObject;

    #[test]
    fn crl_event_details_give_their_numbers() {
        let details = JsonObject::new()
            .num("shard", 2)
            .num("number", 17)
            .opt_num("delta_base", Some(15))
            .num("entries", 4)
            .opt_str("url", Some("http://x/crl/demo/2.crl"))
            .finish();
        assert_eq!(details_u64(&details, "shard"), Some(2));
        assert_eq!(details_u64(&details, "number"), Some(17));
        assert_eq!(details_u64(&details, "delta_base"), Some(15));
        let full = JsonObject::new().num("shard", 0).num("number", 3).finish();
        assert_eq!(details_u64(&full, "delta_base"), None);
        assert_eq!(details_u64("{}", "number"), None);
    }
}
