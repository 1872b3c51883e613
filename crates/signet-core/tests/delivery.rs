//! Exit delivery semantics of `Authority::deliver`, against an in-memory `Store` double:
//! each exit module receives exactly the events in its mask, in order; a failing module is
//! retried from where it stopped and does not hold up the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use signet_core::authority::AuthorityConfig;
use signet_core::policy::PolicyCtx;
use signet_core::{
    Authority, BoxFuture, CaInfo, CaName, CaRuntime, Clock, Event, EventMask, Exit, ExitCtx,
    ModuleError, NewEvent, NewRequest, OutboxEvent, Policy, ProfileName, Random, RequestId,
    RequestRecord, RequestStatus, Signer, SignerError, Store, StoreError, SystemClock, Verdict,
};
use signet_x509::{DistinguishedName, SignatureAlgorithm};

#[derive(Default)]
struct MemStore {
    outbox: Mutex<Vec<OutboxEvent>>,
    cursors: Mutex<HashMap<(String, String), u64>>,
}

impl Store for MemStore {
    fn create_request(&self, _req: NewRequest) -> BoxFuture<'_, Result<RequestId, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn append_events(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut outbox = self.outbox.lock().unwrap();
            for e in events {
                let seq = outbox.len() as u64 + 1;
                outbox.push(OutboxEvent {
                    seq,
                    ca: e.ca,
                    event: e.event,
                    request_id: e.request_id,
                    at: e.at,
                    details: e.details,
                });
            }
            Ok(())
        })
    }
    fn get_request<'a>(
        &'a self,
        _ca: &'a CaName,
        _id: RequestId,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
    fn list_requests<'a>(
        &'a self,
        _ca: &'a CaName,
        _status: Option<RequestStatus>,
        _limit: u32,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn outbox_after<'a>(
        &'a self,
        ca: &'a CaName,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<OutboxEvent>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .outbox
                .lock()
                .unwrap()
                .iter()
                .filter(|e| &e.ca == ca && e.seq > after)
                .take(limit as usize)
                .cloned()
                .collect())
        })
    }
    fn outbox_head<'a>(&'a self, ca: &'a CaName) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            Ok(self
                .outbox
                .lock()
                .unwrap()
                .iter()
                .filter(|e| &e.ca == ca)
                .map(|e| e.seq)
                .max()
                .unwrap_or(0))
        })
    }
    fn exit_cursor<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            Ok(*self
                .cursors
                .lock()
                .unwrap()
                .get(&(ca.to_string(), exit.to_string()))
                .unwrap_or(&0))
        })
    }
    fn ack_exit<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = self.cursors.lock().unwrap();
            let slot = c.entry((ca.to_string(), exit.to_string())).or_default();
            *slot = (*slot).max(seq);
            Ok(())
        })
    }
    // This store keeps no failure state, so every pass retries a failing module at once.
    fn exit_state<'a>(
        &'a self,
        ca: &'a CaName,
        exit: &'a str,
    ) -> BoxFuture<'a, Result<signet_core::ExitState, StoreError>> {
        Box::pin(async move {
            let cursor = self.exit_cursor(ca, exit).await?;
            Ok(signet_core::ExitState {
                cursor,
                ..Default::default()
            })
        })
    }
    fn exit_failed(&self, _f: signet_core::ExitFailure) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn park_event(&self, p: signet_core::ParkEvent) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.ack_exit(&p.ca, &p.exit, p.seq).await })
    }
    fn parked_events<'a>(
        &'a self,
        _ca: &'a CaName,
        _exit: Option<&'a str>,
        _limit: u32,
    ) -> BoxFuture<'a, Result<Vec<signet_core::ParkedEvent>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn unpark_event<'a>(
        &'a self,
        _ca: &'a CaName,
        _exit: &'a str,
        _seq: u64,
        _audit: Vec<signet_core::NewAudit>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn update_request(
        &self,
        _u: signet_core::RequestUpdate,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn change_revocation(
        &self,
        _c: signet_core::RevocationChange,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn append_audit(
        &self,
        _records: Vec<signet_core::NewAudit>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn create_token(&self, _t: signet_core::NewToken) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn revoke_token(
        &self,
        _id: u64,
        _at: SystemTime,
        _audit: Vec<signet_core::NewAudit>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<signet_core::TokenRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn view_requests<'a>(
        &'a self,
        _ca: &'a CaName,
        _q: signet_core::ViewQuery,
    ) -> BoxFuture<'a, Result<Vec<RequestRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn request_by_serial<'a>(
        &'a self,
        _ca: &'a CaName,
        _serial: signet_core::SerialNumber,
    ) -> BoxFuture<'a, Result<Option<RequestRecord>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
    fn audit_after(
        &self,
        _after: u64,
        _limit: u32,
    ) -> BoxFuture<'_, Result<Vec<signet_core::AuditRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn audit_for<'a>(
        &'a self,
        _target: &'a str,
    ) -> BoxFuture<'a, Result<Vec<signet_core::AuditRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn pending_count(
        &self,
        _ca: &signet_core::CaName,
        _requester: Option<String>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Ok(0) })
    }
    fn certificate_history(
        &self,
        _q: signet_core::HistoryQuery,
    ) -> BoxFuture<'_, Result<signet_core::CertificateHistory, StoreError>> {
        Box::pin(async { Ok(signet_core::CertificateHistory::default()) })
    }
    fn ca_statistics(
        &self,
        _q: signet_core::StatisticsQuery,
    ) -> BoxFuture<'_, Result<signet_core::overview::CaStatistics, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn audit_head(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn newest_time(&self) -> BoxFuture<'_, Result<std::time::SystemTime, StoreError>> {
        Box::pin(async { Ok(std::time::UNIX_EPOCH) })
    }
    fn verify_audit(&self) -> BoxFuture<'_, Result<signet_core::AuditCheck, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn scan_revoked(
        &self,
        _q: signet_core::RevokedQuery,
    ) -> BoxFuture<'_, Result<signet_core::RevokedScan, StoreError>> {
        Box::pin(async { Ok(Default::default()) })
    }
    fn shards_in_use<'a>(&'a self, _ca: &'a CaName) -> BoxFuture<'a, Result<Vec<u32>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn store_crl(&self, _crl: signet_core::NewCrl) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("not used here".into())) })
    }
    fn latest_crls<'a>(
        &'a self,
        _ca: &'a CaName,
    ) -> BoxFuture<'a, Result<Vec<signet_core::CrlRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn list_crls<'a>(
        &'a self,
        _ca: &'a CaName,
        _limit: u32,
    ) -> BoxFuture<'a, Result<Vec<signet_core::CrlRecord>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn certificate_status<'a>(
        &'a self,
        _ca: &'a CaName,
        _serial: signet_core::SerialNumber,
    ) -> BoxFuture<'a, Result<Option<signet_core::CertificateStatus>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
    fn token_marker(&self) -> BoxFuture<'_, Result<signet_core::TokenMarker, StoreError>> {
        Box::pin(async { Ok(signet_core::TokenMarker::default()) })
    }
    fn take_lease(
        &self,
        _claim: signet_core::LeaseClaim,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }
    fn release_lease<'a>(
        &'a self,
        _name: &'a str,
        _holder: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

