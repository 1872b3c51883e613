//! The keyed audit chain and its checkpoints in `SqlStore`: the legacy segment before a
//! key, keyed links after it, a key that starts beyond the log, and checkpoints that catch
//! truncation and rewriting.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use signet_core::audit::AuditCheckpoint;
use signet_core::{AuditTarget, NewAudit, Store};
use signet_store::SqlStore;
use signet_store::audit::{AuditKeys, ChainKey};

fn record(n: u64) -> NewAudit {
    NewAudit {
        at: UNIX_EPOCH + Duration::from_secs(1_796_000_000 + n),
        actor: "tester".into(),
        action: "set-extension".into(),
        ca: None,
        target: AuditTarget::Other(format!("thing/{n}")),
        details: format!("{{\"n\":{n}}}"),
    }
}

fn keys(first_seq: u64, signer: Option<&Ed25519KeyPair>) -> AuditKeys {
    AuditKeys {
        chain: Some(ChainKey::new(&[7; 32], first_seq)),
        checkpoint_public_key: signer.map(|s| s.public_key().as_ref().try_into().unwrap()),
    }
}

async fn append(store: &SqlStore, from: u64, to: u64) {
    store
        .append_audit((from..=to).map(record).collect())
        .await
        .unwrap();
}

async fn checkpoint(store: &SqlStore, signer: &Ed25519KeyPair) -> AuditCheckpoint {
    let base = store.audit_checkpoint_base().await.unwrap();
    let number = base.last.map_or(1, |l| l.number + 1);
    let at = UNIX_EPOCH + Duration::from_secs(1_796_100_000 + number);
    let text = AuditCheckpoint::signed_text(number, base.head_seq, &base.head_hash, at);
    let c = AuditCheckpoint {
        number,
        seq: base.head_seq,
        hash: base.head_hash,
        at,
        signature: signer.sign(text.as_bytes()).as_ref().to_vec(),
    };
    store
        .record_audit_checkpoint(c.clone(), Vec::new())
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn legacy_segment_then_keyed_links_then_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let signer = Ed25519KeyPair::generate().unwrap();

    // An installation from before keyed chains: three unkeyed records.
    let store = SqlStore::open(&path).unwrap();
    append(&store, 1, 3).await;
    store.close().await;
    drop(store);

    // A key that starts beyond the end of the log is refused.
    let refused = SqlStore::open_with_audit(&path, keys(9, None));
    assert!(refused.is_err());

    let store = SqlStore::open_with_audit(&path, keys(4, Some(&signer))).unwrap();
    append(&store, 4, 6).await;
    let first = checkpoint(&store, &signer).await;
    assert_eq!((first.number, first.seq), (1, 6));
    append(&store, 7, 8).await;
    let report = store.audit_report(Vec::new()).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.key_from, Some(4));
    assert_eq!(report.verified_through, 8);
    assert_eq!(report.anchor.as_ref().map(|a| a.seq), Some(6));
    let text = report.statement(&|_| "T".into()).join("\n");
    assert!(
        text.contains("records 1–3 verified with unkeyed SHA-256 only"),
        "{text}"
    );
    assert!(
        text.contains("records 4–8 verified with the audit key"),
        "{text}"
    );
    assert!(
        text.contains(
            "2 records after the last checkpoint (records 7–8) are covered only by the key"
        ),
        "{text}"
    );
    store.close().await;
    drop(store);

    // Checked without the key, the keyed links do not verify.
    let unkeyed = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &AuditKeys::default(),
        &[],
    )
    .unwrap();
    assert_eq!(unkeyed.broken.as_ref().map(|b| b.0), Some(4), "{unkeyed:?}");
    // With another key neither.
    let other = AuditKeys {
        chain: Some(ChainKey::new(&[8; 32], 4)),
        checkpoint_public_key: None,
    };
    let wrong = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &other,
        &[],
    )
    .unwrap();
    assert_eq!(wrong.broken.as_ref().map(|b| b.0), Some(4), "{wrong:?}");

    // Truncation below the checkpoint: caught by the stored checkpoint and by a witnessed
    // copy once the stored one is gone too.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_append_only_delete;
         DROP TRIGGER audit_checkpoints_append_only_delete;
         DELETE FROM audit WHERE seq > 5;",
    )
    .unwrap();
    let k = keys(4, Some(&signer));
    let cut = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &k,
        &[],
    )
    .unwrap();
    assert!(!cut.ok());
    assert_eq!(cut.problems.first().map(|p| p.0), Some(6), "{cut:?}");
    conn.execute("DELETE FROM audit_checkpoints", []).unwrap();
    let blind = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &k,
        &[],
    )
    .unwrap();
    assert!(blind.ok(), "no anchor left in the database: {blind:?}");
    let witnessed = vec![("kept.json".to_string(), first.clone())];
    let caught = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &k,
        &witnessed,
    )
    .unwrap();
    assert!(!caught.ok(), "{caught:?}");

    // A forged witness (not signed by the audit signing key) is refused.
    let mut forged = first;
    forged.seq = 5;
    let forged = vec![("forged.json".to_string(), forged)];
    let refused = signet_store::audit::verify_database(
        &signet_store::Database::Sqlite(path.clone()),
        &k,
        &forged,
    )
    .unwrap();
    assert!(
        refused
            .problems
            .iter()
            .any(|p| p.1.contains("valid signature")),
        "{refused:?}"
    );
}
