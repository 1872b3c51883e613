//! The store story suite: what every `Store` backend must do, written against the trait
//! alone so the SQLite store and the PostgreSQL store run the same stories.
//!
//! Each story is a `pub async fn` that takes a factory of fresh, empty stores
//! ([`FreshStore`]) and panics, naming the step, when the store breaks the contract. A
//! backend's test runs every story (`signet-store/tests/stories.rs` for SQLite). Nothing
//! here looks behind the trait: no SQL, no files, no assumption about how sequence numbers
//! or ids are assigned beyond what `signet_core::Store` documents (ids and outbox sequence
//! numbers increase; the audit log's are 1, 2, 3, ... with no gaps).
//!
//! Stories: [`request_lifecycle`], [`serial_uniqueness`], [`revocation_changes`],
//! [`outbox_and_cursors`], [`tokens`], [`audit_chain`], [`crl_records`], [`view_queries`].

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::{
    Approval, AuditTarget, CaName, Event, ExitFailure, ExtensionOrigin, NewAudit, NewCertificate,
    NewCrl, NewEvent, NewRequest, NewToken, ParkEvent, ProfileName, RequestId, RequestStatus,
    RequestUpdate, Revocation, RevocationChange, RevocationReason, RevokedQuery, Role, Roles,
    SerialNumber, Store, StoreError, StoredExtension, ViewQuery,
};

