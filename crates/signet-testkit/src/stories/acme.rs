//! ACME storage (`signet_api::acme::AcmeStore`): accounts and their keys, External Account
//! Binding keys, audit records and CA scoping. Orders, authorizations, nonces and purging are
//! in `acme_orders`.
//!
//! ACME stories take a [`FreshAcme`]: the store behind both traits (the audit chain is read
//! through `Store`), and a way to open another handle on the same database (another node, or
//! the same node after a restart).

use std::any::Any;
use std::sync::Arc;
use std::task::Poll;

use signet_api::acme::{
    AccountChange, AccountStatus, AcmeAccount, AcmeAudit, AcmeAuthz, AcmeChallenge, AcmeIdentifier,
    AcmeOrder, AcmeStore, AcmeStoreError, AuthzStatus, AuthzUpdate, ChallengeStatus, ChallengeType,
    EabKey, IdentifierType, OrderStatus, OrderUpdate,
};
use signet_core::{BoxFuture, CaName, Store};

use super::builders::{ca, serial, t};

/// A fresh, empty store for one ACME story, and whatever must live as long as it.
pub struct FreshAcme {
    /// The store as `Store` (its audit chain).
    pub store: Arc<dyn Store>,
    /// The same store as `AcmeStore`.
    pub acme: Arc<dyn AcmeStore>,
    reopen: Box<dyn Fn() -> Arc<dyn AcmeStore> + Send + Sync>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl FreshAcme {
    /// `reopen` opens another handle on the same database; `keep` is dropped after the store.
    pub fn new(
        store: Arc<dyn Store>,
        acme: Arc<dyn AcmeStore>,
        reopen: Box<dyn Fn() -> Arc<dyn AcmeStore> + Send + Sync>,
        keep: Box<dyn Any + Send + Sync>,
    ) -> FreshAcme {
        FreshAcme {
            store,
            acme,
            reopen,
            _keep: keep,
        }
    }

    /// Another handle on the same database, as another node (or this one after a restart)
    /// has. Drop it before this.
    pub fn reopen(&self) -> Arc<dyn AcmeStore> {
        (self.reopen)()
    }
}

/// A valid account of `ca` whose key is named by `thumbprint`.
pub(super) fn account(ca: &CaName, id: &str, thumbprint: &str, created: u64) -> AcmeAccount {
    AcmeAccount {
        id: id.into(),
        ca: ca.clone(),
        jwk: jwk(thumbprint),
        thumbprint: thumbprint.into(),
        status: AccountStatus::Valid,
        contact: vec!["mailto:ops@example.com".into()],
        eab_kid: None,
        requester: format!("acme:{id}"),
        created_at: t(created),
    }
}

pub(super) fn jwk(thumbprint: &str) -> String {
    format!(r#"{{"crv":"P-256","kty":"EC","x":"{thumbprint}","y":"y"}}"#)
}

/// An audit record; `n` sets its time and actor.
pub(super) fn audit(action: &str, ca: Option<&CaName>, target: &str, n: u64) -> AcmeAudit {
    AcmeAudit {
        at: t(1_700_000_000 + n),
        actor: format!("actor-{n}"),
        action: action.into(),
        ca: ca.cloned(),
        target: target.into(),
        details: format!("{{\"n\":{n}}}"),
    }
}

pub(super) fn dns(name: &str) -> AcmeIdentifier {
    AcmeIdentifier {
        kind: IdentifierType::Dns,
        value: name.into(),
    }
}

/// An authorization with one pending http-01 challenge.
pub(super) fn authz(
    ca: &CaName,
    id: &str,
    account: &str,
    name: &str,
    wildcard: bool,
    status: AuthzStatus,
    expires: u64,
) -> AcmeAuthz {
    AcmeAuthz {
        id: id.into(),
        ca: ca.clone(),
        account: account.into(),
        identifier: dns(name),
        wildcard,
        status,
        expires: t(expires),
        challenges: vec![AcmeChallenge {
            kind: ChallengeType::Http01,
            token: format!("token-{id}"),
            status: ChallengeStatus::Pending,
            validated: None,
            error: None,
            since: None,
        }],
    }
}

/// A pending order for `a.example` with the given authorizations.
pub(super) fn order(
    ca: &CaName,
    id: &str,
    account: &str,
    authzs: &[&str],
    created: u64,
) -> AcmeOrder {
    AcmeOrder {
        id: id.into(),
        ca: ca.clone(),
        account: account.into(),
        status: OrderStatus::Pending,
        identifiers: vec![dns("a.example")],
        authorizations: authzs.iter().map(|a| a.to_string()).collect(),
        profile: "server".into(),
        not_before: None,
        not_after: Some(t(created + 90 * 86_400)),
        expires: t(created + 7 * 86_400),
        error: None,
        request: None,
        serial: None,
        replaces: None,
        created_at: t(created),
        claimed_at: None,
    }
}

/// A compare-and-swap of order `id` from `expect` to `status`.
pub(super) fn order_update(
    ca: &CaName,
    id: &str,
    expect: OrderStatus,
    status: OrderStatus,
) -> OrderUpdate {
    OrderUpdate {
        ca: ca.clone(),
        id: id.into(),
        expect,
        status,
        error: None,
        request: None,
        serial: None,
    }
}

pub(super) fn authz_update(
    ca: &CaName,
    id: &str,
    expect: AuthzStatus,
    status: AuthzStatus,
    expires: u64,
) -> AuthzUpdate {
    AuthzUpdate {
        ca: ca.clone(),
        id: id.into(),
        expect,
        status,
        expires: t(expires),
        challenges: Vec::new(),
    }
}

fn eab_key(kid: &str, ca: Option<&CaName>, created: u64) -> EabKey {
    EabKey {
        kid: kid.into(),
        ca: ca.cloned(),
        name: format!("name-{kid}"),
        hmac: vec![0x5a; 32],
        created_at: t(created),
        created_by: "root".into(),
        revoked_at: None,
        account: None,
    }
}

pub(super) fn is_conflict<T: std::fmt::Debug>(r: &Result<T, AcmeStoreError>) -> bool {
    matches!(r, Err(AcmeStoreError::Conflict(_)))
}

/// Runs every future at once (each polled whenever any is woken) and returns their outputs in
/// order: concurrent callers without an async runtime.
pub(super) async fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut futures: Vec<Option<BoxFuture<'a, T>>> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (slot, result) in futures.iter_mut().zip(out.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(out.drain(..).map(|r| r.expect("finished")).collect())
        }
    })
    .await
}

