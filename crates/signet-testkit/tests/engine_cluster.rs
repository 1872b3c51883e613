//! Several nodes on one database: two or three engines ("nodes") of one CA on one store,
//! each with its own memory, as several `signet serve` processes. Each test is written from
//! the attacker's side of a per-process cache or job: a revoked token still accepted
//! elsewhere, an OCSP "good" served after a revocation on another node, two nodes
//! publishing the same CRL number or delivering one module's events at once.
//! CRLs and OCSP responses are checked with `openssl`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use signet_core::revocation::{ResponderMode, RevocationConfig};
use signet_core::{
    Authority, BoxFuture, CaInfo, EnrollError, Event, EventMask, Exit, ExitCtx, LEASE_TTL,
    ModuleError, RequestStatus, RevocationReason, Role, Roles, SerialNumber, Store,
};
use signet_testkit::identity::{admin, manager, requester};
use signet_testkit::openssl::{self, path_str, run, write_pem};
use signet_testkit::policies::AlwaysIssue;
use signet_testkit::{Cluster, FakeClock, TestCa, block_on};

/// Two partitions (so three CRLs per publication), a full CRL every minute and a delta
/// every 20 s, OCSP signed by the CA key.
fn revocation() -> RevocationConfig {
    RevocationConfig {
        base_url: Some("http://pki.example.test".into()),
        partitions: 2,
        crl_period: Duration::from_secs(60),
        crl_overlap: Duration::from_secs(10),
        delta_period: Some(Duration::from_secs(20)),
        delta_overlap: Duration::from_secs(5),
        responder: ResponderMode::Ca,
        ..RevocationConfig::default()
    }
}

/// Issues a certificate for `host` on node `i`; returns its serial and DER.
fn issue(c: &Cluster, i: usize, host: &str) -> (SerialNumber, Vec<u8>) {
    let r = c.submit(i, Some(&requester("alice")), host).unwrap();
    assert_eq!(r.status, RequestStatus::Issued);
    (r.serial.unwrap(), r.certificate.unwrap())
}

/// The stored CRLs (shard, number) → (delta, thisUpdate), metadata only.
type Seen = BTreeMap<(u32, u64), (bool, std::time::SystemTime)>;

