//! What the ACME front end (RFC 8555) keeps: accounts, orders, authorizations with their
//! challenges, External Account Binding keys, used nonces and early-renewal marks, and the
//! [`AcmeStore`] trait a backend implements for them.
//!
//! Every write is atomic and durable when its future resolves `Ok`; writes that change what an
//! administrator would want to know (an account created, deactivated or re-keyed, an EAB key
//! created or revoked, a certificate marked for early renewal) carry an [`AcmeAudit`] that the
//! store appends to the audit chain in the same transaction.
//!
//! Status changes are compare-and-swap: an update names the status it expects and reports
//! `false` when another node (or request) changed the object first, so two validations or two
//! finalizations of one order cannot both win.
//!
//! Identifiers (`id`) are random, URL-safe strings chosen by the front end; each object is
//! scoped by its CA, and lookups take the CA so one CA's account cannot reach another's orders.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::BoxFuture;
use crate::ids::{CaName, RequestId, SerialNumber};

/// A stored value's text was not one of its type's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The RFC 8555 name (also what the store keeps).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: $kind, value: s.chars().take(40).collect() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// RFC 8555 §7.1.6 account states.
    AccountStatus, "account status" {
        Valid = "valid",
        /// Deactivated by its holder: refuses every later request.
        Deactivated = "deactivated",
        /// Revoked by the server (an administrator).
        Revoked = "revoked",
    }
);

named_enum!(
    /// RFC 8555 §7.1.6 order states.
    OrderStatus, "order status" {
        Pending = "pending",
        Ready = "ready",
        /// Finalized: the CA holds the request (pending approval, or being issued).
        Processing = "processing",
        Valid = "valid",
        Invalid = "invalid",
    }
);

named_enum!(
    /// RFC 8555 §7.1.6 authorization states.
    AuthzStatus, "authorization status" {
        Pending = "pending",
        Valid = "valid",
        Invalid = "invalid",
        Deactivated = "deactivated",
        Expired = "expired",
        Revoked = "revoked",
    }
);

named_enum!(
    /// RFC 8555 §7.1.6 challenge states.
    ChallengeStatus, "challenge status" {
        Pending = "pending",
        Processing = "processing",
        Valid = "valid",
        Invalid = "invalid",
    }
);

named_enum!(
    /// The validation methods Signet performs.
    ChallengeType, "challenge type" {
        /// RFC 8555 §8.3.
        Http01 = "http-01",
        /// RFC 8555 §8.4.
        Dns01 = "dns-01",
        /// RFC 8737.
        TlsAlpn01 = "tls-alpn-01",
    }
);

named_enum!(
    /// RFC 8555 §9.7.7 identifier types (`ip`: RFC 8738).
    IdentifierType, "identifier type" {
        Dns = "dns",
        Ip = "ip",
    }
);

/// An identifier of an order or authorization: a DNS name (lowercase, a leading `*.` for a
/// wildcard order identifier) or an IP address in its canonical text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AcmeIdentifier {
    pub kind: IdentifierType,
    pub value: String,
}

/// An ACME account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeAccount {
    pub id: String,
    pub ca: CaName,
    /// The account's public key as canonical JWK JSON (RFC 7638 member order).
    pub jwk: String,
    /// The key's RFC 7638 thumbprint, base64url; unique among a CA's accounts.
    pub thumbprint: String,
    pub status: AccountStatus,
    /// `mailto:` URLs.
    pub contact: Vec<String>,
    /// The External Account Binding key it was bound with.
    pub eab_kid: Option<String>,
    /// The identity name the account enrolls as (the EAB key's name, or `acme:ID`).
    pub requester: String,
    pub created_at: SystemTime,
}

/// A change to an account (`update_account`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Contact(Vec<String>),
    Status(AccountStatus),
    /// Key rollover: the new key and thumbprint (which must not be another account's),
    /// applied only while the account is valid and still has the key `previous` (a
    /// thumbprint): of two rollovers from one key, one wins.
    Key {
        jwk: String,
        thumbprint: String,
        previous: String,
    },
}