/// Accounts: created and found by id and by key thumbprint; a key is one account's per CA (a
/// second account with it, or a key change to it, is `Conflict` and writes nothing); contact,
/// status and key changes return the account as stored; an unknown account is `NotFound`;
/// listed newest first, at most `limit`.
pub async fn acme_accounts(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let (acme, store) = (&*fresh.acme, &*fresh.store);
    let ca = ca("acme-accounts");
    let target = |id: &str| format!("acme-account/{id}");
    let alice = account(&ca, "acct-alice", "tp-alice", 1_700_000_000);
    acme.create_account(
        alice.clone(),
        audit("acme-account-create", Some(&ca), &target("acct-alice"), 1),
    )
    .await
    .expect("create alice");
    let by_id = acme.account(&ca, "acct-alice").await.expect("by id");
    assert_eq!(by_id, Some(alice.clone()), "stored as given");
    let by_key = acme.account_by_thumbprint(&ca, "tp-alice").await;
    assert_eq!(by_key.expect("by thumbprint"), Some(alice.clone()));
    assert_eq!(acme.account(&ca, "acct-none").await.expect("absent"), None);
    let absent = acme.account_by_thumbprint(&ca, "tp-none").await;
    assert_eq!(absent.expect("absent key"), None);

    let head = store.audit_head().await.expect("audit head");
    let twin = account(&ca, "acct-twin", "tp-alice", 1_700_000_010);
    let refused = acme
        .create_account(twin, audit("acme-account-create", Some(&ca), "x", 2))
        .await;
    assert!(
        is_conflict(&refused),
        "a key in use is Conflict: {refused:?}"
    );
    let twin = acme.account(&ca, "acct-twin").await.expect("read");
    assert_eq!(twin, None, "a refused account is not written");
    let same_id = account(&ca, "acct-alice", "tp-other", 1_700_000_010);
    let refused = acme
        .create_account(same_id, audit("acme-account-create", Some(&ca), "x", 3))
        .await;
    assert!(
        is_conflict(&refused),
        "an id in use is Conflict: {refused:?}"
    );
    let unchanged = acme.account(&ca, "acct-alice").await.expect("read");
    assert_eq!(unchanged, Some(alice.clone()));
    assert_eq!(
        store.audit_head().await.expect("audit head"),
        head,
        "a refused account leaves no audit record"
    );

    let bob = account(&ca, "acct-bob", "tp-bob", 1_700_000_020);
    acme.create_account(bob.clone(), audit("acme-account-create", Some(&ca), "b", 4))
        .await
        .expect("create bob");
    let taken = AccountChange::Key {
        jwk: jwk("tp-alice"),
        thumbprint: "tp-alice".into(),
        previous: "tp-bob".into(),
    };
    let refused = acme
        .update_account(
            &ca,
            "acct-bob",
            taken,
            audit("acme-key-change", None, "b", 5),
        )
        .await;
    assert!(
        is_conflict(&refused),
        "a key change to another account's key is Conflict: {refused:?}"
    );
    assert_eq!(acme.account(&ca, "acct-bob").await.expect("bob"), Some(bob));
    let holder = acme.account_by_thumbprint(&ca, "tp-alice").await;
    assert_eq!(
        holder.expect("alice").map(|a| a.id),
        Some("acct-alice".into())
    );

    // A rollover from a key the account no longer holds (a second rollover racing the
    // first, or a stale node) changes nothing.
    let stale = AccountChange::Key {
        jwk: jwk("tp-bob-3"),
        thumbprint: "tp-bob-3".into(),
        previous: "tp-not-bobs".into(),
    };
    let refused = acme
        .update_account(
            &ca,
            "acct-bob",
            stale,
            audit("acme-key-change", None, "b", 6),
        )
        .await;
    assert!(
        is_conflict(&refused),
        "a key change from a key the account no longer has is Conflict: {refused:?}"
    );

    let new_key = AccountChange::Key {
        jwk: jwk("tp-bob-2"),
        thumbprint: "tp-bob-2".into(),
        previous: "tp-bob".into(),
    };
    let rolled = acme
        .update_account(
            &ca,
            "acct-bob",
            new_key,
            audit("acme-key-change", None, "b", 6),
        )
        .await
        .expect("key change");
    assert_eq!(rolled.thumbprint, "tp-bob-2");
    assert_eq!(rolled.jwk, jwk("tp-bob-2"));
    let old = acme.account_by_thumbprint(&ca, "tp-bob").await;
    assert_eq!(old.expect("old key"), None, "the old key finds nothing");
    let new = acme.account_by_thumbprint(&ca, "tp-bob-2").await;
    assert_eq!(new.expect("new key"), Some(rolled));

    let contact = vec![
        "mailto:a@example.com".to_string(),
        "mailto:b@example.com".into(),
    ];
    let changed = acme
        .update_account(
            &ca,
            "acct-bob",
            AccountChange::Contact(contact.clone()),
            audit("acme-account-update", None, "b", 7),
        )
        .await
        .expect("contact");
    assert_eq!(changed.contact, contact);
    let stored = acme.account(&ca, "acct-bob").await.expect("bob");
    assert_eq!(stored, Some(changed), "returned as stored");
    let deactivated = acme
        .update_account(
            &ca,
            "acct-bob",
            AccountChange::Status(AccountStatus::Deactivated),
            audit("acme-account-deactivate", None, "b", 8),
        )
        .await
        .expect("deactivate");
    assert_eq!(deactivated.status, AccountStatus::Deactivated);
    assert_eq!(deactivated.contact, contact, "other fields kept");

    let head = store.audit_head().await.expect("audit head");
    let missing = acme
        .update_account(
            &ca,
            "acct-none",
            AccountChange::Status(AccountStatus::Deactivated),
            audit("acme-account-deactivate", None, "n", 9),
        )
        .await;
    assert!(
        matches!(missing, Err(AcmeStoreError::NotFound(_))),
        "an unknown account is NotFound: {missing:?}"
    );
    assert_eq!(store.audit_head().await.expect("audit head"), head);

    let carol = account(&ca, "acct-carol", "tp-carol", 1_700_000_030);
    acme.create_account(carol, audit("acme-account-create", Some(&ca), "c", 10))
        .await
        .expect("create carol");
    let ids = |list: Vec<AcmeAccount>| list.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = acme.accounts(&ca, 10).await.expect("list");
    assert_eq!(
        ids(all),
        ["acct-carol", "acct-bob", "acct-alice"],
        "newest first"
    );
    let two = acme.accounts(&ca, 2).await.expect("list");
    assert_eq!(ids(two), ["acct-carol", "acct-bob"], "at most limit");
}

