//! Replay nonces (RFC 8555 §6.5) that need no shared in-memory table: each nonce carries its
//! issue time and a MAC by a key every node shares, so any node can tell a nonce it (or a
//! peer) minted, and how old it is. Single use is the caller's: a [`NonceLedger`] records
//! each nonce's id until it expires (in memory here; durable in the store later).
//!
//! Format: `base64url(issued_at_secs (8 bytes, big-endian) ‖ id (16 random bytes) ‖
//! HMAC-SHA256(key, the first 24 bytes) truncated to 16 bytes)`, 54 characters.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, hmac, rand};

use crate::b64;
use crate::problem::{AcmeError, ProblemType};

/// Bytes of a decoded nonce.
pub const NONCE_BYTES: usize = 8 + 16 + 16;
/// Characters of an encoded nonce.
pub const NONCE_CHARS: usize = 54;
/// How far in the future a nonce's issue time may be (clock skew between nodes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

const MAC_BYTES: usize = 16;

/// Why a nonce was refused; all are `badNonce` but a failing random generator.
#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    /// Not a nonce of this format (length, alphabet).
    #[error("the nonce is not one this server issued")]
    Malformed,
    /// The MAC does not verify (another key, or altered).
    #[error("the nonce is not authentic")]
    BadMac,
    /// Older than the maximum age.
    #[error("the nonce has expired")]
    Expired,
    /// Issued further in the future than [`MAX_CLOCK_SKEW`].
    #[error("the nonce is dated in the future")]
    FromFuture,
    /// Already used (or the ledger is full and refuses new entries).
    #[error("the nonce was already used")]
    Replayed,
    /// The system random generator failed.
    #[error("the random generator failed")]
    Random,
}

impl AcmeError for NonceError {
    fn problem_type(&self) -> ProblemType {
        match self {
            NonceError::Random => ProblemType::ServerInternal,
            NonceError::Malformed
            | NonceError::BadMac
            | NonceError::Expired
            | NonceError::FromFuture
            | NonceError::Replayed => ProblemType::BadNonce,
        }
    }
}

/// A nonce that authenticated and is within its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedNonce {
    /// The random part: the key of the replay ledger.
    pub id: [u8; 16],
    /// When it was minted (whole seconds).
    pub issued_at: SystemTime,
    /// When it stops being accepted (`issued_at + max_age`).
    pub expires: SystemTime,
}

/// The secret that mints and checks nonces; the same on every node of a cluster.
pub struct NonceKey {
    key: hmac::Key,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A key from a 32-byte secret.
    pub fn new(secret: &[u8; 32]) -> Self {
        NonceKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A fresh random key (for a single node, or tests).
    pub fn generate() -> Result<Self, NonceError> {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret).map_err(|_| NonceError::Random)?;
        Ok(Self::new(&secret))
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_BYTES] {
        let tag = hmac::sign(&self.key, body);
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
        out
    }

    /// Mints a nonce dated `now`.
    pub fn mint(&self, now: SystemTime) -> Result<String, NonceError> {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut raw = [0u8; NONCE_BYTES];
        raw[..8].copy_from_slice(&secs.to_be_bytes());
        rand::fill(&mut raw[8..24]).map_err(|_| NonceError::Random)?;
        let mac = self.mac(&raw[..24]);
        raw[24..].copy_from_slice(&mac);
        Ok(b64::encode(&raw))
    }

    /// Authenticates `nonce` and checks its age against `now`; does not record its use
    /// (see [`consume`]).
    pub fn check(
        &self,
        nonce: &str,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<CheckedNonce, NonceError> {
        if nonce.len() != NONCE_CHARS {
            return Err(NonceError::Malformed);
        }
        let raw = b64::decode(nonce, NONCE_CHARS).map_err(|_| NonceError::Malformed)?;
        if raw.len() != NONCE_BYTES {
            return Err(NonceError::Malformed);
        }
        let mac = self.mac(&raw[..24]);
        constant_time::verify_slices_are_equal(&mac, &raw[24..]).map_err(|_| NonceError::BadMac)?;
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&raw[..8]);
        let issued_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(u64::from_be_bytes(secs)))
            .ok_or(NonceError::Malformed)?;
        let expires = issued_at
            .checked_add(max_age)
            .ok_or(NonceError::Malformed)?;
        if now >= expires {
            return Err(NonceError::Expired);
        }
        if issued_at > now + MAX_CLOCK_SKEW {
            return Err(NonceError::FromFuture);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&raw[8..24]);
        Ok(CheckedNonce {
            id,
            issued_at,
            expires,
        })
    }
}

/// Records which nonces were used. Implementations must be atomic: of two concurrent calls
/// with the same id, exactly one returns `true`.
pub trait NonceLedger: Send + Sync {
    /// Records `nonce_id` as used until `expires`; `true` the first time, `false` if it was
    /// already recorded (or cannot be recorded: refusing is the safe answer).
    fn first_use(&self, nonce_id: &[u8; 16], expires: SystemTime) -> bool;
}

/// Checks a nonce and records its use: what a request handler calls.
pub fn consume(
    key: &NonceKey,
    ledger: &dyn NonceLedger,
    nonce: &str,
    now: SystemTime,
    max_age: Duration,
) -> Result<CheckedNonce, NonceError> {
    let checked = key.check(nonce, now, max_age)?;
    if ledger.first_use(&checked.id, checked.expires) {
        Ok(checked)
    } else {
        Err(NonceError::Replayed)
    }
}

/// An in-memory ledger for one node, bounded in two ways: entries are dropped once expired
/// (without a clock: a nonce expiring at `E` was checked at a time ≥ `E - max_age -
/// MAX_CLOCK_SKEW`, so
/// entries that expired before that are dead), and at most `capacity` entries are kept
/// (beyond that, new nonces are refused until old ones expire).
pub struct MemoryNonceLedger {
    max_age: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    used: HashMap<[u8; 16], SystemTime>,
    latest: SystemTime,
}

impl fmt::Debug for MemoryNonceLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.len();
        f.debug_struct("MemoryNonceLedger")
            .field("max_age", &self.max_age)
            .field("capacity", &self.capacity)
            .field("len", &len)
            .finish()
    }
}

impl MemoryNonceLedger {
    /// A ledger for nonces checked with `max_age`, holding at most `capacity` entries.
    pub fn new(max_age: Duration, capacity: usize) -> Self {
        MemoryNonceLedger {
            max_age,
            capacity,
            inner: Mutex::new(Inner {
                used: HashMap::new(),
                latest: UNIX_EPOCH,
            }),
        }
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used
            .len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceLedger for MemoryNonceLedger {
    fn first_use(&self, nonce_id: &[u8; 16], expires: SystemTime) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.used.contains_key(nonce_id) {
            return false;
        }
        inner.latest = inner.latest.max(expires);
        if inner.used.len() >= self.capacity {
            // Everything that expired before the oldest possible "now" is dead: the latest
            // entry was checked no earlier than its issue time less the clock skew.
            if let Some(horizon) = inner.latest.checked_sub(self.max_age + MAX_CLOCK_SKEW) {
                inner.used.retain(|_, e| *e >= horizon);
            }
            if inner.used.len() >= self.capacity {
                return false;
            }
        }
        inner.used.insert(*nonce_id, expires);
        true
    }
}
