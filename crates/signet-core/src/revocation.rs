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
//! - An offline CA ([`crate::offline`]) publishes nothing here and has no responder: the CRLs
//!   `signet ca sign --offline --crl` stores are loaded like another node's.
//! - With several nodes, the node holding the lease `revocation/{ca}` publishes and renews
//!   (see [`crate::cluster`]). CRL numbers come from the store: the number is the highest
//!   stored one plus one, read before the scan, and recorded under the store's unique
//!   constraint (a `Conflict` reloads and, on demand, retries), so numbers stay unique and
//!   increasing across nodes, and a higher number never holds an older snapshot.
//! - OCSP: [`Authority::ocsp`] answers RFC 6960 requests (CertIDs hashed with SHA-1, SHA-256,
//!   SHA-384 or SHA-512). Single-certificate responses without a nonce are cached per serial
//!   and CertID (the response echoes the CertID, so each hash gets its own) and re-signed
//!   once half their validity has passed; a revocation change drops the serial's cached
//!   responses before the change is acknowledged.
//!
//! # Layout
//! - `revocation.rs`: the responder keys (`KeyFactory`, `SealedKey`), the per-CA state, the
//!   OCSP response cache and `OcspReply`.
//! - `revocation/config.rs`: `RevocationConfig` (`[ca.revocation]`) and its check.
//! - `revocation/crl.rs`: CRL publication (start, the maintenance tick, on demand) and the
//!   published CRLs.
//! - `revocation/answer.rs`: answering OCSP requests.
//! - `revocation/responder.rs`: the delegated responder certificate.
//! - `revocation/sync.rs`: the cluster sync's part: CRLs and the responder certificate
//!   other nodes made, OCSP answers whose revocation changed on another node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use signet_x509::crl::{CrlParams, CrlWriter, REMOVE_FROM_CRL, RevokedEntry};
use signet_x509::ocsp::{self, CertStatus, ResponseStatus, SingleResponse};
use signet_x509::{DistinguishedName, KeyAlgorithm, TbsCertificateParams, ext};

use crate::auth::{Identity, Role, require};
use crate::authority::{Authority, CLOCK_SKEW, CaState, Chain, CrlScope, internal, whole_seconds};
use crate::draft::ExtensionOrigin;
use crate::enroll::EnrollError;
use crate::event::Event;
use crate::ids::{CaName, SerialNumber};
use crate::model::{RequestStatus, StoredExtension};
use crate::pool::PoolError;
use crate::signer::{BuildError, Signer, SignerError};
use crate::store::{
    AuditTarget, CrlRecord, NewAudit, NewCertificate, NewCrl, NewRequest, RevokedQuery, StoreError,
};
pub use signet_api::revocation::{OcspReply, PublishedCrl, PublishedSummary};

mod answer;
mod config;
mod crl;
mod responder;
mod sync;

pub use answer::OcspError;
pub use config::{MAX_PARTITIONS, ResponderMode, RevocationConfig, RevocationConfigError};
pub use responder::ResponderError;

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
        Err(SignerError::Failed("this key factory keeps no keys".into()))
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
    /// The newest CRLs of each shard this node knows: its own, and those the cluster sync
    /// loaded from the store.
    crls: RwLock<HashMap<u32, ShardCrls>>,
    /// One publication at a time per CA on this node. Across nodes, the store's unique
    /// (CA, shard, number) constraint keeps numbers unique (see `revocation/crl.rs`).
    publishing: AtomicBool,
    responder: RwLock<Option<Arc<Responder>>>,
    /// Shards beyond the configured ones (an earlier configuration's partitions) that had
    /// CRLs or hold revoked certificates at start; read once, as new certificates only go to
    /// configured shards.
    extra_shards: RwLock<Vec<u32>>,
}

impl RevocationState {
    /// The responder in use now, if one is loaded.
    pub(crate) fn current_responder(&self) -> Option<Arc<Responder>> {
        self.responder.read().ok().and_then(|r| r.clone())
    }
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
    /// Bumped by every invalidation of any serial, after the shard's own epoch: a front end
    /// caching finished HTTP answers reads it before asking, and trusts an answer only while
    /// it has not moved ([`Authority::ocsp_generation`]).
    generation: std::sync::atomic::AtomicU64,
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
            generation: std::sync::atomic::AtomicU64::new(0),
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
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn clear(&self) {
        for s in &self.shards {
            if let Ok(mut shard) = s.lock() {
                shard.map.clear();
                shard.epoch += 1;
            }
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// How many invalidations there have been (see the field).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
