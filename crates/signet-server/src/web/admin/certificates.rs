//! The console's issued certificates page.

use super::*;

#[derive(Deserialize, Default)]
pub(super) struct SearchQuery {
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) serial: String,
    #[serde(default)]
    pub(super) expiring: Option<String>,
    #[serde(default)]
    pub(super) after: Option<i64>,
}

pub(super) struct CertificateRow {
    pub(super) id: String,
    pub(super) status: &'static str,
    pub(super) held: bool,
    pub(super) serial: Option<String>,
    pub(super) subject: String,
    pub(super) sans: String,
    pub(super) not_after: String,
    pub(super) requester: String,
}

#[derive(Template)]
#[template(path = "admin/certificates.html")]
pub(super) struct CertificatesPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) heading: &'static str,
    pub(super) q: String,
    pub(super) status: String,
    pub(super) serial: String,
    pub(super) expiring: bool,
    pub(super) statuses: Vec<(&'static str, &'static str)>,
    pub(super) rows: Vec<CertificateRow>,
    pub(super) next: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) async fn certificates_page(
    State(state): State<AppState>,
    user: WebUser,
    PageCaPath { ca, .. }: PageCaPath,
    PageQuery(s): PageQuery<SearchQuery>,
) -> Result<Response, PageError> {
    let nav = nav(&state, &ca);
    let status = match s.status.as_str() {
        "" => None,
        other => Some(
            other
                .parse::<RequestStatus>()
                .map_err(|e| PageError::bad_request(e.to_string()))?,
        ),
    };
    // Issued and revoked rows are certificates; the other statuses list requests.
    let certificates_only = matches!(
        status,
        None | Some(RequestStatus::Issued | RequestStatus::Revoked)
    );
    let heading = match status {
        Some(RequestStatus::Pending) => "Pending requests",
        Some(RequestStatus::Denied) => "Denied requests",
        Some(RequestStatus::Failed) => "Failed requests",
        Some(RequestStatus::Revoked) => "Revoked certificates",
        _ => "Issued certificates",
    };
    let mut error = None;
    let serial = match s.serial.trim() {
        "" => None,
        text => match text.parse::<SerialNumber>() {
            Ok(v) => Some(v),
            Err(e) => {
                error = Some(e.to_string());
                None
            }
        },
    };
    let q = s.q.trim().to_string();
    if q.len() > 256 {
        return Err(PageError::bad_request(
            "the search text is longer than 256 bytes",
        ));
    }
    let expiring = s.expiring.is_some();
    let rows = if error.is_some() {
        Vec::new()
    } else {
        state
            .admin
            .view(
                Some(&user.identity),
                &ca,
                ViewQuery {
                    status,
                    text: (!q.is_empty()).then(|| q.clone()),
                    serial,
                    expiring_before: expiring.then(|| SystemTime::now() + EXPIRING_WITHIN),
                    certificates_only,
                    after_id: s.after.and_then(|a| RequestId::new(a).ok()),
                    limit: PAGE_ROWS,
                    ..Default::default()
                },
            )
            .await?
    };
    let next = (rows.len() >= PAGE_ROWS as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|after| {
            format!(
                "{}/certificates?q={}&status={}&serial={}{}&after={after}",
                ca_path(&nav.ca),
                url_encode(&q),
                url_encode(&s.status),
                url_encode(s.serial.trim()),
                if expiring { "&expiring=30" } else { "" },
            )
        });
    let page = CertificatesPage {
        chrome: chrome(
            format!("{} · Certificates", nav.ca),
            "admin-certificates",
            &user,
        ),
        notice: None,
        nav,
        heading,
        statuses: vec![
            ("", "Issued and revoked"),
            ("issued", "Issued (valid)"),
            ("revoked", "Revoked or on hold"),
            ("pending", "Pending requests"),
            ("denied", "Denied requests"),
            ("failed", "Failed requests"),
        ],
        rows: rows.iter().map(certificate_row).collect(),
        q,
        status: s.status.clone(),
        serial: s.serial.trim().to_string(),
        expiring,
        next,
        error,
    };
    Ok(render(&page))
}

pub(super) fn certificate_row(r: &RequestRecord) -> CertificateRow {
    let c = r.certificate.as_ref();
    CertificateRow {
        id: r.id.to_string(),
        status: r.status.as_str(),
        held: c
            .and_then(|c| c.revocation)
            .is_some_and(|v| v.reason == RevocationReason::CertificateHold),
        serial: c.map(|c| c.serial.to_hex()),
        subject: c.map_or_else(|| r.subject.clone(), |c| c.subject.clone()),
        sans: c.map(|c| c.sans.join(", ")).unwrap_or_default(),
        not_after: c.map(|c| fmt_time(c.not_after)).unwrap_or_default(),
        requester: requester_of(r),
    }
}

#[derive(Template)]
#[template(path = "admin/certificate.html")]
pub(super) struct CertificatePage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) id: String,
    pub(super) serial: String,
    pub(super) status: &'static str,
    pub(super) held: bool,
    pub(super) revoked: Option<(String, String, Option<String>)>,
    pub(super) subject: String,
    pub(super) issuer: String,
    pub(super) not_before: String,
    pub(super) not_after: String,
    pub(super) sans: Vec<String>,
    pub(super) key: String,
    pub(super) key_usage: Vec<&'static str>,
    pub(super) eku: Vec<String>,
    pub(super) basic: Option<String>,
    pub(super) extensions: Vec<ExtensionRow>,
    pub(super) requester: String,
    pub(super) profile: String,
    pub(super) pem: String,
    pub(super) reasons: Vec<&'static str>,
    pub(super) history: Vec<HistoryRow>,
}