struct Recorder {
    name: String,
    mask: EventMask,
    seen: Mutex<Vec<(u64, Event)>>,
    fail_next: Mutex<u32>,
}

impl Exit for Recorder {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        "records events".into()
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            let mut fail = self.fail_next.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(ModuleError::new(&self.name, "temporarily down"));
            }
            self.seen.lock().unwrap().push((ctx.seq, ctx.event));
            Ok(())
        })
    }
}

struct AllowAll;
impl Policy for AllowAll {
    fn name(&self) -> &str {
        "allow"
    }
    fn description(&self) -> String {
        String::new()
    }
    fn start(&self, _ca: &CaInfo) -> Result<(), ModuleError> {
        Ok(())
    }
    fn has_profile(&self, _p: &ProfileName) -> bool {
        true
    }
    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }
    fn default_profile(&self) -> Option<ProfileName> {
        None
    }
    fn verify(&self, _ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        Ok(Verdict::Issue)
    }
}

/// A signer is required to build the engine; delivery never signs.
struct NoSigner(Vec<u8>);
impl Signer for NoSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::Ed25519
    }
    fn public_key_der(&self) -> &[u8] {
        &self.0
    }
    /// A fixed, invalid signature: only the CA certificate's shape matters here.
    fn sign(&self, _m: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(vec![0x5a; 64])
    }
}

struct ZeroRandom;
impl Random for ZeroRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), SignerError> {
        buf.fill(7);
        Ok(())
    }
}

