//! The administration surface (AD CS `ICertAdmin` / `ICertView`): what the REST admin API
//! and the web console call, with the records and queries it exchanges.
//!
//! Every method takes the caller's identity and the engine authorizes it; a front end only
//! authenticates. Methods naming a CA take its [`CaName`]; an unknown CA is
//! [`EnrollError::UnknownCa`].

use std::time::{Duration, SystemTime};

use crate::BoxFuture;
use crate::auth::{Identity, Roles};
use crate::enroll::{EnrollError, SubmitResponse};
use crate::event::Event;
use crate::ids::{CaName, Oid, RequestId, SerialNumber};
use crate::model::{RequestRecord, RequestStatus, RevocationReason};
use crate::revocation::{CrlRecord, PublishedSummary};

/// The most rows one view or audit page returns.
pub const MAX_PAGE: u32 = 1000;

/// The first word of every signed checkpoint text.
pub const CHECKPOINT_DOMAIN: &str = "signet-audit-checkpoint-v1";

/// ICertView: which requests to list. Every filter is optional; results are ordered by id
/// and paginated with `after_id`.
#[derive(Debug, Clone, Default)]
pub struct ViewQuery {
    pub status: Option<RequestStatus>,
    pub profile: Option<String>,
    pub requester: Option<String>,
    /// Case-insensitive substring of the subject or of any SAN.
    pub text: Option<String>,
    pub serial: Option<SerialNumber>,
    pub submitted_after: Option<SystemTime>,
    pub submitted_before: Option<SystemTime>,
    /// Certificate notBefore range (when it was issued).
    pub issued_after: Option<SystemTime>,
    pub issued_before: Option<SystemTime>,
    /// Unrevoked certificates whose notAfter falls before this time (and after now).
    pub expiring_before: Option<SystemTime>,
    /// Only requests that have a certificate.
    pub certificates_only: bool,
    /// Newest first (then `after_id` pages towards older requests).
    pub newest_first: bool,
    pub after_id: Option<RequestId>,
    pub limit: u32,
}

/// A request with its history (the audit records about it), for the officer's view.
#[derive(Debug, Clone)]
pub struct RequestDetails {
    pub record: RequestRecord,
    pub history: Vec<AuditRecord>,
    /// Approvals the profile needs before resubmission.
    pub approvals_required: u32,
}

/// What `create_token` is asked for.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub name: Option<String>,
    pub roles: Roles,
    pub cas: Vec<String>,
    pub groups: Vec<String>,
    pub expires_days: Option<u32>,
    /// The token may also serve as a shared secret the server computes MACs with (CMP's
    /// password-based MAC): the server can recompute it from a stored seed and its
    /// token-secret key, where other tokens are stored only as a hash.
    pub shared_secret: bool,
}

/// An API token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: u64,
    pub name: String,
    pub hash: [u8; 32],
    pub roles: Roles,
    pub cas: Vec<CaName>,
    pub groups: Vec<String>,
    pub created_at: SystemTime,
    pub created_by: String,
    pub expires_at: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
    /// For a token made with [`TokenSpec::shared_secret`]: the seed its secret derives from.
    pub secret_seed: Option<[u8; 16]>,
}

/// One audit record as stored: the chain link is `hash = SHA-256(prev_hash || record)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: SystemTime,
    pub actor: String,
    pub action: String,
    pub ca: Option<String>,
    /// `CA/request/ID`, `CA/certificate/SERIAL`, `token/ID`, ... or empty.
    pub target: String,
    pub details: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The result of recomputing the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// Records checked.
    pub records: u64,
    /// The first record whose link does not hold, and why. `None`: the chain is intact.
    pub first_broken: Option<(u64, String)>,
}