/// External Account Binding keys: created (a kid once), listed per CA with the keys for any
/// CA, newest first; a key binds one account, in the account's transaction: a second binding,
/// a revoked key, another CA's key or an unknown kid is `Conflict` and writes nothing;
/// revoking is once, and leaves the bound account working.
pub async fn acme_eab(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let (acme, store) = (&*fresh.acme, &*fresh.store);
    let ca = ca("acme-eab");
    let other = super::builders::ca("acme-eab-other");
    let keys = [
        eab_key("k-ca", Some(&ca), 1_700_000_001),
        eab_key("k-any", None, 1_700_000_002),
        eab_key("k-other", Some(&other), 1_700_000_003),
        eab_key("k-revoked", Some(&ca), 1_700_000_004),
    ];
    for (n, key) in (1..).zip(&keys) {
        let record = audit("acme-eab-create", None, &format!("acme-eab/{}", key.kid), n);
        acme.create_eab(key.clone(), record)
            .await
            .expect("create key");
    }
    let again = acme
        .create_eab(keys[0].clone(), audit("acme-eab-create", None, "k", 9))
        .await;
    assert!(is_conflict(&again), "a kid once: {again:?}");
    let stored = acme.eab("k-ca").await.expect("read key");
    assert_eq!(stored, Some(keys[0].clone()), "stored as given");
    assert_eq!(acme.eab("k-none").await.expect("absent"), None);
    let kids = |list: Vec<EabKey>| list.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    let for_ca = acme.eab_keys(Some(&ca)).await.expect("list");
    assert_eq!(
        kids(for_ca),
        ["k-revoked", "k-any", "k-ca"],
        "the CA's and any CA's"
    );
    let for_other = acme.eab_keys(Some(&other)).await.expect("list");
    assert_eq!(kids(for_other), ["k-other", "k-any"]);
    let all = acme.eab_keys(None).await.expect("list");
    assert_eq!(kids(all), ["k-revoked", "k-other", "k-any", "k-ca"]);

    let revoke = |kid: &'static str, n: u64| {
        acme.revoke_eab(
            kid,
            t(1_700_000_100 + n),
            audit("acme-eab-revoke", None, kid, n),
        )
    };
    assert!(
        revoke("k-revoked", 1).await.expect("revoke"),
        "revoked once"
    );
    assert!(!revoke("k-revoked", 2).await.expect("again"), "not twice");
    assert!(!revoke("k-none", 3).await.expect("unknown"), "unknown kid");
    let revoked = acme.eab("k-revoked").await.expect("read").expect("kept");
    assert_eq!(revoked.revoked_at, Some(t(1_700_000_101)));

    let bound = |id: &str, kid: &str, ca: &CaName| {
        let mut a = account(ca, id, &format!("tp-{id}"), 1_700_000_200);
        a.eab_kid = Some(kid.into());
        a.requester = format!("name-{kid}");
        a
    };
    let first = bound("acct-1", "k-ca", &ca);
    acme.create_account(first.clone(), audit("acme-account-create", None, "1", 10))
        .await
        .expect("bind k-ca");
    let key = acme.eab("k-ca").await.expect("read").expect("kept");
    assert_eq!(
        key.account.as_deref(),
        Some("acct-1"),
        "the key names its account"
    );
    let stored = acme.account(&ca, "acct-1").await.expect("read");
    assert_eq!(stored, Some(first));

    let head = store.audit_head().await.expect("audit head");
    for (id, kid, why) in [
        ("acct-2", "k-ca", "a key binds one account"),
        ("acct-3", "k-revoked", "a revoked key binds nothing"),
        ("acct-4", "k-other", "another CA's key"),
        ("acct-5", "k-none", "an unknown kid"),
    ] {
        let refused = acme
            .create_account(
                bound(id, kid, &ca),
                audit("acme-account-create", None, id, 11),
            )
            .await;
        assert!(is_conflict(&refused), "{why}: {refused:?}");
        let written = acme.account(&ca, id).await.expect("read");
        assert_eq!(written, None, "{why}: nothing written");
    }
    assert_eq!(store.audit_head().await.expect("audit head"), head);
    for kid in ["k-revoked", "k-other"] {
        let key = acme.eab(kid).await.expect("read").expect("kept");
        assert_eq!(key.account, None, "{kid} stays unbound");
    }

    acme.create_account(
        bound("acct-6", "k-any", &other),
        audit("acme-account-create", None, "6", 12),
    )
    .await
    .expect("a key for any CA binds an account of any CA");
    acme.create_account(
        bound("acct-7", "k-other", &other),
        audit("acme-account-create", None, "7", 13),
    )
    .await
    .expect("a key for its CA");

    assert!(revoke("k-ca", 4).await.expect("revoke a bound key"));
    let revoked = acme
        .account(&ca, "acct-1")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        revoked.status,
        AccountStatus::Revoked,
        "revoking a key revokes the account it bound (the key was its credential)"
    );
}