/// A fresh, empty store for one story, and whatever must live as long as it (a temporary
/// directory, a database to drop).
pub struct FreshStore {
    pub store: Arc<dyn Store>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl FreshStore {
    /// `keep` is dropped after the store.
    pub fn new(store: Arc<dyn Store>, keep: Box<dyn Any + Send + Sync>) -> FreshStore {
        FreshStore { store, _keep: keep }
    }
}

/// Every story, by name, for a backend's test to check it runs them all.
pub const ALL: [&str; 8] = [
    "request_lifecycle",
    "serial_uniqueness",
    "revocation_changes",
    "outbox_and_cursors",
    "tokens",
    "audit_chain",
    "crl_records",
    "view_queries",
];

// ---- Stories ------------------------------------------------------------------------------

/// A request is created pending with its attributes and extensions, read back field by
/// field, changed under optimistic concurrency (a stale `expect_version` is `StateChanged`,
/// a second approval by the same manager is `Conflict`, and neither changes anything), and
/// finally issued with its certificate, which is then found by serial.
pub async fn request_lifecycle(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("lifecycle");
    let mut req = pending(&ca, 1);
    req.profile = Some(ProfileName::new("tls-server").expect("profile"));
    req.extensions = vec![
        StoredExtension {
            oid: "2.5.29.17".into(),
            critical: false,
            disabled: true,
            origin: ExtensionOrigin::Request,
            value: vec![0x30, 0x00],
        },
        StoredExtension {
            oid: "2.5.29.19".into(),
            critical: true,
            disabled: false,
            origin: ExtensionOrigin::Policy,
            value: vec![0x30, 0x03, 0x01, 0x01, 0x00],
        },
    ];
    req.attributes = vec![
        ("b-second".into(), "2".into()),
        ("a-first".into(), "1".into()),
    ];
    let id = store.create_request(req.clone()).await.expect("create");

    let got = get(store, &ca, id).await;
    assert_eq!(got.id, id);
    assert_eq!(got.ca, ca);
    assert_eq!(got.status, RequestStatus::Pending);
    assert_eq!(got.profile, req.profile);
    assert_eq!(got.requester, req.requester);
    assert_eq!(got.format, req.format);
    assert_eq!(got.raw, req.raw);
    assert_eq!(got.subject, req.subject);
    assert_eq!(got.submitted_at, req.submitted_at);
    assert_eq!(got.resolved_at, None);
    assert_eq!(got.message, req.message);
    assert_eq!(
        got.attributes, req.attributes,
        "attributes keep their order"
    );
    assert_eq!(
        got.extensions, req.extensions,
        "extensions keep their order"
    );
    assert!(got.certificate.is_none());
    assert!(got.approvals.is_empty());
    assert_eq!(got.version, 0, "a new request is at version 0");
    assert!(
        store
            .get_request(&self::ca("elsewhere"), id)
            .await
            .expect("get")
            .is_none(),
        "a request belongs to its CA"
    );
    let listed = store
        .list_requests(&ca, Some(RequestStatus::Pending), 10)
        .await
        .expect("list");
    assert_eq!(ids(&listed), vec![id]);

    // An officer edit and a first approval, at the version read.
    let mut first = update(&ca, id, 0, RequestStatus::Pending);
    first.message = Some("approved by 1 of 2".into());
    first.attributes = Some(vec![("edited".into(), "yes".into())]);
    first.add_approval = Some(Approval {
        approver: "manager-1".into(),
        at: t(1_700_000_050),
    });
    store
        .update_request(first.clone())
        .await
        .expect("update at version 0");
    let got = get(store, &ca, id).await;
    assert_eq!(got.version, 1);
    assert_eq!(got.message.as_deref(), Some("approved by 1 of 2"));
    assert_eq!(got.attributes, vec![("edited".into(), "yes".into())]);
    assert_eq!(got.approvals.len(), 1);
    assert_eq!(got.approvals[0].approver, "manager-1");
    assert_eq!(got.approvals[0].at, t(1_700_000_050));

    // The same change again, from a stale read: refused, nothing changes.
    let stale = store.update_request(first).await;
    assert!(
        matches!(stale, Err(StoreError::StateChanged(_))),
        "a stale expect_version is StateChanged: {stale:?}"
    );
    // The same manager approving twice: refused, nothing changes.
    let mut twice = update(&ca, id, 1, RequestStatus::Pending);
    twice.message = Some("should not be stored".into());
    twice.add_approval = Some(Approval {
        approver: "manager-1".into(),
        at: t(1_700_000_060),
    });
    let twice = store.update_request(twice).await;
    assert!(
        matches!(twice, Err(StoreError::Conflict(_))),
        "a second approval by one approver is Conflict: {twice:?}"
    );
    let got = get(store, &ca, id).await;
    assert_eq!(got.version, 1, "a refused update changes nothing");
    assert_eq!(got.message.as_deref(), Some("approved by 1 of 2"));
    assert_eq!(got.approvals.len(), 1);

    // Issued, with the certificate and its event; approvals are forgotten.
    let cert = certificate(
        9,
        "CN=host-1.example",
        &["host-1.example", "www.host-1.example"],
    );
    let mut issue = update(&ca, id, 1, RequestStatus::Issued);
    issue.resolved_at = Some(t(1_700_000_100));
    issue.certificate = Some(cert.clone());
    issue.clear_approvals = true;
    issue.events = vec![(Event::Issued, "{}".into())];
    store
        .update_request(issue)
        .await
        .expect("issue at version 1");
    let got = get(store, &ca, id).await;
    assert_eq!(got.status, RequestStatus::Issued);
    assert_eq!(got.version, 2);
    assert_eq!(got.resolved_at, Some(t(1_700_000_100)));
    assert!(got.approvals.is_empty());
    let stored = got.certificate.expect("the certificate is stored");
    assert_eq!(stored.serial, cert.serial);
    assert_eq!(stored.der, cert.der);
    assert_eq!(stored.subject, cert.subject);
    assert_eq!(stored.sans, cert.sans);
    assert_eq!(stored.not_before, cert.not_before);
    assert_eq!(stored.not_after, cert.not_after);
    assert_eq!(stored.revocation, None);

    let by_serial = store
        .request_by_serial(&ca, cert.serial)
        .await
        .expect("by serial")
        .expect("found by serial");
    assert_eq!(by_serial.id, id);
    let status = store
        .certificate_status(&ca, cert.serial)
        .await
        .expect("status")
        .expect("a known serial");
    assert_eq!(status.revocation, None);
    assert_eq!(status.not_after, cert.not_after);
    assert!(
        store
            .certificate_status(&ca, serial(10))
            .await
            .expect("status")
            .is_none(),
        "an unknown serial has no status"
    );

    // The request's events, in order, under its id.
    let events = store.outbox_after(&ca, 0, 100).await.expect("outbox");
    let mine: Vec<Event> = events
        .iter()
        .filter(|e| e.request_id == Some(id))
        .map(|e| e.event)
        .collect();
    assert_eq!(mine, vec![Event::Pending, Event::Issued]);
}

/// A serial number is recorded once per CA: a second certificate with it is `Conflict`,
/// and nothing of the refused write is stored. Another CA may use the same serial.
pub async fn serial_uniqueness(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("serials");
    let first = store
        .create_request(issued(&ca, 1, 7))
        .await
        .expect("the first certificate");
    let head = store.outbox_head(&ca).await.expect("head");
    let again = store.create_request(issued(&ca, 2, 7)).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "a duplicate serial is Conflict: {again:?}"
    );
    let all = store.list_requests(&ca, None, 10).await.expect("list");
    assert_eq!(ids(&all), vec![first], "the refused request is not stored");
    assert_eq!(
        store.outbox_head(&ca).await.expect("head"),
        head,
        "nor its events"
    );

