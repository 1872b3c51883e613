//! Requests: a request's life under optimistic concurrency, and serial numbers recorded once per CA.

use signet_core::{
    Approval, AuditTarget, Event, ExtensionOrigin, NewAudit, NewRequest, ProfileName, RequestId,
    RequestStatus, StoreError, StoredExtension,
};

use super::FreshStore;
use super::acme::join_all;
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

/// Requests submitted at once, which a store may write together: each is stored exactly as
/// it would be alone (attributes and extensions in order, its certificate, its events, its
/// audit record naming it); ids are distinct. In a second burst, a duplicate serial (of a
/// request in the burst, and of one stored before), and a second holder of a key whose
/// profile wants a key of one's own, fail only themselves. The audit chain verifies.
pub async fn concurrent_requests(fresh: impl Fn() -> FreshStore) {
    // The first burst, 1..=24, is all distinct. In the second, 25..=48: DUP asks for the
    // serial of DUP_OF (the same burst), OLD for the serial of request 3 (the first burst);
    // KEY_B for the key of KEY_A, whose profile wants a key of the holder's own.
    const DUP_OF: u64 = 30;
    const DUP: u64 = 40;
    const OLD: u64 = 41;
    const KEY_A: u64 = 44;
    const KEY_B: u64 = 45;
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("burst");
    let head = store.audit_head().await.expect("audit head");
    let outbox_head = store.outbox_head(&ca).await.expect("outbox head");
    let request = |n: u64| {
        let serial_n = match n {
            DUP => DUP_OF,
            OLD => 3,
            n => n,
        };
        let mut r = issued(&ca, n, serial_n);
        r.attributes = vec![
            ("z-first".into(), format!("{n}")),
            ("a-second".into(), format!("value {n}")),
        ];
        r.extensions = (0..3)
            .map(|i| StoredExtension {
                oid: format!("1.2.3.{i}"),
                critical: i == 1,
                disabled: i == 2,
                origin: ExtensionOrigin::Policy,
                value: vec![0x04, 0x01, n as u8, i],
            })
            .collect();
        r.events = vec![
            (Event::Issued, format!("{{\"n\":{n}}}")),
            (Event::Pending, format!("{{\"second\":{n}}}")),
        ];
        r.audit = vec![NewAudit {
            at: t(1_700_000_000 + n),
            actor: format!("user-{n}"),
            action: "submit".into(),
            ca: Some(ca.clone()),
            target: AuditTarget::ThisRequest,
            details: format!("{{\"n\":{n}}}"),
        }];
        if let Some(cert) = r.certificate.as_mut()
            && (n == KEY_A || n == KEY_B)
        {
            cert.spki_sha256 = [0xAB; 32];
            cert.unique_key = true;
        }
        r
    };
    let mut stored: Vec<(RequestId, NewRequest)> = Vec::new();
    for (burst, numbers) in [(1, 1..=24u64), (2, 25..=48)] {
        let made: Vec<(u64, NewRequest)> = numbers.map(|n| (n, request(n))).collect();
        let results = join_all(
            made.iter()
                .map(|(_, r)| store.create_request(r.clone()))
                .collect(),
        )
        .await;
        let mut refused = Vec::new();
        for ((n, req), result) in made.into_iter().zip(results) {
            match result {
                Ok(id) => stored.push((id, req)),
                Err(StoreError::Conflict(_)) => refused.push(n),
                Err(e) => panic!("request {n} is refused only as a conflict: {e:?}"),
            }
        }
        if burst == 1 {
            assert_eq!(
                refused,
                Vec::<u64>::new(),
                "distinct requests are all stored"
            );
            continue;
        }
        assert_eq!(
            refused.len(),
            3,
            "one of the in-burst duplicate serials, the old serial and one holder of the shared key are refused, nothing else: {refused:?}"
        );
        assert!(
            refused.contains(&DUP_OF) != refused.contains(&DUP),
            "one of requests {DUP_OF} and {DUP} (the same serial) is refused: {refused:?}"
        );
        assert!(
            refused.contains(&OLD),
            "request {OLD} reuses a stored serial"
        );
        assert!(
            refused.contains(&KEY_A) != refused.contains(&KEY_B),
            "one of requests {KEY_A} and {KEY_B} (the same key) is refused: {refused:?}"
        );
    }

    let mut distinct: Vec<RequestId> = stored.iter().map(|(id, _)| *id).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), stored.len(), "every request has its own id");
    for (id, req) in &stored {
        let got = get(store, &ca, *id).await;
        assert_eq!(
            (&got.subject, &got.raw, got.status, &got.requester),
            (&req.subject, &req.raw, req.status, &req.requester),
            "request {id} is the one submitted"
        );
        assert_eq!(got.attributes, req.attributes, "request {id}'s attributes");
        assert_eq!(got.extensions, req.extensions, "request {id}'s extensions");
        let cert = got.certificate.expect("its certificate");
        let want = req.certificate.as_ref().expect("issued");
        assert_eq!(
            (cert.serial, &cert.der, &cert.sans),
            (want.serial, &want.der, &want.sans),
            "request {id}'s certificate"
        );
        let by_serial = store
            .request_by_serial(&ca, want.serial)
            .await
            .expect("by serial");
        assert_eq!(by_serial.map(|r| r.id), Some(*id), "its serial finds it");
    }

    // Events: two per stored request, in the order it raised them, nothing of the refused.
    let events = store
        .outbox_after(&ca, outbox_head, 1000)
        .await
        .expect("outbox");
    assert_eq!(
        events.len(),
        stored.len() * 2,
        "two events per stored request"
    );
    for (id, req) in &stored {
        let own: Vec<(Event, &str)> = events
            .iter()
            .filter(|e| e.request_id == Some(*id))
            .map(|e| (e.event, e.details.as_str()))
            .collect();
        let want: Vec<(Event, &str)> = req.events.iter().map(|(e, d)| (*e, d.as_str())).collect();
        assert_eq!(own, want, "request {id}'s events, in order");
    }

    // Audit: one record per stored request, naming it, and the chain verifies.
    let records = store.audit_after(head, 1000).await.expect("audit");
    assert_eq!(records.len(), stored.len(), "one record per stored request");
    for (id, req) in &stored {
        let this = format!("{ca}/request/{id}");
        let about: Vec<_> = records.iter().filter(|r| r.target == this).collect();
        assert_eq!(about.len(), 1, "one record names request {id}");
        assert_eq!(about[0].actor, req.audit[0].actor, "and it is its own");
    }
    let check = store.verify_audit().await.expect("verify");
    assert_eq!(check.first_broken, None, "the chain verifies");
}
