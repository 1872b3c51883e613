//! Rows to records: each record type the store reads has one [`FromRow`] implementation,
//! next to the statements that select it, and every query that returns that record decodes
//! it there. Columns are read in order through [`Columns`], which turns a value that does
//! not decode into `StoreError::Backend` naming the table, the row and the column (reading
//! never panics on a bad row).

use std::fmt::Display;
use std::time::SystemTime;

use signet_core::{
    CaName, Event, RequestId, Revocation, RevocationReason, SerialNumber, StoreError,
};

use crate::codec::{corrupt, from_unix};
use crate::db::{Db, FromValue, Param, Row};

/// A record decoded from one row whose columns are [`FromRow::COLUMNS`], in that order.
pub(crate) trait FromRow: Sized {
    /// The select list `from_row` reads (tables aliased as the statements that use it say).
    const COLUMNS: &'static str;
    /// The table named in corruption reports.
    const TABLE: &'static str;

    fn from_row(row: &mut Columns<'_, '_>) -> Result<Self, StoreError>;
}

/// Every row `sql` returns, decoded.
pub(crate) fn query_all<T: FromRow>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    query_each(conn, sql, params, context, &mut |row| {
        out.push(row);
        Ok(())
    })?;
    Ok(out)
}

/// Every row `sql` returns, decoded and handed to `each` as it is read (nothing collected);
/// an error from `each` ends the query with it.
pub(crate) fn query_each<T: FromRow>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
    each: &mut dyn FnMut(T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    conn.each_row(sql, params, context, &mut |row| {
        each(T::from_row(&mut Columns::new(row, T::TABLE))?)?;
        Ok(true)
    })
}

/// The first row `sql` returns, decoded, if there is one.
pub(crate) fn query_opt<T: FromRow>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
) -> Result<Option<T>, StoreError> {
    query_first_with(conn, sql, params, context, T::TABLE, T::from_row)
}

/// The first row `sql` returns, decoded by `decode` (for a statement whose columns are not a
/// record of their own), if there is one.
pub(crate) fn query_first_with<T>(
    conn: &dyn Db,
    sql: &str,
    params: &[Param<'_>],
    context: &'static str,
    table: &'static str,
    mut decode: impl FnMut(&mut Columns<'_, '_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut out = None;
    conn.each_row(sql, params, context, &mut |row| {
        out = Some(decode(&mut Columns::new(row, table))?);
        Ok(false)
    })?;
    Ok(out)
}

/// A row's columns, read left to right, with what a corruption report needs.
pub(crate) struct Columns<'a, 'r> {
    row: &'a (dyn Row + 'r),
    table: &'static str,
    /// Names the row in reports once its key is read (its id, serial, ...); formatted only
    /// when a report is made, so decoding a million CRL rows allocates nothing for it.
    key: Key,
    next: usize,
}

/// What names a row in a corruption report.
pub(crate) enum Key {
    Unknown,
    Id(i64),
    Pair(i64, i64),
    Serial(SerialNumber),
    Text(String),
}

impl Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Unknown => f.write_str("?"),
            Key::Id(id) => write!(f, "{id}"),
            Key::Pair(a, b) => write!(f, "{a}/{b}"),
            Key::Serial(s) => f.write_str(&s.to_hex()),
            Key::Text(t) => f.write_str(t),
        }
    }
}

impl From<i64> for Key {
    fn from(id: i64) -> Key {
        Key::Id(id)
    }
}

impl From<u64> for Key {
    fn from(id: u64) -> Key {
        Key::Id(i64::try_from(id).unwrap_or(i64::MAX))
    }
}

impl From<RequestId> for Key {
    fn from(id: RequestId) -> Key {
        Key::Id(id.get())
    }
}

impl From<SerialNumber> for Key {
    fn from(s: SerialNumber) -> Key {
        Key::Serial(s)
    }
}

impl From<String> for Key {
    fn from(t: String) -> Key {
        Key::Text(t)
    }
}

