//! The ACME server (RFC 8555): an axum [`Router`] for every CA with ACME enabled, reaching the
//! CA only through the front-end API (`Enroll`, `HolderRevocation`, `Authenticate`) and
//! keeping its own state in an [`AcmeStore`].
//!
//! Layout:
//! - this file: [`Acme`] (the configuration and the trait objects), [`router`], URLs;
//! - `request`: the POST pipeline every resource shares (JWS, nonce, account key, `url`) and
//!   the response helpers (problem documents with a fresh `Replay-Nonce`);
//! - `account`: `newAccount` (with EAB), account update and deactivation, `keyChange`;
//! - `identifiers`: order identifiers and a CSR's names, in one canonical form;
//! - `order`: `newOrder`, orders, `finalize` (through `Enroll::submit`), certificates, the
//!   account's order list;
//! - `authz`: authorizations, challenges and their validation off the request path;
//! - `revoke`: `revokeCert`;
//! - `renewal`: renewal information (RFC 9773);
//! - `admin`: the administration API (`/api/v1/cas/{ca}/acme/...`) behind API tokens.
//!
//! Architecture invariant: the order of an ACME exchange is the CA's decision. An order
//! becomes `valid` only when the engine answered `Issued` to its request; a pending request
//! keeps it `processing` until a manager decides; nothing here issues or stores a certificate.

mod account;
mod admin;
mod authz;
mod identifiers;
mod order;
mod renewal;
mod request;
mod revoke;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use signet_api::acme::{AcmeIdentifier, AcmeStore, ChallengeType};
use signet_api::rate::TokenBucket;
use signet_api::revocation::HolderRevocation;
use signet_api::{Authenticate, BoxFuture, CaName, Enroll};

use crate::jws::MAX_JWS_BYTES;
use crate::nonce::NonceKey;
use crate::problem::Problem;

pub use request::AcmeFailure;

/// How long a nonce is accepted after it was minted.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a new order (and its pending authorizations) may be worked on.
pub const ORDER_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long this node uses an account it read without reading it again. A change made
/// through this node (contact, deactivation, key change) replaces the entry at once; one made
/// through another node on the same database is seen here within this time.
pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Validations one account may have running at once (on this node), so one account cannot
/// hold all the validator's [`crate::validate::MAX_CONCURRENT`] slots; more wait their turn.
pub const VALIDATIONS_PER_ACCOUNT: usize = 8;
/// Validations one account may have running or waiting (on this node); a challenge answered
/// beyond that is `rateLimited`.
pub const VALIDATIONS_QUEUED_PER_ACCOUNT: usize = 256;
/// Most accounts cached (the cache is emptied when it would grow past this).
const ACCOUNT_CACHE_MAX: usize = 10_000;
/// How long expired orders and authorizations are kept before `purge` removes them.
pub const PURGE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Validation of one challenge (`validate`'s `Validator` in production). A trait so the
/// handlers do not depend on how the network is reached.
pub trait Validate: Send + Sync {
    /// Checks the challenge; `Err` says why it failed, as the challenge's `error`.
    fn validate<'a>(
        &'a self,
        kind: ChallengeType,
        identifier: &'a AcmeIdentifier,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), Problem>>;
    /// Checks CAA for a DNS identifier (RFC 8659).
    fn check_caa<'a>(
        &'a self,
        identifier: &'a AcmeIdentifier,
        wildcard: bool,
    ) -> BoxFuture<'a, Result<(), Problem>>;
}

/// A Signet profile offered over ACME (draft-ietf-acme-profiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileOffer {
    pub name: String,
    pub description: String,
}

/// Per-account and per-domain limits (a refusal is `rateLimited` with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcmeLimits {
    /// New orders per account per hour (0: no limit).
    pub orders_per_account_per_hour: u32,
    /// Pending authorizations an account may hold at once (0: no limit).
    pub pending_authzs_per_account: u32,
    /// New orders naming one registered domain per hour, on this node (0: no limit).
    pub orders_per_domain_per_hour: u32,
}

