//! The SQL the record modules speak, over either backend.
//!
//! Every record module (`requests`, `outbox`, `audit`, ...) reads and writes through a
//! [`Db`]: a connection that runs one statement with bound [`Param`]s and hands back rows as
//! [`Value`]s. SQLite (`rusqlite::Connection`, below) and PostgreSQL (`crate::pg`) implement
//! it, so the statements and the rules around them — the audit chain, the outbox, the
//! revocation checks — are written once.
//!
//! The statements are written in the common subset of both dialects, with SQLite's numbered
//! parameters (`?1`, `?2`, or `?` numbered left to right); the PostgreSQL connection rewrites
//! them to `$1`, `$2` once, when it prepares the statement. Where the dialects differ (a
//! case-insensitive comparison, a substring test) the module asks [`Db::dialect`] and picks
//! its statement. Integers are 64-bit on both sides (PostgreSQL columns are BIGINT), text is
//! UTF-8, bytes are BLOB/BYTEA.

use std::borrow::Cow;

use signet_core::StoreError;

/// Which SQL dialect a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a statement parameter.
#[derive(Clone, Debug)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// A value read from a row's column, borrowed from the row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'r> {
    Null,
    Int(i64),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// Why a column's value cannot be read as the record needs it. Reported inside a
/// `StoreError` naming the table, row and column (a corrupt row, never a panic).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("expected {expected}, found {found}")]
    Kind {
        expected: &'static str,
        found: &'static str,
    },
    #[error("{0} is out of range")]
    OutOfRange(i64),
    #[error("text that is not UTF-8")]
    NotUtf8,
    #[error("a floating-point value ({0})")]
    Float(f64),
    #[error("no column {column} (the row has {len})")]
    NoColumn { column: usize, len: usize },
    #[error("column {column} has type {type_name}, which the store does not read")]
    Unsupported { column: String, type_name: String },
    /// The database client could not read the value.
    #[error("{0}")]
    Client(String),
}

/// One row of a result, column by column (from 0).
pub(crate) trait Row {
    /// The column's value; `Err` says why it cannot be read (a type neither backend stores).
    fn value(&self, column: usize) -> Result<Value<'_>, ValueError>;
}

/// A connection the record modules run their statements on.
pub(crate) trait Db {
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; the number of rows it changed. A UNIQUE or
    /// PRIMARY KEY violation is `StoreError::Conflict`, anything else `Backend`, both with
    /// `context` saying what was being done.
    fn execute(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError>;

    /// Runs a statement like [`execute`](Db::execute), but one whose text is seldom the same
    /// twice (a multi-row INSERT of however many rows a batch has): it is not prepared and
    /// kept, so it costs PostgreSQL one round trip and evicts nothing from the statement cache.
    fn execute_once(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError>;

    /// Runs a query and calls `each` with every row, until it returns `Ok(false)` or the rows
    /// end.
    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs statements separated by `;`, without parameters (schema changes, transaction
    /// control).
    fn batch(&self, sql: &str, context: &'static str) -> Result<(), StoreError>;

    /// Whether the connection is lost for good (the server went away), so that its owner
    /// opens another. An embedded database never is.
    fn is_broken(&self) -> bool {
        false
    }

    /// Whether large values are best written in place with [`Db::write_blob`] into a row
    /// inserted with a zero-filled blob: an embedded database then writes them page by page,
    /// where a statement parameter is copied whole, and copied again into the record (a CRL
    /// of a million entries is 50 MB). A server database takes them as parameters.
    fn writes_blobs_in_place(&self) -> bool {
        false
    }

    /// Writes `bytes` over the zero-filled BLOB `column` of row `rowid` of `table`, which
    /// has exactly that length. Only when [`Db::writes_blobs_in_place`].
    fn write_blob(
        &self,
        table: &'static str,
        column: &'static str,
        rowid: i64,
        bytes: &[u8],
        context: &'static str,
    ) -> Result<(), StoreError> {
        let _ = (table, column, rowid, bytes);
        Err(StoreError::Backend(format!(
            "{context}: this database takes large values as parameters"
        )))
    }
}

/// A Rust value bound as a parameter: what [`params!`](crate::params) takes.
pub(crate) trait ToParam {
    fn param(&self) -> Param<'_>;
}

impl ToParam for i64 {
    fn param(&self) -> Param<'_> {
        Param::Int(*self)
    }
}

impl ToParam for i32 {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}

impl ToParam for u32 {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}

impl ToParam for bool {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}

impl ToParam for str {
    fn param(&self) -> Param<'_> {
        Param::Text(Cow::Borrowed(self))
    }
}

impl ToParam for String {
    fn param(&self) -> Param<'_> {
        Param::Text(Cow::Borrowed(self))
    }
}

impl ToParam for [u8] {
    fn param(&self) -> Param<'_> {
        Param::Blob(Cow::Borrowed(self))
    }
}

