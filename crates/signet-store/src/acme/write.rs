//! The ACME writes, run by the writer thread on its open transaction (`Op::Acme`): a failing
//! write returns `Err`, and the writer rolls back everything it did (its audit record too).
//!
//! Checks that decide a write (is the key already another account's, can the EAB key still
//! bind, is the certificate already replaced) read inside the same transaction, which holds
//! the database's write lock (`BEGIN IMMEDIATE`), so no other node can change the answer
//! before the commit; the UNIQUE indexes of `0009_acme` stand behind them.

use std::time::{Duration, SystemTime};

use signet_api::acme::{
    AccountChange, AcmeAccount, AcmeAudit, AcmeAuthz, AcmeOrder, AcmePurged, AuthzStatus,
    AuthzUpdate, EabKey, NonceUse, OrderStatus, OrderUpdate,
};
use signet_core::{AuditTarget, CaName, NewAudit, SerialNumber, StoreError};

use super::{encode_challenges, encode_identifiers, encode_strings};
use crate::codec::to_unix;
use crate::db::{Db, query_one, query_value};
use crate::params;
use crate::row::query_first_with;

/// One ACME write for the writer thread.
pub(crate) enum AcmeWrite {
    /// The candidate nonce secret.
    NonceSecret([u8; 32]),
    UseNonce {
        id: [u8; 16],
        expires: SystemTime,
    },
    CreateAccount(Box<(AcmeAccount, AcmeAudit)>),
    UpdateAccount(Box<UpdateAccount>),
    CreateOrder(Box<AcmeOrder>, Vec<AcmeAuthz>),
    UpdateOrder(Box<OrderUpdate>),
    UpdateAuthz(Box<AuthzUpdate>),
    CreateEab(Box<(EabKey, AcmeAudit)>),
    RevokeEab(Box<RevokeEab>),
    MarkRenewEarly(Box<MarkRenewEarly>),
    Purge {
        now: SystemTime,
        keep: Duration,
    },
    /// A request's nonce and its write, in one transaction (`write_spending`).
    Spending(NonceUse, Box<AcmeWrite>),
    /// The SCEP front end's writes (`crate::scep`), on the same path.
    Scep(Box<crate::scep::ScepWrite>),
    /// The web pages' sessions (`crate::sessions`), on the same path.
    Session(Box<crate::sessions::SessionWrite>),
}

impl AcmeWrite {
    /// A write that may commit without waiting for the disk's flush (`Op::is_light`):
    /// a used-nonce record, and claims — an order moving to `processing` (finalize's lock
    /// before it asks the CA), an authorization that stays `pending` while one of its
    /// challenges moves to `processing` (validation's lock). A claim is only a lock: what
    /// follows it (the CA's request, the validation's outcome) is a durable commit of the
    /// same WAL, whose flush makes the claim durable too; before that nothing has told a
    /// client more than "processing", which a lost claim at worst undoes.
    pub(crate) fn is_light(&self) -> bool {
        match self {
            AcmeWrite::UseNonce { .. } => true,
            AcmeWrite::UpdateOrder(u) => u.status == OrderStatus::Processing,
            AcmeWrite::UpdateAuthz(u) => is_claim(u),
            AcmeWrite::Spending(_, w) => w.is_light(),
            // A session lost to a power cut signs its user out; nothing else depends on it.
            AcmeWrite::Session(_) => true,
            _ => false,
        }
    }
}

pub(crate) struct UpdateAccount {
    pub(crate) ca: CaName,
    pub(crate) id: String,
    pub(crate) change: AccountChange,
    pub(crate) audit: AcmeAudit,
}

pub(crate) struct RevokeEab {
    pub(crate) kid: String,
    pub(crate) at: SystemTime,
    pub(crate) audit: AcmeAudit,
}

pub(crate) struct MarkRenewEarly {
    pub(crate) ca: CaName,
    pub(crate) serial: SerialNumber,
    pub(crate) at: SystemTime,
    pub(crate) audit: AcmeAudit,
}

