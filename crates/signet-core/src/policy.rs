//! The policy module contract: AD CS `ICertPolicy` (the module) and `ICertServerPolicy` (the
//! context the CA hands it).

use std::time::{Duration, SystemTime};

use signet_x509::{CertificationRequest, DistinguishedName, Extension, San};

use crate::draft::{Draft, DraftError, ExtensionOrigin};
use crate::edit::{EditRefused, ExtensionEdit};
use crate::ids::{CaName, ProfileName, RequestId};

/// A module failed (configuration, internal error). On `verify` this makes the request
/// `failed`; on `start` it stops the server from starting.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{module}: {message}")]
pub struct ModuleError {
    pub module: String,
    pub message: String,
}

impl ModuleError {
    pub fn new(module: impl Into<String>, message: impl Into<String>) -> ModuleError {
        ModuleError {
            module: module.into(),
            message: message.into(),
        }
    }
}

/// The policy's answer (AD CS `VR_INSTANT_OK`, `VR_PENDING`, `VR_INSTANT_BAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Issue,
    /// Put the request in the pending queue, with a reason shown to the requester.
    Pending(String),
    /// Refuse, with a reason naming what was wrong.
    Deny(String),
}

/// What the CA tells a policy module about itself at start (`ICertPolicy::Initialize`).
#[derive(Debug, Clone)]
pub struct CaInfo {
    pub name: CaName,
    /// `host/CAName`.
    pub config: String,
    pub subject: DistinguishedName,
    /// The CA certificate, DER.
    pub certificate: Vec<u8>,
}

/// The request as submitted, read-only (the `GetRequestProperty`/`GetRequestAttribute` side).
#[derive(Debug, Clone)]
pub struct RequestProps {
    /// `None` on a first submission: Signet assigns ids when the request is committed.
    pub id: Option<RequestId>,
    pub ca: CaName,
    pub profile: ProfileName,
    /// The authenticated identity that submitted the request, if any.
    pub requester: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub csr: CertificationRequest,
    pub submitted_at: SystemTime,
    /// What the store knows about this key and requester, looked up before the policy runs
    /// when the profile asks for it ([`Policy::issuance`]); `None` otherwise.
    pub history: Option<CertificateHistory>,
}

/// The certificate history the engine looks up for a profile that asks for it
/// ([`IssuanceNeeds`]). The policy module never reads the store itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateHistory {
    /// With `IssuanceNeeds::key_holders`: the distinct requesters of every certificate in
    /// this database (any CA, expired and revoked ones included) for the request's public
    /// key, compared by the SHA-256 of the SubjectPublicKeyInfo. `None` stands for an
    /// anonymous or imported certificate, whose holder is unknown.
    pub key_holders: Vec<Option<String>>,
    /// With `IssuanceNeeds::held`: the certificates the authenticated requester holds from
    /// this CA, issued under this profile, that are valid now (started, not expired, not
    /// revoked, not on hold), newest first, at most [`CertificateHistory::MAX_HELD`]. Empty for
    /// an anonymous request.
    pub held: Vec<HeldCertificate>,
}

impl CertificateHistory {
    /// How many valid certificates of one requester and profile are looked at.
    pub const MAX_HELD: u32 = 256;
}

/// A valid certificate a requester holds, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCertificate {
    /// Its subject, RFC 4514 as Signet prints it (`DistinguishedName`'s `Display`).
    pub subject: String,
    /// Its subjectAltNames as Signet prints them (`DNS:…`, `IP:…`, `email:…`, `URI:…`).
    pub sans: Vec<String>,
    pub not_after: SystemTime,
}

/// What the engine does for a profile around the policy call: look up certificate history
/// first, and how far to backdate notBefore. Everything is off by default, so a module that
/// does not ask costs nothing extra on the issuance path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssuanceNeeds {
    /// Fill [`CertificateHistory::key_holders`].
    pub key_holders: bool,
    /// Fill [`CertificateHistory::held`].
    pub held: bool,
    /// How far before now the draft's notBefore starts (clock skew of relying parties);
    /// `None`: [`crate::authority::CLOCK_SKEW`]. The engine caps it at
    /// [`crate::authority::MAX_BACKDATE`], and never starts before the CA certificate.
    pub backdate: Option<Duration>,
}

impl IssuanceNeeds {
    /// Whether the engine must read the store before the policy runs.
    pub fn history(&self) -> bool {
        self.key_holders || self.held
    }
}

/// The context a policy module works in (`ICertServerPolicy`): read the request, edit the
/// draft certificate.
pub struct PolicyCtx<'a> {
    request: &'a RequestProps,
    draft: &'a mut Draft,
    new_request: bool,
    approver: Option<&'a str>,
    origin: ExtensionOrigin,
}

