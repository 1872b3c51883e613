//! Reads: a few threads, each with its own read-only connection (opened on its first job),
//! fed by one job channel. WAL lets them read while the writer commits; each query sees the
//! database as of its last commit, so a write whose future resolved is visible to every read
//! started after it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use futures_channel::oneshot;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use signet_core::StatisticsQuery;
use signet_core::overview::{CaStatistics, ExpiringCertificate};
use signet_core::{
    Approval, AuditRecord, CaName, CertificateRecord, Event, ExtensionOrigin, OutboxEvent,
    ProfileName, RequestId, RequestRecord, RequestStatus, Roles, SerialNumber, StoreError,
    StoredExtension, TokenRecord, ViewQuery,
};

use crate::codec::{corrupt, from_unix, sql_error, time_column, to_unix};

type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) + Send + 'static>;

/// The reader threads and their job channel.
pub(crate) struct Readers {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    /// Starts `count` reader threads for the database at `path`.
    pub(crate) fn start(path: &Path, count: usize) -> Result<Readers, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let rx = Arc::clone(&rx);
            let path = path.to_path_buf();
            let t = thread::Builder::new()
                .name(format!("signet-store-read-{i}"))
                .spawn(move || serve(&path, &rx))
                .map_err(|e| {
                    StoreError::Backend(format!("could not start a reader thread: {e}"))
                })?;
            threads.push(t);
        }
        Ok(Readers {
            jobs: Some(tx),
            threads,
        })
    }

    /// Runs `f` on a reader thread's connection; the future resolves with its result.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => f(conn),
                Err(e) => Err(StoreError::Backend(format!(
                    "could not open a read connection: {e}"
                ))),
            };
            let _ = reply.send(result);
        });
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job)
            .map_err(|_| StoreError::Backend("the storage reader threads have stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Backend("a storage reader thread stopped before answering".into())
        })?
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a storage reader thread panicked");
            }
        }
    }
}

/// One reader thread: takes jobs until the channel closes.
fn serve(path: &Path, rx: &Mutex<mpsc::Receiver<Job>>) {
    let mut conn: Option<Connection> = None;
    loop {
        // Hold the lock only while taking a job.
        let job = match rx.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if conn.is_none() {
            match open_read_only(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    job(Err(&e));
                    continue;
                }
            }
        }
        if let Some(c) = &conn {
            // A panicking query loses its reply (the caller sees an error); the thread and its
            // connection stay usable.
            let run = std::panic::AssertUnwindSafe(|| job(Ok(c)));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!("a storage read panicked");
            }
        }
    }
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(sql_error("opening the database"))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(sql_error("setting busy_timeout"))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

// ---- Queries ----------------------------------------------------------------------------

/// The `requests` columns every request query reads, in [`RequestRow::from_row`] order.
macro_rules! select_requests {
    () => {
        "SELECT id, ca, status, format, raw, requester, profile, subject, submitted_at, \
         resolved_at, message, version FROM requests "
    };
}
const GET_REQUEST: &str = concat!(select_requests!(), "WHERE id = ?1 AND ca = ?2");
const LIST_BY_STATUS: &str = concat!(
    select_requests!(),
    "WHERE ca = ?1 AND status = ?2 ORDER BY id LIMIT ?3"
);
const LIST_ALL: &str = concat!(select_requests!(), "WHERE ca = ?1 ORDER BY id LIMIT ?2");
const ATTRIBUTES: &str =
    "SELECT name, value FROM request_attributes WHERE request_id = ?1 ORDER BY position";
const EXTENSIONS: &str = "SELECT position, oid, critical, disabled, origin, value \
    FROM request_extensions WHERE request_id = ?1 ORDER BY position";
const CERTIFICATE: &str = "SELECT id, serial, der, subject, sans, not_before, not_after, \
    revoked_at, revocation_reason, invalidity_date \
    FROM certificates WHERE request_id = ?1 ORDER BY id LIMIT 1";
const APPROVALS: &str =
    "SELECT approver, at FROM approvals WHERE request_id = ?1 ORDER BY at, approver";
