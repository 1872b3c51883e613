//! Exit delivery state (migration 0005): per-module failure state for retries that survive
//! restarts, and parked events. Reads run on the reader connections, writes on the writer
//! thread (`writer::Op`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::{CaName, ExitFailure, ExitState, ParkEvent, ParkedEvent, RequestId, StoreError};

use crate::codec::{seq_to_sql, to_unix, to_unix_millis};
use crate::db::{Db, query_one};
use crate::params;
use crate::row::{Columns, FromRow, Key, Statement, query_all, query_opt, select};

/// An `exit_state` row: the module's failure state and last success, before it is weighed
/// against the cursor (see [`exit_state`]).
struct StateRow {
    failing_seq: u64,
    attempts: u32,
    next_attempt_ms: Option<i64>,
    last_error: Option<String>,
    last_success_ms: Option<i64>,
}

impl FromRow for StateRow {
    const COLUMNS: &'static str =
        "ca, exit, failing_seq, attempts, next_attempt_ms, last_error, last_success_ms";
    const TABLE: &'static str = "exit_state";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<StateRow, StoreError> {
        let ca: String = c.next("ca")?;
        let exit: String = c.next("exit")?;
        c.key(Key::Text(format!("{ca}/{exit}")));
        Ok(StateRow {
            failing_seq: c.unsigned("failing_seq")?,
            attempts: c.count("attempts")?,
            next_attempt_ms: c.next("next_attempt_ms")?,
            last_error: c.next("last_error")?,
            last_success_ms: c.next("last_success_ms")?,
        })
    }
}

impl FromRow for ParkedEvent {
    const COLUMNS: &'static str = "ca, exit, seq, event, request_id, error, attempts, parked_at";
    const TABLE: &'static str = "exit_parked";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<ParkedEvent, StoreError> {
        let ca = c.ca("ca")?;
        let exit = c.next("exit")?;
        let seq = c.unsigned("seq")?;
        c.key(seq);
        Ok(ParkedEvent {
            ca,
            exit,
            seq,
            event: c.event("event")?,
            request_id: c.opt_request_id("request_id")?,
            error: c.next("error")?,
            attempts: c.count("attempts")?,
            parked_at: c.time("parked_at")?,
        })
    }
}

static STATE: Statement =
    Statement::new(|| select::<StateRow>("FROM exit_state WHERE ca = ?1 AND exit = ?2"));
const PARKED_COUNT: &str = "SELECT COUNT(*) FROM exit_parked WHERE ca = ?1 AND exit = ?2";
static PARKED: Statement = Statement::new(|| {
    select::<ParkedEvent>(
        "FROM exit_parked WHERE ca = ?1 AND (CAST(?2 AS TEXT) IS NULL OR exit = ?2) ORDER BY seq, exit LIMIT ?3",
    )
});
const UPSERT_FAILURE: &str = "INSERT INTO exit_state \
    (ca, exit, failing_seq, attempts, next_attempt_ms, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
    ON CONFLICT (ca, exit) DO UPDATE SET failing_seq = excluded.failing_seq, \
    attempts = excluded.attempts, next_attempt_ms = excluded.next_attempt_ms, \
    last_error = excluded.last_error";
const UPSERT_SUCCESS: &str = "INSERT INTO exit_state (ca, exit, last_success_ms) \
    VALUES (?1, ?2, ?3) \
    ON CONFLICT (ca, exit) DO UPDATE SET last_success_ms = excluded.last_success_ms";
const CLEAR_FAILURE: &str = "UPDATE exit_state SET failing_seq = 0, attempts = 0, \
    next_attempt_ms = NULL, last_error = NULL WHERE ca = ?1 AND exit = ?2 AND failing_seq <= ?3";
const INSERT_PARKED: &str = "INSERT INTO exit_parked \
    (ca, exit, seq, event, request_id, error, attempts, parked_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING";
const MOVE_CURSOR: &str = "INSERT INTO exit_cursors (ca, exit, seq, updated_at) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (ca, exit) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
    WHERE excluded.seq > exit_cursors.seq";
const DELETE_PARKED: &str = "DELETE FROM exit_parked WHERE ca = ?1 AND exit = ?2 AND seq = ?3";