/// An order (RFC 8555 §7.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeOrder {
    pub id: String,
    pub ca: CaName,
    pub account: String,
    pub status: OrderStatus,
    pub identifiers: Vec<AcmeIdentifier>,
    /// Authorization ids, one per identifier, in the same order.
    pub authorizations: Vec<String>,
    /// The Signet profile the order was placed under (draft-ietf-acme-profiles).
    pub profile: String,
    pub not_before: Option<SystemTime>,
    pub not_after: Option<SystemTime>,
    pub expires: SystemTime,
    /// The problem document (JSON) of an invalid order.
    pub error: Option<String>,
    /// The CA's request, once finalized.
    pub request: Option<RequestId>,
    /// The certificate's serial, once valid.
    pub serial: Option<SerialNumber>,
    /// The serial of the certificate this order replaces (RFC 9773 `replaces`).
    pub replaces: Option<SerialNumber>,
    pub created_at: SystemTime,
    /// When the order last moved to `processing` (set by the store on that update).
    pub claimed_at: Option<SystemTime>,
}

/// How long an order may stay `processing` without a CA request before it counts as
/// abandoned: its finalization stopped between the claim and the CA's answer (a crash, a
/// power loss), and nothing will finish it. Far above any CA answer's time.
pub const CLAIM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The problem detail an abandoned order ([`CLAIM_TIMEOUT`]) is made `invalid` with.
pub const ABANDONED_ORDER: &str =
    "the order's finalization was interrupted before the CA answered; place a new order";

/// How long a challenge may stay `processing` before its validation counts as lost (the node
/// that claimed it stopped): then it is answered `pending` again and may be claimed anew. Far
/// above a validation's own time, queueing for the account's turn included.
pub const VALIDATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

impl AcmeChallenge {
    /// Whether the challenge is `processing` since more than [`VALIDATION_TIMEOUT`] before
    /// `now` (or since a time not recorded: claims made before it was).
    pub fn stale(&self, now: SystemTime) -> bool {
        self.status == ChallengeStatus::Processing
            && self
                .since
                .and_then(|t| t.checked_add(VALIDATION_TIMEOUT))
                .is_none_or(|limit| limit <= now)
    }
}

impl AcmeOrder {
    /// Whether the order is `processing` without a CA request since its claim more than
    /// [`CLAIM_TIMEOUT`] before `now` (orders claimed before claims were timed count from
    /// their creation).
    pub fn abandoned(&self, now: SystemTime) -> bool {
        self.status == OrderStatus::Processing
            && self.request.is_none()
            && self
                .claimed_at
                .unwrap_or(self.created_at)
                .checked_add(CLAIM_TIMEOUT)
                .is_some_and(|limit| limit <= now)
    }
}

/// A status change of an order, applied only if the order is still at `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    pub ca: CaName,
    pub id: String,
    pub expect: OrderStatus,
    pub status: OrderStatus,
    /// Replaces the error when `Some`.
    pub error: Option<String>,
    /// Set when `Some`.
    pub request: Option<RequestId>,
    /// Set when `Some`.
    pub serial: Option<SerialNumber>,
}

/// One challenge of an authorization. Its URL names the authorization and the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeChallenge {
    pub kind: ChallengeType,
    /// base64url, at least 128 bits of entropy.
    pub token: String,
    pub status: ChallengeStatus,
    pub validated: Option<SystemTime>,
    /// The problem document (JSON) of a failed validation.
    pub error: Option<String>,
    /// When the challenge moved to `processing` (its validation's claim).
    pub since: Option<SystemTime>,
}

/// An authorization (RFC 8555 §7.1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeAuthz {
    pub id: String,
    pub ca: CaName,
    pub account: String,
    /// Without the `*.` of a wildcard order identifier (`wildcard` says so).
    pub identifier: AcmeIdentifier,
    pub wildcard: bool,
    pub status: AuthzStatus,
    pub expires: SystemTime,
    pub challenges: Vec<AcmeChallenge>,
}

/// A change of an authorization (its status, expiry and challenges), applied only if the
/// authorization is still at `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthzUpdate {
    pub ca: CaName,
    pub id: String,
    pub expect: AuthzStatus,
    pub status: AuthzStatus,
    pub expires: SystemTime,
    pub challenges: Vec<AcmeChallenge>,
}

/// An External Account Binding key (RFC 8555 §7.3.4).
#[derive(Clone, PartialEq, Eq)]
pub struct EabKey {
    /// The key identifier clients send (`kid` of the inner JWS).
    pub kid: String,
    /// The CA it binds accounts of; `None`: any CA.
    pub ca: Option<CaName>,
    /// The identity name accounts bound with it enroll as.
    pub name: String,
    /// The HMAC-SHA256 key.
    pub hmac: Vec<u8>,
    pub created_at: SystemTime,
    pub created_by: String,
    pub revoked_at: Option<SystemTime>,
    /// The account bound with it (a key binds one account).
    pub account: Option<String>,
}

