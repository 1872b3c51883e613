//! The console's the pending queue page.

use super::*;

pub(super) struct PendingRow {
    pub(super) id: String,
    pub(super) submitted: String,
    pub(super) requester: String,
    pub(super) profile: String,
    pub(super) subject: String,
    pub(super) approvals: usize,
    pub(super) required: u32,
}

#[derive(Template)]
#[template(path = "admin/pending.html")]
pub(super) struct PendingPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) rows: Vec<PendingRow>,
}

pub(super) async fn pending_page(
    State(state): State<AppState>,
    user: WebUser,
    PageCaPath { ca, .. }: PageCaPath,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let records = state
        .admin
        .view(
            who,
            &ca,
            ViewQuery {
                status: Some(RequestStatus::Pending),
                limit: signet_api::admin::MAX_PAGE,
                ..Default::default()
            },
        )
        .await?;
    // The approvals a profile needs come with a request's details; ask once per profile.
    let mut required: HashMap<String, u32> = HashMap::new();
    let mut rows = Vec::new();
    for r in records {
        let profile = profile_of(&r);
        let needed = match required.get(&profile) {
            Some(n) => *n,
            None => {
                let d = state.admin.request_details(who, &ca, r.id).await?;
                required.insert(profile.clone(), d.approvals_required);
                d.approvals_required
            }
        };
        rows.push(PendingRow {
            id: r.id.to_string(),
            submitted: fmt_time(r.submitted_at),
            requester: requester_of(&r),
            profile,
            subject: r.subject.clone(),
            approvals: r.approvals.len(),
            required: needed,
        });
    }
    let nav = nav(&state, &ca);
    Ok(render(&PendingPage {
        chrome: chrome(format!("{} · Pending", nav.ca), "admin-pending", &user),
        notice: None,
        nav,
        rows,
    }))
}
