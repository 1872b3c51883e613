//! The revocation reads and writes of `SqlStore`: revocation sequence numbers, full and
//! delta scans by partition, expiry, stored CRLs (numbers, pruning, newest per kind) and the
//! status lookup behind OCSP.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::{
    CaName, Event, NewCertificate, NewCrl, NewRequest, RequestId, RequestStatus, Revocation,
    RevocationChange, RevocationReason, RevokedQuery, SerialNumber, Store, StoreError,
};
use signet_store::SqlStore;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn ca() -> CaName {
    CaName::new("demo").unwrap()
}

fn serial(n: u8) -> SerialNumber {
    SerialNumber::from_random([n; 20])
}

fn issued(n: u8, shard: u32, not_after: SystemTime) -> NewRequest {
    NewRequest {
        ca: ca(),
        status: RequestStatus::Issued,
        profile: None,
        requester: Some("alice".into()),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x00],
        subject: format!("CN=host{n}"),
        submitted_at: t(1_700_000_000),
        resolved_at: Some(t(1_700_000_000)),
        message: None,
        attributes: Vec::new(),
        extensions: Vec::new(),
        certificate: Some(NewCertificate {
            serial: serial(n),
            der: vec![0x30; 100],
            subject: format!("CN=host{n}"),
            sans: Vec::new(),
            not_before: t(1_700_000_000),
            not_after,
            shard,
            spki_sha256: [0; 32],
            unique_key: false,
        }),
        events: vec![(Event::Issued, "{}".into())],
        audit: Vec::new(),
    }
}

fn revocation(reason: RevocationReason, at: u64) -> Revocation {
    Revocation {
        at: t(at),
        reason,
        invalidity_date: None,
    }
}

async fn change(
    store: &SqlStore,
    id: RequestId,
    n: u8,
    expect: Option<Revocation>,
    new: Option<Revocation>,
    at: u64,
) -> Result<(), StoreError> {
    store
        .change_revocation(RevocationChange {
            ca: ca(),
            serial: serial(n),
            request_id: id,
            expect,
            status: if new.is_some() {
                RequestStatus::Revoked
            } else {
                RequestStatus::Issued
            },
            new,
            changed_at: t(at),
            events: Vec::new(),
            audit: Vec::new(),
        })
        .await
}

fn query(shard: u32, changed_after: Option<u64>, expired_before: u64) -> RevokedQuery {
    RevokedQuery {
        ca: ca(),
        shard,
        changed_after,
        expired_before: t(expired_before),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_follow_revocations_releases_partitions_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqlStore::open(&dir.path().join("signet.db")).unwrap());
    let far = t(1_900_000_000);
    let a = store.create_request(issued(1, 0, far)).await.unwrap();
    let b = store.create_request(issued(2, 0, far)).await.unwrap();
    let c = store.create_request(issued(3, 1, far)).await.unwrap();
    // Expired at 1_750_000_000.
    let d = store
        .create_request(issued(4, 0, t(1_750_000_000)))
        .await
        .unwrap();

    let key = revocation(RevocationReason::KeyCompromise, 1_710_000_000);
    let hold = revocation(RevocationReason::CertificateHold, 1_710_000_100);
    change(&store, a, 1, None, Some(key), 1_710_000_000)
        .await
        .unwrap();
    change(&store, b, 2, None, Some(hold), 1_710_000_100)
        .await
        .unwrap();
    change(&store, c, 3, None, Some(key), 1_710_000_200)
        .await
        .unwrap();
    change(&store, d, 4, None, Some(key), 1_710_000_300)
        .await
        .unwrap();

    // Partition 0, not yet expired at 1_740_000_000: a, b, d in serial order; seq 4.
    let full = store
        .scan_revoked(query(0, None, 1_740_000_000))
        .await
        .unwrap();
    assert_eq!(full.revocation_seq, 4);
    let serials: Vec<_> = full.rows.iter().map(|r| r.serial).collect();
    assert_eq!(serials, vec![serial(1), serial(2), serial(4)]);
    assert_eq!(full.rows[1].revocation, Some(hold));
    // After d expired it leaves the list.
    let later = store
        .scan_revoked(query(0, None, 1_760_000_000))
        .await
        .unwrap();
    assert_eq!(later.rows.len(), 2);
    // Partition 1 has only c.
    let one = store
        .scan_revoked(query(1, None, 1_740_000_000))
        .await
        .unwrap();
    assert_eq!(
        one.rows.iter().map(|r| r.serial).collect::<Vec<_>>(),
        vec![serial(3)]
    );

    // Release b from hold: a delta after seq 4 lists it, with no revocation and its time.
    change(&store, b, 2, Some(hold), None, 1_720_000_000)
        .await
        .unwrap();
    let delta = store
        .scan_revoked(query(0, Some(4), 1_740_000_000))
        .await
        .unwrap();
    assert_eq!(delta.revocation_seq, 5);
    assert_eq!(delta.rows.len(), 1);
    assert_eq!(delta.rows[0].serial, serial(2));
    assert_eq!(delta.rows[0].revocation, None);
    assert_eq!(delta.rows[0].changed_at, t(1_720_000_000));
    // The full list no longer has b; a stale expectation is refused.
    let full = store
        .scan_revoked(query(0, None, 1_740_000_000))
        .await
        .unwrap();
    assert_eq!(full.rows.len(), 2);
    let stale = change(&store, b, 2, Some(hold), None, 1_720_000_001).await;
    assert!(
        matches!(stale, Err(StoreError::StateChanged(_))),
        "{stale:?}"
    );

    // OCSP's lookup.
    let status = store
        .certificate_status(&ca(), serial(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.revocation, Some(key));
    let status = store
        .certificate_status(&ca(), serial(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.revocation, None);
    assert!(
        store
            .certificate_status(&ca(), serial(9))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.shards_in_use(&ca()).await.unwrap(), vec![0, 1]);
    store.close().await;
}

fn crl(shard: u32, number: u64, delta_base: Option<u64>) -> NewCrl {
    NewCrl {
        ca: ca(),
        shard,
        number,
        delta_base,
        revocation_seq: number * 10,
        this_update: t(1_700_000_000 + number),
        next_update: t(1_800_000_000),
        entries: number,
        der: Arc::new(vec![0x30, number as u8]),
        events: vec![(Event::CrlIssued, "{}".into())],
        audit: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crls_keep_their_numbers_and_the_newest_few() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let store = SqlStore::open(&path).unwrap();
    for n in 1..=10u64 {
        let base = n.is_multiple_of(2).then(|| n - 1);
        store.store_crl(crl(0, n, base)).await.unwrap();
    }
    store.store_crl(crl(3, 1, None)).await.unwrap();
    let dup = store.store_crl(crl(0, 10, None)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    store.close().await;

    let store = SqlStore::open(&path).unwrap();
    let latest = store.latest_crls(&ca()).await.unwrap();
    let summary: Vec<_> = latest
        .iter()
        .map(|c| (c.shard, c.number, c.delta_base, c.der.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 9, None, vec![0x30, 9]),
            (0, 10, Some(9), vec![0x30, 10]),
            (3, 1, None, vec![0x30, 1]),
        ]
    );
    // Three of each kind are kept per partition; listings carry no DER.
    let listed = store.list_crls(&ca(), 100).await.unwrap();
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|c| c.der.is_empty()));
    assert_eq!(listed[0].this_update, t(1_700_000_010));
    // Each publication raised its CrlIssued event.
    let events = store.outbox_after(&ca(), 0, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == Event::CrlIssued)
            .count(),
        11
    );
    store.close().await;
}

