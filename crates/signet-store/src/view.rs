//! ICertView and the console's figures: requests by any combination of filters, the
//! certificate history a profile asks for, and a CA's dashboard statistics. All reads.

use std::collections::HashMap;

use signet_core::StatisticsQuery;
use signet_core::overview::{CaStatistics, ExpiringCertificate};
use signet_core::{
    CaName, CertificateHistory, HeldCertificate, HistoryQuery, RequestRecord, RequestStatus,
    StoreError, ViewQuery,
};

use crate::codec::{corrupt, from_unix, to_unix};
use crate::db::{Db, Dialect, Param, query_one, query_values};

const STATISTICS: &str = "reading the statistics";
use crate::params;
use crate::requests::RequestRow;
use crate::row::{Columns, FromRow, Statement, query_all, select};

/// ICertView: the filters of [`ViewQuery`] as one statement with bound parameters (never
/// spliced text), ordered by id.
pub(crate) fn view_requests(
    conn: &dyn Db,
    ca: &CaName,
    q: &ViewQuery,
) -> Result<Vec<RequestRecord>, StoreError> {
    let mut sql = select::<RequestRow>(
        "FROM requests r LEFT JOIN certificates c ON c.request_id = r.id WHERE r.ca = ?1",
    );
    let mut args: Vec<Param<'static>> = vec![Param::Text(ca.as_str().to_string().into())];
    let mut push = |sql: &mut String, clause: &str, v: Param<'static>| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(status) = q.status {
        push(
            &mut sql,
            " AND r.status = ?",
            Param::Text(status.as_str().to_owned().into()),
        );
    }
    if let Some(p) = &q.profile {
        push(
            &mut sql,
            " AND r.profile = ?",
            Param::Text((p.clone()).into()),
        );
    }
    if let Some(who) = &q.requester {
        push(
            &mut sql,
            " AND r.requester = ?",
            Param::Text((who.clone()).into()),
        );
    }
    if let Some(text) = &q.text {
        // The position of a substring in lower-cased text: a match with no LIKE wildcards
        // to escape.
        let position = match conn.dialect() {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        let needle = text.to_lowercase();
        push(
            &mut sql,
            &format!(" AND ({position}(lower(r.subject), ?) > 0"),
            Param::Text(needle.clone().into()),
        );
        push(
            &mut sql,
            &format!(" OR {position}(lower(coalesce(c.sans, '')), ?) > 0)"),
            Param::Text(needle.into()),
        );
    }
    if let Some(serial) = &q.serial {
        push(
            &mut sql,
            " AND c.serial = ?",
            Param::Text((serial.to_hex()).into()),
        );
    }
    let time = |t: std::time::SystemTime| to_unix(t).map(Param::Int);
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
        push(&mut sql, clause, Param::Int(after.get()));
    }
    let order = if q.newest_first {
        " ORDER BY r.id DESC LIMIT ?"
    } else {
        " ORDER BY r.id LIMIT ?"
    };
    push(&mut sql, order, Param::Int(i64::from(q.limit)));
    let rows: Vec<RequestRow> = query_all(conn, &sql, &args, "querying requests")?;
    rows.into_iter().map(|r| r.into_record(conn)).collect()
}

impl FromRow for HeldCertificate {
    const COLUMNS: &'static str = "c.id, c.subject, c.sans, c.not_after";
    const TABLE: &'static str = "certificates";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<HeldCertificate, StoreError> {
        let id: i64 = c.next("id")?;
        c.key(id);
        Ok(HeldCertificate {
            subject: c.next("subject")?,
            sans: c.sans("sans")?,
            not_after: c.time("not_after")?,
        })
    }
}

/// The requesters of every certificate for a key (any CA); NULL: anonymous or imported.
const KEY_HOLDERS: &str = "SELECT DISTINCT r.requester FROM certificates c \
    JOIN requests r ON r.id = c.request_id WHERE c.spki_sha256 = ?1 LIMIT 64";
/// A requester's certificates from one CA under one profile that are valid at ?4.
static HELD: Statement = Statement::new(|| {
    select::<HeldCertificate>(
        "FROM requests r JOIN certificates c ON c.request_id = r.id \
         WHERE r.ca = ?1 AND r.requester = ?2 AND r.profile = ?3 \
         AND c.revoked_at IS NULL AND c.not_before <= ?4 AND c.not_after > ?4 \
         ORDER BY c.id DESC LIMIT ?5",
    )
});

pub(crate) fn certificate_history(
    conn: &dyn Db,
    q: &HistoryQuery,
) -> Result<CertificateHistory, StoreError> {
    let mut history = CertificateHistory::default();
    if q.key_holders {
        history.key_holders = query_values(
            conn,
            KEY_HOLDERS,
            &params![q.spki_sha256.as_slice()],
            "reading the certificates of a key",
        )?;
    }
    if q.held
        && let Some(requester) = &q.requester
    {
        history.held = query_all(
            conn,
            &HELD,
            &params![
                q.ca.as_str(),
                requester,
                q.profile.as_str(),
                to_unix(q.now)?,
                CertificateHistory::MAX_HELD
            ],
            "reading a requester's certificates",
        )?;
    }
    Ok(history)
}

impl FromRow for ExpiringCertificate {
    const COLUMNS: &'static str = "request_id, serial, subject, not_after";
    const TABLE: &'static str = "certificates";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<ExpiringCertificate, StoreError> {
        let request_id = c.request_id("request_id")?;
        c.key(request_id);
        Ok(ExpiringCertificate {
            request_id,
            serial: c.serial("serial")?,
            subject: c.next("subject")?,
            not_after: c.time("not_after")?,
        })
    }
}