/// An officer's edit of one extension of a pending request (`SetCertificateExtension` from
/// `ICertAdmin`). What no edit may do is checked by the engine (`signet_core::edit`).
#[derive(Debug, Clone)]
pub struct ExtensionEdit {
    pub oid: Oid,
    pub critical: bool,
    /// The DER inside extnValue; `None` disables the extension (`EXTENSION_DISABLE_FLAG`).
    pub value: Option<Vec<u8>>,
}

impl ExtensionEdit {
    /// The OID of an edit as an officer typed it: not a canonical dotted OID is a bad
    /// request (the engine's own check says the same).
    pub fn parse_oid(s: &str) -> Result<Oid, EnrollError> {
        Oid::new(s).map_err(|_| {
            EnrollError::BadRequest(format!(
                "{:?} is not a dotted OID",
                s.chars().take(80).collect::<String>()
            ))
        })
    }
}

/// One signed checkpoint of the audit chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// 1, 2, 3, ... in the order the server signed them.
    pub number: u64,
    /// The audit record it covers (the chain head when it was signed).
    pub seq: u64,
    /// That record's stored hash (32 bytes).
    pub hash: Vec<u8>,
    /// When it was signed, whole seconds.
    pub at: SystemTime,
    /// Ed25519 over [`AuditCheckpoint::signed_text`] (64 bytes).
    pub signature: Vec<u8>,
}

impl AuditCheckpoint {
    /// The exact text that is signed: one line, single spaces, no trailing newline, so a
    /// witness can check it with `openssl pkeyutl -verify -rawin`:
    ///
    /// ```text
    /// signet-audit-checkpoint-v1 NUMBER SEQ HASH-HEX AT-UNIX-SECONDS
    /// ```
    pub fn signed_text(number: u64, seq: u64, hash: &[u8], at: SystemTime) -> String {
        format!(
            "{CHECKPOINT_DOMAIN} {number} {seq} {} {}",
            hex::encode(hash),
            unix(at)
        )
    }

    /// This checkpoint's signed text.
    pub fn text(&self) -> String {
        AuditCheckpoint::signed_text(self.number, self.seq, &self.hash, self.at)
    }
}

/// The newest checkpoint that matched the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointAnchor {
    pub number: u64,
    pub seq: u64,
    pub at: SystemTime,
    /// `database`, or where a witnessed copy came from (a file name).
    pub source: String,
}

/// What verifying the audit chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Rows in the log.
    pub records: u64,
    /// The newest record's sequence number.
    pub head: u64,
    /// The first sequence number linked with the chain key; `None`: no key was available,
    /// so everything was checked with the unkeyed formula.
    pub key_from: Option<u64>,
    /// The last record whose link verified (0: none).
    pub verified_through: u64,
    /// The first record whose link does not hold, and why.
    pub broken: Option<(u64, String)>,
    /// Checkpoints whose signature and hash were checked, stored and witnessed.
    pub checkpoints_stored: u64,
    pub checkpoints_witnessed: u64,
    /// Whether checkpoint signatures could be checked (a public key was available).
    pub signatures_checked: bool,
    /// The newest checkpoint that matched.
    pub anchor: Option<CheckpointAnchor>,
    /// Checkpoints that do not match the chain or carry a bad signature, each with the
    /// record it concerns: every one means tampering (or a wrong key file).
    pub problems: Vec<(u64, String)>,
}

