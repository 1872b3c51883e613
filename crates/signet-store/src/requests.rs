//! Requests: the rows of `requests` with their attributes, extensions (one blob column, see
//! [`crate::extensions`]), approvals and certificate; read on the reader threads, written on
//! the writer thread (`writer::Op`). A request with a certificate stores what it received
//! as a delta against that certificate ([`crate::delta`]).

use signet_core::{
    Approval, CaName, CertificateRecord, NewCertificate, NewRequest, ProfileName, RequestId,
    RequestRecord, RequestStatus, RequestUpdate, SerialNumber, StoreError, StoredExtension,
};

use crate::codec::{corrupt, seq_to_sql, to_unix};
use crate::db::{Db, Dialect, Param, ToParam, insert_rows, query_one, query_value, query_values};
use crate::params;
use crate::row::{Columns, FromRow, Statement, query_all, query_opt, select};

// ---- Reads --------------------------------------------------------------------------------

/// A `requests` row, decoded; its attributes, extensions, certificate and approvals are read
/// by [`RequestRow::into_record`].
pub(crate) struct RequestRow {
    id: RequestId,
    ca: CaName,
    status: RequestStatus,
    format: String,
    /// As received (`raw_form` 0), or a delta against the certificate (1), decoded by
    /// [`RequestRow::into_record`].
    raw: Vec<u8>,
    raw_form: i64,
    requester: Option<String>,
    profile: Option<ProfileName>,
    subject: String,
    submitted_at: std::time::SystemTime,
    resolved_at: Option<std::time::SystemTime>,
    message: Option<String>,
    version: u64,
    /// The extensions blob, decoded with the certificate by [`RequestRow::into_record`].
    extensions: Vec<u8>,
}

impl FromRow for RequestRow {
    const COLUMNS: &'static str = "r.id, r.ca, r.status, r.format, r.raw, r.requester, \
        r.profile, r.subject, r.submitted_at, r.resolved_at, r.message, r.version, \
        r.extensions, r.raw_form";
    const TABLE: &'static str = "requests";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<RequestRow, StoreError> {
        let id = c.request_id("id")?;
        c.key(id);
        Ok(RequestRow {
            id,
            ca: c.ca("ca")?,
            status: {
                let s: String = c.next("status")?;
                s.parse::<RequestStatus>()
                    .map_err(|e| c.bad("status", &e.to_string()))?
            },
            format: c.next("format")?,
            raw: c.next("raw")?,
            requester: c.next("requester")?,
            profile: {
                let p: Option<String> = c.next("profile")?;
                p.as_deref()
                    .map(ProfileName::new)
                    .transpose()
                    .map_err(|e| c.bad("profile", &e.to_string()))?
            },
            subject: c.next("subject")?,
            submitted_at: c.time("submitted_at")?,
            resolved_at: c.opt_time("resolved_at")?,
            message: c.next("message")?,
            version: c.unsigned("version")?,
            extensions: c.next("extensions")?,
            raw_form: c.next("raw_form")?,
        })
    }
}

impl RequestRow {
    /// The record with its attributes, extensions, certificate and approvals.
    pub(crate) fn into_record(self, conn: &dyn Db) -> Result<RequestRecord, StoreError> {
        let id = self.id.get();
        let certificate: Option<CertificateRecord> =
            query_opt(conn, &CERTIFICATE, &params![id], "reading a certificate")?;
        let extensions = crate::extensions::decode(
            &self.extensions,
            certificate.as_ref().map(|c| c.der.as_slice()),
        )
        .map_err(|e| corrupt("requests", id, "extensions", &e.to_string()))?;
        let raw = match self.raw_form {
            RAW_AS_RECEIVED => self.raw,
            RAW_DELTA => {
                crate::delta::decode(&self.raw, certificate.as_ref().map(|c| c.der.as_slice()))
                    .map_err(|e| corrupt("requests", id, "raw", &e.to_string()))?
            }
            other => {
                return Err(corrupt(
                    "requests",
                    id,
                    "raw_form",
                    &format!("unknown form {other}"),
                ));
            }
        };
        Ok(RequestRecord {
            id: self.id,
            ca: self.ca,
            status: self.status,
            profile: self.profile,
            requester: self.requester,
            format: self.format,
            raw,
            subject: self.subject,
            submitted_at: self.submitted_at,
            resolved_at: self.resolved_at,
            message: self.message,
            attributes: query_all::<Attribute>(
                conn,
                &ATTRIBUTES,
                &params![id],
                "reading request attributes",
            )?
            .into_iter()
            .map(|a| (a.0, a.1))
            .collect(),
            extensions,
            certificate,
            approvals: query_all(conn, &APPROVALS, &params![id], "reading approvals")?,
            version: self.version,
        })
    }
}