/// Reads the module's cursor, failure state and parked count in one read transaction.
pub(crate) fn exit_state(conn: &dyn Db, ca: &CaName, exit: &str) -> Result<ExitState, StoreError> {
    let cursor = crate::outbox::exit_cursor(conn, ca, exit)?;
    let state: Option<StateRow> = query_opt(
        conn,
        &STATE,
        &params![ca.as_str(), exit],
        "reading an exit's delivery state",
    )?;
    let parked: i64 = query_one(
        conn,
        PARKED_COUNT,
        &params![ca.as_str(), exit],
        "counting parked events",
    )?;
    let mut out = ExitState {
        cursor,
        parked: u64::try_from(parked).unwrap_or(0),
        ..ExitState::default()
    };
    if let Some(state) = state {
        out.last_success_at = state.last_success_ms.and_then(from_millis);
        // A failure on an event the cursor has passed (parked or skipped meanwhile) is over.
        if state.failing_seq > cursor {
            out.failing_seq = state.failing_seq;
            out.attempts = state.attempts;
            out.next_attempt_at = state.next_attempt_ms.and_then(from_millis);
            out.last_error = state.last_error;
        }
    }
    Ok(out)
}

pub(crate) fn parked_events(
    conn: &dyn Db,
    ca: &CaName,
    exit: Option<&str>,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    query_all(
        conn,
        &PARKED,
        &params![ca.as_str(), exit, i64::from(limit)],
        "reading parked events",
    )
}

/// On the writer: the cursor moved after a delivery, so the module is not failing up to `seq`.
pub(crate) fn record_success(
    conn: &dyn Db,
    ca: &CaName,
    exit: &str,
    seq: i64,
) -> Result<(), StoreError> {
    conn.execute(
        UPSERT_SUCCESS,
        &params![ca.as_str(), exit, to_unix_millis(SystemTime::now())],
        "recording an exit delivery",
    )?;
    conn.execute(
        CLEAR_FAILURE,
        &params![ca.as_str(), exit, seq],
        "recording an exit delivery",
    )?;
    Ok(())
}

pub(crate) fn exit_failed(conn: &dyn Db, f: &ExitFailure) -> Result<(), StoreError> {
    let seq = seq_to_sql(f.seq, "outbox sequence number")?;
    conn.execute(
        UPSERT_FAILURE,
        &params![
            f.ca.as_str(),
            f.exit,
            seq,
            i64::from(f.attempts),
            to_unix_millis(f.next_attempt_at),
            f.error
        ],
        "recording an exit failure",
    )?;
    Ok(())
}

pub(crate) fn park_event(conn: &dyn Db, p: &ParkEvent) -> Result<(), StoreError> {
    let seq = seq_to_sql(p.seq, "outbox sequence number")?;
    let at = to_unix(p.at)?;
    conn.execute(
        INSERT_PARKED,
        &params![
            p.ca.as_str(),
            p.exit,
            seq,
            p.event.bit(),
            p.request_id.map(RequestId::get),
            p.error,
            i64::from(p.attempts),
            at
        ],
        "parking an event",
    )?;
    conn.execute(
        MOVE_CURSOR,
        &params![p.ca.as_str(), p.exit, seq, at],
        "moving an exit cursor",
    )?;
    conn.execute(
        CLEAR_FAILURE,
        &params![p.ca.as_str(), p.exit, seq],
        "clearing an exit failure",
    )?;
    crate::audit::append_records(conn, &p.audit)?;
    Ok(())
}

pub(crate) fn unpark_event(
    conn: &dyn Db,
    ca: &CaName,
    exit: &str,
    seq: u64,
    audit: &[signet_core::NewAudit],
) -> Result<(), StoreError> {
    let seq_sql = seq_to_sql(seq, "outbox sequence number")?;
    let changed = conn.execute(
        DELETE_PARKED,
        &params![ca.as_str(), exit, seq_sql],
        "removing a parked event",
    )?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "event {seq} is not parked for exit {exit:?} of CA {ca}"
        )));
    }
    crate::audit::append_records(conn, audit)?;
    Ok(())
}

fn from_millis(ms: i64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))
}
