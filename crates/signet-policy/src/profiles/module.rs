//! `ProfilesPolicy` as a policy module (`ICertPolicy`): start, discovery, access, and
//! `verify` through the requested profile.

use super::*;

impl Policy for ProfilesPolicy {
    fn name(&self) -> &str {
        "profiles"
    }

    fn description(&self) -> String {
        format!("profiles policy module ({} profiles)", self.profiles.len())
    }

    fn start(&self, ca: &CaInfo) -> Result<(), ModuleError> {
        if let Ok(info) = signet_x509::parse_certificate(&ca.certificate) {
            // A CA limited by its own pathLenConstraint cannot make a CA of the same depth.
            let ca_path_len = info
                .extensions
                .iter()
                .find(|e| e.oid == ext::oid::BASIC_CONSTRAINTS)
                .and_then(|e| ext::parse_basic_constraints(&e.value).ok())
                .and_then(|(_, len)| len);
            if let Some(limit) = ca_path_len {
                for p in self.profiles.values().filter(|p| p.config.ca) {
                    let ok = p.config.path_len.is_some_and(|n| u32::from(n) < limit);
                    if !ok {
                        return Err(ModuleError::new(
                            "profiles",
                            format!(
                                "profile {}: CA {} has pathLenConstraint {limit}, so a subordinate CA it issues needs path_len below {limit}",
                                p.name, ca.name
                            ),
                        ));
                    }
                }
            }
            let _ = self.ca_key.set(info.spki_der);
        }
        let _ = self.ca_subject.set(ca.subject.to_string());
        tracing::info!(ca = %ca.name, profiles = ?self.profiles.keys().map(|p| p.as_str()).collect::<Vec<_>>(), "profiles policy started");
        Ok(())
    }

    fn has_profile(&self, profile: &ProfileName) -> bool {
        self.profiles.contains_key(profile)
    }

    fn profiles(&self) -> Vec<ProfileName> {
        self.profiles.keys().cloned().collect()
    }

    fn default_profile(&self) -> Option<ProfileName> {
        self.default_profile.clone()
    }

    fn access(&self, profile: &ProfileName) -> signet_core::ProfileAccess {
        match self.profiles.get(profile) {
            Some(p) => signet_core::ProfileAccess {
                anonymous: p.config.anonymous,
                enroll: p.config.enroll.clone(),
                approvals: p.config.approvals,
                requests_per_minute: p.config.requests_per_minute,
            },
            None => signet_core::ProfileAccess::default(),
        }
    }

    fn issuance(&self, profile: &ProfileName) -> signet_core::IssuanceNeeds {
        match self.profiles.get(profile) {
            Some(p) => signet_core::IssuanceNeeds {
                key_holders: p.config.unique_key,
                held: p.config.renewal,
                backdate: p.backdate,
            },
            None => signet_core::IssuanceNeeds::default(),
        }
    }

    fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let profile = self
            .profiles
            .get(ctx.profile())
            .ok_or_else(|| ModuleError::new("profiles", format!("no profile {}", ctx.profile())))?;
        // A certificate for the CA's own key would let its holder pass for the CA.
        if self
            .ca_key
            .get()
            .is_some_and(|k| k.as_slice() == ctx.public_key_der())
        {
            return Ok(Verdict::Deny(
                "the request carries this CA's own public key".into(),
            ));
        }
        let verdict = profile.verify(ctx)?;
        // A subordinate CA named like this CA would be mistaken for it when chains are built.
        if profile.config.ca
            && !matches!(verdict, Verdict::Deny(_))
            && self
                .ca_subject
                .get()
                .is_some_and(|s| *s == ctx.draft().subject().to_string())
        {
            return Ok(Verdict::Deny(format!(
                "subject {} is this CA's own name; a subordinate CA needs a name of its own",
                ctx.draft().subject()
            )));
        }
        Ok(verdict)
    }

    fn check_edit(
        &self,
        request: &signet_core::RequestProps,
        edit: &signet_core::ExtensionEdit,
    ) -> Result<(), signet_core::EditRefused> {
        match self.profiles.get(&request.profile) {
            Some(profile) => profile
                .check_edit(request, edit)
                .map_err(|e| signet_core::EditRefused::Policy(e.to_string())),
            None => Err(signet_core::EditRefused::Policy(format!(
                "no profile {}",
                request.profile
            ))),
        }
    }
}
