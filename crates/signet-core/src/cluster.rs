//! Several nodes on one database: each `signet serve` process is a node, with its own
//! `Authority` and its own memory, and every node reads and writes the same store. Two
//! mechanisms keep the nodes right:
//!
//! - **Leases** for the work that must run on one node at a time. A lease is a row in the
//!   store ([`crate::store::Store::take_lease`]) that one node holds for [`LEASE_TTL`] and renews while it
//!   works; another node takes it over once it expires. This node acts on a lease only while
//!   [`Authority::holds_lease`] says so: [`LEASE_MARGIN`] before the stored expiry, so a node
//!   whose clock runs a little late never works next to the one that took over, and at once
//!   no longer when a renewal is refused or fails. The leases:
//!   - `revocation/{ca}` ([`revocation_lease`]): scheduled CRL publication and the
//!     delegated OCSP responder certificate's renewal (`Authority::revocation_tick`);
//!   - `exit/{ca}/{exit}` ([`exit_lease`]): delivery to one exit module
//!     (`Authority::deliver_exit`), checked again before each notification and each write
//!     of the module's cursor or failure state;
//!   - `audit-checkpoint` ([`AUDIT_CHECKPOINT_LEASE`]): signing audit checkpoints (the
//!     server's `Checkpointer`).
//! - **The cluster sync** ([`Authority::cluster_sync`]), a step every node runs every second
//!   (`[server] cluster_sync`). It brings what this node keeps in memory up to what other
//!   nodes wrote: API tokens (created or revoked
//!   elsewhere), the newest CRLs of each partition, the delegated OCSP responder certificate,
//!   and the OCSP response cache (a serial whose revocation changed is dropped). It also
//!   wakes the exit delivery tasks when a CA's outbox grew, so events committed on another
//!   node reach the lease holder's modules within one step.
//!
//! What a lease cannot promise, the store does: CRL numbers are taken from the store and
//! recorded under its unique (CA, partition, number) constraint, and checkpoint numbers
//! likewise, so two nodes that both believe they may publish get a `Conflict`, never a
//! duplicate.
//!
//! # Layout
//! - [`NodeId`]: who this process is (the holder named in lease rows).
//! - Lease names, [`LEASE_TTL`], [`LEASE_MARGIN`], `Leases` (what this node holds) and
//!   `Authority::{hold_lease, holds_lease, renew_leases, release_leases}`.
//! - `Authority::cluster_sync` and the token reload; the revocation parts (CRLs, responder,
//!   OCSP cache) are in `revocation/sync.rs`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::authority::{Authority, CaState, Chain};
use crate::ids::{CaName, SerialNumber};
use crate::store::{LeaseClaim, StoreError};

/// How long a claimed lease is held in the store: a node that stops renewing (it crashed, or
/// lost the database) is replaced after at most this long.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How long before the stored expiry this node stops acting on a lease: the clock skew
/// between nodes that leases tolerate.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// A lease claimed less than this long ago is not claimed again: a holder renews it at most
/// twice a second however often its work runs, and a node refused waits as long before it
/// asks again.
const RENEW_AFTER: Duration = Duration::from_millis(500);
/// Even when no outbox grew, the sync wakes the exit delivery tasks this often, so a node
/// waiting for an exit lease takes it over soon after its holder stopped renewing it.
const WAKE_EVERY: Duration = Duration::from_secs(5);
/// The longest node id.
pub const MAX_NODE_ID: usize = 128;

/// The lease of a CA's scheduled CRL publication and responder certificate renewal.
pub fn revocation_lease(ca: &CaName) -> String {
    format!("revocation/{ca}")
}

/// The lease of delivery to one exit module of a CA.
pub fn exit_lease(ca: &CaName, exit: &str) -> String {
    format!("exit/{ca}/{exit}")
}

/// The lease of audit checkpoint signing.
pub const AUDIT_CHECKPOINT_LEASE: &str = "audit-checkpoint";

/// This process's name among the nodes sharing a database: the holder a lease row names,
/// and a field of the start log line. Unique per process (the server makes it from the host
/// name, the process id and 32 random bits). 1 to [`MAX_NODE_ID`] printable ASCII
/// characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

/// Why a node id was refused.
#[derive(Debug, thiserror::Error)]
#[error("a node id is 1 to {MAX_NODE_ID} printable ASCII characters without spaces")]
pub struct InvalidNodeId;

