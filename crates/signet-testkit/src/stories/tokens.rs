//! API tokens: created, found by hash, listed and revoked.

use signet_core::{NewToken, Role, Roles, StoreError};

use super::FreshStore;
use super::builders::{ca, t};

/// API tokens: created with every field, found by their hash, names unique among live
/// tokens regardless of case (a revoked or expired token frees its name), revoked once; the
/// token marker moves with every change.
pub async fn tokens(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("tokens");
    let token = |name: &str, hash: u8, created: u64, expires: Option<u64>| NewToken {
        name: name.into(),
        hash: [hash; 32],
        roles: Roles::from_roles(&[Role::Requester, Role::Auditor]),
        cas: vec![ca.clone()],
        groups: vec!["ops".into(), "web".into()],
        created_at: t(created),
        created_by: "root".into(),
        expires_at: expires.map(t),
        secret_seed: None,
        audit: Vec::new(),
    };
    let alice = store
        .create_token(token("alice", 1, 1_700_000_000, Some(1_800_000_000)))
        .await
        .expect("create alice");
    let listed = store.list_tokens().await.expect("list");
    let found = listed
        .iter()
        .find(|r| r.hash == [1; 32])
        .expect("found by its hash");
    assert_eq!(found.id, alice);
    assert_eq!(found.name, "alice");
    assert_eq!(
        found.roles,
        Roles::from_roles(&[Role::Requester, Role::Auditor])
    );
    assert_eq!(found.cas, vec![ca.clone()]);
    assert_eq!(found.groups, vec!["ops".to_string(), "web".to_string()]);
    assert_eq!(found.created_at, t(1_700_000_000));
    assert_eq!(found.created_by, "root");
    assert_eq!(found.expires_at, Some(t(1_800_000_000)));
    assert_eq!(found.revoked_at, None);
    assert_eq!(found.secret_seed, None, "an ordinary token has no seed");

    let shadow = store
        .create_token(token("ALICE", 2, 1_700_000_010, None))
        .await;
    assert!(
        matches!(shadow, Err(StoreError::Conflict(_))),
        "a live name in another case is Conflict: {shadow:?}"
    );
    let bob = store
        .create_token(token("bob", 3, 1_700_000_020, None))
        .await
        .expect("create bob");
    assert!(bob > alice, "token ids increase");
    // A shared-secret token keeps the seed its secret derives from.
    let dave = store
        .create_token(NewToken {
            secret_seed: Some([5; 16]),
            ..token("dave", 7, 1_700_000_030, None)
        })
        .await
        .expect("create dave");
    let listed = store.list_tokens().await.expect("list");
    let dave = listed.iter().find(|r| r.id == dave).expect("dave listed");
    assert_eq!(dave.secret_seed, Some([5; 16]));

    // The marker other nodes poll moves with every creation and revocation.
    let before = store.token_marker().await.expect("marker");
    assert_eq!(before.tokens, listed.len() as u64, "{before:?}");
    store
        .revoke_token(alice, t(1_700_000_100), Vec::new())
        .await
        .expect("revoke alice");
    let after = store.token_marker().await.expect("marker");
    assert_ne!(after, before, "a revocation moves the token marker");
    let again = store
        .revoke_token(alice, t(1_700_000_200), Vec::new())
        .await;
    assert!(
        matches!(again, Err(StoreError::StateChanged(_))),
        "revoking twice is StateChanged: {again:?}"
    );
    let unknown = store
        .revoke_token(bob + 1000, t(1_700_000_200), Vec::new())
        .await;
    assert!(
        matches!(unknown, Err(StoreError::StateChanged(_))),
        "revoking an unknown token is StateChanged: {unknown:?}"
    );
    let listed = store.list_tokens().await.expect("list");
    let revoked = listed.iter().find(|r| r.id == alice).expect("still listed");
    assert_eq!(revoked.revoked_at, Some(t(1_700_000_100)));
    store
        .create_token(token("Alice", 4, 1_700_000_300, None))
        .await
        .expect("a revoked token frees its name");

    store
        .create_token(token("carol", 5, 1_700_000_000, Some(1_700_000_100)))
        .await
        .expect("create carol");
    store
        .create_token(token("CAROL", 6, 1_700_000_200, None))
        .await
        .expect("an expired token frees its name");
    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed.len(), 6);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "by id");
}