    // Through an update: refused, and the pending request stays as it was.
    let pending_id = store
        .create_request(pending(&ca, 3))
        .await
        .expect("pending");
    let mut issue = update(&ca, pending_id, 0, RequestStatus::Issued);
    issue.certificate = Some(certificate(7, "CN=dup", &[]));
    let refused = store.update_request(issue).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "a duplicate serial in an update is Conflict: {refused:?}"
    );
    let still = get(store, &ca, pending_id).await;
    assert_eq!(
        (still.status, still.version),
        (RequestStatus::Pending, 0),
        "the refused update changed nothing"
    );
    assert!(still.certificate.is_none());

    let other = self::ca("serials-other");
    store
        .create_request(issued(&other, 1, 7))
        .await
        .expect("another CA may use the same serial");
}

/// Revocation, re-revocation from hold and release: each change is refused unless the
/// certificate is in the expected state, takes the CA's next revocation sequence number,
/// and is what CRL scans (full and delta) and OCSP status reads see.
pub async fn revocation_changes(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("revocation");
    let mut ids_by_serial = Vec::new();
    for n in 1..=3 {
        let id = store
            .create_request(issued(&ca, n, n))
            .await
            .expect("issue");
        ids_by_serial.push(id);
    }
    let full = |after: Option<u64>| RevokedQuery {
        ca: ca.clone(),
        shard: 0,
        changed_after: after,
        expired_before: t(1_700_000_000),
    };
    let scan = store.scan_revoked(full(None)).await.expect("scan");
    assert!(scan.rows.is_empty());
    assert_eq!(scan.revocation_seq, 0, "no change yet");

    let hold = Revocation {
        at: t(1_700_001_000),
        reason: RevocationReason::CertificateHold,
        invalidity_date: None,
    };
    let compromise = Revocation {
        at: t(1_700_002_000),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: Some(t(1_699_999_000)),
    };
    store
        .change_revocation(change(
            &ca,
            1,
            ids_by_serial[0],
            None,
            Some(hold),
            1_700_001_000,
        ))
        .await
        .expect("hold serial 1");
    store
        .change_revocation(change(
            &ca,
            2,
            ids_by_serial[1],
            None,
            Some(compromise),
            1_700_002_000,
        ))
        .await
        .expect("revoke serial 2");
    let stale = store
        .change_revocation(change(
            &ca,
            1,
            ids_by_serial[0],
            None,
            Some(compromise),
            1_700_002_500,
        ))
        .await;
    assert!(
        matches!(stale, Err(StoreError::StateChanged(_))),
        "a change from a state the certificate is not in is StateChanged: {stale:?}"
    );
    let scan = store.scan_revoked(full(None)).await.expect("scan");
    assert_eq!(scan.revocation_seq, 2, "two changes, numbered 1 and 2");
    assert_eq!(
        scan.rows
            .iter()
            .map(|r| (r.serial, r.revocation))
            .collect::<Vec<_>>(),
        vec![(serial(1), Some(hold)), (serial(2), Some(compromise))],
        "revoked certificates in serial order"
    );
    assert_eq!(
        get(store, &ca, ids_by_serial[1]).await.status,
        RequestStatus::Revoked
    );

    // Released from hold: off the full CRL, on the next delta as removeFromCRL.
    let mut release = change(&ca, 1, ids_by_serial[0], Some(hold), None, 1_700_003_000);
    release.status = RequestStatus::Issued;
    store
        .change_revocation(release)
        .await
        .expect("release serial 1");
    let scan = store.scan_revoked(full(None)).await.expect("scan");
    assert_eq!(scan.revocation_seq, 3);
    assert_eq!(
        scan.rows.iter().map(|r| r.serial).collect::<Vec<_>>(),
        vec![serial(2)]
    );
    let delta = store.scan_revoked(full(Some(2))).await.expect("delta scan");
    assert_eq!(delta.rows.len(), 1, "only the change after number 2");
    assert_eq!(delta.rows[0].serial, serial(1));
    assert_eq!(
        delta.rows[0].revocation, None,
        "a release lists no revocation"
    );
    assert_eq!(delta.rows[0].changed_at, t(1_700_003_000));
    let since_start = store.scan_revoked(full(Some(0))).await.expect("delta scan");
    assert_eq!(
        since_start
            .rows
            .iter()
            .map(|r| r.serial)
            .collect::<Vec<_>>(),
        vec![serial(1), serial(2)]
    );

    // What OCSP reads.
    let status = |n| store.certificate_status(&ca, serial(n));
    assert_eq!(
        status(1).await.expect("status").expect("known").revocation,
        None
    );
    assert_eq!(
        status(2).await.expect("status").expect("known").revocation,
        Some(compromise)
    );
    assert_eq!(
        status(3).await.expect("status").expect("known").revocation,
        None
    );
    let released = get(store, &ca, ids_by_serial[0]).await;
    assert_eq!(released.status, RequestStatus::Issued);
    assert_eq!(released.certificate.expect("cert").revocation, None);
    assert_eq!(store.shards_in_use(&ca).await.expect("shards"), vec![0]);

    // Certificates expired before the cut-off are left off.
    let late = RevokedQuery {
        expired_before: t(1_900_000_000),
        ..full(None)
    };
    assert!(
        store
            .scan_revoked(late)
            .await
            .expect("scan")
            .rows
            .is_empty()
    );
}

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

