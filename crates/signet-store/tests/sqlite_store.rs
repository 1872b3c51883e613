//! The `Store` contract against `SqlStore`: round trips, group commit, failure isolation
//! inside a batch, durability across reopen, migrations, the outbox and its cursors.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use signet_core::{
    CaName, Event, ExtensionOrigin, NewCertificate, NewEvent, NewRequest, ProfileName, RequestId,
    RequestStatus, SerialNumber, Store, StoreError, StoredExtension,
};
use signet_store::SqlStore;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn ca(name: &str) -> CaName {
    CaName::new(name).unwrap()
}

fn serial(n: u64) -> SerialNumber {
    let mut b = [0x11u8; 20];
    b[12..].copy_from_slice(&n.to_be_bytes());
    SerialNumber::from_random(b)
}

/// A pending request with one attribute and no certificate.
fn pending(ca_name: &str, n: u64) -> NewRequest {
    NewRequest {
        ca: ca(ca_name),
        status: RequestStatus::Pending,
        profile: None,
        requester: Some(format!("user-{n}")),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x03, 0x02, 0x01, n as u8],
        subject: format!("CN=host-{n}.example"),
        submitted_at: t(1_700_000_000 + n),
        resolved_at: None,
        message: Some("waiting for approval".into()),
        attributes: vec![("marker".into(), format!("req-{n}"))],
        extensions: vec![],
        certificate: None,
        events: vec![(Event::Pending, format!("{{\"n\":{n}}}"))],
        audit: Vec::new(),
    }
}

/// An issued request with a certificate carrying `serial(serial_n)`.
fn issued(ca_name: &str, n: u64, serial_n: u64) -> NewRequest {
    let mut r = pending(ca_name, n);
    r.status = RequestStatus::Issued;
    r.resolved_at = Some(t(1_700_000_100 + n));
    r.message = None;
    r.certificate = Some(NewCertificate {
        serial: serial(serial_n),
        der: vec![0x30; 600],
        subject: format!("CN=host-{n}.example"),
        sans: vec![format!("host-{n}.example")],
        not_before: t(1_700_000_000),
        not_after: t(1_731_536_000),
        shard: 0,
        spki_sha256: [(n % 256) as u8; 32],
        unique_key: false,
    });
    r.events = vec![(Event::Issued, "{}".into())];
    r
}

fn open(dir: &Path) -> Arc<SqlStore> {
    Arc::new(SqlStore::open(&dir.join("signet.db")).unwrap())
}