impl fmt::Debug for EabKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EabKey")
            .field("kid", &self.kid)
            .field("ca", &self.ca)
            .field("name", &self.name)
            .field("hmac", &"<secret>")
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("revoked_at", &self.revoked_at)
            .field("account", &self.account)
            .finish()
    }
}

/// An audit record written with an ACME change, in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeAudit {
    pub at: SystemTime,
    /// The identity name (an administrator, or the account's requester name).
    pub actor: String,
    /// `acme-account-create`, `acme-account-update`, `acme-account-deactivate`,
    /// `acme-key-change`, `acme-eab-create`, `acme-eab-revoke`, `acme-renew-early`.
    pub action: String,
    pub ca: Option<CaName>,
    /// What it is about, e.g. `acme-account/ID`, `acme-eab/KID`, `certificate/SERIAL`.
    pub target: String,
    /// A JSON object.
    pub details: String,
}

/// What `purge_acme` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcmePurged {
    pub nonces: u64,
    pub orders: u64,
    pub authorizations: u64,
    /// Abandoned orders ([`AcmeOrder::abandoned`]) made `invalid`.
    pub abandoned: u64,
}

/// Why an ACME store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcmeStoreError {
    /// A uniqueness rule refused the write (an account key already in use, an EAB key already
    /// bound or revoked, a certificate already replaced); nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The object does not exist (for writes that need it).
    #[error("not found: {0}")]
    NotFound(String),
    /// The store could not do it (closed, I/O, corruption); nothing was written.
    #[error("store: {0}")]
    Store(String),
    /// The request's nonce was already used ([`AcmeStore::write_spending`]); nothing was
    /// written.
    #[error("the nonce was already used")]
    NonceUsed,
}

/// A request's nonce, to be recorded as used until `expires` (see [`AcmeStore::use_nonce`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceUse {
    pub id: [u8; 16],
    pub expires: SystemTime,
}

/// A write a request makes together with spending its nonce ([`AcmeStore::write_spending`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcmeMutation {
    /// As [`AcmeStore::create_order`].
    CreateOrder(Box<AcmeOrder>, Vec<AcmeAuthz>),
    /// As [`AcmeStore::update_order`].
    UpdateOrder(OrderUpdate),
    /// As [`AcmeStore::update_authz`].
    UpdateAuthz(AuthzUpdate),
}

/// Storage for the ACME front end. Implemented by `signet-store`.
pub trait AcmeStore: Send + Sync {
    /// The 32-byte secret nonces are authenticated with, shared by every node on this
    /// database: created (randomly, by the caller's `candidate`) on first use, then always the
    /// stored one.
    fn acme_nonce_secret(
        &self,
        candidate: [u8; 32],
    ) -> BoxFuture<'_, Result<[u8; 32], AcmeStoreError>>;
    /// Records a nonce as used until `expires`: `true` the first time, `false` if it was
    /// already used. Atomic across nodes.
    fn use_nonce(
        &self,
        nonce_id: [u8; 16],
        expires: SystemTime,
    ) -> BoxFuture<'_, Result<bool, AcmeStoreError>>;
    /// Spends `nonce` and makes `write` in one transaction: `NonceUsed` (and nothing written)
    /// if the nonce was already used; otherwise what `write` alone answers (`true` for a
    /// created order, the compare-and-swap's outcome for an update), the nonce spent even
    /// when a compare-and-swap finds the object moved on. One commit instead of two.
    fn write_spending(
        &self,
        nonce: NonceUse,
        write: AcmeMutation,
    ) -> BoxFuture<'_, Result<bool, AcmeStoreError>>;

    /// Creates an account; with `eab_kid`, binds that key (which must exist, be live, be for
    /// this CA or any, and be unbound) in the same transaction. `Conflict` if the thumbprint
    /// is another account's of the CA or the key cannot be bound.
    fn create_account(
        &self,
        account: AcmeAccount,
        audit: AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    fn account<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAccount>, AcmeStoreError>>;
    fn account_by_thumbprint<'a>(
        &'a self,
        ca: &'a CaName,
        thumbprint: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAccount>, AcmeStoreError>>;
    /// Applies a change; `NotFound` if there is no such account, `Conflict` if a new key is
    /// another account's, or a key or status change finds the account no longer valid or no
    /// longer holding `previous`. Returns the account as stored afterwards.
    fn update_account<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
        change: AccountChange,
        audit: AcmeAudit,
    ) -> BoxFuture<'a, Result<AcmeAccount, AcmeStoreError>>;
    /// A CA's accounts, newest first, at most `limit`.
    fn accounts<'a>(
        &'a self,
        ca: &'a CaName,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AcmeAccount>, AcmeStoreError>>;

