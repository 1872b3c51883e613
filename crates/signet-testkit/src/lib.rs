//! Signet's test kit: what an engine-level or store-level test needs, without the binary.
//!
//! Tests build an [`Authority`](signet_core::Authority) with [`TestCa`]: one CA with a real
//! P-256 key (certificates verify with `openssl`), a [`FakeClock`] the test moves, a
//! deterministic [`SeededRandom`], a temporary SQLite store ([`TempStore`]), a small test
//! policy ([`policies`]) and recording exit modules ([`RecordingExit`]). Store backends run
//! the same [`stories`], written against the `Store` trait only (and `AcmeStore` for the ACME
//! stories).
//!
//! Panics are this crate's error handling: a setup step that fails fails the test, with a
//! message that says which step.
//!
//! # Layout
//! - [`clock`]: `FakeClock`, a clock the test moves.
//! - [`random`]: `SeededRandom`, a reproducible random source.
//! - [`policies`]: `AlwaysIssue`, `AlwaysDeny`, `AlwaysPending` (with an M-of-N count).
//! - [`exits`]: `RecordingExit`, which keeps the events it saw and can fail on demand.
//! - [`store`]: `TempStore`, a `SqlStore` in a temporary directory.
//! - [`authority`]: `TestCa`, the builder, and `Harness`, what it built; `Cluster`, several
//!   engines ("nodes") of one CA on one store.
//! - [`identity`]: identities with roles (`requester`, `manager`, `admin`, `auditor`).
//! - [`csr`]: PKCS#10 requests signed by a fresh key.
//! - [`openssl`]: the `openssl` oracle (a missing `openssl` fails the test).
//! - [`postgres`]: `PgCluster`, a real PostgreSQL server on loopback for one test.
//! - [`stories`]: the store story suite.
#![forbid(unsafe_code)]
// Test support: a failed setup step panics with its reason, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod authority;
pub mod clock;
pub mod csr;
pub mod exits;
pub mod identity;
pub mod openssl;
pub mod policies;
pub mod postgres;
pub mod random;
pub mod softhsm;
pub mod store;
pub mod stories;

pub use authority::{Cluster, Harness, TestCa};
pub use clock::FakeClock;
pub use exits::RecordingExit;
pub use random::SeededRandom;
pub use store::TempStore;

/// Runs a future to completion on the calling thread. The engine and `SqlStore` are
/// runtime-agnostic (their futures resolve through channels woken by their own threads), so
/// a test needs no async runtime for them.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::Thread;

    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
