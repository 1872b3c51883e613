//! Submit through the engine, without the binary: the policy's three answers (issue, deny,
//! pending), what is stored for each, and who may submit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use signet_core::{EnrollError, Event, RequestStatus, Store};
use signet_testkit::identity::{manager, requester};
use signet_testkit::policies::{AlwaysDeny, AlwaysIssue, AlwaysPending};
use signet_testkit::{TestCa, block_on};

#[test]
fn an_issued_certificate_is_stored_and_verifies_with_openssl() {
    let h = TestCa::new(AlwaysIssue).start();
    let alice = requester("alice");
    let r = h.submit(Some(&alice), "www.example.test").unwrap();
    assert_eq!(r.status, RequestStatus::Issued, "{:?}", r.message);
    let der = r.certificate.expect("the certificate comes back");
    assert_eq!(r.chain, vec![h.ca_certificate.clone()]);
    h.verify_with_openssl(&der);

    let info = signet_x509::parse_certificate(&der).unwrap();
    assert_eq!(info.subject.to_string(), "CN=www.example.test");
    let serial: signet_core::SerialNumber = info.serial_hex.parse().unwrap();
    assert_eq!(Some(serial.to_hex()), r.serial.as_ref().map(|s| s.to_hex()));
    assert!(info.not_before <= h.now(), "not after the clock");

    let store = h.store.as_dyn();
    let record = block_on(store.get_request(&h.ca, r.id)).unwrap().unwrap();
    assert_eq!(record.status, RequestStatus::Issued);
    assert_eq!(record.requester.as_deref(), Some("alice"));
    assert_eq!(record.certificate.expect("stored").der, der);
    let events = block_on(store.outbox_after(&h.ca, 0, 100)).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == Event::Issued && e.request_id == Some(r.id))
    );
    let audit = block_on(store.audit_for(&format!("demo/request/{}", r.id))).unwrap();
    assert_eq!(audit[0].action, "submit");
    assert_eq!(audit[0].actor, "alice");

    // The requester reads their own request back; another requester does not see it.
    let again = block_on(h.authority.retrieve_request("demo", r.id, Some(&alice))).unwrap();
    assert_eq!(again.certificate, Some(der));
    let bob = requester("bob");
    assert!(block_on(h.authority.retrieve_request("demo", r.id, Some(&bob))).is_err());
}

#[test]
fn a_denied_request_is_stored_with_the_reason_and_no_certificate() {
    let h = TestCa::new(AlwaysDeny).start();
    let r = h
        .submit(Some(&requester("alice")), "denied.example.test")
        .unwrap();
    assert_eq!(r.status, RequestStatus::Denied);
    assert!(r.certificate.is_none() && r.serial.is_none());
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains(AlwaysDeny::REASON),
        "{:?}",
        r.message
    );
    let record = block_on(h.store.store.get_request(&h.ca, r.id))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RequestStatus::Denied);
    assert!(record.certificate.is_none());
    let events = block_on(h.store.store.outbox_after(&h.ca, 0, 100)).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == Event::Denied && e.request_id == Some(r.id))
    );
}

#[test]
fn a_pending_request_waits_in_the_queue() {
    let h = TestCa::new(AlwaysPending::needing(1)).start();
    let r = h
        .submit(Some(&requester("alice")), "later.example.test")
        .unwrap();
    assert_eq!(r.status, RequestStatus::Pending);
    assert!(r.certificate.is_none());
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains(AlwaysPending::REASON)
    );
    let store = &h.store.store;
    let queue = block_on(store.list_requests(&h.ca, Some(RequestStatus::Pending), 10)).unwrap();
    assert_eq!(queue.iter().map(|q| q.id).collect::<Vec<_>>(), vec![r.id]);
    assert_eq!(
        block_on(store.pending_count(&h.ca, Some("alice".into()))).unwrap(),
        1
    );
}

#[test]
fn only_requesters_may_submit_and_a_refusal_stores_nothing() {
    let h = TestCa::new(AlwaysIssue).start();
    let refused = h.submit(Some(&manager("mallory")), "x.example.test");
    assert!(
        matches!(refused, Err(EnrollError::Forbidden(_))),
        "{refused:?}"
    );
    let anonymous = h.submit(None, "x.example.test");
    assert!(
        matches!(anonymous, Err(EnrollError::Unauthenticated(_))),
        "{anonymous:?}"
    );
    let garbage = block_on(h.authority.submit_request(signet_core::SubmitRequest {
        ca: "demo".into(),
        csr: b"not a CSR".to_vec(),
        profile: None,
        attributes: Vec::new(),
        caller: Some(requester("alice")),
    }));
    assert!(
        matches!(garbage, Err(EnrollError::BadRequest(_))),
        "{garbage:?}"
    );
    let stored = block_on(h.store.store.list_requests(&h.ca, None, 10)).unwrap();
    assert!(stored.is_empty(), "nothing was stored: {stored:?}");
}
