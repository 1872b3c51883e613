//! [`PgConn`]: one PostgreSQL connection speaking [`Db`], for one store thread.
//!
//! The statements arrive in SQLite's parameter syntax (`?1`, `?`); each is rewritten to
//! PostgreSQL's (`$1`) and prepared once, on first use, and kept in a per-connection cache.
//! Parameters bind as BIGINT, TEXT, BYTEA or NULL ([`Param`]'s `ToSql`), rows read back as
//! [`Value`]s by their column's type.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashMap;

use bytes::BytesMut;
use postgres::error::{Severity, SqlState};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, Statement};
use signet_core::StoreError;

use crate::db::{Db, Dialect, Param, Row, Value, ValueError};

/// How many prepared statements a connection keeps before it forgets them all. The record
/// modules' statements are a few hundred fixed strings; some are built at run time (view
/// filters), so the cache is bounded rather than left to grow.
pub(super) const STATEMENT_CACHE_LIMIT: usize = 512;

/// One PostgreSQL connection (the blocking `postgres` client, which drives tokio-postgres on a
/// current-thread runtime of its own), with its prepared statements.
///
/// Used from one ordinary thread at a time (it is `Send`, not `Sync`), never from inside an
/// async runtime: the client's `block_on` panics there. A connection whose
/// [`is_closed`](PgConn::is_closed) says `true` is dead; make a new one with
/// [`PgConfig::connect`](super::PgConfig::connect).
pub(crate) struct PgConn {
    client: RefCell<Client>,
    /// SQL as the caller wrote it → the statement prepared from its rewritten form.
    statements: RefCell<HashMap<String, Statement>>,
    /// Set by an error that ends the session (a FATAL from the server, a broken socket): the
    /// client itself notices only when it next reads from the socket.
    lost: Cell<bool>,
}

impl PgConn {
    pub(crate) fn new(client: Client) -> PgConn {
        PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            lost: Cell::new(false),
        }
    }

    /// Whether the connection to the server is gone (the server closed it, the network broke,
    /// a fatal protocol error); every statement on it fails from then on.
    pub(crate) fn is_closed(&self) -> bool {
        self.lost.get() || self.client.try_borrow().is_ok_and(|c| c.is_closed())
    }

    /// [`pg_error`], noting whether the error ended the session.
    fn error(&self, context: &'static str) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |e| {
            if ends_session(&e) {
                self.lost.set(true);
                // Nothing of it was written: the client may retry once the database is back.
                return StoreError::Unavailable(format!("{context}: {}", describe(&e)));
            }
            pg_error(context)(e)
        }
    }

    /// The client, unless a row callback of this connection is running (its rows are still
    /// being read from the server, so nothing else can be sent before they end).
    fn client(&self, context: &'static str) -> Result<RefMut<'_, Client>, StoreError> {
        self.client.try_borrow_mut().map_err(|_| {
            StoreError::Backend(format!(
                "{context}: a statement was run while another statement's rows were being \
                 read on the same PostgreSQL connection"
            ))
        })
    }

    /// The prepared statement for `sql` (as the caller wrote it), preparing it on first use.
    ///
    /// The server infers the parameters' types. Where it cannot (a parameter the shared
    /// statement leaves unused, or one only tested with `IS NULL`; SQLite needs no types),
    /// they are declared from the values bound this time (BIGINT, TEXT, BYTEA; a NULL
    /// still leaves its type to the server).
    fn statement(
        &self,
        client: &mut Client,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = translate_placeholders(&without_index_hints(sql));
        let prepared = match client.prepare(&text) {
            Err(e) if e.code() == Some(&SqlState::INDETERMINATE_DATATYPE) => {
                let types: Vec<Type> = params.iter().map(declared_type).collect();
                client.prepare_typed(&text, &types)
            }
            other => other,
        }
        .map_err(self.error(context))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE_LIMIT {
            // Dropping a `Statement` closes it on the server.
            cache.clear();
        }
        cache.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    #[cfg(test)]
    pub(crate) fn cached_statements(&self) -> usize {
        self.statements.borrow().len()
    }
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn is_broken(&self) -> bool {
        self.is_closed()
    }

    fn execute(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError> {
        let mut client = self.client(context)?;
        let statement = self.statement(&mut client, sql, params, context)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        client
            .execute(&statement, &params)
            .map_err(self.error(context))
    }

    /// Parsed, bound and run in one round trip with the parameters' types declared from
    /// their values (BIGINT, TEXT, BYTEA; a NULL's left to the server): every integer column
    /// is BIGINT, so the declared types are the columns'.
    fn execute_once(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError> {
        let mut client = self.client(context)?;
        let text = translate_placeholders(&without_index_hints(sql));
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            params.iter().map(|p| (p as _, declared_type(p))).collect();
        client
            .execute_typed(&text, &typed)
            .map_err(self.error(context))
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut client = self.client(context)?;
        let statement = self.statement(&mut client, sql, params, context)?;
        // Rows stream from the server as they are read, so a million-row CRL query never sits
        // in memory whole. Stopping early drops the rest: the client discards what is left.
        let mut rows = client
            .query_raw(&statement, params.iter())
            .map_err(self.error(context))?;
        while let Some(row) = rows.next().map_err(self.error(context))? {
            if !each(&row)? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str, context: &'static str) -> Result<(), StoreError> {
        self.client(context)?
            .batch_execute(sql)
            .map_err(self.error(context))
    }
}

/// Maps a client error to the store's: a UNIQUE or PRIMARY KEY violation is `Conflict`, a
/// full disk or an I/O error on the server `Unavailable`, anything else `Backend`, both saying what was being done and, for an error the server
/// reported, its message and detail.
pub(crate) fn pg_error(context: &'static str) -> impl Fn(postgres::Error) -> StoreError {
    move |e| {
        let text = format!("{context}: {}", describe(&e));
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(text)
        } else if e
            .code()
            .is_some_and(|c| c.code().starts_with("53") || c.code().starts_with("58"))
        {
            // Class 53 (insufficient resources: disk full, out of memory) and 58 (system
            // error: I/O): the server's fault, not the statement's.
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        }
    }
}

/// Whether `e` means the session is over: the server ends it after a FATAL or PANIC error
/// (an administrator's shutdown or `pg_terminate_backend`, say), and an I/O error or a closed
/// connection leaves nothing to talk to.
fn ends_session(e: &postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        return matches!(
            db.parsed_severity(),
            Some(Severity::Fatal | Severity::Panic)
        );
    }
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A client error in words: for an error the server reported, its message and detail;
/// otherwise the client's description (which names the cause: a refused connection, a TLS
/// failure, a closed connection).
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            // The client's own text is only the kind of error ("error connecting to server");
            // the causes say what happened.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
            text
        }
    }
}

