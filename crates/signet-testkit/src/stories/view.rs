//! View queries: the console's and REST API's filtered request listings.

use signet_core::{RequestId, RequestStatus, ViewQuery};

use super::FreshStore;
use super::builders::{ca, ids, issued, pending, serial, t, view};

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
