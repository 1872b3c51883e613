//! ACME storage, continued: orders and authorizations (atomic creation, compare-and-swap,
//! reuse, `replaces`), nonces and the nonce secret, purging.

use std::time::Duration;

use signet_api::acme::{
    AcmeChallenge, AcmeMutation, AcmeOrder, AcmePurged, AcmeStoreError, AuthzStatus,
    ChallengeStatus, ChallengeType, NonceUse, OrderStatus,
};
use signet_core::{BoxFuture, RequestId};

use super::acme::{
    FreshAcme, account, audit, authz, authz_update, dns, is_conflict, join_all, order, order_update,
};
use super::builders::{ca, serial, t};

fn ids(list: Vec<AcmeOrder>) -> Vec<String> {
    list.into_iter().map(|o| o.id).collect()
}

/// Orders: created with their new authorizations in one write (a refused order writes none
/// of them, a refused authorization refuses its order); status changes are compare-and-swap
/// (a stale `expect` changes nothing and says so); request and serial are set once given and
/// kept after; listed newest first per CA or account, paged by the last order seen; counted
/// since a time; one live order replaces a certificate, and an invalid one frees it.
pub async fn acme_orders(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let acme = &*fresh.acme;
    let ca = ca("acme-orders");
    for (id, n) in [("acct-o", 1), ("acct-p", 2)] {
        acme.create_account(
            account(&ca, id, &format!("tp-{id}"), 1_700_000_000),
            audit("acme-account-create", Some(&ca), id, n),
        )
        .await
        .expect("create account");
    }
    let pending = AuthzStatus::Pending;
    let az1 = authz(
        &ca,
        "authz-1",
        "acct-o",
        "a.example",
        false,
        pending,
        1_800_000_000,
    );
    let o1 = order(&ca, "order-1", "acct-o", &["authz-1"], 1_700_000_100);
    acme.create_order(o1.clone(), vec![az1.clone()])
        .await
        .expect("create order");
    assert_eq!(acme.order(&ca, "order-1").await.expect("read"), Some(o1));
    assert_eq!(
        acme.authz(&ca, "authz-1").await.expect("read"),
        Some(az1.clone())
    );

    // An order whose new authorization exists already is refused whole.
    let o2 = order(&ca, "order-2", "acct-o", &["authz-1"], 1_700_000_110);
    let refused = acme.create_order(o2, vec![az1.clone()]).await;
    assert!(is_conflict(&refused), "{refused:?}");
    assert_eq!(
        acme.order(&ca, "order-2").await.expect("read"),
        None,
        "no order"
    );
    // An order that exists already writes none of its new authorizations.
    let dup = order(&ca, "order-1", "acct-o", &["authz-new"], 1_700_000_120);
    let az_new = authz(
        &ca,
        "authz-new",
        "acct-o",
        "a.example",
        false,
        pending,
        1_800_000_000,
    );
    let refused = acme.create_order(dup, vec![az_new]).await;
    assert!(is_conflict(&refused), "{refused:?}");
    assert_eq!(
        acme.authz(&ca, "authz-new").await.expect("read"),
        None,
        "no authz"
    );

    let ready = order_update(&ca, "order-1", OrderStatus::Pending, OrderStatus::Ready);
    assert!(
        acme.update_order(ready.clone()).await.expect("cas"),
        "applied"
    );
    assert!(
        !acme.update_order(ready).await.expect("cas"),
        "stale expect"
    );
    let mut processing = order_update(&ca, "order-1", OrderStatus::Ready, OrderStatus::Processing);
    processing.request = Some(RequestId::new(42).expect("id"));
    assert!(acme.update_order(processing).await.expect("cas"));
    let mut valid = order_update(&ca, "order-1", OrderStatus::Processing, OrderStatus::Valid);
    valid.serial = Some(serial(1));
    assert!(acme.update_order(valid).await.expect("cas"));
    let o1 = acme
        .order(&ca, "order-1")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(o1.status, OrderStatus::Valid);
    assert_eq!(o1.request, Some(RequestId::new(42).expect("id")), "kept");
    assert!(o1.claimed_at.is_some(), "the move to processing is timed");
    assert_eq!(o1.serial, Some(serial(1)));
    assert_eq!(o1.error, None);
    let unknown = order_update(&ca, "order-none", OrderStatus::Pending, OrderStatus::Ready);
    assert!(!acme.update_order(unknown).await.expect("cas"), "absent");

    for (id, acct, created) in [
        ("order-3", "acct-o", 1_700_000_200),
        ("order-4", "acct-o", 1_700_000_300),
        ("order-5", "acct-p", 1_700_000_400),
    ] {
        acme.create_order(order(&ca, id, acct, &[], created), Vec::new())
            .await
            .expect("create order");
    }
    let all = acme.orders(&ca, None, None, 10).await.expect("list");
    assert_eq!(
        ids(all),
        ["order-5", "order-4", "order-3", "order-1"],
        "newest first"
    );
    let of_o = acme
        .orders(&ca, Some("acct-o"), None, 10)
        .await
        .expect("list");
    assert_eq!(ids(of_o), ["order-4", "order-3", "order-1"]);
    let page = acme
        .orders(&ca, Some("acct-o"), None, 2)
        .await
        .expect("list");
    assert_eq!(ids(page), ["order-4", "order-3"], "at most limit");
    let next = acme.orders(&ca, Some("acct-o"), Some("order-3"), 2).await;
    assert_eq!(
        ids(next.expect("list")),
        ["order-1"],
        "the page after order-3"
    );
    let before = acme
        .orders(&ca, None, Some("order-4"), 10)
        .await
        .expect("list");
    assert_eq!(ids(before), ["order-3", "order-1"]);
    let since = acme.count_orders(&ca, "acct-o", t(1_700_000_200)).await;
    assert_eq!(since.expect("count"), 2, "created at or after");
    assert_eq!(
        acme.count_orders(&ca, "acct-o", t(0)).await.expect("count"),
        3
    );

    let replacing = |id: &str| {
        let mut o = order(&ca, id, "acct-o", &[], 1_700_000_500);
        o.replaces = Some(serial(9));
        o
    };
    acme.create_order(replacing("order-r1"), Vec::new())
        .await
        .expect("a replacement");
    let live = acme.order_replacing(&ca, &serial(9)).await.expect("read");
    assert_eq!(live.map(|o| o.id), Some("order-r1".into()));
    let none = acme.order_replacing(&ca, &serial(8)).await.expect("read");
    assert_eq!(none, None);
    let refused = acme.create_order(replacing("order-r2"), Vec::new()).await;
    assert!(is_conflict(&refused), "one live replacement: {refused:?}");
    assert_eq!(acme.order(&ca, "order-r2").await.expect("read"), None);
    let mut invalid = order_update(&ca, "order-r1", OrderStatus::Pending, OrderStatus::Invalid);
    invalid.error = Some(r#"{"type":"urn:ietf:params:acme:error:unauthorized"}"#.into());
    assert!(acme.update_order(invalid.clone()).await.expect("cas"));
    let r1 = acme
        .order(&ca, "order-r1")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(r1.error, invalid.error, "the problem is stored");
    let freed = acme.order_replacing(&ca, &serial(9)).await.expect("read");
    assert_eq!(freed, None, "an invalid order replaces nothing");
    acme.create_order(replacing("order-r2"), Vec::new())
        .await
        .expect("an invalid order frees the certificate");
    let live = acme.order_replacing(&ca, &serial(9)).await.expect("read");
    assert_eq!(live.map(|o| o.id), Some("order-r2".into()));
}

/// Authorizations: status, expiry and challenges change by compare-and-swap and read back as
/// written; the reusable one is valid, unexpired at the time asked, of the same account,
/// identifier and wildcard flag, and the one expiring last; pending ones are counted.
pub async fn acme_authzs(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let acme = &*fresh.acme;
    let ca = ca("acme-authzs");
    for (id, n) in [("acct-z", 1), ("acct-y", 2)] {
        acme.create_account(
            account(&ca, id, &format!("tp-{id}"), 1_700_000_000),
            audit("acme-account-create", Some(&ca), id, n),
        )
        .await
        .expect("create account");
    }
    let (valid, pending) = (AuthzStatus::Valid, AuthzStatus::Pending);
    let z = [
        authz(&ca, "authz-v", "acct-z", "a.example", false, valid, 2_000),
        authz(
            &ca,
            "authz-v-late",
            "acct-z",
            "a.example",
            false,
            valid,
            3_000,
        ),
        authz(&ca, "authz-w", "acct-z", "a.example", true, valid, 5_000),
        authz(&ca, "authz-p", "acct-z", "a.example", false, pending, 4_000),
        authz(
            &ca,
            "authz-x",
            "acct-z",
            "a.example",
            false,
            AuthzStatus::Invalid,
            6_000,
        ),
        authz(&ca, "authz-b", "acct-z", "b.example", false, valid, 7_000),
    ];
    let z_ids: Vec<&str> = z.iter().map(|a| a.id.as_str()).collect();
    acme.create_order(order(&ca, "order-z", "acct-z", &z_ids, 1_000), z.to_vec())
        .await
        .expect("order of z");
    let y = authz(&ca, "authz-y", "acct-y", "a.example", false, valid, 8_000);
    acme.create_order(
        order(&ca, "order-y", "acct-y", &["authz-y"], 1_000),
        vec![y],
    )
    .await
    .expect("order of y");

    let scope = &ca;
    let reuse = |acct: &'static str, name: &'static str, wildcard: bool, at: u64| {
        let identifier = dns(name);
        async move {
            acme.reusable_authz(scope, acct, &identifier, wildcard, t(at))
                .await
                .expect("reusable authz")
                .map(|a| a.id)
        }
    };
    let id = |s: &str| Some(s.to_string());
    assert_eq!(
        reuse("acct-z", "a.example", false, 1_000).await,
        id("authz-v-late")
    );
    assert_eq!(
        reuse("acct-z", "a.example", false, 2_500).await,
        id("authz-v-late")
    );
    assert_eq!(
        reuse("acct-z", "a.example", false, 3_500).await,
        None,
        "expired"
    );
    assert_eq!(
        reuse("acct-z", "a.example", true, 1_000).await,
        id("authz-w")
    );
    assert_eq!(
        reuse("acct-y", "a.example", false, 1_000).await,
        id("authz-y")
    );
    assert_eq!(
        reuse("acct-z", "b.example", false, 1_000).await,
        id("authz-b")
    );
    assert_eq!(reuse("acct-y", "b.example", false, 1_000).await, None);
    assert_eq!(reuse("acct-z", "c.example", false, 1_000).await, None);

    let count = |at: u64| acme.count_pending_authzs(&ca, "acct-z", t(at));
    assert_eq!(count(1_000).await.expect("count"), 1);
    assert_eq!(
        count(4_500).await.expect("count"),
        0,
        "expired ones are not counted"
    );

    let mut update = authz_update(&ca, "authz-p", pending, valid, 9_000);
    update.challenges = vec![
        AcmeChallenge {
            kind: ChallengeType::Http01,
            token: "token-authz-p".into(),
            status: ChallengeStatus::Valid,
            validated: Some(t(1_500)),
            error: None,
            since: None,
        },
        AcmeChallenge {
            kind: ChallengeType::Dns01,
            token: "token-authz-p-dns".into(),
            status: ChallengeStatus::Invalid,
            validated: None,
            error: Some(r#"{"type":"urn:ietf:params:acme:error:dns","detail":"no TXT"}"#.into()),
            since: None,
        },
    ];
    assert!(
        acme.update_authz(update.clone()).await.expect("cas"),
        "applied"
    );
    assert!(
        !acme.update_authz(update.clone()).await.expect("cas"),
        "stale expect"
    );
    let stored = acme
        .authz(&ca, "authz-p")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.status, valid);
    assert_eq!(stored.expires, t(9_000));
    assert_eq!(
        stored.challenges, update.challenges,
        "challenges as written"
    );
    assert_eq!(stored.identifier, dns("a.example"));
    assert_eq!(stored.account, "acct-z");
    assert_eq!(
        reuse("acct-z", "a.example", false, 8_000).await,
        id("authz-p")
    );
    assert_eq!(count(1_000).await.expect("count"), 0);
    let unknown = authz_update(&ca, "authz-none", pending, valid, 9_000);
    assert!(!acme.update_authz(unknown).await.expect("cas"), "absent");

    // Claims: of concurrent claims of one authorization (the same challenge, or two of its
    // challenges), on two handles, exactly one wins, so one validation runs and decides it.
    let mut c = authz(&ca, "authz-c", "acct-z", "c.example", false, pending, 9_000);
    c.challenges.push(AcmeChallenge {
        kind: ChallengeType::Dns01,
        token: "token-authz-c-dns".into(),
        status: ChallengeStatus::Pending,
        validated: None,
        error: None,
        since: None,
    });
    acme.create_order(
        order(&ca, "order-c", "acct-z", &["authz-c"], 1_000),
        vec![c.clone()],
    )
    .await
    .expect("order of c");
    let other = fresh.reopen();
    let claim = |index: usize| {
        let mut claim = authz_update(&ca, "authz-c", pending, pending, 9_000);
        claim.challenges = c.challenges.clone();
        claim.challenges[index].status = ChallengeStatus::Processing;
        claim.challenges[index].since = Some(std::time::SystemTime::now());
        claim
    };
    let racing: Vec<BoxFuture<'_, _>> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { acme } else { &*other };
            store.update_authz(claim(i % 2))
        })
        .collect();
    let won = join_all(racing)
        .await
        .into_iter()
        .map(|r| r.expect("claim"))
        .filter(|&won| won)
        .count();
    assert_eq!(won, 1, "one claim of an authorization wins");
    let claimed = acme
        .authz(&ca, "authz-c")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        claimed
            .challenges
            .iter()
            .filter(|ch| ch.status == ChallengeStatus::Processing)
            .count(),
        1
    );
    // The validation's outcome still lands.
    let mut outcome = authz_update(&ca, "authz-c", pending, valid, 9_000);
    outcome.challenges = claimed.challenges.clone();
    assert!(acme.update_authz(outcome).await.expect("cas"));

    // A validation claimed VALIDATION_TIMEOUT ago was lost (its node stopped): it no longer
    // holds the authorization, and a new claim wins.
    let mut d = authz(&ca, "authz-d", "acct-z", "d.example", false, pending, 9_000);
    d.challenges[0].status = ChallengeStatus::Processing;
    // Whole seconds, as the store keeps times.
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    d.challenges[0].since = Some(t(unix_now
        - signet_api::acme::VALIDATION_TIMEOUT.as_secs()
        - 5));
    acme.create_order(
        order(&ca, "order-d", "acct-z", &["authz-d"], 1_000),
        vec![d.clone()],
    )
    .await
    .expect("order of d");
    let stored = acme
        .authz(&ca, "authz-d")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.challenges, d.challenges, "the claim's time is kept");
    assert!(stored.challenges[0].stale(std::time::SystemTime::now()));
    let mut again = authz_update(&ca, "authz-d", pending, pending, 9_000);
    again.challenges = d.challenges.clone();
    again.challenges[0].since = Some(std::time::SystemTime::now());
    assert!(
        acme.update_authz(again.clone()).await.expect("claim"),
        "a lost validation is claimed anew"
    );
    assert!(
        !acme.update_authz(again).await.expect("claim"),
        "and then holds it"
    );
}

