//! The front-end API (`signet_api`'s traits) implemented by the engine, by delegation to
//! `Authority`'s own methods. A front end holds these trait objects, never `Authority`;
//! `signet-cli` wires one `Arc<Authority>` into each of them.

use std::sync::Arc;
use std::time::SystemTime;

use signet_api::BoxFuture;
use signet_api::admin::{
    Administer, AuditCheck, AuditCheckpoint, AuditRecord, AuditReport, CaStatistics, ExitStatus,
    ExtensionEdit, ParkedEvent, RequestDetails, SessionAudit, StatisticsSpec, TokenRecord,
    TokenSpec, ViewQuery,
};
use signet_api::auth::{Authenticate, Identity, Role, Roles};
use signet_api::enroll::{
    CaSummary, Directory, Enroll, EnrollError, SubmitRequest, SubmitResponse,
};
use signet_api::ids::{CaName, ProfileName, RequestId, SerialNumber};
use signet_api::model::{RequestRecord, RevocationReason};
use signet_api::revocation::{
    CrlRecord, HolderRequest, HolderRevocation, OcspReply, PublicRevocation, PublishedCrl,
    PublishedSummary,
};

use crate::authority::Authority;

type Answer<'a, T> = BoxFuture<'a, Result<T, EnrollError>>;

impl Enroll for Authority {
    fn list_cas(&self) -> BoxFuture<'_, Result<Vec<CaSummary>, EnrollError>> {
        Box::pin(async move { Ok(self.summaries()) })
    }

    fn submit(&self, req: SubmitRequest) -> BoxFuture<'_, Result<SubmitResponse, EnrollError>> {
        Box::pin(self.submit_request(req))
    }

    fn retrieve<'a>(
        &'a self,
        ca: &'a str,
        id: RequestId,
        caller: Option<&'a Identity>,
    ) -> BoxFuture<'a, Result<SubmitResponse, EnrollError>> {
        Box::pin(self.retrieve_request(ca, id, caller))
    }

    fn ca_certificate<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<u8>, EnrollError>> {
        Box::pin(async move {
            let chain = Authority::chain(self, ca)?;
            chain
                .into_iter()
                .next()
                .ok_or_else(|| EnrollError::NotFound(format!("CA {ca}")))
        })
    }

    fn chain<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, EnrollError>> {
        Box::pin(async move { Authority::chain(self, ca) })
    }

    fn resolve_ca<'a>(&'a self, ca: &'a str) -> BoxFuture<'a, Result<CaName, EnrollError>> {
        Box::pin(async move { Ok(self.resolve(ca)?.runtime.info.name.clone()) })
    }
}

impl Directory for Authority {
    fn ca_names(&self) -> Vec<CaName> {
        Authority::ca_names(self).to_vec()
    }

    fn ca_name(&self, ca: &str) -> Option<CaName> {
        Authority::ca_name(self, ca).cloned()
    }

    fn summaries(&self) -> Vec<CaSummary> {
        Authority::summaries(self)
    }

    fn enrollable_profiles(
        &self,
        ca: &CaName,
        caller: Option<&Identity>,
    ) -> Result<Vec<ProfileName>, EnrollError> {
        Authority::enrollable_profiles(self, ca.as_str(), caller)
    }
}

impl Authenticate for Authority {
    fn authenticate_token(&self, secret: &str) -> Result<Identity, EnrollError> {
        Authority::authenticate_token(self, secret)
    }

    fn refresh_identity(&self, identity: &Identity) -> Result<Identity, EnrollError> {
        Authority::refresh_identity(self, identity)
    }

    fn shared_secret(&self, name: &str) -> Result<(Identity, String), EnrollError> {
        Authority::shared_secret(self, name)
    }

    fn is_revoked<'a>(
        &'a self,
        issuer: &'a signet_x509::DistinguishedName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<bool, EnrollError>> {
        Box::pin(Authority::is_revoked(self, issuer, serial))
    }
}

impl Administer for Authority {
    fn role_separation(&self) -> bool {
        Authority::role_separation(self)
    }

