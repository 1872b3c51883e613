//! External Account Binding (RFC 8555 §7.3.4): the inner JWS in a `newAccount` payload's
//! `externalAccountBinding`, a MAC (HS256) by a key the CA gave out of band over the new
//! account's public key.

use aws_lc_rs::hmac;

use crate::b64::B64Error;
use crate::jwk::{Jwk, JwkError};
use crate::jws::{Flattened, MAX_KID_CHARS, MAX_URL_CHARS, RawHeader, decode_flattened};
use crate::problem::{AcmeError, ProblemType};

/// The one MAC algorithm accepted for the binding.
pub const EAB_ALGORITHM: &str = "HS256";

/// Why an external account binding was refused.
#[derive(Debug, thiserror::Error)]
pub enum EabError {
    /// Not a flattened JWS (members other than protected, payload, signature included).
    #[error("externalAccountBinding is not a flattened JWS")]
    Json(#[source] serde_json::Error),
    /// A member is not unpadded base64url, or is too long.
    #[error("the externalAccountBinding member {field:?} is invalid")]
    Base64 {
        field: &'static str,
        #[source]
        source: B64Error,
    },
    /// The protected header is not the expected JSON object.
    #[error("the externalAccountBinding protected header is invalid")]
    HeaderJson(#[source] serde_json::Error),
    /// `b64` or `crit` in the header.
    #[error("the externalAccountBinding header parameter {0:?} is not supported")]
    UnsupportedHeader(&'static str),
    /// `alg` other than HS256.
    #[error("the externalAccountBinding algorithm must be HS256")]
    Algorithm,
    /// No `kid` (or `kid` over the limit).
    #[error("the externalAccountBinding has no valid kid")]
    MissingKid,
    /// No `url` (or `url` over the limit).
    #[error("the externalAccountBinding has no valid url")]
    MissingUrl,
    /// A `nonce` (RFC 8555 §7.3.4: it MUST NOT have one).
    #[error("the externalAccountBinding must not carry a nonce")]
    HasNonce,
    /// A `jwk` in the header.
    #[error("the externalAccountBinding must identify its key with kid, not jwk")]
    HasJwk,
    /// `url` is not the newAccount URL.
    #[error("the externalAccountBinding url is not the newAccount URL")]
    UrlMismatch,
    /// The payload is not a valid JWK.
    #[error("the externalAccountBinding payload is not a valid JWK")]
    Payload(#[source] JwkError),
    /// The payload is a different key from the account's.
    #[error("the externalAccountBinding binds a different key from the account's")]
    KeyMismatch,
    /// The MAC does not verify with the key id's HMAC key.
    #[error("the externalAccountBinding MAC does not verify")]
    BadMac,
}

impl AcmeError for EabError {
    fn problem_type(&self) -> ProblemType {
        match self {
            EabError::BadMac | EabError::UrlMismatch | EabError::KeyMismatch => {
                ProblemType::Unauthorized
            }
            EabError::Algorithm => ProblemType::BadSignatureAlgorithm,
            EabError::Json(_)
            | EabError::Base64 { .. }
            | EabError::HeaderJson(_)
            | EabError::UnsupportedHeader(_)
            | EabError::MissingKid
            | EabError::MissingUrl
            | EabError::HasNonce
            | EabError::HasJwk
            | EabError::Payload(_) => ProblemType::Malformed,
        }
    }

    fn accepted_algorithms(&self) -> Vec<String> {
        vec![EAB_ALGORITHM.to_owned()]
    }
}

/// A parsed binding: the key id it names, and what is needed to verify it once the caller
/// has found that key id's HMAC key.
#[derive(Debug, Clone)]
pub struct EabRequest {
    key_id: String,
    url: String,
    payload: Vec<u8>,
    mac: Vec<u8>,
    signing_input: Vec<u8>,
}

impl EabRequest {
    /// Parses `externalAccountBinding` from a newAccount payload.
    pub fn parse(value: &serde_json::Value) -> Result<Self, EabError> {
        let flat: Flattened = serde_json::from_value(value.clone()).map_err(EabError::Json)?;
        let parts = decode_flattened(&flat)
            .map_err(|(field, source)| EabError::Base64 { field, source })?;
        let raw: RawHeader =
            serde_json::from_slice(&parts.header_json).map_err(EabError::HeaderJson)?;
        if raw.b64 {
            return Err(EabError::UnsupportedHeader("b64"));
        }
        if raw.crit {
            return Err(EabError::UnsupportedHeader("crit"));
        }
        if raw.alg.as_deref() != Some(EAB_ALGORITHM) {
            return Err(EabError::Algorithm);
        }
        if raw.nonce.is_some() {
            return Err(EabError::HasNonce);
        }
        if raw.jwk.is_some() {
            return Err(EabError::HasJwk);
        }
        let key_id = raw
            .kid
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_CHARS)
            .ok_or(EabError::MissingKid)?;
        let url = raw
            .url
            .filter(|u| u.len() <= MAX_URL_CHARS)
            .ok_or(EabError::MissingUrl)?;
        Ok(EabRequest {
            key_id,
            url,
            payload: parts.payload,
            mac: parts.signature,
            signing_input: parts.signing_input,
        })
    }

    /// The EAB key id the binding names (look its HMAC key up with it).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Verifies the binding: the MAC with `hmac_key` (constant-time), the `url` against
    /// `new_account_url`, and the payload against the account's key. Returns the key id.
    pub fn verify(
        &self,
        hmac_key: &[u8],
        account_key: &Jwk,
        new_account_url: &str,
    ) -> Result<String, EabError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, hmac_key);
        hmac::verify(&key, &self.signing_input, &self.mac).map_err(|_| EabError::BadMac)?;
        if self.url != new_account_url {
            return Err(EabError::UrlMismatch);
        }
        let bound = Jwk::from_json(&self.payload).map_err(EabError::Payload)?;
        if !bound.same_key(account_key) {
            return Err(EabError::KeyMismatch);
        }
        Ok(self.key_id.clone())
    }
}
