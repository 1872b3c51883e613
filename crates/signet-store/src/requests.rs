//! Requests: the rows of `requests` with their attributes, extensions, approvals and
//! certificate; read on the reader threads, written on the writer thread (`writer::Op`).

use signet_core::{
    Approval, CaName, CertificateRecord, ExtensionOrigin, NewCertificate, NewRequest, ProfileName,
    RequestId, RequestRecord, RequestStatus, RequestUpdate, SerialNumber, StoreError,
    StoredExtension,
};

use crate::codec::{seq_to_sql, to_unix};
use crate::db::{Db, Param, ToParam, insert_id, insert_rows, query_one, query_value};
use crate::params;
use crate::row::{Columns, FromRow, Key, Statement, query_all, query_opt, select};

// ---- Reads --------------------------------------------------------------------------------

/// A `requests` row, decoded; its attributes, extensions, certificate and approvals are read
/// by [`RequestRow::into_record`].
pub(crate) struct RequestRow {
    id: RequestId,
    ca: CaName,
    status: RequestStatus,
    format: String,
    raw: Vec<u8>,
    requester: Option<String>,
    profile: Option<ProfileName>,
    subject: String,
    submitted_at: std::time::SystemTime,
    resolved_at: Option<std::time::SystemTime>,
    message: Option<String>,
    version: u64,
}

impl FromRow for RequestRow {
    const COLUMNS: &'static str = "r.id, r.ca, r.status, r.format, r.raw, r.requester, \
        r.profile, r.subject, r.submitted_at, r.resolved_at, r.message, r.version";
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
        })
    }
}

