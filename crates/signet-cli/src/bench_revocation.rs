//! `signet bench crl` and `signet bench ocsp`: the revocation benchmarks.
//!
//! - `crl`: fills a fresh database with N revoked certificates (directly, not through the
//!   API), then times one full publication as the server does it: the database scan, the
//!   CRL encoding, the signature and the durable commit of the CRL, and reports the peak
//!   memory of that step (VmHWM after resetting it, Linux).
//! - `ocsp`: serves a development CA in process, issues certificates, revokes a tenth, and
//!   has N HTTP/1.1 keep-alive clients POST OCSP requests (no nonce, so answered from the
//!   cache after the first) for a fixed time.

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
use signet_core::{Identity, Role, Roles, Store};
use signet_x509::ocsp::IssuerHashes;

#[derive(Args)]
pub struct CrlBenchArgs {
    /// Revoked certificates on the CRL.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// The CA's key type.
    #[arg(long, default_value = "p256")]
    ca_key: String,
    /// Data directory (default: a fresh temporary one, removed afterwards). One a previous
    /// run filled is published from again, without inserting: that run's peak memory is the
    /// publication's own.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also write the CRL here (DER), e.g. for `openssl crl -inform DER -CAfile ...`.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct FillArgs {
    /// Issued certificates to add (with their requests; see `signet_store::bench_fill`).
    #[arg(long, default_value_t = 10_000_000)]
    certificates: u64,
    /// Data directory: an existing installation's (stopped), or a new one made with
    /// `signet init --dev` and CA `demo`.
    #[arg(long)]
    data: PathBuf,
    /// The CA whose certificates they are.
    #[arg(long, default_value = "demo")]
    ca: String,
}

#[derive(Args)]
pub struct OcspBenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct certificates queried (a tenth of them revoked).
    #[arg(long, default_value_t = 1000)]
    certs: usize,
}

fn temp_data(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("signet-bench-{kind}-{}", std::process::id()))
}

fn init_dev(data: &std::path::Path, ca_key: &str) -> Result<()> {
    crate::init::run(&crate::init::InitOptions {
        data: data.to_path_buf(),
        ca: "demo".into(),
        key: ca_key.into(),
        subject: None,
        validity_days: 3650,
        domains: vec!["bench.test".into()],
        dev: true,
        passphrase: None,
        listen: "127.0.0.1:0".into(),
        database: None,
        database_password_file: None,
        key_uri: None,
        existing: false,
        rsa_pss: false,
    })
}

/// `signet bench fill`: bulk rows into a stopped store (SQLite only).
pub fn fill(args: FillArgs) -> Result<()> {
    if !args.data.join("signet.toml").exists() {
        init_dev(&args.data, "p256")?;
    }
    let db = args.data.join("signet.db");
    if !db.exists() {
        bail!(
            "{} has no signet.db: bench fill writes to the embedded SQLite store only",
            args.data.display()
        );
    }
    eprintln!(
        "inserting {} issued certificates of {}...",
        args.certificates, args.ca
    );
    let t = Instant::now();
    signet_store::bench_fill::fill_issued(&db, &args.ca, args.certificates)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "signet bench fill: {} certificates in {:.1} s; {} bytes in signet.db",
        args.certificates,
        t.elapsed().as_secs_f64(),
        std::fs::metadata(&db).map_or(0, |m| m.len()),
    );
    Ok(())
}