/// One `request_attributes` row: name and value.
struct Attribute(String, String);

impl FromRow for Attribute {
    const COLUMNS: &'static str = "name, value";
    const TABLE: &'static str = "request_attributes";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<Attribute, StoreError> {
        Ok(Attribute(c.next("name")?, c.next("value")?))
    }
}

impl FromRow for CertificateRecord {
    const COLUMNS: &'static str = "c.id, c.serial, c.der, c.subject, c.sans, c.not_before, \
        c.not_after, c.revoked_at, c.revocation_reason, c.invalidity_date";
    const TABLE: &'static str = "certificates";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<CertificateRecord, StoreError> {
        let id: i64 = c.next("id")?;
        c.key(id);
        Ok(CertificateRecord {
            serial: c.serial("serial")?,
            der: c.next("der")?,
            subject: c.next("subject")?,
            sans: c.sans("sans")?,
            not_before: c.time("not_before")?,
            not_after: c.time("not_after")?,
            revocation: c.revocation()?,
        })
    }
}

impl FromRow for Approval {
    const COLUMNS: &'static str = "request_id, approver, at";
    const TABLE: &'static str = "approvals";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<Approval, StoreError> {
        let request: i64 = c.next("request_id")?;
        c.key(request);
        Ok(Approval {
            approver: c.next("approver")?,
            at: c.time("at")?,
        })
    }
}

static GET_REQUEST: Statement =
    Statement::new(|| select::<RequestRow>("FROM requests r WHERE r.id = ?1 AND r.ca = ?2"));
static LIST_BY_STATUS: Statement = Statement::new(|| {
    select::<RequestRow>("FROM requests r WHERE r.ca = ?1 AND r.status = ?2 ORDER BY r.id LIMIT ?3")
});
static LIST_ALL: Statement = Statement::new(|| {
    select::<RequestRow>("FROM requests r WHERE r.ca = ?1 ORDER BY r.id LIMIT ?2")
});
static ATTRIBUTES: Statement = Statement::new(|| {
    select::<Attribute>("FROM request_attributes WHERE request_id = ?1 ORDER BY position")
});
static CERTIFICATE: Statement = Statement::new(|| {
    select::<CertificateRecord>("FROM certificates c WHERE c.request_id = ?1 ORDER BY c.id LIMIT 1")
});
static APPROVALS: Statement = Statement::new(|| {
    select::<Approval>("FROM approvals WHERE request_id = ?1 ORDER BY at, approver")
});
const BY_SERIAL: &str = "SELECT request_id FROM certificates WHERE ca = ?1 AND serial = ?2";
const PENDING_OF: &str = "SELECT count(*) FROM requests \
    WHERE ca = ?1 AND status = 'pending' AND lower(requester) = lower(?2)";
const PENDING_ANONYMOUS: &str =
    "SELECT count(*) FROM requests WHERE ca = ?1 AND status = 'pending' AND requester IS NULL";

pub(crate) fn get_request(
    conn: &dyn Db,
    ca: &CaName,
    id: RequestId,
) -> Result<Option<RequestRecord>, StoreError> {
    query_opt::<RequestRow>(
        conn,
        &GET_REQUEST,
        &params![id.get(), ca.as_str()],
        "reading a request",
    )?
    .map(|r| r.into_record(conn))
    .transpose()
}

