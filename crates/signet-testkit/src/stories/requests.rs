//! Requests: a request's life under optimistic concurrency, and serial numbers recorded once per CA.

use signet_core::{
    Approval, Event, ExtensionOrigin, ProfileName, RequestStatus, StoreError, StoredExtension,
};

use super::FreshStore;
use super::builders::{ca, certificate, get, ids, issued, pending, serial, t, update};

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