/// Nonces and their secret: the secret is the first candidate, then always the stored one, on
/// every handle of the database; a nonce is used once, across handles, and of many
/// concurrent uses of one nonce exactly one succeeds.
pub async fn acme_nonces(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let acme = &*fresh.acme;
    let secret = acme.acme_nonce_secret([1; 32]).await.expect("secret");
    assert_eq!(secret, [1; 32], "the first candidate is stored");
    let again = acme.acme_nonce_secret([2; 32]).await.expect("secret");
    assert_eq!(again, [1; 32], "then the stored one is returned");
    let other = fresh.reopen();
    let there = other.acme_nonce_secret([3; 32]).await.expect("secret");
    assert_eq!(
        there, [1; 32],
        "another handle (node, restart) gets the same secret"
    );

    let expires = t(4_000_000_000);
    assert!(
        acme.use_nonce([1; 16], expires).await.expect("use"),
        "first use"
    );
    assert!(
        !acme.use_nonce([1; 16], expires).await.expect("use"),
        "second use"
    );
    assert!(
        !other.use_nonce([1; 16], expires).await.expect("use"),
        "on another node"
    );
    assert!(other.use_nonce([2; 16], expires).await.expect("use"));
    assert!(!acme.use_nonce([2; 16], expires).await.expect("use"));

    let racing: Vec<BoxFuture<'_, _>> = (0..32)
        .map(|i| {
            if i % 2 == 0 {
                acme.use_nonce([9; 16], expires)
            } else {
                other.use_nonce([9; 16], expires)
            }
        })
        .collect();
    let results = join_all(racing).await;
    let won = results
        .into_iter()
        .map(|r| r.expect("use"))
        .filter(|&first| first)
        .count();
    assert_eq!(
        won, 1,
        "of concurrent uses of one nonce, exactly one is first"
    );

    let distinct: Vec<BoxFuture<'_, _>> = (0..16u8)
        .map(|i| acme.use_nonce([0x40 + i; 16], expires))
        .collect();
    let results = join_all(distinct).await;
    assert!(
        results.into_iter().all(|r| r.expect("use")),
        "distinct nonces used at once are each first"
    );

    // A write that spends a nonce: all or nothing, and never twice.
    let ca = ca("acme-spend");
    acme.create_account(
        account(&ca, "acct-s", "tp-s", 1_700_000_000),
        audit("acme-account-create", Some(&ca), "acct-s", 1),
    )
    .await
    .expect("create account");
    let nonce = |b: u8| NonceUse {
        id: [b; 16],
        expires,
    };
    let az = authz(
        &ca,
        "authz-s1",
        "acct-s",
        "s.example",
        false,
        AuthzStatus::Pending,
        1_800_000_000,
    );
    let o1 = order(&ca, "order-s1", "acct-s", &["authz-s1"], 1_700_000_100);
    let created = acme
        .write_spending(
            nonce(0x71),
            AcmeMutation::CreateOrder(Box::new(o1.clone()), vec![az.clone()]),
        )
        .await;
    assert_eq!(created, Ok(true), "first use creates the order");
    assert_eq!(acme.order(&ca, "order-s1").await.expect("read"), Some(o1));
    // The replay: the same nonce with another write is refused, and writes nothing.
    let o2 = order(&ca, "order-s2", "acct-s", &[], 1_700_000_200);
    let replayed = acme
        .write_spending(
            nonce(0x71),
            AcmeMutation::CreateOrder(Box::new(o2), Vec::new()),
        )
        .await;
    assert_eq!(replayed, Err(AcmeStoreError::NonceUsed), "{replayed:?}");
    assert_eq!(acme.order(&ca, "order-s2").await.expect("read"), None);
    assert!(
        !other.use_nonce([0x71; 16], expires).await.expect("use"),
        "the nonce the write spent is used on every node"
    );
    // A nonce spent by a standalone use cannot carry a write either.
    assert!(acme.use_nonce([0x72; 16], expires).await.expect("use"));
    let late = acme
        .write_spending(
            nonce(0x72),
            AcmeMutation::UpdateOrder(order_update(
                &ca,
                "order-s1",
                OrderStatus::Pending,
                OrderStatus::Processing,
            )),
        )
        .await;
    assert_eq!(late, Err(AcmeStoreError::NonceUsed));
    assert_eq!(
        acme.order(&ca, "order-s1")
            .await
            .expect("read")
            .map(|o| o.status),
        Some(OrderStatus::Pending),
        "the refused claim changed nothing"
    );
    // A compare-and-swap that loses still spends its nonce (the request was answered).
    let lost = acme
        .write_spending(
            nonce(0x73),
            AcmeMutation::UpdateAuthz(authz_update(
                &ca,
                "authz-s1",
                AuthzStatus::Valid,
                AuthzStatus::Invalid,
                1_800_000_000,
            )),
        )
        .await;
    assert_eq!(lost, Ok(false));
    assert!(!acme.use_nonce([0x73; 16], expires).await.expect("use"));
    // A write the store refuses rolls back its nonce with it: the nonce is still unused.
    let refused = acme
        .write_spending(
            nonce(0x74),
            AcmeMutation::CreateOrder(
                Box::new(order(
                    &ca,
                    "order-s3",
                    "acct-s",
                    &["authz-s1"],
                    1_700_000_300,
                )),
                vec![az],
            ),
        )
        .await;
    assert!(is_conflict(&refused), "{refused:?}");
    assert!(
        acme.use_nonce([0x74; 16], expires).await.expect("use"),
        "a refused write leaves its nonce unspent"
    );
    // Racing requests carrying one nonce: exactly one write happens.
    let racing: Vec<BoxFuture<'_, _>> = (0..8u8)
        .map(|i| {
            let update = order_update(&ca, "order-s1", OrderStatus::Pending, OrderStatus::Ready);
            let store = if i % 2 == 0 { acme } else { &*other };
            store.write_spending(nonce(0x75), AcmeMutation::UpdateOrder(update))
        })
        .collect();
    let results = join_all(racing).await;
    assert_eq!(
        results.iter().filter(|r| **r == Ok(true)).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| *r == Ok(true) || *r == Err(AcmeStoreError::NonceUsed)),
        "{results:?}"
    );
}

