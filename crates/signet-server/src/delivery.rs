//! The exit delivery loop: runs `Authority::deliver` whenever a commit wakes it, and retries
//! with backoff while an exit module fails. Delivery is at least once and in outbox order;
//! unacknowledged events are picked up again after a restart because cursors are stored.

use std::sync::Arc;
use std::time::Duration;

use signet_core::Authority;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::Metrics;

/// A running delivery loop.
pub struct Delivery {
    notify: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Delivery {
    /// Starts the loop and registers its wake-up with the authority.
    pub fn spawn(authority: Arc<Authority>, metrics: Arc<Metrics>) -> Delivery {
        let notify = Arc::new(Notify::new());
        let waker = Arc::clone(&notify);
        authority.set_wake(Box::new(move || waker.notify_one()));
        let (stop, mut stopped) = watch::channel(false);
        let wake = Arc::clone(&notify);
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let report = authority.deliver().await;
                metrics.record_delivery(&report);
                let wait = if report.retry {
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    w
                } else {
                    backoff = Duration::from_millis(200);
                    Duration::from_secs(30)
                };
                let retrying = report.retry;
                tokio::select! {
                    // While a module is failing, new commits do not cut the backoff short.
                    _ = wake.notified(), if !retrying => {
                        // Coalesce a burst of commits into one pass.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        Delivery { notify, stop, task }
    }

    /// Wakes the loop now.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Stops the loop (after its current pass).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
