//! CRL records: stored per partition and read back newest first.

use std::sync::Arc;

use signet_core::{Event, NewCrl, StoreError};

use super::FreshStore;
use super::builders::{ca, t};

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
