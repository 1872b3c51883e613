//! Prometheus metrics, kept by hand (a few counters and one histogram do not need a crate).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An [`Enroll`](signet_api::Enroll) that counts what its submissions answered, as the REST
/// API counts its own (`signet_requests_total`, the latency histogram): what the other front
/// ends (ACME; SCEP, EST and CMP next) are given, so every certificate request shows in the
/// metrics whichever way it came. Everything else goes to the inner one unchanged.
pub struct CountedEnroll {
    inner: std::sync::Arc<dyn signet_api::Enroll>,
    metrics: std::sync::Arc<Metrics>,
}

impl CountedEnroll {
    pub fn new(
        inner: std::sync::Arc<dyn signet_api::Enroll>,
        metrics: std::sync::Arc<Metrics>,
    ) -> CountedEnroll {
        CountedEnroll { inner, metrics }
    }
}

impl signet_api::Enroll for CountedEnroll {
    fn list_cas(
        &self,
    ) -> signet_api::BoxFuture<'_, Result<Vec<signet_api::CaSummary>, signet_api::EnrollError>>
    {
        self.inner.list_cas()
    }

    fn submit(
        &self,
        req: signet_api::SubmitRequest,
    ) -> signet_api::BoxFuture<'_, Result<signet_api::SubmitResponse, signet_api::EnrollError>>
    {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let ca = req.ca.clone();
            let result = self.inner.submit(req).await;
            self.metrics.observe_latency(started.elapsed());
            // A CA the server does not hold is counted as `unknown`: a caller must not be
            // able to mint metric series.
            match &result {
                Ok(answer) => self.metrics.count_request(&ca, answer.status.as_str()),
                Err(signet_api::EnrollError::UnknownCa(_)) => {
                    self.metrics.count_request("unknown", "rejected")
                }
                Err(_) => self.metrics.count_request(&ca, "rejected"),
            }
            result
        })
    }

    fn retrieve<'a>(
        &'a self,
        ca: &'a str,
        id: signet_api::RequestId,
        caller: Option<&'a signet_api::Identity>,
    ) -> signet_api::BoxFuture<'a, Result<signet_api::SubmitResponse, signet_api::EnrollError>>
    {
        self.inner.retrieve(ca, id, caller)
    }

    fn ca_certificate<'a>(
        &'a self,
        ca: &'a str,
    ) -> signet_api::BoxFuture<'a, Result<Vec<u8>, signet_api::EnrollError>> {
        self.inner.ca_certificate(ca)
    }

    fn chain<'a>(
        &'a self,
        ca: &'a str,
    ) -> signet_api::BoxFuture<'a, Result<Vec<Vec<u8>>, signet_api::EnrollError>> {
        self.inner.chain(ca)
    }

    fn resolve_ca<'a>(
        &'a self,
        ca: &'a str,
    ) -> signet_api::BoxFuture<'a, Result<signet_api::CaName, signet_api::EnrollError>> {
        self.inner.resolve_ca(ca)
    }
}

/// Who may read `/metrics` (`[server] metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsAccess {
    /// Anyone: Prometheus scrapes without credentials. The series show request volumes by
    /// CA and disposition, so keep the listener private or choose `Token`.
    #[default]
    Public,
    /// A caller holding the auditor or admin role on every CA (a bearer token, as
    /// Prometheus' `authorization` setting sends it, or a client certificate).
    Token,
    /// `/metrics` is not served.
    Off,
}

/// Upper bounds of the issuance latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    outbox_lag: Mutex<BTreeMap<String, u64>>,
    deliveries: AtomicU64,
    delivery_failures: AtomicU64,
    ocsp_responses: AtomicU64,
    ocsp_cache_hits: AtomicU64,
    /// Steps of the wall clock larger than `[server] max_clock_regression`, seen by the
    /// health check.
    clock_steps: AtomicU64,
    /// Per (CA, exit module): delivered, failed, parked, lag.
    exits: Mutex<BTreeMap<(String, String), [u64; 4]>>,
    /// The listeners' connection slots, once serving.
    connections: std::sync::OnceLock<std::sync::Arc<crate::listener::Connections>>,
}