/// Adds the stored CRLs not seen yet to `seen`; returns how many full and delta CRLs were
/// new, per shard. Every newest CRL (with its DER) is checked with `openssl crl`.
fn collect(c: &Cluster, seen: &mut Seen) -> BTreeMap<u32, (u32, u32)> {
    let store = &c.store.store;
    let mut new = BTreeMap::new();
    for r in block_on(store.list_crls(&c.ca, 1000)).unwrap() {
        let delta = r.delta_base.is_some();
        if seen
            .insert((r.shard, r.number), (delta, r.this_update))
            .is_none()
        {
            let e: &mut (u32, u32) = new.entry(r.shard).or_default();
            if delta {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
    for r in block_on(store.latest_crls(&c.ca)).unwrap() {
        assert_eq!(openssl_crl_number(c, &r.der), r.number);
    }
    new
}

/// `openssl crl` checks the CRL's signature with the CA certificate; returns the CRL
/// number it reads.
fn openssl_crl_number(c: &Cluster, der: &[u8]) -> u64 {
    let dir = c.scratch();
    let ca = write_pem(dir, "ca.pem", "CERTIFICATE", &c.ca_certificate);
    let crl = write_pem(dir, "check.crl", "X509 CRL", der);
    let out = run(&[
        "crl",
        "-in",
        path_str(&crl),
        "-CAfile",
        path_str(&ca),
        "-noout",
        "-crlnumber",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("verify OK"),
        "openssl crl: {text}"
    );
    let hex = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("crlNumber=0x")
                .or(l.strip_prefix("crlNumber="))
        })
        .unwrap_or_else(|| panic!("no crlNumber in {text}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// The serials a CRL lists, as `openssl crl -text` prints them.
fn openssl_crl_lists(c: &Cluster, der: &[u8], serial: &SerialNumber) -> bool {
    let crl = write_pem(c.scratch(), "listed.crl", "X509 CRL", der);
    let out = run(&["crl", "-in", path_str(&crl), "-noout", "-text"]);
    assert!(out.status.success(), "openssl crl -text: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_uppercase();
    text.contains(&format!(
        "SERIAL NUMBER: {}",
        serial.to_hex().to_uppercase()
    ))
}

/// Asks node `node` about `leaf` over OCSP (the request made by `openssl ocsp`) and
/// returns what `openssl ocsp` says of the answer after checking its signature against the
/// CA certificate: `good` or `revoked`.
fn ocsp_status(c: &Cluster, node: &Authority, leaf: &[u8]) -> String {
    openssl::ocsp_status(c.scratch(), &c.ca_certificate, leaf, |request| {
        block_on(node.ocsp("demo", request)).der.to_vec()
    })
}

/// One maintenance pass of a node, as the server's loop runs it: lease renewal, the
/// cluster sync, then the revocation tick.
fn maintain(node: &Authority) {
    block_on(node.renew_leases());
    block_on(node.cluster_sync());
    block_on(node.revocation_tick());
}

/// Runs `secs` seconds of the nodes' maintenance loops, five seconds at a time (each node
/// passes in the order given), checking after each pass that each shard got at most one
/// full and one delta CRL; returns how many each shard got in all.
fn run_for(
    c: &Cluster,
    nodes: &[&Authority],
    secs: u64,
    seen: &mut Seen,
) -> BTreeMap<u32, (u32, u32)> {
    let mut total: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for _ in 0..secs / 5 {
        c.clock.advance(Duration::from_secs(5));
        for node in nodes {
            maintain(node);
        }
        for (shard, (full, delta)) in collect(c, seen) {
            assert!(
                full <= 1 && delta <= 1,
                "shard {shard}: {full} full and {delta} delta CRLs in one pass"
            );
            let t = total.entry(shard).or_default();
            t.0 += full;
            t.1 += delta;
        }
    }
    total
}

fn each_shard(full: u32, delta: u32) -> BTreeMap<u32, (u32, u32)> {
    (0..=2).map(|s| (s, (full, delta))).collect()
}

#[test]
fn one_node_publishes_crls_and_another_takes_over_with_the_next_numbers() {
    let mut c = TestCa::new(AlwaysIssue)
        .revocation(revocation())
        .start_cluster(2);
    let (a, b) = (Arc::clone(c.node(0)), Arc::clone(c.node(1)));
    let mut seen = Seen::new();
    // node-0 started first, took the revocation lease and published the first CRLs (a
    // full and a delta of each of the three shards); node-1 published nothing.
    assert_eq!(collect(&c, &mut seen), each_shard(1, 1));

    // Two delta periods pass with both nodes running: each delta is published once.
    assert_eq!(run_for(&c, &[&b, &a], 40, &mut seen), each_shard(0, 2));
    assert!(a.holds_lease("revocation/demo") && !b.holds_lease("revocation/demo"));
    // node-1 serves what node-0 published, after its sync.
    block_on(b.cluster_sync());
    for shard in 0..=2 {
        for delta in [false, true] {
            assert_eq!(
                b.crl("demo", shard, delta).unwrap().number,
                a.crl("demo", shard, delta).unwrap().number,
                "shard {shard}, delta {delta}"
            );
        }
    }

    // An administrator publishes on node-1, which does not hold the lease: the numbers
    // continue from the store's.
    c.clock.advance(Duration::from_secs(1));
    block_on(b.publish_crls(Some(&admin("root")), "demo", false)).unwrap();
    assert_eq!(collect(&c, &mut seen), each_shard(1, 1));
    // node-0 ticks without syncing: by its memory the full CRLs fall due at 60 s, but it
    // reads the store before it publishes, and publishes the next delta only when that is
    // due after node-1's.
    for step in [4, 5, 5, 5] {
        c.clock.advance(Duration::from_secs(step));
        block_on(a.revocation_tick());
        assert!(collect(&c, &mut seen).is_empty());
    }
    c.clock.advance(Duration::from_secs(1));
    block_on(a.revocation_tick());
    assert_eq!(collect(&c, &mut seen), each_shard(0, 1));

    // node-0 dies (it is never called again; its lease is not released). Until the lease
    // expires nobody publishes; then node-1 takes over.
    assert!(
        run_for(&c, &[&b], 10, &mut seen).is_empty(),
        "still node-0's"
    );
    assert!(!b.holds_lease("revocation/demo"));
    run_for(&c, &[&b], 5, &mut seen);
    assert!(
        b.holds_lease("revocation/demo"),
        "node-1 took the lease over"
    );
    // A third node joins and stays out of it; node-1 publishes on schedule.
    let third = c.add_node();
    assert_eq!(run_for(&c, &[&third, &b], 60, &mut seen), each_shard(1, 3));
    assert!(!third.holds_lease("revocation/demo"));

    // Across the nodes, each shard's numbers are 1, 2, 3, ... in the order they were
    // stored (each number once), and thisUpdate never goes back.
    let mut by_shard: BTreeMap<u32, Vec<(u64, std::time::SystemTime)>> = BTreeMap::new();
    for ((shard, number), (_, this_update)) in &seen {
        by_shard
            .entry(*shard)
            .or_default()
            .push((*number, *this_update));
    }
    for (shard, crls) in by_shard {
        let numbers: Vec<u64> = crls.iter().map(|(n, _)| *n).collect();
        let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
        assert_eq!(numbers, expected, "shard {shard}: every number once");
        assert!(
            crls.windows(2).all(|w| w[0].1 <= w[1].1),
            "shard {shard}: thisUpdate never goes back"
        );
    }
}

#[test]
fn a_revocation_on_one_node_is_answered_by_the_others_after_one_sync() {
    let c = TestCa::new(AlwaysIssue)
        .revocation(revocation())
        .start_cluster(2);
    let (a, b) = (c.node(0), c.node(1));
    let officer = manager("officer");
    let (held, held_der) = issue(&c, 0, "held.example.test");
    let (gone, gone_der) = issue(&c, 1, "gone.example.test");
    // node-1 answers (and caches) "good" for both.
    assert_eq!(ocsp_status(&c, b, &held_der), "good");
    assert_eq!(ocsp_status(&c, b, &gone_der), "good");

    // Revoked and held on node-0: node-0 answers at once, node-1 after its next sync.
    block_on(a.revoke(
        Some(&officer),
        "demo",
        gone,
        RevocationReason::KeyCompromise,
        None,
    ))
    .unwrap();
    block_on(a.revoke(
        Some(&officer),
        "demo",
        held,
        RevocationReason::CertificateHold,
        None,
    ))
    .unwrap();
    assert_eq!(ocsp_status(&c, a, &gone_der), "revoked");
    block_on(b.cluster_sync());
    assert_eq!(ocsp_status(&c, b, &gone_der), "revoked");
    assert_eq!(ocsp_status(&c, b, &held_der), "revoked");

    // Released from hold on node-1: node-0 says "good" again after its sync.
    assert_eq!(ocsp_status(&c, a, &held_der), "revoked");
    block_on(b.unrevoke(Some(&officer), "demo", held)).unwrap();
    block_on(a.cluster_sync());
    assert_eq!(ocsp_status(&c, a, &held_der), "good");

    // node-0 holds the revocation lease and publishes the next delta; node-1 serves it after
    // its sync, and it lists the revoked certificate.
    c.clock.advance(Duration::from_secs(20));
    maintain(a);
    block_on(b.cluster_sync());
    let shard = revocation().partition_for(&gone);
    let delta = b.crl("demo", shard, true).unwrap();
    assert_eq!(delta.number, a.crl("demo", shard, true).unwrap().number);
    assert!(openssl_crl_lists(&c, &delta.der, &gone));
    openssl_crl_number(&c, &delta.der);
}

#[test]
fn a_token_made_or_revoked_on_one_node_holds_on_the_others_after_one_sync() {
    let c = TestCa::new(AlwaysIssue).start_cluster(3);
    let (a, b, third) = (c.node(0), c.node(1), c.node(2));
    let root = admin("root");
    let (record, secret) = block_on(a.create_token(
        Some(&root),
        signet_api::admin::TokenSpec {
            name: Some("robot".into()),
            roles: Roles::from_roles(&[Role::Requester]),
            cas: Vec::new(),
            groups: Vec::new(),
            expires_days: None,
            shared_secret: false,
        },
    ))
    .unwrap();
    assert!(a.authenticate_token(&secret).is_ok());
    c.sync();
    for node in [a, b, third] {
        assert_eq!(node.authenticate_token(&secret).unwrap().name, "robot");
    }

    // Revoked on node-1: refused there at once, and on the others after their sync.
    block_on(b.revoke_token(Some(&root), record.id)).unwrap();
    assert!(b.authenticate_token(&secret).is_err());
    c.sync();
    for node in [a, b, third] {
        assert!(
            matches!(
                node.authenticate_token(&secret),
                Err(EnrollError::Unauthenticated(_))
            ),
            "{}: a revoked token is refused",
            node.node()
        );
    }
}

/// An exit module of one node that writes what it is notified of into a log shared by all
/// nodes (one target, as a webhook receiver is), and can run something in the middle of a
/// notification: a stall (the clock jumps) or another node's delivery pass.
struct NodeExit {
    node: usize,
    log: Log,
    during_next: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Delivered {
    node: usize,
    seq: u64,
    event: Event,
    /// Whether the request record handed over says the certificate is revoked.
    revoked: bool,
}

impl NodeExit {
    fn during_next(&self, f: impl FnOnce() + Send + 'static) {
        *self
            .during_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Box::new(f));
    }
}

impl Exit for NodeExit {
    fn name(&self) -> &str {
        "log"
    }
    fn description(&self) -> String {
        "a log shared by the nodes".into()
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(EventMask::NONE.with(Event::Issued).with(Event::Revoked))
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            let revoked = ctx
                .request
                .as_ref()
                .and_then(|r| r.certificate.as_ref())
                .is_some_and(|c| c.revocation.is_some());
            self.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Delivered {
                    node: self.node,
                    seq: ctx.seq,
                    event: ctx.event,
                    revoked,
                });
            let during = self
                .during_next
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(f) = during {
                f();
            }
            Ok(())
        })
    }
}

/// What the nodes' [`NodeExit`]s delivered, in order.
type Log = Arc<Mutex<Vec<Delivered>>>;

/// A cluster whose nodes each have a [`NodeExit`] named `log`, writing to one log.
fn delivery_cluster(n: usize) -> (Cluster, Vec<Arc<NodeExit>>, Log) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let exits: Arc<Mutex<Vec<Arc<NodeExit>>>> = Arc::default();
    let (made, shared) = (Arc::clone(&exits), Arc::clone(&log));
    let c = TestCa::new(AlwaysIssue)
        .exits_per_node(move |node| {
            let exit = Arc::new(NodeExit {
                node,
                log: Arc::clone(&shared),
                during_next: Mutex::new(None),
            });
            made.lock().unwrap().push(Arc::clone(&exit));
            vec![exit as Arc<dyn Exit>]
        })
        .start_cluster(n);
    let exits = exits.lock().unwrap().clone();
    (c, exits, log)
}

/// The outbox seqs of a CA's `Issued` and `Revoked` events, in order.
fn logged_events(c: &Cluster) -> Vec<u64> {
    block_on(c.store.store.outbox_after(&c.ca, 0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| matches!(r.event, Event::Issued | Event::Revoked))
        .map(|r| r.seq)
        .collect()
}

fn taken(log: &Mutex<Vec<Delivered>>) -> Vec<Delivered> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn one_node_at_a_time_delivers_an_exit_modules_events_in_order_across_a_hand_over() {
    let (c, exits, log) = delivery_cluster(2);
    let (a, b) = (Arc::clone(c.node(0)), Arc::clone(c.node(1)));
    for i in 0..6 {
        issue(&c, i % 2, &format!("h{i}.example.test"));
    }
    let first = logged_events(&c);
    assert_eq!(first.len(), 6);

    // node-0 delivers; in the middle of its first notification node-1 runs a delivery
    // pass too (as its own task would), and delivers nothing: node-0 holds the lease.
    let other = Arc::clone(&b);
    exits[0].during_next(move || {
        block_on(other.deliver());
    });
    block_on(a.deliver());
    let delivered = taken(&log);
    assert!(
        delivered.iter().all(|d| d.node == 0),
        "only the lease holder delivers: {delivered:?}"
    );
    assert_eq!(
        delivered.iter().map(|d| d.seq).collect::<Vec<_>>(),
        first,
        "each event once, in outbox order"
    );

    // More events, from both nodes. node-0 stalls in its first notification for longer
    // than the lease lasts: it must stop there and acknowledge nothing, and node-1 takes
    // over from the stored cursor (so that event is delivered twice: at least once).
    for i in 6..10 {
        issue(&c, i % 2, &format!("h{i}.example.test"));
    }
    let second: Vec<u64> = logged_events(&c).split_off(first.len());
    let clock: Arc<FakeClock> = Arc::clone(&c.clock);
    exits[0].during_next(move || clock.advance(LEASE_TTL + Duration::from_secs(1)));
    block_on(a.deliver());
    block_on(b.cluster_sync());
    block_on(b.deliver());
    block_on(a.deliver());
    let delivered = taken(&log);
    let by = |node| -> Vec<u64> {
        delivered
            .iter()
            .filter(|d| d.node == node)
            .map(|d| d.seq)
            .collect()
    };
    assert_eq!(
        by(0),
        vec![second[0]],
        "node-0 stopped when its lease lapsed"
    );
    assert_eq!(
        by(1),
        second,
        "node-1 went on from the stored cursor, in order"
    );
    assert!(
        delivered.iter().position(|d| d.node == 1) > delivered.iter().rposition(|d| d.node == 0),
        "never both at once: {delivered:?}"
    );
    let state = block_on(c.store.store.exit_state(&c.ca, "log")).unwrap();
    assert_eq!(state.cursor, *second.last().unwrap());
}

#[test]
fn an_event_raised_on_another_node_is_delivered_with_the_stored_request() {
    let (c, _exits, log) = delivery_cluster(2);
    let (a, b) = (c.node(0), c.node(1));
    // node-0 holds the exit lease and keeps the request it issued in memory.
    block_on(a.deliver());
    let (serial, _) = issue(&c, 0, "kept.example.test");
    block_on(a.deliver());
    // node-1 revokes it; node-0 delivers the Revoked event with the revoked record, not
    // with the copy it kept from issuance.
    block_on(b.revoke(
        Some(&manager("officer")),
        "demo",
        serial,
        RevocationReason::Superseded,
        None,
    ))
    .unwrap();
    block_on(a.deliver());
    let delivered = taken(&log);
    let events: Vec<(Event, bool)> = delivered.iter().map(|d| (d.event, d.revoked)).collect();
    assert_eq!(events, vec![(Event::Issued, false), (Event::Revoked, true)]);
}

#[test]
fn a_responder_certificate_renewed_on_one_node_is_taken_up_by_the_others() {
    let c = TestCa::new(AlwaysIssue)
        .revocation(RevocationConfig {
            responder: ResponderMode::Delegated,
            ..revocation()
        })
        .key_factory(Arc::new(signet_keys::SealingKeyFactory::new(Some(
            b"cluster test",
        ))))
        .start_cluster(2);
    let (a, b) = (c.node(0), c.node(1));
    // node-0 holds the revocation lease and issued the responder certificate; node-1 took
    // up the stored one rather than issuing its own.
    let first = a.responder_certificate("demo").unwrap();
    assert!(
        b.responder_certificate("demo").unwrap() == first,
        "node-1 took it up"
    );

    // An administrator revokes it on node-1 (say its key leaked). The lease holder issues
    // a new one at its next pass; node-1 signs with it after its next sync.
    let serial: SerialNumber = signet_x509::parse_certificate(&first)
        .unwrap()
        .serial_hex
        .parse()
        .unwrap();
    block_on(b.revoke(
        Some(&manager("officer")),
        "demo",
        serial,
        RevocationReason::KeyCompromise,
        None,
    ))
    .unwrap();
    c.clock.advance(Duration::from_secs(1));
    maintain(a);
    let second = a.responder_certificate("demo").unwrap();
    assert!(second != first, "renewed");
    block_on(b.cluster_sync());
    assert!(
        b.responder_certificate("demo").unwrap() == second,
        "node-1 took the new one up"
    );
    let (_, leaf) = issue(&c, 1, "leaf.example.test");
    assert_eq!(ocsp_status(&c, b, &leaf), "good");
}

#[test]
fn administrators_publishing_on_two_nodes_at_once_never_share_a_number() {
    let c = TestCa::new(AlwaysIssue)
        .revocation(revocation())
        .start_cluster(2);
    let mut seen = Seen::new();
    collect(&c, &mut seen);
    for round in 0..5 {
        c.clock.advance(Duration::from_secs(1));
        let outcomes: Vec<Result<usize, EnrollError>> = std::thread::scope(|s| {
            let runs: Vec<_> = c
                .nodes
                .iter()
                .map(|node| {
                    s.spawn(move || {
                        block_on(node.publish_crls(Some(&admin("root")), "demo", false))
                            .map(|published| published.len())
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        // A publication that kept losing the race is refused with Conflict (409: retry),
        // never with an internal error; at least one of the two went through.
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(_) | Err(EnrollError::Conflict(_)))),
            "round {round}: {outcomes:?}"
        );
        assert!(outcomes.iter().any(Result::is_ok), "round {round}");
        collect(&c, &mut seen);
    }
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for (shard, number) in seen.keys() {
        let previous = last.insert(*shard, *number).unwrap_or(0);
        assert_eq!(*number, previous + 1, "shard {shard}: numbers 1, 2, 3, ...");
    }
}