/// The delegated OCSP responder's sealed key: stored with its certificate, one per CA (a new
/// responder certificate replaces the key), and read back only while its certificate is
/// neither revoked nor expired.
#[tokio::test(flavor = "multi_thread")]
async fn the_responder_key_is_kept_with_its_certificate() {
    use signet_core::revocation::SealedKey;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqlStore::open(&dir.path().join("s.db")).unwrap());
    let now = t(1_700_000_100);
    assert!(store.current_responder(&ca(), now).await.unwrap().is_none());

    // A responder certificate recorded without a key (a factory that keeps none) is not
    // offered again.
    store
        .create_request(issued(1, 0, t(1_800_000_000)))
        .await
        .unwrap();
    assert!(store.current_responder(&ca(), now).await.unwrap().is_none());

    let first = store
        .create_responder(
            issued(2, 0, t(1_800_000_000)),
            SealedKey::new(b"key two".to_vec()),
        )
        .await
        .unwrap();
    let got = store.current_responder(&ca(), now).await.unwrap().unwrap();
    assert_eq!(got.serial, serial(2));
    assert_eq!(got.sealed_key.as_bytes(), b"key two");
    assert_eq!(got.certificate, vec![0x30; 100]);
    assert_eq!(got.not_after, t(1_800_000_000));
    assert_eq!(format!("{:?}", got.sealed_key), "SealedKey(7 bytes)");

    // The next responder's key replaces it.
    let second = store
        .create_responder(
            issued(3, 0, t(1_800_000_000)),
            SealedKey::new(b"key three".to_vec()),
        )
        .await
        .unwrap();
    assert_ne!(first, second);
    let got = store.current_responder(&ca(), now).await.unwrap().unwrap();
    assert_eq!(got.serial, serial(3));
    assert_eq!(got.sealed_key.as_bytes(), b"key three");
    let conn = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM responder_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);

    // Expired at `now`, or revoked: not offered.
    assert!(
        store
            .current_responder(&ca(), t(1_800_000_000))
            .await
            .unwrap()
            .is_none()
    );
    change(
        &store,
        second,
        3,
        None,
        Some(revocation(RevocationReason::KeyCompromise, 1_700_000_050)),
        1_700_000_050,
    )
    .await
    .unwrap();
    assert!(store.current_responder(&ca(), now).await.unwrap().is_none());
    // A key without its certificate's transaction is never written: a failing certificate
    // insert (a duplicate serial) leaves the stored key alone.
    assert!(
        store
            .create_responder(
                issued(3, 0, t(1_800_000_000)),
                SealedKey::new(b"dup".to_vec())
            )
            .await
            .is_err()
    );
    let sealed: Vec<u8> = conn
        .query_row("SELECT sealed FROM responder_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sealed, b"key three");
}
