//! The store story suite (`signet_testkit::stories`) against both backends: the embedded
//! SQLite file and a real PostgreSQL server (Debian's `postgresql`, started by the test on
//! loopback, one fresh database per story). The same stories, unchanged, for each; the ACME
//! stories too, since the store is also the `AcmeStore`. SQLite-only behaviour (group
//! commit, the file on disk, migrations) is tested in `sqlite_store.rs`.

use std::sync::Arc;

use signet_api::acme::AcmeStore;
use signet_core::Store;
use signet_store::{Database, PgConfig, SqlStore, audit::AuditKeys};
use signet_testkit::postgres::PgCluster;
use signet_testkit::stories::{FreshAcme, FreshStore};

/// One test per story and backend, so a failure names both (`store::postgres::tokens`);
/// `every_story_is_run` keeps the list and the tests together.
macro_rules! stories {
    ($all:expr, $fresh_sqlite:path, $fresh_postgres:path; $($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $story() {
                    signet_testkit::block_on(signet_testkit::stories::$story($fresh_sqlite));
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $story() {
                    signet_testkit::block_on(signet_testkit::stories::$story($fresh_postgres));
                }
            )*
        }

        #[test]
        fn every_story_is_run() {
            let run = [$(stringify!($story)),*];
            assert_eq!(run, $all, "a story was added to signet_testkit::stories but not here");
        }
    };
}

mod store {
    stories!(
        signet_testkit::stories::ALL,
        signet_testkit::TempStore::fresh,
        crate::fresh_postgres;
        request_lifecycle,
        serial_uniqueness,
        concurrent_requests,
        revocation_changes,
        outbox_and_cursors,
        tokens,
        audit_chain,
        crl_records,
        view_queries,
        leases,
        request_extensions,
        dashboard_counts,
    );
}

/// The ACME stories (`signet_api::acme::AcmeStore`).
mod acme {
    stories!(
        signet_testkit::stories::ALL_ACME,
        signet_testkit::TempStore::fresh_acme,
        crate::fresh_postgres_acme;
        acme_accounts,
        acme_eab,
        acme_orders,
        acme_authzs,
        acme_nonces,
        acme_purge,
        acme_audit,
        acme_ca_scoping,
    );
}

/// A fresh database on the shared test cluster, opened as the store.
fn postgres_store(cluster: &Arc<PgCluster>) -> (SqlStore, Database) {
    let name = cluster.fresh_database();
    let config = PgConfig::new(&cluster.url(&name), None).expect("the test cluster's URL");
    let database = Database::Postgres(Box::new(config));
    let store = database
        .open(AuditKeys::default())
        .expect("opening the store on PostgreSQL");
    (store, database)
}

fn fresh_postgres() -> FreshStore {
    let cluster = PgCluster::shared();
    let (store, _) = postgres_store(&cluster);
    FreshStore::new(Arc::new(store) as Arc<dyn Store>, Box::new(cluster))
}

fn fresh_postgres_acme() -> FreshAcme {
    let cluster = PgCluster::shared();
    let (store, database) = postgres_store(&cluster);
    let store = Arc::new(store);
    let reopen = move || {
        let store = database
            .open(AuditKeys::default())
            .expect("opening the store again");
        Arc::new(store) as Arc<dyn AcmeStore>
    };
    FreshAcme::new(
        Arc::clone(&store) as Arc<dyn Store>,
        store as Arc<dyn AcmeStore>,
        Box::new(reopen),
        Box::new(cluster),
    )
}
