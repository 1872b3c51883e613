//! What front ends read beyond `Enroll` and `ICertAdmin`: the profiles a caller may enroll
//! in, a caller's own requests, a CA's statistics, re-checking a session's credential, and
//! the audit records of signing in and out. Nothing here knows a web page: the front end
//! says what it wants (chart days, expiring window) and names itself in the audit action.
//!
//! Authorization stays here, as everywhere in the engine: front ends only authenticate.

use std::time::{Duration, SystemTime};

use crate::auth::{Identity, Role};
use crate::authority::{Authority, internal};
use crate::enroll::EnrollError;
use crate::ids::ProfileName;
use crate::store::{AuditTarget, NewAudit, StatisticsQuery};
pub use signet_api::admin::{CaStatistics, ExpiringCertificate, SessionAudit, StatisticsSpec};

/// The UTC midnight at or before `t`.
pub fn utc_day(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs - secs % 86_400)
}

impl Authority {
    /// The profiles of `ca` that `caller` may enroll in, default first (the enrollment page's
    /// choice). Unknown CAs are an error; a caller who may use none gets an empty list.
    pub fn enrollable_profiles(
        &self,
        ca: &str,
        caller: Option<&Identity>,
    ) -> Result<Vec<ProfileName>, EnrollError> {
        let state = self.resolve(ca)?;
        let policy = &state.runtime.policy;
        let mut profiles = policy.profiles();
        if let Some(default) = policy.default_profile() {
            profiles.sort_by_key(|p| *p != default);
        }
        Ok(profiles
            .into_iter()
            .filter(|p| self.may_enroll(state, p, caller).is_ok())
            .collect())
    }

    /// The caller's own requests to `ca`, newest first (the requester's "my requests").
    pub async fn requests_of(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        limit: u32,
    ) -> Result<Vec<crate::model::RequestRecord>, EnrollError> {
        let who = crate::auth::require(caller)?;
        let name = self.resolve(ca)?.runtime.info.name.clone();
        let rows = self
            .store
            .view_requests(
                &name,
                crate::store::ViewQuery {
                    requester: Some(who.name.clone()),
                    newest_first: true,
                    limit: limit.clamp(1, crate::admin::MAX_PAGE),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| internal("store", &e))?;
        Ok(rows)
    }

    /// The newest audit record's sequence number (auditors), for paging the log newest
    /// first.
    pub async fn audit_head(&self, caller: Option<&Identity>) -> Result<u64, EnrollError> {
        let who = crate::auth::require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .audit_head()
            .await
            .map_err(|e| internal("store", &e))
    }

    /// A CA's figures (managers, administrators and auditors): requests by status, an
    /// issuance chart of `spec.chart_days` days, certificates expiring soon.
    pub async fn statistics(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        spec: StatisticsSpec,
    ) -> Result<CaStatistics, EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        self.authorize_reader(caller, &name)?;
        let now = self.clock.now();
        let chart_from =
            utc_day(now) - Duration::from_secs(86_400 * u64::from(spec.chart_days.max(1) - 1));
        self.store
            .ca_statistics(StatisticsQuery {
                ca: name,
                now,
                chart_from,
                expiring_within: spec.expiring_within,
                expiring_list: spec.expiring_list,
            })
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Re-checks the credential a session was opened with: a token session ends when its
    /// token is revoked or expires. Returns the token's current identity (roles may have been
    /// narrowed since). Identities from client certificates are re-checked by the server,
    /// which holds the certificate mappings; they are returned unchanged here.
    pub fn refresh_identity(&self, identity: &Identity) -> Result<Identity, EnrollError> {
        let Some(id) = identity
            .via
            .strip_prefix("token:")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return Ok(identity.clone());
        };
        let ended =
            || EnrollError::Unauthenticated("the session's API token is no longer valid".into());
        let tokens = self.tokens.read().map_err(|_| ended())?;
        tokens
            .values()
            .find(|t| t.id == id)
            .and_then(|t| self.token_identity(t))
            .ok_or_else(ended)
    }

    /// Records that `identity` signed in to or out of a front end: the audit action is
    /// `FRONTEND-sign-in` / `FRONTEND-sign-out` (`web-sign-in`).
    pub async fn record_session(
        &self,
        identity: &Identity,
        session: SessionAudit,
    ) -> Result<(), EnrollError> {
        let details = crate::audit_details::to_json(&crate::audit_details::ConsoleSession {
            method: &session.method,
            peer: &session.peer,
            via: &identity.via,
        });
        let record = NewAudit {
            at: self.clock.now(),
            actor: identity.name.clone(),
            action: format!("{}-{}", session.front_end, session.action.as_str()),
            ca: None,
            target: AuditTarget::None,
            details,
        };
        self.store
            .append_audit(vec![record])
            .await
            .map_err(|e| internal("store", &e))
    }
}
