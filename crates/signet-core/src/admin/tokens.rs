//! API tokens and the audit log.

use std::sync::atomic::Ordering;

use super::*;

impl Authority {
    // ---- Tokens -------------------------------------------------------------------------

    /// Creates an API token (administrators with every-CA scope). Returns the record and
    /// the secret, which is shown once and stored only as its SHA-256.
    pub async fn create_token(
        &self,
        caller: Option<&Identity>,
        spec: TokenSpec,
    ) -> Result<(TokenRecord, String), EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        if spec.roles.is_empty() {
            return Err(EnrollError::BadRequest(
                "a token needs at least one role".into(),
            ));
        }
        if self.separation && spec.roles.violates_separation() {
            return Err(EnrollError::BadRequest(
                "role separation is on: one identity cannot be both admin and manager (set [security] role_separation = false to allow it)".into(),
            ));
        }
        let mut cas = Vec::new();
        for c in &spec.cas {
            cas.push(self.resolve(c)?.runtime.info.name.clone());
        }
        for g in &spec.groups {
            check_identity_name(g).map_err(|e| EnrollError::BadRequest(e.to_string()))?;
        }
        // A shared-secret token's secret derives from a seed the store keeps; any other
        // token's secret is random and kept nowhere but with its holder.
        let (secret, secret_seed) = if spec.shared_secret {
            let key = self.token_secret_key.as_ref().ok_or_else(|| {
                EnrollError::BadRequest(
                    "this server has no token-secret key, so it cannot make shared-secret tokens"
                        .into(),
                )
            })?;
            let mut seed = [0u8; 16];
            self.random
                .fill(&mut seed)
                .map_err(|e| internal("random", &e))?;
            (key.secret(&seed), Some(seed))
        } else {
            let mut secret = [0u8; 32];
            self.random
                .fill(&mut secret)
                .map_err(|e| internal("random", &e))?;
            (format!("signet_{}", hex::encode(secret)), None)
        };
        let hash = signet_x509::sha256(secret.as_bytes());
        let name = match spec.name {
            Some(n) => n,
            None => format!("token-{}", &hex::encode(hash)[..8]),
        };
        check_new_identity_name(&name).map_err(|e| EnrollError::BadRequest(e.to_string()))?;
        let now = whole_seconds(self.clock.now());
        let expires_at = spec
            .expires_days
            .map(|d| now + Duration::from_secs(u64::from(d) * 86_400));
        let details = audit_details::to_json(&audit_details::Via {
            via: &who.via,
            details: audit_details::TokenCreate {
                name: &name,
                roles: spec.roles.to_string(),
                cas: cas.iter().map(CaName::as_str).collect::<Vec<_>>().join(","),
                expires_at: expires_at.map(unix),
            },
        });
        let token = NewToken {
            name: name.clone(),
            hash,
            roles: spec.roles,
            cas: cas.clone(),
            groups: spec.groups.clone(),
            created_at: now,
            created_by: who.name.clone(),
            expires_at,
            secret_seed,
            audit: vec![NewAudit {
                at: now,
                actor: who.name.clone(),
                action: "token-create".into(),
                ca: None,
                target: AuditTarget::Other(format!("token/{name}")),
                details,
            }],
        };
        let id = self.store.create_token(token).await.map_err(store_error)?;
        let record = TokenRecord {
            id,
            name,
            hash,
            roles: spec.roles,
            cas,
            groups: spec.groups,
            created_at: now,
            created_by: who.name.clone(),
            expires_at,
            revoked_at: None,
            secret_seed,
        };
        if let Ok(mut tokens) = self.tokens.write() {
            tokens.insert(hash, record.clone());
            self.token_changes.fetch_add(1, Ordering::AcqRel);
        }
        tracing::info!(token = id, name = %record.name, roles = %record.roles, by = %who.name, "API token created");
        Ok((record, secret))
    }

    /// Every token (administrators).
    pub async fn list_tokens(
        &self,
        caller: Option<&Identity>,
    ) -> Result<Vec<TokenRecord>, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        self.store
            .list_tokens()
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Revokes a token by id (administrators). It stops working at once on this node, and on
    /// the others at their next cluster sync.
    pub async fn revoke_token(
        &self,
        caller: Option<&Identity>,
        id: u64,
    ) -> Result<(), EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Admin, None, self.separation)?;
        let now = whole_seconds(self.clock.now());
        let audit = NewAudit {
            at: now,
            actor: who.name.clone(),
            action: "token-revoke".into(),
            ca: None,
            target: AuditTarget::Other(format!("token/{id}")),
            details: audit_details::to_json(&audit_details::Via {
                via: &who.via,
                details: audit_details::TokenRevoke { id },
            }),
        };
        self.store
            .revoke_token(id, now, vec![audit])
            .await
            .map_err(|e| match e {
                StoreError::StateChanged(_) => {
                    EnrollError::NotFound(format!("token {id} (or it is already revoked)"))
                }
                other => store_error(other),
            })?;
        if let Ok(mut tokens) = self.tokens.write() {
            for t in tokens.values_mut().filter(|t| t.id == id) {
                t.revoked_at = Some(now);
            }
            self.token_changes.fetch_add(1, Ordering::AcqRel);
        }
        tracing::info!(token = id, by = %who.name, "API token revoked");
        Ok(())
    }

    // ---- Audit --------------------------------------------------------------------------

    /// Audit records after `after` (auditors with every-CA scope).
    pub async fn audit_log(
        &self,
        caller: Option<&Identity>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .audit_after(after, limit.clamp(1, MAX_PAGE))
            .await
            .map_err(|e| internal("store", &e))
    }

    /// Recomputes the audit chain (auditors).
    pub async fn verify_audit(&self, caller: Option<&Identity>) -> Result<AuditCheck, EnrollError> {
        let who = require(caller)?;
        who.authorize(Role::Auditor, None, self.separation)?;
        self.store
            .verify_audit()
            .await
            .map_err(|e| internal("store", &e))
    }
}