    /// Creates an order with its new authorizations (reused ones already exist). `Conflict`
    /// if `replaces` names a certificate another live (not invalid) order already replaces.
    fn create_order(
        &self,
        order: AcmeOrder,
        new_authzs: Vec<AcmeAuthz>,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    fn order<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>>;
    /// Applies `update` if the order is still at `update.expect`; `false` if not (or absent).
    fn update_order(&self, update: OrderUpdate) -> BoxFuture<'_, Result<bool, AcmeStoreError>>;
    /// A CA's orders (of one account when given), newest first, at most `limit`, those
    /// created before the order `before` when given (paging).
    fn orders<'a>(
        &'a self,
        ca: &'a CaName,
        account: Option<&'a str>,
        before: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AcmeOrder>, AcmeStoreError>>;
    /// The valid order that obtained the certificate `serial` (who may revoke it, whose
    /// renewal may replace it).
    fn order_for_certificate<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>>;
    /// The live (not invalid) order that replaces the certificate `serial`, if any.
    fn order_replacing<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<AcmeOrder>, AcmeStoreError>>;
    /// How many orders `account` created at or after `since`.
    fn count_orders<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        since: SystemTime,
    ) -> BoxFuture<'a, Result<u64, AcmeStoreError>>;

    fn authz<'a>(
        &'a self,
        ca: &'a CaName,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AcmeAuthz>, AcmeStoreError>>;
    /// Applies `update` if the authorization is still at `update.expect`; `false` if not.
    fn update_authz(&self, update: AuthzUpdate) -> BoxFuture<'_, Result<bool, AcmeStoreError>>;
    /// A valid authorization of `account` for `identifier` (same wildcard flag) that is still
    /// valid at `valid_until`, the one expiring last.
    fn reusable_authz<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        identifier: &'a AcmeIdentifier,
        wildcard: bool,
        valid_until: SystemTime,
    ) -> BoxFuture<'a, Result<Option<AcmeAuthz>, AcmeStoreError>>;
    /// How many pending authorizations of `account` expire after `now`.
    fn count_pending_authzs<'a>(
        &'a self,
        ca: &'a CaName,
        account: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<u64, AcmeStoreError>>;

    /// Creates an EAB key; `Conflict` if the kid exists.
    fn create_eab(
        &self,
        key: EabKey,
        audit: AcmeAudit,
    ) -> BoxFuture<'_, Result<(), AcmeStoreError>>;
    fn eab<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<EabKey>, AcmeStoreError>>;
    /// EAB keys for `ca` (and those for any CA) when given, else all; newest first.
    fn eab_keys<'a>(
        &'a self,
        ca: Option<&'a CaName>,
    ) -> BoxFuture<'a, Result<Vec<EabKey>, AcmeStoreError>>;
    /// Revokes an EAB key and, in the same transaction, the account it bound (status
    /// `revoked`: the key was that account's credential): `false` if absent or already
    /// revoked.
    fn revoke_eab<'a>(
        &'a self,
        kid: &'a str,
        at: SystemTime,
        audit: AcmeAudit,
    ) -> BoxFuture<'a, Result<bool, AcmeStoreError>>;

    /// Marks a certificate for early renewal (RFC 9773: its window moves into the past).
    fn mark_renew_early<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
        at: SystemTime,
        audit: AcmeAudit,
    ) -> BoxFuture<'a, Result<(), AcmeStoreError>>;
    /// When the certificate was marked for early renewal, if it was.
    fn renew_early<'a>(
        &'a self,
        ca: &'a CaName,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, AcmeStoreError>>;

    /// Removes used nonces that expired before `now`, authorizations that expired before
    /// `now - keep`, and orders that expired before `now - keep` and are not `valid` or
    /// `processing` (a valid order is the record of which account obtained a certificate:
    /// `revokeCert` and `replaces` read it).
    fn purge_acme(
        &self,
        now: SystemTime,
        keep: std::time::Duration,
    ) -> BoxFuture<'_, Result<AcmePurged, AcmeStoreError>>;
}
