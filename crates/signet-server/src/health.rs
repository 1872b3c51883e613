//! `/healthz`: whether this node can reach its database and sign with its CA keys, and
//! whether its clock lets it sign. A load
//! balancer sends traffic only to nodes that answer 200; a node that lost the database, or
//! whose CA key (on a token or HSM) cannot sign, answers 503 with the reason, and 200 again
//! once the checks succeed (no restart). The checks run in the background (see `signet
//! serve`), so answering `/healthz` costs no database work and no signature.

use std::collections::BTreeMap;
use std::sync::RwLock;

/// What the last checks found.
#[derive(Debug, Default)]
pub struct Health {
    /// `None`: reachable; `Some(why)`: the last check failed.
    database: RwLock<Option<String>>,
    /// CAs whose key failed its last check, and why.
    keys: RwLock<BTreeMap<String, String>>,
    /// `Some(why)`: the engine signs nothing because the clock is behind the newest time
    /// on record.
    clock: RwLock<Option<String>>,
}

impl Health {
    /// Records a check's outcome (`None`: reachable; `Some(why)`: not); returns whether the
    /// state changed (for logging).
    pub fn set_database(&self, problem: Option<String>) -> bool {
        let mut current = self
            .database
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = current.is_some() != problem.is_some();
        *current = problem;
        changed
    }

    /// Records a CA key's check (`None`: it signs; `Some(why)`: it cannot); returns whether
    /// the state changed.
    pub fn set_key(&self, ca: &str, problem: Option<String>) -> bool {
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match problem {
            Some(why) => keys.insert(ca.to_owned(), why).is_none(),
            None => keys.remove(ca).is_some(),
        }
    }

    /// Records the clock check (`None`: the engine may sign; `Some(why)`: the clock is
    /// behind the newest time on record); returns whether the state changed.
    pub fn set_clock(&self, problem: Option<String>) -> bool {
        let mut current = self
            .clock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = current.is_some() != problem.is_some();
        *current = problem;
        changed
    }

    /// Why the node is unhealthy, if it is: the database, then each CA key that cannot sign,
    /// then the clock.
    pub fn problem(&self) -> Option<String> {
        let mut problems: Vec<String> = self
            .database
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        problems.extend(
            self.keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|(ca, why)| format!("the key of CA {ca} cannot sign: {why}")),
        );
        problems.extend(
            self.clock
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}
