//! The event outbox and the exit modules' cursors: events are appended on the writer thread
//! inside the transaction of the change that raised them, and read in order by delivery.
//!
//! An event whose details are exactly `{"serial":"HEX"}` with the serial number of its
//! request's first certificate (every issuance event) stores them by reference
//! (`details_form` 1, `details` empty; SQLite migration 0017, PostgreSQL 0005): reading puts
//! them together again from that certificate, in SQL ([`OutboxEvent`]'s columns).

use std::time::SystemTime;

use signet_core::{CaName, Event, NewEvent, OutboxEvent, RequestId, SerialNumber, StoreError};

use crate::codec::{corrupt, seq_to_sql, to_unix};
use crate::db::{Db, Param, ToParam, insert_rows, query_value};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_all, select};

/// The exit cursor a writer command moves (`Store::ack_exit`).
pub(crate) struct AckExit {
    pub(crate) ca: CaName,
    pub(crate) exit: String,
    pub(crate) seq: u64,
}

impl FromRow for OutboxEvent {
    const COLUMNS: &'static str = "seq, ca, event, request_id, at, \
        CASE WHEN details_form = 0 THEN details ELSE (SELECT '{\"serial\":\"' || c.serial || '\"}' \
        FROM certificates c WHERE c.request_id = outbox.request_id ORDER BY c.id LIMIT 1) END";
    const TABLE: &'static str = "outbox";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<OutboxEvent, StoreError> {
        let seq = c.unsigned("seq")?;
        c.key(seq);
        Ok(OutboxEvent {
            seq,
            ca: c.ca("ca")?,
            event: c.event("event")?,
            request_id: c.opt_request_id("request_id")?,
            at: c.time("at")?,
            details: c.next("details")?,
        })
    }
}