/// Audit records: creating an account, creating and revoking an EAB key, marking a
/// certificate for early renewal and changing an account each append their record in the
/// same write, in order; refused writes append nothing; the chain verifies. Early-renewal
/// marks are per CA and certificate.
pub async fn acme_audit(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let (acme, store) = (&*fresh.acme, &*fresh.store);
    let ca = ca("acme-audit");
    let other = super::builders::ca("acme-audit-other");
    let head = store.audit_head().await.expect("audit head");
    let who = "acme-account/acct-1";
    acme.create_account(
        account(&ca, "acct-1", "tp-1", 1_700_000_000),
        audit("acme-account-create", Some(&ca), who, 1),
    )
    .await
    .expect("create account");
    acme.create_eab(
        eab_key("kid-1", None, 1_700_000_000),
        audit("acme-eab-create", None, "acme-eab/kid-1", 2),
    )
    .await
    .expect("create key");
    let revoked = acme
        .revoke_eab(
            "kid-1",
            t(1_700_000_003),
            audit("acme-eab-revoke", None, "acme-eab/kid-1", 3),
        )
        .await;
    assert!(revoked.expect("revoke"));
    let cert = format!("certificate/{}", serial(5).to_hex());
    acme.mark_renew_early(
        &ca,
        &serial(5),
        t(1_700_000_004),
        audit("acme-renew-early", Some(&ca), &cert, 4),
    )
    .await
    .expect("mark");
    acme.update_account(
        &ca,
        "acct-1",
        AccountChange::Status(AccountStatus::Deactivated),
        audit("acme-account-deactivate", Some(&ca), who, 5),
    )
    .await
    .expect("deactivate");

    // Refused writes leave no record.
    let again = acme
        .revoke_eab(
            "kid-1",
            t(1_700_000_006),
            audit("acme-eab-revoke", None, "k", 6),
        )
        .await;
    assert!(!again.expect("revoke again"));
    let dup = acme
        .create_eab(
            eab_key("kid-1", None, 1),
            audit("acme-eab-create", None, "k", 7),
        )
        .await;
    assert!(is_conflict(&dup), "{dup:?}");

    let records = store.audit_after(head, 100).await.expect("audit");
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "acme-account-create",
            "acme-eab-create",
            "acme-eab-revoke",
            "acme-renew-early",
            "acme-account-deactivate"
        ]
    );
    let first = &records[0];
    assert_eq!(first.at, t(1_700_000_001));
    assert_eq!(first.actor, "actor-1");
    assert_eq!(first.ca.as_deref(), Some(ca.as_str()));
    assert_eq!(first.target, who);
    assert_eq!(first.details, "{\"n\":1}");
    assert_eq!(records[1].ca, None);
    assert_eq!(records[3].target, cert);
    let about = store.audit_for(who).await.expect("audit for");
    let about: Vec<&str> = about.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(about, ["acme-account-create", "acme-account-deactivate"]);
    let check = store.verify_audit().await.expect("verify");
    assert_eq!(check.records, head + 5);
    assert_eq!(check.first_broken, None, "the chain verifies");

    let marked = acme.renew_early(&ca, &serial(5)).await.expect("read mark");
    assert_eq!(marked, Some(t(1_700_000_004)));
    let unmarked = acme.renew_early(&ca, &serial(6)).await.expect("read mark");
    assert_eq!(unmarked, None);
    let elsewhere = acme
        .renew_early(&other, &serial(5))
        .await
        .expect("read mark");
    assert_eq!(elsewhere, None, "marks are per CA");
}