/// A plain connection for looking at the file from outside the store.
fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join("signet.db")).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_then_get_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let extensions = vec![
        StoredExtension {
            oid: "2.5.29.17".into(),
            critical: false,
            disabled: true,
            origin: ExtensionOrigin::Request,
            value: vec![0x30, 0x00],
        },
        StoredExtension {
            oid: "2.5.29.19".into(),
            critical: true,
            disabled: false,
            origin: ExtensionOrigin::Policy,
            value: vec![0x30, 0x03, 0x01, 0x01, 0x00],
        },
        StoredExtension {
            oid: "1.2.3.4".into(),
            critical: false,
            disabled: false,
            origin: ExtensionOrigin::Admin,
            value: vec![0x05, 0x00],
        },
        StoredExtension {
            oid: "2.5.29.14".into(),
            critical: false,
            disabled: false,
            origin: ExtensionOrigin::Server,
            value: vec![0x04, 0x01, 0xaa],
        },
    ];
    let mut req = issued("demo-ca", 7, 7);
    req.profile = Some(ProfileName::new("tls-server").unwrap());
    req.message = Some("issued by policy \"profiles\"".into());
    // Order and duplicate names are kept as given.
    req.attributes = vec![
        ("ccm".into(), "host.example".into()),
        ("san".into(), "dns=a.example".into()),
        ("ccm".into(), "second".into()),
    ];
    req.extensions = extensions.clone();
    let cert = req.certificate.clone().unwrap();

    let id = store.create_request(req.clone()).await.unwrap();
    let got = store
        .get_request(&ca("demo-ca"), id)
        .await
        .unwrap()
        .expect("the request is there");

    assert_eq!(got.id, id);
    assert_eq!(got.ca, req.ca);
    assert_eq!(got.status, RequestStatus::Issued);
    assert_eq!(got.profile, req.profile);
    assert_eq!(got.requester.as_deref(), Some("user-7"));
    assert_eq!(got.format, "pkcs10");
    assert_eq!(got.raw, req.raw);
    assert_eq!(got.subject, "CN=host-7.example");
    assert_eq!(got.submitted_at, req.submitted_at);
    assert_eq!(got.resolved_at, req.resolved_at);
    assert_eq!(got.message, req.message);
    assert_eq!(got.attributes, req.attributes);
    assert_eq!(got.extensions, extensions);
    let got_cert = got.certificate.expect("certificate recorded");
    assert_eq!(got_cert.serial, cert.serial);
    assert_eq!(got_cert.der, cert.der);
    assert_eq!(got_cert.subject, cert.subject);
    assert_eq!(got_cert.sans, cert.sans);
    assert_eq!(got_cert.not_before, cert.not_before);
    assert_eq!(got_cert.not_after, cert.not_after);

    // Optional fields absent stay absent.
    let mut bare = pending("demo-ca", 8);
    bare.requester = None;
    bare.message = None;
    bare.attributes.clear();
    let bare_id = store.create_request(bare).await.unwrap();
    let got = store
        .get_request(&ca("demo-ca"), bare_id)
        .await
        .unwrap()
        .unwrap();
    assert!(got.profile.is_none() && got.requester.is_none() && got.message.is_none());
    assert!(got.resolved_at.is_none() && got.certificate.is_none());
    assert!(got.attributes.is_empty() && got.extensions.is_empty());

    // A request is found only under its own CA.
    assert!(
        store
            .get_request(&ca("other-ca"), id)
            .await
            .unwrap()
            .is_none()
    );
    let missing = RequestId::new(id.get() + 100).unwrap();
    assert!(
        store
            .get_request(&ca("demo-ca"), missing)
            .await
            .unwrap()
            .is_none()
    );

    // The outbox event raised with the request carries its id and resolution time.
    let events = store.outbox_after(&ca("demo-ca"), 0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event, Event::Issued);
    assert_eq!(events[0].request_id, Some(id));
    assert_eq!(events[0].at, req.resolved_at.unwrap());
    assert_eq!(events[1].event, Event::Pending);
    assert_eq!(events[1].request_id, Some(bare_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_are_grouped_into_few_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = store.stats();

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..2_000u64 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.create_request(issued("demo-ca", n, n)).await });
    }
    let mut ids = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        ids.push(joined.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2_000, "every request got its own id");

    let after = store.stats();
    let transactions = after.transactions - before.transactions;
    assert_eq!(after.commands - before.commands, 2_000);
    assert_eq!(after.isolated_batches, 0, "no command failed");
    assert!(
        transactions <= 400,
        "2,000 concurrent writes took {transactions} transactions; group commit is not grouping"
    );
    let conn = raw(dir.path());
    assert_eq!(count(&conn, "SELECT count(*) FROM certificates"), 2_000);
    assert_eq!(count(&conn, "SELECT count(*) FROM outbox"), 2_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_serial_fails_only_its_caller_within_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let demo = ca("demo-ca");
    store
        .create_request(issued("demo-ca", 1, 1000))
        .await
        .unwrap();

    // Hold the database's write lock from outside, so the writer stalls on a first command
    // while the commands under test pile up behind it and then run as one batch.
    let blocker = raw(dir.path());
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let stalled = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let startup = NewEvent {
                ca: ca("demo-ca"),
                event: Event::Startup,
                request_id: None,
                at: t(1_700_000_000),
                details: "{}".into(),
            };
            store.append_events(vec![startup]).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = store.stats();

    // Requests 10..30 are fine except: 15 reuses the committed serial 1000, and 20 and 21
    // share serial 2000 (the first of them in the batch wins).
    let mut tasks = tokio::task::JoinSet::new();
    for n in 10..30u64 {
        let serial_n = match n {
            15 => 1000,
            20 | 21 => 2000,
            _ => n,
        };
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            (
                n,
                store.create_request(issued("demo-ca", n, serial_n)).await,
            )
        });
        // Spawn order is queue order only roughly; give each send a moment.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.execute_batch("ROLLBACK").unwrap();
    stalled.await.unwrap().unwrap();

    let mut ok = Vec::new();
    let mut conflicts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (n, Ok(id)) => ok.push((n, id)),
            (n, Err(StoreError::Conflict(msg))) => {
                assert!(msg.contains("serial number"), "{msg}");
                conflicts.push(n);
            }
            (n, Err(e)) => panic!("request {n} failed with {e}"),
        }
    }
    conflicts.sort();
    assert_eq!(conflicts.len(), 2, "conflicts: {conflicts:?}");
    assert_eq!(conflicts[0], 15);
    assert!(conflicts[1] == 20 || conflicts[1] == 21);
    assert_eq!(ok.len(), 18);

    // The stalled batch (the startup event alone) was counted before `before`; all twenty
    // requests then ran as one batch.
    let after = store.stats();
    assert_eq!(after.commands - before.commands, 20);
    assert_eq!(after.transactions - before.transactions, 1);
    // The batch failed optimistically and was re-run with a savepoint per command.
    assert_eq!(after.isolated_batches - before.isolated_batches, 1);

    // Nothing of the failed requests is left behind.
    let conn = raw(dir.path());
    assert_eq!(count(&conn, "SELECT count(*) FROM requests"), 19);
    assert_eq!(count(&conn, "SELECT count(*) FROM request_attributes"), 19);
    assert_eq!(count(&conn, "SELECT count(*) FROM certificates"), 19);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM outbox WHERE request_id IS NOT NULL"
        ),
        19
    );
    for n in &conflicts {
        let leftovers = count(
            &conn,
            &format!(
                "SELECT count(*) FROM requests WHERE subject = 'CN=host-{n}.example' \
                 AND id NOT IN (SELECT request_id FROM certificates)"
            ),
        );
        assert_eq!(leftovers, 0);
    }
    for (n, id) in ok {
        let got = store.get_request(&demo, id).await.unwrap().unwrap();
        assert_eq!(
            got.attributes,
            vec![("marker".to_string(), format!("req-{n}"))]
        );
        assert!(got.certificate.is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_survive_close_and_reopen_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ca("demo-ca");
    let id = {
        let store = open(dir.path());
        let id = store.create_request(issued("demo-ca", 1, 1)).await.unwrap();
        store.close().await;
        // Closed means closed for writes, and closing twice is harmless.
        assert!(matches!(
            store.create_request(pending("demo-ca", 2)).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(
            store.ack_exit(&demo, "log", 1).await,
            Err(StoreError::Closed)
        ));
        store.close().await;
        // Reads still work until the store is dropped.
        assert!(store.get_request(&demo, id).await.unwrap().is_some());
        id
    };

    for _ in 0..2 {
        let store = open(dir.path());
        let got = store.get_request(&demo, id).await.unwrap().unwrap();
        assert_eq!(got.certificate.unwrap().serial, serial(1));
        assert_eq!(store.outbox_head(&demo).await.unwrap(), 1);
        drop(store);
    }
    let conn = raw(dir.path());
    // One row per migration script, each applied once, up to the newest script's number.
    let scripts: Vec<i64> = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
    )
    .unwrap()
    .map(|e| {
        e.unwrap().file_name().to_str().unwrap()[..4]
            .parse()
            .unwrap()
    })
    .collect();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM schema_migrations"),
        scripts.len() as i64
    );
    assert_eq!(
        count(&conn, "SELECT max(version) FROM schema_migrations"),
        scripts.iter().copied().max().unwrap()
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM requests"), 1);

    // A dropped (not closed) store also keeps what it acknowledged.
    let store = open(dir.path());
    let second = store.create_request(pending("demo-ca", 3)).await.unwrap();
    drop(store);
    let store = open(dir.path());
    assert!(store.get_request(&demo, second).await.unwrap().is_some());
}

#[test]
fn a_database_from_a_newer_signet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqlStore::open(&dir.path().join("signet.db")).unwrap());
    raw(dir.path())
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            [],
        )
        .unwrap();
    match SqlStore::open(&dir.path().join("signet.db")) {
        Err(StoreError::Backend(msg)) => {
            assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_is_ordered_and_exit_cursors_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let demo = ca("demo-ca");
    let other = ca("other-ca");
    assert_eq!(store.outbox_head(&demo).await.unwrap(), 0);
    assert_eq!(store.exit_cursor(&demo, "log").await.unwrap(), 0);
    assert!(store.outbox_after(&demo, 0, 10).await.unwrap().is_empty());

    let first = store.create_request(issued("demo-ca", 1, 1)).await.unwrap();
    store.create_request(pending("other-ca", 2)).await.unwrap();
    let event = |ca: &CaName, event, request_id, details: &str| NewEvent {
        ca: ca.clone(),
        event,
        request_id,
        at: t(1_700_000_500),
        details: details.into(),
    };
    store
        .append_events(vec![
            event(&demo, Event::RetrievePending, Some(first), "a"),
            event(&demo, Event::CrlIssued, None, "b"),
            event(&other, Event::Startup, None, "c"),
            event(&demo, Event::Shutdown, None, "d"),
        ])
        .await
        .unwrap();

    let all = store.outbox_after(&demo, 0, 100).await.unwrap();
    let kinds: Vec<Event> = all.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            Event::Issued,
            Event::RetrievePending,
            Event::CrlIssued,
            Event::Shutdown
        ]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(all.iter().all(|e| e.ca == demo));
    assert_eq!(all[1].request_id, Some(first));
    assert_eq!(all[1].details, "a");
    assert_eq!(all[1].at, t(1_700_000_500));
    assert_eq!(all[2].request_id, None);

    let head = store.outbox_head(&demo).await.unwrap();
    assert_eq!(head, all[3].seq);
    let other_events = store.outbox_after(&other, 0, 100).await.unwrap();
    assert_eq!(other_events.len(), 2);
    assert_eq!(
        store.outbox_head(&other).await.unwrap(),
        other_events[1].seq
    );

    // Paging with a cursor and a limit.
    let page = store.outbox_after(&demo, all[0].seq, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [all[1].seq, all[2].seq]
    );
    assert!(
        store
            .outbox_after(&demo, head, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .outbox_after(&demo, u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Cursors: per (CA, exit), forward only, never past the head.
    store.ack_exit(&demo, "log", all[2].seq).await.unwrap();
    assert_eq!(store.exit_cursor(&demo, "log").await.unwrap(), all[2].seq);
    store.ack_exit(&demo, "log", all[0].seq).await.unwrap();
    assert_eq!(store.exit_cursor(&demo, "log").await.unwrap(), all[2].seq);
    assert_eq!(store.exit_cursor(&demo, "webhook").await.unwrap(), 0);
    assert_eq!(store.exit_cursor(&other, "log").await.unwrap(), 0);
    assert!(matches!(
        store.ack_exit(&demo, "log", head + 100).await,
        Err(StoreError::StateChanged(_))
    ));
    store.ack_exit(&demo, "log", head).await.unwrap();
    assert_eq!(store.exit_cursor(&demo, "log").await.unwrap(), head);

    // An event for a request that does not exist is refused, and nothing of its batch stays.
    let ghost = RequestId::new(10_000).unwrap();
    assert!(
        store
            .append_events(vec![
                event(&demo, Event::CrlIssued, None, "kept?"),
                event(&demo, Event::Revoked, Some(ghost), "ghost"),
            ])
            .await
            .is_err()
    );
    assert_eq!(store.outbox_head(&demo).await.unwrap(), head);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_requests_filters_by_status_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let demo = ca("demo-ca");
    let mut pending_ids = Vec::new();
    for n in 0..6u64 {
        let req = match n % 3 {
            0 => pending("demo-ca", n),
            1 => issued("demo-ca", n, n),
            _ => {
                let mut r = pending("demo-ca", n);
                r.status = RequestStatus::Denied;
                r.resolved_at = Some(t(1_700_000_200));
                r
            }
        };
        let id = store.create_request(req).await.unwrap();
        if n % 3 == 0 {
            pending_ids.push(id);
        }
    }
    store.create_request(pending("other-ca", 99)).await.unwrap();

    let listed = store
        .list_requests(&demo, Some(RequestStatus::Pending), 100)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), pending_ids);
    assert!(listed.iter().all(|r| r.status == RequestStatus::Pending));
    assert_eq!(listed[0].attributes.len(), 1);

    let issued_list = store
        .list_requests(&demo, Some(RequestStatus::Issued), 100)
        .await
        .unwrap();
    assert_eq!(issued_list.len(), 2);
    assert!(issued_list.iter().all(|r| r.certificate.is_some()));
    assert!(
        store
            .list_requests(&demo, Some(RequestStatus::Revoked), 100)
            .await
            .unwrap()
            .is_empty()
    );

    let all = store.list_requests(&demo, None, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let limited = store.list_requests(&demo, None, 4).await.unwrap();
    assert_eq!(limited.len(), 4);
    assert_eq!(limited[0].id, all[0].id);
    assert!(
        store
            .list_requests(&demo, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_rows_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let demo = ca("demo-ca");
    let id = store.create_request(issued("demo-ca", 1, 1)).await.unwrap();
    let conn = raw(dir.path());
    conn.execute("UPDATE certificates SET sans = 'not json'", [])
        .unwrap();
    match store.get_request(&demo, id).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("sans"), "{msg}"),
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    conn.execute("UPDATE outbox SET event = 1024", []).unwrap();
    match store.outbox_after(&demo, 0, 10).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("event"), "{msg}"),
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON; UPDATE requests SET status = 'bogus';",
    )
    .unwrap();
    match store.list_requests(&demo, None, 10).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("status"), "{msg}"),
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    conn.execute("UPDATE requests SET raw = 'text, not a blob'", [])
        .unwrap();
    assert!(matches!(
        store.get_request(&demo, id).await,
        Err(StoreError::Backend(_))
    ));
}