/// API tokens: created with every field, found by their hash, names unique among live
/// tokens regardless of case (a revoked or expired token frees its name), revoked once.
pub async fn tokens(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("tokens");
    let token = |name: &str, hash: u8, created: u64, expires: Option<u64>| NewToken {
        name: name.into(),
        hash: [hash; 32],
        roles: Roles::from_roles(&[Role::Requester, Role::Auditor]),
        cas: vec![ca.clone()],
        groups: vec!["ops".into(), "web".into()],
        created_at: t(created),
        created_by: "root".into(),
        expires_at: expires.map(t),
        audit: Vec::new(),
    };
    let alice = store
        .create_token(token("alice", 1, 1_700_000_000, Some(1_800_000_000)))
        .await
        .expect("create alice");
    let listed = store.list_tokens().await.expect("list");
    let found = listed
        .iter()
        .find(|r| r.hash == [1; 32])
        .expect("found by its hash");
    assert_eq!(found.id, alice);
    assert_eq!(found.name, "alice");
    assert_eq!(
        found.roles,
        Roles::from_roles(&[Role::Requester, Role::Auditor])
    );
    assert_eq!(found.cas, vec![ca.clone()]);
    assert_eq!(found.groups, vec!["ops".to_string(), "web".to_string()]);
    assert_eq!(found.created_at, t(1_700_000_000));
    assert_eq!(found.created_by, "root");
    assert_eq!(found.expires_at, Some(t(1_800_000_000)));
    assert_eq!(found.revoked_at, None);

    let shadow = store
        .create_token(token("ALICE", 2, 1_700_000_010, None))
        .await;
    assert!(
        matches!(shadow, Err(StoreError::Conflict(_))),
        "a live name in another case is Conflict: {shadow:?}"
    );
    let bob = store
        .create_token(token("bob", 3, 1_700_000_020, None))
        .await
        .expect("create bob");
    assert!(bob > alice, "token ids increase");

    store
        .revoke_token(alice, t(1_700_000_100), Vec::new())
        .await
        .expect("revoke alice");
    let again = store
        .revoke_token(alice, t(1_700_000_200), Vec::new())
        .await;
    assert!(
        matches!(again, Err(StoreError::StateChanged(_))),
        "revoking twice is StateChanged: {again:?}"
    );
    let unknown = store
        .revoke_token(bob + 1000, t(1_700_000_200), Vec::new())
        .await;
    assert!(
        matches!(unknown, Err(StoreError::StateChanged(_))),
        "revoking an unknown token is StateChanged: {unknown:?}"
    );
    let listed = store.list_tokens().await.expect("list");
    let revoked = listed.iter().find(|r| r.id == alice).expect("still listed");
    assert_eq!(revoked.revoked_at, Some(t(1_700_000_100)));
    store
        .create_token(token("Alice", 4, 1_700_000_300, None))
        .await
        .expect("a revoked token frees its name");

    store
        .create_token(token("carol", 5, 1_700_000_000, Some(1_700_000_100)))
        .await
        .expect("create carol");
    store
        .create_token(token("CAROL", 6, 1_700_000_200, None))
        .await
        .expect("an expired token frees its name");
    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed.len(), 5);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "by id");
}

