//! The maintenance loop: every second it renews the leases this node holds
//! (`Authority::renew_leases`) and publishes due CRLs and renews OCSP responder certificates
//! where this node holds the CA's lease (`Authority::revocation_tick`); every
//! `[server] cluster_sync` it runs the cluster sync (`Authority::cluster_sync`), which brings
//! this node's caches up to what other nodes on the same database wrote.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use signet_core::Authority;

use crate::config::ServerConfig;

/// The maintenance tick: lease renewal and due publications.
const TICK: Duration = Duration::from_secs(1);

/// `[server] cluster_sync`: from 100 ms to a minute (a node may be this stale).
pub fn sync_interval(server: &ServerConfig) -> Result<Duration> {
    server
        .cluster_sync
        .within(Duration::from_millis(100), Duration::from_secs(60))
        .context("[server] cluster_sync")
}

/// Renews leases, publishes due CRLs, renews OCSP responder certificates and runs the
/// cluster sync.
pub struct Maintenance {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Maintenance {
    /// Starts the loop; `sync` is the cluster sync interval ([`sync_interval`]).
    pub fn spawn(authority: Arc<Authority>, sync: Duration) -> Maintenance {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sync = tokio::time::interval(sync);
            sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        authority.renew_leases().await;
                        authority.revocation_tick().await;
                    }
                    _ = sync.tick() => authority.cluster_sync().await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Maintenance { stop, task }
    }

    /// Stops the loop (the leases stay held until `Authority::release_leases`, after the
    /// last delivery pass and checkpoint).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_interval_defaults_to_a_second_and_is_bounded() {
        let mut server = ServerConfig::default();
        assert_eq!(
            sync_interval(&server).expect("valid"),
            Duration::from_secs(1)
        );
        server.cluster_sync = "250ms".into();
        assert_eq!(
            sync_interval(&server).expect("valid"),
            Duration::from_millis(250)
        );
        for bad in ["0s", "10ms", "2m", "soon"] {
            server.cluster_sync = bad.into();
            assert!(sync_interval(&server).is_err(), "{bad}");
        }
    }
}
