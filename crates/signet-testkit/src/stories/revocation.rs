//! Revocation: revoking, holding and releasing a certificate, and the changes a CRL reads.

use signet_core::{RequestStatus, Revocation, RevocationReason, RevokedQuery, StoreError};

use super::FreshStore;
use super::builders::{ca, change, get, issued, serial, t};

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