    fn authorize_reader(&self, caller: Option<&Identity>, ca: &CaName) -> Result<(), EnrollError> {
        let name = self.resolve(ca.as_str())?.runtime.info.name.clone();
        Authority::authorize_reader(self, caller, &name)
    }

    fn view<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        query: ViewQuery,
    ) -> Answer<'a, Vec<RequestRecord>> {
        Box::pin(Authority::view(self, caller, ca.as_str(), query))
    }

    fn requests_of<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        limit: u32,
    ) -> Answer<'a, Vec<RequestRecord>> {
        Box::pin(Authority::requests_of(self, caller, ca.as_str(), limit))
    }

    fn request_details<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
    ) -> Answer<'a, RequestDetails> {
        Box::pin(Authority::request_details(self, caller, ca.as_str(), id))
    }

    fn certificate_details<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> Answer<'a, RequestDetails> {
        Box::pin(Authority::certificate_details(
            self,
            caller,
            ca.as_str(),
            serial,
        ))
    }

    fn approve<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
    ) -> Answer<'a, SubmitResponse> {
        Box::pin(Authority::approve(self, caller, ca.as_str(), id))
    }

    fn deny<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        reason: &'a str,
    ) -> Answer<'a, SubmitResponse> {
        Box::pin(Authority::deny(self, caller, ca.as_str(), id, reason))
    }

    fn set_attributes<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        changes: Vec<(String, Option<String>)>,
    ) -> Answer<'a, RequestRecord> {
        Box::pin(Authority::set_attributes(
            self,
            caller,
            ca.as_str(),
            id,
            changes,
        ))
    }

    fn set_extension<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        id: RequestId,
        edit: ExtensionEdit,
    ) -> Answer<'a, RequestRecord> {
        Box::pin(Authority::set_extension(
            self,
            caller,
            ca.as_str(),
            id,
            edit,
        ))
    }

    fn revoke<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
        reason: RevocationReason,
        invalidity_date: Option<SystemTime>,
    ) -> Answer<'a, RequestRecord> {
        Box::pin(Authority::revoke(
            self,
            caller,
            ca.as_str(),
            serial,
            reason,
            invalidity_date,
        ))
    }

    fn unrevoke<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        serial: SerialNumber,
    ) -> Answer<'a, RequestRecord> {
        Box::pin(Authority::unrevoke(self, caller, ca.as_str(), serial))
    }

    fn import<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        certificate: &'a [u8],
    ) -> Answer<'a, SubmitResponse> {
        Box::pin(Authority::import(self, caller, ca.as_str(), certificate))
    }

    fn create_token<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        spec: TokenSpec,
    ) -> Answer<'a, (TokenRecord, String)> {
        Box::pin(Authority::create_token(self, caller, spec))
    }

    fn list_tokens<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, Vec<TokenRecord>> {
        Box::pin(Authority::list_tokens(self, caller))
    }

    fn revoke_token<'a>(&'a self, caller: Option<&'a Identity>, id: u64) -> Answer<'a, ()> {
        Box::pin(Authority::revoke_token(self, caller, id))
    }

    fn audit_log<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        after: u64,
        limit: u32,
    ) -> Answer<'a, Vec<AuditRecord>> {
        Box::pin(Authority::audit_log(self, caller, after, limit))
    }

    fn audit_head<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, u64> {
        Box::pin(Authority::audit_head(self, caller))
    }

    fn verify_audit<'a>(&'a self, caller: Option<&'a Identity>) -> Answer<'a, AuditCheck> {
        Box::pin(Authority::verify_audit(self, caller))
    }

    fn audit_report<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        witnessed: Vec<(String, AuditCheckpoint)>,
    ) -> Answer<'a, AuditReport> {
        Box::pin(Authority::audit_report(self, caller, witnessed))
    }

    fn record_session<'a>(
        &'a self,
        identity: &'a Identity,
        session: SessionAudit,
    ) -> Answer<'a, ()> {
        Box::pin(Authority::record_session(self, identity, session))
    }

    fn exit_status<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
    ) -> Answer<'a, Vec<ExitStatus>> {
        Box::pin(Authority::exit_status(self, caller, ca.as_str()))
    }

    fn parked_events<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: Option<&'a str>,
        limit: u32,
    ) -> Answer<'a, Vec<ParkedEvent>> {
        Box::pin(Authority::parked_events(
            self,
            caller,
            ca.as_str(),
            exit,
            limit,
        ))
    }

    fn retry_parked<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: &'a str,
        seq: u64,
    ) -> Answer<'a, ()> {
        Box::pin(Authority::retry_parked(
            self,
            caller,
            ca.as_str(),
            exit,
            seq,
        ))
    }

    fn skip_exit<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        exit: &'a str,
    ) -> Answer<'a, ParkedEvent> {
        Box::pin(Authority::skip_exit(self, caller, ca.as_str(), exit))
    }

    fn list_crls<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        limit: u32,
    ) -> Answer<'a, Vec<CrlRecord>> {
        Box::pin(Authority::list_crls(self, caller, ca.as_str(), limit))
    }

    fn publish_crls<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        delta_only: bool,
    ) -> Answer<'a, Vec<PublishedSummary>> {
        Box::pin(Authority::publish_crls(
            self,
            caller,
            ca.as_str(),
            delta_only,
        ))
    }

    fn statistics<'a>(
        &'a self,
        caller: Option<&'a Identity>,
        ca: &'a CaName,
        spec: StatisticsSpec,
    ) -> Answer<'a, CaStatistics> {
        Box::pin(Authority::statistics(self, caller, ca.as_str(), spec))
    }
}

