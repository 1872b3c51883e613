//! A temporary SQLite store.

use std::path::Path;
use std::sync::Arc;

use signet_api::acme::AcmeStore;
use signet_core::Store;
use signet_store::SqlStore;

use crate::stories::{FreshAcme, FreshStore};

/// A [`SqlStore`] in a temporary directory, removed when this is dropped (after the
/// store, which is declared first).
pub struct TempStore {
    pub store: Arc<SqlStore>,
    dir: tempfile::TempDir,
}

impl TempStore {
    /// A new, empty store.
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let store = SqlStore::open(&dir.path().join("signet.db")).expect("opening the store");
        TempStore {
            store: Arc::new(store),
            dir,
        }
    }

    /// The directory that holds `signet.db`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store behind the trait, as the engine holds it.
    pub fn as_dyn(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store) as Arc<dyn Store>
    }

    /// A fresh store for a story ([`crate::stories`]): the directory lives as long as it.
    pub fn fresh() -> FreshStore {
        let t = TempStore::new();
        FreshStore::new(t.as_dyn(), Box::new(t))
    }

    /// A fresh store for an ACME story: the same store as `Store` and as `AcmeStore`, and
    /// `reopen` opening the database file again.
    pub fn fresh_acme() -> FreshAcme {
        let t = TempStore::new();
        let path = t.dir().join("signet.db");
        let acme = Arc::clone(&t.store) as Arc<dyn AcmeStore>;
        let reopen = move || {
            let store = SqlStore::open(&path).expect("opening the store again");
            Arc::new(store) as Arc<dyn AcmeStore>
        };
        FreshAcme::new(t.as_dyn(), acme, Box::new(reopen), Box::new(t))
    }
}

impl Default for TempStore {
    fn default() -> Self {
        TempStore::new()
    }
}
