//! The console's the audit log page.

use super::*;

pub(super) struct AuditRow {
    pub(super) seq: u64,
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) ca: String,
    pub(super) target: String,
    pub(super) details: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub(super) struct AuditPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) rows: Vec<AuditRow>,
    pub(super) head: u64,
    pub(super) newer: Option<u64>,
    pub(super) older: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    /// Show the records before this sequence number (newest first); default: the newest.
    #[serde(default)]
    pub(super) before: Option<u64>,
    #[serde(default)]
    pub(super) verify: Option<String>,
}

/// `GET /admin/audit`: newest first, 50 a page. Verifying the chain only reads, so it is a
/// GET form too (`?verify=1`).
pub(super) async fn audit_page(
    State(state): State<AppState>,
    user: WebUser,
    PageQuery(q): PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    // The engine checks the auditor role.
    let head = state.admin.audit_head(who).await?;
    // The log is server-wide; the sub-navigation points at the first CA.
    let first = state
        .directory
        .ca_names()
        .first()
        .cloned()
        .ok_or_else(|| PageError::not_found("this server has no CA"))?;
    let before = q.before.unwrap_or(head + 1).min(head + 1);
    let after = before.saturating_sub(AUDIT_ROWS + 1);
    let limit = u32::try_from(before.saturating_sub(after + 1))
        .unwrap_or(1)
        .max(1);
    let mut records = if before <= 1 {
        Vec::new()
    } else {
        state.admin.audit_log(who, after, limit).await?
    };
    records.retain(|r| r.seq < before);
    records.reverse();
    let notice = if q.verify.is_some() {
        let check = state.admin.verify_audit(who).await?;
        match check.first_broken {
            None => Notice::ok(format!(
                "The audit chain is intact: {} records checked.",
                check.records
            )),
            Some((seq, why)) => Notice::bad(format!(
                "The audit chain is broken at record {seq}: {why} ({} records checked).",
                check.records
            )),
        }
    } else {
        None
    };
    let nav = nav(&state, &first);
    let page = AuditPage {
        chrome: chrome("Audit log", "admin-audit", &user),
        nav,
        notice,
        newer: (before <= head).then(|| (before + AUDIT_ROWS).min(head + 1)),
        older: (after > 0).then_some(after + 1),
        head,
        rows: records
            .into_iter()
            .map(|r| AuditRow {
                seq: r.seq,
                at: fmt_time(r.at),
                actor: r.actor,
                action: r.action,
                ca: r.ca.unwrap_or_default(),
                target: r.target,
                details: r.details,
            })
            .collect(),
    };
    Ok(render(&page))
}