/// The audit log: records appended alone or with the change they describe, numbered
/// 1, 2, 3, ..., each linked to the one before; a refused change leaves no record; the
/// chain verifies.
pub async fn audit_chain(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("audit");
    let head = store.audit_head().await.expect("head");
    let record = |action: &str, target: AuditTarget, n: u64| NewAudit {
        at: t(1_700_000_000 + n),
        actor: format!("actor-{n}"),
        action: action.into(),
        ca: Some(ca.clone()),
        target,
        details: format!("{{\"n\":{n}}}"),
    };
    store
        .append_audit(vec![
            record("config-load", AuditTarget::None, 1),
            record("token-create", AuditTarget::Other("token/1".into()), 2),
        ])
        .await
        .expect("append");
    let mut req = pending(&ca, 1);
    req.audit = vec![record("submit", AuditTarget::ThisRequest, 3)];
    let id = store.create_request(req).await.expect("create");

    // A refused change takes its audit records with it.
    let mut dup = update(&ca, id, 7, RequestStatus::Denied);
    dup.audit = vec![record("deny", AuditTarget::Request(id), 4)];
    assert!(store.update_request(dup).await.is_err());

    let records = store.audit_after(head, 100).await.expect("audit");
    assert_eq!(records.len(), 3);
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![head + 1, head + 2, head + 3],
        "numbered without gaps"
    );
    assert_eq!(
        records
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        vec!["config-load", "token-create", "submit"]
    );
    assert_eq!(records[0].at, t(1_700_000_001));
    assert_eq!(records[0].actor, "actor-1");
    assert_eq!(records[0].ca.as_deref(), Some(ca.as_str()));
    assert_eq!(records[0].target, "");
    assert_eq!(records[0].details, "{\"n\":1}");
    assert_eq!(records[1].target, "token/1");
    let this = format!("{ca}/request/{id}");
    assert_eq!(records[2].target, this, "ThisRequest names the new request");
    for pair in records.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "each record links to the one before"
        );
    }
    assert!(records.iter().all(|r| !r.hash.is_empty()));

    let page = store.audit_after(head, 2).await.expect("page");
    assert_eq!(page.len(), 2);
    let about = store.audit_for(&this).await.expect("audit for");
    assert_eq!(
        about.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![head + 3]
    );
    assert_eq!(store.audit_head().await.expect("head"), head + 3);
    let check = store.verify_audit().await.expect("verify");
    assert_eq!(check.records, head + 3);
    assert_eq!(check.first_broken, None, "the chain verifies");
}