// The dashboard's counts are running counts kept by triggers (migration 0016): a few rows
// per CA, whatever the store's size.
const STATUS_COUNTS: &str = "SELECT kind, CAST(sum(n) AS BIGINT) FROM ca_counts \
    WHERE ca = ?1 AND kind IN ('pending', 'issued', 'denied', 'failed', 'revoked') GROUP BY kind";
// Issued per day by the time the CA issued them (the request's resolved_at), not notBefore,
// which profiles backdate (or a policy may postdate). Revoked requests were issued too.
const ISSUED_PER_DAY: &str = "SELECT bucket, CAST(sum(n) AS BIGINT) FROM ca_counts \
    WHERE ca = ?1 AND kind IN ('issued', 'revoked') AND bucket >= ?2 GROUP BY bucket";
// Certificates not revoked whose validity ends in whole hours [?2, ?3).
const VALID_UNTIL_HOURS: &str = "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM ca_counts \
    WHERE ca = ?1 AND kind = 'valid-hour' AND bucket >= ?2 AND bucket < ?3";
// The certificates that expire soonest, along the (ca, not_after) index.
static EXPIRING_SOONEST: Statement = Statement::new(|| {
    select::<ExpiringCertificate>(
        "FROM certificates INDEXED BY certificates_ca_not_after \
         WHERE ca = ?1 AND not_after > ?2 AND not_after <= ?3 AND revoked_at IS NULL \
         ORDER BY not_after LIMIT ?4",
    )
});
// The same count row by row, for the parts of the window that are not whole hours.
const EXPIRING: &str = "SELECT count(*) FROM certificates INDEXED BY certificates_ca_not_after \
    WHERE ca = ?1 AND not_after > ?2 AND not_after <= ?3 AND revoked_at IS NULL";
const AUDIT_HEAD: &str = "SELECT coalesce(max(seq), 0) FROM audit";

/// The newest audit record's sequence number (0: none).
pub(crate) fn audit_head(conn: &dyn Db) -> Result<u64, StoreError> {
    let head: i64 = query_one(conn, AUDIT_HEAD, &params![], "reading the audit head")?;
    Ok(u64::try_from(head).unwrap_or(0))
}

/// How many of the newest audit records [`newest_time`] looks at. Records are appended in
/// time order while the clock is right; a clock that went back dates only the few records
/// written while the engine refuses to sign (a start, a sign-in, an officer's action), so the
/// newest right time stays among these unless that many such records follow it.
const NEWEST_TIME_RECORDS: i64 = 4096;
// Along the primary key (seq) on both backends: at most NEWEST_TIME_RECORDS rows.
const NEWEST_TIME: &str = "SELECT coalesce(max(at), 0) FROM \
    (SELECT at FROM audit ORDER BY seq DESC LIMIT ?1) AS newest";

/// The latest time among the newest audit records (the epoch: none).
pub(crate) fn newest_time(conn: &dyn Db) -> Result<std::time::SystemTime, StoreError> {
    let at: i64 = query_one(
        conn,
        NEWEST_TIME,
        &params![NEWEST_TIME_RECORDS],
        "reading the newest time on record",
    )?;
    Ok(from_unix(at.max(0)).unwrap_or(std::time::UNIX_EPOCH))
}

/// Certificates of `ca` not revoked whose validity ends in `(now, until]`: the whole hours
/// inside the window from the running counts, the two partial hours at its ends row by row
/// along the (ca, not_after) index (at most two hours' certificates, whatever the store's
/// size).
fn expiring_count(conn: &dyn Db, ca: &str, now: i64, until: i64) -> Result<i64, StoreError> {
    let rows = |from: i64, to: i64| -> Result<i64, StoreError> {
        query_one(conn, EXPIRING, &params![ca, from, to], STATISTICS)
    };
    // The first whole hour after `now`, and the hour `until` falls in.
    let first = now - now.rem_euclid(3600) + 3600;
    let last = until - until.rem_euclid(3600);
    if last <= first {
        return rows(now, until);
    }
    let whole: i64 = query_one(
        conn,
        VALID_UNTIL_HOURS,
        &params![ca, first, last],
        STATISTICS,
    )?;
    // (now, first) and [last, until]: `EXPIRING` bounds are (from, to].
    Ok(rows(now, first - 1)? + whole + rows(last - 1, until)?)
}

/// The console dashboard's figures (see [`StatisticsQuery`]).
pub(crate) fn ca_statistics(
    conn: &dyn Db,
    query: &StatisticsQuery,
) -> Result<CaStatistics, StoreError> {
    let ca = query.ca.as_str();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut counts = HashMap::new();
    for (status, n) in query_values::<(String, i64)>(conn, STATUS_COUNTS, &params![ca], STATISTICS)?
    {
        let status = status
            .parse::<RequestStatus>()
            .map_err(|e| corrupt("requests", ca, "status", &e.to_string()))?;
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
    let per_day: HashMap<i64, i64> =
        query_values::<(i64, i64)>(conn, ISSUED_PER_DAY, &params![ca, from], STATISTICS)?
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
    let expiring = expiring_count(conn, ca, now, until)?;
    let expiring_soonest = query_all(
        conn,
        &EXPIRING_SOONEST,
        &params![ca, now, until, i64::from(query.expiring_list)],
        "reading the statistics",
    )?;
    Ok(CaStatistics {
        by_status,
        issued_per_day,
        expiring: count(expiring),
        expiring_soonest,
        audit_head: audit_head(conn)?,
    })
}
