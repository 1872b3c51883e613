//! [`Pkcs11Key`]: a CA key on a PKCS#11 token, signing through a pool of sessions.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use signet_core::{Signer, SignerError};
use signet_x509::{KeyAlgorithm, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::public::{self, PublicKey};
use crate::{Pkcs11Error, Pkcs11Uri, module};

/// Most idle sessions kept open; more are opened while more threads sign at once, and
/// closed when they come back to a full pool.
const MAX_IDLE: usize = 32;

/// A CA key that never leaves its token: CKA_SENSITIVE, not CKA_EXTRACTABLE (when Signet
/// made it). Signs with P-256 or P-384 ECDSA (SHA-256 / SHA-384, hashed here, `CKM_ECDSA` on
/// the token, the raw r‖s converted to DER), Ed25519 (`CKM_EDDSA`) or RSA PKCS#1 v1.5 with
/// SHA-256 (`CKM_SHA256_RSA_PKCS`).
///
/// One module instance per process ([`module`]); the user logs in once per token (a
/// `CKR_USER_ALREADY_LOGGED_IN` is success); sessions are pooled, one per concurrent signer.
/// When the token or its daemon goes away, signing fails with
/// [`SignerError::Unavailable`] (the CA answers 503, nothing is stored), and each later
/// signature tries to reconnect — find the token again, log in, find the key — so the CA
/// recovers without a restart once the token is back.
pub struct Pkcs11Key {
    uri: Pkcs11Uri,
    context: Pkcs11,
    pin: Zeroizing<String>,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
    /// What it signs with: the key's own algorithm, or RSASSA-PSS for an RSA key
    /// ([`Pkcs11Key::with_rsa_pss`]).
    signature: SignatureAlgorithm,
    live: Mutex<Option<Live>>,
}

/// The connection to the token while it works: its slot, the key's handle, idle sessions.
struct Live {
    slot: Slot,
    key: ObjectHandle,
    idle: Vec<Session>,
    /// Bumped at every reconnection, so a session from before one is not pooled again.
    generation: u64,
}

impl Pkcs11Key {
    /// The key the URI names, which must exist on the token. Checks it by signing a test
    /// message and verifying the signature with the public key read from the token.
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Key, Pkcs11Error> {
        let context = module(&uri.module()?)?;
        let pin = uri.pin()?;
        let calls = crate::calls();
        let slot = find_slot(&context, uri)?;
        let (session, key) = log_in_and_find_key(&context, slot, uri, &pin)?;
        let public = public::read(&session, uri, key)?;
        let spki = signet_keys::spki_der(public.algorithm, &public.key)
            .map_err(|e| Pkcs11Error::Key(format!("the public key: {e}")))?;
        let this = Pkcs11Key {
            uri: uri.clone(),
            context,
            pin,
            algorithm: public.algorithm,
            spki,
            signature: public.algorithm.signature_algorithm(),
            live: Mutex::new(Some(Live {
                slot,
                key,
                idle: vec![session],
                generation: 0,
            })),
        };
        drop(calls);
        this.self_test(&public)?;
        Ok(this)
    }

    /// Generates a key pair on the token under the URI's label (`object`) and id (`id`, or
    /// 16 random bytes), private, sensitive and not extractable, then opens it. Refused when
    /// the token already holds a key of that label or id, and for ML-DSA (no packaged token
    /// supports it yet: ML-DSA CA keys stay in software).
    pub fn generate(uri: &Pkcs11Uri, algorithm: KeyAlgorithm) -> Result<Pkcs11Key, Pkcs11Error> {
        let context = module(&uri.module()?)?;
        let pin = uri.pin()?;
        let calls = crate::calls();
        let slot = find_slot(&context, uri)?;
        let session = open_session(&context, slot, &pin, true)?;
        if find_one(&session, uri, ObjectClass::PRIVATE_KEY)?.is_some() {
            return Err(Pkcs11Error::Key(format!(
                "the token already holds a key matching {uri}: use it with --existing, or choose another object label"
            )));
        }
        let label = uri.object.clone().unwrap_or_else(|| "signet-ca".into());
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 16];
                aws_lc_rs::rand::fill(&mut id)
                    .map_err(|_| Pkcs11Error::Key("the random generator failed".into()))?;
                id
            }
        };
        let (mechanism, mut public_template) = public::generation(algorithm)?;
        public_template.extend([
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.clone().into_bytes()),
            Attribute::Id(id.clone()),
        ]);
        let private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.into_bytes()),
            Attribute::Id(id.clone()),
        ];
        session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(token("generating the key pair"))?;
        drop(session);
        drop(calls);
        let mut uri = uri.clone();
        uri.id.get_or_insert(id);
        Pkcs11Key::open(&uri)
    }

    /// The same RSA key, signing RSASSA-PSS (`CKM_SHA256_RSA_PKCS_PSS`: SHA-256, MGF1 with
    /// SHA-256, a 32-byte salt) instead of PKCS#1 v1.5. Refused for other key types.
    pub fn with_rsa_pss(mut self) -> Result<Pkcs11Key, Pkcs11Error> {
        self.signature = self
            .algorithm
            .rsa_pss_signature()
            .ok_or_else(|| Pkcs11Error::Key(format!("RSASSA-PSS with a {} key", self.algorithm)))?;
        Ok(self)
    }

    /// The URI this key was opened from (no secret in it).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn self_test(&self, public: &PublicKey) -> Result<(), Pkcs11Error> {
        let message = b"signet: does the token's key match its public key?";
        let signature = self
            .sign(message)
            .map_err(|e| Pkcs11Error::Key(format!("signing a test message: {e}")))?;
        public.verify(message, &signature).map_err(|()| {
            Pkcs11Error::Key(format!(
                "the token's signature does not verify with the public key stored beside it ({})",
                self.uri
            ))
        })
    }

    /// A session to sign with, the key's handle and the generation they belong to:
    /// reconnecting first if the token was lost.
    fn checkout(&self) -> Result<(Session, ObjectHandle, u64), Pkcs11Error> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let l = match &mut *live {
            Some(l) => l,
            none @ None => none.insert(self.connect()?),
        };
        let session = match l.idle.pop() {
            Some(s) => s,
            // The user is logged in to the token already: new sessions share the login.
            None => {
                let _calls = crate::calls();
                self.context
                    .open_ro_session(l.slot)
                    .map_err(token("opening a session"))?
            }
        };
        Ok((session, l.key, l.generation))
    }

    /// Finds the token and the key again after the connection was lost.
    fn connect(&self) -> Result<Live, Pkcs11Error> {
        let found = {
            let _calls = crate::calls();
            find_slot(&self.context, &self.uri)
        };
        let slot = match found {
            Ok(slot) => slot,
            Err(e) if e.is_unavailable() => {
                crate::reinitialize(&self.uri.module()?)?;
                let _calls = crate::calls();
                find_slot(&self.context, &self.uri)?
            }
            Err(e) => return Err(e),
        };
        let _calls = crate::calls();
        let (session, key) = log_in_and_find_key(&self.context, slot, &self.uri, &self.pin)?;
        tracing::info!(uri = %self.uri, "connected to the PKCS#11 token again");
        Ok(Live {
            slot,
            key,
            idle: vec![session],
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        })
    }

    /// Returns a session after a signature, unless the connection was reset meanwhile.
    fn checkin(&self, session: Session, generation: u64) {
        let rejected = {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            match live.as_mut() {
                Some(l) if l.generation == generation && l.idle.len() < MAX_IDLE => {
                    l.idle.push(session);
                    None
                }
                _ => Some(session),
            }
        };
        // Closing a session calls the module: outside the key's lock (see `crate::calls`).
        let _calls = crate::calls();
        drop(rejected);
    }

    /// Forgets the connection (closing its sessions) after an error that says the token,
    /// the session or the key handle is gone.
    fn reset(&self, generation: u64) {
        let old = {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            if live.as_ref().is_some_and(|l| l.generation == generation) {
                live.take()
            } else {
                None
            }
        };
        let _calls = crate::calls();
        drop(old);
    }

    fn sign_once(&self, message: &[u8]) -> Result<Vec<u8>, Attempt> {
        let (session, key, generation) = self.checkout().map_err(|e| {
            if e.is_unavailable() {
                Attempt::Gone(e.to_string())
            } else {
                Attempt::Failed(e.to_string())
            }
        })?;
        let calls = crate::calls();
        let result = match self.algorithm {
            KeyAlgorithm::P256 | KeyAlgorithm::P384 => {
                let hash = if self.algorithm == KeyAlgorithm::P256 {
                    &digest::SHA256
                } else {
                    &digest::SHA384
                };
                let digest = digest::digest(hash, message);
                session
                    .sign(&Mechanism::Ecdsa, key, digest.as_ref())
                    .map(|raw| public::ecdsa_raw_to_der(&raw))
            }
            KeyAlgorithm::Ed25519 => session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    key,
                    message,
                )
                .map(Ok),
            KeyAlgorithm::Rsa { .. } if self.signature == SignatureAlgorithm::RsaPssSha256 => {
                session
                    .sign(
                        &Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                            hash_alg: MechanismType::SHA256,
                            mgf: PkcsMgfType::MGF1_SHA256,
                            s_len: 32.into(),
                        }),
                        key,
                        message,
                    )
                    .map(Ok)
            }
            KeyAlgorithm::Rsa { .. } => session
                .sign(&Mechanism::Sha256RsaPkcs, key, message)
                .map(Ok),
            KeyAlgorithm::MlDsa65 => {
                return Err(Attempt::Failed("ML-DSA is not signed on tokens".into()));
            }
        };
        drop(calls);
        match result {
            Ok(Ok(signature)) => {
                self.checkin(session, generation);
                Ok(signature)
            }
            Ok(Err(())) => {
                self.checkin(session, generation);
                Err(Attempt::Failed(
                    "the token returned an ECDSA signature of the wrong length".into(),
                ))
            }
            Err(e) if connection_lost(&e) => {
                {
                    let _calls = crate::calls();
                    drop(session);
                }
                self.reset(generation);
                Err(Attempt::Gone(format!("the token: {e}")))
            }
            Err(e) => {
                self.checkin(session, generation);
                Err(Attempt::Failed(format!("the token refused to sign: {e}")))
            }
        }
    }
}

