//! `signet serve`: load the configuration, start the CAs and their modules, serve HTTP, and
//! shut down cleanly on SIGINT/SIGTERM. This is where the engine meets the front ends: one
//! `Arc<Authority>` is handed to the HTTP server as its trait objects (`Enroll`,
//! `Directory`, `Authenticate`, `Administer`, `PublicRevocation`), and the loops that drive
//! the engine run here: exit delivery (`serve/delivery.rs`) and CRL/OCSP maintenance
//! (`serve/maintenance.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use signet_core::authority::AuthorityConfig;
use signet_core::{Authority, CaInfo, CaName, CaRuntime, Signer, Store, SystemClock};
use signet_keys::{SoftwareKey, SystemRandom};
use signet_server::listener::{Connections, Limits};
use signet_server::metrics::MetricsAccess;
use signet_server::revocation_api::OcspFront;
use signet_server::{AppState, Metrics};
use signet_store::SqlStore;
use signet_x509::KeyAlgorithm;
use tokio::net::TcpListener;

use self::delivery::Delivery;
pub use self::lock::DatabaseLock;
use self::maintenance::Maintenance;
use crate::config::{Config, MetricsToml};

mod acme;
mod cmp;
mod delivery;
mod est;
pub(crate) mod health;
mod lock;
mod maintenance;
pub(crate) mod node;
pub(crate) mod renewal;
mod scep;
mod service_key;

/// How long a graceful shutdown waits for open requests before closing them.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// A running server, for `serve` and for `bench`'s in-process server.
pub struct Running {
    pub addr: SocketAddr,
    /// The HTTPS listener's address, when `[server.tls]` is configured.
    pub tls_addr: Option<SocketAddr>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Asks the server to stop and waits for the clean shutdown.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("server task")?
    }
}

/// The engine as `signet.toml` describes it, not yet started.
pub struct Loaded {
    pub config: Config,
    pub store: Arc<SqlStore>,
    pub authority: Arc<Authority>,
    pub cert_identities: Arc<Vec<signet_server::auth::CertMapping>>,
    /// The audit chain's keys and checkpoint schedule.
    pub anchors: crate::audit_anchors::Anchors,
    pub audit_schedule: crate::audit_anchors::Schedule,
    /// Each CA's signing key, for `/healthz`.
    pub ca_keys: Vec<(String, Arc<dyn Signer>)>,
    /// The SQLite database file (none on PostgreSQL), whose disk `/healthz` watches.
    pub sqlite: Option<PathBuf>,
    /// That file, locked for this process (see [`DatabaseLock`]).
    pub lock: Option<DatabaseLock>,
}