impl Default for AcmeLimits {
    fn default() -> Self {
        AcmeLimits {
            orders_per_account_per_hour: 300,
            pending_authzs_per_account: 1000,
            orders_per_domain_per_hour: 300,
        }
    }
}

/// One CA's ACME settings (`[ca.acme]`).
pub struct AcmeCa {
    pub ca: CaName,
    /// Offered profiles; the first is listed first.
    pub profiles: Vec<ProfileOffer>,
    pub default_profile: String,
    /// `newAccount` needs an External Account Binding.
    pub eab_required: bool,
    /// `meta.caaIdentities`.
    pub caa_identities: Vec<String>,
    pub terms_of_service: Option<String>,
    pub validator: Arc<dyn Validate>,
    /// How long a valid authorization stays valid (and reusable by new orders).
    pub authz_reuse: Duration,
    /// RFC 9773: the renewal window opens when this share of the lifetime is left
    /// (e.g. 1/3), and lasts half of that.
    pub renew_share: f64,
    pub limits: AcmeLimits,
}

/// The ACME server: configuration, the front-end API it calls, and its store.
pub struct Acme {
    /// `{public_url}` of every URL this server writes and expects in `url`.
    public_url: String,
    cas: HashMap<String, AcmeCa>,
    enroll: Arc<dyn Enroll>,
    holder: Arc<dyn HolderRevocation>,
    authn: Arc<dyn Authenticate>,
    store: Arc<dyn AcmeStore>,
    /// AD CS `RoleSeparationEnabled`, for the administration API.
    role_separation: bool,
    nonces: NonceKey,
    domains: Mutex<HashMap<String, (Instant, TokenBucket)>>,
    /// Accounts read recently, by `CA/id` (see [`ACCOUNT_CACHE_TTL`]).
    /// With the account's key parsed (a key that does not parse is not cached).
    accounts: Mutex<HashMap<String, (Instant, signet_api::acme::AcmeAccount, crate::jwk::Jwk)>>,
    /// Validations running, per account (see [`VALIDATIONS_PER_ACCOUNT`]).
    validating: Arc<Mutex<HashMap<String, AccountValidations>>>,
}

/// The validations of one account on this node: its turns ([`VALIDATIONS_PER_ACCOUNT`]) and
/// how many are running or waiting.
type AccountValidations = (Arc<tokio::sync::Semaphore>, usize);

/// One validation of an account, running or waiting for its turn; dropping it leaves the
/// queue (and the map, when it was the account's last).
pub(crate) struct ValidationSlot {
    map: Arc<Mutex<HashMap<String, AccountValidations>>>,
    account: String,
    turns: Arc<tokio::sync::Semaphore>,
}

impl ValidationSlot {
    /// Waits until fewer than [`VALIDATIONS_PER_ACCOUNT`] of the account's validations run.
    pub(crate) async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }
}

impl Drop for ValidationSlot {
    fn drop(&mut self) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, n)) = map.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

/// A place in `account`'s validation queue (see [`Acme::validation_slot`]).
fn join_validations(
    validating: &Arc<Mutex<HashMap<String, AccountValidations>>>,
    account: &str,
) -> Option<ValidationSlot> {
    let mut map = validating
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (turns, n) = map.entry(account.to_owned()).or_insert_with(|| {
        (
            Arc::new(tokio::sync::Semaphore::new(VALIDATIONS_PER_ACCOUNT)),
            0,
        )
    });
    if *n >= VALIDATIONS_QUEUED_PER_ACCOUNT {
        return None;
    }
    *n += 1;
    Some(ValidationSlot {
        map: Arc::clone(validating),
        account: account.to_owned(),
        turns: Arc::clone(turns),
    })
}