pub(crate) fn list_requests(
    conn: &dyn Db,
    ca: &CaName,
    status: Option<RequestStatus>,
    limit: u32,
) -> Result<Vec<RequestRecord>, StoreError> {
    let rows: Vec<RequestRow> = match status {
        Some(status) => query_all(
            conn,
            &LIST_BY_STATUS,
            &params![ca.as_str(), status.as_str(), i64::from(limit)],
            "listing requests",
        )?,
        None => query_all(
            conn,
            &LIST_ALL,
            &params![ca.as_str(), i64::from(limit)],
            "listing requests",
        )?,
    };
    rows.into_iter().map(|r| r.into_record(conn)).collect()
}

pub(crate) fn request_by_serial(
    conn: &dyn Db,
    ca: &CaName,
    serial: &SerialNumber,
) -> Result<Option<RequestRecord>, StoreError> {
    let id: Option<i64> = query_value(
        conn,
        BY_SERIAL,
        &params![ca.as_str(), serial.to_hex()],
        "finding a certificate",
    )?;
    match id {
        Some(id) => {
            let id = RequestId::new(id).map_err(|e| {
                crate::codec::corrupt("certificates", id, "request_id", &e.to_string())
            })?;
            get_request(conn, ca, id)
        }
        None => Ok(None),
    }
}

/// How many requests of one requester (`None`: anonymous) are pending on a CA.
pub(crate) fn pending_count(
    conn: &dyn Db,
    ca: &CaName,
    requester: Option<&str>,
) -> Result<u64, StoreError> {
    const CONTEXT: &str = "counting pending requests";
    let count: i64 = match requester {
        Some(r) => query_one(conn, PENDING_OF, &params![ca.as_str(), r], CONTEXT)?,
        None => query_one(conn, PENDING_ANONYMOUS, &params![ca.as_str()], CONTEXT)?,
    };
    Ok(u64::try_from(count).unwrap_or(0))
}

/// `requests.raw_form`: the request as received.
const RAW_AS_RECEIVED: i64 = 0;
/// `requests.raw_form`: a delta against the request's first certificate ([`crate::delta`]).
const RAW_DELTA: i64 = 1;

// ---- Writes (on the writer thread) --------------------------------------------------------

/// Where [`insert_rows`] puts requests, their attributes and certificates.
const REQUESTS: &str = "requests (id, ca, status, format, raw, requester, profile, subject, \
    submitted_at, resolved_at, message, extensions, raw_form)";
const ATTRIBUTES_OF: &str = "request_attributes (request_id, position, name, value)";
const CERTIFICATES: &str = "certificates \
    (ca, serial, request_id, der, subject, sans, not_before, not_after, shard, spki_sha256)";
const NEXT_IDS_POSTGRES: &str = "SELECT nextval(pg_get_serial_sequence('requests', 'id')) \
    FROM generate_series(1, CAST(?1 AS BIGINT))";
const LAST_ID_SQLITE: &str = "SELECT max(\
    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'requests'), 0), \
    coalesce((SELECT max(id) FROM requests), 0))";
const UPDATE_REQUEST: &str = "UPDATE requests \
    SET status = ?1, message = ?2, resolved_at = ?3, version = version + 1 \
    WHERE id = ?4 AND ca = ?5 AND version = ?6";
const DELETE_ATTRIBUTES: &str = "DELETE FROM request_attributes WHERE request_id = ?1";
/// A request's extensions blob and its first certificate (the one the request view reads):
/// what re-encoding the blob needs.
const EXTENSIONS_AND_CERTIFICATE: &str = "SELECT r.extensions, (SELECT c.der FROM certificates c \
    WHERE c.request_id = r.id ORDER BY c.id LIMIT 1) FROM requests r WHERE r.id = ?1";
const SET_EXTENSIONS: &str = "UPDATE requests SET extensions = ?1 WHERE id = ?2";
const RAW: &str = "SELECT raw_form, raw FROM requests WHERE id = ?1";
const SET_RAW_DELTA: &str = "UPDATE requests SET raw = ?1, raw_form = 1 WHERE id = ?2";
const INSERT_APPROVAL: &str =
    "INSERT INTO approvals (request_id, approver, at) VALUES (?1, ?2, ?3)";
