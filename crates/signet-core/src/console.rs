//! What the web pages need from the engine beyond `Enroll` and `ICertAdmin`: the profiles a
//! caller may enroll in, a CA's statistics for the console's dashboard, re-checking a signed-in
//! session's credential, and audit records for signing in and out.
//!
//! Authorization stays here, as everywhere in the engine: the HTTP layer only authenticates.

use std::time::{Duration, SystemTime};

use crate::auth::{Identity, Role};
use crate::authority::{Authority, internal};
use crate::enroll::EnrollError;
use crate::ids::ProfileName;
use crate::model::RequestStatus;
use crate::store::{AuditTarget, NewAudit};

/// The issuance chart covers this many days, today included.
pub const CHART_DAYS: u32 = 30;

/// A CA at a glance (the console's dashboard), read in one store query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaStatistics {
    /// Requests by status, every status present (zero counts included), in
    /// [`RequestStatus`] order: pending, issued, denied, failed, revoked.
    pub by_status: Vec<(RequestStatus, u64)>,
    /// Certificates issued per UTC day, oldest first, `CHART_DAYS` entries ending today:
    /// (day start, count).
    pub issued_per_day: Vec<(SystemTime, u64)>,
    /// Unrevoked certificates whose notAfter falls within `expiring_within` of now.
    pub expiring: u64,
    /// The first `expiring_list` of those, soonest first.
    pub expiring_soonest: Vec<ExpiringCertificate>,
    /// The newest audit record's sequence number (0: none yet).
    pub audit_head: u64,
}

/// A certificate that expires soon (the dashboard's list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCertificate {
    pub request_id: crate::ids::RequestId,
    pub serial: crate::ids::SerialNumber,
    pub subject: String,
    pub not_after: SystemTime,
}

/// What [`crate::Store::ca_statistics`] counts.
#[derive(Debug, Clone)]
pub struct StatisticsQuery {
    pub ca: crate::ids::CaName,
    pub now: SystemTime,
    /// The first day of the chart (a UTC midnight).
    pub chart_from: SystemTime,
    pub expiring_within: Duration,
    /// How many of the expiring certificates to list.
    pub expiring_list: u32,
}

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

    /// Fills `buf` from the CA's random generator (session ids, CSRF tokens).
    pub fn fill_random(&self, buf: &mut [u8]) -> Result<(), EnrollError> {
        self.random.fill(buf).map_err(|e| internal("random", &e))
    }

    /// Whether `caller` may read the console of `ca` (manager, administrator or auditor
    /// on it), without reading anything.
    pub fn authorize_console(
        &self,
        caller: Option<&Identity>,
        ca: &str,
    ) -> Result<(), EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        self.authorize_reader(caller, &name)
    }

    /// The dashboard's figures for `ca` (managers, administrators and auditors).
    pub async fn statistics(
        &self,
        caller: Option<&Identity>,
        ca: &str,
        expiring_within: Duration,
    ) -> Result<CaStatistics, EnrollError> {
        let name = self.resolve(ca)?.runtime.info.name.clone();
        self.authorize_reader(caller, &name)?;
        let now = self.clock.now();
        let chart_from =
            utc_day(now) - Duration::from_secs(86_400 * u64::from(CHART_DAYS.saturating_sub(1)));
        self.store
            .ca_statistics(StatisticsQuery {
                ca: name,
                now,
                chart_from,
                expiring_within,
                expiring_list: 10,
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

    /// Records a web sign-in or sign-out in the audit log. `how` is the method (`token`, `certificate`); `peer` the client address.
    pub async fn audit_web_session(
        &self,
        action: WebSessionEvent,
        identity: &Identity,
        how: &str,
        peer: &str,
    ) -> Result<(), EnrollError> {
        let details = crate::audit_details::to_json(&crate::audit_details::ConsoleSession {
            method: how,
            peer,
            via: &identity.via,
        });
        let record = NewAudit {
            at: self.clock.now(),
            actor: identity.name.clone(),
            action: action.as_str().into(),
            ca: None,
            target: AuditTarget::None,
            details,
        };
        self.store
            .append_audit(vec![record])
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Whether `identity` may open the console at all: it holds a role other than requester
    /// on some CA.
    pub fn may_use_console(identity: &Identity) -> bool {
        [Role::Admin, Role::Manager, Role::Auditor]
            .into_iter()
            .any(|r| identity.roles.contains(r))
    }
}

/// The audit actions of web sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSessionEvent {
    SignIn,
    SignOut,
}

impl WebSessionEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebSessionEvent::SignIn => "web-sign-in",
            WebSessionEvent::SignOut => "web-sign-out",
        }
    }
}
