//! The maintenance loop: publishes due CRLs and renews OCSP responder certificates, once a
//! second (`Authority::revocation_tick`).

use std::sync::Arc;
use std::time::Duration;

use signet_core::Authority;

/// Publishes due CRLs and renews OCSP responder certificates, once a second.
pub struct Maintenance {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Maintenance {
    pub fn spawn(authority: Arc<Authority>) -> Maintenance {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => authority.revocation_tick().await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Maintenance { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