const DELETE_APPROVALS: &str = "DELETE FROM approvals WHERE request_id = ?1";
/// A certificate for the key (?1), other than request ?2's own, whose requester is not the
/// (named) requester of request ?2: anonymous and imported certificates have no holder, so
/// they are never "the same".
const KEY_OF_ANOTHER: &str = "SELECT 1 FROM certificates c JOIN requests r ON r.id = c.request_id \
    WHERE c.spki_sha256 = ?1 AND c.request_id <> ?2 AND NOT EXISTS (SELECT 1 FROM requests me \
    WHERE me.id = ?2 AND me.requester IS NOT NULL AND lower(me.requester) = lower(r.requester)) \
    LIMIT 1";

/// New requests, in order: the request rows (with their extensions blob), then their
/// attributes, certificates, events and audit records. Each kind of row is one multi-row INSERT for the
/// whole slice (a batch of concurrent submissions costs a handful of statements, not a
/// handful per request), under ids taken first ([`new_request_ids`]) so the rows can name
/// them. The rows and their order are what creating the requests one by one would write.
pub(crate) fn create_requests(
    conn: &dyn Db,
    reqs: &[&NewRequest],
) -> Result<Vec<RequestId>, StoreError> {
    let ids = new_request_ids(conn, reqs.len())?;
    let mut requests = Vec::with_capacity(reqs.len() * 13);
    let mut attributes = Vec::new();
    let mut certificates = Vec::new();
    let mut events = crate::outbox::EventRows::default();
    for (&id, req) in ids.iter().zip(reqs) {
        let submitted_at = to_unix(req.submitted_at)?;
        let resolved_at = req.resolved_at.map(to_unix).transpose()?;
        let certificate = req.certificate.as_ref().map(|c| c.der.as_slice());
        let (raw, raw_form) = match certificate.and_then(|der| raw_delta(&req.raw, der)) {
            Some(delta) => (Param::Blob(delta.into()), RAW_DELTA),
            None => (req.raw.param(), RAW_AS_RECEIVED),
        };
        requests.extend([
            Param::Int(id),
            req.ca.as_str().param(),
            req.status.as_str().param(),
            req.format.param(),
            raw,
            req.requester.param(),
            req.profile
                .as_ref()
                .map_or(Param::Null, |p| p.as_str().param()),
            req.subject.param(),
            Param::Int(submitted_at),
            resolved_at.map_or(Param::Null, Param::Int),
            req.message.param(),
            Param::Blob(crate::extensions::encode(&req.extensions, certificate).into()),
            Param::Int(raw_form),
        ]);
        attribute_rows(&mut attributes, id, &req.attributes);
        if let Some(cert) = &req.certificate {
            certificates.push((&req.ca, id, cert));
        }
        // Events raised by a new request happen when it was resolved (or submitted, if it
        // is still pending).
        let at = resolved_at.unwrap_or(submitted_at);
        for (event, details) in &req.events {
            let first_serial = req.certificate.as_ref().map(|c| &c.serial);
            events.push(&req.ca, *event, Some(id), at, details, first_serial);
        }
    }
    insert_rows(conn, REQUESTS, 13, &requests, "recording requests")?;
    insert_rows(
        conn,
        ATTRIBUTES_OF,
        4,
        &attributes,
        "recording request attributes",
    )?;
    insert_certificates(conn, &certificates)?;
    events.insert(conn)?;
    crate::audit::append_all(
        conn,
        ids.iter()
            .zip(reqs)
            .flat_map(|(&id, req)| req.audit.iter().map(move |r| (r, Some(id)))),
    )?;
    ids.into_iter()
        .map(|id| {
            RequestId::new(id).map_err(|e| {
                StoreError::Backend(format!("the database assigned an invalid request id: {e}"))
            })
        })
        .collect()
}