impl<'a, 'r> Columns<'a, 'r> {
    pub(crate) fn new(row: &'a (dyn Row + 'r), table: &'static str) -> Columns<'a, 'r> {
        Columns {
            row,
            table,
            key: Key::Unknown,
            next: 0,
        }
    }

    /// Names the row in corruption reports from now on.
    pub(crate) fn key(&mut self, key: impl Into<Key>) {
        self.key = key.into();
    }

    /// A value that does not decode.
    pub(crate) fn bad(&self, column: &str, problem: &str) -> StoreError {
        corrupt(self.table, &self.key, column, problem)
    }

    /// The next column as stored.
    pub(crate) fn next<T: FromValue>(&mut self, column: &str) -> Result<T, StoreError> {
        let i = self.next;
        self.next += 1;
        self.row
            .value(i)
            .and_then(T::from_value)
            .map_err(|e| self.bad(column, &format!("unexpected value: {e}")))
    }

    pub(crate) fn unsigned(&mut self, column: &str) -> Result<u64, StoreError> {
        let v: i64 = self.next(column)?;
        u64::try_from(v).map_err(|_| self.bad(column, "negative"))
    }

    pub(crate) fn opt_unsigned(&mut self, column: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self.next(column)?;
        v.map(|v| u64::try_from(v).map_err(|_| self.bad(column, "negative")))
            .transpose()
    }

    /// A count or attempt number: negative reads as 0, too large as `u32::MAX`.
    pub(crate) fn count(&mut self, column: &str) -> Result<u32, StoreError> {
        let v: i64 = self.next(column)?;
        Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
    }

    /// Unix seconds.
    pub(crate) fn time(&mut self, column: &str) -> Result<SystemTime, StoreError> {
        let secs: i64 = self.next(column)?;
        self.to_time(column, secs)
    }

    pub(crate) fn opt_time(&mut self, column: &str) -> Result<Option<SystemTime>, StoreError> {
        let secs: Option<i64> = self.next(column)?;
        secs.map(|s| self.to_time(column, s)).transpose()
    }

    fn to_time(&self, column: &str, secs: i64) -> Result<SystemTime, StoreError> {
        from_unix(secs).ok_or_else(|| self.bad(column, &format!("time {secs} out of range")))
    }

    pub(crate) fn ca(&mut self, column: &str) -> Result<CaName, StoreError> {
        let s: String = self.next(column)?;
        CaName::new(&s).map_err(|e| self.bad(column, &e.to_string()))
    }

    pub(crate) fn request_id(&mut self, column: &str) -> Result<RequestId, StoreError> {
        let v: i64 = self.next(column)?;
        RequestId::new(v).map_err(|e| self.bad(column, &e.to_string()))
    }

    pub(crate) fn opt_request_id(&mut self, column: &str) -> Result<Option<RequestId>, StoreError> {
        let v: Option<i64> = self.next(column)?;
        v.map(RequestId::new)
            .transpose()
            .map_err(|e| self.bad(column, &e.to_string()))
    }

    /// 40 lowercase hex digits.
    pub(crate) fn serial(&mut self, column: &str) -> Result<SerialNumber, StoreError> {
        let s: String = self.next(column)?;
        s.parse().map_err(|e| self.bad(column, &format!("{e}")))
    }

    /// An AD CS `EXITEVENT_*` bit.
    pub(crate) fn event(&mut self, column: &str) -> Result<Event, StoreError> {
        let bit: i64 = self.next(column)?;
        u32::try_from(bit)
            .ok()
            .and_then(Event::from_bit)
            .ok_or_else(|| self.bad(column, &format!("unknown event bit {bit:#x}")))
    }

    /// A JSON array of strings.
    pub(crate) fn sans(&mut self, column: &str) -> Result<Vec<String>, StoreError> {
        let s: String = self.next(column)?;
        serde_json::from_str(&s)
            .map_err(|e| self.bad(column, &format!("not a JSON array of strings: {e}")))
    }

    /// A certificate's `revoked_at, revocation_reason, invalidity_date`: both of the first
    /// two or neither.
    pub(crate) fn revocation(&mut self) -> Result<Option<Revocation>, StoreError> {
        let at = self.opt_time("revoked_at")?;
        let reason: Option<i64> = self.next("revocation_reason")?;
        let invalidity_date = self.opt_time("invalidity_date")?;
        match (at, reason) {
            (Some(at), Some(reason)) => Ok(Some(Revocation {
                at,
                reason: RevocationReason::from_code(reason).ok_or_else(|| {
                    self.bad("revocation_reason", &format!("unknown code {reason}"))
                })?,
                invalidity_date,
            })),
            (None, None) => Ok(None),
            _ => Err(self.bad("revoked_at", "set without a reason, or the reverse")),
        }
    }
}

/// `SELECT` with `T`'s columns, then `rest` (`FROM ... WHERE ...`): the one way a statement
/// that [`FromRow`] decodes is written, so its select list and the decoder cannot drift.
pub(crate) fn select<T: FromRow>(rest: &str) -> String {
    format!("SELECT {} {rest}", T::COLUMNS)
}

/// A statement built once, on first use (see [`select`]).
pub(crate) type Statement = std::sync::LazyLock<String>;