/// CRLs: recorded with their numbers, the newest full and delta of a partition read back
/// with their DER, listed newest first without it; a number is recorded once.
pub async fn crl_records(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("crls");
    let crl = |number: u64, base: Option<u64>, at: u64| NewCrl {
        ca: ca.clone(),
        shard: 0,
        number,
        delta_base: base,
        revocation_seq: number * 10,
        this_update: t(at),
        next_update: t(at + 86_400),
        entries: number,
        der: Arc::new(vec![0x30, 0x03, 0x02, 0x01, number as u8]),
        events: vec![(Event::CrlIssued, format!("{{\"number\":{number}}}"))],
        audit: Vec::new(),
    };
    store
        .store_crl(crl(1, None, 1_700_000_000))
        .await
        .expect("full 1");
    store
        .store_crl(crl(2, Some(1), 1_700_000_100))
        .await
        .expect("delta 2");
    let dup = store.store_crl(crl(1, None, 1_700_000_200)).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a CRL number is recorded once: {dup:?}"
    );
    let latest = store.latest_crls(&ca).await.expect("latest");
    assert_eq!(latest.len(), 2, "the newest full and delta");
    let full = latest
        .iter()
        .find(|c| c.delta_base.is_none())
        .expect("full");
    assert_eq!(full.number, 1);
    assert_eq!(full.revocation_seq, 10);
    assert_eq!(full.this_update, t(1_700_000_000));
    assert_eq!(full.next_update, t(1_700_086_400));
    assert_eq!(full.entries, 1);
    assert_eq!(full.der, vec![0x30, 0x03, 0x02, 0x01, 1]);
    let delta = latest
        .iter()
        .find(|c| c.delta_base.is_some())
        .expect("delta");
    assert_eq!((delta.number, delta.delta_base), (2, Some(1)));

    for n in 3..=6 {
        store
            .store_crl(crl(n, None, 1_700_000_000 + n * 100))
            .await
            .expect("a newer full CRL");
    }
    let latest = store.latest_crls(&ca).await.expect("latest");
    let full = latest
        .iter()
        .find(|c| c.delta_base.is_none())
        .expect("full");
    assert_eq!(full.number, 6, "the newest full CRL");
    let listed = store.list_crls(&ca, 2).await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.number).collect::<Vec<_>>(),
        vec![6, 5],
        "newest first"
    );
    assert!(
        listed.iter().all(|c| c.der.is_empty()),
        "listings leave the DER out"
    );
    let events = store.outbox_after(&ca, 0, 100).await.expect("outbox");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == Event::CrlIssued)
            .count(),
        6,
        "each stored CRL raised its event; the refused one did not"
    );
}