const BY_SERIAL: &str = "SELECT request_id FROM certificates WHERE ca = ?1 AND serial = ?2";
const TOKENS: &str = "SELECT id, name, hash, roles, cas, groups, created_at, created_by, \
    expires_at, revoked_at FROM tokens ORDER BY id";
const OUTBOX_AFTER: &str = "SELECT seq, event, request_id, at, details FROM outbox \
    WHERE ca = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
const OUTBOX_HEAD: &str = "SELECT seq FROM outbox WHERE ca = ?1 ORDER BY seq DESC LIMIT 1";
const EXIT_CURSOR: &str = "SELECT seq FROM exit_cursors WHERE ca = ?1 AND exit = ?2";

/// A `requests` row as stored, before its values are parsed into domain types.
struct RequestRow {
    id: i64,
    ca: String,
    status: String,
    format: String,
    raw: Vec<u8>,
    requester: Option<String>,
    profile: Option<String>,
    subject: String,
    submitted_at: i64,
    resolved_at: Option<i64>,
    message: Option<String>,
    version: i64,
}

impl RequestRow {
    /// Reads the columns in `select_requests!` order.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
        Ok(RequestRow {
            id: r.get(0)?,
            ca: r.get(1)?,
            status: r.get(2)?,
            format: r.get(3)?,
            raw: r.get(4)?,
            requester: r.get(5)?,
            profile: r.get(6)?,
            subject: r.get(7)?,
            submitted_at: r.get(8)?,
            resolved_at: r.get(9)?,
            message: r.get(10)?,
            version: r.get(11)?,
        })
    }

    /// Parses the row and loads its attributes, extensions and certificate.
    fn into_record(self, conn: &Connection) -> Result<RequestRecord, StoreError> {
        let bad = |column: &str, problem: &str| corrupt("requests", self.id, column, problem);
        let id = RequestId::new(self.id).map_err(|e| bad("id", &e.to_string()))?;
        let ca = CaName::new(&self.ca).map_err(|e| bad("ca", &e.to_string()))?;
        let status: RequestStatus = self.status.parse().map_err(|e: String| bad("status", &e))?;
        let profile = self
            .profile
            .as_deref()
            .map(ProfileName::new)
            .transpose()
            .map_err(|e| bad("profile", &e.to_string()))?;
        let submitted_at = time_column("requests", self.id, "submitted_at", self.submitted_at)?;
        let resolved_at = self
            .resolved_at
            .map(|t| time_column("requests", self.id, "resolved_at", t))
            .transpose()?;
        Ok(RequestRecord {
            id,
            ca,
            status,
            profile,
            requester: self.requester,
            format: self.format,
            raw: self.raw,
            subject: self.subject,
            submitted_at,
            resolved_at,
            message: self.message,
            attributes: attributes(conn, self.id)?,
            extensions: extensions(conn, self.id)?,
            certificate: certificate(conn, self.id)?,
            approvals: approvals(conn, self.id)?,
            version: u64::try_from(self.version).map_err(|_| bad("version", "negative"))?,
        })
    }
}

pub(crate) fn get_request(
    conn: &Connection,
    ca: &CaName,
    id: RequestId,
) -> Result<Option<RequestRecord>, StoreError> {
    let row = conn
        .prepare_cached(GET_REQUEST)
        .and_then(|mut s| {
            s.query_row(params![id.get(), ca.as_str()], RequestRow::from_row)
                .optional()
        })
        .map_err(sql_error("reading a request"))?;
    row.map(|r| r.into_record(conn)).transpose()
}

pub(crate) fn list_requests(
    conn: &Connection,
    ca: &CaName,
    status: Option<RequestStatus>,
    limit: u32,
) -> Result<Vec<RequestRecord>, StoreError> {
    let rows: Vec<RequestRow> = match status {
        Some(status) => conn.prepare_cached(LIST_BY_STATUS).and_then(|mut s| {
            s.query_map(
                params![ca.as_str(), status.as_str(), i64::from(limit)],
                RequestRow::from_row,
            )?
            .collect()
        }),
        None => conn.prepare_cached(LIST_ALL).and_then(|mut s| {
            s.query_map(params![ca.as_str(), i64::from(limit)], RequestRow::from_row)?
                .collect()
        }),
    }
    .map_err(sql_error("listing requests"))?;
    rows.into_iter().map(|r| r.into_record(conn)).collect()
}