/// Reads the configuration, opens the database and builds the CAs and their modules.
pub fn load(data: &Path, passphrase: Option<&[u8]>) -> Result<Loaded> {
    let config = Config::load(data)?;
    let database = config.database(data)?;
    // `signet init` made the database with the CA: one missing now was removed, and an empty
    // one in its place would forget every certificate, serial and revocation on record.
    let sqlite = match &database {
        signet_store::Database::Sqlite(path) => Some(path.clone()),
        signet_store::Database::Postgres(_) => None,
    };
    if let Some(path) = &sqlite
        && !path.exists()
    {
        bail!(
            "the database {} is missing, but {} holds a CA: restore it (signet backup restore) \
             instead of starting with an empty one",
            path.display(),
            data.display()
        );
    }
    let lock = sqlite.as_deref().map(DatabaseLock::take).transpose()?;
    let audit_schedule = crate::audit_anchors::Schedule::from_config(
        &config.server.audit_checkpoint,
        config.server.audit_checkpoint_records,
    )?;
    let mut cas = Vec::new();
    for ca in &config.cas {
        cas.push(load_ca(data, &config.server, ca, passphrase)?);
    }
    let ca_keys = cas
        .iter()
        .map(|c: &CaRuntime| (c.info.name.to_string(), Arc::clone(&c.signer)))
        .collect();
    // After the CA keys, so a missing passphrase is reported for them first.
    let anchors = crate::audit_anchors::load_or_create(data, &database, passphrase)?;
    let store = Arc::new(
        database
            .open(anchors.keys.clone())
            .map_err(|e| anyhow::anyhow!("opening {database}: {e}"))?,
    );
    let cert_identities = Arc::new(cert_identities(&config)?);
    let config_text = std::fs::read(data.join("signet.toml")).unwrap_or_default();
    let config_details =
        signet_core::audit_details::to_json(&signet_core::audit_details::ConfigLoaded {
            file: "signet.toml",
            sha256: hex::encode(signet_x509::sha256(&config_text)),
            cas: config
                .cas
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            role_separation: config.security.role_separation,
        });
    if !config.security.role_separation {
        tracing::warn!("role separation is OFF: one identity may be both admin and manager");
    }
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let authority = Arc::new(
        Authority::new(
            AuthorityConfig {
                host: config.server.host.clone(),
                store: Arc::clone(&store) as Arc<dyn Store>,
                clock: Arc::new(SystemClock),
                random: Arc::new(SystemRandom::new()),
                workers,
                role_separation: config.security.role_separation,
                config_details,
                // The OCSP responder key is sealed under the CA passphrase and stored.
                key_factory: Some(Arc::new(signet_keys::SealingKeyFactory::new(passphrase))),
                limits: config.security.limits(),
                token_secret_key: Some(crate::token_key::load_or_create(data)?),
                node: node::generate(&config.server.host)?,
                max_clock_regression: health::max_clock_regression(&config.server)?,
            },
            cas,
        )
        .context("building the CA")?,
    );
    Ok(Loaded {
        config,
        store,
        authority,
        cert_identities,
        anchors,
        audit_schedule,
        ca_keys,
        sqlite,
        lock,
    })
}

/// The web pages' state from `[server.web]`.
fn web_state(
    web: &crate::config::WebConfig,
    store: Arc<dyn signet_api::web_session::SessionStore>,
) -> anyhow::Result<Arc<signet_server::web::WebState>> {
    if !(1..=24 * 60).contains(&web.idle_minutes) {
        anyhow::bail!(
            "[server.web] idle_minutes must be 1 to 1440, not {}",
            web.idle_minutes
        );
    }
    if !(1..=24 * 30).contains(&web.session_hours) {
        anyhow::bail!(
            "[server.web] session_hours must be 1 to 720, not {}",
            web.session_hours
        );
    }
    Ok(signet_server::web::WebState::new(
        web.enabled,
        signet_server::web::SessionLimits {
            idle: std::time::Duration::from_secs(web.idle_minutes * 60),
            absolute: std::time::Duration::from_secs(web.session_hours * 3600),
            ..Default::default()
        },
        store,
    ))
}

