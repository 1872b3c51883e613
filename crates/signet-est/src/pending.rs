//! The requests answered 202 (pending a manager's decision). RFC 7030 §4.2.3 has the client
//! repeat the same request after `Retry-After`; EST has no request id on the wire, so the
//! server recognises the repetition by (CA, caller, SHA-256 of the CSR) and answers from the
//! request it already holds (`Enroll::retrieve`) instead of submitting it again.
//!
//! The map is in memory and bounded: at most [`MAX_ENTRIES`], each forgotten after
//! [`PENDING_LIFETIME`] or once answered with a final disposition. A client whose entry was
//! forgotten (a restart, eviction) submits a new request, which the manager sees as a
//! duplicate to deny.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use signet_api::RequestId;

/// Most requests remembered at once; the oldest goes first when full.
pub const MAX_ENTRIES: usize = 10_000;
/// How long a pending request is remembered (a week of a manager's absence).
pub const PENDING_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What identifies one repeated request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingKey {
    pub ca: String,
    /// The caller's name, lowercased (identity names compare case-insensitively).
    pub caller: String,
    pub csr_sha256: [u8; 32],
}

impl PendingKey {
    pub fn new(ca: &str, caller: &str, csr_der: &[u8]) -> PendingKey {
        PendingKey {
            ca: ca.to_owned(),
            caller: caller.to_ascii_lowercase(),
            csr_sha256: signet_x509::sha256(csr_der),
        }
    }
}

/// The bounded map of pending requests.
pub struct PendingRequests {
    max: usize,
    lifetime: Duration,
    map: Mutex<HashMap<PendingKey, (Instant, RequestId)>>,
}

impl PendingRequests {
    pub fn new(max: usize, lifetime: Duration) -> PendingRequests {
        PendingRequests {
            max,
            lifetime,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The request remembered for `key`, if it is not too old.
    pub fn get(&self, key: &PendingKey) -> Option<RequestId> {
        let map = self.lock();
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.lifetime)
            .map(|(_, id)| *id)
    }

    /// Remembers `id` for `key`, making room when full: expired entries first, then the
    /// oldest.
    pub fn insert(&self, key: PendingKey, id: RequestId) {
        let mut map = self.lock();
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (at, _)| at.elapsed() < self.lifetime);
            while map.len() >= self.max {
                let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                map.remove(&oldest);
            }
        }
        map.insert(key, (Instant::now(), id));
    }

    /// Forgets `key` (the request was decided).
    pub fn remove(&self, key: &PendingKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PendingKey, (Instant, RequestId)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> RequestId {
        RequestId::new(n).expect("id")
    }

    #[test]
    fn the_same_caller_and_csr_find_their_request() {
        let p = PendingRequests::new(10, PENDING_LIFETIME);
        p.insert(PendingKey::new("ca", "Dev1", b"csr"), id(7));
        assert_eq!(p.get(&PendingKey::new("ca", "dev1", b"csr")), Some(id(7)));
        assert_eq!(p.get(&PendingKey::new("ca", "dev2", b"csr")), None);
        assert_eq!(p.get(&PendingKey::new("ca", "dev1", b"other")), None);
        assert_eq!(p.get(&PendingKey::new("ca2", "dev1", b"csr")), None);
        p.remove(&PendingKey::new("ca", "dev1", b"csr"));
        assert_eq!(p.get(&PendingKey::new("ca", "dev1", b"csr")), None);
    }

    #[test]
    fn the_map_stays_bounded_and_forgets_old_entries() {
        let p = PendingRequests::new(3, PENDING_LIFETIME);
        for n in 1..=5 {
            p.insert(PendingKey::new("ca", "x", &[n as u8]), id(n));
        }
        assert_eq!(p.lock().len(), 3);
        assert_eq!(p.get(&PendingKey::new("ca", "x", &[1])), None);
        assert_eq!(p.get(&PendingKey::new("ca", "x", &[5])), Some(id(5)));
        let expired = PendingRequests::new(3, Duration::ZERO);
        expired.insert(PendingKey::new("ca", "x", b"a"), id(1));
        assert_eq!(expired.get(&PendingKey::new("ca", "x", b"a")), None);
    }
}
