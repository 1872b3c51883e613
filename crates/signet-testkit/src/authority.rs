//! `TestCa`: an engine with one CA, built the way `signet serve` builds it (see
//! `signet-cli/src/serve.rs`), from test parts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use signet_core::authority::self_signed_root;
use signet_core::revocation::{KeyFactory, ResponderMode, RevocationConfig};
use signet_core::{
    Authority, AuthorityConfig, CaInfo, CaName, CaRuntime, DeliveryReport, EnrollError, Exit,
    Identity, Limits, NodeId, Policy, RetryPolicy, SerialNumber, SubmitRequest, SubmitResponse,
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
/// say otherwise. [`TestCa::start_cluster`] builds several engines ("nodes") of that CA on
/// one store instead.
pub struct TestCa {
    name: String,
    policy: Arc<dyn Policy>,
    exits: Vec<Arc<dyn Exit>>,
    exits_per_node: Option<ExitsPerNode>,
    retry: HashMap<String, RetryPolicy>,
    revocation: RevocationConfig,
    key_factory: Option<Arc<dyn KeyFactory>>,
    clock: Option<Arc<FakeClock>>,
    seed: u64,
    role_separation: bool,
}

/// The exit modules of node `i` of a cluster.
type ExitsPerNode = Box<dyn Fn(usize) -> Vec<Arc<dyn Exit>>>;

impl TestCa {
    /// A CA named `demo` with `policy`.
    pub fn new(policy: impl Policy + 'static) -> TestCa {
        TestCa {
            name: "demo".into(),
            policy: Arc::new(policy),
            exits: Vec::new(),
            exits_per_node: None,
            retry: HashMap::new(),
            revocation: RevocationConfig {
                responder: ResponderMode::Ca,
                ..RevocationConfig::default()
            },
            key_factory: None,
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

    /// In a cluster, gives node `i` the exit modules `f(i)` (instead of the ones added with
    /// [`TestCa::exit`], which every node shares).
    pub fn exits_per_node(mut self, f: impl Fn(usize) -> Vec<Arc<dyn Exit>> + 'static) -> TestCa {
        self.exits_per_node = Some(Box::new(f));
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

    /// The key factory of delegated OCSP responders (default: none, so the CA key signs).
    pub fn key_factory(mut self, factory: Arc<dyn KeyFactory>) -> TestCa {
        self.key_factory = Some(factory);
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
        let (parts, clock, store, ca_certificate) = self.prepare();
        let authority = parts.start_node(0, &clock, &store, &ca_certificate);
        Harness {
            authority,
            clock,
            store,
            ca: parts.info.name.clone(),
            ca_certificate,
        }
    }

    /// Builds and starts `n` engines of this CA ("nodes" `node-0`, `node-1`, ...) on one
    /// store, as `n` `signet serve` processes on one database: the same CA key, certificate,
    /// policy and settings, one clock, and each node its own memory (and, with
    /// [`TestCa::exits_per_node`], its own exit modules). Nodes start one after the other.
    pub fn start_cluster(self, n: usize) -> Cluster {
        let (parts, clock, store, ca_certificate) = self.prepare();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            clock,
            store,
            ca: parts.info.name.clone(),
            ca_certificate,
            parts,
        };
        for _ in 0..n {
            cluster.add_node();
        }
        cluster
    }

    /// The CA key and certificate, the clock and the store, made once for all nodes.
    fn prepare(self) -> (NodeParts, Arc<FakeClock>, TempStore, Vec<u8>) {
        let clock = self.clock.clone().unwrap_or_else(FakeClock::now);
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
        let info = CaInfo {
            name: ca,
            config: format!("localhost/{}", self.name),
            subject,
            certificate: certificate.clone(),
        };
        let parts = NodeParts {
            signer: Arc::new(key),
            info,
            not_before,
            not_after,
            setup: self,
        };
        (parts, clock, TempStore::new(), certificate)
    }
}

/// What every node of a CA is built from.
struct NodeParts {
    signer: Arc<SoftwareKey>,
    info: CaInfo,
    not_before: SystemTime,
    not_after: SystemTime,
    setup: TestCa,
}

impl NodeParts {
    /// Builds and starts node `i` (`node-i`).
    fn start_node(
        &self,
        i: usize,
        clock: &Arc<FakeClock>,
        store: &TempStore,
        certificate: &[u8],
    ) -> Arc<Authority> {
        let setup = &self.setup;
        let exits = match &setup.exits_per_node {
            Some(f) => f(i),
            None => setup.exits.clone(),
        };
        let runtime = CaRuntime {
            info: self.info.clone(),
            key_algorithm: KeyAlgorithm::P256,
            signer: Arc::clone(&self.signer) as Arc<dyn signet_core::Signer>,
            chain: vec![certificate.to_vec()],
            not_before: self.not_before,
            not_after: self.not_after,
            policy: Arc::clone(&setup.policy),
            exits,
            exit_retry: setup.retry.clone(),
            revocation: setup.revocation.clone(),
            renewal: Default::default(),
        };
        let authority = Authority::new(
            AuthorityConfig {
                host: "localhost".into(),
                store: store.as_dyn(),
                clock: Arc::clone(clock) as Arc<dyn signet_core::Clock>,
                // Each node draws its own serial numbers.
                random: Arc::new(SeededRandom::new(setup.seed.wrapping_add(i as u64 * 7919))),
                workers: 1,
                role_separation: setup.role_separation,
                config_details: "{}".into(),
                key_factory: setup.key_factory.clone(),
                limits: Limits::default(),
                token_secret_key: None,
                node: NodeId::new(&format!("node-{i}")).expect("a node id"),
                max_clock_regression: signet_core::DEFAULT_MAX_CLOCK_REGRESSION,
            },
            vec![runtime],
        )
        .expect("building the engine");
        block_on(authority.start()).expect("starting the engine");
        Arc::new(authority)
    }
}

/// Several started engines of one CA on one store (see [`TestCa::start_cluster`]). A node
/// the test stops calling is a node that crashed: its leases expire, nothing releases them.
/// Dropping the cluster stops every node's modules, then the store.
pub struct Cluster {
    pub nodes: Vec<Arc<Authority>>,
    pub clock: Arc<FakeClock>,
    pub store: TempStore,
    pub ca: CaName,
    /// The CA certificate, DER.
    pub ca_certificate: Vec<u8>,
    parts: NodeParts,
}

impl Cluster {
    /// Node `i`.
    pub fn node(&self, i: usize) -> &Arc<Authority> {
        &self.nodes[i]
    }

    /// Builds and starts one more node (`node-N`, N its index) on the same store.
    pub fn add_node(&mut self) -> Arc<Authority> {
        let node = self.parts.start_node(
            self.nodes.len(),
            &self.clock,
            &self.store,
            &self.ca_certificate,
        );
        self.nodes.push(Arc::clone(&node));
        node
    }

    /// One cluster sync step on every node, in order.
    pub fn sync(&self) {
        for node in &self.nodes {
            block_on(node.cluster_sync());
        }
    }

    /// Submits a request for `host` (a fresh key) to node `i` as `caller`.
    pub fn submit(
        &self,
        i: usize,
        caller: Option<&Identity>,
        host: &str,
    ) -> Result<SubmitResponse, EnrollError> {
        block_on(self.nodes[i].submit_request(SubmitRequest {
            ca: self.ca.to_string(),
            csr: crate::csr::for_host(host),
            profile: None,
            attributes: Vec::new(),
            caller: caller.cloned(),
        }))
    }

    /// The clock's time.
    pub fn now(&self) -> SystemTime {
        signet_core::Clock::now(&*self.clock)
    }

    /// A scratch directory for files given to oracles (the store's directory).
    pub fn scratch(&self) -> &std::path::Path {
        self.store.dir()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.stop_modules();
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