/// ICertView queries: each filter, paging both ways, and the pending quota's count.
pub async fn view_queries(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("view");
    let mut alpha = pending(&ca, 1);
    alpha.requester = Some("alice".into());
    alpha.subject = "CN=alpha.example".into();
    let mut beta = issued(&ca, 2, 21);
    beta.requester = Some("bob".into());
    beta.subject = "CN=Beta.example".into();
    if let Some(c) = beta.certificate.as_mut() {
        c.sans = vec!["beta.example".into(), "www.beta.example".into()];
    }
    let mut gamma = issued(&ca, 3, 22);
    gamma.requester = Some("alice".into());
    gamma.subject = "CN=gamma.example".into();
    let mut denied = pending(&ca, 4);
    denied.status = RequestStatus::Denied;
    denied.requester = Some("carol".into());
    let mut anonymous = pending(&ca, 5);
    anonymous.requester = None;
    let mut ids = Vec::new();
    for r in [alpha, beta, gamma, denied, anonymous] {
        ids.push(store.create_request(r).await.expect("create"));
    }
    store
        .create_request(pending(&self::ca("view-other"), 9))
        .await
        .expect("another CA's request");

    let view = |q: ViewQuery| view(store, &ca, q);
    let all = ViewQuery {
        limit: 100,
        ..ViewQuery::default()
    };
    assert_eq!(
        view(all.clone()).await,
        ids,
        "every request of the CA, by id"
    );
    assert_eq!(
        view(ViewQuery {
            status: Some(RequestStatus::Pending),
            ..all.clone()
        })
        .await,
        vec![ids[0], ids[4]]
    );
    assert_eq!(
        view(ViewQuery {
            requester: Some("alice".into()),
            ..all.clone()
        })
        .await,
        vec![ids[0], ids[2]]
    );
    assert_eq!(
        view(ViewQuery {
            text: Some("BETA".into()),
            ..all.clone()
        })
        .await,
        vec![ids[1]],
        "text matches the subject regardless of case"
    );
    assert_eq!(
        view(ViewQuery {
            text: Some("www.beta".into()),
            ..all.clone()
        })
        .await,
        vec![ids[1]],
        "text matches a SAN"
    );
    assert_eq!(
        view(ViewQuery {
            serial: Some(serial(22)),
            ..all.clone()
        })
        .await,
        vec![ids[2]]
    );
    assert_eq!(
        view(ViewQuery {
            certificates_only: true,
            ..all.clone()
        })
        .await,
        vec![ids[1], ids[2]]
    );
    assert_eq!(
        view(ViewQuery {
            submitted_after: Some(t(1_700_000_002)),
            submitted_before: Some(t(1_700_000_004)),
            ..all.clone()
        })
        .await,
        vec![ids[1], ids[2]],
        "submitted in [after, before)"
    );

    // Paging, oldest first and newest first.
    let page = |after: Option<RequestId>, newest_first: bool| ViewQuery {
        limit: 2,
        after_id: after,
        newest_first,
        ..ViewQuery::default()
    };
    assert_eq!(view(page(None, false)).await, vec![ids[0], ids[1]]);
    assert_eq!(view(page(Some(ids[1]), false)).await, vec![ids[2], ids[3]]);
    assert_eq!(view(page(Some(ids[3]), false)).await, vec![ids[4]]);
    assert_eq!(view(page(None, true)).await, vec![ids[4], ids[3]]);
    assert_eq!(view(page(Some(ids[3]), true)).await, vec![ids[2], ids[1]]);

    let issued_ids = self::ids(
        &store
            .list_requests(&ca, Some(RequestStatus::Issued), 10)
            .await
            .expect("list"),
    );
    assert_eq!(issued_ids, vec![ids[1], ids[2]]);
    assert_eq!(
        store
            .pending_count(&ca, Some("ALICE".into()))
            .await
            .expect("count"),
        1,
        "requester names compare regardless of case"
    );
    assert_eq!(store.pending_count(&ca, None).await.expect("count"), 1);
    assert_eq!(
        store
            .pending_count(&ca, Some("carol".into()))
            .await
            .expect("count"),
        0
    );
}