/// What [`Acme::new`] needs.
pub struct AcmeParts {
    pub public_url: String,
    pub cas: Vec<AcmeCa>,
    pub enroll: Arc<dyn Enroll>,
    pub holder: Arc<dyn HolderRevocation>,
    pub authn: Arc<dyn Authenticate>,
    pub store: Arc<dyn AcmeStore>,
    pub role_separation: bool,
}

/// Why the ACME server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AcmeStartError {
    #[error("reading the nonce secret from the store")]
    Store(#[source] signet_api::acme::AcmeStoreError),
    #[error("no random bytes for the nonce secret")]
    Random,
    #[error("[ca.acme] of CA {ca}: default_profile {profile:?} is not one of the offered profiles")]
    DefaultProfile { ca: String, profile: String },
}

impl Acme {
    /// Builds the server; the nonce secret is the store's (shared by every node).
    pub async fn new(parts: AcmeParts) -> Result<Arc<Acme>, AcmeStartError> {
        let mut candidate = [0u8; 32];
        aws_lc_rs::rand::fill(&mut candidate).map_err(|_| AcmeStartError::Random)?;
        let secret = parts
            .store
            .acme_nonce_secret(candidate)
            .await
            .map_err(AcmeStartError::Store)?;
        let mut cas = HashMap::new();
        for ca in parts.cas {
            if !ca.profiles.iter().any(|p| p.name == ca.default_profile) {
                return Err(AcmeStartError::DefaultProfile {
                    ca: ca.ca.to_string(),
                    profile: ca.default_profile.clone(),
                });
            }
            cas.insert(ca.ca.as_str().to_owned(), ca);
        }
        Ok(Arc::new(Acme {
            public_url: parts.public_url.trim_end_matches('/').to_owned(),
            cas,
            enroll: parts.enroll,
            holder: parts.holder,
            authn: parts.authn,
            store: parts.store,
            role_separation: parts.role_separation,
            nonces: NonceKey::new(&secret),
            domains: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            validating: Arc::new(Mutex::new(HashMap::new())),
        }))
    }

    /// The CAs with ACME enabled.
    pub fn ca_names(&self) -> Vec<&str> {
        self.cas.keys().map(String::as_str).collect()
    }

    /// The directory URL of a CA.
    pub fn directory_url(&self, ca: &str) -> String {
        format!("{}/acme/{ca}/directory", self.public_url)
    }

    fn base(&self, ca: &CaName) -> String {
        crate::directory::acme_base(&self.public_url, ca.as_str())
    }

    fn account_url(&self, ca: &CaName, id: &str) -> String {
        format!("{}/acct/{id}", self.base(ca))
    }

    fn order_url(&self, ca: &CaName, id: &str) -> String {
        format!("{}/order/{id}", self.base(ca))
    }

    fn authz_url(&self, ca: &CaName, id: &str) -> String {
        format!("{}/authz/{id}", self.base(ca))
    }

    fn challenge_url(&self, ca: &CaName, authz: &str, kind: ChallengeType) -> String {
        format!("{}/chall/{authz}/{kind}", self.base(ca))
    }

    /// A place in `account`'s validation queue, if it has fewer than
    /// [`VALIDATIONS_QUEUED_PER_ACCOUNT`] running or waiting.
    fn validation_slot(&self, account: &str) -> Option<ValidationSlot> {
        join_validations(&self.validating, account)
    }