/// What an ACME write produced; each `AcmeWrite` has one kind (see `SqlStore`'s
/// `AcmeStore` implementation, which unpacks it).
pub(crate) enum AcmeDone {
    Unit,
    /// A row was inserted or changed (nonce first used, compare-and-swap applied, key revoked).
    Flag(bool),
    Secret([u8; 32]),
    Account(Box<AcmeAccount>),
    /// `UpdateAccount` found no such account; nothing was written.
    NoAccount,
    Purged(AcmePurged),
    /// `Spending` found its nonce already used; nothing was written.
    NonceUsed,
    /// A SCEP challenge used, or `None` when there was none to use.
    Challenge(Option<Box<signet_api::scep::ScepChallenge>>),
    /// Who a web session that was closed belonged to (`None`: there was no such session).
    Session(Option<Box<signet_api::Identity>>),
}

const INSERT_NONCE: &str =
    "INSERT INTO acme_nonces (id, expires) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
const INSERT_SETTING: &str =
    "INSERT INTO acme_settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
const SETTING: &str = "SELECT value FROM acme_settings WHERE name = ?1";
const NONCE_SECRET: &str = "nonce_secret";
const THUMBPRINT_HOLDER: &str =
    "SELECT id FROM acme_accounts WHERE ca = ?1 AND thumbprint = ?2 AND id != ?3";
const INSERT_ACCOUNT: &str = "INSERT INTO acme_accounts \
    (id, ca, jwk, thumbprint, status, contact, eab_kid, requester, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const EAB_STATE: &str = "SELECT ca, revoked_at, account FROM acme_eab_keys WHERE kid = ?1";
const BIND_EAB: &str = "UPDATE acme_eab_keys SET account = ?2 \
    WHERE kid = ?1 AND account IS NULL AND revoked_at IS NULL";
const SET_CONTACT: &str = "UPDATE acme_accounts SET contact = ?3 WHERE ca = ?1 AND id = ?2";
const SET_STATUS: &str =
    "UPDATE acme_accounts SET status = ?3 WHERE ca = ?1 AND id = ?2 AND status = 'valid'";
const SET_KEY: &str = "UPDATE acme_accounts SET jwk = ?3, thumbprint = ?4 \
    WHERE ca = ?1 AND id = ?2 AND thumbprint = ?5 AND status = 'valid'";
const LIVE_REPLACEMENT: &str = "SELECT id FROM acme_orders \
    WHERE ca = ?1 AND replaces = ?2 AND status != 'invalid' LIMIT 1";
const INSERT_ORDER: &str = "INSERT INTO acme_orders \
    (id, ca, account, status, identifiers, authorizations, profile, not_before, not_after, \
     expires, error, request_id, serial, replaces, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
const INSERT_AUTHZ: &str = "INSERT INTO acme_authzs \
    (id, ca, account, identifier_type, identifier_value, wildcard, status, expires, challenges) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const UPDATE_ORDER: &str = "UPDATE acme_orders SET status = ?4, \
    error = coalesce(?5, error), request_id = coalesce(?6, request_id), \
    serial = coalesce(?7, serial), \
    claimed_at = CASE WHEN ?4 = 'processing' THEN ?8 ELSE claimed_at END \
    WHERE id = ?1 AND ca = ?2 AND status = ?3";
const AUTHZ_CHALLENGES: &str = "SELECT challenges FROM acme_authzs WHERE id = ?1 AND ca = ?2";
const UPDATE_AUTHZ: &str = "UPDATE acme_authzs SET status = ?4, expires = ?5, challenges = ?6 \
    WHERE id = ?1 AND ca = ?2 AND status = ?3";
const INSERT_EAB: &str = "INSERT INTO acme_eab_keys \
    (kid, ca, name, hmac, created_at, created_by, revoked_at, account) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const REVOKE_EAB: &str =
    "UPDATE acme_eab_keys SET revoked_at = ?2 WHERE kid = ?1 AND revoked_at IS NULL";
/// Revoking an EAB key revokes the account it bound (the key was the account's credential).
const REVOKE_EAB_ACCOUNT: &str =
    "UPDATE acme_accounts SET status = 'revoked' WHERE eab_kid = ?1 AND status = 'valid'";
