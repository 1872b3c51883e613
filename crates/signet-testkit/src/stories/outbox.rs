//! The outbox: events for exit modules, their cursors, and parked events.

use signet_core::{CaName, Event, ExitFailure, NewEvent, ParkEvent, StoreError};

use super::FreshStore;
use super::builders::{ca, t};

/// The outbox: events in order per CA, paged; exit cursors that only move forward and not
/// past the newest event; failure state, parking and unparking.
pub async fn outbox_and_cursors(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let (a, b) = (ca("outbox-a"), ca("outbox-b"));
    assert_eq!(store.outbox_head(&a).await.expect("head"), 0);
    assert_eq!(store.exit_cursor(&a, "mail").await.expect("cursor"), 0);
    let event = |ca: &CaName, event: Event, n: u64| NewEvent {
        ca: ca.clone(),
        event,
        request_id: None,
        at: t(1_700_000_000 + n),
        details: format!("{{\"n\":{n}}}"),
    };
    store
        .append_events(vec![
            event(&a, Event::Startup, 1),
            event(&b, Event::Startup, 2),
            event(&a, Event::CrlIssued, 3),
        ])
        .await
        .expect("append");
    store
        .append_events(vec![
            event(&b, Event::Shutdown, 4),
            event(&a, Event::Shutdown, 5),
        ])
        .await
        .expect("append");

    let rows = store.outbox_after(&a, 0, 100).await.expect("outbox");
    assert_eq!(
        rows.iter()
            .map(|r| (r.event, r.details.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (Event::Startup, "{\"n\":1}"),
            (Event::CrlIssued, "{\"n\":3}"),
            (Event::Shutdown, "{\"n\":5}")
        ],
        "a CA's events, in the order they were appended"
    );
    assert!(
        rows.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases"
    );
    assert!(rows.iter().all(|r| r.ca == a && r.request_id.is_none()));
    assert_eq!(rows[0].at, t(1_700_000_001));
    let page = store.outbox_after(&a, 0, 2).await.expect("page");
    assert_eq!(page.len(), 2);
    let rest = store.outbox_after(&a, page[1].seq, 2).await.expect("page");
    assert_eq!(
        rest.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![rows[2].seq]
    );
    assert_eq!(store.outbox_head(&a).await.expect("head"), rows[2].seq);

    // Cursors: per (CA, exit), forward only, never past the head.
    store.ack_exit(&a, "mail", rows[0].seq).await.expect("ack");
    assert_eq!(
        store.exit_cursor(&a, "mail").await.expect("cursor"),
        rows[0].seq
    );
    assert_eq!(store.exit_cursor(&a, "ldap").await.expect("cursor"), 0);
    assert_eq!(store.exit_cursor(&b, "mail").await.expect("cursor"), 0);
    store.ack_exit(&a, "mail", 0).await.expect("an old ack");
    assert_eq!(
        store.exit_cursor(&a, "mail").await.expect("cursor"),
        rows[0].seq,
        "a cursor never moves back"
    );
    let past = store.ack_exit(&a, "mail", rows[2].seq + 1000).await;
    assert!(
        matches!(past, Err(StoreError::StateChanged(_))),
        "acknowledging past the newest event is refused: {past:?}"
    );

    // A failing event, then parked: the cursor moves past it, the failure is over.
    store
        .exit_failed(ExitFailure {
            ca: a.clone(),
            exit: "mail".into(),
            seq: rows[1].seq,
            attempts: 2,
            next_attempt_at: t(1_700_000_500),
            error: "connection refused".into(),
        })
        .await
        .expect("failure");
    let state = store.exit_state(&a, "mail").await.expect("state");
    assert_eq!(state.cursor, rows[0].seq);
    assert_eq!(state.failing_seq, rows[1].seq);
    assert_eq!(state.attempts, 2);
    assert_eq!(state.last_error.as_deref(), Some("connection refused"));
    assert!(state.next_attempt_at.is_some());
    store
        .park_event(ParkEvent {
            ca: a.clone(),
            exit: "mail".into(),
            seq: rows[1].seq,
            event: rows[1].event,
            request_id: None,
            error: "connection refused".into(),
            attempts: 3,
            at: t(1_700_000_600),
            audit: Vec::new(),
        })
        .await
        .expect("park");
    let state = store.exit_state(&a, "mail").await.expect("state");
    assert_eq!(
        state.cursor, rows[1].seq,
        "parking moves the cursor past the event"
    );
    assert_eq!((state.failing_seq, state.attempts, state.parked), (0, 0, 1));
    let parked = store
        .parked_events(&a, Some("mail"), 10)
        .await
        .expect("parked");
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].seq, parked[0].event),
        (rows[1].seq, Event::CrlIssued)
    );
    assert_eq!(parked[0].attempts, 3);
    assert!(
        store
            .parked_events(&a, Some("ldap"), 10)
            .await
            .expect("parked")
            .is_empty()
    );
    store
        .unpark_event(&a, "mail", rows[1].seq, Vec::new())
        .await
        .expect("unpark");
    let again = store
        .unpark_event(&a, "mail", rows[1].seq, Vec::new())
        .await;
    assert!(
        matches!(again, Err(StoreError::StateChanged(_))),
        "unparking what is not parked is StateChanged: {again:?}"
    );
    store.ack_exit(&a, "mail", rows[2].seq).await.expect("ack");
    let state = store.exit_state(&a, "mail").await.expect("state");
    assert_eq!((state.cursor, state.parked), (rows[2].seq, 0));
    assert!(state.last_success_at.is_some(), "an ack records a success");
}
