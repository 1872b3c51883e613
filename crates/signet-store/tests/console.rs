//! The console's reads of `SqlStore`: a CA's statistics (requests by status, issuance per
//! UTC day by the time the CA issued, not the backdated notBefore, certificates expiring
//! soon), the audit head, and requests newest first.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::StatisticsQuery;
use signet_core::{
    CaName, NewCertificate, NewRequest, RequestStatus, Revocation, RevocationChange,
    RevocationReason, SerialNumber, Store, ViewQuery,
};
use signet_store::SqlStore;

const DAY: u64 = 86_400;
/// A UTC midnight.
const DAY0: u64 = 1_796_083_200;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn request(ca: &str, n: u8, status: RequestStatus, issued_at: u64, not_after: u64) -> NewRequest {
    let certificate = matches!(status, RequestStatus::Issued | RequestStatus::Revoked).then(|| {
        NewCertificate {
            serial: SerialNumber::from_random([n; 20]),
            der: vec![0x30; 10],
            subject: format!("CN=host{n}"),
            sans: Vec::new(),
            // Backdated by a day: the chart must not count it a day early.
            not_before: t(issued_at - DAY),
            not_after: t(not_after),
            shard: 0,
            spki_sha256: [n; 32],
            unique_key: false,
        }
    });
    NewRequest {
        ca: CaName::new(ca).unwrap(),
        status,
        profile: None,
        requester: Some("rita".into()),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x00],
        subject: format!("CN=host{n}"),
        submitted_at: t(issued_at),
        resolved_at: (status != RequestStatus::Pending).then(|| t(issued_at)),
        message: None,
        attributes: Vec::new(),
        extensions: Vec::new(),
        certificate,
        events: Vec::new(),
        audit: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statistics_count_by_status_issuance_day_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&dir.path().join("signet.db")).unwrap();
    let now = DAY0 + 10 * DAY + 3600;
    let far = now + 365 * DAY;
    let soon = now + 5 * DAY;
    // Today: two issued (one expiring soon), at 00:10 and 01:00. Two days ago: one issued,
    // later revoked (still counted as issued that day). Eight days ago: outside a 7-day chart.
    let today = DAY0 + 10 * DAY;
    let mut revoke: Option<signet_core::RequestId> = None;
    for (n, status, at, not_after) in [
        (1, RequestStatus::Issued, today + 600, far),
        (2, RequestStatus::Issued, today + 3600, soon),
        (3, RequestStatus::Issued, today - 2 * DAY + 60, soon),
        (4, RequestStatus::Issued, today - 8 * DAY, far),
        (5, RequestStatus::Pending, today, far),
        (6, RequestStatus::Denied, today, far),
    ] {
        let id = store
            .create_request(request("demo", n, status, at, not_after))
            .await
            .unwrap();
        if n == 3 {
            revoke = Some(id);
        }
    }
    store
        .change_revocation(RevocationChange {
            ca: CaName::new("demo").unwrap(),
            serial: SerialNumber::from_random([3; 20]),
            request_id: revoke.unwrap(),
            expect: None,
            status: RequestStatus::Revoked,
            new: Some(Revocation {
                at: t(today - DAY),
                reason: RevocationReason::KeyCompromise,
                invalidity_date: None,
            }),
            changed_at: t(today - DAY),
            events: Vec::new(),
            audit: Vec::new(),
        })
        .await
        .unwrap();
    store
        .create_request(request("other", 7, RequestStatus::Issued, today, soon))
        .await
        .unwrap();

    let stats = store
        .ca_statistics(StatisticsQuery {
            ca: CaName::new("demo").unwrap(),
            now: t(now),
            chart_from: t(today - 6 * DAY),
            expiring_within: Duration::from_secs(30 * DAY),
            expiring_list: 10,
        })
        .await
        .unwrap();
    let by: Vec<(&str, u64)> = stats
        .by_status
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    assert_eq!(
        by,
        [
            ("pending", 1),
            ("issued", 3),
            ("denied", 1),
            ("failed", 0),
            ("revoked", 1)
        ]
    );
    let days: Vec<(u64, u64)> = stats
        .issued_per_day
        .iter()
        .map(|(d, n)| {
            (
                (d.duration_since(UNIX_EPOCH).unwrap().as_secs() - today) / DAY,
                *n,
            )
        })
        .collect();
    // Seven days, oldest first; the revoked certificate's notBefore (a day earlier) and the
    // other CA's certificate do not move or add anything.
    assert_eq!(days.len(), 7, "{days:?}");
    let counts: Vec<u64> = stats.issued_per_day.iter().map(|(_, n)| *n).collect();
    assert_eq!(counts, [0, 0, 0, 0, 1, 0, 2]);
    // Expiring within 30 days and not revoked: only request 2.
    assert_eq!(stats.expiring, 1);
    let soonest: Vec<&str> = stats
        .expiring_soonest
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(soonest, ["CN=host2"]);
    assert_eq!(stats.audit_head, 0);
    assert_eq!(store.audit_head().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_can_be_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&dir.path().join("signet.db")).unwrap();
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(
            store
                .create_request(request("demo", n, RequestStatus::Pending, DAY0, DAY0 + DAY))
                .await
                .unwrap(),
        );
    }
    let ca = CaName::new("demo").unwrap();
    let page = |after| ViewQuery {
        requester: Some("rita".into()),
        newest_first: true,
        after_id: after,
        limit: 2,
        ..Default::default()
    };
    let first = store.view_requests(&ca, page(None)).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let next = store.view_requests(&ca, page(Some(ids[3]))).await.unwrap();
    assert_eq!(
        next.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
}

