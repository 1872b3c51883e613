//! `signet bench`: N concurrent HTTP clients submit CSRs to the real submit endpoint for a
//! fixed time and the figures are printed: certificates/s and latency percentiles.
//!
//! Without `--server` it creates a development CA in a fresh directory (durable SQLite,
//! `synchronous=FULL`, the default modules) and serves it in this process on 127.0.0.1:0,
//! so one command measures the whole path: HTTP, CSR check, policy, signing, commit.
//! `signet bench crl` and `signet bench ocsp` measure revocation (`bench_revocation`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use signet_core::Signer;
use signet_keys::SoftwareKey;
use signet_x509::KeyAlgorithm;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: Option<BenchKind>,
    /// Benchmark running servers instead of an in-process one; repeat it for several nodes
    /// of one installation (the clients are spread over them round-robin).
    #[arg(long = "server")]
    servers: Vec<String>,
    #[arg(long, default_value = "demo")]
    ca: String,
    #[arg(long, default_value = "server")]
    profile: String,
    /// Concurrent clients (with --rate: the most requests in flight at once).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Send requests at this fixed rate (certificates/s) instead of as fast as the clients
    /// can: an open-loop load whose latencies are measured from each request's scheduled
    /// time, so a stall shows in the percentiles instead of slowing the load down.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct subject keys to make CSRs from.
    #[arg(long, default_value_t = 256)]
    keys: usize,
    /// Subject key type: p256, p384, ed25519, rsa2048.
    #[arg(long, default_value = "p256")]
    key: String,
    /// The CA's key type for the in-process server.
    #[arg(long, default_value = "p256")]
    ca_key: String,
    /// The in-process server's CA key on a PKCS#11 token: the RFC 7512 URI of a key that
    /// exists there (made with `signet init --key-uri` or `pkcs11-tool --keypairgen`).
    #[arg(long)]
    ca_key_uri: Option<String>,
    /// Data directory for the in-process server (default: a fresh temporary one).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The in-process server's database when it is created: a postgres:// URL (an empty
    /// database) instead of the embedded SQLite file.
    #[arg(long)]
    database: Option<String>,
    /// A requester token for --server (or SIGNET_TOKEN); the in-process server gets one from
    /// its bootstrap admin token.
    #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// DNS suffix of the CSRs' names (must be allowed by the profile).
    #[arg(long, default_value = "bench.test")]
    domain: String,
    /// A request attribute `name=value` sent with every request (repeatable), for policies
    /// that read one (e.g. the example wasm module's `ticket`).
    #[arg(long = "attr")]
    attributes: Vec<String>,
}

/// The other benchmarks; without one, `signet bench` measures issuance.
#[derive(clap::Subcommand)]
enum BenchKind {
    /// Time and peak memory to build, sign and store a CRL of N revoked certificates.
    Crl(crate::bench_revocation::CrlBenchArgs),
    /// OCSP responses/s over HTTP, answered from the response cache.
    Ocsp(crate::bench_revocation::OcspBenchArgs),
    /// Adds N issued certificates straight into a stopped store, to measure start, the
    /// console and CRLs at scale (`scripts/bench-scale.sh`).
    Fill(crate::bench_revocation::FillArgs),
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.kind {
        Some(BenchKind::Crl(a)) => return crate::bench_revocation::crl(a).await,
        Some(BenchKind::Ocsp(a)) => return crate::bench_revocation::ocsp(a).await,
        Some(BenchKind::Fill(a)) => return crate::bench_revocation::fill(a),
        None => {}
    }
    let algorithm =
        KeyAlgorithm::from_config_name(&args.key).with_context(|| format!("--key {}", args.key))?;
    eprintln!("making {} {} CSRs...", args.keys, algorithm);
    let bodies = make_bodies(&args, algorithm)?;

