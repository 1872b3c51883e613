//! An exit module that records what it is notified of.

use std::sync::{Arc, Mutex, PoisonError};

use signet_core::{BoxFuture, CaInfo, Event, EventMask, Exit, ExitCtx, ModuleError, RequestId};

/// One notification as a [`RecordingExit`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub seq: u64,
    pub event: Event,
    pub request: Option<RequestId>,
}

/// Keeps every event it is notified of, in order; fails the next `n` notifications when
/// told to ([`RecordingExit::fail_next`]), as a module whose target is down would.
#[derive(Debug)]
pub struct RecordingExit {
    name: String,
    mask: EventMask,
    seen: Mutex<Vec<Seen>>,
    fail_next: Mutex<u32>,
    attempts: Mutex<u64>,
}

impl RecordingExit {
    /// A module named `name` that asks for the events in `mask`.
    pub fn new(name: &str, mask: EventMask) -> Arc<RecordingExit> {
        Arc::new(RecordingExit {
            name: name.into(),
            mask,
            seen: Mutex::new(Vec::new()),
            fail_next: Mutex::new(0),
            attempts: Mutex::new(0),
        })
    }

    /// What it was notified of so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events it was notified of so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.seen().into_iter().map(|s| s.event).collect()
    }

    /// Fails the next `n` notifications.
    pub fn fail_next(&self, n: u32) {
        *self
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = n;
    }

    /// Notifications attempted, failed ones included.
    pub fn attempts(&self) -> u64 {
        *self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Exit for RecordingExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        "records the events it is notified of".into()
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            *self.attempts.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            {
                let mut fail = self
                    .fail_next
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if *fail > 0 {
                    *fail -= 1;
                    return Err(ModuleError::new(&self.name, "the target is down (test)"));
                }
            }
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen {
                    seq: ctx.seq,
                    event: ctx.event,
                    request: ctx.request.as_ref().map(|r| r.id),
                });
            Ok(())
        })
    }
}
