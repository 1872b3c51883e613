//! The console's exit delivery page.

use super::*;

pub(super) struct ParkedRow {
    pub(super) seq: u64,
    pub(super) event: String,
    pub(super) request: Option<String>,
    pub(super) error: String,
    pub(super) attempts: u32,
    pub(super) parked_at: String,
}

pub(super) struct ExitPanel {
    pub(super) name: String,
    /// The name as a path segment (module names come from the configuration).
    pub(super) url_name: String,
    pub(super) description: String,
    pub(super) cursor: u64,
    pub(super) head: u64,
    pub(super) lag: u64,
    pub(super) failing_seq: Option<u64>,
    pub(super) attempts: u32,
    pub(super) max_attempts: u32,
    pub(super) next_attempt: Option<String>,
    pub(super) last_error: Option<String>,
    pub(super) last_success: Option<String>,
    pub(super) parked: u64,
    pub(super) parked_rows: Vec<ParkedRow>,
}

#[derive(Template)]
#[template(path = "admin/exits.html")]
pub(super) struct ExitsPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) exits: Vec<ExitPanel>,
}

pub(super) async fn exits_page(
    State(state): State<AppState>,
    user: WebUser,
    PageCaPath { ca, .. }: PageCaPath,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    exits_view(&state, &user, &ca, done.notice()).await
}

pub(super) async fn exits_view(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let statuses = state.admin.exit_status(who, ca).await?;
    let parked = state
        .admin
        .parked_events(who, ca, None, signet_api::admin::MAX_PAGE)
        .await?;
    let exits = statuses
        .into_iter()
        .map(|s| {
            let failing = s.state.attempts > 0;
            ExitPanel {
                parked_rows: parked
                    .iter()
                    .filter(|p| p.exit == s.exit)
                    .map(|p| ParkedRow {
                        seq: p.seq,
                        event: p.event.name().to_string(),
                        request: p.request_id.map(|r| r.to_string()),
                        error: p.error.clone(),
                        attempts: p.attempts,
                        parked_at: fmt_time(p.parked_at),
                    })
                    .collect(),
                lag: s.lag(),
                url_name: url_encode(&s.exit),
                name: s.exit,
                description: s.description,
                cursor: s.state.cursor,
                head: s.head,
                failing_seq: failing.then_some(s.state.failing_seq),
                attempts: s.state.attempts,
                max_attempts: s.retry.max_attempts,
                next_attempt: s.state.next_attempt_at.filter(|_| failing).map(fmt_time),
                last_error: s.state.last_error.filter(|_| failing),
                last_success: s.state.last_success_at.map(fmt_time),
                parked: s.state.parked,
            }
        })
        .collect();
    let nav = nav(state, ca);
    Ok(render(&ExitsPage {
        chrome: chrome(format!("{} · Exits", nav.ca), "admin-exits", user),
        nav,
        notice,
        exits,
    }))
}

pub(super) async fn exit_outcome(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    result: Result<(), EnrollError>,
    done: &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(back(format!("{}/exits", ca_path(&nav(state, ca).ca)), done)),
        Err(e) => refused(e, |n| exits_view(state, user, ca, n)).await,
    }
}

pub(super) async fn retry_parked(
    State(state): State<AppState>,
    PageCaPath { ca, .. }: PageCaPath,
    Path(ParkedPath { exit, seq }): Path<ParkedPath>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| PageError::not_found(format!("{seq:?} is not an outbox sequence number")))?;
    let result = state
        .admin
        .retry_parked(Some(&user.identity), &ca, &exit, seq)
        .await;
    exit_outcome(&state, &user, &ca, result, "retried").await
}

pub(super) async fn skip_exit(
    State(state): State<AppState>,
    PageCaPath { ca, .. }: PageCaPath,
    Path(ExitPath { exit }): Path<ExitPath>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let result = state
        .admin
        .skip_exit(Some(&user.identity), &ca, &exit)
        .await
        .map(|_| ());
    exit_outcome(&state, &user, &ca, result, "skipped").await
}
