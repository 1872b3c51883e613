//! The store story suite (`signet_testkit::stories`) against `SqliteStore`: the same
//! stories every `Store` backend runs. SQLite-only behaviour (group commit, the file on
//! disk, migrations) is tested in `sqlite_store.rs`. The ACME stories run here too, since
//! `SqliteStore` is also the `AcmeStore`.

use signet_testkit::stories::{self, ALL, ALL_ACME};
use signet_testkit::{TempStore, block_on};

/// One test per story, so a failure names its story; `every_story_is_run` keeps the list
/// and the tests together.
macro_rules! stories {
    ($($story:ident),* $(,)?) => {
        $(
            #[test]
            fn $story() {
                block_on(stories::$story(TempStore::fresh));
            }
        )*

        #[test]
        fn every_story_is_run() {
            let run = [$(stringify!($story)),*];
            assert_eq!(run, ALL, "a story was added to signet_testkit::stories::ALL but not here");
        }
    };
}

stories!(
    request_lifecycle,
    serial_uniqueness,
    revocation_changes,
    outbox_and_cursors,
    tokens,
    audit_chain,
    crl_records,
    view_queries,
);

/// The ACME stories (`signet_api::acme::AcmeStore`), run the same way.
macro_rules! acme_stories {
    ($($story:ident),* $(,)?) => {
        $(
            #[test]
            fn $story() {
                block_on(stories::$story(TempStore::fresh_acme));
            }
        )*

        #[test]
        fn every_acme_story_is_run() {
            let run = [$(stringify!($story)),*];
            assert_eq!(run, ALL_ACME, "a story was added to signet_testkit::stories::ALL_ACME but not here");
        }
    };
}

acme_stories!(
    acme_accounts,
    acme_eab,
    acme_orders,
    acme_authzs,
    acme_nonces,
    acme_purge,
    acme_audit,
    acme_ca_scoping,
);
