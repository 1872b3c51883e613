//! The checks behind `/healthz`, every second, each bounded in time, their outcomes kept in
//! [`Health`]: one cheap read of the database (the audit head, an index lookup), the free
//! space on a SQLite database's disk, whether writes fail (and then a durable write that
//! changes nothing, until one succeeds, and what the file system answers to a write of its
//! own), and each CA
//! key's own check (`Signer::check`: nothing for a key in memory, a probe signature for one
//! on a token). A lost database or token shows as 503 within about a second and clears by
//! itself once the checks succeed again (the store's connections and the token sessions
//! reconnect on their own).
//!
//! The clock too: `/healthz` answers 503 while the engine refuses to sign because the clock
//! is behind the newest time on record (`Authority::clock_behind`, `[server]
//! max_clock_regression`), and each check compares the wall clock's progress with the
//! monotonic clock's: a step larger than that bound, either way, is logged with its size and
//! direction and counted (`signet_clock_steps_total`). A forward step is only reported:
//! which clock is right cannot be known here.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use signet_core::{Authority, Signer, Store};
use signet_server::Metrics;
use signet_server::health::Health;

use crate::config::ServerConfig;

/// How often the database is checked.
const INTERVAL: Duration = Duration::from_secs(1);
/// A check that takes longer counts as failed (a database that hangs is as bad as one that
/// refuses).
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why writes fail, if they did: after a write met a fault of the database (a full disk, an
/// I/O error), a durable write that changes nothing tells whether the fault is gone, since
/// no client write may come while a load balancer keeps traffic away. For a SQLite database
/// the reason names what the file system answers too (see [`DiskSpace::refuses_writes`]).
async fn write_problem(store: &dyn Store, disk: Option<&DiskSpace>) -> Option<String> {
    store.write_problem()?;
    let why = match tokio::time::timeout(TIMEOUT, store.probe_write()).await {
        // What the probe cannot clear stays: a failing WAL checkpoint, say.
        Ok(Ok(())) => {
            return store
                .write_problem()
                .map(|why| format!("the database cannot be written: {why}"));
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {TIMEOUT:?}"),
    };
    let os = match disk {
        Some(disk) => disk.refuses_writes().await,
        None => None,
    };
    Some(match os {
        Some(os) => format!(
            "the database cannot be written: {why}; the file system holding it answers: {os}"
        ),
        None => format!("the database cannot be written: {why}"),
    })
}

/// The file system of a SQLite database, and the free space below which `/healthz` answers
/// 503 (`[server] min_free_disk_bytes`): traffic moves elsewhere before writes fail.
pub struct DiskSpace {
    /// The directory holding the database file.
    pub path: std::path::PathBuf,
    pub min_free: u64,
}

/// The file [`DiskSpace::refuses_writes`] writes and removes, in the database's directory.
const WRITE_CHECK: &str = ".signet-write-check";

impl DiskSpace {
    /// Why the disk is too full, if it is (an unreadable file system is the write path's
    /// problem to report).
    fn problem(&self) -> Option<String> {
        let st = rustix::fs::statvfs(&self.path).ok()?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        (free < self.min_free).then(|| {
            format!(
                "the database's disk has {free} bytes free, below [server] \
                 min_free_disk_bytes = {}",
                self.min_free
            )
        })
    }

    /// What the operating system answers to a small durable write (create, write, fsync,
    /// remove) next to the database, if it fails: "Read-only file system", "Input/output
    /// error", "No space left on device". SQLite reports all of these as "disk I/O error";
    /// the operator needs to know which. Run only once a database write has failed.
    async fn refuses_writes(&self) -> Option<String> {
        let path = self.path.join(WRITE_CHECK);
        let check = tokio::task::spawn_blocking(move || {
            let written = std::fs::File::create(&path).and_then(|mut f| {
                std::io::Write::write_all(&mut f, b"signet")?;
                f.sync_all()
            });
            let _ = std::fs::remove_file(&path);
            written
        });
        match tokio::time::timeout(TIMEOUT, check).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e.to_string()),
            Ok(Err(e)) => Some(format!("the check failed: {e}")),
            Err(_) => Some(format!("no answer within {TIMEOUT:?}")),
        }
    }
}

/// `[server] max_clock_regression`: from a second to ten years.
pub fn max_clock_regression(server: &ServerConfig) -> Result<Duration> {
    server
        .max_clock_regression
        .within(Duration::from_secs(1), Duration::from_secs(3650 * 86_400))
        .context("[server] max_clock_regression")
}

/// What the check watches of the clock: whether the engine refuses to sign, and steps of
/// the wall clock larger than `bound`, counted in `metrics`.
pub struct ClockWatch {
    pub authority: Arc<Authority>,
    pub metrics: Arc<Metrics>,
    /// `[server] max_clock_regression`.
    pub bound: Duration,
}

/// A step of the wall clock between two checks, beyond what the monotonic clock measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    size: Duration,
    forward: bool,
}

/// The wall clock and the monotonic clock read together at the last check.
struct StepDetector {
    wall: SystemTime,
    mono: Instant,
}