impl PublicRevocation for Authority {
    fn crl(&self, ca: &CaName, shard: u32, delta: bool) -> Option<Arc<PublishedCrl>> {
        Authority::crl(self, ca.as_str(), shard, delta)
    }

    fn crl_url(&self, ca: &CaName, shard: u32, delta: bool) -> Option<String> {
        Authority::crl_url(self, ca.as_str(), shard, delta)
    }

    fn ocsp<'a>(&'a self, ca: &'a CaName, request: &'a [u8]) -> BoxFuture<'a, OcspReply> {
        Box::pin(Authority::ocsp(self, ca.as_str(), request))
    }

    fn ocsp_generation(&self, ca: &CaName) -> Option<u64> {
        Authority::ocsp_generation(self, ca.as_str())
    }

    fn key_certificate(&self, ca: &CaName, key: u32) -> Option<Vec<u8>> {
        Authority::key_certificate(self, ca.as_str(), key).ok()
    }

    fn cross_certificates(&self, ca: &CaName) -> Vec<Vec<u8>> {
        Authority::cross_certificates(self, ca.as_str()).unwrap_or_default()
    }

    fn next_ca_certificates<'a>(
        &'a self,
        ca: &'a CaName,
        extra: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, EnrollError>> {
        Box::pin(Authority::next_ca_certificates(self, ca.as_str(), extra))
    }
}

impl HolderRevocation for Authority {
    /// The holder acts as a certificate manager of this one CA for this one revocation: the
    /// same checks as an officer's revocation (the serial must be one of the CA's issued
    /// certificates, not already finally revoked), recorded under the holder's name with how
    /// possession was proved. A holder cannot put a certificate on hold (nor release one), but
    /// may revoke for good one an officer holds: a holder reporting key compromise must not
    /// wait for the hold to be released (RFC 5280 §5.3.1 allows hold → final revocation).
    fn revoke_as_holder<'a>(
        &'a self,
        ca: &'a CaName,
        request: HolderRequest,
    ) -> Answer<'a, RequestRecord> {
        Box::pin(async move {
            if request.reason == RevocationReason::CertificateHold {
                return Err(EnrollError::BadRequest(
                    "a certificate's holder cannot put it on hold; revoke it with a final reason"
                        .into(),
                ));
            }
            let name = self.resolve(ca.as_str())?.runtime.info.name.clone();
            let holder = Identity {
                name: request.holder,
                roles: Roles::from_roles(&[Role::Manager]),
                cas: vec![name.clone()],
                groups: Vec::new(),
                via: format!("holder:{}", request.proof),
            };
            Authority::revoke(
                self,
                Some(&holder),
                name.as_str(),
                request.serial,
                request.reason,
                None,
            )
            .await
        })
    }
}