/// The type a parameter is declared with when its statement is prepared; OID 0 is
/// "unspecified" (the server infers it).
fn declared_type(p: &Param<'_>) -> Type {
    match p {
        Param::Int(_) => Type::INT8,
        Param::Text(_) => Type::TEXT,
        Param::Blob(_) => Type::BYTEA,
        Param::Null => Type::new(
            "unspecified".into(),
            0,
            postgres::types::Kind::Pseudo,
            "pg_catalog".into(),
        ),
    }
}

/// Drops SQLite's `INDEXED BY name` hints (the shared statements name the index SQLite must
/// use; PostgreSQL's planner takes no hints and chooses well from its statistics).
fn without_index_hints(sql: &str) -> std::borrow::Cow<'_, str> {
    const HINT: &str = " INDEXED BY ";
    let Some(first) = sql.find(HINT) else {
        return std::borrow::Cow::Borrowed(sql);
    };
    let mut out = String::with_capacity(sql.len());
    let mut rest = &sql[first..];
    out.push_str(&sql[..first]);
    while let Some(at) = rest.find(HINT) {
        out.push_str(&rest[..at]);
        let after = &rest[at + HINT.len()..];
        let name_end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[name_end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Rewrites SQLite's parameters to PostgreSQL's: `?N` becomes `$N`, and a bare `?` becomes
/// `$k` with k one more than the largest number given so far (SQLite's rule, so `?, ?` is
/// `$1, $2`). Text inside single-quoted literals, double-quoted identifiers and `--` comments
/// is copied unchanged.
pub(crate) fn translate_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut largest: u64 = 0;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                // Copy through the closing quote; a doubled quote inside is an escaped one and
                // simply closes and reopens the literal.
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if sql[i..].starts_with("--") => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let start = i + 1;
                let digits = sql[start..]
                    .find(|d: char| !d.is_ascii_digit())
                    .map_or(sql.len() - start, |n| n);
                let number = match sql[start..start + digits].parse::<u64>() {
                    Ok(n) if digits > 0 => n,
                    // No digits (or too many to be a parameter number, which PostgreSQL will
                    // refuse anyway): the next number.
                    _ => largest + 1,
                };
                for _ in 0..digits {
                    chars.next();
                }
                largest = largest.max(number);
                out.push('$');
                out.push_str(&number.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// Parameters bind by the type PostgreSQL inferred for them: integers to BIGINT (every integer
/// column in Signet's schema) and, range-checked, to INTEGER, SMALLINT and BOOLEAN (0/1), so
/// a column or expression of a narrower type is an error only for a value that does not fit.
/// NULL binds to anything.
impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)
                    .map_err(|_| out_of_range(*i, ty))?
                    .to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)
                    .map_err(|_| out_of_range(*i, ty))?
                    .to_sql(ty, out),
                Type::BOOL => match i {
                    0 => false.to_sql(ty, out),
                    1 => true.to_sql(ty, out),
                    _ => Err(out_of_range(*i, ty)),
                },
                _ => Err(wrong_type("an integer", ty)),
            },
            Param::Text(t) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    t.as_ref().to_sql(ty, out)
                }
                _ => Err(wrong_type("text", ty)),
            },
            Param::Blob(b) => match *ty {
                Type::BYTEA => b.as_ref().to_sql(ty, out),
                _ => Err(wrong_type("bytes", ty)),
            },
        }
    }

    /// Every type a variant may bind to; [`to_sql`](ToSql::to_sql) checks the variant.
    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::BYTEA
        )
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // `to_sql` checks the type for each variant; a NULL fits any.
        self.to_sql(ty, out)
    }
}