impl AuditReport {
    /// No broken link and no checkpoint problem.
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.problems.is_empty()
    }

    /// The first problem: a broken link, else the first checkpoint problem.
    pub fn first_problem(&self) -> Option<&(u64, String)> {
        self.broken.as_ref().or(self.problems.first())
    }

    /// The short form older callers show (the web console).
    pub fn to_check(&self) -> AuditCheck {
        AuditCheck {
            records: self.records,
            first_broken: self.first_problem().cloned(),
        }
    }

    /// A report for a store that can only recompute its chain.
    pub fn from_check(check: AuditCheck) -> AuditReport {
        AuditReport {
            records: check.records,
            head: check.records,
            verified_through: match &check.first_broken {
                Some((seq, _)) => seq.saturating_sub(1),
                None => check.records,
            },
            broken: check.first_broken,
            ..AuditReport::default()
        }
    }

    /// How far back the verification vouches, in sentences (`time` formats instants).
    pub fn statement(&self, time: &dyn Fn(SystemTime) -> String) -> Vec<String> {
        let mut out = Vec::new();
        if self.records == 0 && self.broken.is_none() {
            out.push("the audit log is empty".to_string());
        }
        let v = self.verified_through;
        let range = |a: u64, b: u64| {
            if a == b {
                format!("record {a}")
            } else {
                format!("records {a}–{b}")
            }
        };
        match self.key_from {
            None if v > 0 => out.push(format!(
                "{} verified with unkeyed SHA-256 only (no audit key): anyone who can write the database could have rewritten them",
                range(1, v)
            )),
            Some(from) => {
                if from > 1 && v > 0 {
                    out.push(format!(
                        "{} verified with unkeyed SHA-256 only (the legacy segment, written before the audit key existed)",
                        range(1, v.min(from - 1))
                    ));
                }
                if v >= from {
                    out.push(format!("{} verified with the audit key", range(from, v)));
                }
            }
            None => {}
        }
        if let Some((seq, why)) = &self.broken {
            out.push(format!("BROKEN at record {seq}: {why}"));
            if self.head > *seq {
                out.push(format!(
                    "{} after it cannot be vouched for",
                    range(seq + 1, self.head)
                ));
            }
        }
        for (seq, why) in &self.problems {
            out.push(format!("BROKEN at record {seq}: {why}"));
        }
        let checked = self.checkpoints_stored + self.checkpoints_witnessed;
        if checked > 0 || self.signatures_checked {
            out.push(format!(
                "{checked} checkpoint{} checked ({} stored in the database, {} witnessed outside it){}",
                if checked == 1 { "" } else { "s" },
                self.checkpoints_stored,
                self.checkpoints_witnessed,
                if self.signatures_checked {
                    ""
                } else {
                    "; signatures NOT checked: no audit signing public key"
                }
            ));
        }
        match &self.anchor {
            Some(a) => {
                out.push(format!(
                    "chain head at checkpoint #{} (seq {}, signed at {}, {}) matches: its signature vouches for {}",
                    a.number,
                    a.seq,
                    time(a.at),
                    a.source,
                    range(1, a.seq)
                ));
                if v > a.seq {
                    let n = v - a.seq;
                    out.push(format!(
                        "{n} record{} after the last checkpoint ({}) {} covered only by {}",
                        if n == 1 { "" } else { "s" },
                        range(a.seq + 1, v),
                        if n == 1 { "is" } else { "are" },
                        if self.key_from.is_some_and(|f| f <= a.seq + 1) {
                            "the key"
                        } else {
                            "unkeyed hashes"
                        }
                    ));
                }
            }
            // With a break or a problem, those lines already say what is wrong.
            None if v > 0 && self.ok() => out.push(
                "no signed checkpoint covers the chain: records deleted from its end would go unnoticed"
                    .to_string(),
            ),
            None => {}
        }
        out
    }
}

/// How an exit module is retried (`[[ca.exit]]` `max_attempts`, `backoff_initial`,
/// `backoff_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts on one event before it is parked (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with every further failure...
    pub backoff_initial: Duration,
    /// ... up to this.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 20,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failure on an event (1-based):
    /// `min(backoff_initial * 2^(attempts-1), backoff_max)`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(31);
        self.backoff_initial
            .checked_mul(1u32 << shift)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