/// `n` ids for new requests, ascending, never handed out before. Taken on the writer's
/// transaction, which holds the write lock (SQLite's, or the cluster's on PostgreSQL), so
/// nothing else inserts requests meanwhile.
fn new_request_ids(conn: &dyn Db, n: usize) -> Result<Vec<i64>, StoreError> {
    const CONTEXT: &str = "numbering new requests";
    let count =
        i64::try_from(n).map_err(|_| StoreError::Backend(format!("{CONTEXT}: {n} requests")))?;
    match conn.dialect() {
        // The identity's sequence; `nextval` is called once per row, and the numbers are
        // sorted because row order is not promised.
        Dialect::Postgres => {
            let mut ids: Vec<i64> =
                query_values(conn, NEXT_IDS_POSTGRES, &params![count], CONTEXT)?;
            ids.sort_unstable();
            if ids.len() != n {
                return Err(StoreError::Backend(format!(
                    "{CONTEXT}: asked for {n} ids, got {}",
                    ids.len()
                )));
            }
            Ok(ids)
        }
        // AUTOINCREMENT: past both the highest id and the highest ever used (its row may be
        // gone); inserting them moves `sqlite_sequence` on.
        Dialect::Sqlite => {
            let last: i64 = query_one(conn, LAST_ID_SQLITE, &[], CONTEXT)?;
            Ok((1..=count).map(|i| last + i).collect())
        }
    }
}

/// A change to an existing request, refused unless it is still at the version the caller
/// read.
pub(crate) fn update_request(conn: &dyn Db, u: &RequestUpdate) -> Result<(), StoreError> {
    let id = u.id.get();
    let resolved_at = u.resolved_at.map(to_unix).transpose()?;
    let version = seq_to_sql(u.expect_version, "request version")?;
    let changed = conn.execute(
        UPDATE_REQUEST,
        &params![
            u.status.as_str(),
            u.message,
            resolved_at,
            id,
            u.ca.as_str(),
            version
        ],
        "updating a request",
    )?;
    if changed == 0 {
        return Err(StoreError::StateChanged(format!(
            "request {id} of CA {} is not at version {}",
            u.ca, u.expect_version
        )));
    }
    if let Some(attributes) = &u.attributes {
        exec_id(conn, DELETE_ATTRIBUTES, id, "replacing request attributes")?;
        let mut values = Vec::new();
        attribute_rows(&mut values, id, attributes);
        insert_rows(
            conn,
            ATTRIBUTES_OF,
            4,
            &values,
            "recording request attributes",
        )?;
    }
    if u.clear_approvals {
        exec_id(conn, DELETE_APPROVALS, id, "clearing approvals")?;
    }
    if let Some(a) = &u.add_approval {
        let at = to_unix(a.at)?;
        conn.execute(
            INSERT_APPROVAL,
            &params![id, a.approver, at],
            "recording an approval",
        )
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("{} has already approved request {id}", a.approver))
            }
            other => other,
        })?;
    }
    if let Some(cert) = &u.certificate {
        insert_certificates(conn, &[(&u.ca, id, cert)])?;
    }
    if u.extensions.is_some() || u.certificate.is_some() {
        reencode_extensions(conn, id, u.extensions.as_deref())?;
    }
    if u.certificate.is_some() {
        store_raw_as_delta(conn, id)?;
    }
    crate::outbox::insert_events(conn, &u.ca, Some(id), &u.events)?;
    crate::audit::append_records(conn, &u.audit)?;
    Ok(())
}

/// Appends a request's attribute rows to `values` (see [`ATTRIBUTES_OF`]).
fn attribute_rows<'a>(
    values: &mut Vec<Param<'a>>,
    request_id: i64,
    attributes: &'a [(String, String)],
) {
    for (position, (name, value)) in attributes.iter().enumerate() {
        values.extend([
            Param::Int(request_id),
            Param::Int(position as i64),
            name.param(),
            value.param(),
        ]);
    }
}

