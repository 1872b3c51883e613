//! M-of-N approval through the engine: distinct managers, never the requester, never one
//! identity holding both admin and manager (role separation), then issued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use signet_core::{EnrollError, RequestStatus, Role, Store};
use signet_testkit::identity::{admin, manager, requester, with_roles};
use signet_testkit::policies::AlwaysPending;
use signet_testkit::{TestCa, block_on};

#[test]
fn two_distinct_managers_approve_then_the_certificate_is_issued() {
    let h = TestCa::new(AlwaysPending::needing(2)).start();
    let alice = requester("alice");
    let id = h.submit(Some(&alice), "two.example.test").unwrap().id;
    let approve =
        |who: &signet_core::Identity| block_on(h.authority.approve(Some(who), "demo", id));
    let approvals = || {
        block_on(h.store.store.get_request(&h.ca, id))
            .unwrap()
            .unwrap()
            .approvals
            .len()
    };

    let first = approve(&manager("m1")).unwrap();
    assert_eq!(first.status, RequestStatus::Pending, "1 of 2");
    assert!(first.certificate.is_none());
    assert_eq!(approvals(), 1);

    // The same manager again, in any case: does not count.
    for same in ["m1", "M1"] {
        let twice = approve(&manager(same));
        assert!(matches!(twice, Err(EnrollError::Conflict(_))), "{twice:?}");
    }
    // Not a manager; the requester under a manager role; admin and manager at once.
    let refused = [
        requester("m3"),
        admin("root"),
        with_roles("ALICE", &[Role::Manager]),
        with_roles("both", &[Role::Admin, Role::Manager]),
    ];
    for who in &refused {
        let r = approve(who);
        assert!(
            matches!(r, Err(EnrollError::Forbidden(_))),
            "{} must not approve: {r:?}",
            who.name
        );
    }
    assert_eq!(approvals(), 1, "no refused approval was recorded");

    let second = approve(&manager("m2")).unwrap();
    assert_eq!(second.status, RequestStatus::Issued, "{:?}", second.message);
    h.verify_with_openssl(&second.certificate.expect("issued"));
    let record = block_on(h.store.store.get_request(&h.ca, id))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RequestStatus::Issued);
    let audit = block_on(h.store.store.audit_for(&format!("demo/request/{id}"))).unwrap();
    let approvers: Vec<&str> = audit
        .iter()
        .filter(|a| a.action == "approve")
        .map(|a| a.actor.as_str())
        .collect();
    assert_eq!(approvers, vec!["m1", "m2"]);

    let late = approve(&manager("m3"));
    assert!(
        matches!(late, Err(EnrollError::Conflict(_))),
        "an issued request is not approved again: {late:?}"
    );
}

#[test]
fn without_role_separation_an_admin_manager_may_approve() {
    let h = TestCa::new(AlwaysPending::needing(1))
        .role_separation(false)
        .start();
    let id = h
        .submit(Some(&requester("alice")), "sep.example.test")
        .unwrap()
        .id;
    let both = with_roles("both", &[Role::Admin, Role::Manager]);
    let r = block_on(h.authority.approve(Some(&both), "demo", id)).unwrap();
    assert_eq!(r.status, RequestStatus::Issued);
}

#[test]
fn a_denial_forgets_the_approvals() {
    let h = TestCa::new(AlwaysPending::needing(2)).start();
    let id = h
        .submit(Some(&requester("alice")), "deny.example.test")
        .unwrap()
        .id;
    block_on(h.authority.approve(Some(&manager("m1")), "demo", id)).unwrap();
    let denied = block_on(
        h.authority
            .deny(Some(&manager("m2")), "demo", id, "not this one"),
    )
    .unwrap();
    assert_eq!(denied.status, RequestStatus::Denied);
    let record = block_on(h.store.store.get_request(&h.ca, id))
        .unwrap()
        .unwrap();
    assert!(record.approvals.is_empty());
    // Approving a denied request starts M-of-N again: m1 counts anew.
    let again = block_on(h.authority.approve(Some(&manager("m1")), "demo", id)).unwrap();
    assert_eq!(again.status, RequestStatus::Pending);
}
