//! A temporary SQLite store.

use std::path::Path;
use std::sync::Arc;

use signet_core::Store;
use signet_store::SqliteStore;

use crate::stories::FreshStore;

/// A [`SqliteStore`] in a temporary directory, removed when this is dropped (after the
/// store, which is declared first).
pub struct TempStore {
    pub store: Arc<SqliteStore>,
    dir: tempfile::TempDir,
}

impl TempStore {
    /// A new, empty store.
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let store = SqliteStore::open(&dir.path().join("signet.db")).expect("opening the store");
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
}

impl Default for TempStore {
    fn default() -> Self {
        TempStore::new()
    }
}