pub(super) async fn certificate_page(
    State(state): State<AppState>,
    user: WebUser,
    PageSerialPath { ca, serial, .. }: PageSerialPath,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    certificate_view(&state, &user, &ca, serial, done.notice()).await
}

pub(super) async fn certificate_view(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    serial: SerialNumber,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let d = state
        .admin
        .certificate_details(Some(&user.identity), ca, serial)
        .await?;
    let nav = nav(state, ca);
    let r = &d.record;
    let c = r
        .certificate
        .as_ref()
        .ok_or_else(|| PageError::not_found(format!("certificate {serial}")))?;
    let info = signet_x509::parse_certificate(&c.der)
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let find = |oid: &str| info.extensions.iter().find(|e| e.oid == oid);
    let page = CertificatePage {
        chrome: chrome(
            format!("Certificate {}", c.serial.to_hex()),
            "admin-certificates",
            user,
        ),
        nav,
        notice,
        id: r.id.to_string(),
        serial: c.serial.to_hex(),
        status: r.status.as_str(),
        held: c
            .revocation
            .is_some_and(|v| v.reason == RevocationReason::CertificateHold),
        revoked: c.revocation.map(|v| {
            (
                v.reason.name().to_string(),
                fmt_time(v.at),
                v.invalidity_date.map(fmt_time),
            )
        }),
        subject: info.subject.to_string(),
        issuer: info.issuer.to_string(),
        not_before: fmt_time(info.not_before),
        not_after: fmt_time(info.not_after),
        sans: info.sans.iter().map(ToString::to_string).collect(),
        key: csr_key(r),
        key_usage: find(ext::oid::KEY_USAGE)
            .and_then(|e| ext::parse_key_usage(&e.value).ok())
            .map(key_usage_names)
            .unwrap_or_default(),
        eku: find(ext::oid::EXT_KEY_USAGE)
            .and_then(|e| ext::parse_extended_key_usage(&e.value).ok())
            .map(|oids| oids.iter().map(|o| purpose_name(o)).collect())
            .unwrap_or_default(),
        basic: find(ext::oid::BASIC_CONSTRAINTS)
            .and_then(|e| ext::parse_basic_constraints(&e.value).ok())
            .map(|(ca, path)| match (ca, path) {
                (false, _) => "end entity (cA = false)".to_string(),
                (true, None) => "CA".to_string(),
                (true, Some(n)) => format!("CA, path length {n}"),
            }),
        extensions: info
            .extensions
            .iter()
            .map(|e| ExtensionRow {
                oid: e.oid.clone(),
                name: extension_name(&e.oid),
                critical: e.critical,
                disabled: false,
                origin: "",
                value: hex::encode(&e.value),
            })
            .collect(),
        requester: requester_of(r),
        profile: profile_of(r),
        pem: pem::encode("CERTIFICATE", &c.der),
        reasons: RevocationReason::ALL.iter().map(|r| r.name()).collect(),
        history: d.history.iter().map(history_row).collect(),
    };
    Ok(render(&page))
}

pub(super) fn certificate_path(ca: &str, serial: &SerialNumber) -> String {
    format!("{}/certificates/{}", ca_path(ca), serial.to_hex())
}

pub(super) async fn certificate_outcome(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    serial: SerialNumber,
    result: Result<RequestRecord, EnrollError>,
    done: &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(back(certificate_path(&nav(state, ca).ca, &serial), done)),
        Err(e) => refused(e, |n| certificate_view(state, user, ca, serial, n)).await,
    }
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    pub(super) reason: String,
    #[serde(default)]
    pub(super) invalidity_date: String,
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    PageSerialPath { ca, serial, .. }: PageSerialPath,
    CsrfForm(user, form): CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    let bad = |e: &dyn std::fmt::Display| EnrollError::BadRequest(e.to_string());
    let parsed = RevocationReason::parse(&form.reason)
        .map_err(|e| bad(&e))
        .and_then(|reason| {
            let date = match form.invalidity_date.trim() {
                "" => None,
                t => Some(crate::wire::parse_time(t).map_err(|e| bad(&e))?),
            };
            Ok((reason, date))
        });
    let (result, done) = match parsed {
        Ok((reason, date)) => (
            state
                .admin
                .revoke(Some(&user.identity), &ca, serial, reason, date)
                .await,
            if reason == RevocationReason::CertificateHold {
                "held"
            } else {
                "revoked"
            },
        ),
        Err(e) => (Err(e), "revoked"),
    };
    certificate_outcome(&state, &user, &ca, serial, result, done).await
}

pub(super) async fn unrevoke(
    State(state): State<AppState>,
    PageSerialPath { ca, serial, .. }: PageSerialPath,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = state
        .admin
        .unrevoke(Some(&user.identity), &ca, serial)
        .await;
    certificate_outcome(&state, &user, &ca, serial, result, "released").await
}