impl RequestRow {
    /// The record with its attributes, extensions, certificate and approvals.
    pub(crate) fn into_record(self, conn: &dyn Db) -> Result<RequestRecord, StoreError> {
        let id = self.id.get();
        Ok(RequestRecord {
            id: self.id,
            ca: self.ca,
            status: self.status,
            profile: self.profile,
            requester: self.requester,
            format: self.format,
            raw: self.raw,
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
            extensions: query_all(
                conn,
                &EXTENSIONS,
                &params![id],
                "reading request extensions",
            )?,
            certificate: query_opt(conn, &CERTIFICATE, &params![id], "reading a certificate")?,
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

impl FromRow for StoredExtension {
    const COLUMNS: &'static str = "request_id, position, oid, critical, disabled, origin, value";
    const TABLE: &'static str = "request_extensions";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<StoredExtension, StoreError> {
        let request: i64 = c.next("request_id")?;
        let position: i64 = c.next("position")?;
        c.key(Key::Pair(request, position));
        let oid = c.next("oid")?;
        let critical = c.next("critical")?;
        let disabled = c.next("disabled")?;
        let origin: String = c.next("origin")?;
        let origin = ExtensionOrigin::parse(&origin)
            .ok_or_else(|| c.bad("origin", &format!("unknown origin {origin:?}")))?;
        Ok(StoredExtension {
            oid,
            critical,
            disabled,
            origin,
            value: c.next("value")?,
        })
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
static EXTENSIONS: Statement = Statement::new(|| {
    select::<StoredExtension>("FROM request_extensions WHERE request_id = ?1 ORDER BY position")
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

// ---- Writes (on the writer thread) --------------------------------------------------------

const INSERT_REQUEST: &str = "INSERT INTO requests \
    (ca, status, format, raw, requester, profile, subject, submitted_at, resolved_at, message) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id";
/// Where [`insert_rows`] puts a request's attributes and extensions.
const INSERT_ATTRIBUTES: &str = "request_attributes (request_id, position, name, value)";
const INSERT_EXTENSIONS: &str =
    "request_extensions (request_id, position, oid, critical, disabled, origin, value)";
const INSERT_CERTIFICATE: &str = "INSERT INTO certificates \
    (ca, serial, request_id, der, subject, sans, not_before, not_after, shard, spki_sha256) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const UPDATE_REQUEST: &str = "UPDATE requests \
    SET status = ?1, message = ?2, resolved_at = ?3, version = version + 1 \
    WHERE id = ?4 AND ca = ?5 AND version = ?6";
const DELETE_ATTRIBUTES: &str = "DELETE FROM request_attributes WHERE request_id = ?1";
const DELETE_EXTENSIONS: &str = "DELETE FROM request_extensions WHERE request_id = ?1";
const INSERT_APPROVAL: &str =
    "INSERT INTO approvals (request_id, approver, at) VALUES (?1, ?2, ?3)";
const DELETE_APPROVALS: &str = "DELETE FROM approvals WHERE request_id = ?1";
/// A certificate for the key (?1) whose requester is not the (named) requester of request
/// ?2: anonymous and imported certificates have no holder, so they are never "the same".
const KEY_OF_ANOTHER: &str = "SELECT 1 FROM certificates c JOIN requests r ON r.id = c.request_id \
    WHERE c.spki_sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM requests me \
    WHERE me.id = ?2 AND me.requester IS NOT NULL AND lower(me.requester) = lower(r.requester)) \
    LIMIT 1";

/// The request row, then its attributes, extensions, certificate and events, all under the
/// new id.
pub(crate) fn create_request(conn: &dyn Db, req: &NewRequest) -> Result<RequestId, StoreError> {
    let submitted_at = to_unix(req.submitted_at)?;
    let resolved_at = req.resolved_at.map(to_unix).transpose()?;
    let rowid = insert_id(
        conn,
        INSERT_REQUEST,
        &params![
            req.ca.as_str(),
            req.status.as_str(),
            req.format,
            req.raw,
            req.requester,
            req.profile.as_ref().map(|p| p.as_str()),
            req.subject,
            submitted_at,
            resolved_at,
            req.message,
        ],
        "recording a request",
    )?;
    let id = RequestId::new(rowid).map_err(|e| {
        StoreError::Backend(format!("the database assigned an invalid request id: {e}"))
    })?;

    insert_attributes(conn, rowid, &req.attributes)?;
    insert_extensions(conn, rowid, &req.extensions)?;
    if let Some(cert) = &req.certificate {
        insert_certificate(conn, &req.ca, rowid, cert)?;
    }
    // Events raised by a new request happen when it was resolved (or submitted, if it is
    // still pending).
    let at = resolved_at.unwrap_or(submitted_at);
    crate::outbox::insert_events_at(conn, &req.ca, Some(rowid), at, &req.events)?;
    for record in &req.audit {
        crate::audit::append(conn, record, Some(rowid))?;
    }
    Ok(id)
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
        insert_attributes(conn, id, attributes)?;
    }
    if let Some(extensions) = &u.extensions {
        exec_id(conn, DELETE_EXTENSIONS, id, "replacing request extensions")?;
        insert_extensions(conn, id, extensions)?;
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
        insert_certificate(conn, &u.ca, id, cert)?;
    }
    crate::outbox::insert_events(conn, &u.ca, Some(id), &u.events)?;
    for record in &u.audit {
        crate::audit::append(conn, record, None)?;
    }
    Ok(())
}

fn insert_attributes(
    conn: &dyn Db,
    request_id: i64,
    attributes: &[(String, String)],
) -> Result<(), StoreError> {
    if attributes.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(attributes.len() * 4);
    for (position, (name, value)) in attributes.iter().enumerate() {
        values.extend([
            Param::Int(request_id),
            Param::Int(position as i64),
            name.as_str().param(),
            value.as_str().param(),
        ]);
    }
    insert_rows(
        conn,
        INSERT_ATTRIBUTES,
        4,
        &values,
        "recording request attributes",
    )
}

fn insert_extensions(
    conn: &dyn Db,
    request_id: i64,
    extensions: &[StoredExtension],
) -> Result<(), StoreError> {
    if extensions.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(extensions.len() * 7);
    for (position, ext) in extensions.iter().enumerate() {
        values.extend([
            Param::Int(request_id),
            Param::Int(position as i64),
            ext.oid.as_str().param(),
            ext.critical.param(),
            ext.disabled.param(),
            ext.origin.as_str().param(),
            ext.value.as_slice().param(),
        ]);
    }
    insert_rows(
        conn,
        INSERT_EXTENSIONS,
        7,
        &values,
        "recording request extensions",
    )
}

fn exec_id(conn: &dyn Db, sql: &str, id: i64, context: &'static str) -> Result<(), StoreError> {
    conn.execute(sql, &params![id], context).map(drop)
}

fn insert_certificate(
    conn: &dyn Db,
    ca: &CaName,
    request_id: i64,
    cert: &NewCertificate,
) -> Result<(), StoreError> {
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Backend(format!("encoding subject alternative names: {e}")))?;
    let serial = cert.serial.to_hex();
    let (not_before, not_after) = (to_unix(cert.not_before)?, to_unix(cert.not_after)?);
    if cert.unique_key {
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
    conn.execute(
        INSERT_CERTIFICATE,
        &params![
            ca.as_str(),
            serial,
            request_id,
            cert.der,
            cert.subject,
            sans,
            not_before,
            not_after,
            cert.shard,
            cert.spki_sha256.as_slice(),
        ],
        "recording a certificate",
    )
    .map_err(|e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "serial number {serial} is already recorded for CA {ca}"
        )),
        other => other,
    })?;
    Ok(())
}