impl StepDetector {
    fn new(wall: SystemTime, mono: Instant) -> StepDetector {
        StepDetector { wall, mono }
    }

    /// How far the wall clock moved beyond (or short of) the monotonic clock since the last
    /// reading, when that is more than `bound`.
    fn observe(&mut self, wall: SystemTime, mono: Instant, bound: Duration) -> Option<Step> {
        let elapsed = mono.saturating_duration_since(self.mono);
        let step = match wall.duration_since(self.wall) {
            Ok(moved) if moved >= elapsed => Step {
                size: moved - elapsed,
                forward: true,
            },
            Ok(moved) => Step {
                size: elapsed - moved,
                forward: false,
            },
            Err(back) => Step {
                size: back.duration() + elapsed,
                forward: false,
            },
        };
        (self.wall, self.mono) = (wall, mono);
        (step.size > bound).then_some(step)
    }
}

impl ClockWatch {
    /// One check: a step since the last one, then whether signing is refused.
    fn check(&self, steps: &mut StepDetector, health: &Health) {
        if let Some(step) = steps.observe(SystemTime::now(), Instant::now(), self.bound) {
            self.metrics.clock_step();
            let direction = if step.forward { "forward" } else { "back" };
            tracing::warn!(
                step = %signet_core::time_mark::span(step.size),
                direction,
                max_clock_regression = %signet_x509::time::format_duration(self.bound),
                "the wall clock stepped {direction} by {} while the server ran",
                signet_core::time_mark::span(step.size)
            );
        }
        let behind = self.authority.clock_behind();
        if health.set_clock(behind.as_ref().map(ToString::to_string)) {
            match behind {
                Some(why) => {
                    tracing::warn!(error = %why, "the clock is behind: /healthz answers 503")
                }
                None => tracing::info!(
                    "the clock is no longer behind the newest time on record: signing resumes"
                ),
            }
        }
    }
}

/// The running check.
pub struct HealthCheck {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthCheck {
    pub fn spawn(
        store: Arc<dyn Store>,
        keys: Vec<(String, Arc<dyn Signer>)>,
        health: Arc<Health>,
        disk: Option<DiskSpace>,
        clock: ClockWatch,
    ) -> HealthCheck {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut steps = StepDetector::new(SystemTime::now(), Instant::now());
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                clock.check(&mut steps, &health);
                let problem = match tokio::time::timeout(TIMEOUT, store.audit_head()).await {
                    Ok(Ok(_)) => match disk.as_ref().and_then(DiskSpace::problem) {
                        Some(low) => Some(low),
                        None => write_problem(&*store, disk.as_ref()).await,
                    },
                    // A file removed under the server also fails a reader that opens its
                    // connection now: the write side says why better.
                    Ok(Err(e)) => Some(
                        store
                            .write_problem()
                            .unwrap_or_else(|| format!("the database cannot be reached: {e}")),
                    ),
                    Err(_) => Some(format!(
                        "the database cannot be reached: no answer within {TIMEOUT:?}"
                    )),
                };
                if health.set_database(problem.clone()) {
                    match problem {
                        Some(why) => {
                            tracing::error!(error = %why, "the database fails: /healthz answers 503")
                        }
                        None => {
                            tracing::info!(
                                "the database reads and writes again: /healthz answers 200"
                            )
                        }
                    }
                }
                for (ca, key) in &keys {
                    let key = Arc::clone(key);
                    // A device call blocks: off the runtime's threads.
                    let check = tokio::task::spawn_blocking(move || key.check());
                    let problem = match tokio::time::timeout(TIMEOUT, check).await {
                        Ok(Ok(Ok(()))) => None,
                        Ok(Ok(Err(e))) => Some(e.to_string()),
                        Ok(Err(e)) => Some(format!("the check failed: {e}")),
                        Err(_) => Some(format!("no answer within {TIMEOUT:?}")),
                    };
                    if health.set_key(ca, problem.clone()) {
                        match problem {
                            Some(why) => {
                                tracing::error!(%ca, error = %why, "the CA key cannot sign: /healthz answers 503")
                            }
                            None => tracing::info!(%ca, "the CA key signs again"),
                        }
                    }
                }
            }
        });
        HealthCheck { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_beyond_the_bound_are_seen_either_way() {
        let bound = Duration::from_secs(300);
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut steps = StepDetector::new(wall, mono);
        let second = Duration::from_secs(1);
        // A second each: no step.
        assert_eq!(steps.observe(wall + second, mono + second, bound), None);
        // Two days forward.
        let day = Duration::from_secs(86_400);
        let seen = steps.observe(wall + 2 * day + 2 * second, mono + 2 * second, bound);
        assert_eq!(
            seen,
            Some(Step {
                size: 2 * day,
                forward: true
            })
        );
        // Back again, and one more day back.
        let seen = steps.observe(wall - day + 3 * second, mono + 3 * second, bound);
        assert_eq!(
            seen,
            Some(Step {
                size: 3 * day,
                forward: false
            })
        );
        // A slew within the bound is not a step.
        let seen = steps.observe(
            wall - day + 3 * second - 200 * second,
            mono + 4 * second,
            bound,
        );
        assert_eq!(seen, None);
    }
}
