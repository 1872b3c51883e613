//! Builders the stories share: times, names, serial numbers and records.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_core::{
    CaName, Event, NewCertificate, NewRequest, RequestId, RequestStatus, RequestUpdate, Revocation,
    RevocationChange, SerialNumber, Store, ViewQuery,
};

/// Whole seconds after the epoch (stores keep whole seconds).
pub fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn ca(name: &str) -> CaName {
    CaName::new(name).expect("a valid CA name")
}

/// A distinct serial number for each `n`, ordered as `n`.
pub fn serial(n: u64) -> SerialNumber {
    let mut b = [0x11u8; 20];
    b[12..].copy_from_slice(&n.to_be_bytes());
    SerialNumber::from_random(b)
}

/// A pending request with one attribute and a `Pending` event, submitted at
/// `1_700_000_000 + n`.
pub fn pending(ca: &CaName, n: u64) -> NewRequest {
    NewRequest {
        ca: ca.clone(),
        status: RequestStatus::Pending,
        profile: None,
        requester: Some(format!("user-{n}")),
        format: "pkcs10".into(),
        raw: vec![0x30, 0x03, 0x02, 0x01, n as u8],
        subject: format!("CN=host-{n}.example"),
        submitted_at: t(1_700_000_000 + n),
        resolved_at: None,
        message: Some("waiting for approval".into()),
        attributes: vec![("marker".into(), format!("req-{n}"))],
        extensions: Vec::new(),
        certificate: None,
        events: vec![(Event::Pending, format!("{{\"n\":{n}}}"))],
        audit: Vec::new(),
    }
}

/// An issued request with the certificate `serial(serial_n)`.
pub fn issued(ca: &CaName, n: u64, serial_n: u64) -> NewRequest {
    let mut r = pending(ca, n);
    r.status = RequestStatus::Issued;
    r.resolved_at = Some(t(1_700_000_100 + n));
    r.message = None;
    let host = format!("host-{n}.example");
    r.certificate = Some(certificate(serial_n, &format!("CN={host}"), &[&host]));
    r.events = vec![(Event::Issued, "{}".into())];
    r
}

/// A certificate record valid from 1_700_000_000 for a year.
pub fn certificate(serial_n: u64, subject: &str, sans: &[&str]) -> NewCertificate {
    NewCertificate {
        serial: serial(serial_n),
        der: vec![0x30; 64],
        subject: subject.into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        not_before: t(1_700_000_000),
        not_after: t(1_731_536_000),
        shard: 0,
        spki_sha256: [(serial_n % 256) as u8; 32],
        unique_key: false,
    }
}

/// A change to request `id` at `version` that sets `status` and nothing else.
pub fn update(ca: &CaName, id: RequestId, version: u64, status: RequestStatus) -> RequestUpdate {
    RequestUpdate {
        ca: ca.clone(),
        id,
        expect_version: version,
        status,
        message: None,
        resolved_at: None,
        attributes: None,
        extensions: None,
        certificate: None,
        add_approval: None,
        clear_approvals: false,
        events: Vec::new(),
        audit: Vec::new(),
    }
}

pub(super) fn change(
    ca: &CaName,
    serial_n: u64,
    request_id: RequestId,
    expect: Option<Revocation>,
    new: Option<Revocation>,
    at: u64,
) -> RevocationChange {
    RevocationChange {
        ca: ca.clone(),
        serial: serial(serial_n),
        request_id,
        expect,
        new,
        status: RequestStatus::Revoked,
        changed_at: t(at),
        events: vec![(Event::Revoked, "{}".into())],
        audit: Vec::new(),
    }
}

pub(super) async fn get(
    store: &dyn Store,
    ca: &CaName,
    id: RequestId,
) -> signet_core::RequestRecord {
    store
        .get_request(ca, id)
        .await
        .expect("get")
        .expect("the request exists")
}

pub(super) async fn view(store: &dyn Store, ca: &CaName, q: ViewQuery) -> Vec<RequestId> {
    ids(&store.view_requests(ca, q).await.expect("view"))
}

pub(super) fn ids(records: &[signet_core::RequestRecord]) -> Vec<RequestId> {
    records.iter().map(|r| r.id).collect()
}
