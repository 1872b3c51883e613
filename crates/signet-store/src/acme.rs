//! The ACME front end's records (`signet_api::acme`): accounts, orders, authorizations with
//! their challenges, External Account Binding keys, used nonces, early-renewal marks and the
//! nonce secret, in the `acme_*` tables of migration `0009_acme`.
//!
//! Reads (`read`) run on the reader threads; writes (`write`) are one writer command
//! (`Op::Acme`), so they share the group commit, and each write that carries an `AcmeAudit`
//! appends it to the audit chain in the same transaction. Every object is scoped by its CA: a
//! lookup names the CA, and an object of another CA is not found.
//!
//! This file holds the rows (`FromRow`), the JSON columns' encoding and the `AcmeStore`
//! implementation, the one place a `StoreError` becomes an `AcmeStoreError`. Lists inside a
//! row are JSON text (see the migration); lists of rows are bounded by the caller's `limit`,
//! and EAB keys (which only administrators create) by [`EAB_LIST_MAX`].

mod read;
pub(crate) mod write;

use std::str::FromStr;
use std::time::SystemTime;

use serde_json::{Value, json};
use signet_api::acme::{
    AccountChange, AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeIdentifier, AcmeMutation, AcmeOrder,
    AcmePurged, AcmeStore, AcmeStoreError, AuthzUpdate, EabKey, NonceUse, OrderUpdate, UnknownName,
};
use signet_core::{BoxFuture, CaName, SerialNumber, StoreError};

use crate::SqlStore;
use crate::codec::{from_unix, to_unix};
use crate::db::Db;
use crate::row::{Columns, FromRow};
use write::{AcmeDone, AcmeWrite};

/// The most EAB keys `eab_keys` returns (newest first): keys are made one by one by
/// administrators, so this is far above any real installation.
pub(crate) const EAB_LIST_MAX: u32 = 10_000;

impl FromRow for AcmeAccount {
    const COLUMNS: &'static str =
        "id, ca, jwk, thumbprint, status, contact, eab_kid, requester, created_at";
    const TABLE: &'static str = "acme_accounts";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<AcmeAccount, StoreError> {
        let id: String = c.next("id")?;
        c.key(id.clone());
        Ok(AcmeAccount {
            id,
            ca: c.ca("ca")?,
            jwk: c.next("jwk")?,
            thumbprint: c.next("thumbprint")?,
            status: named(c, "status")?,
            contact: c.sans("contact")?,
            eab_kid: c.next("eab_kid")?,
            requester: c.next("requester")?,
            created_at: c.time("created_at")?,
        })
    }
}

impl FromRow for AcmeOrder {
    const COLUMNS: &'static str = "id, ca, account, status, identifiers, authorizations, \
        profile, not_before, not_after, expires, error, request_id, serial, replaces, created_at, \
        claimed_at";
    const TABLE: &'static str = "acme_orders";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<AcmeOrder, StoreError> {
        let id: String = c.next("id")?;
        c.key(id.clone());
        let ca = c.ca("ca")?;
        let account = c.next("account")?;
        let status = named(c, "status")?;
        let identifiers: String = c.next("identifiers")?;
        let identifiers = decode_identifiers(&identifiers)
            .ok_or_else(|| c.bad("identifiers", "not a JSON array of identifiers"))?;
        Ok(AcmeOrder {
            id,
            ca,
            account,
            status,
            identifiers,
            authorizations: c.sans("authorizations")?,
            profile: c.next("profile")?,
            not_before: c.opt_time("not_before")?,
            not_after: c.opt_time("not_after")?,
            expires: c.time("expires")?,
            error: c.next("error")?,
            request: c.opt_request_id("request_id")?,
            serial: opt_serial(c, "serial")?,
            replaces: opt_serial(c, "replaces")?,
            created_at: c.time("created_at")?,
            claimed_at: c.opt_time("claimed_at")?,
        })
    }
}

