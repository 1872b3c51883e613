//! A fixed pool of worker threads for CPU-bound work (CSR verification, policy, signing),
//! so the async runtime's threads only do I/O. Results come back through a oneshot channel,
//! which any executor can await.

use std::sync::{Arc, Mutex, mpsc};

/// Jobs waiting beyond this many are refused (`PoolError::Busy`) instead of queued: with
/// request bodies up to 64 KiB this bounds the queue's memory, and callers get a fast 503.
pub const QUEUE_LIMIT: usize = 4096;
use std::thread;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed-size thread pool.
#[derive(Clone)]
pub struct WorkPool {
    sender: Arc<Mutex<Option<mpsc::SyncSender<Job>>>>,
}

/// Why a job did not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    #[error("the worker pool is shut down, or the job panicked")]
    Closed,
    #[error("the worker pool's queue is full")]
    Busy,
}

impl WorkPool {
    /// Starts `threads` workers (at least one).
    pub fn new(threads: usize) -> WorkPool {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE_LIMIT);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = thread::Builder::new()
                .name(format!("signet-work-{i}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only while taking a job.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job drops its result sender (the caller sees
                            // `PoolError::Closed`); the worker itself survives.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a worker thread");
            }
        }
        WorkPool {
            sender: Arc::new(Mutex::new(Some(tx))),
        }
    }

    /// Runs `f` on a worker; the future resolves with its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = futures_channel::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let guard = self.sender.lock().map_err(|_| PoolError::Closed)?;
            let sender = guard.as_ref().ok_or(PoolError::Closed)?;
            sender.try_send(job).map_err(|e| match e {
                mpsc::TrySendError::Full(_) => PoolError::Busy,
                mpsc::TrySendError::Disconnected(_) => PoolError::Closed,
            })?;
        }
        rx.await.map_err(|_| PoolError::Closed)
    }

    /// Stops accepting work; workers exit when the queue is empty.
    pub fn close(&self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
    }
}
