//! Small policy modules for tests: each gives one answer to every request.
//!
//! A request's subject, SANs and extensions reach a certificate only if the policy copies
//! them (the `Draft` starts empty): [`AlwaysIssue`] copies the subject and the SANs, which
//! is all an engine test needs.

use signet_core::{CaInfo, ModuleError, Policy, PolicyCtx, ProfileAccess, ProfileName, Verdict};

/// The one profile the test policies know.
pub const PROFILE: &str = "test";

fn profile() -> ProfileName {
    ProfileName::new(PROFILE).expect("a valid profile name")
}

/// What every test policy shares: one profile, `test`, the default; `approvals` managers
/// must approve a pending request.
macro_rules! one_profile {
    () => {
        fn description(&self) -> String {
            format!("test policy {}", self.name())
        }
        fn start(&self, _ca: &CaInfo) -> Result<(), ModuleError> {
            Ok(())
        }
        fn has_profile(&self, p: &ProfileName) -> bool {
            p.as_str() == PROFILE
        }
        fn profiles(&self) -> Vec<ProfileName> {
            vec![profile()]
        }
        fn default_profile(&self) -> Option<ProfileName> {
            Some(profile())
        }
    };
}

/// Issues every request: the subject and SANs as requested, the CA's validity.
#[derive(Debug, Default)]
pub struct AlwaysIssue;

impl Policy for AlwaysIssue {
    fn name(&self) -> &str {
        "always-issue"
    }
    one_profile!();
    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        copy_request(ctx);
        Ok(Verdict::Issue)
    }
}

/// Denies every request with [`AlwaysDeny::REASON`].
#[derive(Debug, Default)]
pub struct AlwaysDeny;

impl AlwaysDeny {
    pub const REASON: &'static str = "this test CA issues nothing";
}

impl Policy for AlwaysDeny {
    fn name(&self) -> &str {
        "always-deny"
    }
    one_profile!();
    fn verify(&self, _ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        Ok(Verdict::Deny(AlwaysDeny::REASON.into()))
    }
}

/// Puts every new request in the pending queue; a request resubmitted by managers (after
/// `approvals` of them approved) is issued as [`AlwaysIssue`] would.
#[derive(Debug)]
pub struct AlwaysPending {
    pub approvals: u32,
}

impl AlwaysPending {
    pub const REASON: &'static str = "waiting for a certificate manager";

    /// Pending until `approvals` distinct managers approve.
    pub fn needing(approvals: u32) -> AlwaysPending {
        AlwaysPending { approvals }
    }
}

impl Policy for AlwaysPending {
    fn name(&self) -> &str {
        "always-pending"
    }
    one_profile!();
    fn access(&self, _profile: &ProfileName) -> ProfileAccess {
        ProfileAccess {
            approvals: self.approvals,
            ..ProfileAccess::default()
        }
    }
    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        if ctx.is_new_request() {
            return Ok(Verdict::Pending(AlwaysPending::REASON.into()));
        }
        copy_request(ctx);
        Ok(Verdict::Issue)
    }
}

/// Copies the requested subject and SANs into the draft.
fn copy_request(ctx: &mut PolicyCtx<'_>) {
    let subject = ctx.request_subject().clone();
    let sans = ctx.request_sans().to_vec();
    ctx.set_subject(subject);
    ctx.set_sans(sans);
}