impl ToParam for Vec<u8> {
    fn param(&self) -> Param<'_> {
        Param::Blob(Cow::Borrowed(self))
    }
}

impl<const N: usize> ToParam for [u8; N] {
    fn param(&self) -> Param<'_> {
        Param::Blob(Cow::Borrowed(self))
    }
}

impl<T: ToParam + ?Sized> ToParam for &T {
    fn param(&self) -> Param<'_> {
        (**self).param()
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn param(&self) -> Param<'_> {
        self.as_ref().map_or(Param::Null, ToParam::param)
    }
}

impl ToParam for Param<'_> {
    fn param(&self) -> Param<'_> {
        match self {
            Param::Null => Param::Null,
            Param::Int(i) => Param::Int(*i),
            Param::Text(t) => Param::Text(Cow::Borrowed(t)),
            Param::Blob(b) => Param::Blob(Cow::Borrowed(b)),
        }
    }
}

/// Bound parameters, by reference: `params![ca.as_str(), id, der]`.
#[macro_export]
#[doc(hidden)]
macro_rules! params {
    () => { [] as [$crate::db::Param<'_>; 0] };
    ($($p:expr),+ $(,)?) => { [$($crate::db::ToParam::param(&$p)),+] };
}

/// A Rust value read from a column: what [`crate::row::Columns::next`] and [`query_value`]
/// return.
pub(crate) trait FromValue: Sized {
    fn from_value(v: Value<'_>) -> Result<Self, ValueError>;
}

impl FromValue for i64 {
    fn from_value(v: Value<'_>) -> Result<i64, ValueError> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(ValueError::Kind {
                expected: "an integer",
                found: other.kind(),
            }),
        }
    }
}

impl FromValue for u32 {
    fn from_value(v: Value<'_>) -> Result<u32, ValueError> {
        let i = i64::from_value(v)?;
        u32::try_from(i).map_err(|_| ValueError::OutOfRange(i))
    }
}

