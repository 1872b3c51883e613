//! The audit log: a chain of records numbered 1, 2, 3, ... with no gaps.

use signet_core::{AuditTarget, NewAudit, RequestStatus};

use super::FreshStore;
use super::builders::{ca, pending, t, update};

/// The audit log: records appended alone or with the change they describe, numbered
/// 1, 2, 3, ..., each linked to the one before; a refused change leaves no record; the
/// chain verifies; the newest time on record is the latest among the newest records.
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

    // The newest time on record is the latest time, not the last record's: a record
    // written while the clock was behind (here a day) does not move it back.
    assert_eq!(
        store.newest_time().await.expect("newest time"),
        t(1_700_000_003)
    );
    store
        .append_audit(vec![NewAudit {
            at: t(1_700_000_003 - 86_400),
            ..record("config-load", AuditTarget::None, 5)
        }])
        .await
        .expect("append");
    assert_eq!(
        store.newest_time().await.expect("newest time"),
        t(1_700_000_003),
        "a record dated earlier does not lower the newest time"
    );
}