/// A second mark keeps the first time: that is when the certificate was marked.
const MARK_RENEW_EARLY: &str = "INSERT INTO acme_renew_early (ca, serial, at) VALUES (?1, ?2, ?3) \
    ON CONFLICT (ca, serial) DO NOTHING";
const PURGE_NONCES: &str = "DELETE FROM acme_nonces WHERE expires < ?1";
const PURGE_AUTHZS: &str = "DELETE FROM acme_authzs WHERE expires < ?1";
/// Abandoned orders (`AcmeOrder::abandoned`): `?1` the claims' cutoff, `?2` the problem.
const ABANDON_ORDERS: &str = "UPDATE acme_orders SET status = 'invalid', error = ?2 \
    WHERE status = 'processing' AND request_id IS NULL AND coalesce(claimed_at, created_at) <= ?1";
const PURGE_ORDERS: &str = "DELETE FROM acme_orders \
    WHERE expires < ?1 AND status NOT IN ('valid', 'processing')";

/// Runs one ACME write on the writer's open transaction.
pub(crate) fn execute(conn: &dyn Db, w: &AcmeWrite) -> Result<AcmeDone, StoreError> {
    match w {
        AcmeWrite::NonceSecret(candidate) => nonce_secret(conn, candidate).map(AcmeDone::Secret),
        AcmeWrite::UseNonce { id, expires } => use_nonce(conn, id, *expires).map(AcmeDone::Flag),
        AcmeWrite::CreateAccount(a) => create_account(conn, &a.0, &a.1).map(|()| AcmeDone::Unit),
        AcmeWrite::UpdateAccount(u) => update_account(conn, u),
        AcmeWrite::CreateOrder(order, authzs) => {
            create_order(conn, order, authzs).map(|()| AcmeDone::Unit)
        }
        AcmeWrite::UpdateOrder(u) => update_order(conn, u).map(AcmeDone::Flag),
        AcmeWrite::UpdateAuthz(u) => update_authz(conn, u).map(AcmeDone::Flag),
        AcmeWrite::CreateEab(k) => create_eab(conn, &k.0, &k.1).map(|()| AcmeDone::Unit),
        AcmeWrite::RevokeEab(r) => revoke_eab(conn, r).map(AcmeDone::Flag),
        AcmeWrite::MarkRenewEarly(m) => mark_renew_early(conn, m).map(|()| AcmeDone::Unit),
        AcmeWrite::Purge { now, keep } => purge(conn, *now, *keep).map(AcmeDone::Purged),
        AcmeWrite::Scep(w) => crate::scep::execute(conn, w),
        AcmeWrite::Session(w) => crate::sessions::execute(conn, w),
        AcmeWrite::Spending(nonce, write) => {
            if use_nonce(conn, &nonce.id, nonce.expires)? {
                execute(conn, write)
            } else {
                Ok(AcmeDone::NonceUsed)
            }
        }
    }
}

/// Appends an ACME change's audit record to the chain, in the change's transaction.
pub(crate) fn audit(conn: &dyn Db, a: &AcmeAudit) -> Result<(), StoreError> {
    let record = NewAudit {
        at: a.at,
        actor: a.actor.clone(),
        action: a.action.clone(),
        ca: a.ca.clone(),
        target: AuditTarget::Other(a.target.clone()),
        details: a.details.clone(),
    };
    crate::audit::append(conn, &record, None)
}

/// A write's error, a UNIQUE violation being the conflict `conflict` describes.
fn unique_conflict(conflict: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(conflict()),
        other => other,
    }
}

fn nonce_secret(conn: &dyn Db, candidate: &[u8; 32]) -> Result<[u8; 32], StoreError> {
    conn.execute(
        INSERT_SETTING,
        &params![NONCE_SECRET, candidate.as_slice()],
        "storing the ACME nonce secret",
    )?;
    let stored: Vec<u8> = query_one(
        conn,
        SETTING,
        &params![NONCE_SECRET],
        "reading the ACME nonce secret",
    )?;
    stored
        .as_slice()
        .try_into()
        .map_err(|_| crate::codec::corrupt("acme_settings", NONCE_SECRET, "value", "not 32 bytes"))
}