/// Purging: used nonces that expired, authorizations and orders that expired longer ago than
/// the grace period go (orders unless `valid` or `processing`); the rest stays. A second
/// purge finds nothing.
pub async fn acme_purge(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let acme = &*fresh.acme;
    let ca = ca("acme-purge");
    let now = 1_700_100_000;
    let keep = Duration::from_secs(3_600);
    let long_ago = now - 3_600 - 10;
    let lately = now - 10;
    acme.create_account(
        account(&ca, "acct", "tp", 1_700_000_000),
        audit("acme-account-create", Some(&ca), "acct", 1),
    )
    .await
    .expect("create account");

    for (nonce, expires) in [(1u8, now - 10), (2, now + 10)] {
        assert!(acme.use_nonce([nonce; 16], t(expires)).await.expect("use"));
    }
    let orders = [
        ("old-invalid", OrderStatus::Invalid, long_ago, false),
        ("old-pending", OrderStatus::Pending, long_ago, false),
        ("old-valid", OrderStatus::Valid, long_ago, true),
        ("old-processing", OrderStatus::Processing, long_ago, true),
        ("recent-invalid", OrderStatus::Invalid, lately, true),
    ];
    for (id, status, expires, _) in orders {
        let mut o = order(&ca, id, "acct", &[], 1_700_000_000);
        o.status = status;
        o.expires = t(expires);
        // A processing order the CA holds a request for waits for the CA, however long.
        if status == OrderStatus::Processing {
            o.request = Some(RequestId::new(7).expect("id"));
        }
        acme.create_order(o, Vec::new())
            .await
            .expect("create order");
    }
    // Claimed without a CA request: abandoned once the claim is CLAIM_TIMEOUT old (made
    // invalid, kept until it expires), not before.
    for (id, created) in [("stale-claim", 1_700_000_000), ("fresh-claim", now - 10)] {
        let mut o = order(&ca, id, "acct", &[], created);
        o.status = OrderStatus::Processing;
        o.expires = t(now + 86_400);
        acme.create_order(o, Vec::new())
            .await
            .expect("create order");
    }
    let authzs = [
        authz(
            &ca,
            "authz-old",
            "acct",
            "a.example",
            false,
            AuthzStatus::Valid,
            long_ago,
        ),
        authz(
            &ca,
            "authz-recent",
            "acct",
            "a.example",
            false,
            AuthzStatus::Pending,
            lately,
        ),
    ];
    acme.create_order(
        order(&ca, "holder", "acct", &[], 1_700_000_000),
        authzs.to_vec(),
    )
    .await
    .expect("create authorizations");

    let purged = acme.purge_acme(t(now), keep).await.expect("purge");
    assert_eq!(
        purged,
        AcmePurged {
            nonces: 1,
            orders: 2,
            authorizations: 1,
            abandoned: 1,
        }
    );
    let stale = acme
        .order(&ca, "stale-claim")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stale.status, OrderStatus::Invalid);
    assert!(
        stale
            .error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{stale:?}"
    );
    let fresh_claim = acme
        .order(&ca, "fresh-claim")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(fresh_claim.status, OrderStatus::Processing);
    assert!(!fresh_claim.abandoned(t(now)));
    assert!(fresh_claim.abandoned(t(now - 10) + signet_api::acme::CLAIM_TIMEOUT));
    for (id, _, _, kept) in orders {
        let found = acme.order(&ca, id).await.expect("read").is_some();
        assert_eq!(found, kept, "order {id}");
    }
    assert!(acme.order(&ca, "holder").await.expect("read").is_some());
    assert_eq!(acme.authz(&ca, "authz-old").await.expect("read"), None);
    assert!(
        acme.authz(&ca, "authz-recent")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        !acme.use_nonce([2; 16], t(now + 10)).await.expect("use"),
        "an unexpired nonce stays used"
    );
    let again = acme.purge_acme(t(now), keep).await.expect("purge");
    assert_eq!(again, AcmePurged::default(), "nothing left to purge");
}