impl FromRow for AcmeAuthz {
    const COLUMNS: &'static str = "id, ca, account, identifier_type, identifier_value, \
        wildcard, status, expires, challenges";
    const TABLE: &'static str = "acme_authzs";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<AcmeAuthz, StoreError> {
        let id: String = c.next("id")?;
        c.key(id.clone());
        let ca = c.ca("ca")?;
        let account = c.next("account")?;
        let kind = named(c, "identifier_type")?;
        let value = c.next("identifier_value")?;
        let wildcard: bool = c.next("wildcard")?;
        let status = named(c, "status")?;
        let expires = c.time("expires")?;
        let challenges: String = c.next("challenges")?;
        let challenges = decode_challenges(&challenges)
            .ok_or_else(|| c.bad("challenges", "not a JSON array of challenges"))?;
        Ok(AcmeAuthz {
            id,
            ca,
            account,
            identifier: AcmeIdentifier { kind, value },
            wildcard,
            status,
            expires,
            challenges,
        })
    }
}

impl FromRow for EabKey {
    const COLUMNS: &'static str =
        "kid, ca, name, hmac, created_at, created_by, revoked_at, account";
    const TABLE: &'static str = "acme_eab_keys";

    fn from_row(c: &mut Columns<'_, '_>) -> Result<EabKey, StoreError> {
        let kid: String = c.next("kid")?;
        c.key(kid.clone());
        let ca: Option<String> = c.next("ca")?;
        let ca = ca
            .map(|s| CaName::new(&s))
            .transpose()
            .map_err(|e| c.bad("ca", &e.to_string()))?;
        Ok(EabKey {
            kid,
            ca,
            name: c.next("name")?,
            hmac: c.next("hmac")?,
            created_at: c.time("created_at")?,
            created_by: c.next("created_by")?,
            revoked_at: c.opt_time("revoked_at")?,
            account: c.next("account")?,
        })
    }
}

/// A status or type stored as its RFC 8555 name.
fn named<T: FromStr<Err = UnknownName>>(
    c: &mut Columns<'_, '_>,
    column: &str,
) -> Result<T, StoreError> {
    let s: String = c.next(column)?;
    s.parse()
        .map_err(|e: UnknownName| c.bad(column, &e.to_string()))
}

fn opt_serial(c: &mut Columns<'_, '_>, column: &str) -> Result<Option<SerialNumber>, StoreError> {
    let s: Option<String> = c.next(column)?;
    s.map(|s| s.parse())
        .transpose()
        .map_err(|e: signet_core::ids::IdError| c.bad(column, &e.to_string()))
}

/// `[{"type": "dns", "value": "example.com"}, ...]`
pub(crate) fn encode_identifiers(ids: &[AcmeIdentifier]) -> String {
    Value::Array(
        ids.iter()
            .map(|i| json!({ "type": i.kind.as_str(), "value": i.value }))
            .collect(),
    )
    .to_string()
}

