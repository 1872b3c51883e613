//! Revocation as front ends see it: the public surface relying parties reach (CRLs and
//! OCSP, [`PublicRevocation`]), revocation by a certificate's holder ([`HolderRevocation`],
//! for ACME `revokeCert` and CMP `rr`), and the answer types.

use std::sync::Arc;
use std::time::SystemTime;

use signet_x509::ocsp::{self, ResponseStatus};

use crate::BoxFuture;
use crate::enroll::EnrollError;
use crate::ids::{CaName, SerialNumber};
use crate::model::{RequestRecord, RevocationReason};

/// A stored CRL (`der` is empty in listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRecord {
    pub ca: CaName,
    pub shard: u32,
    pub number: u64,
    pub delta_base: Option<u64>,
    pub revocation_seq: u64,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    pub entries: u64,
    pub der: Vec<u8>,
}

/// A published CRL as served.
#[derive(Debug, Clone)]
pub struct PublishedCrl {
    pub number: u64,
    pub shard: u32,
    pub delta_base: Option<u64>,
    pub revocation_seq: u64,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    pub entries: u64,
    pub der: Arc<Vec<u8>>,
}

impl From<CrlRecord> for PublishedCrl {
    fn from(r: CrlRecord) -> Self {
        PublishedCrl {
            number: r.number,
            shard: r.shard,
            delta_base: r.delta_base,
            revocation_seq: r.revocation_seq,
            this_update: r.this_update,
            next_update: r.next_update,
            entries: r.entries,
            der: Arc::new(r.der),
        }
    }
}

/// An OCSP answer for the HTTP layer.
#[derive(Debug, Clone)]
pub struct OcspReply {
    pub der: Arc<[u8]>,
    /// For `Cache-Control`/`Expires`: set on cacheable successful responses.
    pub this_update: Option<SystemTime>,
    pub next_update: Option<SystemTime>,
    /// A cacheable answer whose every status is one the CA knows (good or revoked), which
    /// changes only with a revocation change. An `unknown` may turn into `good` without one
    /// (a certificate imported later), so answer caches keep only settled answers.
    pub settled: bool,
}

impl OcspReply {
    /// `unauthorized`: not a CA of this server.
    pub fn unauthorized() -> OcspReply {
        OcspReply::error(ResponseStatus::Unauthorized)
    }

    /// `malformedRequest`, for what the HTTP layer cannot even decode.
    pub fn malformed() -> OcspReply {
        OcspReply::error(ResponseStatus::MalformedRequest)
    }

    /// An error response with no body (`unauthorized`, `tryLater`, ...).
    pub fn error(status: ResponseStatus) -> OcspReply {
        OcspReply {
            der: ocsp::error_response(status).into(),
            this_update: None,
            next_update: None,
            settled: false,
        }
    }
}

/// What one publication produced.
#[derive(Debug, Clone)]
pub struct PublishedSummary {
    pub shard: u32,
    pub number: u64,
    pub delta_base: Option<u64>,
    pub entries: u64,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    pub url: Option<String>,
}

/// A revocation asked for by the certificate's holder, who proved it to the front end
/// (ACME: the certificate's key or an account holding it; CMP: a signed `rr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderRequest {
    pub serial: SerialNumber,
    /// `certificateHold` is refused: a holder cannot release a hold.
    pub reason: RevocationReason,
    /// Who asked, as the audit log's actor (e.g. `acme-account-12`).
    pub holder: String,
    /// How possession was proved, for the audit log (e.g. `acme:certificate-key`).
    pub proof: String,
}

/// What relying parties read: CRLs and OCSP answers (no authentication).
pub trait PublicRevocation: Send + Sync {
    /// The newest full (`delta = false`) or delta CRL of a partition, if published.
    fn crl(&self, ca: &CaName, shard: u32, delta: bool) -> Option<Arc<PublishedCrl>>;
    /// The URL a partition's CRL is published at, if a public URL is set.
    fn crl_url(&self, ca: &CaName, shard: u32, delta: bool) -> Option<String>;
    /// Answers an OCSP request (DER): `malformedRequest` for what does not parse,
    /// `unauthorized` for another issuer's certificates.
    fn ocsp<'a>(&'a self, ca: &'a CaName, request: &'a [u8]) -> BoxFuture<'a, OcspReply>;
    /// A number that changes whenever an OCSP answer of the CA may have changed; a finished
    /// answer cached while it was `g` may be served again while it is still `g` (and before
    /// its own refresh time). Read before asking. `None` for an unknown CA.
    fn ocsp_generation(&self, ca: &CaName) -> Option<u64>;
    /// The CA certificate of one key index of a CA (what the AIA caIssuers URL of that key's
    /// certificates names), if the CA has that key.
    fn key_certificate(&self, ca: &CaName, key: u32) -> Option<Vec<u8>>;
    /// The cross certificates of a CA (a root renewed with a new key), DER.
    fn cross_certificates(&self, ca: &CaName) -> Vec<Vec<u8>>;
    /// SCEP GetNextCACert: after a renewal with a new key, the CA's chain and `extra` in a
    /// CMS SignedData signed by the previous key; `None` when there was no such renewal.
    fn next_ca_certificates<'a>(
        &'a self,
        ca: &'a CaName,
        extra: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, EnrollError>>;
}

/// Revocation on behalf of a certificate's holder. The front end proves possession; the
/// engine checks the serial belongs to the CA and records who asked and why.
pub trait HolderRevocation: Send + Sync {
    fn revoke_as_holder<'a>(
        &'a self,
        ca: &'a CaName,
        request: HolderRequest,
    ) -> BoxFuture<'a, Result<RequestRecord, EnrollError>>;
}

/// Shards set aside for each key index: more than the most CRL partitions a CA may have (4096).
pub const SHARDS_PER_KEY: u32 = 65_536;

/// Which CRL a certificate is on: the CA key that issued it and its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrlScope {
    /// The CA key index (0 until the first renewal with a new key).
    pub key: u32,
    /// The CRL partition: 0 the main CRL, 1..=N the partitions.
    pub partition: u32,
}

impl CrlScope {
    /// The scope a stored shard number stands for.
    pub fn of_shard(shard: u32) -> CrlScope {
        CrlScope {
            key: shard / SHARDS_PER_KEY,
            partition: shard % SHARDS_PER_KEY,
        }
    }

    /// The shard number stored with the certificates of this scope.
    pub fn shard(self) -> u32 {
        self.key
            .saturating_mul(SHARDS_PER_KEY)
            .saturating_add(self.partition)
    }
}

/// Splits the key index off a name in a public URL: `demo(2)` is key 2 of CA `demo`, and
/// `demo` key 0 (AD CS names a renewed CA's CRLs and certificates so). `None` for a suffix
/// that is not a key index in canonical form (`demo(0)`, `demo(01)`): one URL per object.
pub fn split_key_index(name: &str) -> Option<(&str, u32)> {
    let Some(inner) = name.strip_suffix(')') else {
        return Some((name, 0));
    };
    let (ca, index) = inner.rsplit_once('(')?;
    let key = index.parse::<u32>().ok().filter(|&k| k > 0)?;
    (key.to_string() == index && !ca.is_empty()).then_some((ca, key))
}