impl<'a> PolicyCtx<'a> {
    pub fn new(
        request: &'a RequestProps,
        draft: &'a mut Draft,
        new_request: bool,
        approver: Option<&'a str>,
    ) -> PolicyCtx<'a> {
        PolicyCtx {
            request,
            draft,
            new_request,
            approver,
            origin: ExtensionOrigin::Policy,
        }
    }

    // --- the request (read-only) ---

    pub fn request(&self) -> &RequestProps {
        self.request
    }
    pub fn profile(&self) -> &ProfileName {
        &self.request.profile
    }
    pub fn requester(&self) -> Option<&str> {
        self.request.requester.as_deref()
    }
    pub fn request_subject(&self) -> &DistinguishedName {
        &self.request.csr.subject
    }
    pub fn request_sans(&self) -> &[San] {
        &self.request.csr.sans
    }
    pub fn request_extensions(&self) -> &[Extension] {
        &self.request.csr.extensions
    }
    pub fn public_key(&self) -> signet_x509::KeyAlgorithm {
        self.request.csr.key
    }
    pub fn public_key_der(&self) -> &[u8] {
        &self.request.csr.spki_der
    }
    /// A request attribute (`GetRequestAttribute`), matched case-insensitively as AD CS does.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.request
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The certificate history the engine looked up ([`Policy::issuance`]), if the profile
    /// asked for it.
    pub fn history(&self) -> Option<&CertificateHistory> {
        self.request.history.as_ref()
    }
    /// `bNewRequest`: false when an officer resubmits the request.
    pub fn is_new_request(&self) -> bool {
        self.new_request
    }
    /// Who resubmitted the request, on a resubmission.
    pub fn approver(&self) -> Option<&str> {
        self.approver
    }

    // --- the draft certificate (read-write) ---

    pub fn draft(&self) -> &Draft {
        self.draft
    }
    pub fn set_subject(&mut self, subject: DistinguishedName) {
        self.draft.set_subject(subject);
    }
    pub fn set_sans(&mut self, sans: Vec<San>) {
        self.draft.set_sans(sans);
    }
    pub fn set_validity(
        &mut self,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(), DraftError> {
        self.draft.set_validity(not_before, not_after)
    }
    /// Adds or replaces an extension (`SetCertificateExtension`).
    pub fn set_extension(&mut self, ext: Extension) -> Result<(), DraftError> {
        self.draft.set_extension(ext, self.origin)
    }
    pub fn set_critical(&mut self, oid: &str, critical: bool) -> Result<(), DraftError> {
        self.draft.set_critical(oid, critical)
    }
    /// `EXTENSION_DISABLE_FLAG`: kept in the record, left out of the certificate.
    pub fn disable_extension(&mut self, oid: &str) -> Result<(), DraftError> {
        self.draft.disable_extension(oid)
    }
    /// Copies a requested extension into the certificate.
    pub fn enable_extension(&mut self, oid: &str) -> Result<(), DraftError> {
        self.draft.enable_extension(oid)
    }
}

/// Who may enroll in a profile and how many managers must approve (the parts of a profile
/// the engine enforces itself, before and after the policy runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileAccess {
    /// Unauthenticated callers may submit.
    pub anonymous: bool,
    /// Identity names and `group:NAME` entries that may enroll; empty: any identity holding
    /// the requester role on the CA.
    pub enroll: Vec<String>,
    /// Distinct certificate managers (never the requester) who must approve a pending request
    /// before it is resubmitted to the policy. At least 1.
    pub approvals: u32,
    /// Requests one identity may submit to this profile per minute, on top of the CA-wide
    /// limit ([`crate::Limits`]); `None`: only the CA-wide limit.
    pub requests_per_minute: Option<u32>,
}

impl Default for ProfileAccess {
    fn default() -> Self {
        ProfileAccess {
            anonymous: false,
            enroll: Vec::new(),
            approvals: 1,
            requests_per_minute: None,
        }
    }
}

/// A policy module (`ICertPolicy`). One per CA. `verify` runs on the CA's worker pool, so it
/// may block briefly but must not wait on the network for long.
pub trait Policy: Send + Sync {
    /// The module's type name (`profiles`, `rules`, ...).
    fn name(&self) -> &str;
    /// `GetDescription`.
    fn description(&self) -> String;
    /// `Initialize`: called once when the CA starts.
    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError>;
    /// Whether a profile exists; requests naming an unknown profile are refused before they
    /// are stored.
    fn has_profile(&self, profile: &ProfileName) -> bool;
    /// Every profile this module knows, for config discovery.
    fn profiles(&self) -> Vec<ProfileName>;
    /// The profile used when a request names none.
    fn default_profile(&self) -> Option<ProfileName>;
    /// Who may enroll in `profile`, and its M-of-N approval count.
    fn access(&self, _profile: &ProfileName) -> ProfileAccess {
        ProfileAccess::default()
    }
    /// What the engine must do for `profile` around `verify`: look up certificate history,
    /// backdate notBefore. Nothing by default.
    fn issuance(&self, _profile: &ProfileName) -> IssuanceNeeds {
        IssuanceNeeds::default()
    }
    /// `VerifyRequest`.
    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError>;
    /// Checks a certificate manager's edit of one extension of `request` (set, or disable
    /// when `edit.value` is `None`) against the rules this module applies to the request
    /// itself; `Err` ([`EditRefused::Policy`]) says why, naming the value. The engine has already refused what no
    /// edit may do ([`crate::edit::check_officer_edit`]), and asks again when the request is
    /// resubmitted. A module that cannot judge edits allows none: the default refuses.
    fn check_edit(&self, request: &RequestProps, edit: &ExtensionEdit) -> Result<(), EditRefused> {
        let _ = request;
        Err(EditRefused::Policy(format!(
            "policy module {} accepts no officer edits (extension {}); submit the request under a profile that issues what is needed",
            self.name(),
            edit.oid
        )))
    }
    /// `ShutDown`.
    fn shutdown(&self) {}
}