impl FromValue for bool {
    fn from_value(v: Value<'_>) -> Result<bool, ValueError> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for String {
    fn from_value(v: Value<'_>) -> Result<String, ValueError> {
        match v {
            Value::Text(t) => Ok(t.to_string()),
            other => Err(ValueError::Kind {
                expected: "text",
                found: other.kind(),
            }),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value<'_>) -> Result<Vec<u8>, ValueError> {
        match v {
            Value::Blob(b) => Ok(b.to_vec()),
            other => Err(ValueError::Kind {
                expected: "bytes",
                found: other.kind(),
            }),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value<'_>) -> Result<Option<T>, ValueError> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

/// Starts a read-only transaction whose statements all see one snapshot of the database.
pub(crate) fn begin_snapshot(conn: &dyn Db) -> Result<(), StoreError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    conn.batch(sql, "starting a read")
}

/// Ends what [`begin_snapshot`] started (a failure is only logged: nothing was written).
pub(crate) fn end_snapshot(conn: &dyn Db) {
    if let Err(e) = conn.batch("COMMIT", "ending a read") {
        tracing::warn!(error = %e, "ending a read transaction");
    }
}

/// Whether the schema has a table of that name (a database from before a migration, opened
/// read-only, may not).
pub(crate) fn has_table(conn: &dyn Db, name: &str) -> Result<bool, StoreError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        Dialect::Postgres => {
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = ?1"
        }
    };
    let n: i64 = query_one(conn, sql, &crate::params![name], "reading the schema")?;
    Ok(n > 0)
}

/// A row's first columns as a Rust value: the first column ([`FromValue`]), or the first
/// two (three) as a pair (triple).
pub(crate) trait Leading: Sized {
    fn read(row: &dyn Row) -> Result<Self, ValueError>;
}

impl<T: FromValue> Leading for T {
    fn read(row: &dyn Row) -> Result<T, ValueError> {
        row.value(0).and_then(T::from_value)
    }
}

impl<A: FromValue, B: FromValue> Leading for (A, B) {
    fn read(row: &dyn Row) -> Result<(A, B), ValueError> {
        Ok((
            row.value(0).and_then(A::from_value)?,
            row.value(1).and_then(B::from_value)?,
        ))
    }
}

impl<A: FromValue, B: FromValue, C: FromValue> Leading for (A, B, C) {
    fn read(row: &dyn Row) -> Result<(A, B, C), ValueError> {
        Ok((
            row.value(0).and_then(A::from_value)?,
            row.value(1).and_then(B::from_value)?,
            row.value(2).and_then(C::from_value)?,
        ))
    }
}

/// The leading columns of the rows `sql` returns, the first `limit` of them at most.
fn query_leading<T: Leading>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    conn.each_row(sql, params, context, &mut |row| {
        let v = T::read(row).map_err(|e| StoreError::Backend(format!("{context}: {e}")))?;
        out.push(v);
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

/// The leading columns of every row `sql` returns.
pub(crate) fn query_values<T: Leading>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<Vec<T>, StoreError> {
    query_leading(conn, sql, params, context, usize::MAX)
}

/// The leading columns of the first row `sql` returns, if there is a row.
pub(crate) fn query_value<T: Leading>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<Option<T>, StoreError> {
    Ok(query_leading(conn, sql, params, context, 1)?.pop())
}

/// The first column of the first row `sql` returns, which must exist (an aggregate, say).
pub(crate) fn query_one<T: Leading>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<T, StoreError> {
    query_value(conn, sql, params, context)?
        .ok_or_else(|| StoreError::Backend(format!("{context}: the query returned no row")))
}

/// Runs an `INSERT ... RETURNING id` and returns the id the database assigned.
pub(crate) fn insert_id(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<i64, StoreError> {
    query_value(conn, sql, params, context)?
        .ok_or_else(|| StoreError::Backend(format!("{context}: the database returned no id")))
}

/// Most rows one multi-row INSERT carries (PostgreSQL allows 65,535 parameters; SQLite
/// 32,766 since 3.32).
const ROWS_PER_INSERT: usize = 200;

/// Inserts rows of `width` values each (`values` is their concatenation, row by row) into
/// `into` (`table (col, ...)`) with as few statements as possible: one multi-row INSERT per
/// [`ROWS_PER_INSERT`] rows, so a request's extensions, a batch of requests or a copied
/// table cost one round trip, not one per row. The rows are inserted in order (an identity
/// column numbers them in that order). A single row's statement is prepared and kept like
/// any other; a multi-row one runs once ([`Db::execute_once`]).
pub(crate) fn insert_rows(
    conn: &dyn Db,
    into: &str,
    width: usize,
    values: &[Param<'_>],
    context: &'static str,
) -> Result<(), StoreError> {
    if width == 0 {
        return Ok(());
    }
    for chunk in values.chunks(ROWS_PER_INSERT * width) {
        let rows = chunk.len() / width;
        let mut sql = format!("INSERT INTO {into} VALUES ");
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 1..=width {
                if c > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("?{}", r * width + c));
            }
            sql.push(')');
        }
        if rows == 1 {
            conn.execute(&sql, chunk, context)?;
        } else {
            conn.execute_once(&sql, chunk, context)?;
        }
    }
    Ok(())
}

// ---- SQLite ----

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn writes_blobs_in_place(&self) -> bool {
        true
    }

    fn write_blob(
        &self,
        table: &'static str,
        column: &'static str,
        rowid: i64,
        bytes: &[u8],
        context: &'static str,
    ) -> Result<(), StoreError> {
        let mut blob = self
            .blob_open(rusqlite::MAIN_DB, table, column, rowid, false)
            .map_err(crate::codec::sql_error(context))?;
        blob.write_all_at(bytes, 0)
            .map_err(crate::codec::sql_error(context))
    }

    fn execute(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError> {
        let mut stmt = self
            .prepare_cached(sql)
            .map_err(crate::codec::sql_error(context))?;
        execute_sqlite(&mut stmt, params, context)
    }

    fn execute_once(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
    ) -> Result<u64, StoreError> {
        let mut stmt = self
            .prepare(sql)
            .map_err(crate::codec::sql_error(context))?;
        execute_sqlite(&mut stmt, params, context)
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .prepare_cached(sql)
            .map_err(crate::codec::sql_error(context))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(crate::codec::sql_error(context))?;
        while let Some(row) = rows.next().map_err(crate::codec::sql_error(context))? {
            if !each(row)? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str, context: &'static str) -> Result<(), StoreError> {
        self.execute_batch(sql)
            .map_err(crate::codec::sql_error(context))
    }
}

/// Runs a prepared SQLite statement; the number of rows it changed.
fn execute_sqlite(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<u64, StoreError> {
    stmt.execute(rusqlite::params_from_iter(params))
        .map(|changed| changed as u64)
        .map_err(crate::codec::sql_error(context))
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Text(t) => ValueRef::Text(t.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Row for rusqlite::Row<'_> {
    fn value(&self, column: usize) -> Result<Value<'_>, ValueError> {
        use rusqlite::types::ValueRef;
        match self
            .get_ref(column)
            .map_err(|e| ValueError::Client(e.to_string()))?
        {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Integer(i) => Ok(Value::Int(i)),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Value::Text)
                .map_err(|_| ValueError::NotUtf8),
            ValueRef::Blob(b) => Ok(Value::Blob(b)),
            ValueRef::Real(r) => Err(ValueError::Float(r)),
        }
    }
}
