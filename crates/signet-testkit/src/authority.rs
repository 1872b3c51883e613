//! `TestCa`: an engine with one CA, built the way `signet serve` builds it (see
//! `signet-cli/src/serve.rs`), from test parts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use signet_core::authority::self_signed_root;
use signet_core::revocation::{ResponderMode, RevocationConfig};
use signet_core::{
    Authority, AuthorityConfig, CaInfo, CaName, CaRuntime, DeliveryReport, EnrollError, Exit,
    Identity, Limits, Policy, RetryPolicy, SerialNumber, SubmitRequest, SubmitResponse,
};
use signet_keys::SoftwareKey;
use signet_x509::{DistinguishedName, KeyAlgorithm};

use crate::block_on;
use crate::clock::FakeClock;
use crate::random::SeededRandom;
use crate::store::TempStore;

const DAY: Duration = Duration::from_secs(86_400);

/// Builds an engine with one CA (`demo` unless named otherwise): a fresh P-256 CA key and
/// self-signed certificate (valid from a day before the clock for ten years), the given
/// policy, exit modules and revocation settings, a [`TempStore`], a [`FakeClock`] and a
/// [`SeededRandom`]. OCSP responses are signed by the CA key unless the revocation settings
/// say otherwise.
pub struct TestCa {
    name: String,
    policy: Arc<dyn Policy>,
    exits: Vec<Arc<dyn Exit>>,
    retry: HashMap<String, RetryPolicy>,
    revocation: RevocationConfig,
    clock: Option<Arc<FakeClock>>,
    seed: u64,
    role_separation: bool,
}

impl TestCa {
    /// A CA named `demo` with `policy`.
    pub fn new(policy: impl Policy + 'static) -> TestCa {
        TestCa {
            name: "demo".into(),
            policy: Arc::new(policy),
            exits: Vec::new(),
            retry: HashMap::new(),
            revocation: RevocationConfig {
                responder: ResponderMode::Ca,
                ..RevocationConfig::default()
            },
            clock: None,
            seed: 1,
            role_separation: true,
        }
    }

    /// Names the CA.
    pub fn named(mut self, name: &str) -> TestCa {
        self.name = name.into();
        self
    }

    /// Adds an exit module (in order).
    pub fn exit(mut self, exit: Arc<dyn Exit>) -> TestCa {
        self.exits.push(exit);
        self
    }

    /// Retry settings for the exit module `exit`.
    pub fn retry(mut self, exit: &str, retry: RetryPolicy) -> TestCa {
        self.retry.insert(exit.into(), retry);
        self
    }

    /// CRL and OCSP settings.
    pub fn revocation(mut self, revocation: RevocationConfig) -> TestCa {
        self.revocation = revocation;
        self
    }

    /// Uses this clock (default: [`FakeClock::now`]).
    pub fn clock(mut self, clock: Arc<FakeClock>) -> TestCa {
        self.clock = Some(clock);
        self
    }

    /// The seed of the random source (serial numbers).
    pub fn seed(mut self, seed: u64) -> TestCa {
        self.seed = seed;
        self
    }

    /// AD CS `RoleSeparationEnabled` (on by default, as in `signet.toml`).
    pub fn role_separation(mut self, on: bool) -> TestCa {
        self.role_separation = on;
        self
    }

    /// Builds and starts the engine.
    pub fn start(self) -> Harness {
        let clock = self.clock.unwrap_or_else(FakeClock::now);
        let now = signet_core::Clock::now(&*clock);
        let key = SoftwareKey::generate(KeyAlgorithm::P256).expect("generating the CA key");
        let subject =
            DistinguishedName::parse(&format!("CN=Signet Test CA {}", self.name)).expect("a DN");
        let not_before = now - DAY;
        let not_after = now + 3650 * DAY;
        let certificate = self_signed_root(
            &key,
            &subject,
            SerialNumber::from_random([0x42; 20]),
            not_before,
            not_after,
        )
        .expect("making the CA certificate");
        let ca = CaName::new(&self.name).expect("a valid CA name");
        let runtime = CaRuntime {
            info: CaInfo {
                name: ca.clone(),
                config: format!("localhost/{}", self.name),
                subject,
                certificate: certificate.clone(),
            },
            key_algorithm: KeyAlgorithm::P256,
            signer: Arc::new(key),
            chain: vec![certificate.clone()],
            not_before,
            not_after,
            policy: self.policy,
            exits: self.exits,
            exit_retry: self.retry,
            revocation: self.revocation,
        };
        let store = TempStore::new();
        let authority = Authority::new(
            AuthorityConfig {
                host: "localhost".into(),
                store: store.as_dyn(),
                clock: Arc::clone(&clock) as Arc<dyn signet_core::Clock>,
                random: Arc::new(SeededRandom::new(self.seed)),
                workers: 1,
                role_separation: self.role_separation,
                config_details: "{}".into(),
                key_factory: None,
                limits: Limits::default(),
                token_secret_key: None,
            },
            vec![runtime],
        )
        .expect("building the engine");
        block_on(authority.start()).expect("starting the engine");
        Harness {
            authority: Arc::new(authority),
            clock,
            store,
            ca,
            ca_certificate: certificate,
        }
    }
}

/// A started engine and its parts. Dropping it stops the modules, then the store.
pub struct Harness {
    pub authority: Arc<Authority>,
    pub clock: Arc<FakeClock>,
    pub store: TempStore,
    pub ca: CaName,
    /// The CA certificate, DER.
    pub ca_certificate: Vec<u8>,
}

impl Harness {
    /// Submits a request for `host` (a fresh key) as `caller` to the default profile.
    pub fn submit(
        &self,
        caller: Option<&Identity>,
        host: &str,
    ) -> Result<SubmitResponse, EnrollError> {
        block_on(self.authority.submit_request(SubmitRequest {
            ca: self.ca.to_string(),
            csr: crate::csr::for_host(host),
            profile: None,
            attributes: Vec::new(),
            caller: caller.cloned(),
        }))
    }

    /// Checks an issued certificate (DER) with `openssl verify` against the CA certificate,
    /// at the harness clock's time.
    pub fn verify_with_openssl(&self, certificate: &[u8]) {
        crate::openssl::verify_certificate(
            self.store.dir(),
            &self.ca_certificate,
            certificate,
            self.now(),
        );
    }

    /// One delivery pass over every exit module (as `Authority::deliver`).
    pub fn deliver(&self) -> DeliveryReport {
        block_on(self.authority.deliver())
    }

    /// The harness clock's time.
    pub fn now(&self) -> SystemTime {
        signet_core::Clock::now(&*self.clock)
    }

    /// A scratch directory for files given to oracles (the store's directory).
    pub fn scratch(&self) -> &std::path::Path {
        self.store.dir()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.authority.stop_modules();
    }
}