/// The delivery state of one exit module of a CA (`Store::exit_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitState {
    /// The last outbox seq the module acknowledged (or that was parked for it).
    pub cursor: u64,
    /// The event the module is failing on (always after `cursor`); 0 when it is not failing.
    pub failing_seq: u64,
    /// Failed attempts on `failing_seq`.
    pub attempts: u32,
    /// When the next attempt on `failing_seq` is due.
    pub next_attempt_at: Option<SystemTime>,
    /// The error of the last attempt on `failing_seq`.
    pub last_error: Option<String>,
    /// When the cursor last moved after a successful delivery.
    pub last_success_at: Option<SystemTime>,
    /// Events parked for this module (see `Store::park_event`).
    pub parked: u64,
}

/// One (CA, exit module) pair as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    pub ca: CaName,
    pub exit: String,
    pub description: String,
    pub head: u64,
    pub state: ExitState,
    pub retry: RetryPolicy,
}

impl ExitStatus {
    /// Outbox rows after the module's cursor.
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.state.cursor)
    }
}

/// What one `Authority::deliver_exit` call did, and when to call it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitStep {
    pub delivered: u64,
    pub failed: u64,
    pub parked: u64,
    /// The module's cursor afterwards, and the CA's newest outbox seq.
    pub cursor: u64,
    pub head: u64,
    pub next: NextRun,
}

/// When a delivery task should run its module again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NextRun {
    /// Caught up: wait for new events.
    #[default]
    Idle,
    /// More events are waiting: run again now.
    Now,
    /// The module is failing: the next attempt is due then.
    At(SystemTime),
}

/// What one delivery pass did, for metrics and logs.
#[derive(Debug, Default, Clone)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub failed: u64,
    /// Outbox rows not yet acknowledged by the slowest exit module, per CA.
    pub lag: Vec<(CaName, u64)>,
    /// True when a module failed and the pass should be retried later.
    pub retry: bool,
}

/// A parked event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub ca: CaName,
    pub exit: String,
    pub seq: u64,
    pub event: Event,
    pub request_id: Option<RequestId>,
    pub error: String,
    pub attempts: u32,
    pub parked_at: SystemTime,
}

/// A CA at a glance (the console's dashboard), read in one store query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaStatistics {
    /// Requests by status, every status present (zero counts included), in
    /// [`RequestStatus`] order: pending, issued, denied, failed, revoked.
    pub by_status: Vec<(RequestStatus, u64)>,
    /// Certificates issued per UTC day, oldest first, [`StatisticsSpec::chart_days`] entries ending today:
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
    pub request_id: RequestId,
    pub serial: SerialNumber,
    pub subject: String,
    pub not_after: SystemTime,
}

/// What a dashboard asks [`Administer::statistics`] for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatisticsSpec {
    /// Days of the issuance chart, today included.
    pub chart_days: u32,
    /// Certificates whose notAfter falls within this of now count as expiring.
    pub expiring_within: Duration,
    /// How many of the expiring certificates to list.
    pub expiring_list: u32,
}

/// How a caller opened or closed a session of a front end, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAudit {
    /// The front end, as the audit action's prefix (`web`: `web-sign-in`).
    pub front_end: &'static str,
    pub action: SessionAction,
    /// How the caller authenticated (`token`, `certificate`).
    pub method: String,
    /// The client address.
    pub peer: String,
}

/// Signing in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction {
    SignIn,
    SignOut,
}

impl SessionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionAction::SignIn => "sign-in",
            SessionAction::SignOut => "sign-out",
        }
    }
}

type Answer<'a, T> = BoxFuture<'a, Result<T, EnrollError>>;

