//! Exit delivery tasks: one tokio task per (CA, exit module) pair, each running
//! `Authority::deliver_exit` whenever a commit wakes it or its module's next attempt is due.
//! A slow or failing module therefore delays only itself. Delivery is at least once and in
//! outbox order per module; cursors, attempts and next-attempt times are stored, so after a
//! restart a module in backoff keeps its schedule.
//!
//! With several nodes on one database every node runs these tasks, but only the node
//! holding a module's lease (`exit/{ca}/{exit}`) delivers to it; on the others a step only
//! reads the cursor and answers `Idle`. The cluster sync wakes the tasks when the outbox grew
//! (events committed on another node) and every few seconds, so a node takes a module over
//! soon after its holder stopped renewing the lease.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use signet_core::{Authority, NextRun};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use signet_server::Metrics;

/// How long an idle task sleeps before it looks at the outbox anyway.
const IDLE: Duration = Duration::from_secs(30);
/// The wait after a store error (the module's own errors follow its backoff).
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The running delivery tasks.
pub struct Delivery {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Delivery {
    /// Starts one task per (CA, exit module) and registers their wake-up with the authority.
    pub fn spawn(authority: Arc<Authority>, metrics: Arc<Metrics>) -> Delivery {
        let (stop, stopped) = watch::channel(false);
        let mut wakers = Vec::new();
        let mut tasks = Vec::new();
        for (ca, exit) in authority.exit_pairs() {
            let wake = Arc::new(Notify::new());
            wakers.push(Arc::clone(&wake));
            let authority = Arc::clone(&authority);
            let metrics = Arc::clone(&metrics);
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let wait = match authority.deliver_exit(&ca, &exit).await {
                        Ok(step) => {
                            metrics.record_exit_step(ca.as_str(), &exit, &step);
                            match step.next {
                                NextRun::Now => Duration::ZERO,
                                NextRun::Idle => IDLE,
                                NextRun::At(at) => {
                                    at.duration_since(SystemTime::now()).unwrap_or_default()
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(ca = %ca, exit, error = %signet_server::untrusted::Untrusted(&e.to_string()), "exit delivery failed; will retry");
                            STORE_RETRY
                        }
                    };
                    if wait.is_zero() {
                        if *stopped.borrow() {
                            return;
                        }
                        continue;
                    }
                    tokio::select! {
                        // A commit (or an administrator's skip) wakes the task; while the
                        // module is in backoff, `deliver_exit` only reads its state and
                        // returns the same due time.
                        _ = wake.notified() => {
                            // Coalesce a burst of commits into one step.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }));
        }
        authority.set_wake(Box::new(move || {
            for w in wakers.iter() {
                w.notify_one();
            }
        }));
        Delivery { stop, tasks }
    }

    /// Stops the tasks. A task in the middle of a notification finishes it first, but a
    /// module that hangs is not waited for beyond `grace`.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let grace = Duration::from_secs(15);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(grace, t).await.is_err() {
                abort.abort();
            }
        }
    }
}