fn use_nonce(conn: &dyn Db, id: &[u8; 16], expires: SystemTime) -> Result<bool, StoreError> {
    let expires = to_unix(expires)?;
    let inserted = conn.execute(
        INSERT_NONCE,
        &params![id.as_slice(), expires],
        "recording a used ACME nonce",
    )?;
    Ok(inserted == 1)
}

/// The account of `ca` other than `except` that holds `thumbprint`, if any.
fn thumbprint_holder(
    conn: &dyn Db,
    ca: &CaName,
    thumbprint: &str,
    except: &str,
) -> Result<Option<String>, StoreError> {
    query_value(
        conn,
        THUMBPRINT_HOLDER,
        &params![ca.as_str(), thumbprint, except],
        "checking ACME account keys",
    )
}

fn create_account(conn: &dyn Db, a: &AcmeAccount, record: &AcmeAudit) -> Result<(), StoreError> {
    if let Some(holder) = thumbprint_holder(conn, &a.ca, &a.thumbprint, &a.id)? {
        return Err(StoreError::Conflict(format!(
            "the key is already ACME account {holder:?}'s on CA {}",
            a.ca
        )));
    }
    if let Some(kid) = &a.eab_kid {
        check_eab_bindable(conn, kid, &a.ca)?;
    }
    let created_at = to_unix(a.created_at)?;
    conn.execute(
        INSERT_ACCOUNT,
        &params![
            a.id,
            a.ca.as_str(),
            a.jwk,
            a.thumbprint,
            a.status.as_str(),
            encode_strings(&a.contact),
            a.eab_kid,
            a.requester,
            created_at,
        ],
        "recording an ACME account",
    )
    .map_err(unique_conflict(|| {
        format!(
            "an ACME account with id {:?} or this key exists, or its EAB key is bound",
            a.id
        )
    }))?;
    if let Some(kid) = &a.eab_kid {
        let bound = conn.execute(BIND_EAB, &params![kid, a.id], "binding an EAB key")?;
        if bound != 1 {
            return Err(StoreError::Conflict(format!(
                "EAB key {kid:?} can no longer bind an account"
            )));
        }
    }
    audit(conn, record)
}

/// `Conflict` unless EAB key `kid` exists, is live, is for `ca` (or any CA) and is unbound.
fn check_eab_bindable(conn: &dyn Db, kid: &str, ca: &CaName) -> Result<(), StoreError> {
    type State = (Option<String>, Option<i64>, Option<String>);
    let state: Option<State> = query_first_with(
        conn,
        EAB_STATE,
        &params![kid],
        "reading an EAB key",
        "acme_eab_keys",
        |c| Ok((c.next("ca")?, c.next("revoked_at")?, c.next("account")?)),
    )?;
    let refused = match state {
        None => "does not exist",
        Some((_, Some(_), _)) => "is revoked",
        Some((_, _, Some(_))) => "is already bound to an account",
        Some((Some(key_ca), _, _)) if key_ca != ca.as_str() => "is for another CA",
        Some(_) => return Ok(()),
    };
    Err(StoreError::Conflict(format!("EAB key {kid:?} {refused}")))
}