// ---- Builders -----------------------------------------------------------------------------

/// Whole seconds after the epoch (stores keep whole seconds).
pub fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn ca(name: &str) -> CaName {
    CaName::new(name).expect("a valid CA name")
}

/// A distinct serial number for each `n`, ordered as `n`.
pub fn serial(n: u64) -> SerialNumber {
    let mut b = [0x11u8; 20];
    b[12..].copy_from_slice(&n.to_be_bytes());
    SerialNumber::from_random(b)
}

/// A pending request with one attribute and a `Pending` event, submitted at
/// `1_700_000_000 + n`.
pub fn pending(ca: &CaName, n: u64) -> NewRequest {
    NewRequest {
        ca: ca.clone(),
        status: RequestStatus::Pending,
        profile: None,
        requester: Some(format!("user-{n}")),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x03, 0x02, 0x01, n as u8],
        subject: format!("CN=host-{n}.example"),
        submitted_at: t(1_700_000_000 + n),
        resolved_at: None,
        message: Some("waiting for approval".into()),
        attributes: vec![("marker".into(), format!("req-{n}"))],
        extensions: Vec::new(),
        certificate: None,
        events: vec![(Event::Pending, format!("{{\"n\":{n}}}"))],
        audit: Vec::new(),
    }
}

/// An issued request with the certificate `serial(serial_n)`.
pub fn issued(ca: &CaName, n: u64, serial_n: u64) -> NewRequest {
    let mut r = pending(ca, n);
    r.status = RequestStatus::Issued;
    r.resolved_at = Some(t(1_700_000_100 + n));
    r.message = None;
    let host = format!("host-{n}.example");
    r.certificate = Some(certificate(serial_n, &format!("CN={host}"), &[&host]));
    r.events = vec![(Event::Issued, "{}".into())];
    r
}

/// A certificate record valid from 1_700_000_000 for a year.
pub fn certificate(serial_n: u64, subject: &str, sans: &[&str]) -> NewCertificate {
    NewCertificate {
        serial: serial(serial_n),
        der: vec![0x30; 64],
        subject: subject.into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        not_before: t(1_700_000_000),
        not_after: t(1_731_536_000),
        shard: 0,
        spki_sha256: [(serial_n % 256) as u8; 32],
        unique_key: false,
    }
}

/// A change to request `id` at `version` that sets `status` and nothing else.
pub fn update(ca: &CaName, id: RequestId, version: u64, status: RequestStatus) -> RequestUpdate {
    RequestUpdate {
        ca: ca.clone(),
        id,
        expect_version: version,
        status,
        message: None,
        resolved_at: None,
        attributes: None,
        extensions: None,
        certificate: None,
        add_approval: None,
        clear_approvals: false,
        events: Vec::new(),
        audit: Vec::new(),
    }
}

fn change(
    ca: &CaName,
    serial_n: u64,
    request_id: RequestId,
    expect: Option<Revocation>,
    new: Option<Revocation>,
    at: u64,
) -> RevocationChange {
    RevocationChange {
        ca: ca.clone(),
        serial: serial(serial_n),
        request_id,
        expect,
        new,
        status: RequestStatus::Revoked,
        changed_at: t(at),
        events: vec![(Event::Revoked, "{}".into())],
        audit: Vec::new(),
    }
}

async fn get(store: &dyn Store, ca: &CaName, id: RequestId) -> signet_core::RequestRecord {
    store
        .get_request(ca, id)
        .await
        .expect("get")
        .expect("the request exists")
}

async fn view(store: &dyn Store, ca: &CaName, q: ViewQuery) -> Vec<RequestId> {
    ids(&store.view_requests(ca, q).await.expect("view"))
}

fn ids(records: &[signet_core::RequestRecord]) -> Vec<RequestId> {
    records.iter().map(|r| r.id).collect()
}