fn attributes(conn: &Connection, request_id: i64) -> Result<Vec<(String, String)>, StoreError> {
    conn.prepare_cached(ATTRIBUTES)
        .and_then(|mut s| {
            s.query_map(params![request_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql_error("reading request attributes"))
}

fn extensions(conn: &Connection, request_id: i64) -> Result<Vec<StoredExtension>, StoreError> {
    type Raw = (i64, String, bool, bool, String, Vec<u8>);
    let rows: Vec<Raw> = conn
        .prepare_cached(EXTENSIONS)
        .and_then(|mut s| {
            s.query_map(params![request_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect()
        })
        .map_err(sql_error("reading request extensions"))?;
    rows.into_iter()
        .map(|(position, oid, critical, disabled, origin, value)| {
            let origin = ExtensionOrigin::parse(&origin).ok_or_else(|| {
                corrupt(
                    "request_extensions",
                    request_id,
                    "origin",
                    &format!("unknown origin {origin:?} at position {position}"),
                )
            })?;
            Ok(StoredExtension {
                oid,
                critical,
                disabled,
                origin,
                value,
            })
        })
        .collect()
}

fn certificate(
    conn: &Connection,
    request_id: i64,
) -> Result<Option<CertificateRecord>, StoreError> {
    type Raw = (
        (i64, String, Vec<u8>, String, String, i64, i64),
        (Option<i64>, Option<i64>, Option<i64>),
    );
    let raw: Option<Raw> = conn
        .prepare_cached(CERTIFICATE)
        .and_then(|mut s| {
            s.query_row(params![request_id], |r| {
                Ok((
                    (
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ),
                    (r.get(7)?, r.get(8)?, r.get(9)?),
                ))
            })
            .optional()
        })
        .map_err(sql_error("reading a certificate"))?;
    let Some(((id, serial, der, subject, sans, not_before, not_after), revoked)) = raw else {
        return Ok(None);
    };
    let bad = |column: &str, problem: &str| corrupt("certificates", id, column, problem);
    let serial: SerialNumber = serial.parse().map_err(|e| bad("serial", &format!("{e}")))?;
    let sans: Vec<String> = serde_json::from_str(&sans)
        .map_err(|e| bad("sans", &format!("not a JSON array of strings: {e}")))?;
    Ok(Some(CertificateRecord {
        serial,
        der,
        subject,
        sans,
        not_before: time_column("certificates", id, "not_before", not_before)?,
        not_after: time_column("certificates", id, "not_after", not_after)?,
        revocation: crate::revocation::revocation_columns(&id, revoked.0, revoked.1, revoked.2)?,
    }))
}

fn approvals(conn: &Connection, request_id: i64) -> Result<Vec<Approval>, StoreError> {
    let rows: Vec<(String, i64)> = conn
        .prepare_cached(APPROVALS)
        .and_then(|mut s| {
            s.query_map(params![request_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql_error("reading approvals"))?;
    rows.into_iter()
        .map(|(approver, at)| {
            Ok(Approval {
                approver,
                at: time_column("approvals", request_id, "at", at)?,
            })
        })
        .collect()
}

/// ICertView: the filters of [`ViewQuery`] as one statement with bound parameters (never
/// spliced text), ordered by id.
pub(crate) fn view_requests(
    conn: &Connection,
    ca: &CaName,
    q: &ViewQuery,
) -> Result<Vec<RequestRecord>, StoreError> {
    use rusqlite::types::Value;
    let mut sql = String::from(concat!(
        "SELECT r.id, r.ca, r.status, r.format, r.raw, r.requester, r.profile, r.subject, ",
        "r.submitted_at, r.resolved_at, r.message, r.version FROM requests r ",
        "LEFT JOIN certificates c ON c.request_id = r.id WHERE r.ca = ?1"
    ));
    let mut args: Vec<Value> = vec![Value::Text(ca.as_str().to_string())];
    let mut push = |sql: &mut String, clause: &str, v: Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(status) = q.status {
        push(
            &mut sql,
            " AND r.status = ?",
            Value::Text(status.as_str().into()),
        );
    }
    if let Some(p) = &q.profile {
        push(&mut sql, " AND r.profile = ?", Value::Text(p.clone()));
    }
    if let Some(who) = &q.requester {
        push(&mut sql, " AND r.requester = ?", Value::Text(who.clone()));
    }
    if let Some(text) = &q.text {
        // instr() on lower-cased text: a substring match with no LIKE wildcards to escape.
        let needle = text.to_lowercase();
        push(
            &mut sql,
            " AND (instr(lower(r.subject), ?) > 0",
            Value::Text(needle.clone()),
        );
        push(
            &mut sql,
            " OR instr(lower(coalesce(c.sans, '')), ?) > 0)",
            Value::Text(needle),
        );
    }
    if let Some(serial) = &q.serial {
        push(&mut sql, " AND c.serial = ?", Value::Text(serial.to_hex()));
    }
    let time = |t: std::time::SystemTime| to_unix(t).map(Value::Integer);
    if let Some(t) = q.submitted_after {
        push(&mut sql, " AND r.submitted_at >= ?", time(t)?);
    }
    if let Some(t) = q.submitted_before {
        push(&mut sql, " AND r.submitted_at < ?", time(t)?);
    }
    if let Some(t) = q.issued_after {
        push(&mut sql, " AND c.not_before >= ?", time(t)?);
    }
    if let Some(t) = q.issued_before {
        push(&mut sql, " AND c.not_before < ?", time(t)?);
    }
    if let Some(t) = q.expiring_before {
        push(
            &mut sql,
            " AND c.revoked_at IS NULL AND c.not_after < ?",
            time(t)?,
        );
        push(
            &mut sql,
            " AND c.not_after >= ?",
            time(std::time::SystemTime::now())?,
        );
    }
    if q.certificates_only {
        sql.push_str(" AND c.id IS NOT NULL");
    }
    if let Some(after) = q.after_id {
        let clause = if q.newest_first {
            " AND r.id < ?"
        } else {
            " AND r.id > ?"
        };
        push(&mut sql, clause, Value::Integer(after.get()));
    }
    let order = if q.newest_first {
        " ORDER BY r.id DESC LIMIT ?"
    } else {
        " ORDER BY r.id LIMIT ?"
    };
    push(&mut sql, order, Value::Integer(i64::from(q.limit)));
    let rows: Vec<RequestRow> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(args), RequestRow::from_row)?
                .collect()
        })
        .map_err(sql_error("querying requests"))?;
    rows.into_iter().map(|r| r.into_record(conn)).collect()
}

pub(crate) fn request_by_serial(
    conn: &Connection,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<RequestRecord>, StoreError> {
    let id: Option<i64> = conn
        .prepare_cached(BY_SERIAL)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), serial.to_hex()], |r| r.get(0))
                .optional()
        })
        .map_err(sql_error("finding a certificate"))?;
    match id {
        Some(id) => {
            let id = RequestId::new(id)
                .map_err(|e| corrupt("certificates", id, "request_id", &e.to_string()))?;
            get_request(conn, ca, id)
        }
        None => Ok(None),
    }
}

const PENDING_OF: &str = "SELECT count(*) FROM requests \
    WHERE ca = ?1 AND status = 'pending' AND requester = ?2 COLLATE NOCASE";
const PENDING_ANONYMOUS: &str =
    "SELECT count(*) FROM requests WHERE ca = ?1 AND status = 'pending' AND requester IS NULL";

/// How many requests of one requester (`None`: anonymous) are pending on a CA.
pub(crate) fn pending_count(
    conn: &Connection,
    ca: &CaName,
    requester: Option<&str>,
) -> Result<u64, StoreError> {
    let count: i64 = match requester {
        Some(r) => conn
            .prepare_cached(PENDING_OF)
            .and_then(|mut s| s.query_row(params![ca.as_str(), r], |row| row.get(0))),
        None => conn
            .prepare_cached(PENDING_ANONYMOUS)
            .and_then(|mut s| s.query_row(params![ca.as_str()], |row| row.get(0))),
    }
    .map_err(sql_error("counting pending requests"))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The requesters of every certificate for a key (any CA); NULL: anonymous or imported.
const KEY_HOLDERS: &str = "SELECT DISTINCT r.requester FROM certificates c \
    JOIN requests r ON r.id = c.request_id WHERE c.spki_sha256 = ?1 LIMIT 64";
/// A requester's certificates from one CA under one profile that are valid at ?4.
const HELD: &str = "SELECT c.subject, c.sans, c.not_after FROM requests r \
    JOIN certificates c ON c.request_id = r.id \
    WHERE r.ca = ?1 AND r.requester = ?2 AND r.profile = ?3 \
    AND c.revoked_at IS NULL AND c.not_before <= ?4 AND c.not_after > ?4 \
    ORDER BY c.id DESC LIMIT ?5";

pub(crate) fn certificate_history(
    conn: &Connection,
    q: &signet_core::HistoryQuery,
) -> Result<signet_core::CertificateHistory, StoreError> {
    let mut history = signet_core::CertificateHistory::default();
    if q.key_holders {
        history.key_holders = conn
            .prepare_cached(KEY_HOLDERS)
            .and_then(|mut s| {
                s.query_map(params![q.spki_sha256.as_slice()], |r| r.get(0))?
                    .collect::<Result<Vec<Option<String>>, _>>()
            })
            .map_err(sql_error("reading the certificates of a key"))?;
    }
    if q.held
        && let Some(requester) = &q.requester
    {
        let now = to_unix(q.now)?;
        let rows: Vec<(String, String, i64)> = conn
            .prepare_cached(HELD)
            .and_then(|mut s| {
                s.query_map(
                    params![
                        q.ca.as_str(),
                        requester,
                        q.profile.as_str(),
                        now,
                        signet_core::CertificateHistory::MAX_HELD
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect()
            })
            .map_err(sql_error("reading a requester's certificates"))?;
        for (subject, sans, not_after) in rows {
            let sans: Vec<String> = serde_json::from_str(&sans).map_err(|e| {
                corrupt(
                    "certificates",
                    &subject,
                    "sans",
                    &format!("not a JSON array of strings: {e}"),
                )
            })?;
            history.held.push(signet_core::HeldCertificate {
                subject,
                sans,
                not_after: time_column("certificates", 0, "not_after", not_after)?,
            });
        }
    }
    Ok(history)
}

pub(crate) fn list_tokens(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    type Raw = (
        i64,
        String,
        Vec<u8>,
        String,
        String,
        String,
        i64,
        String,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Raw> = conn
        .prepare_cached(TOKENS)
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect()
        })
        .map_err(sql_error("reading tokens"))?;
    rows.into_iter()
        .map(
            |(
                id,
                name,
                hash,
                roles,
                cas,
                groups,
                created_at,
                created_by,
                expires_at,
                revoked_at,
            )| {
                let bad = |column: &str, problem: &str| corrupt("tokens", id, column, problem);
                let hash: [u8; 32] = hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("hash", "not 32 bytes"))?;
                let roles = Roles::parse_list(&roles).map_err(|e| bad("roles", &e))?;
                let cas = cas
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(CaName::new)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("cas", &e.to_string()))?;
                let time =
                    |column: &str, t: i64| from_unix(t).ok_or_else(|| bad(column, "out of range"));
                Ok(TokenRecord {
                    id: u64::try_from(id).map_err(|_| bad("id", "negative"))?,
                    name,
                    hash,
                    roles,
                    cas,
                    groups: groups
                        .split(',')
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect(),
                    created_at: time("created_at", created_at)?,
                    created_by,
                    expires_at: expires_at.map(|t| time("expires_at", t)).transpose()?,
                    revoked_at: revoked_at.map(|t| time("revoked_at", t)).transpose()?,
                })
            },
        )
        .collect()
}

pub(crate) fn audit_after(
    conn: &Connection,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows: Vec<crate::audit::RawRecord> = conn
        .prepare_cached(&format!(
            "{}WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            crate::audit::SELECT
        ))
        .and_then(|mut s| {
            s.query_map(
                params![after, i64::from(limit)],
                crate::audit::record_from_row,
            )?
            .collect()
        })
        .map_err(sql_error("reading the audit log"))?;
    rows.into_iter().map(|r| r.into_record()).collect()
}

pub(crate) fn audit_for(conn: &Connection, target: &str) -> Result<Vec<AuditRecord>, StoreError> {
    let rows: Vec<crate::audit::RawRecord> = conn
        .prepare_cached(&format!(
            "{}WHERE target = ?1 ORDER BY seq LIMIT 1000",
            crate::audit::SELECT
        ))
        .and_then(|mut s| {
            s.query_map(params![target], crate::audit::record_from_row)?
                .collect()
        })
        .map_err(sql_error("reading the audit log"))?;
    rows.into_iter().map(|r| r.into_record()).collect()
}

pub(crate) fn outbox_after(
    conn: &Connection,
    ca: &CaName,
    after: u64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    type Raw = (i64, i64, Option<i64>, i64, String);
    // A cursor past what SQLite can hold has nothing after it.
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows: Vec<Raw> = conn
        .prepare_cached(OUTBOX_AFTER)
        .and_then(|mut s| {
            s.query_map(params![ca.as_str(), after, i64::from(limit)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .map_err(sql_error("reading the outbox"))?;
    rows.into_iter()
        .map(|(seq, event, request_id, at, details)| {
            let bad = |column: &str, problem: &str| corrupt("outbox", seq, column, problem);
            let event = u32::try_from(event)
                .ok()
                .and_then(Event::from_bit)
                .ok_or_else(|| bad("event", &format!("unknown event bit {event:#x}")))?;
            let request_id = request_id
                .map(RequestId::new)
                .transpose()
                .map_err(|e| bad("request_id", &e.to_string()))?;
            Ok(OutboxEvent {
                seq: u64::try_from(seq).map_err(|_| bad("seq", "negative"))?,
                ca: ca.clone(),
                event,
                request_id,
                at: time_column("outbox", seq, "at", at)?,
                details,
            })
        })
        .collect()
}

pub(crate) fn outbox_head(conn: &Connection, ca: &CaName) -> Result<u64, StoreError> {
    let head: Option<i64> = conn
        .prepare_cached(OUTBOX_HEAD)
        .and_then(|mut s| s.query_row(params![ca.as_str()], |r| r.get(0)).optional())
        .map_err(sql_error("reading the outbox head"))?;
    let head = head.unwrap_or(0);
    u64::try_from(head).map_err(|_| corrupt("outbox", head, "seq", "negative"))
}

pub(crate) fn exit_cursor(conn: &Connection, ca: &CaName, exit: &str) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .prepare_cached(EXIT_CURSOR)
        .and_then(|mut s| {
            s.query_row(params![ca.as_str(), exit], |r| r.get(0))
                .optional()
        })
        .map_err(sql_error("reading an exit cursor"))?;
    let seq = seq.unwrap_or(0);
    u64::try_from(seq)
        .map_err(|_| corrupt("exit_cursors", format!("{ca}/{exit}"), "seq", "negative"))
}

const STATUS_COUNTS: &str = "SELECT status, count(*) FROM requests INDEXED BY requests_ca_status_id WHERE ca = ?1 GROUP BY status";
// Issued per day by the time the CA issued them (the request's resolved_at), not notBefore,
// which profiles backdate (or a policy may postdate). Revoked requests were issued too. The
// partial index (migration 0006) covers the query.
const ISSUED_PER_DAY: &str = "SELECT (resolved_at - (resolved_at % 86400)) AS day, count(*) \
    FROM requests INDEXED BY requests_ca_issued_at \
    WHERE ca = ?1 AND status IN ('issued', 'revoked') AND resolved_at >= ?2 GROUP BY day";
// The certificates that expire soonest, along the (ca, not_after) index.
const EXPIRING_SOONEST: &str = "SELECT request_id, serial, subject, not_after \
    FROM certificates INDEXED BY certificates_ca_not_after \
    WHERE ca = ?1 AND not_after > ?2 AND not_after <= ?3 AND revoked_at IS NULL \
    ORDER BY not_after LIMIT ?4";
const EXPIRING: &str = "SELECT count(*) FROM certificates INDEXED BY certificates_ca_not_after \
    WHERE ca = ?1 AND not_after > ?2 AND not_after <= ?3 AND revoked_at IS NULL";
const AUDIT_HEAD: &str = "SELECT coalesce(max(seq), 0) FROM audit";

/// The newest audit record's sequence number (0: none).
pub(crate) fn audit_head(conn: &Connection) -> Result<u64, StoreError> {
    let head: i64 = conn
        .prepare_cached(AUDIT_HEAD)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_error("reading the audit head"))?;
    Ok(u64::try_from(head).unwrap_or(0))
}

/// The console dashboard's figures (see [`StatisticsQuery`]).
/// Every row of a statistics query, as a tuple.
fn stat_rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> TryFrom<&'r rusqlite::Row<'r>, Error = rusqlite::Error>,
{
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_map(args, |r| T::try_from(r))?.collect())
        .map_err(sql_error("reading the statistics"))
}

pub(crate) fn ca_statistics(
    conn: &Connection,
    query: &StatisticsQuery,
) -> Result<CaStatistics, StoreError> {
    let ca = query.ca.as_str();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut counts = std::collections::HashMap::new();
    for (status, n) in stat_rows::<(String, i64)>(conn, STATUS_COUNTS, params![ca])? {
        let status = status
            .parse::<RequestStatus>()
            .map_err(|e| corrupt("requests", ca, "status", &e))?;
        counts.insert(status, count(n));
    }
    let by_status = [
        RequestStatus::Pending,
        RequestStatus::Issued,
        RequestStatus::Denied,
        RequestStatus::Failed,
        RequestStatus::Revoked,
    ]
    .into_iter()
    .map(|s| (s, counts.get(&s).copied().unwrap_or(0)))
    .collect();

    let from = to_unix(query.chart_from)?;
    let now = to_unix(query.now)?;
    let per_day: std::collections::HashMap<i64, i64> =
        stat_rows::<(i64, i64)>(conn, ISSUED_PER_DAY, params![ca, from])?
            .into_iter()
            .collect();
    let today = now - now.rem_euclid(86_400);
    let first = from - from.rem_euclid(86_400);
    let issued_per_day = (first..=today)
        .step_by(86_400)
        .filter_map(|day| {
            Some((
                from_unix(day)?,
                count(per_day.get(&day).copied().unwrap_or(0)),
            ))
        })
        .collect();

    let until = to_unix(query.now + query.expiring_within)?;
    let expiring: i64 = conn
        .prepare_cached(EXPIRING)
        .and_then(|mut s| s.query_row(params![ca, now, until], |r| r.get(0)))
        .map_err(sql_error("reading the statistics"))?;
    let limit = i64::from(query.expiring_list);
    let expiring_soonest = stat_rows::<(i64, String, String, i64)>(
        conn,
        EXPIRING_SOONEST,
        params![ca, now, until, limit],
    )?
    .into_iter()
    .map(|(id, serial, subject, not_after)| {
        Ok(ExpiringCertificate {
            request_id: RequestId::new(id)
                .map_err(|e| corrupt("certificates", id, "request_id", &e.to_string()))?,
            serial: serial
                .parse::<SerialNumber>()
                .map_err(|e| corrupt("certificates", id, "serial", &e.to_string()))?,
            subject,
            not_after: from_unix(not_after)
                .ok_or_else(|| corrupt("certificates", id, "not_after", "out of range"))?,
        })
    })
    .collect::<Result<_, StoreError>>()?;
    Ok(CaStatistics {
        by_status,
        issued_per_day,
        expiring: count(expiring),
        expiring_soonest,
        audit_head: audit_head(conn)?,
    })
}
