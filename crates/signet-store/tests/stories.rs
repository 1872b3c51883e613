//! The store story suite (`signet_testkit::stories`) against `SqliteStore`: the same
//! stories every `Store` backend runs. SQLite-only behaviour (group commit, the file on
//! disk, migrations) is tested in `sqlite_store.rs`.

use signet_testkit::stories::{self, ALL};
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