/// A store from before the running counts (schema 15) gets them from its rows when it opens:
/// the same figures before and after, and counting goes on from there.
#[tokio::test(flavor = "multi_thread")]
async fn the_counts_migration_counts_the_rows_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let today = DAY0 + 10 * DAY;
    let now = today + 3600;
    let query = || StatisticsQuery {
        ca: CaName::new("demo").unwrap(),
        now: t(now),
        chart_from: t(today - 6 * DAY),
        expiring_within: Duration::from_secs(30 * DAY),
        expiring_list: 10,
    };
    let before = {
        let store = SqlStore::open(&path).unwrap();
        for (n, status, at) in [
            (1, RequestStatus::Issued, today + 600),
            (2, RequestStatus::Issued, today - 2 * DAY),
            (3, RequestStatus::Pending, today),
            (4, RequestStatus::Failed, today),
        ] {
            store
                .create_request(request("demo", n, status, at, now + u64::from(n) * DAY))
                .await
                .unwrap();
        }
        store.ca_statistics(query()).await.unwrap()
    };
    {
        // Back to schema 15: no counts table, no triggers, the chart's index, and none of
        // 17's columns (these rows hold nothing stored by reference).
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE ca_counts;
             DROP TRIGGER requests_counted; DROP TRIGGER requests_recounted;
             DROP TRIGGER requests_uncounted; DROP TRIGGER certificates_counted;
             DROP TRIGGER certificates_recounted; DROP TRIGGER certificates_uncounted;
             DROP INDEX requests_ca;
             CREATE INDEX requests_ca_issued_at ON requests (ca, resolved_at)
                 WHERE status IN ('issued', 'revoked');
             ALTER TABLE requests DROP COLUMN raw_form;
             ALTER TABLE outbox DROP COLUMN details_form;
             DELETE FROM schema_migrations WHERE version >= 16;",
        )
        .unwrap();
    }
    let store = SqlStore::open(&path).unwrap();
    let after = store.ca_statistics(query()).await.unwrap();
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
    assert_eq!(after.expiring, 2);
    store
        .create_request(request("demo", 5, RequestStatus::Issued, today, now + DAY))
        .await
        .unwrap();
    let more = store.ca_statistics(query()).await.unwrap();
    assert_eq!(more.expiring, 3);
    let issued: Vec<u64> = more.issued_per_day.iter().map(|(_, n)| *n).collect();
    assert_eq!(issued, [0, 0, 0, 0, 1, 0, 2]);
}