impl Metrics {
    /// Counts one answered request by CA and disposition (`issued`, `pending`, `denied`,
    /// `failed`, or `rejected` for input refused before it was stored).
    pub fn count_request(&self, ca: &str, status: &str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((ca.to_string(), status.to_string())).or_default() += 1;
        }
    }

    /// Records the latency of one submission.
    pub fn observe_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records a delivery pass.
    pub fn record_delivery(&self, report: &signet_api::admin::DeliveryReport) {
        self.deliveries
            .fetch_add(report.delivered, Ordering::Relaxed);
        self.delivery_failures
            .fetch_add(report.failed, Ordering::Relaxed);
        if let Ok(mut m) = self.outbox_lag.lock() {
            for (ca, lag) in &report.lag {
                m.insert(ca.to_string(), *lag);
            }
        }
    }

    /// Records one step of a (CA, exit module) delivery task.
    pub fn record_exit_step(&self, ca: &str, exit: &str, step: &signet_api::admin::ExitStep) {
        self.deliveries.fetch_add(step.delivered, Ordering::Relaxed);
        self.delivery_failures
            .fetch_add(step.failed, Ordering::Relaxed);
        let lag = step.head.saturating_sub(step.cursor);
        let Ok(mut m) = self.exits.lock() else {
            return;
        };
        let e = m.entry((ca.to_string(), exit.to_string())).or_default();
        e[0] += step.delivered;
        e[1] += step.failed;
        e[2] += step.parked;
        e[3] = lag;
        // The CA's outbox lag is that of its slowest module.
        let slowest = m
            .iter()
            .filter(|((c, _), _)| c == ca)
            .map(|(_, v)| v[3])
            .max()
            .unwrap_or(0);
        drop(m);
        if let Ok(mut l) = self.outbox_lag.lock() {
            l.insert(ca.to_string(), slowest);
        }
    }

    /// Reports the listeners' open and refused connections from now on.
    pub fn watch_connections(&self, connections: std::sync::Arc<crate::listener::Connections>) {
        let _ = self.connections.set(connections);
    }

    /// Counts one OCSP response sent.
    pub fn ocsp_response(&self) {
        self.ocsp_responses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one OCSP GET answered from the finished answers
    /// ([`crate::revocation_api::OcspHttpCache`]); it is also an OCSP response sent.
    pub fn ocsp_cache_hit(&self) {
        self.ocsp_cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one step of the wall clock (either way) beyond the bound.
    pub fn clock_step(&self) {
        self.clock_steps.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP signet_requests_total Certificate requests answered, by CA and disposition.\n",
        );
        out.push_str("# TYPE signet_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((ca, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "signet_requests_total{{ca=\"{}\",status=\"{}\"}} {n}",
                    escape(ca),
                    escape(status)
                );
            }
        }
        out.push_str("# HELP signet_issuance_latency_seconds Time to answer a submission.\n");
        out.push_str("# TYPE signet_issuance_latency_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "signet_issuance_latency_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "signet_issuance_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "signet_issuance_latency_seconds_sum {sum}");
        let _ = writeln!(out, "signet_issuance_latency_seconds_count {count}");
        out.push_str("# HELP signet_outbox_lag Outbox events not yet acknowledged by the slowest exit module.\n");
        out.push_str("# TYPE signet_outbox_lag gauge\n");
        if let Ok(m) = self.outbox_lag.lock() {
            for (ca, lag) in m.iter() {
                let _ = writeln!(out, "signet_outbox_lag{{ca=\"{}\"}} {lag}", escape(ca));
            }
        }
        if let Ok(m) = self.exits.lock() {
            let series = [
                (
                    "signet_exit_delivered_total",
                    "counter",
                    "Events delivered, per exit module.",
                ),
                (
                    "signet_exit_failed_total",
                    "counter",
                    "Failed notifications (retried or parked), per exit module.",
                ),
                (
                    "signet_exit_parked_total",
                    "counter",
                    "Events parked after their last attempt, per exit module.",
                ),
                (
                    "signet_exit_lag",
                    "gauge",
                    "Outbox events after the exit module's cursor.",
                ),
            ];
            for (i, (name, kind, help)) in series.iter().enumerate() {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for ((ca, exit), v) in m.iter() {
                    let _ = writeln!(
                        out,
                        "{name}{{ca=\"{}\",exit=\"{}\"}} {}",
                        escape(ca),
                        escape(exit),
                        v[i]
                    );
                }
            }
        }
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let counters = [
            (
                "signet_exit_deliveries_total",
                "Events delivered to exit modules.",
                load(&self.deliveries),
            ),
            (
                "signet_exit_delivery_failures_total",
                "Failed exit module notifications (retried).",
                load(&self.delivery_failures),
            ),
            (
                "signet_ocsp_responses_total",
                "OCSP responses sent.",
                load(&self.ocsp_responses),
            ),
            (
                "signet_ocsp_cache_hits_total",
                "OCSP GETs answered from finished answers.",
                load(&self.ocsp_cache_hits),
            ),
            (
                "signet_clock_steps_total",
                "Steps of the wall clock, either way, larger than [server] max_clock_regression.",
                load(&self.clock_steps),
            ),
        ];
        for (name, help, value) in counters {
            scalar(&mut out, name, "counter", help, value);
        }
        if let Some(c) = self.connections.get() {
            scalar(
                &mut out,
                "signet_connections_open",
                "gauge",
                "Open client connections, all listeners.",
                c.open() as u64,
            );
            scalar(
                &mut out,
                "signet_connections_refused_total",
                "counter",
                "Connections closed unanswered at max_connections or max_connections_per_address.",
                c.refused_total(),
            );
        }
        out
    }
}

/// Writes one unlabelled series with its `HELP` and `TYPE` lines.
fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.count_request("demo", "issued");
        m.count_request("demo", "issued");
        m.observe_latency(Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("signet_requests_total{ca=\"demo\",status=\"issued\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("signet_issuance_latency_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("signet_issuance_latency_seconds_bucket{le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("signet_issuance_latency_seconds_count 1"),
            "{text}"
        );
    }
}