    /// An account this node read less than [`ACCOUNT_CACHE_TTL`] ago, with its key.
    fn cached_account(
        &self,
        ca: &CaName,
        id: &str,
    ) -> Option<(signet_api::acme::AcmeAccount, crate::jwk::Jwk)> {
        let map = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&format!("{ca}/{id}"))
            .filter(|(at, _, _)| at.elapsed() < ACCOUNT_CACHE_TTL)
            .map(|(_, account, key)| (account.clone(), key.clone()))
    }

    /// Drops an account from the cache (it changed in a way this node did not read).
    fn forget_account(&self, ca: &CaName, id: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&format!("{ca}/{id}"));
    }

    /// Records an account as just changed (not if its key does not parse).
    fn remember_account(&self, account: &signet_api::acme::AcmeAccount) {
        match crate::jwk::Jwk::from_json(account.jwk.as_bytes()) {
            Ok(key) => self.remember_account_key(account, key),
            Err(_) => self.forget_account(&account.ca, &account.id),
        }
    }

    /// Records an account as just read, with its key already parsed.
    fn remember_account_key(&self, account: &signet_api::acme::AcmeAccount, key: crate::jwk::Jwk) {
        let mut map = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= ACCOUNT_CACHE_MAX {
            map.clear();
        }
        map.insert(
            format!("{}/{}", account.ca, account.id),
            (Instant::now(), account.clone(), key),
        );
    }

    /// Takes one order from each registered domain's bucket (this node's share of
    /// `orders_per_domain_per_hour`); the wait until the first that is empty refills.
    fn take_domain_orders(&self, limit: u32, domains: &[String]) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let mut map = self
            .domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Bounded: forget buckets that are full again.
        if map.len() > 100_000 {
            map.retain(|_, (_, b)| !b.is_full());
        }
        for domain in domains {
            let (at, bucket) = map.entry(domain.clone()).or_insert_with(|| {
                (
                    now,
                    TokenBucket::new(f64::from(limit), f64::from(limit) / 3600.0),
                )
            });
            bucket.refill(now.duration_since(*at));
            *at = now;
            let wait = bucket.wait();
            if !wait.is_zero() {
                return Err(wait);
            }
        }
        for domain in domains {
            if let Some((_, bucket)) = map.get_mut(domain) {
                bucket.take();
            }
        }
        Ok(())
    }

    /// Gives back what [`Acme::take_domain_orders`] took, for an order that was not created
    /// (a replayed request's nonce turned out used, the store failed).
    fn give_back_domain_orders(&self, limit: u32, domains: &[String]) {
        if limit == 0 {
            return;
        }
        let mut map = self
            .domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for domain in domains {
            if let Some((_, bucket)) = map.get_mut(domain) {
                bucket.give_back();
            }
        }
    }

    /// Removes used nonces and expired orders and authorizations (the maintenance loop
    /// calls it).
    pub async fn purge(&self) -> Result<signet_api::acme::AcmePurged, AcmeFailure> {
        self.store
            .purge_acme(SystemTime::now(), PURGE_AFTER)
            .await
            .map_err(AcmeFailure::store)
    }
}

/// The ACME routes of every enabled CA, and the ACME administration API.
pub fn router(acme: Arc<Acme>) -> Router {
    Router::new()
        .route("/acme/{ca}/directory", get(request::directory))
        .route(
            "/acme/{ca}/new-nonce",
            get(request::new_nonce_get).head(request::new_nonce_head),
        )
        .route("/acme/{ca}/new-account", post(account::new_account))
        .route("/acme/{ca}/acct/{id}", post(account::account))
        .route("/acme/{ca}/acct/{id}/orders", post(order::orders))
        .route("/acme/{ca}/key-change", post(account::key_change))
        .route("/acme/{ca}/new-order", post(order::new_order))
        .route("/acme/{ca}/order/{id}", post(order::order))
        .route("/acme/{ca}/order/{id}/finalize", post(order::finalize))
        .route("/acme/{ca}/cert/{id}", post(order::certificate))
        .route("/acme/{ca}/authz/{id}", post(authz::authz))
        .route("/acme/{ca}/chall/{id}/{kind}", post(authz::challenge))
        .route("/acme/{ca}/revoke-cert", post(revoke::revoke_cert))
        .route(
            "/acme/{ca}/renewal-info/{certid}",
            get(renewal::renewal_info),
        )
        .route(
            "/api/v1/cas/{ca}/acme/eab",
            get(admin::list_eab).post(admin::create_eab),
        )
        .route(
            "/api/v1/cas/{ca}/acme/eab/{kid}",
            axum::routing::delete(admin::revoke_eab),
        )
        .route("/api/v1/cas/{ca}/acme/accounts", get(admin::accounts))
        .route("/api/v1/cas/{ca}/acme/orders", get(admin::orders))
        .route(
            "/api/v1/cas/{ca}/acme/renew-early",
            post(admin::renew_early),
        )
        .layer(DefaultBodyLimit::max(MAX_JWS_BYTES))
        .with_state(acme)
}