fn update_account(conn: &dyn Db, u: &UpdateAccount) -> Result<AcmeDone, StoreError> {
    // Checked before anything is written, so "not found" needs no rollback.
    if super::read::account(conn, &u.ca, &u.id)?.is_none() {
        return Ok(AcmeDone::NoAccount);
    }
    let ca = u.ca.as_str();
    let context = "updating an ACME account";
    let changed = match &u.change {
        AccountChange::Contact(contact) => conn.execute(
            SET_CONTACT,
            &params![ca, u.id, encode_strings(contact)],
            context,
        )?,
        AccountChange::Status(status) => {
            conn.execute(SET_STATUS, &params![ca, u.id, status.as_str()], context)?
        }
        AccountChange::Key {
            jwk,
            thumbprint,
            previous,
        } => {
            if let Some(holder) = thumbprint_holder(conn, &u.ca, thumbprint, &u.id)? {
                return Err(StoreError::Conflict(format!(
                    "the new key is already ACME account {holder:?}'s on CA {ca}"
                )));
            }
            conn.execute(
                SET_KEY,
                &params![ca, u.id, jwk, thumbprint, previous],
                context,
            )
            .map_err(unique_conflict(|| {
                format!("the new key is already another ACME account's on CA {ca}")
            }))?
        }
    };
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "ACME account {:?} changed meanwhile (no longer valid, or another key)",
            u.id
        )));
    }
    audit(conn, &u.audit)?;
    let account = super::read::account(conn, &u.ca, &u.id)?.ok_or_else(|| {
        StoreError::Backend(format!("ACME account {:?} vanished while updated", u.id))
    })?;
    Ok(AcmeDone::Account(Box::new(account)))
}

fn create_order(conn: &dyn Db, o: &AcmeOrder, new_authzs: &[AcmeAuthz]) -> Result<(), StoreError> {
    let ca = o.ca.as_str();
    let replaces = o.replaces.map(|s| s.to_hex());
    if let Some(serial) = &replaces {
        let live: Option<String> = query_value(
            conn,
            LIVE_REPLACEMENT,
            &params![ca, serial],
            "checking ACME replacements",
        )?;
        if let Some(order) = live {
            return Err(StoreError::Conflict(format!(
                "certificate {serial} is already replaced by ACME order {order:?}"
            )));
        }
    }
    let not_before = o.not_before.map(to_unix).transpose()?;
    let not_after = o.not_after.map(to_unix).transpose()?;
    let (expires, created_at) = (to_unix(o.expires)?, to_unix(o.created_at)?);
    conn.execute(
        INSERT_ORDER,
        &params![
            o.id,
            ca,
            o.account,
            o.status.as_str(),
            encode_identifiers(&o.identifiers),
            encode_strings(&o.authorizations),
            o.profile,
            not_before,
            not_after,
            expires,
            o.error,
            o.request.map(|r| r.get()),
            o.serial.map(|s| s.to_hex()),
            replaces,
            created_at,
        ],
        "recording an ACME order",
    )
    .map_err(unique_conflict(|| {
        format!(
            "ACME order {:?} exists, or its certificate is already replaced",
            o.id
        )
    }))?;
    for a in new_authzs {
        let expires = to_unix(a.expires)?;
        let challenges = encode_challenges(&a.challenges)?;
        conn.execute(
            INSERT_AUTHZ,
            &params![
                a.id,
                a.ca.as_str(),
                a.account,
                a.identifier.kind.as_str(),
                a.identifier.value,
                a.wildcard,
                a.status.as_str(),
                expires,
                challenges,
            ],
            "recording an ACME authorization",
        )
        .map_err(unique_conflict(|| {
            format!("ACME authorization {:?} exists", a.id)
        }))?;
    }
    Ok(())
}

fn update_order(conn: &dyn Db, u: &OrderUpdate) -> Result<bool, StoreError> {
    let now = to_unix(SystemTime::now())?;
    let changed = conn
        .execute(
            UPDATE_ORDER,
            &params![
                u.id,
                u.ca.as_str(),
                u.expect.as_str(),
                u.status.as_str(),
                u.error,
                u.request.map(|r| r.get()),
                u.serial.map(|s| s.to_hex()),
                now,
            ],
            "updating an ACME order",
        )
        .map_err(unique_conflict(|| {
            format!(
                "another live ACME order already replaces the certificate order {:?} replaces",
                u.id
            )
        }))?;
    Ok(changed == 1)
}

/// A validation's claim: the authorization stays `pending` while a challenge moves to
/// `processing`.
fn is_claim(u: &AuthzUpdate) -> bool {
    u.expect == AuthzStatus::Pending && u.status == AuthzStatus::Pending
}