/// Connection generations across all keys of the process (only compared per key).
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How one signing attempt failed.
enum Attempt {
    /// The token, session or key handle went away: reconnect and try again, or report
    /// the key unavailable.
    Gone(String),
    Failed(String),
}

impl Signer for Pkcs11Key {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.signature
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// One retry after a lost connection (a token that restarted since the last signature
    /// is found again at once); a token that stays away is `Unavailable`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match self.sign_once(message) {
            Ok(s) => Ok(s),
            Err(Attempt::Failed(why)) => Err(SignerError::Failed(why)),
            Err(Attempt::Gone(_)) => match self.sign_once(message) {
                Ok(s) => Ok(s),
                Err(Attempt::Failed(why)) => Err(SignerError::Failed(why)),
                Err(Attempt::Gone(why)) => Err(SignerError::Unavailable(why)),
            },
        }
    }

    /// Signs a probe: the one test that the token, the login and the key all work now.
    fn check(&self) -> Result<(), SignerError> {
        self.sign(b"signet health check").map(drop)
    }
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("uri", &self.uri.to_string())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Errors that mean the session, the login, the key handle or the token itself is gone, so
/// the connection is rebuilt before the next signature.
fn connection_lost(e: &CkError) -> bool {
    match e {
        CkError::Pkcs11(rv, _) => {
            crate::device_gone(rv)
                || matches!(
                    rv,
                    RvError::DeviceMemory
                        | RvError::SessionHandleInvalid
                        | RvError::SessionClosed
                        | RvError::ObjectHandleInvalid
                        | RvError::KeyHandleInvalid
                        | RvError::UserNotLoggedIn
                )
        }
        _ => false,
    }
}

