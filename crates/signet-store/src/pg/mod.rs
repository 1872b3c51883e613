//! The PostgreSQL backend's connection layer: [`PgConfig`] (where the database is, TLS, the
//! password), [`PgConn`] (one connection speaking [`crate::db::Db`], so the record modules run
//! unchanged on it), and [`migrate`] (the schema).
//!
//! Built on the blocking `postgres` client: the store's threads (the writer, the readers) each
//! hold their own connection, as they hold their own SQLite connection, and no async runtime
//! is involved. The client runs tokio-postgres on a small runtime of its own per connection,
//! so a `PgConn` must never be used from inside an async runtime (its `block_on` panics
//! there).
//!
//! # Layout
//! - `config`: [`PgConfig`], the URL (multi-host, `target_session_attrs`, `sslmode`,
//!   `sslrootcert`), the password file and environment variable, `connect`.
//! - `tls`: verify-full TLS over tokio-rustls, trusting only the configured CA.
//! - `conn`: [`PgConn`]: parameter rewriting (`?1` → `$1`), the statement cache, parameter and
//!   column conversions, error mapping (unique violation → `Conflict`).
//! - `migrate`: `migrations/postgres/NNNN_name.sql` and `schema_migrations`.

mod config;
mod conn;
mod migrate;
mod tls;

pub use config::{PASSWORD_ENV, PgConfig, PgConfigError};
pub(crate) use conn::PgConn;
#[cfg(test)]
pub(crate) use migrate::MIGRATIONS;
pub(crate) use migrate::migrate;

#[cfg(test)]
mod tests;