/// CA scoping: an account, order or authorization of one CA is not found, listed, counted,
/// changed or reused under another; a key and a replaced certificate are unique per CA only.
pub async fn acme_ca_scoping(fresh: impl Fn() -> FreshAcme) {
    let fresh = fresh();
    let acme = &*fresh.acme;
    let a = ca("acme-scope-a");
    let b = super::builders::ca("acme-scope-b");
    acme.create_account(
        account(&a, "acct-a", "tp-shared", 1_700_000_000),
        audit("acme-account-create", Some(&a), "a", 1),
    )
    .await
    .expect("account of a");
    assert_eq!(acme.account(&b, "acct-a").await.expect("read"), None);
    let by_key = acme.account_by_thumbprint(&b, "tp-shared").await;
    assert_eq!(by_key.expect("read"), None);
    acme.create_account(
        account(&b, "acct-b", "tp-shared", 1_700_000_001),
        audit("acme-account-create", Some(&b), "b", 2),
    )
    .await
    .expect("the same key on another CA is another account");
    let listed = acme.accounts(&b, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "acct-b");
    let missing = acme
        .update_account(
            &b,
            "acct-a",
            AccountChange::Status(AccountStatus::Deactivated),
            audit("acme-account-deactivate", Some(&b), "a", 3),
        )
        .await;
    assert!(
        matches!(missing, Err(AcmeStoreError::NotFound(_))),
        "{missing:?}"
    );
    let kept = acme
        .account(&a, "acct-a")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.status, AccountStatus::Valid);

    let mut order_a = order(&a, "order-a", "acct-a", &["authz-a"], 1_700_000_100);
    order_a.replaces = Some(serial(3));
    let authz_a = authz(
        &a,
        "authz-a",
        "acct-a",
        "a.example",
        false,
        AuthzStatus::Pending,
        1_800_000_000,
    );
    acme.create_order(order_a, vec![authz_a])
        .await
        .expect("order of a");
    assert_eq!(acme.order(&b, "order-a").await.expect("read"), None);
    assert_eq!(acme.authz(&b, "authz-a").await.expect("read"), None);
    let moved = acme
        .update_order(order_update(
            &b,
            "order-a",
            OrderStatus::Pending,
            OrderStatus::Ready,
        ))
        .await;
    assert!(!moved.expect("update order"), "not under another CA");
    let moved = acme
        .update_authz(authz_update(
            &b,
            "authz-a",
            AuthzStatus::Pending,
            AuthzStatus::Valid,
            1_800_000_000,
        ))
        .await;
    assert!(!moved.expect("update authz"), "not under another CA");
    let stored = acme
        .order(&a, "order-a")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.status, OrderStatus::Pending);
    let pending = acme
        .count_pending_authzs(&b, "acct-a", t(1_700_000_000))
        .await;
    assert_eq!(pending.expect("count"), 0);
    let valid = acme
        .update_authz(authz_update(
            &a,
            "authz-a",
            AuthzStatus::Pending,
            AuthzStatus::Valid,
            1_800_000_000,
        ))
        .await;
    assert!(valid.expect("update authz"));
    let reused = acme
        .reusable_authz(&b, "acct-a", &dns("a.example"), false, t(1_700_000_000))
        .await;
    assert_eq!(reused.expect("reuse"), None);
    assert!(
        acme.orders(&b, None, None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        acme.count_orders(&b, "acct-a", t(0)).await.expect("count"),
        0
    );

    let mut order_b = order(&b, "order-b", "acct-b", &[], 1_700_000_200);
    order_b.replaces = Some(serial(3));
    acme.create_order(order_b, Vec::new())
        .await
        .expect("a serial replaced on one CA is free on another");
    let replacing = acme.order_replacing(&b, &serial(3)).await.expect("read");
    assert_eq!(replacing.map(|o| o.id), Some("order-b".into()));
    let replacing = acme.order_replacing(&a, &serial(3)).await.expect("read");
    assert_eq!(replacing.map(|o| o.id), Some("order-a".into()));
}