/// A `map_err` adapter for a call to the token.
pub(crate) fn token(what: &'static str) -> impl Fn(CkError) -> Pkcs11Error {
    move |source| Pkcs11Error::Token { what, source }
}

/// The one slot whose token matches the URI's token attributes.
fn find_slot(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, Pkcs11Error> {
    let mut found = Vec::new();
    for slot in context
        .get_slots_with_token()
        .map_err(token("listing the slots"))?
    {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if wanted(&uri.token, info.label())
            && wanted(&uri.serial, info.serial_number())
            && wanted(&uri.manufacturer, info.manufacturer_id())
            && wanted(&uri.model, info.model())
        {
            found.push(slot);
        }
    }
    match found[..] {
        [slot] => Ok(slot),
        [] => Err(Pkcs11Error::NoToken(uri.to_string())),
        _ => Err(Pkcs11Error::Key(format!(
            "{} tokens match {uri}: name one with token=, serial= or slot-id=",
            found.len()
        ))),
    }
}

/// A session on the slot with the user logged in (once per token and process; a login that
/// already stands is success).
fn open_session(
    context: &Pkcs11,
    slot: Slot,
    pin: &Zeroizing<String>,
    read_write: bool,
) -> Result<Session, Pkcs11Error> {
    let session = if read_write {
        context.open_rw_session(slot)
    } else {
        context.open_ro_session(slot)
    }
    .map_err(token("opening a session"))?;
    let pin = AuthPin::new(pin.as_str().into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            Err(Pkcs11Error::Pin("the token refused the PIN".into()))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            Err(Pkcs11Error::Pin("the token's user PIN is locked".into()))
        }
        Err(e) => Err(token("logging in")(e)),
    }
}

/// A read-only session on `slot` with the user logged in, and the private key the URI names
/// (which must exist).
fn log_in_and_find_key(
    context: &Pkcs11,
    slot: Slot,
    uri: &Pkcs11Uri,
    pin: &Zeroizing<String>,
) -> Result<(Session, ObjectHandle), Pkcs11Error> {
    let session = open_session(context, slot, pin, false)?;
    let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY)?
        .ok_or_else(|| Pkcs11Error::Key(format!("no private key on the token matches {uri}")))?;
    Ok((session, key))
}

/// The one object of `class` that the URI's `object` and `id` name, if any.
pub(crate) fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.clone().into_bytes()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(token("finding the key"))?;
    match found[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(Pkcs11Error::Key(format!(
            "{} objects match {uri}: add id= to name one",
            found.len()
        ))),
    }
}

/// The key type attribute of an object.
pub(crate) fn key_type(session: &Session, object: ObjectHandle) -> Result<KeyType, Pkcs11Error> {
    let attrs = session
        .get_attributes(object, &[AttributeType::KeyType])
        .map_err(token("reading the key type"))?;
    attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::KeyType(t) => Some(t),
            _ => None,
        })
        .ok_or_else(|| Pkcs11Error::Key("the key has no CKA_KEY_TYPE".into()))
}
