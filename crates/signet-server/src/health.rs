//! `/healthz`: whether this node can reach its database. A load balancer sends traffic only
//! to nodes that answer 200; a node that lost the database answers 503 with the reason, and
//! 200 again once a check succeeds (no restart). The checks run in the background (see
//! `signet serve`), so answering `/healthz` costs no database work.

use std::sync::RwLock;

/// What the last database check found.
#[derive(Debug, Default)]
pub struct Health {
    /// `None`: reachable; `Some(why)`: the last check failed.
    database: RwLock<Option<String>>,
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

    /// Why the node is unhealthy, if it is.
    pub fn problem(&self) -> Option<String> {
        self.database
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
