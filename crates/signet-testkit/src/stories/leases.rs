//! Leases: one holder at a time, renewed by its holder, taken over once expired or released.

use signet_core::LeaseClaim;

use super::FreshStore;
use super::builders::t;

/// Leases: the first claimant holds the lease and renews it; another claimant is refused
/// until it expires, then takes it over (and the first is refused from then on); a released
/// lease is free at once; leases of different names are independent.
pub async fn leases(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let claim = |name: &str, holder: &str, now: u64, until: u64| LeaseClaim {
        name: name.into(),
        holder: holder.into(),
        now: t(now),
        until: t(until),
    };
    let take = |c: LeaseClaim| async move { store.take_lease(c).await.expect("take_lease") };

    assert!(
        take(claim("crl/a", "node-1", 100, 110)).await,
        "a free lease is taken"
    );
    assert!(
        !take(claim("crl/a", "node-2", 105, 115)).await,
        "a held lease is refused"
    );
    assert!(
        take(claim("crl/b", "node-2", 105, 115)).await,
        "another name is independent"
    );
    assert!(
        take(claim("crl/a", "node-1", 108, 120)).await,
        "the holder renews it"
    );
    assert!(
        !take(claim("crl/a", "node-2", 115, 125)).await,
        "a renewed lease is held until its new end"
    );
    assert!(
        take(claim("crl/a", "node-2", 121, 131)).await,
        "an expired lease is taken over"
    );
    assert!(
        !take(claim("crl/a", "node-1", 122, 132)).await,
        "the old holder has lost it"
    );
    store
        .release_lease("crl/a", "node-1")
        .await
        .expect("releasing a lease one does not hold is no error");
    assert!(
        !take(claim("crl/a", "node-1", 123, 133)).await,
        "and it did not free it"
    );
    store
        .release_lease("crl/a", "node-2")
        .await
        .expect("release");
    assert!(
        take(claim("crl/a", "node-1", 124, 134)).await,
        "a released lease is free at once"
    );
}