impl NodeId {
    pub fn new(id: &str) -> Result<NodeId, InvalidNodeId> {
        let ok =
            !id.is_empty() && id.len() <= MAX_NODE_ID && id.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(NodeId(id.to_string()))
        } else {
            Err(InvalidNodeId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The leases this node claimed, and what the store answered.
#[derive(Default)]
pub(crate) struct Leases {
    map: Mutex<HashMap<String, LeaseState>>,
}

#[derive(Debug, Clone, Copy)]
struct LeaseState {
    /// When this node last claimed the lease (a store write).
    claimed_at: SystemTime,
    /// Until when this node may act on it; `None`: not held.
    valid_until: Option<SystemTime>,
}

impl Leases {
    /// The answer of a claim made less than [`RENEW_AFTER`] ago, if there is one: no store
    /// write is needed to know it.
    fn recent(&self, name: &str, now: SystemTime) -> Option<bool> {
        let map = self.map.lock().ok()?;
        let state = map.get(name)?;
        let age = now.duration_since(state.claimed_at).ok()?;
        (age < RENEW_AFTER).then(|| state.valid_until.is_some_and(|until| now < until))
    }

    /// Records a claim's answer; returns whether the lease was held before it.
    fn record(&self, name: &str, now: SystemTime, held: bool) -> bool {
        let Ok(mut map) = self.map.lock() else {
            return false;
        };
        let valid_until = held.then(|| now + LEASE_TTL - LEASE_MARGIN);
        let before = map.insert(
            name.to_string(),
            LeaseState {
                claimed_at: now,
                valid_until,
            },
        );
        before.is_some_and(|b| b.valid_until.is_some_and(|until| now < until))
    }

    fn valid(&self, name: &str, now: SystemTime) -> bool {
        self.map
            .lock()
            .ok()
            .and_then(|map| map.get(name).and_then(|s| s.valid_until))
            .is_some_and(|until| now < until)
    }

    /// The names of the leases this node holds (or held until its last claim).
    fn held(&self) -> Vec<String> {
        let Ok(map) = self.map.lock() else {
            return Vec::new();
        };
        let mut names: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.valid_until.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort_unstable();
        names
    }

    fn forget(&self, name: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(name);
        }
    }
}

/// What the cluster sync last saw of the whole store.
#[derive(Default)]
pub(crate) struct NodeSync {
    /// The tokens' marker when they were last loaded: an unchanged marker means unchanged
    /// tokens.
    tokens: Option<crate::store::TokenMarker>,
    /// When the delivery tasks were last woken by the sync.
    woken_at: Option<SystemTime>,
}

/// What the cluster sync last saw of one CA.
#[derive(Debug, Default)]
pub(crate) struct CaSync {
    inner: Mutex<CaSyncState>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CaSyncState {
    /// The CA's outbox head at the last sync: CRL publications, responder certificates and
    /// revocations all append outbox events, so an unchanged head means none of them
    /// happened.
    pub(crate) outbox_head: Option<u64>,
    /// The highest revocation sequence number whose changes the OCSP cache has dropped.
    pub(crate) revocation_seq: Option<u64>,
    /// A stored responder certificate this node could not take up (its key did not open):
    /// not tried again every second.
    pub(crate) refused_responder: Option<SerialNumber>,
}

impl CaSync {
    pub(crate) fn get(&self) -> CaSyncState {
        self.inner.lock().map(|s| *s).unwrap_or_default()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut CaSyncState)) {
        if let Ok(mut s) = self.inner.lock() {
            f(&mut s);
        }
    }
}

impl Authority {
    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Takes the lease `name` for this node, or renews it, and answers whether this node
    /// holds it now. A claim made less than half a second ago is answered from memory, so
    /// work that runs often may call this before each step. A claim the store refuses or
    /// fails ends this node's hold at once.
    pub async fn hold_lease(&self, name: &str) -> bool {
        let now = self.clock.now();
        if let Some(answer) = self.leases.recent(name, now) {
            return answer;
        }
        let claim = LeaseClaim {
            name: name.to_string(),
            holder: self.node.as_str().to_string(),
            now,
            until: now + LEASE_TTL,
        };
        let held = match self.store.take_lease(claim).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = name, node = %self.node, error = %Chain(&e), "could not claim a lease; its work stops on this node");
                false
            }
        };
        let was = self.leases.record(name, now, held);
        if held && !was {
            tracing::info!(lease = name, node = %self.node, "lease taken: this node does its work now");
        } else if !held && was {
            tracing::warn!(lease = name, node = %self.node, "lease lost: its work stops on this node");
        }
        held
    }

    /// Whether this node may act on the lease `name` now (no store access): it claimed it,
    /// the last claim succeeded, and the claim is not within [`LEASE_MARGIN`] of expiring.
    pub fn holds_lease(&self, name: &str) -> bool {
        self.leases.valid(name, self.clock.now())
    }

    /// Gives up every lease this node holds (at a clean shutdown, after its last delivery
    /// pass and checkpoint), so other nodes take the work over at once rather than after
    /// [`LEASE_TTL`].
    pub async fn release_leases(&self) {
        for name in self.leases.held() {
            self.leases.forget(&name);
            match self.store.release_lease(&name, self.node.as_str()).await {
                Ok(()) => tracing::info!(lease = %name, node = %self.node, "lease released"),
                Err(e) => {
                    tracing::warn!(lease = %name, node = %self.node, error = %Chain(&e), "could not release a lease; it expires by itself")
                }
            }
        }
    }

    /// One cluster sync step (every node, every `[server] cluster_sync`): reloads the API
    /// tokens when another node may have changed them, and
    /// for each CA drops cached OCSP responses of serials whose revocation changed, loads
    /// newer CRLs and a newer responder certificate, and wakes the exit delivery tasks when
    /// the outbox grew. Errors are logged; the next step retries. With one node it finds
    /// nothing to do but costs a few indexed reads.
    pub async fn cluster_sync(&self) {
        if let Err(e) = self.sync_tokens().await {
            tracing::warn!(node = %self.node, error = %Chain(&e), "cluster sync: could not reload the API tokens");
        }
        let now = self.clock.now();
        let mut wake = self
            .node_sync
            .lock()
            .map(|s| {
                s.woken_at
                    .is_none_or(|at| now.duration_since(at).is_ok_and(|d| d >= WAKE_EVERY))
            })
            .unwrap_or(true);
        for name in self.ca_names().to_vec() {
            let state = Arc::clone(self.state(&name));
            wake |= self.sync_ca(&state).await;
        }
        if wake {
            if let Ok(mut s) = self.node_sync.lock() {
                s.woken_at = Some(now);
            }
            self.wake();
        }
    }

    /// Renews every lease this node holds, so a holder whose work is idle (an exit module
    /// with nothing to deliver, a checkpoint not yet due) keeps it. The server's maintenance
    /// loop runs this every second, far within [`LEASE_TTL`] less [`LEASE_MARGIN`].
    pub async fn renew_leases(&self) {
        for name in self.leases.held() {
            self.hold_lease(&name).await;
        }
    }

    /// One CA's part of the sync; answers whether its outbox grew.
    async fn sync_ca(&self, state: &Arc<CaState>) -> bool {
        let name = &state.runtime.info.name;
        if let Err(e) = self.sync_ocsp(state).await {
            tracing::warn!(ca = %name, error = %Chain(&e), "cluster sync: could not read revocation changes");
        }
        let head = match self.store.outbox_head(name).await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(ca = %name, error = %Chain(&e), "cluster sync: could not read the outbox head");
                return false;
            }
        };
        if state.cluster.get().outbox_head == Some(head) {
            return false;
        }
        // Read after the head: whatever the head counts is in what follows.
        let crls = self.sync_crls(state).await;
        if let Err(e) = &crls {
            tracing::warn!(ca = %name, error = %Chain(e), "cluster sync: could not load newer CRLs");
        }
        self.sync_responder(state).await;
        if crls.is_ok() {
            state.cluster.update(|s| s.outbox_head = Some(head));
        }
        true
    }

    /// Reloads the API tokens when the audit head moved (every token change is audited).
    /// A token created or revoked on this node meanwhile is already in memory and newer than
    /// the read: the reload is then dropped, and the next step reads again.
    async fn sync_tokens(&self) -> Result<(), StoreError> {
        let marker = self.store.token_marker().await?;
        if self.node_sync.lock().ok().and_then(|s| s.tokens) == Some(marker) {
            return Ok(());
        }
        let changes = self.token_changes.load(Ordering::Acquire);
        let tokens = self.store.list_tokens().await?;
        let replaced = match self.tokens.write() {
            Ok(mut map) if self.token_changes.load(Ordering::Acquire) == changes => {
                *map = tokens.into_iter().map(|t| (t.hash, t)).collect();
                true
            }
            _ => false,
        };
        if replaced && let Ok(mut s) = self.node_sync.lock() {
            s.tokens = Some(marker);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn node_ids_are_printable_and_short() {
        assert_eq!(
            NodeId::new("ca-1-4242-0badf00d")
                .map(|n| n.0)
                .ok()
                .as_deref(),
            Some("ca-1-4242-0badf00d")
        );
        for bad in ["", "a b", "tab\there", "é", &"x".repeat(MAX_NODE_ID + 1)] {
            assert!(NodeId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_lease_is_acted_on_until_the_margin_and_not_after_a_refusal() {
        let leases = Leases::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(!leases.record("x", t0, true), "not held before");
        assert!(leases.valid("x", t0 + LEASE_TTL - LEASE_MARGIN - Duration::from_secs(1)));
        assert!(!leases.valid("x", t0 + LEASE_TTL - LEASE_MARGIN));
        assert_eq!(
            leases.recent("x", t0 + Duration::from_millis(100)),
            Some(true)
        );
        assert_eq!(
            leases.recent("x", t0 + RENEW_AFTER),
            None,
            "due for renewal"
        );
        assert!(
            leases.record("x", t0 + Duration::from_secs(1), false),
            "held before"
        );
        assert!(
            !leases.valid("x", t0 + Duration::from_secs(1)),
            "a refusal ends it at once"
        );
        assert!(leases.held().is_empty());
    }
}
