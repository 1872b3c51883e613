//! The console's one request page.

use super::*;

pub(super) struct ExtensionRow {
    pub(super) oid: String,
    pub(super) name: &'static str,
    pub(super) critical: bool,
    pub(super) disabled: bool,
    pub(super) origin: &'static str,
    pub(super) value: String,
}

pub(super) struct HistoryRow {
    pub(super) seq: u64,
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) details: String,
}

#[derive(Template)]
#[template(path = "admin/request.html")]
pub(super) struct RequestPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) id: String,
    pub(super) status: &'static str,
    pub(super) editable: bool,
    pub(super) subject: String,
    pub(super) sans: Vec<String>,
    pub(super) key: String,
    pub(super) requester: String,
    pub(super) profile: String,
    pub(super) submitted: String,
    pub(super) resolved: Option<String>,
    pub(super) message: Option<String>,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) extensions: Vec<ExtensionRow>,
    pub(super) approvals: Vec<(String, String)>,
    pub(super) required: u32,
    /// Approvals so far as a percentage of those required (the progress bar's width).
    pub(super) percent: u32,
    pub(super) serial: Option<String>,
    pub(super) history: Vec<HistoryRow>,
}

pub(super) async fn request_page(
    State(state): State<AppState>,
    user: WebUser,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    request_view(&state, &user, &ca, id, done.notice()).await
}

pub(super) async fn request_view(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    id: RequestId,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let d = state
        .admin
        .request_details(Some(&user.identity), ca, id)
        .await?;
    let nav = nav(state, ca);
    Ok(render(&request_page_of(d, nav, user, notice)))
}

pub(super) fn request_page_of(
    d: RequestDetails,
    nav: Nav,
    user: &WebUser,
    notice: Option<Notice>,
) -> RequestPage {
    let r = &d.record;
    let sans = match &r.certificate {
        Some(c) => c.sans.clone(),
        None => matches!(r.format.as_str(), "pkcs10" | "crmf")
            .then(|| signet_x509::parse_request(&r.raw).ok())
            .flatten()
            .map(|c| c.sans.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    };
    let approvals = r.approvals.len();
    let required = d.approvals_required.max(1);
    let percent =
        u32::try_from(approvals.min(required as usize) * 100 / required as usize).unwrap_or(100);
    RequestPage {
        chrome: chrome(format!("Request {}", r.id), "admin-pending", user),
        nav,
        notice,
        id: r.id.to_string(),
        status: r.status.as_str(),
        editable: matches!(r.status, RequestStatus::Pending | RequestStatus::Denied),
        subject: r.subject.clone(),
        sans,
        key: csr_key(r),
        requester: requester_of(r),
        profile: profile_of(r),
        submitted: fmt_time(r.submitted_at),
        resolved: r.resolved_at.map(fmt_time),
        message: r.message.clone(),
        attributes: r.attributes.clone(),
        extensions: r
            .extensions
            .iter()
            .map(|e| ExtensionRow {
                oid: e.oid.clone(),
                name: extension_name(&e.oid),
                critical: e.critical,
                disabled: e.disabled,
                origin: e.origin.as_str(),
                value: hex::encode(&e.value),
            })
            .collect(),
        approvals: r
            .approvals
            .iter()
            .map(|a| (a.approver.clone(), fmt_time(a.at)))
            .collect(),
        required,
        percent,
        serial: r.certificate.as_ref().map(|c| c.serial.to_hex()),
        history: d.history.iter().map(history_row).collect(),
    }
}

pub(super) fn history_row(a: &AuditRecord) -> HistoryRow {
    HistoryRow {
        seq: a.seq,
        at: fmt_time(a.at),
        actor: a.actor.clone(),
        action: a.action.clone(),
        details: a.details.clone(),
    }
}

pub(super) fn request_path(ca: &str, id: RequestId) -> String {
    format!("{}/requests/{id}", ca_path(ca))
}

/// The outcome of an action on a request: back to its page, or the page with the refusal.
pub(super) async fn request_outcome<T>(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    id: RequestId,
    result: Result<T, EnrollError>,
    done: impl FnOnce(&T) -> &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(v) => {
            let ca = nav(state, ca).ca;
            Ok(back(request_path(&ca, id), done(&v)))
        }
        Err(e) => refused(e, |n| request_view(state, user, ca, id, n)).await,
    }
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

pub(super) async fn approve(
    State(state): State<AppState>,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = state.admin.approve(Some(&user.identity), &ca, id).await;
    request_outcome(&state, &user, &ca, id, result, |r| match r.status {
        RequestStatus::Issued => "issued",
        RequestStatus::Denied => "denied",
        _ => "approved",
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct DenyForm {
    #[serde(default)]
    pub(super) reason: String,
}

pub(super) async fn deny(
    State(state): State<AppState>,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    CsrfForm(user, form): CsrfForm<DenyForm>,
) -> Result<Response, PageError> {
    let result = state
        .admin
        .deny(Some(&user.identity), &ca, id, &form.reason)
        .await;
    request_outcome(&state, &user, &ca, id, result, |_| "denied").await
}

#[derive(Deserialize)]
pub(super) struct AttributeForm {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) value: String,
    /// Present: remove the attribute instead of setting it.
    #[serde(default)]
    pub(super) remove: Option<String>,
}

pub(super) async fn set_attribute(
    State(state): State<AppState>,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    CsrfForm(user, form): CsrfForm<AttributeForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim().to_string();
    let value = form.remove.is_none().then(|| form.value.trim().to_string());
    let result = if name.is_empty() {
        Err(EnrollError::BadRequest(
            "the attribute name is empty".into(),
        ))
    } else {
        state
            .admin
            .set_attributes(Some(&user.identity), &ca, id, vec![(name, value)])
            .await
    };
    request_outcome(&state, &user, &ca, id, result, |_| "attribute").await
}

#[derive(Deserialize)]
pub(super) struct ExtensionForm {
    #[serde(default)]
    pub(super) oid: String,
    #[serde(default)]
    pub(super) critical: Option<String>,
    #[serde(default)]
    pub(super) value: String,
    /// Present: disable the extension (`EXTENSION_DISABLE_FLAG`).
    #[serde(default)]
    pub(super) disable: Option<String>,
}

pub(super) async fn set_extension(
    State(state): State<AppState>,
    PageRequestPath { ca, id, .. }: PageRequestPath,
    CsrfForm(user, form): CsrfForm<ExtensionForm>,
) -> Result<Response, PageError> {
    let value = if form.disable.is_some() {
        Ok(None)
    } else {
        // The REST API's hex reading: whitespace and colons between octets are allowed.
        let clean: String = form
            .value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        match crate::admin_api::decode_hex(&clean) {
            Some(v) if !v.is_empty() => Ok(Some(v)),
            _ => Err(EnrollError::BadRequest(
                "the value must be the extension's DER in hex".into(),
            )),
        }
    };
    let edit = value.and_then(|value| {
        Ok(ExtensionEdit {
            oid: ExtensionEdit::parse_oid(form.oid.trim())?,
            critical: form.critical.is_some(),
            value,
        })
    });
    let result = match edit {
        Ok(edit) => {
            state
                .admin
                .set_extension(Some(&user.identity), &ca, id, edit)
                .await
        }
        Err(e) => Err(e),
    };
    request_outcome(&state, &user, &ca, id, result, |_| "extension").await
}
