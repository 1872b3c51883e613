//! Exit delivery state (migration 0005): per-module failure state for retries that survive
//! restarts, and parked events. Reads run on the reader connections, writes on the writer
//! thread (`writer::Op`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use signet_core::{
    CaName, Event, ExitFailure, ExitState, ParkEvent, ParkedEvent, RequestId, StoreError,
};

use crate::codec::{corrupt, seq_to_sql, sql_error, time_column, to_unix};

const STATE: &str = "SELECT s.failing_seq, s.attempts, s.next_attempt_ms, s.last_error, \
    s.last_success_ms FROM exit_state s WHERE s.ca = ?1 AND s.exit = ?2";
const CURSOR: &str = "SELECT seq FROM exit_cursors WHERE ca = ?1 AND exit = ?2";
const PARKED_COUNT: &str = "SELECT COUNT(*) FROM exit_parked WHERE ca = ?1 AND exit = ?2";
const PARKED: &str = "SELECT exit, seq, event, request_id, error, attempts, parked_at \
    FROM exit_parked WHERE ca = ?1 AND (?2 IS NULL OR exit = ?2) ORDER BY seq, exit LIMIT ?3";
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
const INSERT_PARKED: &str = "INSERT OR IGNORE INTO exit_parked \
    (ca, exit, seq, event, request_id, error, attempts, parked_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const MOVE_CURSOR: &str = "INSERT INTO exit_cursors (ca, exit, seq, updated_at) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (ca, exit) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
    WHERE excluded.seq > exit_cursors.seq";
const DELETE_PARKED: &str = "DELETE FROM exit_parked WHERE ca = ?1 AND exit = ?2 AND seq = ?3";

/// Reads the module's cursor, failure state and parked count in one read transaction.
pub(crate) fn exit_state(
    conn: &Connection,
    ca: &CaName,
    exit: &str,
) -> Result<ExitState, StoreError> {
    let row = format!("{ca}/{exit}");
    let cursor: i64 = conn
        .prepare_cached(CURSOR)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), exit], |r| r.get(0))
                .optional()
        })
        .map_err(sql_error("reading an exit cursor"))?
        .unwrap_or(0);
    let cursor =
        u64::try_from(cursor).map_err(|_| corrupt("exit_cursors", &row, "seq", "negative"))?;
    type Raw = (i64, i64, Option<i64>, Option<String>, Option<i64>);
    let state: Option<Raw> = conn
        .prepare_cached(STATE)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), exit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(sql_error("reading an exit's delivery state"))?;
    let parked: i64 = conn
        .prepare_cached(PARKED_COUNT)
        .and_then(|mut s| s.query_row(params![ca.as_str(), exit], |r| r.get(0)))
        .map_err(sql_error("counting parked events"))?;
    let mut out = ExitState {
        cursor,
        parked: u64::try_from(parked).unwrap_or(0),
        ..ExitState::default()
    };
    if let Some((failing, attempts, next, error, success)) = state {
        let failing = u64::try_from(failing)
            .map_err(|_| corrupt("exit_state", &row, "failing_seq", "negative"))?;
        out.last_success_at = success.and_then(from_millis);
        // A failure on an event the cursor has passed (parked or skipped meanwhile) is over.
        if failing > cursor {
            out.failing_seq = failing;
            out.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            out.next_attempt_at = next.and_then(from_millis);
            out.last_error = error;
        }
    }
    Ok(out)
}

pub(crate) fn parked_events(
    conn: &Connection,
    ca: &CaName,
    exit: Option<&str>,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    type Raw = (String, i64, i64, Option<i64>, String, i64, i64);
    let rows: Vec<Raw> = conn
        .prepare_cached(PARKED)
        .and_then(|mut s| {
            s.query_map(params![ca.as_str(), exit, i64::from(limit)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect()
        })
        .map_err(sql_error("reading parked events"))?;
    rows.into_iter()
        .map(|(exit, seq, event, request_id, error, attempts, at)| {
            let bad = |column: &str, problem: &str| corrupt("exit_parked", seq, column, problem);
            Ok(ParkedEvent {
                ca: ca.clone(),
                seq: u64::try_from(seq).map_err(|_| bad("seq", "negative"))?,
                event: u32::try_from(event)
                    .ok()
                    .and_then(Event::from_bit)
                    .ok_or_else(|| bad("event", &format!("unknown event bit {event:#x}")))?,
                request_id: request_id
                    .map(RequestId::new)
                    .transpose()
                    .map_err(|e| bad("request_id", &e.to_string()))?,
                error,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                parked_at: time_column("exit_parked", seq, "parked_at", at)?,
                exit,
            })
        })
        .collect()
}

/// On the writer: the cursor moved after a delivery, so the module is not failing up to `seq`.
pub(crate) fn record_success(
    conn: &Connection,
    ca: &CaName,
    exit: &str,
    seq: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(UPSERT_SUCCESS)
        .and_then(|mut s| s.execute(params![ca.as_str(), exit, millis(SystemTime::now())]))
        .map_err(sql_error("recording an exit delivery"))?;
    conn.prepare_cached(CLEAR_FAILURE)
        .and_then(|mut s| s.execute(params![ca.as_str(), exit, seq]))
        .map_err(sql_error("recording an exit delivery"))?;
    Ok(())
}

pub(crate) fn exit_failed(conn: &Connection, f: &ExitFailure) -> Result<(), StoreError> {
    let seq = seq_to_sql(f.seq, "outbox sequence number")?;
    conn.prepare_cached(UPSERT_FAILURE)
        .and_then(|mut s| {
            s.execute(params![
                f.ca.as_str(),
                f.exit,
                seq,
                i64::from(f.attempts),
                millis(f.next_attempt_at),
                f.error
            ])
        })
        .map_err(sql_error("recording an exit failure"))?;
    Ok(())
}

pub(crate) fn park_event(conn: &Connection, p: &ParkEvent) -> Result<(), StoreError> {
    let seq = seq_to_sql(p.seq, "outbox sequence number")?;
    let at = to_unix(p.at)?;
    conn.prepare_cached(INSERT_PARKED)
        .and_then(|mut s| {
            s.execute(params![
                p.ca.as_str(),
                p.exit,
                seq,
                p.event.bit(),
                p.request_id.map(RequestId::get),
                p.error,
                i64::from(p.attempts),
                at
            ])
        })
        .map_err(sql_error("parking an event"))?;
    conn.prepare_cached(MOVE_CURSOR)
        .and_then(|mut s| s.execute(params![p.ca.as_str(), p.exit, seq, at]))
        .map_err(sql_error("moving an exit cursor"))?;
    conn.prepare_cached(CLEAR_FAILURE)
        .and_then(|mut s| s.execute(params![p.ca.as_str(), p.exit, seq]))
        .map_err(sql_error("clearing an exit failure"))?;
    for record in &p.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

pub(crate) fn unpark_event(
    conn: &Connection,
    ca: &CaName,
    exit: &str,
    seq: u64,
    audit: &[signet_core::NewAudit],
) -> Result<(), StoreError> {
    let seq_sql = seq_to_sql(seq, "outbox sequence number")?;
    let changed = conn
        .prepare_cached(DELETE_PARKED)
        .and_then(|mut s| s.execute(params![ca.as_str(), exit, seq_sql]))
        .map_err(sql_error("removing a parked event"))?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "event {seq} is not parked for exit {exit:?} of CA {ca}"
        )));
    }
    for record in audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_millis(ms: i64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))
}