/// The administration surface of a CA server (ICertAdmin / ICertView, tokens, audit, exit
/// delivery, CRL publication, statistics). `caller` is the authenticated identity (`None`:
/// anonymous, refused by everything here).
pub trait Administer: Send + Sync {
    /// Whether role separation is on (an identity holding admin and manager may do nothing).
    fn role_separation(&self) -> bool;
    /// Whether `caller` may read the administration views of `ca` (manager, administrator
    /// or auditor on it), without reading anything.
    fn authorize_reader(&self, caller: Option<&Identity>, ca: &CaName) -> Result<(), EnrollError>;
    /// ICertView: requests of a CA.
    fn view<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        query: ViewQuery,
    ) -> Answer<'a, Vec<RequestRecord>>;
    /// The caller's own requests to `ca`, newest first (any authenticated caller).
    fn requests_of<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        limit: u32,
    ) -> Answer<'a, Vec<RequestRecord>>;
    /// A request with its history.
    fn request_details<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
    ) -> Answer<'a, RequestDetails>;
    /// The request that holds a certificate, with its history.
    fn certificate_details<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> Answer<'a, RequestDetails>;
    /// ResubmitRequest: one approval (M-of-N), then the decision.
    fn approve<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
    ) -> Answer<'a, SubmitResponse>;
    /// DenyRequest.
    fn deny<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        reason: &'a str,
    ) -> Answer<'a, SubmitResponse>;
    /// SetRequestAttributes: `None` removes an attribute.
    fn set_attributes<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        changes: Vec<(String, Option<String>)>,
    ) -> Answer<'a, RequestRecord>;
    /// SetCertificateExtension.
    fn set_extension<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        edit: ExtensionEdit,
    ) -> Answer<'a, RequestRecord>;
    /// RevokeCertificate (or a hold).
    fn revoke<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
        reason: RevocationReason,
        invalidity_date: Option<SystemTime>,
    ) -> Answer<'a, RequestRecord>;
    /// Releases a certificate from hold.
    fn unrevoke<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> Answer<'a, RequestRecord>;
    /// ImportCertificate: a certificate this CA issued elsewhere (PEM or DER).
    fn import<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        certificate: &'a [u8],
    ) -> Answer<'a, SubmitResponse>;
    /// Creates an API token; returns its record and the secret (shown once).
    fn create_token<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        spec: TokenSpec,
    ) -> Answer<'a, (TokenRecord, String)>;
    fn list_tokens<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, Vec<TokenRecord>>;
    fn revoke_token<'a>(&'a self, caller: Option<&'a Identity>, id: u64) -> Answer<'a, ()>;
    /// Audit records after `after`, oldest first.
    fn audit_log<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        after: u64,
        limit: u32,
    ) -> Answer<'a, Vec<AuditRecord>>;
    /// The newest audit record's sequence number.
    fn audit_head<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, u64>;
    /// Recomputes the audit chain.
    fn verify_audit<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, AuditCheck>;
    /// Verifies the chain with its key and checkpoints, stored and `witnessed` (each with
    /// where it came from).
    fn audit_report<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        witnessed: Vec<(String, AuditCheckpoint)>,
    ) -> Answer<'a, AuditReport>;
    /// Records that `identity` opened or closed a session of a front end.
    fn record_session<'a>(
        &'a self,
        identity: &'a Identity,
        session: SessionAudit,
    ) -> Answer<'a, ()>;
    /// Every exit module of a CA with its delivery state.
    fn exit_status<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
    ) -> Answer<'a, Vec<ExitStatus>>;
    /// Parked events of a CA (of one module when `exit` is given).
    fn parked_events<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: Option<&'a str>,
        limit: u32,
    ) -> Answer<'a, Vec<ParkedEvent>>;
    /// Delivers a parked event again.
    fn retry_parked<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
    ) -> Answer<'a, ()>;
    /// Parks the event a module is failing on.
    fn skip_exit<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: &'a str,
    ) -> Answer<'a, ParkedEvent>;
    /// Stored CRLs of a CA, newest first (metadata only).
    fn list_crls<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        limit: u32,
    ) -> Answer<'a, Vec<CrlRecord>>;
    /// Publishes new CRLs now (deltas only when `delta_only`).
    fn publish_crls<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        delta_only: bool,
    ) -> Answer<'a, Vec<PublishedSummary>>;
    /// A CA at a glance.
    fn statistics<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        spec: StatisticsSpec,
    ) -> Answer<'a, CaStatistics>;
}

use signet_x509::time::unix_seconds as unix;