fn out_of_range(i: i64, ty: &Type) -> Box<dyn std::error::Error + Sync + Send> {
    format!("the integer {i} does not fit a parameter of type {ty}").into()
}

fn wrong_type(what: &str, ty: &Type) -> Box<dyn std::error::Error + Sync + Send> {
    format!("cannot bind {what} to a parameter of type {ty}").into()
}

/// Columns read by their type: the integers (BIGINT, INTEGER, SMALLINT, and BOOLEAN as 0/1),
/// the texts, BYTEA, and NULL for any of them. Any other type (NUMERIC from `sum()`, say) is
/// an error naming it: the statement should cast.
impl Row for postgres::Row {
    fn value(&self, column: usize) -> Result<Value<'_>, ValueError> {
        let Some(col) = self.columns().get(column) else {
            return Err(ValueError::NoColumn {
                column,
                len: self.columns().len(),
            });
        };
        let err = |e: postgres::Error| ValueError::Client(format!("column {}: {e}", col.name()));
        let value = match *col.type_() {
            Type::INT8 => self
                .try_get::<_, Option<i64>>(column)
                .map_err(err)?
                .map(Value::Int),
            Type::INT4 => self
                .try_get::<_, Option<i32>>(column)
                .map_err(err)?
                .map(|i| Value::Int(i.into())),
            Type::INT2 => self
                .try_get::<_, Option<i16>>(column)
                .map_err(err)?
                .map(|i| Value::Int(i.into())),
            Type::BOOL => self
                .try_get::<_, Option<bool>>(column)
                .map_err(err)?
                .map(|b| Value::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => self
                .try_get::<_, Option<&str>>(column)
                .map_err(err)?
                .map(Value::Text),
            Type::BYTEA => self
                .try_get::<_, Option<&[u8]>>(column)
                .map_err(err)?
                .map(Value::Blob),
            ref other => {
                return Err(ValueError::Unsupported {
                    column: col.name().to_string(),
                    type_name: other.to_string(),
                });
            }
        };
        Ok(value.unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::translate_placeholders as t;

    #[test]
    fn numbered_and_bare_parameters_are_rewritten() {
        assert_eq!(t("SELECT ?1, ?2, ?1"), "SELECT $1, $2, $1");
        assert_eq!(t("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        // SQLite numbers a bare `?` one past the largest number so far.
        assert_eq!(t("?3 = ? AND ?1 = ?"), "$3 = $4 AND $1 = $5");
        assert_eq!(t("x=?10"), "x=$10");
        assert_eq!(t("?"), "$1");
        assert_eq!(t(""), "");
    }

    #[test]
    fn quoted_text_and_comments_are_left_alone() {
        assert_eq!(
            t("SELECT '?' || ?1 || 'it''s ?2' FROM \"a?b\" WHERE c = ?2"),
            "SELECT '?' || $1 || 'it''s ?2' FROM \"a?b\" WHERE c = $2"
        );
        assert_eq!(t("SELECT ?1 -- what ?2\n, ?"), "SELECT $1 -- what ?2\n, $2");
        // An unterminated literal is copied to the end (PostgreSQL refuses it).
        assert_eq!(t("SELECT 'x?"), "SELECT 'x?");
        assert_eq!(t("SELECT 'é?' , ?"), "SELECT 'é?' , $1");
    }
}