/// The listeners' limits from `[server.limits]`, with `max_connections` kept below the
/// process's open-file limit (where it can be read), so the caps bite before the
/// descriptors run out.
fn listener_limits(limits: &crate::config::LimitsConfig) -> Result<Limits> {
    let d = |key: &str, v: &crate::config::DurationSetting| {
        v.whole_seconds()
            .with_context(|| format!("[server.limits] {key}"))
    };
    let mut out = Limits {
        header_timeout: d("header_timeout", &limits.header_timeout)?,
        keepalive_timeout: d("keepalive_timeout", &limits.keepalive_timeout)?,
        idle_timeout: d("idle_timeout", &limits.idle_timeout)?,
        max_connections: limits.max_connections,
        max_per_address: limits.max_connections_per_address,
        reserved: limits.reserved_connections,
    };
    if let Some(files) = open_file_limit() {
        // The database, its WAL, the listeners and the modules need descriptors too.
        let room = files.saturating_sub(128).max(16);
        if out.max_connections > room {
            tracing::warn!(
                configured = out.max_connections,
                open_file_limit = files,
                using = room,
                "[server.limits] max_connections is above what the open-file limit (ulimit -n) allows; raise the limit to serve more"
            );
            out.max_connections = room;
            out.reserved = out.reserved.min(room / 4);
        }
    }
    Ok(out)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere or when
/// unlimited.
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Loads everything and starts serving on `listen` (or the configured address).
pub async fn start(
    data: &Path,
    listen: Option<&str>,
    passphrase: Option<&[u8]>,
) -> Result<Running> {
    let Loaded {
        config,
        store,
        authority,
        cert_identities,
        anchors,
        audit_schedule,
        ca_keys,
        sqlite,
        lock,
    } = load(data, passphrase)?;
    if lock.is_some() {
        // Alone on the database: what other holders remain are this process's killed
        // predecessor's.
        let ended = store
            .take_over_leases(authority.node().as_str())
            .await
            .context("taking over the leases")?;
        if ended > 0 {
            tracing::info!(
                leases = ended,
                "the database is locked for this node alone: it takes over the leases a \
                 previous process left, without waiting for them to expire"
            );
        }
    }
    // One set of connection slots for both listeners, checked before anything starts.
    let connections =
        Connections::new(listener_limits(&config.server.limits)?).context("[server.limits]")?;
    let cluster_sync = maintenance::sync_interval(&config.server)?;
    let metrics = Arc::new(Metrics::default());
    metrics.watch_connections(Arc::clone(&connections));
    let delivery = Delivery::spawn(Arc::clone(&authority), Arc::clone(&metrics));
    authority.start().await.context("starting the modules")?;
    let maintenance = Maintenance::spawn(Arc::clone(&authority), cluster_sync);
    let health = Arc::new(signet_server::health::Health::default());
    let disk = sqlite.map(|path| health::DiskSpace {
        path: path
            .parent()
            .map_or_else(|| data.to_path_buf(), Path::to_path_buf),
        min_free: config.server.min_free_disk_bytes,
    });
    let health_check = health::HealthCheck::spawn(
        Arc::clone(&store) as Arc<dyn Store>,
        ca_keys,
        Arc::clone(&health),
        disk,
        health::ClockWatch {
            authority: Arc::clone(&authority),
            metrics: Arc::clone(&metrics),
            bound: health::max_clock_regression(&config.server)?,
        },
    );
    let audit_checkpoints = crate::audit_anchors::Checkpointer::spawn(
        Arc::clone(&authority),
        Arc::clone(&store) as Arc<dyn Store>,
        anchors.signer,
        data,
        audit_schedule,
        anchors.created,
    );

    let listen = listen.unwrap_or(&config.server.listen).to_string();
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    if config.server.web.enabled
        && let Some(ca) = authority
            .ca_names()
            .iter()
            .find(|c| signet_server::web::admin::RESERVED_CA_NAMES.contains(&c.as_str()))
    {
        anyhow::bail!(
            "CA {ca:?}: the web console uses /admin/{ca} for its own page; rename the CA or set [server.web] enabled = false"
        );
    }
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let acme = acme::build(&config, &authority, &store, &metrics, public_url).await?;
    let acme_purge = acme
        .as_ref()
        .map(|a| acme::spawn_purge(Arc::clone(a), std::time::Duration::from_secs(600)));
    let scep = scep::build(&config, &authority, &store, &metrics, data, passphrase).await?;
    let est = est::build(&config, &authority, &metrics, &cert_identities)?;
    let cmp = cmp::build(&config, &authority, &metrics, data, passphrase).await?;
    let state = AppState {
        enroll: Arc::clone(&authority) as _,
        directory: Arc::clone(&authority) as _,
        authn: Arc::clone(&authority) as _,
        admin: Arc::clone(&authority) as _,
        revocation: Arc::clone(&authority) as _,
        ocsp_http: Default::default(),
        metrics,
        max_body: config.server.max_body_bytes,
        cert_identities,
        web: web_state(&config.server.web, Arc::clone(&store) as _)?,
        metrics_access: match config.server.metrics {
            MetricsToml::Public => MetricsAccess::Public,
            MetricsToml::Token => MetricsAccess::Token,
            MetricsToml::Off => MetricsAccess::Off,
        },
        health,
    };
    let app = signet_server::router(state.clone());
    // ACME is its own crate on the same front-end API; the server does not know it.
    let app = match &acme {
        Some(acme) => app.merge(signet_acme::server::router(Arc::clone(acme))),
        None => app,
    };
    // So is SCEP (served on both listeners: devices speak it over plain HTTP).
    let (app, scep_task) = match scep {
        Some((scep, task)) => (app.merge(signet_scep::server::router(scep)), Some(task)),
        None => (app, None),
    };
    // And CMP (both listeners: CMP protects its own messages).
    let (app, cmp_task) = match cmp {
        Some((cmp, task)) => (app.merge(signet_cmp::router(cmp)), Some(task)),
        None => (app, None),
    };
    let (tls_stop, tls_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (tls_addr, tls_task) = match &config.server.tls {
        Some(tls) => {
            let read = |p: &str| {
                let path = Config::resolve(data, p);
                std::fs::read(&path)
                    .with_context(|| format!("[server.tls]: reading {}", path.display()))
            };
            let roots = match &tls.client_ca {
                Some(p) => read(p)?,
                None => authority
                    .ca_names()
                    .iter()
                    .filter_map(|c| authority.chain(c.as_str()).ok())
                    .flatten()
                    .flat_map(|der| signet_x509::pem::encode("CERTIFICATE", &der).into_bytes())
                    .collect(),
            };
            let tls_config = signet_server::tls::server_config(
                &read(&tls.certificate)?,
                &read(&tls.key)?,
                &roots,
            )
            .context("[server.tls]")?;
            let listener = TcpListener::bind(&tls.listen)
                .await
                .with_context(|| format!("binding {}", tls.listen))?;
            let addr = listener.local_addr()?;
            let task = tokio::spawn(signet_server::listener::serve(
                listener,
                Some(tls_config),
                // EST is served over TLS only (RFC 7030 §3.3): its routes exist on this
                // listener alone.
                OcspFront::new(
                    match &est {
                        Some(est) => app.clone().merge(signet_est::router(Arc::clone(est))),
                        None => app.clone(),
                    },
                    &state,
                ),
                Arc::clone(&connections),
                async move {
                    let _ = tls_stop_rx.await;
                },
                DRAIN_DEADLINE,
            ));
            (Some(addr), Some(task))
        }
        None => (None, None),
    };
    // Repeated OCSP GETs are answered from finished answers ahead of the router (on the TLS
    // listener too, above).
    let app = OcspFront::new(app, &state);
    let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let task_authority = Arc::clone(&authority);
    let task = tokio::spawn(async move {
        let (drain, drain_rx) = tokio::sync::oneshot::channel::<()>();
        // The plain listener runs the same accept loop as the HTTPS one: the client's
        // address in each request (`ConnectInfo`, for audit records of web sign-ins),
        // connection caps and timeouts, and a drain bounded by `DRAIN_DEADLINE`.
        let mut server = tokio::spawn(signet_server::listener::serve(
            listener,
            None,
            app,
            connections,
            async move {
                let _ = drain_rx.await;
            },
            DRAIN_DEADLINE,
        ));
        let mut tls_stop = Some(tls_stop);
        let served = tokio::select! {
            // The server stopped by itself (it does not, but a panic would end it).
            result = &mut server => result,
            _ = shutdown_rx => {
                tracing::info!("shutting down: draining in-flight requests");
                // Both listeners drain at once; each closes what is left at the deadline.
                let _ = drain.send(());
                if let Some(t) = tls_stop.take() {
                    let _ = t.send(());
                }
                server.await
            }
        };
        if let Some(t) = tls_stop.take() {
            let _ = t.send(());
        }
        let served = served.map_err(|e| anyhow::anyhow!("server task: {e}"))?;
        if let Some(t) = tls_task
            && let Ok(Err(e)) = t.await
        {
            tracing::warn!(error = %e, "the TLS listener stopped with an error");
        }
        // In-flight requests are drained; no new ones are accepted.
        task_authority.stop_accepting();
        if let Some(purge) = acme_purge {
            purge.abort();
        }
        for task in [scep_task, cmp_task].into_iter().flatten() {
            task.abort();
        }
        maintenance.stop().await;
        health_check.stop().await;
        delivery.stop().await;
        if let Err(e) = task_authority.record_shutdown().await {
            tracing::error!(error = %e, "could not record the Shutdown event");
        }
        // The last checkpoint covers every record, and is delivered with Shutdown below.
        audit_checkpoints.stop().await;
        let report = task_authority.deliver().await;
        if report.retry {
            tracing::warn!(
                "some exit events are undelivered; they will be delivered at next start"
            );
        }
        // Other nodes take this node's work over at once.
        task_authority.release_leases().await;
        task_authority.stop_modules();
        store.close().await;
        drop(lock);
        tracing::info!("stopped");
        served.context("HTTP server")
    });
    tracing::info!(%addr, cas = ?authority.ca_names().iter().map(|c| c.as_str()).collect::<Vec<_>>(), "signet is serving");
    Ok(Running {
        addr,
        tls_addr,
        shutdown,
        task,
    })
}

/// A CA's signing key: on a PKCS#11 token when `key` is a `pkcs11:` URI (RFC 7512), else
/// the PKCS#8 PEM file at `key` (relative to the data directory).
pub(crate) fn load_ca_key(
    data: &Path,
    name: &CaName,
    key: &str,
    rsa_pss: bool,
    passphrase: Option<&[u8]>,
) -> Result<(Arc<dyn Signer>, KeyAlgorithm)> {
    if signet_pkcs11::Pkcs11Uri::is_pkcs11(key) {
        let uri = signet_pkcs11::Pkcs11Uri::parse(key).with_context(|| format!("CA {name}"))?;
        let mut key = signet_pkcs11::Pkcs11Key::open(&uri)
            .with_context(|| format!("CA {name}: opening the key on its token"))?;
        if rsa_pss {
            key = key
                .with_rsa_pss()
                .with_context(|| format!("CA {name}: rsa_pss"))?;
        }
        tracing::info!(ca = %name, uri = %uri, "the CA key is on a PKCS#11 token");
        let algorithm = key.key_algorithm();
        return Ok((Arc::new(key), algorithm));
    }
    let key_path = Config::resolve(data, key);
    let key_pem =
        std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let key = SoftwareKey::from_pem(&key_pem, passphrase).map_err(|e| match e {
        signet_keys::KeyError::PassphraseRequired => anyhow::anyhow!(
            "CA {name}: the key {} is encrypted: give --passphrase-file FILE or set SIGNET_PASSPHRASE",
            key_path.display()
        ),
        other => anyhow::anyhow!("CA {name}: loading {}: {other}", key_path.display()),
    })?;
    if !key_pem.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        tracing::warn!(ca = %name, "the CA key is stored UNENCRYPTED (development mode)");
    }
    let key = if rsa_pss {
        key.with_rsa_pss()
            .map_err(|e| anyhow::anyhow!("CA {name}: rsa_pss: {e}"))?
    } else {
        key
    };
    let algorithm = key.key_algorithm();
    Ok((Arc::new(key), algorithm))
}

fn load_ca(
    data: &Path,
    server: &crate::config::ServerConfig,
    ca: &crate::config::CaConfig,
    passphrase: Option<&[u8]>,
) -> Result<CaRuntime> {
    let name = CaName::new(&ca.name).context("CA name")?;
    let (key, key_algorithm) = if ca.offline {
        offline_key(data, &name, ca)?
    } else {
        load_ca_key(data, &name, &ca.key, ca.rsa_pss, passphrase)?
    };
    let renewal = renewal::load(data, &name, ca, passphrase)?;
    ca_runtime(
        data,
        server,
        ca,
        key,
        key_algorithm,
        renewal,
        Modules::Configured,
    )
}

/// An offline CA's stand-in key (`signet_core::offline::OfflineKey`): the public key of its
/// certificate; it signs nothing.
fn offline_key(
    data: &Path,
    name: &CaName,
    ca: &crate::config::CaConfig,
) -> Result<(Arc<dyn Signer>, KeyAlgorithm)> {
    let (_, info) = read_ca_certificate(data, ca)?;
    let algorithm = signet_x509::spki_key_algorithm(&info.spki_der)
        .with_context(|| format!("CA {name}: the key of {}", ca.certificate))?;
    let signature = match (ca.rsa_pss, algorithm.rsa_pss_signature()) {
        (true, Some(pss)) => pss,
        _ => algorithm.signature_algorithm(),
    };
    tracing::info!(ca = %name, "the CA is offline: no key is loaded; it signs nothing here");
    let key = signet_core::offline::OfflineKey::new(name.clone(), info.spki_der, signature);
    Ok((Arc::new(key), algorithm))
}

/// A CA's certificate file (`certificate`): the CA certificate first, then its chain, and
/// the CA certificate's summary.
pub(crate) fn read_ca_certificate(
    data: &Path,
    ca: &crate::config::CaConfig,
) -> Result<(Vec<Vec<u8>>, signet_x509::CertificateInfo)> {
    let cert_path = Config::resolve(data, &ca.certificate);
    let cert_pem =
        std::fs::read(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let chain = signet_x509::pem::decode_all(&cert_pem, "CERTIFICATE")
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    let Some(cert_der) = chain.first() else {
        bail!("{} holds no certificate", cert_path.display());
    };
    let info = signet_x509::parse_certificate(cert_der)
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    Ok((chain, info))
}

/// Which modules a CA runtime gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modules {
    /// The policy and exit modules `signet.toml` configures (an offline CA: the `offline`
    /// policy).
    Configured,
    /// None (the `offline` policy, no exits): for `signet ca sign --offline`, which signs
    /// with the CA's key in this process and leaves the exit events to the server.
    None,
}

/// One CA's runtime with `key` and its `renewal` state, as `signet.toml` describes it.
pub(crate) fn ca_runtime(
    data: &Path,
    server: &crate::config::ServerConfig,
    ca: &crate::config::CaConfig,
    key: Arc<dyn Signer>,
    key_algorithm: KeyAlgorithm,
    renewal: signet_core::authority::Renewal,
    modules: Modules,
) -> Result<CaRuntime> {
    let name = CaName::new(&ca.name).context("CA name")?;
    let (chain, info) = read_ca_certificate(data, ca)?;
    let cert_der = &chain[0];
    if info.spki_der != key.public_key_der() {
        bail!(
            "CA {name}: the key {} does not match the certificate {}",
            ca.key,
            ca.certificate
        );
    }
    let policy: Arc<dyn signet_core::Policy> = if ca.offline || modules == Modules::None {
        Arc::new(signet_core::offline::OfflinePolicy)
    } else {
        let policy_kind = ca
            .policy
            .get("module")
            .and_then(|m| m.as_str())
            .with_context(|| format!("CA {name}: [ca.policy] needs `module`"))?;
        crate::modules::build_policy(policy_kind, &ca.policy, data)
            .with_context(|| format!("CA {name}"))?
    };
    let mut exits = Vec::new();
    let mut exit_retry = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let configured_exits = match modules {
        Modules::Configured => ca.exits.as_slice(),
        Modules::None => &[],
    };
    for table in configured_exits {
        let mut table = table.clone();
        let exit_name =
            take_string(&mut table, "name").with_context(|| format!("CA {name}: [[ca.exit]]"))?;
        let kind = take_string(&mut table, "module")
            .with_context(|| format!("CA {name}: exit {exit_name}"))?;
        if !seen.insert(exit_name.clone()) {
            bail!("CA {name}: two exit modules are named {exit_name:?}");
        }
        let retry =
            take_retry(&mut table).with_context(|| format!("CA {name}: exit {exit_name}"))?;
        exit_retry.insert(exit_name.clone(), retry);
        exits.push(
            crate::modules::build_exit(&exit_name, &kind, &toml::Value::Table(table), data)
                .with_context(|| format!("CA {name}: exit {exit_name}"))?,
        );
    }
    let revocation = ca
        .revocation
        .to_config(server.public_url.as_deref())
        .with_context(|| format!("CA {name}"))?;
    revocation
        .check()
        .map_err(|e| anyhow::anyhow!("CA {name}: [ca.revocation] {e}"))?;
    let host = &server.host;
    Ok(CaRuntime {
        info: CaInfo {
            config: format!("{host}/{name}"),
            name,
            subject: info.subject.clone(),
            certificate: cert_der.clone(),
        },
        key_algorithm,
        signer: key,
        chain,
        not_before: info.not_before,
        not_after: info.not_after,
        policy,
        exits,
        exit_retry,
        revocation,
        renewal,
    })
}

/// The `[[identity]]` certificate mappings, checked: known roles and CAs, a subject or SAN to
/// match, and role separation.
fn cert_identities(config: &Config) -> Result<Vec<signet_server::auth::CertMapping>> {
    let mut out = Vec::new();
    for i in &config.identities {
        let what = || format!("[[identity]] {:?}", i.name);
        signet_core::auth::check_new_identity_name(&i.name)
            .map_err(anyhow::Error::msg)
            .with_context(what)?;
        let roles = signet_core::Roles::parse_list(&i.roles.join(","))
            .map_err(anyhow::Error::msg)
            .with_context(what)?;
        if roles.is_empty() {
            bail!("{}: give at least one role", what());
        }
        if config.security.role_separation && roles.violates_separation() {
            bail!(
                "{}: admin and manager together break role separation ([security] role_separation)",
                what()
            );
        }
        let cas = i
            .cas
            .iter()
            .map(|c| {
                if !config.cas.iter().any(|k| k.name == *c) {
                    bail!("{}: unknown CA {c:?}", what());
                }
                CaName::new(c).map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        let subject = i
            .subject
            .as_deref()
            .map(signet_x509::DistinguishedName::parse)
            .transpose()
            .with_context(what)?;
        let san = i
            .san
            .as_deref()
            .map(signet_server::auth::parse_san)
            .transpose()
            .map_err(anyhow::Error::msg)
            .with_context(what)?;
        if subject.is_none() && san.is_none() {
            bail!(
                "{}: give `subject` or `san` to match certificates by",
                what()
            );
        }
        out.push(signet_server::auth::CertMapping {
            subject,
            san,
            name: i.name.clone(),
            roles,
            cas,
            groups: i.groups.clone(),
        });
    }
    Ok(out)
}

/// Takes the delivery settings (`max_attempts`, `backoff_initial`, `backoff_max`) out of an
/// exit's table, so the module never sees them.
fn take_retry(table: &mut toml::Table) -> Result<signet_core::RetryPolicy> {
    let mut retry = signet_core::RetryPolicy::default();
    match table.remove("max_attempts") {
        None => {}
        Some(toml::Value::Integer(n)) if (1..=1_000_000).contains(&n) => {
            retry.max_attempts = u32::try_from(n).context("`max_attempts`")?;
        }
        Some(_) => bail!("`max_attempts` must be a whole number from 1 to 1000000"),
    }
    let mut duration = |key: &str, default| -> Result<std::time::Duration> {
        match table.remove(key) {
            None => Ok(default),
            Some(v) => {
                let v: crate::config::DurationSetting =
                    v.try_into().with_context(|| format!("`{key}`"))?;
                v.positive().with_context(|| format!("`{key}`"))
            }
        }
    };
    retry.backoff_initial = duration("backoff_initial", retry.backoff_initial)?;
    retry.backoff_max = duration("backoff_max", retry.backoff_max)?;
    if retry.backoff_max < retry.backoff_initial {
        bail!(
            "`backoff_max` ({:?}) is shorter than `backoff_initial` ({:?})",
            retry.backoff_max,
            retry.backoff_initial
        );
    }
    Ok(retry)
}

fn take_string(table: &mut toml::Table, key: &str) -> Result<String> {
    match table.remove(key) {
        Some(toml::Value::String(s)) => Ok(s),
        Some(_) => bail!("`{key}` must be a string"),
        None => bail!("`{key}` is required"),
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(
    data: PathBuf,
    listen: Option<String>,
    passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
) -> Result<()> {
    // The handlers are in place before the listening line is printed: a supervisor (or a
    // test) that signals as soon as it reads the line gets a clean shutdown, never the
    // default action of SIGTERM.
    let stop = StopSignals::install();
    let running = start(
        &data,
        listen.as_deref(),
        passphrase.as_ref().map(|p| p.as_slice()),
    )
    .await?;
    // Scripts and tests read this line to find the port. A standard output that cannot be
    // written (a full log disk, a closed pipe) must not stop the CA: `println!` would panic.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "signet: listening on http://{}", running.addr);
    if let Some(addr) = running.tls_addr {
        let _ = writeln!(out, "signet: listening on https://{addr}");
    }
    let _ = out.flush();
    drop(out);
    stop.wait().await;
    running.stop().await
}

/// SIGINT and SIGTERM, listened for from the moment they are installed.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGINT and SIGTERM");
                    None
                }
            };
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
