//! Seeds steps 7–8, one exit module at a time: [`Authority::deliver_exit`] advances one
//! (CA, exit module) pair through the outbox, with a capped exponential backoff whose state
//! is stored (so it survives restarts), and parks an event after `max_attempts` failures so
//! later events flow again. The caller (the server's delivery tasks) owns the timing: this
//! module never sleeps. The administration side — status, parked events, retry, skip — is
//! here too, authorized like the other admin operations.

use std::sync::Arc;

use crate::audit_details;
use crate::auth::{Identity, Role, require};
use crate::authority::{Authority, CaState, internal, whole_seconds};
use crate::cluster::exit_lease;
use crate::enroll::EnrollError;
use crate::event::EventMask;
use crate::exit::{Exit, ExitCtx};
use crate::ids::CaName;
use crate::model::RequestRecord;
use crate::store::{
    AuditTarget, ExitFailure, NewAudit, OutboxEvent, ParkEvent, ParkedEvent, StoreError,
};
pub use signet_api::admin::{ExitStatus, ExitStep, NextRun, RetryPolicy};

/// Why one [`Authority::deliver_exit`] step stopped early; the caller retries later.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The CA is not configured.
    #[error(transparent)]
    Ca(#[from] EnrollError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events read per store round trip.
const PAGE: u32 = 256;

impl Authority {
    /// Every (CA, exit module) pair, in configuration order: one delivery task each.
    pub fn exit_pairs(&self) -> Vec<(CaName, String)> {
        let mut out = Vec::new();
        for name in self.ca_names() {
            if let Ok(ca) = self.resolve(name.as_str()) {
                for exit in &ca.runtime.exits {
                    out.push((name.clone(), exit.name().to_string()));
                }
            }
        }
        out
    }

    /// Delivers up to one page of outbox events to one exit module, in order. A failure is
    /// recorded with its next attempt time; the `max_attempts`-th failure on an event parks
    /// it and delivery goes on with the next event. While the module is in backoff this
    /// only reads its state and returns [`NextRun::At`].
    ///
    /// With several nodes, only the holder of the module's lease (`exit/{ca}/{exit}`, taken
    /// or renewed here) delivers; another node only reads the module's cursor and the head
    /// and returns [`NextRun::Idle`] (the cluster sync wakes it to try the lease again). The
    /// lease is checked again before each notification and before each write of the cursor
    /// or the failure state: a node that lost it stops at once and writes nothing, so the
    /// next holder starts from the stored cursor (at least once, in order).
    pub async fn deliver_exit(&self, ca: &CaName, exit: &str) -> Result<ExitStep, DeliveryError> {
        let state = self.resolve(ca.as_str())?;
        let Some((module, mask)) = state.started_exit(exit) else {
            // Not started yet: `Authority::start` writes the Startup event, which wakes us.
            return Ok(ExitStep::default());
        };
        let retry = state.runtime.retry_policy(exit);
        let store = &self.store;
        let lease = exit_lease(ca, exit);
        if !self.hold_lease(&lease).await {
            // Another node delivers to this module; this one reports how far it got.
            let st = store.exit_state(ca, exit).await?;
            return Ok(ExitStep {
                cursor: st.cursor,
                head: store.outbox_head(ca).await?,
                ..ExitStep::default()
            });
        }
        let mut st = store.exit_state(ca, exit).await?;
        let mut step = ExitStep {
            cursor: st.cursor,
            ..ExitStep::default()
        };
        let now = self.clock.now();
        if st.attempts > 0
            && let Some(at) = st.next_attempt_at
            && at > now
        {
            step.head = store.outbox_head(ca).await?;
            step.next = NextRun::At(at);
            return Ok(step);
        }
        let page = store.outbox_after(ca, st.cursor, PAGE).await?;
        let mut acked = st.cursor;
        for row in &page {
            if !mask.contains(row.event) {
                acked = row.seq;
                continue;
            }
            if !self.holds_lease(&lease) {
                return Ok(self.lease_lost(ca, exit, step, st.cursor));
            }
            let ctx = self.exit_ctx(state, row).await?;
            match module.notify(&ctx).await {
                Ok(()) => {
                    step.delivered += 1;
                    acked = row.seq;
                }
                Err(e) => {
                    step.failed += 1;
                    let error = truncate(&e.to_string(), 2000);
                    tracing::warn!(ca = %ca, exit, seq = row.seq, ?error, "exit delivery failed; will retry");
                    if !self.holds_lease(&lease) {
                        return Ok(self.lease_lost(ca, exit, step, st.cursor));
                    }
                    if acked > st.cursor {
                        store.ack_exit(ca, exit, acked).await?;
                        st.cursor = acked;
                    }
                    let previous = if st.failing_seq == row.seq {
                        st.attempts
                    } else {
                        0
                    };
                    let attempts = previous.saturating_add(1);
                    if attempts >= retry.max_attempts {
                        tracing::error!(ca = %ca, exit, seq = row.seq, attempts, "exit event parked after its last attempt");
                        self.park(row, exit, error, attempts, Vec::new()).await?;
                        step.parked += 1;
                        acked = row.seq;
                        st.cursor = row.seq;
                        st.attempts = 0;
                        st.failing_seq = 0;
                        continue;
                    }
                    let next = now + retry.backoff(attempts);
                    store
                        .exit_failed(ExitFailure {
                            ca: ca.clone(),
                            exit: exit.to_string(),
                            seq: row.seq,
                            attempts,
                            next_attempt_at: next,
                            error,
                        })
                        .await?;
                    step.cursor = st.cursor;
                    step.head = store.outbox_head(ca).await?;
                    step.next = NextRun::At(next);
                    return Ok(step);
                }
            }
        }
        if acked > st.cursor {
            if !self.holds_lease(&lease) {
                return Ok(self.lease_lost(ca, exit, step, st.cursor));
            }
            store.ack_exit(ca, exit, acked).await?;
        }
        step.cursor = acked;
        step.head = store.outbox_head(ca).await?;
        step.next = if page.len() >= PAGE as usize {
            NextRun::Now
        } else {
            NextRun::Idle
        };
        Ok(step)
    }

    /// A step cut short because this node no longer holds the module's lease: nothing more
    /// is written, and the cursor stays where it was stored.
    fn lease_lost(&self, ca: &CaName, exit: &str, mut step: ExitStep, cursor: u64) -> ExitStep {
        tracing::warn!(ca = %ca, exit, node = %self.node(), cursor, "exit delivery stopped: this node lost the module's lease");
        step.cursor = cursor;
        step.head = step.head.max(cursor);
        step.next = NextRun::Idle;
        step
    }

    async fn exit_ctx(
        &self,
        state: &Arc<CaState>,
        row: &OutboxEvent,
    ) -> Result<ExitCtx, StoreError> {
        let ca = &state.runtime.info;
        let request: Option<RequestRecord> = match row.request_id {
            Some(id) => match self.recent.get(id, row.event) {
                Some(r) => Some(r),
                None => self.store.get_request(&ca.name, id).await?,
            },
            None => None,
        };
        let crl = match row.event {
            crate::event::Event::CrlIssued => match self.event_crl(state, &row.details) {
                Some(crl) => Some(crl),
                None => {
                    // Published by another node since this node's last cluster sync.
                    self.sync_crls(state).await?;
                    self.event_crl(state, &row.details)
                }
            },
            _ => None,
        };
        Ok(ExitCtx {
            ca: ca.clone(),
            seq: row.seq,
            event: row.event,
            at: row.at,
            request,
            details: row.details.clone(),
            crl,
        })
    }

    async fn park(
        &self,
        row: &OutboxEvent,
        exit: &str,
        error: String,
        attempts: u32,
        audit: Vec<NewAudit>,
    ) -> Result<(), StoreError> {
        self.store
            .park_event(ParkEvent {
                ca: row.ca.clone(),
                exit: exit.to_string(),
                seq: row.seq,
                event: row.event,
                request_id: row.request_id,
                error,
                attempts,
                at: whole_seconds(self.clock.now()),
                audit,
            })
            .await
    }

    // ---- Administration -------------------------------------------------------------------

    /// The delivery state of every exit module of a CA (admins, auditors and managers).
    pub async fn exit_status(
        &self,
        caller: Option<&Identity>,
        ca: &str,
    ) -> Result<Vec<ExitStatus>, EnrollError> {
        let state = self.resolve(ca)?;
        let name = state.runtime.info.name.clone();
        self.authorize_exit_reader(caller, &name)?;
        let head = self
            .store
            .outbox_head(&name)
            .await
            .map_err(|e| internal("store", &e))?;
        let mut out = Vec::new();
        for exit in &state.runtime.exits {
            let st = self
                .store
                .exit_state(&name, exit.name())
                .await
                .map_err(|e| internal("store", &e))?;
            out.push(ExitStatus {
                ca: name.clone(),
                exit: exit.name().to_string(),
                description: exit.description(),
                head,
                state: st,
                retry: state.runtime.retry_policy(exit.name()),
            });
        }
        Ok(out)
    }

    /// Parked events of a CA, of one module if given (admins, auditors and managers).
    pub async fn parked_events(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        exit: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ParkedEvent>, EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        self.authorize_exit_reader(caller, &name)?;
        if let Some(e) = exit {
            self.known_exit(&name, e)?;
        }
        self.store
            .parked_events(&name, exit, limit.clamp(1, crate::admin::MAX_PAGE))
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Delivers a parked event again (administrators). On success it leaves the parked list;
    /// either way the attempt is audited (`exit-retry`). A failure is a `Conflict` carrying
    /// the module's error.
    pub async fn retry_parked(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        exit: &str,
        seq: u64,
    ) -> Result<(), EnrollError> {
        let state = Arc::clone(self.resolve(ca)?);
        let name = state.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Admin, Some(&name), self.separation)?;
        let (module, _) = self.known_exit(&name, exit)?;
        let parked = self
            .store
            .parked_events(&name, Some(exit), u32::MAX)
            .await
            .map_err(|e| internal("store", &e))?;
        if !parked.iter().any(|p| p.seq == seq) {
            return Err(EnrollError::NotFound(format!(
                "parked event {seq} of exit {exit:?} on CA {name}"
            )));
        }
        let row = self.outbox_row(&name, seq).await?;
        let ctx = self
            .exit_ctx(&state, &row)
            .await
            .map_err(|e| internal("store", &e))?;
        let outcome = module.notify(&ctx).await;
        let audit = |result: &str| NewAudit {
            at: whole_seconds(self.clock.now()),
            actor: who.name.clone(),
            action: "exit-retry".into(),
            ca: Some(name.clone()),
            target: AuditTarget::Other(format!("{name}/exit/{exit}/{seq}")),
            details: audit_details::to_json(&audit_details::ExitRetry {
                via: &who.via,
                exit,
                seq,
                event: row.event.to_string(),
                result,
            }),
        };
        match outcome {
            Ok(()) => {
                self.store
                    .unpark_event(&name, exit, seq, vec![audit("delivered")])
                    .await
                    .map_err(|e| match e {
                        StoreError::StateChanged(d) => EnrollError::Conflict(d),
                        other => internal("store", &other),
                    })?;
                tracing::info!(ca = %name, exit, seq, by = %who.name, "parked exit event delivered");
                Ok(())
            }
            Err(e) => {
                let error = truncate(&e.to_string(), 2000);
                self.store
                    .append_audit(vec![audit(&format!("failed: {error}"))])
                    .await
                    .map_err(|e| internal("store", &e))?;
                Err(EnrollError::Conflict(format!(
                    "exit {exit:?} failed again on event {seq}: {error}"
                )))
            }
        }
    }

    /// Parks the event a module is stuck on now (administrators; audited as `exit-skip`),
    /// so later events flow without waiting for the remaining attempts.
    pub async fn skip_exit(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        exit: &str,
    ) -> Result<ParkedEvent, EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        let who = require(caller)?;
        who.authorize(Role::Admin, Some(&name), self.separation)?;
        self.known_exit(&name, exit)?;
        let st = self
            .store
            .exit_state(&name, exit)
            .await
            .map_err(|e| internal("store", &e))?;
        if st.attempts == 0 || st.failing_seq <= st.cursor {
            return Err(EnrollError::Conflict(format!(
                "exit {exit:?} of CA {name} is not failing on any event"
            )));
        }
        let row = self.outbox_row(&name, st.failing_seq).await?;
        let error = st.last_error.clone().unwrap_or_default();
        let audit = NewAudit {
            at: whole_seconds(self.clock.now()),
            actor: who.name.clone(),
            action: "exit-skip".into(),
            ca: Some(name.clone()),
            target: AuditTarget::Other(format!("{name}/exit/{exit}/{}", row.seq)),
            details: audit_details::to_json(&audit_details::ExitSkip {
                via: &who.via,
                exit,
                seq: row.seq,
                event: row.event.to_string(),
                attempts: u64::from(st.attempts),
                error: &error,
            }),
        };
        self.park(&row, exit, error.clone(), st.attempts, vec![audit])
            .await
            .map_err(|e| internal("store", &e))?;
        tracing::warn!(ca = %name, exit, seq = row.seq, by = %who.name, "exit event skipped (parked)");
        self.wake();
        Ok(ParkedEvent {
            ca: name,
            exit: exit.to_string(),
            seq: row.seq,
            event: row.event,
            request_id: row.request_id,
            error,
            attempts: st.attempts,
            parked_at: whole_seconds(self.clock.now()),
        })
    }

    fn authorize_exit_reader(
        &self,
        caller: Option<&Identity>,
        ca: &CaName,
    ) -> Result<(), EnrollError> {
        let who = require(caller)?;
        for role in [Role::Admin, Role::Auditor, Role::Manager] {
            if who.authorize(role, Some(ca), self.separation).is_ok() {
                return Ok(());
            }
        }
        Err(EnrollError::Forbidden(format!(
            "{} needs the admin, auditor or manager role on CA {ca} to view exit delivery",
            who.name
        )))
    }

    fn known_exit(
        &self,
        ca: &CaName,
        exit: &str,
    ) -> Result<(Arc<dyn Exit>, EventMask), EnrollError> {
        self.resolve(ca.as_str())?
            .started_exit(exit)
            .ok_or_else(|| EnrollError::NotFound(format!("exit module {exit:?} on CA {ca}")))
    }

    async fn outbox_row(&self, ca: &CaName, seq: u64) -> Result<OutboxEvent, EnrollError> {
        self.store
            .outbox_after(ca, seq.saturating_sub(1), 1)
            .await
            .map_err(|e| internal("store", &e))?
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or_else(|| EnrollError::NotFound(format!("outbox event {seq} of CA {ca}")))
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