/// The futures need no async runtime: a minimal executor drives them.
#[test]
fn futures_resolve_without_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&dir.path().join("signet.db")).unwrap();
    let id = block_on(store.create_request(pending("demo-ca", 1))).unwrap();
    let got = block_on(store.get_request(&ca("demo-ca"), id)).unwrap();
    assert_eq!(got.unwrap().id, id);
    block_on(store.close());
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// The writer does no checkpoints itself (`wal_autocheckpoint=0`); the checkpoint thread must
/// still move committed pages from the WAL into the database file.
#[tokio::test(flavor = "multi_thread")]
async fn the_checkpoint_thread_copies_the_wal_into_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let db = dir.path().join("signet.db");
    let initial = std::fs::metadata(&db).unwrap().len();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..1_000u64 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.create_request(issued("demo-ca", n, n)).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap().unwrap();
    }
    // About 1.5 MB was committed; wait for the thread to copy it.
    let mut size = initial;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        size = std::fs::metadata(&db).unwrap().len();
        if size > initial + 1_000_000 {
            break;
        }
    }
    assert!(
        size > initial + 1_000_000,
        "the database file is still {size} bytes"
    );
}

/// Exit delivery state (migration 0005): a failure survives reopening; acknowledging past it
/// clears it; parking moves the cursor and clears the failure in one write; unparking twice
/// is refused.
#[tokio::test(flavor = "multi_thread")]
async fn exit_failures_survive_reopen_and_parking_moves_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ca("demo-ca");
    let event = |event| NewEvent {
        ca: demo.clone(),
        event,
        request_id: None,
        at: t(1_700_000_500),
        details: "{}".into(),
    };
    {
        let store = open(dir.path());
        store
            .append_events(vec![event(Event::CrlIssued), event(Event::Shutdown)])
            .await
            .unwrap();
        store
            .exit_failed(signet_core::ExitFailure {
                ca: demo.clone(),
                exit: "hook".into(),
                seq: 1,
                attempts: 3,
                next_attempt_at: t(1_700_000_600),
                error: "down".into(),
            })
            .await
            .unwrap();
        store.close().await;
    }
    let store = open(dir.path());
    let st = store.exit_state(&demo, "hook").await.unwrap();
    assert_eq!((st.cursor, st.failing_seq, st.attempts), (0, 1, 3));
    assert_eq!(st.next_attempt_at, Some(t(1_700_000_600)));
    assert_eq!(st.last_error.as_deref(), Some("down"));
    // Another module is not affected.
    assert_eq!(store.exit_state(&demo, "file").await.unwrap().attempts, 0);

    store
        .park_event(signet_core::ParkEvent {
            ca: demo.clone(),
            exit: "hook".into(),
            seq: 1,
            event: Event::CrlIssued,
            request_id: None,
            error: "down".into(),
            attempts: 3,
            at: t(1_700_000_700),
            audit: Vec::new(),
        })
        .await
        .unwrap();
    let st = store.exit_state(&demo, "hook").await.unwrap();
    assert_eq!((st.cursor, st.attempts, st.parked), (1, 0, 1));
    let parked = store.parked_events(&demo, Some("hook"), 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].seq, parked[0].event), (1, Event::CrlIssued));
    assert!(
        store
            .parked_events(&demo, Some("file"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A failure on seq 2, then an acknowledgement of seq 2, clears it and records success.
    store
        .exit_failed(signet_core::ExitFailure {
            ca: demo.clone(),
            exit: "hook".into(),
            seq: 2,
            attempts: 1,
            next_attempt_at: t(1_700_000_800),
            error: "again".into(),
        })
        .await
        .unwrap();
    assert_eq!(store.exit_state(&demo, "hook").await.unwrap().attempts, 1);
    store.ack_exit(&demo, "hook", 2).await.unwrap();
    let st = store.exit_state(&demo, "hook").await.unwrap();
    assert_eq!((st.cursor, st.attempts, st.failing_seq), (2, 0, 0));
    assert!(st.last_success_at.is_some());

    store
        .unpark_event(&demo, "hook", 1, Vec::new())
        .await
        .unwrap();
    assert!(matches!(
        store.unpark_event(&demo, "hook", 1, Vec::new()).await,
        Err(StoreError::StateChanged(_))
    ));
    assert_eq!(store.exit_state(&demo, "hook").await.unwrap().parked, 0);
}

/// The health check's probe (`Store::probe_write`) must reach the disk the way a client
/// write does, or it succeeds on a disk that refuses writes and `/healthz` says 200. Another
/// connection sees a commit that wrote pages as a new `data_version`; the row it touches
/// keeps its value.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_probe_writes_to_the_log_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_request(issued("demo-ca", 1, 1)).await.unwrap();
    let outside = raw(dir.path());
    let version = |c: &Connection| count(c, "PRAGMA data_version");
    let applied = "SELECT sum(applied_at) FROM schema_migrations";
    let (before, applied_before) = (version(&outside), count(&outside, applied));
    store.probe_write().await.unwrap();
    assert_ne!(
        version(&outside),
        before,
        "the probe committed without writing anything"
    );
    assert_eq!(count(&outside, applied), applied_before);
    store.close().await;
}
