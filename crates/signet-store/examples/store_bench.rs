//! Write throughput of `SqlStore` under an issuance-shaped load.
//!
//! Each request is what the engine commits for an issued certificate: the request row (a
//! ~350-byte CSR), 2 attributes, the certificate (~600 bytes of DER) and 1 outbox event,
//! i.e. 5 rows. Many submitters write concurrently, so the writer's group commit can batch.
//!
//! ```text
//! cargo run -p signet-store --release --example store_bench -- [REQUESTS] [SUBMITTERS] [DB]
//! ```
//!
//! Defaults: 100000 requests, 256 submitters, a fresh database in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use signet_core::{
    CaName, Event, NewCertificate, NewRequest, ProfileName, RequestStatus, SerialNumber, Store,
};
use signet_store::SqlStore;

const ROWS_PER_REQUEST: u64 = 5;

fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(100_000, |a| a.parse().unwrap());
    let submitters: u64 = args.next().map_or(256, |a| a.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let path = args
        .next()
        .map_or_else(|| tmp.path().join("bench.db"), PathBuf::from);

    let store = Arc::new(SqlStore::open(&path).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let latencies = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..submitters {
            let store = Arc::clone(&store);
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                let mut rng = SplitMix(worker.wrapping_mul(0x9e37_79b9) ^ 0x5eed);
                let mut worst = Duration::ZERO;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return worst;
                    }
                    let req = issuance(n, &mut rng);
                    let t0 = Instant::now();
                    store.create_request(req).await.unwrap();
                    worst = worst.max(t0.elapsed());
                }
            });
        }
        let mut worst = Duration::ZERO;
        while let Some(w) = tasks.join_next().await {
            worst = worst.max(w.unwrap());
        }
        worst
    });
    let elapsed = started.elapsed().as_secs_f64();
    let stats = store.stats();
    rt.block_on(store.close());

    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("requests:        {total} ({submitters} concurrent submitters)");
    println!("elapsed:         {elapsed:.2} s");
    println!("requests/s:      {:.0}", total as f64 / elapsed);
    println!(
        "rows/s:          {:.0} ({ROWS_PER_REQUEST} rows per request)",
        (total * ROWS_PER_REQUEST) as f64 / elapsed
    );
    println!(
        "transactions:    {} (mean batch {:.1} requests)",
        stats.transactions,
        stats.commands as f64 / stats.transactions.max(1) as f64
    );
    println!("worst latency:   {:.1} ms", latencies.as_secs_f64() * 1e3);
    println!(
        "database size:   {:.1} MiB",
        size as f64 / (1024.0 * 1024.0)
    );
}

/// What the engine commits for one issued certificate.
fn issuance(n: u64, rng: &mut SplitMix) -> NewRequest {
    let ca = CaName::new("bench-ca").unwrap();
    let now = SystemTime::now();
    let mut serial = [0u8; 20];
    rng.fill(&mut serial);
    let mut csr = vec![0u8; 350];
    rng.fill(&mut csr);
    let mut der = vec![0u8; 600];
    rng.fill(&mut der);
    let host = format!("host-{n}.bench.example");
    NewRequest {
        ca,
        status: RequestStatus::Issued,
        profile: Some(ProfileName::new("tls-server").unwrap()),
        requester: Some("bench".into()),
        format: "pkcs10".into(),
        raw: csr,
        subject: format!("CN={host}"),
        submitted_at: now,
        resolved_at: Some(now),
        message: None,
        attributes: vec![
            ("ccm".into(), "bench-client.example".into()),
            ("san".into(), format!("dns={host}")),
        ],
        extensions: vec![],
        certificate: Some(NewCertificate {
            serial: SerialNumber::from_random(serial),
            der,
            subject: format!("CN={host}"),
            sans: vec![host],
            not_before: now,
            not_after: now + Duration::from_secs(90 * 86_400),
            shard: 0,
            spki_sha256: [0; 32],
            unique_key: false,
        }),
        events: vec![(Event::Issued, format!("{{\"request\":{n}}}"))],
        audit: Vec::new(),
    }
}

/// A small, fast PRNG (SplitMix64): random-looking serials and DER without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