static OUTBOX_AFTER: Statement = Statement::new(|| {
    select::<OutboxEvent>("FROM outbox WHERE ca = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
});
const HEAD: &str = "SELECT seq FROM outbox WHERE ca = ?1 ORDER BY seq DESC LIMIT 1";
const EXIT_CURSOR: &str = "SELECT seq FROM exit_cursors WHERE ca = ?1 AND exit = ?2";
/// Where [`insert_rows`] puts events (see [`EventRows`]).
const EVENTS: &str = "outbox (ca, event, request_id, at, details, details_form)";
/// `outbox.details_form`: the details as given.
const DETAILS_AS_GIVEN: i64 = 0;
/// `outbox.details_form`: `{"serial":"HEX"}` of the request's first certificate.
const DETAILS_SERIAL_OF_REQUEST: i64 = 1;
const UPSERT_CURSOR: &str = "INSERT INTO exit_cursors (ca, exit, seq, updated_at) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (ca, exit) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
    WHERE excluded.seq > exit_cursors.seq";

// ---- Reads --------------------------------------------------------------------------------

pub(crate) fn outbox_after(
    conn: &dyn Db,
    ca: &CaName,
    after: u64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    // A cursor past what SQLite can hold has nothing after it.
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    query_all(
        conn,
        &OUTBOX_AFTER,
        &params![ca.as_str(), after, limit],
        "reading the outbox",
    )
}

pub(crate) fn outbox_head(conn: &dyn Db, ca: &CaName) -> Result<u64, StoreError> {
    let head = head(conn, ca)?;
    u64::try_from(head).map_err(|_| corrupt("outbox", head, "seq", "negative"))
}

pub(crate) fn exit_cursor(conn: &dyn Db, ca: &CaName, exit: &str) -> Result<u64, StoreError> {
    let seq: Option<i64> = query_value(
        conn,
        EXIT_CURSOR,
        &params![ca.as_str(), exit],
        "reading an exit cursor",
    )?;
    let seq = seq.unwrap_or(0);
    u64::try_from(seq)
        .map_err(|_| corrupt("exit_cursors", format!("{ca}/{exit}"), "seq", "negative"))
}

/// The CA's newest outbox seq, 0 if none (on either connection).
fn head(conn: &dyn Db, ca: &CaName) -> Result<i64, StoreError> {
    let head: Option<i64> =
        query_value(conn, HEAD, &params![ca.as_str()], "reading the outbox head")?;
    Ok(head.unwrap_or(0))
}

// ---- Writes (on the writer thread) --------------------------------------------------------

/// Events not tied to a new request, each at its own time.
pub(crate) fn append_events(conn: &dyn Db, events: &[NewEvent]) -> Result<(), StoreError> {
    let mut rows = EventRows::default();
    for e in events {
        // A request id that does not exist fails the foreign key.
        rows.push(
            &e.ca,
            e.event,
            e.request_id.map(RequestId::get),
            to_unix(e.at)?,
            &e.details,
            None,
        );
    }
    rows.insert(conn)
}

/// Events raised now by a change to an existing request, or to a CA (or none).
pub(crate) fn insert_events(
    conn: &dyn Db,
    ca: &CaName,
    request_id: Option<i64>,
    events: &[(Event, String)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = to_unix(SystemTime::now())?;
    let mut rows = EventRows::default();
    for (event, details) in events {
        rows.push(ca, *event, request_id, at, details, None);
    }
    rows.insert(conn)
}

/// Outbox rows to insert together, in order: the outbox numbers them in the order pushed.
#[derive(Default)]
pub(crate) struct EventRows<'a>(Vec<Param<'a>>);

impl<'a> EventRows<'a> {
    /// An event of `ca` about `request_id` (if any), dated `at` (unix seconds).
    /// `first_serial` is the serial number of the request's first certificate, when the
    /// caller knows it: details that only name it are then stored by reference.
    pub(crate) fn push(
        &mut self,
        ca: &'a CaName,
        event: Event,
        request_id: Option<i64>,
        at: i64,
        details: &'a str,
        first_serial: Option<&SerialNumber>,
    ) {
        let by_reference =
            request_id.is_some() && first_serial.is_some_and(|serial| names_only(details, serial));
        let (details, form) = if by_reference {
            (Param::Text("".into()), DETAILS_SERIAL_OF_REQUEST)
        } else {
            (details.param(), DETAILS_AS_GIVEN)
        };
        self.0.extend([
            ca.as_str().param(),
            Param::Int(i64::from(event.bit())),
            request_id.map_or(Param::Null, Param::Int),
            Param::Int(at),
            details,
            Param::Int(form),
        ]);
    }

    pub(crate) fn insert(self, conn: &dyn Db) -> Result<(), StoreError> {
        insert_rows(conn, EVENTS, 6, &self.0, "recording events")
    }
}

/// Whether `details` are exactly `{"serial":"HEX"}` for `serial` (what reading them by
/// reference gives back).
fn names_only(details: &str, serial: &SerialNumber) -> bool {
    details
        .strip_prefix(r#"{"serial":""#)
        .and_then(|rest| rest.strip_suffix(r#""}"#))
        .is_some_and(|hex| hex == serial.to_hex())
}

/// Moves the cursor forward (never back). Acknowledging past the CA's newest event is refused:
/// it would make the exit silently skip events that do not exist yet.
pub(crate) fn ack_exit(conn: &dyn Db, ack: &AckExit) -> Result<(), StoreError> {
    let seq = seq_to_sql(ack.seq, "outbox sequence number")?;
    let head = head(conn, &ack.ca)?;
    if seq > head {
        return Err(StoreError::StateChanged(format!(
            "exit {:?} of CA {} acknowledged event {seq}, past the newest event {head}",
            ack.exit, ack.ca
        )));
    }
    let now = to_unix(SystemTime::now())?;
    conn.execute(
        UPSERT_CURSOR,
        &params![ack.ca.as_str(), ack.exit, seq, now],
        "recording an exit cursor",
    )?;
    crate::exits::record_success(conn, &ack.ca, &ack.exit, seq)
}