    let (bases, running, data) = match args.servers.is_empty() {
        false => (
            args.servers
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect::<Vec<_>>(),
            None,
            None,
        ),
        true => {
            let data = args.data.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("signet-bench-{}", std::process::id()))
            });
            if !data.join("signet.toml").exists() {
                crate::init::run(&crate::init::InitOptions {
                    data: data.clone(),
                    ca: args.ca.clone(),
                    key: args.ca_key.clone(),
                    subject: None,
                    validity_days: 3650,
                    domains: vec![args.domain.clone()],
                    dev: true,
                    passphrase: None,
                    listen: "127.0.0.1:0".into(),
                    database: args.database.clone(),
                    database_password_file: None,
                    key_uri: args.ca_key_uri.clone(),
                    existing: args.ca_key_uri.is_some(),
                    rsa_pss: false,
                })?;
            }
            let running = crate::serve::start(&data, Some("127.0.0.1:0"), None).await?;
            (
                vec![format!("http://{}", running.addr)],
                Some(running),
                Some(data),
            )
        }
    };

    let token = match (&args.token, &data) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(dir)) => requester_token(&bases[0], dir).await?,
        (None, None) => bail!("--server needs a requester token: --token or SIGNET_TOKEN"),
    };
    let auth: Arc<str> = format!("Bearer {token}").into();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http();
    let urls = bases
        .iter()
        .map(|base| format!("{base}/api/v1/cas/{}/requests", args.ca).parse())
        .collect::<Result<Vec<hyper::Uri>, _>>()?;
    let base = bases.join(", ");
    let bodies = Arc::new(bodies);

    // Warm up the connection pools and check that the profile issues on every server.
    for url in &urls {
        let (status, body) = post(&client, url, &auth, bodies[0].clone()).await?;
        if status != 201 || !is_issued(&body) {
            bail!(
                "the warm-up request to {url} was not issued (HTTP {status}): {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    let load = Load {
        client,
        urls,
        auth,
        bodies,
    };
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let duration = Duration::from_secs(args.duration);
    let (mut latencies, errors) = match args.rate {
        Some(rate) => {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("--rate must be a positive number of certificates per second");
            }
            eprintln!(
                "sending {rate} requests/s for {} s (at most {} in flight) to {base} ...",
                args.duration, args.concurrency
            );
            load.fixed_rate(rate, args.concurrency, duration).await
        }
        None => {
            eprintln!(
                "running {} clients for {} s against {base} ...",
                args.concurrency, args.duration
            );
            load.closed_loop(args.concurrency, duration).await?
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[idx]) / 1000.0
    };
    let issued = latencies.len();
    match args.rate {
        Some(rate) => println!(
            "signet bench: {} {} CSRs, fixed rate {rate}/s (at most {} in flight), {:.1} s",
            args.keys, algorithm, args.concurrency, elapsed
        ),
        None => println!(
            "signet bench: {} {} CSRs, {} clients, {:.1} s",
            args.keys, algorithm, args.concurrency, elapsed
        ),
    }
    println!("  issued:        {issued} certificates ({errors} errors)");
    println!(
        "  throughput:    {:.0} certificates/s",
        issued as f64 / elapsed
    );
    println!("  latency p50:   {:.2} ms", pct(0.50));
    println!("  latency p99:   {:.2} ms", pct(0.99));
    println!("  latency p99.9: {:.2} ms", pct(0.999));
    println!("  latency max:   {:.2} ms", pct(1.0));
    if let Some(cpu) = cpu
        && issued > 0
    {
        // CPU time is what a noisy (shared) machine does not distort: it counts the server
        // and, when in process, the benchmark's own HTTP clients.
        println!(
            "  CPU per cert:  {:.0} us ({:.2} cores busy of {})",
            cpu * 1e6 / issued as f64,
            cpu / elapsed,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
    }
    if let Some(running) = running {
        running.stop().await?;
        if args.data.is_none()
            && let Some(d) = data
        {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    if errors > 0 && issued == 0 {
        bail!("no certificate was issued");
    }
    Ok(())
}

/// What every request of a run shares: the HTTP client, the servers' request URLs, the
/// requester's Authorization header and the CSR bodies.
struct Load {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    urls: Vec<hyper::Uri>,
    auth: Arc<str>,
    bodies: Arc<Vec<Bytes>>,
}

impl Load {
    /// `concurrency` clients, each sending its next request when the last one is answered,
    /// for `duration`. Returns the issued requests' latencies (µs) and the errors.
    async fn closed_loop(&self, concurrency: usize, duration: Duration) -> Result<(Vec<u32>, u64)> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let client = self.client.clone();
            let url = self.urls[worker % self.urls.len()].clone();
            let bodies = Arc::clone(&self.bodies);
            let stop = Arc::clone(&stop);
            let auth = Arc::clone(&self.auth);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut errors = 0u64;
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let body = bodies[i % bodies.len()].clone();
                    i += 1;
                    let t = Instant::now();
                    match post(&client, &url, &auth, body).await {
                        Ok((201, body)) if is_issued(&body) => latencies.push(micros(t.elapsed())),
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            }));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await?;
            latencies.extend(l);
            errors += e;
        }
        Ok((latencies, errors))
    }

    /// Requests at `rate` per second for `duration`, at most `in_flight` at once (a request
    /// due while that many are out waits, and its wait counts in its latency). Latency runs
    /// from the scheduled start, not from when the request could be sent: the open-loop
    /// measure without coordinated omission. Returns latencies (µs) and errors.
    async fn fixed_rate(&self, rate: f64, in_flight: usize, duration: Duration) -> (Vec<u32>, u64) {
        let slots = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u32>>();
        let start = tokio::time::Instant::now();
        let total = (rate * duration.as_secs_f64()).floor() as u64;
        for n in 0..total {
            let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(scheduled).await;
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let client = self.client.clone();
            let url = self.urls[n as usize % self.urls.len()].clone();
            let body = self.bodies[n as usize % self.bodies.len()].clone();
            let auth = Arc::clone(&self.auth);
            let tx = tx.clone();
            tokio::spawn(async move {
                let outcome = match post(&client, &url, &auth, body).await {
                    Ok((201, body)) if is_issued(&body) => Some(micros(scheduled.elapsed())),
                    _ => None,
                };
                let _ = tx.send(outcome);
                drop(slot);
            });
        }
        drop(tx);
        let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut errors = 0;
        while let Some(outcome) = rx.recv().await {
            match outcome {
                Some(l) => latencies.push(l),
                None => errors += 1,
            }
        }
        (latencies, errors)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// User + system CPU time of this process, from /proc (Linux); `None` elsewhere.
pub(crate) fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration Signet targets.
    Some((utime + stime) / 100.0)
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &hyper::Uri,
    auth: &str,
    body: Bytes,
) -> Result<(u16, Bytes)> {
    let request = Request::post(url.clone())
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(Full::new(body))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// Creates a requester token for the bench clients with the data directory's bootstrap
/// admin token.
async fn requester_token(base: &str, data: &std::path::Path) -> Result<String> {
    let admin = std::fs::read_to_string(data.join("admin.token")).context("reading admin.token")?;
    let client = signet_client::RemoteEnroll::new(base)?.with_token(Some(admin));
    // Token names are unique among live tokens: a name per run lets `--data DIR` be reused.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let name = format!("bench-{stamp}-{}", std::process::id());
    let created: serde_json::Value = client
        .json(
            hyper::Method::POST,
            "/api/v1/tokens",
            Some(serde_json::json!({ "roles": ["requester"], "name": name })),
        )
        .await?;
    created["token"]
        .as_str()
        .map(str::to_string)
        .context("the server returned no token")
}

fn is_issued(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"status\":\"issued\"";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// Pre-builds the JSON bodies: one CSR per key, each for `hostN.DOMAIN`.
fn make_bodies(args: &BenchArgs, algorithm: KeyAlgorithm) -> Result<Vec<Bytes>> {
    let mut attributes = serde_json::Map::new();
    for a in &args.attributes {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--attr {a:?} is not name=value"))?;
        attributes.insert(k.to_string(), v.into());
    }
    (0..args.keys.max(1))
        .map(|i| {
            let key = SoftwareKey::generate(algorithm).context("generating a key")?;
            let host = format!("host{i}.{}", args.domain);
            let der = build_csr(&key, &host)?;
            let pem = signet_x509::pem::encode("CERTIFICATE REQUEST", &der);
            let body = serde_json::json!({
                "csr": pem,
                "profile": args.profile,
                "attributes": attributes,
            });
            Ok(Bytes::from(serde_json::to_vec(&body)?))
        })
        .collect()
}

/// A minimal PKCS#10 request for `CN=host` with a DNS subjectAltName, signed by `key`.
///
/// ```text
/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
/// CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
///      subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
/// ```
pub fn build_csr(key: &SoftwareKey, host: &str) -> Result<Vec<u8>> {
    const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
    const OID_EXT_REQ: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e,
    ];
    const OID_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
    let cn = tlv(0x30, &[OID_CN, &tlv(0x0c, host.as_bytes())].concat());
    let name = tlv(0x30, &tlv(0x31, &cn));
    let san = tlv(0x30, &tlv(0x82, host.as_bytes()));
    let extension = tlv(0x30, &[OID_SAN, &tlv(0x04, &san)].concat());
    let extensions = tlv(0x30, &extension);
    let attribute = tlv(0x30, &[OID_EXT_REQ, &tlv(0x31, &extensions)].concat());
    let info = tlv(
        0x30,
        &[
            &[0x02, 0x01, 0x00][..],
            &name,
            key.public_key_der(),
            &tlv(0xa0, &attribute),
        ]
        .concat(),
    );
    let signature = key.sign(&info).map_err(|e| anyhow::anyhow!("{e}"))?;
    let alg = key.algorithm().algorithm_identifier_der();
    let bits = tlv(0x03, &[&[0u8][..], &signature].concat());
    Ok(tlv(0x30, &[info, alg, bits].concat()))
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