fn update_authz(conn: &dyn Db, u: &AuthzUpdate) -> Result<bool, StoreError> {
    // A claim (pending stays pending, a challenge moves to processing) loses to a validation
    // already running (one claimed less than VALIDATION_TIMEOUT ago; an older one was lost): of two claims of one authorization, of one challenge or two, one wins,
    // so one validation decides it. Read inside the writer's transaction, which holds the
    // write lock.
    if is_claim(u) {
        let stored: Option<String> = query_value(
            conn,
            AUTHZ_CHALLENGES,
            &params![u.id, u.ca.as_str()],
            "reading an ACME authorization's challenges",
        )?;
        let now = SystemTime::now();
        let validating = stored
            .as_deref()
            .and_then(super::decode_challenges)
            .is_some_and(|list| {
                list.iter().any(|c| {
                    c.status == signet_api::acme::ChallengeStatus::Processing && !c.stale(now)
                })
            });
        if validating {
            return Ok(false);
        }
    }
    let expires = to_unix(u.expires)?;
    let challenges = encode_challenges(&u.challenges)?;
    let changed = conn.execute(
        UPDATE_AUTHZ,
        &params![
            u.id,
            u.ca.as_str(),
            u.expect.as_str(),
            u.status.as_str(),
            expires,
            challenges,
        ],
        "updating an ACME authorization",
    )?;
    Ok(changed == 1)
}

fn create_eab(conn: &dyn Db, k: &EabKey, record: &AcmeAudit) -> Result<(), StoreError> {
    let created_at = to_unix(k.created_at)?;
    let revoked_at = k.revoked_at.map(to_unix).transpose()?;
    conn.execute(
        INSERT_EAB,
        &params![
            k.kid,
            k.ca.as_ref().map(CaName::as_str),
            k.name,
            k.hmac,
            created_at,
            k.created_by,
            revoked_at,
            k.account,
        ],
        "recording an EAB key",
    )
    .map_err(unique_conflict(|| format!("EAB key {:?} exists", k.kid)))?;
    audit(conn, record)
}

fn revoke_eab(conn: &dyn Db, r: &RevokeEab) -> Result<bool, StoreError> {
    let at = to_unix(r.at)?;
    let changed = conn.execute(REVOKE_EAB, &params![r.kid, at], "revoking an EAB key")?;
    if changed == 0 {
        return Ok(false);
    }
    conn.execute(
        REVOKE_EAB_ACCOUNT,
        &params![r.kid],
        "revoking the account an EAB key bound",
    )?;
    audit(conn, &r.audit)?;
    Ok(true)
}

fn mark_renew_early(conn: &dyn Db, m: &MarkRenewEarly) -> Result<(), StoreError> {
    let at = to_unix(m.at)?;
    conn.execute(
        MARK_RENEW_EARLY,
        &params![m.ca.as_str(), m.serial.to_hex(), at],
        "marking a certificate for early renewal",
    )?;
    audit(conn, &m.audit)
}

fn purge(conn: &dyn Db, now: SystemTime, keep: Duration) -> Result<AcmePurged, StoreError> {
    let now = to_unix(now)?;
    let cutoff = now.saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
    let delete = |sql: &str, before: i64, context: &'static str| {
        conn.execute(sql, &params![before], context)
    };
    let claims_cutoff = now.saturating_sub(
        i64::try_from(signet_api::acme::CLAIM_TIMEOUT.as_secs()).unwrap_or(i64::MAX),
    );
    let abandoned = conn.execute(
        ABANDON_ORDERS,
        &params![claims_cutoff, abandoned_problem()],
        "ending abandoned ACME orders",
    )?;
    Ok(AcmePurged {
        abandoned,
        nonces: delete(PURGE_NONCES, now, "purging used ACME nonces")?,
        authorizations: delete(PURGE_AUTHZS, cutoff, "purging ACME authorizations")?,
        orders: delete(PURGE_ORDERS, cutoff, "purging ACME orders")?,
    })
}

/// The problem document (JSON, as orders keep it) of an abandoned order.
fn abandoned_problem() -> String {
    serde_json::json!({
        "type": "urn:ietf:params:acme:error:serverInternal",
        "detail": signet_api::acme::ABANDONED_ORDER,
    })
    .to_string()
}