fn ed25519_spki() -> Vec<u8> {
    // SubjectPublicKeyInfo { id-Ed25519, BIT STRING of 32 bytes }.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend([0x11; 32]);
    spki
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // A minimal executor: the in-memory store and recorders never pend.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn each_exit_gets_exactly_its_events_in_order_and_failures_are_retried() {
    let store = Arc::new(MemStore::default());
    let ca = CaName::new("demo").unwrap();
    let issued_only = Arc::new(Recorder {
        name: "issued".into(),
        mask: EventMask::NONE.with(Event::Issued),
        seen: Mutex::new(Vec::new()),
        fail_next: Mutex::new(0),
    });
    let flaky = Arc::new(Recorder {
        name: "flaky".into(),
        mask: EventMask::ALL,
        seen: Mutex::new(Vec::new()),
        fail_next: Mutex::new(1),
    });
    let subject = DistinguishedName::parse("CN=demo").unwrap();
    let signer = NoSigner(ed25519_spki());
    let certificate = signet_core::authority::self_signed_root(
        &signer,
        &subject,
        signet_core::SerialNumber::from_random([1; 20]),
        SystemTime::UNIX_EPOCH,
        SystemTime::now() + Duration::from_secs(3600),
    )
    .unwrap();
    let runtime = CaRuntime {
        info: CaInfo {
            name: ca.clone(),
            config: "localhost/demo".into(),
            subject,
            certificate,
        },
        key_algorithm: signet_x509::KeyAlgorithm::Ed25519,
        signer: Arc::new(signer),
        chain: Vec::new(),
        not_before: SystemTime::UNIX_EPOCH,
        not_after: SystemTime::now(),
        policy: Arc::new(AllowAll),
        exit_retry: Default::default(),
        exits: vec![
            issued_only.clone() as Arc<dyn Exit>,
            flaky.clone() as Arc<dyn Exit>,
        ],
        revocation: Default::default(),
        renewal: Default::default(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let authority = Authority::new(
        AuthorityConfig {
            host: "localhost".into(),
            store: store.clone(),
            clock,
            random: Arc::new(ZeroRandom),
            workers: 1,
            role_separation: true,
            config_details: "{}".into(),
            key_factory: None,
            limits: signet_core::Limits::default(),
            token_secret_key: None,
            node: signet_core::NodeId::new("test-node").expect("a node id"),
            max_clock_regression: signet_core::DEFAULT_MAX_CLOCK_REGRESSION,
        },
        vec![runtime],
    )
    .unwrap();
    block_on(authority.start()).unwrap();
    let now = SystemTime::now();
    let events = [Event::Issued, Event::Pending, Event::Issued, Event::Denied]
        .into_iter()
        .map(|event| NewEvent {
            ca: ca.clone(),
            event,
            request_id: None,
            at: now,
            details: "{}".into(),
        })
        .collect();
    block_on(store.append_events(events)).unwrap();

    // First pass: `flaky` fails on its first event (Startup, seq 1) and stops there.
    let report = block_on(authority.deliver());
    assert!(report.retry, "a failed notification asks for a retry");
    assert_eq!(
        *issued_only.seen.lock().unwrap(),
        vec![(2, Event::Issued), (4, Event::Issued)]
    );
    assert!(
        flaky.seen.lock().unwrap().is_empty(),
        "nothing is skipped past a failure"
    );
    assert_eq!(report.lag, vec![(ca.clone(), 5)]);

    // Second pass: `flaky` gets everything, in order, once.
    let report = block_on(authority.deliver());
    assert!(!report.retry);
    assert_eq!(
        *flaky.seen.lock().unwrap(),
        vec![
            (1, Event::Startup),
            (2, Event::Issued),
            (3, Event::Pending),
            (4, Event::Issued),
            (5, Event::Denied)
        ]
    );
    assert_eq!(
        issued_only.seen.lock().unwrap().len(),
        2,
        "no redelivery after acknowledgement"
    );
    assert_eq!(report.lag, vec![(ca.clone(), 0)]);

    // Shutdown is recorded and delivered to the module that asked for everything.
    block_on(authority.record_shutdown()).unwrap();
    block_on(authority.deliver());
    assert_eq!(
        flaky.seen.lock().unwrap().last(),
        Some(&(6, Event::Shutdown))
    );
    assert_eq!(issued_only.seen.lock().unwrap().len(), 2);
    authority.stop_modules();
}