fn decode_identifiers(text: &str) -> Option<Vec<AcmeIdentifier>> {
    let value: Value = serde_json::from_str(text).ok()?;
    value
        .as_array()?
        .iter()
        .map(|i| {
            Some(AcmeIdentifier {
                kind: i.get("type")?.as_str()?.parse().ok()?,
                value: i.get("value")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// `[{"type", "token", "status", "validated" (unix seconds or null), "error" (or null),
/// "since" (unix seconds or null; absent in rows written before)}, ...]`
pub(crate) fn encode_challenges(challenges: &[AcmeChallenge]) -> Result<String, StoreError> {
    let items = challenges
        .iter()
        .map(|ch| {
            Ok(json!({
                "type": ch.kind.as_str(),
                "token": ch.token,
                "status": ch.status.as_str(),
                "validated": ch.validated.map(to_unix).transpose()?,
                "error": ch.error,
                "since": ch.since.map(to_unix).transpose()?,
            }))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Value::Array(items).to_string())
}

pub(crate) fn decode_challenges(text: &str) -> Option<Vec<AcmeChallenge>> {
    let value: Value = serde_json::from_str(text).ok()?;
    value
        .as_array()?
        .iter()
        .map(|ch| {
            let validated = match ch.get("validated")? {
                Value::Null => None,
                v => Some(from_unix(v.as_i64()?)?),
            };
            let error = match ch.get("error")? {
                Value::Null => None,
                v => Some(v.as_str()?.to_string()),
            };
            // Absent in rows written before claims were timed.
            let since = match ch.get("since") {
                None | Some(Value::Null) => None,
                Some(v) => Some(from_unix(v.as_i64()?)?),
            };
            Some(AcmeChallenge {
                kind: ch.get("type")?.as_str()?.parse().ok()?,
                token: ch.get("token")?.as_str()?.to_string(),
                status: ch.get("status")?.as_str()?.parse().ok()?,
                validated,
                error,
                since,
            })
        })
        .collect()
}

pub(crate) fn encode_strings(list: &[String]) -> String {
    Value::Array(list.iter().map(|s| Value::String(s.clone())).collect()).to_string()
}

/// The one place a `StoreError` becomes an `AcmeStoreError`: a uniqueness rule's refusal stays
/// a conflict; anything else is the store's failure, described.
fn acme_error(e: StoreError) -> AcmeStoreError {
    match e {
        StoreError::Conflict(message) => AcmeStoreError::Conflict(message),
        other => AcmeStoreError::Store(other.to_string()),
    }
}

/// Cannot happen: each write is paired with its result's kind in `write`.
pub(crate) fn mismatch() -> AcmeStoreError {
    AcmeStoreError::Store("internal error: an ACME write's result does not match it".into())
}

impl SqlStore {
    fn acme_read<'a, T, F>(&'a self, f: F) -> BoxFuture<'a, Result<T, AcmeStoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let read = self.readers.run(f);
        Box::pin(async move { read.await.map_err(acme_error) })
    }

    /// A lookup of one row by its key, inline on the caller's thread (`Readers::point`).
    pub(crate) fn acme_point<'a, T, F>(&'a self, f: F) -> BoxFuture<'a, Result<T, AcmeStoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let read = self.readers.point(f);
        Box::pin(async move { read.await.map_err(acme_error) })
    }

    pub(crate) async fn acme_write(&self, w: AcmeWrite) -> Result<AcmeDone, AcmeStoreError> {
        self.writer.acme(w).await.map_err(acme_error)
    }

    pub(crate) async fn acme_unit(&self, w: AcmeWrite) -> Result<(), AcmeStoreError> {
        match self.acme_write(w).await? {
            AcmeDone::Unit => Ok(()),
            _ => Err(mismatch()),
        }
    }

    async fn acme_flag(&self, w: AcmeWrite) -> Result<bool, AcmeStoreError> {
        match self.acme_write(w).await? {
            AcmeDone::Flag(changed) => Ok(changed),
            _ => Err(mismatch()),
        }
    }
}

impl AcmeStore for SqlStore {
    fn acme_nonce_secret(
        &self,
        candidate: [u8; 32],
    ) -> BoxFuture<'_, Result<[u8; 32], AcmeStoreError>> {
        Box::pin(async move {
            match self.acme_write(AcmeWrite::NonceSecret(candidate)).await? {
                AcmeDone::Secret(secret) => Ok(secret),
                _ => Err(mismatch()),
            }
        })
    }

    fn use_nonce(
        &self,
        nonce_id: [u8; 16],
        expires: SystemTime,
    ) -> BoxFuture<'_, Result<bool, AcmeStoreError>> {
        Box::pin(self.acme_flag(AcmeWrite::UseNonce {
            id: nonce_id,
            expires,
        }))
    }

    fn write_spending(
        &self,
        nonce: NonceUse,
        write: AcmeMutation,
    ) -> BoxFuture<'_, Result<bool, AcmeStoreError>> {
        let write = match write {
            AcmeMutation::CreateOrder(order, authzs) => AcmeWrite::CreateOrder(order, authzs),
            AcmeMutation::UpdateOrder(u) => AcmeWrite::UpdateOrder(Box::new(u)),
            AcmeMutation::UpdateAuthz(u) => AcmeWrite::UpdateAuthz(Box::new(u)),
        };
        Box::pin(async move {
            match self
                .acme_write(AcmeWrite::Spending(nonce, Box::new(write)))
                .await?
            {
                AcmeDone::NonceUsed => Err(AcmeStoreError::NonceUsed),
                AcmeDone::Unit => Ok(true),
                AcmeDone::Flag(changed) => Ok(changed),
                _ => Err(mismatch()),
            }
        })
    }

    fn create_account(
        &self,
        account: AcmeAccount,
        audit: signet_api::acme::AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        Box::pin(self.acme_unit(AcmeWrite::CreateAccount(Box::new((account, audit)))))
    }

    fn account<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAccount>, AcmeStoreError>> {
        let (ca, id) = (ca.clone(), id.to_string());
        self.acme_point(move |conn| read::account(conn, &ca, &id))
    }

    fn account_by_thumbprint<'a>(
        &'a self,
        ca: &'a CaName,
        thumbprint: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAccount>, AcmeStoreError>> {
        let (ca, thumbprint) = (ca.clone(), thumbprint.to_string());
        self.acme_point(move |conn| read::account_by_thumbprint(conn, &ca, &thumbprint))
    }

    fn update_account<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
        change: AccountChange,
        audit: signet_api::acme::AcmeAudit,
    ) -> BoxFuture<'a, Result<AcmeAccount, AcmeStoreError>> {
        let w = AcmeWrite::UpdateAccount(Box::new(write::UpdateAccount {
            ca: ca.clone(),
            id: id.to_string(),
            change,
            audit,
        }));
        Box::pin(async move {
            match self.acme_write(w).await? {
                AcmeDone::Account(account) => Ok(*account),
                AcmeDone::NoAccount => Err(AcmeStoreError::NotFound(format!(
                    "ACME account {id:?} of CA {ca}"
                ))),
                _ => Err(mismatch()),
            }
        })
    }

    fn accounts<'a>(
        &'a self,
        ca: &'a CaName,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AcmeAccount>, AcmeStoreError>> {
        let ca = ca.clone();
        self.acme_read(move |conn| read::accounts(conn, &ca, limit))
    }

    fn create_order(
        &self,
        order: AcmeOrder,
        new_authzs: Vec<AcmeAuthz>,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        Box::pin(self.acme_unit(AcmeWrite::CreateOrder(Box::new(order), new_authzs)))
    }

    fn order<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>> {
        let (ca, id) = (ca.clone(), id.to_string());
        self.acme_point(move |conn| read::order(conn, &ca, &id))
    }

    fn update_order(&self, update: OrderUpdate) -> BoxFuture<'_, Result<bool, AcmeStoreError>> {
        Box::pin(self.acme_flag(AcmeWrite::UpdateOrder(Box::new(update))))
    }

    fn orders<'a>(
        &'a self,
        ca: &'a CaName,
        account: Option<&'a str>,
        before: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AcmeOrder>, AcmeStoreError>> {
        let ca = ca.clone();
        let account = account.map(str::to_string);
        let before = before.map(str::to_string);
        self.acme_read(move |conn| {
            read::orders(conn, &ca, account.as_deref(), before.as_deref(), limit)
        })
    }

    fn order_for_certificate<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>> {
        let (ca, serial) = (ca.clone(), *serial);
        self.acme_point(move |conn| read::order_for_certificate(conn, &ca, &serial))
    }

    fn order_replacing<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>> {
        let (ca, serial) = (ca.clone(), *serial);
        self.acme_point(move |conn| read::order_replacing(conn, &ca, &serial))
    }

    fn count_orders<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        since: SystemTime,
    ) -> BoxFuture<'a, Result<u64, AcmeStoreError>> {
        let (ca, account) = (ca.clone(), account.to_string());
        self.acme_read(move |conn| read::count_orders(conn, &ca, &account, since))
    }

    fn authz<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAuthz>, AcmeStoreError>> {
        let (ca, id) = (ca.clone(), id.to_string());
        self.acme_point(move |conn| read::authz(conn, &ca, &id))
    }

    fn update_authz(&self, update: AuthzUpdate) -> BoxFuture<'_, Result<bool, AcmeStoreError>> {
        Box::pin(self.acme_flag(AcmeWrite::UpdateAuthz(Box::new(update))))
    }

    fn reusable_authz<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        identifier: &'a AcmeIdentifier,
        wildcard: bool,
        valid_until: SystemTime,
    ) -> BoxFuture<'a, Result<Option<AcmeAuthz>, AcmeStoreError>> {
        let (ca, account, identifier) = (ca.clone(), account.to_string(), identifier.clone());
        self.acme_point(move |conn| {
            read::reusable_authz(conn, &ca, &account, &identifier, wildcard, valid_until)
        })
    }

    fn count_pending_authzs<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<u64, AcmeStoreError>> {
        let (ca, account) = (ca.clone(), account.to_string());
        self.acme_read(move |conn| read::count_pending_authzs(conn, &ca, &account, now))
    }

    fn create_eab(
        &self,
        key: EabKey,
        audit: signet_api::acme::AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>> {
        Box::pin(self.acme_unit(AcmeWrite::CreateEab(Box::new((key, audit)))))
    }

    fn eab<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<EabKey>, AcmeStoreError>> {
        let kid = kid.to_string();
        self.acme_point(move |conn| read::eab(conn, &kid))
    }

    fn eab_keys<'a>(
        &'a self,
        ca: Option<&'a CaName>,
    ) -> BoxFuture<'a, Result<Vec<EabKey>, AcmeStoreError>> {
        let ca = ca.cloned();
        self.acme_read(move |conn| read::eab_keys(conn, ca.as_ref()))
    }

    fn revoke_eab<'a>(
        &'a self,
        kid: &'a str,
        at: SystemTime,
        audit: signet_api::acme::AcmeAudit,
    ) -> BoxFuture<'a, Result<bool, AcmeStoreError>> {
        Box::pin(
            self.acme_flag(AcmeWrite::RevokeEab(Box::new(write::RevokeEab {
                kid: kid.to_string(),
                at,
                audit,
            }))),
        )
    }

    fn mark_renew_early<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
        at: SystemTime,
        audit: signet_api::acme::AcmeAudit,
    ) -> BoxFuture<'a, Result<(), AcmeStoreError>> {
        Box::pin(
            self.acme_unit(AcmeWrite::MarkRenewEarly(Box::new(write::MarkRenewEarly {
                ca: ca.clone(),
                serial: *serial,
                at,
                audit,
            }))),
        )
    }

    fn renew_early<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, AcmeStoreError>> {
        let (ca, serial) = (ca.clone(), *serial);
        self.acme_point(move |conn| read::renew_early(conn, &ca, &serial))
    }

    fn purge_acme(
        &self,
        now: SystemTime,
        keep: std::time::Duration,
    ) -> BoxFuture<'_, Result<AcmePurged, AcmeStoreError>> {
        Box::pin(async move {
            match self.acme_write(AcmeWrite::Purge { now, keep }).await? {
                AcmeDone::Purged(purged) => Ok(purged),
                _ => Err(mismatch()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses the statements name in SQL are the enums' names.
    #[test]
    fn statuses_named_in_sql_are_the_enums_names() {
        use signet_api::acme::AuthzStatus;
        assert_eq!(AuthzStatus::Valid.as_str(), "valid");
        assert_eq!(AuthzStatus::Pending.as_str(), "pending");
        assert_eq!(signet_api::acme::OrderStatus::Invalid.as_str(), "invalid");
        assert_eq!(signet_api::acme::OrderStatus::Valid.as_str(), "valid");
        assert_eq!(
            signet_api::acme::OrderStatus::Processing.as_str(),
            "processing"
        );
    }

    #[test]
    fn challenges_and_identifiers_round_trip_through_json() {
        use signet_api::acme::{ChallengeStatus, ChallengeType, IdentifierType};
        let challenges = vec![
            AcmeChallenge {
                kind: ChallengeType::Http01,
                token: "tok-1".into(),
                status: ChallengeStatus::Valid,
                validated: from_unix(1_700_000_000),
                error: None,
                since: None,
            },
            AcmeChallenge {
                kind: ChallengeType::Dns01,
                token: "tok-2".into(),
                status: ChallengeStatus::Invalid,
                validated: None,
                error: Some(r#"{"type":"urn:ietf:params:acme:error:dns"}"#.into()),
                since: None,
            },
        ];
        let text = encode_challenges(&challenges).expect("encode");
        assert_eq!(decode_challenges(&text), Some(challenges));
        let ids = vec![
            AcmeIdentifier {
                kind: IdentifierType::Dns,
                value: "*.example.com".into(),
            },
            AcmeIdentifier {
                kind: IdentifierType::Ip,
                value: "192.0.2.1".into(),
            },
        ];
        assert_eq!(decode_identifiers(&encode_identifiers(&ids)), Some(ids));
        assert_eq!(
            decode_identifiers(r#"[{"type":"email","value":"x"}]"#),
            None
        );
    }
}
