//! A fixed pool of worker threads for CPU-bound work (CSR verification, policy, signing),
//! so the async runtime's threads only do I/O. Results come back through a oneshot channel,
//! which any executor can await.

use std::sync::{Arc, Mutex, mpsc};
use std::thread;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed-size thread pool.
#[derive(Clone)]
pub struct WorkPool {
    sender: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

/// The pool is shut down or the job panicked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the worker pool is unavailable (shut down, or the job panicked)")]
pub struct PoolClosed;

impl WorkPool {
    /// Starts `threads` workers (at least one).
    pub fn new(threads: usize) -> WorkPool {
        let (tx, rx) = mpsc::channel::<Job>();
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
                            // `PoolClosed`); the worker itself survives.
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
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolClosed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = futures_channel::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let guard = self.sender.lock().map_err(|_| PoolClosed)?;
            guard
                .as_ref()
                .ok_or(PoolClosed)?
                .send(job)
                .map_err(|_| PoolClosed)?;
        }
        rx.await.map_err(|_| PoolClosed)
    }

    /// Stops accepting work; workers exit when the queue is empty.
    pub fn close(&self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
    }
}