/// A random URL-safe identifier (127 bits).
fn random_id() -> Result<String, AcmeFailure> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| AcmeFailure::internal("no random bytes"))?;
    Ok(crate::b64::encode(&starts_with_letter(bytes)))
}

/// Clears the top bit of the first byte, so the base64url text starts with a letter
/// (`A`–`f`): an id or key that starts with `-` reads as an option on a command line
/// (`signet admin acme eab revoke KID`, `lego --kid KID --hmac HMAC`).
fn starts_with_letter<const N: usize>(mut bytes: [u8; N]) -> [u8; N] {
    if let Some(first) = bytes.first_mut() {
        *first &= 0x7f;
    }
    bytes
}

impl Validate for crate::validate::Validator {
    fn validate<'a>(
        &'a self,
        kind: ChallengeType,
        identifier: &'a AcmeIdentifier,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(crate::validate::Validator::validate(
            self,
            kind,
            identifier,
            token,
            key_authorization,
        ))
    }

    fn check_caa<'a>(
        &'a self,
        identifier: &'a AcmeIdentifier,
        wildcard: bool,
    ) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(crate::validate::Validator::check_caa(
            self, identifier, wildcard,
        ))
    }
}

#[cfg(test)]
mod tests {
    /// Ids and EAB keys are printed for command lines: none may read as an option. (Before
    /// the fix, one in 32 started with `-` and `signet admin acme eab revoke` refused it.)
    #[test]
    fn ids_and_keys_start_with_a_letter() {
        for _ in 0..2000 {
            let id = super::random_id().expect("random");
            assert!(id.starts_with(|c: char| c.is_ascii_alphabetic()), "{id}");
            let key = crate::b64::encode(&super::starts_with_letter([0xff_u8; 32]));
            assert!(key.starts_with(|c: char| c.is_ascii_alphabetic()), "{key}");
        }
    }

    /// One account's validations beyond VALIDATIONS_PER_ACCOUNT wait their turn instead of
    /// being refused (16 concurrent orders of one account got `rateLimited` before); only the
    /// queue is bounded, and it empties.
    #[test]
    fn an_accounts_validations_queue_for_their_turn() {
        use super::{VALIDATIONS_PER_ACCOUNT, VALIDATIONS_QUEUED_PER_ACCOUNT, join_validations};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let map = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
            let slots: Vec<_> = (0..VALIDATIONS_QUEUED_PER_ACCOUNT)
                .map(|_| join_validations(&map, "acct").expect("a place in the queue"))
                .collect();
            assert!(
                join_validations(&map, "acct").is_none(),
                "the queue is bounded"
            );
            assert!(join_validations(&map, "other").is_some(), "per account");
            let mut turns = Vec::new();
            for slot in &slots[..VALIDATIONS_PER_ACCOUNT] {
                turns.push(slot.turn().await.expect("a turn"));
            }
            let next = &slots[VALIDATIONS_PER_ACCOUNT];
            let waited =
                tokio::time::timeout(std::time::Duration::from_millis(50), next.turn()).await;
            assert!(waited.is_err(), "the ninth waits while eight run");
            turns.pop();
            let turn =
                tokio::time::timeout(std::time::Duration::from_millis(50), next.turn()).await;
            assert!(turn.is_ok_and(|t| t.is_some()), "and runs when one ends");
        });
        let map = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let slot = join_validations(&map, "acct").expect("slot");
        drop(slot);
        assert!(
            map.lock().expect("lock").is_empty(),
            "the last one leaves the map"
        );
    }
}
