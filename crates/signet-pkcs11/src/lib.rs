#![forbid(unsafe_code)]
//! CA keys on PKCS#11 tokens (HSMs, smart cards, SoftHSM2) for Signet.
//!
//! [`Pkcs11Key`] implements [`signet_core::Signer`] with a key that stays on its token. Keys
//! are named by RFC 7512 URIs ([`Pkcs11Uri`]): the module, the token, the key's label or
//! id, and where the PIN is (a file, or `SIGNET_PKCS11_PIN`; never the URI itself).
//! [`Pkcs11Key::generate`] makes a key pair on the token; [`Pkcs11Key::open`] uses one that
//! exists.
//!
//! The module is loaded through `cryptoki` (which does the FFI: this crate has no `unsafe`),
//! once per process and path ([`module`]): PKCS#11 allows one `C_Initialize` per process.
//!
//! # Layout
//! - `uri.rs`: [`Pkcs11Uri`], parsing and the PIN.
//! - `key.rs`: [`Pkcs11Key`]: slot and key lookup, login, the session pool, signing,
//!   reconnection.
//! - `public.rs`: the public key read from the token (CKA_EC_POINT with or without its OCTET
//!   STRING wrapper, or the RSA modulus), generation templates, raw ECDSA to DER.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

mod key;
mod public;
mod uri;

pub use key::Pkcs11Key;
pub use uri::{MODULE_ENV, PIN_ENV, Pkcs11Uri};

/// Why a token key could not be opened, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("invalid PKCS#11 URI: {0}")]
    Uri(String),
    /// The PIN could not be read, or the token refused it (the PIN itself is never shown).
    #[error("the token PIN: {0}")]
    Pin(String),
    #[error("loading the PKCS#11 module {path}: {reason}")]
    Module { path: PathBuf, reason: String },
    /// No slot holds a token matching the URI (it may be unplugged, or its daemon down).
    #[error("no token matches {0}")]
    NoToken(String),
    /// The key is missing, ambiguous, of an unsupported kind, or does not match its public
    /// key.
    #[error("{0}")]
    Key(String),
    #[error("{what}: {source}")]
    Token {
        what: &'static str,
        #[source]
        source: CkError,
    },
}

impl Pkcs11Error {
    /// Whether the token (or its daemon) cannot be reached now, as opposed to a wrong
    /// configuration: the CA answers 503 and tries again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Pkcs11Error::NoToken(_) => true,
            Pkcs11Error::Token {
                source: CkError::Pkcs11(rv, _),
                ..
            } => device_gone(rv),
            _ => false,
        }
    }
}

/// Return values that mean the token, its slot or the module's link to it is gone (and may
/// come back): a call failing so is retried after reconnecting, and reported unavailable.
pub(crate) fn device_gone(rv: &RvError) -> bool {
    matches!(
        rv,
        RvError::DeviceRemoved
            | RvError::DeviceError
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SlotIdInvalid
            | RvError::SessionCount
            | RvError::CryptokiNotInitialized
            | RvError::GeneralError
    )
}

/// Finalizes and initializes the module again, so that it looks for its tokens afresh: a
/// token that went away is not found again by every module until then (SoftHSM marks it
/// invalid for good; network HSM clients drop their connection). A module that is
/// initialized is cycled at most once a second, since every signature tries while the token
/// stays away; one whose initialization failed (SoftHSM fails it while its token directory
/// is gone) is tried again each time. Sessions of every key on the module end; each key
/// reconnects on its next signature.
pub(crate) fn reinitialize(path: &Path) -> Result<(), Pkcs11Error> {
    let mut modules = registry();
    let module = modules.get_mut(path).ok_or_else(|| Pkcs11Error::Module {
        path: path.to_owned(),
        reason: "not loaded".into(),
    })?;
    let now = std::time::Instant::now();
    let _no_calls = CALLS.write().unwrap_or_else(PoisonError::into_inner);
    if module.initialized {
        if now.duration_since(module.cycled) < std::time::Duration::from_secs(1) {
            return Ok(());
        }
        // Finalizing consumes a handle; the others (every key's) stay valid for the new
        // initialization.
        if let Err(e) = module.context.clone().finalize() {
            tracing::debug!(error = %e, "C_Finalize before initializing the module again");
        }
        module.initialized = false;
        module.cycled = now;
    }
    initialize(&module.context).map_err(|source| Pkcs11Error::Token {
        what: "initializing the PKCS#11 module again",
        source,
    })?;
    module.initialized = true;
    Ok(())
}

/// Every call into a module holds this for reading; [`reinitialize`] holds it for writing,
/// so `C_Finalize` never runs while another thread is inside the library (PKCS#11 leaves
/// that undefined; SoftHSM would free the objects under it). Never held across a wait for a
/// key's own lock.
static CALLS: RwLock<()> = RwLock::new(());

/// A read hold on [`CALLS`] for a call into a module.
pub(crate) fn calls() -> std::sync::RwLockReadGuard<'static, ()> {
    CALLS.read().unwrap_or_else(PoisonError::into_inner)
}

/// A loaded module and whether it is initialized now.
struct Module {
    context: Pkcs11,
    initialized: bool,
    /// When it was last finalized and initialized again.
    cycled: std::time::Instant,
}

fn registry() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Module>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// `C_Initialize` with OS locking (the CA signs from several threads); already initialized
/// is success.
fn initialize(context: &Pkcs11) -> Result<(), CkError> {
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The process's one instance of the module at `path`, loaded and initialized on first use.
pub fn module(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let mut modules = registry();
    if let Some(m) = modules.get(path) {
        return Ok(m.context.clone());
    }
    let failed = |reason: String| Pkcs11Error::Module {
        path: path.to_owned(),
        reason,
    };
    let context = Pkcs11::new(path).map_err(|e| failed(e.to_string()))?;
    initialize(&context).map_err(|e| failed(format!("C_Initialize: {e}")))?;
    modules.insert(
        path.to_owned(),
        Module {
            context: context.clone(),
            initialized: true,
            cycled: std::time::Instant::now(),
        },
    );
    Ok(context)
}
