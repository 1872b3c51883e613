//! The console's CRLs page.

use super::*;

pub(super) struct CrlRow {
    pub(super) number: u64,
    /// The CA key index that signed it (AD CS key index: a renewal with a new key adds one).
    pub(super) key: u32,
    pub(super) partition: u32,
    pub(super) kind: String,
    pub(super) this_update: String,
    pub(super) next_update: String,
    pub(super) entries: u64,
    /// The DER size of a CRL `/crl/...` serves now (the store lists metadata only).
    pub(super) size: Option<usize>,
    /// The public download path, for the CRL `/crl/...` serves now (older ones are not).
    pub(super) download: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/crls.html")]
pub(super) struct CrlsPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) rows: Vec<CrlRow>,
}

pub(super) async fn crls_page(
    State(state): State<AppState>,
    user: WebUser,
    PageCaPath { ca, .. }: PageCaPath,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, PageError> {
    crls_view(&state, &user, &ca, done.notice()).await
}

pub(super) async fn crls_view(
    state: &AppState,
    user: &WebUser,
    ca: &CaName,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let records = state.admin.list_crls(Some(&user.identity), ca, 50).await?;
    let nav = nav(state, ca);
    let rows = records
        .iter()
        .map(|r| {
            let delta = r.delta_base.is_some();
            let current = state
                .revocation
                .crl(ca, r.shard, delta)
                .filter(|c| c.number == r.number);
            let scope = signet_api::revocation::CrlScope::of_shard(r.shard);
            CrlRow {
                number: r.number,
                key: scope.key,
                partition: scope.partition,
                kind: r
                    .delta_base
                    .map_or_else(|| "full".to_string(), |b| format!("delta of {b}")),
                this_update: fmt_time(r.this_update),
                next_update: fmt_time(r.next_update),
                entries: r.entries,
                size: current.as_ref().map(|c| c.der.len()),
                download: current.map(|_| crl_path(&nav.ca, r.shard, delta)),
            }
        })
        .collect();
    Ok(render(&CrlsPage {
        chrome: chrome(format!("{} · CRLs", nav.ca), "admin-crls", user),
        nav,
        notice,
        rows,
    }))
}

/// The public path of a shard's current CRL (see [`crate::revocation_api`]): `CA` for key 0,
/// `CA(k)` for key index k.
pub(super) fn crl_path(ca: &str, shard: u32, delta: bool) -> String {
    let scope = signet_api::revocation::CrlScope::of_shard(shard);
    let ca = match scope.key {
        0 => url_encode(ca),
        k => format!("{}({k})", url_encode(ca)),
    };
    match (scope.partition, delta) {
        (0, false) => format!("/crl/{ca}.crl"),
        (0, true) => format!("/crl/{ca}/delta.crl"),
        (n, false) => format!("/crl/{ca}/{n}.crl"),
        (n, true) => format!("/crl/{ca}/{n}-delta.crl"),
    }
}

#[derive(Deserialize)]
pub(super) struct PublishForm {
    #[serde(default)]
    pub(super) delta: Option<String>,
}

pub(super) async fn publish_crls(
    State(state): State<AppState>,
    PageCaPath { ca, .. }: PageCaPath,
    CsrfForm(user, form): CsrfForm<PublishForm>,
) -> Result<Response, PageError> {
    match state
        .admin
        .publish_crls(Some(&user.identity), &ca, form.delta.is_some())
        .await
    {
        Ok(_) => Ok(back(
            format!("{}/crls", ca_path(&nav(&state, &ca).ca)),
            "published",
        )),
        Err(e) => refused(e, |n| crls_view(&state, &user, &ca, n)).await,
    }
}
