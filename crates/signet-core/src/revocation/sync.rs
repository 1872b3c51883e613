//! The cluster sync's part in revocation (see [`crate::cluster`]): the CRLs and the
//! responder certificate another node made are loaded, and OCSP answers cached before a
//! revocation change made on another node are dropped.

use super::*;

/// A CA with more CRL partitions than this has its whole OCSP cache dropped when a
/// revocation of it changed elsewhere, rather than one store read per partition each step
/// (the store has no read of a CA's changed serials across partitions).
const MAX_PARTITION_SCANS: usize = 16;

/// A `changed_after` no revocation reaches: the scan reads no row, only the CA's revocation
/// sequence number.
const PROBE: u64 = i64::MAX as u64;

/// The most stored CRL rows listed per shard to find newer numbers: the store keeps the
/// newest three full and three delta CRLs of each.
const LISTED_PER_SHARD: usize = 8;

impl Authority {
    /// Loads the CRLs another node stored since this node last looked: lists the CA's stored
    /// CRLs without their DER, and reads the newest ones with their DER only when a number
    /// is higher than this node knows. Answers whether anything newer was loaded.
    pub(crate) async fn sync_crls(&self, state: &Arc<CaState>) -> Result<bool, StoreError> {
        let name = &state.runtime.info.name;
        let shards = self.shards(state).len() + 1;
        let limit = u32::try_from(shards.saturating_mul(LISTED_PER_SHARD)).unwrap_or(u32::MAX);
        let listed = self.store.list_crls(name, limit).await?;
        let newer = match state.revocation.crls.read() {
            Ok(crls) => listed
                .iter()
                .any(|r| r.number > crls.get(&r.shard).map_or(0, |c| c.last_number)),
            Err(_) => true,
        };
        if !newer {
            return Ok(false);
        }
        let records = self.store.latest_crls(name).await?;
        let loaded = self.install_crls(state, records);
        if loaded {
            tracing::debug!(ca = %name, "newer CRLs loaded from the store");
        }
        Ok(loaded)
    }

    /// Drops the cached OCSP responses of every serial whose revocation changed (revoked,
    /// held, released) since the last step, on any node: the CA's revocation sequence number
    /// tells whether anything changed (one indexed read), and a scan of each partition's
    /// changes after the last number seen tells what. A response computed from a read made
    /// before the drop is not cached afterwards (the cache's epochs). This node's own changes
    /// were dropped when they were made; dropping them again costs a re-signed response.
    pub(crate) async fn sync_ocsp(&self, state: &Arc<CaState>) -> Result<(), StoreError> {
        let name = &state.runtime.info.name;
        let query = |shard: u32, after: u64| RevokedQuery {
            ca: name.clone(),
            shard,
            changed_after: Some(after),
            expired_before: std::time::UNIX_EPOCH,
        };
        let seq = self
            .store
            .scan_revoked(query(0, PROBE))
            .await?
            .revocation_seq;
        match state.cluster.get().revocation_seq {
            Some(seen) if seen == seq => return Ok(()),
            Some(seen) if seen < seq => {
                let shards = self.shards(state);
                if shards.len() > MAX_PARTITION_SCANS {
                    state.ocsp_cache.clear();
                } else {
                    let mut dropped = 0usize;
                    for shard in shards {
                        let scan = self.store.scan_revoked(query(shard, seen)).await?;
                        for row in &scan.rows {
                            state.ocsp_cache.invalidate(&row.serial);
                        }
                        dropped += scan.rows.len();
                    }
                    tracing::debug!(ca = %name, from = seen, to = seq, dropped, "OCSP answers of changed revocations dropped");
                }
            }
            // The first look (at start the cache is empty), or the number went back (a
            // restored database): nothing cached is trusted.
            _ => state.ocsp_cache.clear(),
        }
        state.cluster.update(|s| s.revocation_seq = Some(seq));
        Ok(())
    }

    /// Takes up the delegated responder certificate another node issued: the stored one,
    /// when it is newer than this node's and its key opens here. A certificate whose key
    /// does not open is not tried again.
    pub(crate) async fn sync_responder(&self, state: &Arc<CaState>) {
        let rt = &state.runtime;
        if rt.revocation.responder != ResponderMode::Delegated {
            return;
        }
        let Some(factory) = self.key_factory.as_ref() else {
            return;
        };
        let stored = match self
            .store
            .current_responder(&rt.info.name, self.clock.now())
            .await
        {
            Ok(Some(stored)) => stored,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(ca = %rt.info.name, error = %Chain(&e), "cluster sync: could not read the stored OCSP responder certificate");
                return;
            }
        };
        let current = state.revocation.current_responder();
        let ours = current
            .as_ref()
            .is_some_and(|c| c.serial == Some(stored.serial) || c.not_before > stored.not_before);
        if ours || state.cluster.get().refused_responder == Some(stored.serial) {
            return;
        }
        let serial = stored.serial;
        match self.open_responder(state, factory, stored).await {
            Some(responder) => {
                if let Ok(mut r) = state.revocation.responder.write() {
                    *r = Some(Arc::new(responder));
                }
                // New responses name the new responder.
                state.ocsp_cache.clear();
                tracing::info!(ca = %rt.info.name, %serial, "OCSP responder certificate taken up from the store");
            }
            None => state.cluster.update(|s| s.refused_responder = Some(serial)),
        }
    }
}
