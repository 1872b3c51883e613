//! The engine's revocation schedule over the real SQLite store, with a clock the test moves:
//! full and delta CRLs become due at their periods, and the delegated OCSP responder
//! certificate is renewed (to a new key) once less than a third of its validity is left.
//! The HTTP-level behaviour is tested with the real binary in signet-cli's tests.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use signet_core::authority::{AuthorityConfig, self_signed_root};
use signet_core::policy::PolicyCtx;
use signet_core::revocation::RevocationConfig;
use signet_core::{
    Authority, CaInfo, CaName, CaRuntime, Clock, Identity, ModuleError, Policy, ProfileName, Role,
    Roles, SerialNumber, Verdict,
};
use signet_keys::{SoftwareKey, SoftwareKeyFactory, SystemRandom};
use signet_store::SqlStore;
use signet_x509::{DistinguishedName, KeyAlgorithm};

const DAY: Duration = Duration::from_secs(86_400);

struct TestClock(Mutex<SystemTime>);

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

struct NoRequests;

impl Policy for NoRequests {
    fn name(&self) -> &str {
        "none"
    }
    fn description(&self) -> String {
        String::new()
    }
    fn start(&self, _ca: &CaInfo) -> Result<(), ModuleError> {
        Ok(())
    }
    fn has_profile(&self, _p: &ProfileName) -> bool {
        false
    }
    fn profiles(&self) -> Vec<ProfileName> {
        Vec::new()
    }
    fn default_profile(&self) -> Option<ProfileName> {
        None
    }
    fn verify(&self, _ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        Ok(Verdict::Deny("no requests here".into()))
    }
}

fn engine(dir: &std::path::Path, clock: Arc<TestClock>) -> Arc<Authority> {
    let key = SoftwareKey::generate(KeyAlgorithm::P256).unwrap();
    let subject = DistinguishedName::parse("CN=Engine Test CA").unwrap();
    let start = clock.now() - DAY;
    let not_after = start + 3650 * DAY;
    let certificate = self_signed_root(
        &key,
        &subject,
        SerialNumber::from_random([7; 20]),
        start,
        not_after,
    )
    .unwrap();
    let runtime = CaRuntime {
        info: CaInfo {
            name: CaName::new("demo").unwrap(),
            config: "localhost/demo".into(),
            subject,
            certificate: certificate.clone(),
        },
        key_algorithm: KeyAlgorithm::P256,
        signer: Arc::new(key),
        chain: vec![certificate],
        not_before: start,
        not_after,
        policy: Arc::new(NoRequests),
        exits: Vec::new(),
        exit_retry: Default::default(),
        revocation: RevocationConfig::default(),
        renewal: Default::default(),
    };
    let store = Arc::new(SqlStore::open(&dir.join("signet.db")).unwrap());
    Arc::new(
        Authority::new(
            AuthorityConfig {
                host: "localhost".into(),
                store,
                clock,
                random: Arc::new(SystemRandom::new()),
                workers: 1,
                role_separation: true,
                config_details: "{}".into(),
                key_factory: Some(Arc::new(SoftwareKeyFactory)),
                limits: signet_core::Limits::default(),
                token_secret_key: None,
                node: signet_core::NodeId::new("test-node").expect("a node id"),
                max_clock_regression: signet_core::DEFAULT_MAX_CLOCK_REGRESSION,
            },
            vec![runtime],
        )
        .unwrap(),
    )
}

fn responder(authority: &Authority) -> signet_x509::CertificateInfo {
    signet_x509::parse_certificate(&authority.responder_certificate("demo").unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn crls_come_due_and_the_responder_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    )));
    let authority = engine(dir.path(), Arc::clone(&clock));
    authority.start().await.unwrap();

    // At start: CRL 1 (full) and 2 (its delta), and a 7-day responder certificate.
    let full = authority.crl("demo", 0, false).unwrap();
    let delta = authority.crl("demo", 0, true).unwrap();
    assert_eq!(
        (full.number, delta.number, delta.delta_base),
        (1, 2, Some(1))
    );
    assert_eq!(
        full.next_update,
        clock.now() + 8 * DAY,
        "period 7d + overlap 1d"
    );
    let first = responder(&authority);
    assert_eq!(
        first.not_after.duration_since(clock.now()).unwrap(),
        7 * DAY
    );

    // Within the delta period nothing is due.
    clock.advance(Duration::from_secs(1800));
    authority.revocation_tick().await;
    assert_eq!(authority.crl("demo", 0, true).unwrap().number, 2);
    // After it, a new delta of the same base.
    clock.advance(Duration::from_secs(1800));
    authority.revocation_tick().await;
    let delta = authority.crl("demo", 0, true).unwrap();
    assert_eq!((delta.number, delta.delta_base), (3, Some(1)));
    assert_eq!(authority.crl("demo", 0, false).unwrap().number, 1);

    // Day 4: more than a third of the responder's validity is left: kept.
    clock.advance(4 * DAY - Duration::from_secs(3600));
    authority.revocation_tick().await;
    assert_eq!(responder(&authority).serial_hex, first.serial_hex);

    // Day 5: less than a third left: a new certificate for a new key.
    clock.advance(DAY);
    authority.revocation_tick().await;
    let second = responder(&authority);
    assert_ne!(second.serial_hex, first.serial_hex);
    assert_ne!(second.spki_der, first.spki_der);
    assert_eq!(
        second.not_after.duration_since(clock.now()).unwrap(),
        7 * DAY
    );

    // Day 7: the full CRL is due (period 7d), followed by a fresh delta of it.
    clock.advance(2 * DAY);
    authority.revocation_tick().await;
    let full = authority.crl("demo", 0, false).unwrap();
    let delta = authority.crl("demo", 0, true).unwrap();
    assert!(full.number > 3, "{}", full.number);
    assert_eq!(delta.delta_base, Some(full.number));
    assert_eq!(full.this_update, clock.now());

    // Numbers never repeat, whoever publishes.
    let admin = Identity {
        name: "root".into(),
        roles: Roles::from_roles(&[Role::Admin]),
        cas: Vec::new(),
        groups: Vec::new(),
        via: "test".into(),
    };
    let published = authority
        .publish_crls(Some(&admin), "demo", false)
        .await
        .unwrap();
    assert_eq!(published[0].number, delta.number + 1);
    assert_eq!(published[1].delta_base, Some(published[0].number));
    authority.stop_modules();
}
