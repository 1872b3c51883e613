//! Exit delivery through the engine over the real store: each exit module receives exactly
//! the events in its mask, in outbox order, once; a failing module is retried from the
//! event it failed on, after its backoff, without holding up the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use signet_core::{Event, EventMask, RequestStatus, RetryPolicy, Store};
use signet_testkit::exits::Seen;
use signet_testkit::identity::{manager, requester};
use signet_testkit::policies::AlwaysPending;
use signet_testkit::{RecordingExit, TestCa, block_on};

#[test]
fn each_exit_gets_its_events_in_order_and_a_failing_exit_resumes_where_it_stopped() {
    let issued_only = RecordingExit::new("issued-only", EventMask::NONE.with(Event::Issued));
    let everything = RecordingExit::new("everything", EventMask::ALL);
    let h = TestCa::new(AlwaysPending::needing(1))
        .exit(issued_only.clone())
        .exit(everything.clone())
        .retry(
            "everything",
            RetryPolicy {
                max_attempts: 5,
                backoff_initial: Duration::from_secs(10),
                backoff_max: Duration::from_secs(60),
            },
        )
        .start();
    let alice = requester("alice");
    let officer = manager("officer");
    let a = h.submit(Some(&alice), "a.example.test").unwrap().id;
    let b = h.submit(Some(&alice), "b.example.test").unwrap().id;
    let issued = block_on(h.authority.approve(Some(&officer), "demo", a)).unwrap();
    assert_eq!(issued.status, RequestStatus::Issued);
    block_on(h.authority.deny(Some(&officer), "demo", b, "no")).unwrap();

    // `everything` is down: it fails on the first event and stops there; the other module
    // is not held up.
    everything.fail_next(1);
    let report = h.deliver();
    assert!(report.retry, "a failure asks for a retry");
    assert!(
        everything.seen().is_empty(),
        "nothing is skipped past a failure"
    );
    assert_eq!(everything.attempts(), 1);
    let issued_events = vec![Seen {
        seq: outbox(&h).iter().find(|e| e.1 == Event::Issued).unwrap().0,
        event: Event::Issued,
        request: Some(a),
    }];
    assert_eq!(issued_only.seen(), issued_events, "exactly its mask");
    let state = block_on(h.store.store.exit_state(&h.ca, "everything")).unwrap();
    assert_eq!((state.cursor, state.attempts), (0, 1));
    assert_eq!(state.failing_seq, outbox(&h)[0].0);

    // In backoff: not tried again until the clock passes the next attempt.
    h.deliver();
    assert_eq!(everything.attempts(), 1, "no attempt during the backoff");
    h.clock.advance(Duration::from_secs(11));
    let report = h.deliver();
    assert!(!report.retry);
    let expected: Vec<(u64, Event)> = outbox(&h);
    assert_eq!(
        everything
            .seen()
            .iter()
            .map(|s| (s.seq, s.event))
            .collect::<Vec<_>>(),
        expected,
        "every event, in outbox order, from the one it failed on"
    );
    let events = everything.events();
    for e in [Event::Startup, Event::Pending, Event::Issued, Event::Denied] {
        assert!(events.contains(&e), "{e:?} in {events:?}");
    }
    assert_eq!(issued_only.seen(), issued_events, "no redelivery");

    // A failure in the middle of the stream: resumes at that event, not at the start.
    let delivered = everything.seen().len();
    let c = h.submit(Some(&alice), "c.example.test").unwrap().id;
    block_on(h.authority.approve(Some(&officer), "demo", c)).unwrap();
    everything.fail_next(1);
    h.deliver();
    assert_eq!(everything.seen().len(), delivered);
    h.clock.advance(Duration::from_secs(11));
    h.deliver();
    let new: Vec<(Event, Option<signet_core::RequestId>)> = everything.seen()[delivered..]
        .iter()
        .map(|s| (s.event, s.request))
        .collect();
    assert_eq!(
        new,
        vec![(Event::Pending, Some(c)), (Event::Issued, Some(c))]
    );
    assert_eq!(issued_only.seen().len(), 2);
    assert_eq!(issued_only.seen()[1].request, Some(c));
    let state = block_on(h.store.store.exit_state(&h.ca, "everything")).unwrap();
    assert_eq!(state.cursor, outbox(&h).last().unwrap().0);
    assert_eq!(state.failing_seq, 0, "the failure is over");
}

/// The CA's outbox as (seq, event).
fn outbox(h: &signet_testkit::Harness) -> Vec<(u64, Event)> {
    block_on(h.store.store.outbox_after(&h.ca, 0, 1000))
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.event))
        .collect()
}
