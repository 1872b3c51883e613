//! Open transactions, by (CA, transactionID): a request waiting for a manager (answered
//! `waiting`; the client polls), or a certificate waiting for the client's certConf.
//!
//! In memory and bounded ([`MAX_ENTRIES`]); a waiting request is forgotten after
//! [`WAITING_LIFETIME`]. A certificate not confirmed by its deadline is revoked
//! (`Cmp::expire_unconfirmed`). After a restart the map is empty: a client polling for a
//! request it no longer finds gets badRequest, and a certificate issued but unconfirmed
//! before the restart stays valid (its request and certificate are on record like any).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use signet_api::{Identity, RequestId, SerialNumber};

/// Most transactions open at once; a new one past this is refused (systemUnavail).
pub const MAX_ENTRIES: usize = 10_000;
/// How long a request waiting for a manager is remembered.
pub const WAITING_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which answer a transaction's request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Ip,
    Cp,
    Kup,
}

/// Where a transaction stands.
#[derive(Clone, Debug)]
pub enum Stage {
    /// The request is on its way to the CA (the transactionID is taken).
    Submitting,
    /// The request waits for a manager.
    Waiting { request: RequestId },
    /// The certificate waits for certConf until `deadline`.
    Confirm {
        serial: SerialNumber,
        certificate: Vec<u8>,
        deadline: Instant,
    },
}

/// One open transaction.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// Who opened it: only they may poll or confirm.
    pub identity: Identity,
    pub reply: Reply,
    pub cert_req_id: i64,
    pub stage: Stage,
    pub opened: Instant,
}

/// The map key: the CA and the transactionID.
pub type Key = (String, Vec<u8>);

pub struct Transactions {
    map: Mutex<HashMap<Key, Transaction>>,
}

/// Why a transaction could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The transactionID is open already.
    InUse,
    /// [`MAX_ENTRIES`] are open.
    Full,
}

impl Transactions {
    pub fn new() -> Transactions {
        Transactions {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Transaction>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the transaction `key`, which must not be open (checked and taken under one
    /// lock, so two messages with one transactionID cannot both start).
    pub fn open(&self, key: Key, t: Transaction) -> Result<(), Refused> {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|t| !forgotten(t)) {
            return Err(Refused::InUse);
        }
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, t| !forgotten(t));
            if map.len() >= MAX_ENTRIES {
                return Err(Refused::Full);
            }
        }
        map.insert(key, t);
        Ok(())
    }

    /// Moves the open transaction `key` on.
    pub fn update(&self, key: Key, t: Transaction) {
        self.lock().insert(key, t);
    }

    pub fn get(&self, key: &Key) -> Option<Transaction> {
        self.lock().get(key).filter(|t| !forgotten(t)).cloned()
    }

    pub fn remove(&self, key: &Key) -> Option<Transaction> {
        self.lock().remove(key)
    }

    /// Removes and returns the transactions whose certificate's confirmation is overdue,
    /// and forgets old waiting ones.
    pub fn take_overdue(&self, now: Instant) -> Vec<(Key, Transaction)> {
        let mut map = self.lock();
        map.retain(|_, t| !forgotten(t));
        let overdue: Vec<Key> = map
            .iter()
            .filter(|(_, t)| matches!(t.stage, Stage::Confirm { deadline, .. } if deadline <= now))
            .map(|(k, _)| k.clone())
            .collect();
        overdue
            .into_iter()
            .filter_map(|k| map.remove(&k).map(|t| (k, t)))
            .collect()
    }
}

fn forgotten(t: &Transaction) -> bool {
    matches!(t.stage, Stage::Waiting { .. }) && t.opened.elapsed() >= WAITING_LIFETIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_api::{CaName, Roles};

    fn transaction(stage: Stage) -> Transaction {
        Transaction {
            identity: Identity {
                name: "dev".into(),
                roles: Roles::default(),
                cas: vec![CaName::new("ca").expect("name")],
                groups: Vec::new(),
                via: "test".into(),
            },
            reply: Reply::Ip,
            cert_req_id: 0,
            stage,
            opened: Instant::now(),
        }
    }

    #[test]
    fn a_transaction_id_opens_once_and_overdue_confirmations_come_out() {
        let t = Transactions::new();
        let key: Key = ("ca".into(), b"tx".to_vec());
        t.open(key.clone(), transaction(Stage::Submitting))
            .expect("opens");
        assert_eq!(
            t.open(key.clone(), transaction(Stage::Submitting)),
            Err(Refused::InUse)
        );
        let serial: SerialNumber = "01".parse().expect("serial");
        t.update(
            key.clone(),
            transaction(Stage::Confirm {
                serial,
                certificate: Vec::new(),
                deadline: Instant::now() + Duration::from_secs(60),
            }),
        );
        assert!(t.take_overdue(Instant::now()).is_empty());
        let overdue = t.take_overdue(Instant::now() + Duration::from_secs(61));
        assert_eq!(overdue.len(), 1);
        assert!(t.get(&key).is_none(), "taken out");
        t.open(key, transaction(Stage::Submitting))
            .expect("the id is free again");
    }
}