/// Writes request `id`'s extensions blob again, against its certificate as it is now:
/// `extensions` if the update replaces them, else the stored ones (a request issued after
/// approval keeps its extensions, and their values the certificate now carries are stored
/// by reference from here on).
fn reencode_extensions(
    conn: &dyn Db,
    id: i64,
    extensions: Option<&[StoredExtension]>,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "reading request extensions";
    let (blob, certificate): (Vec<u8>, Option<Vec<u8>>) =
        query_one(conn, EXTENSIONS_AND_CERTIFICATE, &params![id], CONTEXT)?;
    let stored;
    let extensions = match extensions {
        Some(e) => e,
        None => {
            stored = crate::extensions::decode(&blob, certificate.as_deref())
                .map_err(|e| corrupt("requests", id, "extensions", &e.to_string()))?;
            &stored
        }
    };
    let encoded = crate::extensions::encode(extensions, certificate.as_deref());
    if encoded != blob {
        conn.execute(
            SET_EXTENSIONS,
            &params![encoded, id],
            "recording request extensions",
        )?;
    }
    Ok(())
}

/// Stores request `id` as received as a delta against its first certificate, if it is not
/// already and the delta is shorter (a request issued after approval).
fn store_raw_as_delta(conn: &dyn Db, id: i64) -> Result<(), StoreError> {
    const CONTEXT: &str = "storing a request against its certificate";
    let (form, raw): (i64, Vec<u8>) = query_one(conn, RAW, &params![id], CONTEXT)?;
    if form != RAW_AS_RECEIVED {
        return Ok(());
    }
    let (_, certificate): (Vec<u8>, Option<Vec<u8>>) =
        query_one(conn, EXTENSIONS_AND_CERTIFICATE, &params![id], CONTEXT)?;
    if let Some(delta) = certificate.and_then(|der| raw_delta(&raw, &der)) {
        conn.execute(SET_RAW_DELTA, &params![delta, id], CONTEXT)?;
    }
    Ok(())
}

/// `raw` as a delta against `certificate`, when that is shorter and reads back byte for byte.
pub(crate) fn raw_delta(raw: &[u8], certificate: &[u8]) -> Option<Vec<u8>> {
    crate::delta::encode(raw, certificate)
        .filter(|delta| crate::delta::decode(delta, Some(certificate)).as_deref() == Ok(raw))
}

fn exec_id(conn: &dyn Db, sql: &str, id: i64, context: &'static str) -> Result<(), StoreError> {
    conn.execute(sql, &params![id], context).map(drop)
}

/// Records certificates, each of a CA for a request: all in one multi-row INSERT, then, for
/// each whose profile wants a key of the holder's own, the check that no other holder has a
/// certificate for its key (after the INSERT, so that two in the same batch see each other).
fn insert_certificates(
    conn: &dyn Db,
    certificates: &[(&CaName, i64, &NewCertificate)],
) -> Result<(), StoreError> {
    let mut values = Vec::with_capacity(certificates.len() * 10);
    for &(ca, request_id, cert) in certificates {
        let sans = serde_json::to_string(&cert.sans)
            .map_err(|e| StoreError::Backend(format!("encoding subject alternative names: {e}")))?;
        values.extend([
            ca.as_str().param(),
            Param::Text(cert.serial.to_hex().into()),
            Param::Int(request_id),
            cert.der.param(),
            cert.subject.param(),
            Param::Text(sans.into()),
            Param::Int(to_unix(cert.not_before)?),
            Param::Int(to_unix(cert.not_after)?),
            cert.shard.param(),
            cert.spki_sha256.param(),
        ]);
    }
    insert_rows(conn, CERTIFICATES, 10, &values, "recording certificates").map_err(|e| {
        match (e, certificates) {
            (StoreError::Conflict(_), [(ca, _, cert)]) => StoreError::Conflict(format!(
                "serial number {} is already recorded for CA {ca}",
                cert.serial.to_hex()
            )),
            (e, _) => e,
        }
    })?;
    for &(_, request_id, cert) in certificates.iter().filter(|c| c.2.unique_key) {
        let taken: Option<i64> = query_value(
            conn,
            KEY_OF_ANOTHER,
            &params![cert.spki_sha256.as_slice(), request_id],
            "checking the key's other certificates",
        )?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "the public key (SHA-256 {}) was certified for another requester while this request was decided; the profile needs a key of your own",
                cert.spki_sha256
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )));
        }
    }
    Ok(())
}