pub async fn crl(args: CrlBenchArgs) -> Result<()> {
    let data = args.data.clone().unwrap_or_else(|| temp_data("crl"));
    // A directory a previous run filled is published from as it is, so this process's peak
    // memory is the publication's alone, not the bulk insert's.
    if data.join("signet.toml").exists() {
        eprintln!("publishing from the CA already in {}", data.display());
    } else {
        init_dev(&data, &args.ca_key)?;
        // The bench publishes by itself: no scheduled deltas in between.
        let toml = data.join("signet.toml");
        let text = std::fs::read_to_string(&toml)?
            .replace("delta_period = \"1h\"", "delta_period = \"0s\"");
        std::fs::write(&toml, text)?;

        eprintln!("inserting {} revoked certificates...", args.entries);
        let t = Instant::now();
        signet_store::bench_fill::fill_revoked(&data.join("signet.db"), "demo", args.entries, 1)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("  done in {:.1} s", t.elapsed().as_secs_f64());
    }

    let loaded = crate::serve::load(&data, None)?;
    let authority = loaded.authority;
    authority.start().await.context("starting the CA")?;
    let admin = Identity {
        name: "bench".into(),
        roles: Roles::from_roles(&[Role::Admin]),
        cas: Vec::new(),
        groups: Vec::new(),
        via: "bench".into(),
    };
    let mut runs = Vec::new();
    for run in 1..=2 {
        reset_peak_memory();
        let rss_before = memory_kib("VmRSS:");
        let t = Instant::now();
        let published = authority
            .publish_crls(Some(&admin), "demo", false)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = t.elapsed().as_secs_f64();
        let peak = memory_kib("VmHWM:");
        let crl = authority
            .crl("demo", 0, false)
            .context("no CRL after publishing")?;
        let entries = published.first().map_or(0, |p| p.entries);
        if entries != args.entries {
            bail!("the CRL has {entries} entries, expected {}", args.entries);
        }
        println!(
            "signet bench crl: run {run}: {entries} entries, {:.1} MB CRL (number {}), {elapsed:.2} s (scan + encode + sign + commit)",
            crl.der.len() as f64 / 1e6,
            crl.number,
        );
        if let (Some(before), Some(peak)) = (rss_before, peak) {
            println!(
                "  peak RSS: {:.0} MB (before the publication: {:.0} MB)",
                peak as f64 / 1024.0,
                before as f64 / 1024.0
            );
        }
        runs.push(elapsed);
        if run == 1
            && let Some(out) = &args.out
        {
            std::fs::write(out, crl.der.as_slice())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("  written to {}", out.display());
        }
    }
    authority.stop_modules();
    loaded.store.close().await;
    if args.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); harmless elsewhere.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn ocsp(args: OcspBenchArgs) -> Result<()> {
    let data = temp_data("ocsp");
    init_dev(&data, "p256")?;
    let running = crate::serve::start(&data, Some("127.0.0.1:0"), None).await?;
    let base = format!("http://{}", running.addr);
    let result = ocsp_run(&args, &data, &base).await;
    running.stop().await?;
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn ocsp_run(args: &OcspBenchArgs, data: &std::path::Path, base: &str) -> Result<()> {
    let admin = std::fs::read_to_string(data.join("admin.token")).context("reading admin.token")?;
    let admin = signet_client::RemoteEnroll::new(base)?.with_token(Some(admin));
    let token = |roles: &[&str], name: &str| {
        let admin = &admin;
        let body = serde_json::json!({ "roles": roles, "name": name });
        async move {
            let created: serde_json::Value = admin
                .json(hyper::Method::POST, "/api/v1/tokens", Some(body))
                .await?;
            created["token"]
                .as_str()
                .map(str::to_string)
                .context("the server returned no token")
        }
    };
    let requester = signet_client::RemoteEnroll::new(base)?
        .with_token(Some(token(&["requester"], "bench").await?));
    let manager = signet_client::RemoteEnroll::new(base)?
        .with_token(Some(token(&["manager"], "bench-manager").await?));

    let ca_pem = std::fs::read(data.join("ca/demo/cert.pem"))?;
    let ca_der = signet_x509::pem::decode(&ca_pem)?.1;
    let hashes = IssuerHashes::of_certificate(&ca_der)?;
    eprintln!("issuing {} certificates...", args.certs);
    let key = signet_keys::SoftwareKey::generate(signet_x509::KeyAlgorithm::P256)?;
    let mut requests = Vec::with_capacity(args.certs);
    for i in 0..args.certs {
        let csr = crate::bench::build_csr(&key, &format!("ocsp{i}.bench.test"))?;
        let body = serde_json::json!({
            "csr": signet_x509::pem::encode("CERTIFICATE REQUEST", &csr),
            "profile": "server",
        });
        let issued: serde_json::Value = requester
            .json(hyper::Method::POST, "/api/v1/cas/demo/requests", Some(body))
            .await?;
        let serial = issued["serial"]
            .as_str()
            .context("the bench certificate was not issued")?
            .to_string();
        if i % 10 == 0 {
            manager
                .json::<serde_json::Value>(
                    hyper::Method::POST,
                    &format!("/api/v1/cas/demo/certificates/{serial}/revoke"),
                    Some(serde_json::json!({ "reason": "keyCompromise" })),
                )
                .await?;
        }
        requests.push(Bytes::from(ocsp_request(&hashes, &hex::decode(&serial)?)));
    }

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http();
    let url: hyper::Uri = format!("{base}/ocsp/demo").parse()?;
    // Warm the cache and check the answers.
    for (i, body) in requests.iter().enumerate() {
        let der = post_ocsp(&client, &url, body.clone()).await?;
        let info = signet_x509::ocsp::parse_response(&der)?;
        let want_revoked = i % 10 == 0;
        let ok = matches!(
            (info.responses.first().map(|r| r.1), want_revoked),
            (Some(signet_x509::ocsp::CertStatus::Good), false)
                | (Some(signet_x509::ocsp::CertStatus::Revoked { .. }), true)
        );
        if !ok {
            bail!("unexpected OCSP answer for certificate {i}: {info:?}");
        }
    }
    eprintln!(
        "running {} clients for {} s against {url} ...",
        args.concurrency, args.duration
    );
    let requests = Arc::new(requests);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let cpu_before = crate::bench::process_cpu_seconds();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (client, url, requests, stop) = (
            client.clone(),
            url.clone(),
            Arc::clone(&requests),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                match post_ocsp(&client, &url, requests[i % requests.len()].clone()).await {
                    Ok(der) if der.len() > 100 => ok += 1,
                    _ => errors += 1,
                }
                i += 7;
            }
            (ok, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (o, e) = t.await?;
        ok += o;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = crate::bench::process_cpu_seconds()
        .zip(cpu_before)
        .map(|(a, b)| a - b);
    println!(
        "signet bench ocsp: {} certificates, {} clients, {elapsed:.1} s",
        args.certs, args.concurrency
    );
    println!("  responses:     {ok} ({errors} errors)");
    println!("  throughput:    {:.0} responses/s", ok as f64 / elapsed);
    if let Some(cpu) = cpu
        && ok > 0
    {
        println!(
            "  CPU per resp:  {:.1} us, server and clients ({:.2} cores busy)",
            cpu * 1e6 / ok as f64,
            cpu / elapsed
        );
    }
    if ok == 0 {
        bail!("no OCSP response");
    }
    Ok(())
}

async fn post_ocsp(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &hyper::Uri,
    body: Bytes,
) -> Result<Bytes> {
    let request = Request::post(url.clone())
        .header("content-type", "application/ocsp-request")
        .body(Full::new(body))?;
    let response = client.request(request).await?;
    if response.status() != 200 {
        bail!("HTTP {}", response.status());
    }
    Ok(response.into_body().collect().await?.to_bytes())
}

/// An OCSPRequest for one certificate, SHA-1 CertID, no nonce (RFC 6960 §4.1.1).
fn ocsp_request(hashes: &IssuerHashes, serial: &[u8]) -> Vec<u8> {
    use crate::bench::tlv;
    // SEQUENCE { OID 1.3.14.3.2.26, NULL }
    const SHA1: &[u8] = &[
        0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
    ];
    let mut serial_content = Vec::with_capacity(21);
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial_content.push(0);
    }
    serial_content.extend_from_slice(serial);
    let cert_id = tlv(
        0x30,
        &[
            SHA1,
            &tlv(0x04, &hashes.sha1_name),
            &tlv(0x04, &hashes.sha1_key),
            &tlv(0x02, &serial_content),
        ]
        .concat(),
    );
    let request = tlv(0x30, &cert_id);
    let request_list = tlv(0x30, &request);
    let tbs = tlv(0x30, &request_list);
    tlv(0x30, &tbs)
}
