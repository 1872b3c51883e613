//! `Profile::verify`: one request through its profile, from the key checks to the verdict.

use super::*;

impl Profile {
    pub(super) fn verify(&self, ctx: &mut PolicyCtx<'_>) -> Result<Verdict, ModuleError> {
        let module_err = |m: String| ModuleError::new("profiles", m);
        if let Err(reason) = self.check_key(ctx.public_key()) {
            return Ok(Verdict::Deny(reason.to_string()));
        }
        if let Err(reason) = self.check_rsa_exponent(ctx.public_key_der()) {
            return Ok(Verdict::Deny(reason.to_string()));
        }
        if self.config.unique_key {
            let history = ctx.history().ok_or_else(|| {
                module_err(format!(
                    "profile {} has unique_key = true but the engine looked up no key history",
                    self.name
                ))
            })?;
            let requester = ctx.requester();
            // Anonymous and imported certificates have no known holder: never "the same".
            let someone_else =
                history
                    .key_holders
                    .iter()
                    .any(|h| match (h.as_deref(), requester) {
                        (Some(holder), Some(me)) => !signet_core::auth::same_identity(holder, me),
                        _ => true,
                    });
            if someone_else {
                return Ok(Verdict::Deny(format!(
                    "the public key (SHA-256 {}) is already certified for another requester; profile {} needs a key of your own",
                    hex::encode(signet_x509::sha256(ctx.public_key_der())),
                    self.name
                )));
            }
        }
        let subject = match self.config.subject_from {
            SubjectFrom::Request => match self.subject(ctx.request_subject()) {
                Ok(s) => s,
                Err(reason) => return Ok(Verdict::Deny(reason.to_string())),
            },
            SubjectFrom::Identity => {
                let Some(who) = ctx.requester() else {
                    return Ok(Verdict::Deny(format!(
                        "profile {} takes the subject from the authenticated identity: authenticate",
                        self.name
                    )));
                };
                let cn = DistinguishedName::parse(&format!("CN={who}"))
                    .map_err(|e| module_err(format!("subject from identity {who:?}: {e}")))?;
                if self.forced.is_empty() {
                    cn
                } else {
                    self.with_forced(cn.rdns())
                }
            }
        };
        let sans = match self.sans(&subject, ctx.request_sans()) {
            Ok(s) => s,
            Err(reason) => return Ok(Verdict::Deny(reason.to_string())),
        };
        if subject.is_empty() && sans.is_empty() {
            return Ok(Verdict::Deny(
                "the request names neither a subject nor a subject alternative name".into(),
            ));
        }
        // What renewal compares, in the form the store keeps certificates' names.
        let renewal_key = (self.config.renewal && ctx.is_new_request()).then(|| {
            (
                subject.to_string(),
                sans.iter()
                    .map(ToString::to_string)
                    .collect::<std::collections::BTreeSet<_>>(),
            )
        });
        ctx.set_subject(subject);
        ctx.set_sans(sans);

        let not_before = ctx.draft().not_before();
        let not_after = (not_before + self.validity).min(ctx.draft().not_after());
        ctx.set_validity(not_before, not_after)
            .map_err(|e| module_err(e.to_string()))?;

        let usage = self.key_usage_for(ctx.public_key());
        if usage == KeyUsage::default() {
            return Ok(Verdict::Deny(format!(
                "profile {} allows no key usage for a {} key",
                self.name,
                ctx.public_key()
            )));
        }
        if let Err(reason) = self.check_requested_extensions(ctx.request_extensions(), usage) {
            return Ok(Verdict::Deny(reason.to_string()));
        }
        ctx.set_extension(ext::key_usage(usage))
            .map_err(|e| module_err(e.to_string()))?;
        if !self.eku.is_empty() {
            let eku = ext::extended_key_usage(&self.eku).map_err(|e| module_err(e.to_string()))?;
            ctx.set_extension(eku)
                .map_err(|e| module_err(e.to_string()))?;
        }
        // A CA profile's constraints, narrowed by what the request asks (never widened).
        let ca_extensions = match &self.ca_constraints {
            Some(c) => match c.narrowed_by(ctx.request_extensions(), &self.name) {
                Ok(c) => c.extensions().map_err(|e| module_err(e.to_string()))?,
                Err(reason) => return Ok(Verdict::Deny(reason.to_string())),
            },
            None => Vec::new(),
        };
        for e in self
            .policies
            .iter()
            .chain(&ca_extensions)
            .chain(&self.static_extensions)
        {
            ctx.set_extension(e.clone())
                .map_err(|e| module_err(e.to_string()))?;
        }
        for oid in &self.config.copy_request_extensions {
            if ctx.request_extensions().iter().any(|e| e.oid == *oid) {
                ctx.enable_extension(oid)
                    .map_err(|e| module_err(e.to_string()))?;
            }
        }

        Ok(match self.config.approval {
            Approval::Auto => Verdict::Issue,
            Approval::Manual if ctx.is_new_request() => {
                if let Some((subject, sans)) = &renewal_key
                    && self.holds_same(ctx, subject, sans)?
                {
                    Verdict::Issue
                } else {
                    Verdict::Pending(format!(
                        "profile {} requires approval by a certificate manager",
                        self.name
                    ))
                }
            }
            Approval::Manual => Verdict::Issue,
        })
    }

    /// Renewal: whether the requester holds a valid certificate of this profile from this CA
    /// (the engine's lookup) with exactly this subject and this set of subjectAltNames.
    pub(super) fn holds_same(
        &self,
        ctx: &PolicyCtx<'_>,
        subject: &str,
        sans: &std::collections::BTreeSet<String>,
    ) -> Result<bool, ModuleError> {
        let history = ctx.history().ok_or_else(|| {
            ModuleError::new(
                "profiles",
                format!(
                    "profile {} has renewal = true but the engine looked up no certificates",
                    self.name
                ),
            )
        })?;
        Ok(history.held.iter().any(|held| {
            held.subject == subject
                && held.sans.len() == sans.len()
                && held.sans.iter().all(|s| sans.contains(s))
        }))
    }
}
