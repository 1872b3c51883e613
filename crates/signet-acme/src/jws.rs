//! ACME requests: JWS in the flattened JSON serialization (RFC 7515 §7.2.2 as RFC 8555 §6.2
//! restricts it), their protected header, and signature verification.

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::b64::{self, B64Error};
use crate::jwk::{Jwk, JwkError, RawJwk, SignatureCheck};
use crate::problem::{AcmeError, ProblemType};

/// Largest request body accepted (the whole flattened JWS, in bytes).
pub const MAX_JWS_BYTES: usize = 64 * 1024;
/// Longest `protected` member, in base64url characters.
pub const MAX_PROTECTED_CHARS: usize = 8 * 1024;
/// Longest `payload` member, in base64url characters (a CSR with many names fits).
pub const MAX_PAYLOAD_CHARS: usize = MAX_JWS_BYTES;
/// Longest `signature` member: an RSA-8192 signature is 1024 bytes, 1366 characters.
pub const MAX_SIGNATURE_CHARS: usize = 1400;
/// Longest `url` header value.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest `kid` header value (an account URL).
pub const MAX_KID_CHARS: usize = 2048;
/// Longest `nonce` header value.
pub const MAX_NONCE_CHARS: usize = 256;

/// The JWS algorithms ACME accepts for account keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256, modulus ≥ 2048 bits.
    Rs256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    /// Every accepted algorithm.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Rs256,
        Algorithm::EdDsa,
    ];

    /// The `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Rs256 => "RS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm an `alg` value names, if ACME accepts it (`none`, `HS256`... are not).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The accepted names, for `badSignatureAlgorithm`'s `algorithms`.
    pub fn accepted_names() -> Vec<String> {
        Self::ALL.iter().map(|a| a.name().to_owned()).collect()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    /// The body is over [`MAX_JWS_BYTES`].
    #[error("the request body is longer than {MAX_JWS_BYTES} bytes")]
    TooLarge,
    /// Not a JSON object: the compact serialization, or not JSON at all.
    #[error("the request is not a JWS in the flattened JSON serialization")]
    NotFlattened,
    /// The JSON object is not a flattened JWS as ACME allows it (unknown members such as
    /// `header` or `signatures`, a missing or duplicate member, wrong types).
    #[error("the request is not a valid flattened JWS")]
    Json(#[source] serde_json::Error),
    /// A member over its limit, or not unpadded base64url.
    #[error("the JWS member {field:?} is invalid")]
    Base64 {
        field: &'static str,
        #[source]
        source: B64Error,
    },
    /// The protected header is not a JSON object of the expected shape (duplicate members,
    /// wrong types).
    #[error("the protected header is invalid")]
    HeaderJson(#[source] serde_json::Error),
    /// `b64` or `crit`: RFC 8555 has no use for them, so they are refused.
    #[error("the protected header parameter {0:?} is not supported")]
    UnsupportedHeader(&'static str),
    /// `alg`, `url` missing.
    #[error("the protected header has no {0:?}")]
    MissingHeader(&'static str),
    /// A header value over its limit.
    #[error("the protected header's {field:?} is longer than {limit} characters")]
    HeaderTooLong { field: &'static str, limit: usize },
    /// No `nonce` (RFC 8555 §6.5: `badNonce`).
    #[error("the protected header has no nonce")]
    MissingNonce,
    /// A `nonce` in the inner JWS of a `keyChange` (RFC 8555 §7.3.5 forbids it).
    #[error("the inner JWS of a key change must not have a nonce")]
    InnerNonce,
    /// A `nonce` that is not base64url (RFC 8555 §6.5.1).
    #[error("the nonce is not base64url")]
    NonceEncoding,
    /// `alg` is not one ACME accepts (includes `none` and MAC algorithms).
    #[error("the algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// Both `jwk` and `kid`.
    #[error("the protected header has both \"jwk\" and \"kid\"")]
    BothJwkAndKid,
    /// Neither `jwk` nor `kid`.
    #[error("the protected header has neither \"jwk\" nor \"kid\"")]
    NeitherJwkNorKid,
    /// The embedded `jwk` was refused.
    #[error("the protected header's jwk is refused")]
    Jwk(#[from] JwkError),
    /// `alg` is not the key's algorithm.
    #[error("the algorithm {alg} does not fit the key ({key})")]
    AlgorithmKeyMismatch { alg: Algorithm, key: String },
    /// The signature does not verify.
    #[error("the JWS signature does not verify")]
    BadSignature,
    /// The endpoint takes `jwk` but the request has `kid`, or the other way round.
    #[error("this request must identify its key with {expected:?}")]
    WrongKeyRef { expected: &'static str },
    /// `url` is not the URL the request was sent to (RFC 8555 §6.4).
    #[error("the JWS url {got:?} is not the request URL {expected:?}")]
    UrlMismatch { expected: String, got: String },
    /// The request needs a JSON payload but is a POST-as-GET (empty payload).
    #[error("the request has an empty payload, a JSON object was expected")]
    EmptyPayload,
    /// The payload is not the JSON the endpoint expects.
    #[error("the payload is invalid")]
    Payload(#[source] serde_json::Error),
}

impl AcmeError for JwsError {
    fn problem_type(&self) -> ProblemType {
        match self {
            JwsError::MissingNonce | JwsError::NonceEncoding => ProblemType::BadNonce,
            JwsError::UnsupportedAlgorithm(_) => ProblemType::BadSignatureAlgorithm,
            JwsError::Jwk(e) => e.problem_type(),
            JwsError::UrlMismatch { .. } => ProblemType::Unauthorized,
            JwsError::TooLarge
            | JwsError::NotFlattened
            | JwsError::Json(_)
            | JwsError::Base64 { .. }
            | JwsError::HeaderJson(_)
            | JwsError::UnsupportedHeader(_)
            | JwsError::MissingHeader(_)
            | JwsError::HeaderTooLong { .. }
            | JwsError::BothJwkAndKid
            | JwsError::NeitherJwkNorKid
            | JwsError::AlgorithmKeyMismatch { .. }
            | JwsError::BadSignature
            | JwsError::WrongKeyRef { .. }
            | JwsError::EmptyPayload
            | JwsError::InnerNonce
            | JwsError::Payload(_) => ProblemType::Malformed,
        }
    }

    fn accepted_algorithms(&self) -> Vec<String> {
        Algorithm::accepted_names()
    }
}

/// How the request names its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key itself (`newAccount`, `revokeCert` signed with the certificate's key).
    Jwk(Jwk),
    /// The account URL (every other request).
    Kid(String),
}

/// The decoded protected header of an ACME request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The anti-replay nonce, as sent (check it with [`crate::nonce::NonceKey::check`]).
    pub nonce: String,
    /// The URL the client meant to send the request to.
    pub url: String,
    /// Exactly one of `jwk` and `kid`.
    pub key: KeyRef,
}

/// The protected header's JSON. Unknown parameters are ignored (RFC 7515 §4); `b64` and
/// `crit` are refused. Duplicate members are refused by serde.
#[derive(Deserialize)]
pub(crate) struct RawHeader {
    pub(crate) alg: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) jwk: Option<RawJwk>,
    pub(crate) kid: Option<String>,
    #[serde(default, deserialize_with = "crate::present")]
    pub(crate) b64: bool,
    #[serde(default, deserialize_with = "crate::present")]
    pub(crate) crit: bool,
}

/// The flattened serialization with exactly the members ACME allows (no unprotected
/// `header`, no `signatures`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Flattened {
    pub(crate) protected: String,
    pub(crate) payload: String,
    pub(crate) signature: String,
}

/// The three decoded parts of a flattened JWS, signing input kept for verification.
pub(crate) struct Parts {
    pub(crate) header_json: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) signing_input: Vec<u8>,
}

pub(crate) fn decode_flattened(flat: &Flattened) -> Result<Parts, (&'static str, B64Error)> {
    let header_json =
        b64::decode(&flat.protected, MAX_PROTECTED_CHARS).map_err(|e| ("protected", e))?;
    let payload = b64::decode(&flat.payload, MAX_PAYLOAD_CHARS).map_err(|e| ("payload", e))?;
    let signature =
        b64::decode(&flat.signature, MAX_SIGNATURE_CHARS).map_err(|e| ("signature", e))?;
    let mut signing_input = Vec::with_capacity(flat.protected.len() + 1 + flat.payload.len());
    signing_input.extend_from_slice(flat.protected.as_bytes());
    signing_input.push(b'.');
    signing_input.extend_from_slice(flat.payload.as_bytes());
    Ok(Parts {
        header_json,
        payload,
        signature,
        signing_input,
    })
}

fn bounded(
    value: Option<String>,
    field: &'static str,
    limit: usize,
) -> Result<Option<String>, JwsError> {
    match value {
        Some(v) if v.len() > limit => Err(JwsError::HeaderTooLong { field, limit }),
        other => Ok(other),
    }
}

fn is_base64url(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ProtectedHeader {
    fn from_raw(raw: RawHeader) -> Result<Self, JwsError> {
        Self::from_raw_with(raw, true)
    }

    /// `outer`: a request's own JWS (needs a nonce); otherwise the inner JWS of a key
    /// change (must have none; `nonce` is then empty).
    fn from_raw_with(raw: RawHeader, outer: bool) -> Result<Self, JwsError> {
        if raw.b64 {
            return Err(JwsError::UnsupportedHeader("b64"));
        }
        if raw.crit {
            return Err(JwsError::UnsupportedHeader("crit"));
        }
        let alg_name = raw.alg.ok_or(JwsError::MissingHeader("alg"))?;
        let alg = Algorithm::from_name(&alg_name).ok_or_else(|| {
            let mut shown = alg_name;
            shown.truncate(shown.floor_char_boundary(64));
            JwsError::UnsupportedAlgorithm(shown)
        })?;
        let key = match (raw.jwk, bounded(raw.kid, "kid", MAX_KID_CHARS)?) {
            (Some(_), Some(_)) => return Err(JwsError::BothJwkAndKid),
            (Some(jwk), None) => KeyRef::Jwk(jwk.validate()?),
            (None, Some(kid)) => KeyRef::Kid(kid),
            (None, None) => return Err(JwsError::NeitherJwkNorKid),
        };
        let url = bounded(raw.url, "url", MAX_URL_CHARS)?.ok_or(JwsError::MissingHeader("url"))?;
        if !outer {
            if raw.nonce.is_some() {
                return Err(JwsError::InnerNonce);
            }
            return Ok(ProtectedHeader {
                alg,
                nonce: String::new(),
                url,
                key,
            });
        }
        let nonce = bounded(raw.nonce, "nonce", MAX_NONCE_CHARS)?.ok_or(JwsError::MissingNonce)?;
        if !is_base64url(&nonce) {
            return Err(JwsError::NonceEncoding);
        }
        Ok(ProtectedHeader {
            alg,
            nonce,
            url,
            key,
        })
    }
}

/// A parsed, not yet verified, ACME request: the header decoded, the raw payload and
/// signature, and the signing input.
#[derive(Debug, Clone)]
pub struct JwsRequest {
    header: ProtectedHeader,
    payload: Vec<u8>,
    signature: Vec<u8>,
    signing_input: Vec<u8>,
}

impl JwsRequest {
    /// Parses a request body: a flattened JWS whose protected header is an ACME header.
    /// Nothing is verified yet; the caller chooses the key ([`Self::verify_embedded`] or
    /// [`Self::verify_with`]).
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        if body.len() > MAX_JWS_BYTES {
            return Err(JwsError::TooLarge);
        }
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(JwsError::NotFlattened);
        }
        let flat: Flattened = serde_json::from_slice(body).map_err(JwsError::Json)?;
        let parts = decode_flattened(&flat)
            .map_err(|(field, source)| JwsError::Base64 { field, source })?;
        let raw: RawHeader =
            serde_json::from_slice(&parts.header_json).map_err(JwsError::HeaderJson)?;
        let header = ProtectedHeader::from_raw(raw)?;
        Ok(JwsRequest {
            header,
            payload: parts.payload,
            signature: parts.signature,
            signing_input: parts.signing_input,
        })
    }

    /// Parses and verifies the inner JWS of a `keyChange` (RFC 8555 §7.3.5): flattened, a
    /// `jwk` (the new key) and no `nonce`, signed by that new key.
    pub fn verify_key_change_inner(value: &serde_json::Value) -> Result<VerifiedRequest, JwsError> {
        let flat: Flattened = serde_json::from_value(value.clone()).map_err(JwsError::Json)?;
        let parts = decode_flattened(&flat)
            .map_err(|(field, source)| JwsError::Base64 { field, source })?;
        let raw: RawHeader =
            serde_json::from_slice(&parts.header_json).map_err(JwsError::HeaderJson)?;
        let header = ProtectedHeader::from_raw_with(raw, false)?;
        JwsRequest {
            header,
            payload: parts.payload,
            signature: parts.signature,
            signing_input: parts.signing_input,
        }
        .verify_embedded()
    }

    /// The decoded protected header (not yet authenticated).
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// The decoded payload (empty for POST-as-GET).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `protected || '.' || payload`, as sent.
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }

    /// Verifies with the header's own `jwk` (`newAccount`, `revokeCert` by certificate key).
    pub fn verify_embedded(self) -> Result<VerifiedRequest, JwsError> {
        let key = match &self.header.key {
            KeyRef::Jwk(jwk) => jwk.clone(),
            KeyRef::Kid(_) => return Err(JwsError::WrongKeyRef { expected: "jwk" }),
        };
        self.finish(key)
    }

    /// Verifies with the key of the account the header's `kid` names (looked up by the
    /// caller).
    pub fn verify_with(self, account_key: &Jwk) -> Result<VerifiedRequest, JwsError> {
        if !matches!(self.header.key, KeyRef::Kid(_)) {
            return Err(JwsError::WrongKeyRef { expected: "kid" });
        }
        self.finish(account_key.clone())
    }

    fn finish(self, key: Jwk) -> Result<VerifiedRequest, JwsError> {
        verify_signature(&key, self.header.alg, &self.signing_input, &self.signature)?;
        Ok(VerifiedRequest {
            header: self.header,
            payload: self.payload,
            key,
        })
    }
}

/// Verifies a JWS signature (`signature` over `signing_input`) with `key` and `alg`; the
/// algorithm must be the key's (ES256 for P-256, ES384 for P-384, RS256 for RSA, EdDSA for
/// Ed25519).
pub fn verify_signature(
    key: &Jwk,
    alg: Algorithm,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    key.check_signature(alg, signing_input, signature)
        .map_err(|e| match e {
            SignatureCheck::WrongAlgorithm => JwsError::AlgorithmKeyMismatch {
                alg,
                key: key.key_type().to_string(),
            },
            SignatureCheck::Bad => JwsError::BadSignature,
        })
}

/// A request whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The protected header.
    pub header: ProtectedHeader,
    /// The payload bytes: empty for POST-as-GET, which is not the same as `{}`.
    pub payload: Vec<u8>,
    /// The key that verified the signature.
    pub key: Jwk,
}

impl VerifiedRequest {
    /// Whether this is a POST-as-GET (RFC 8555 §6.3: an empty payload).
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// Checks the header's `url` against the URL the request arrived at.
    pub fn check_url(&self, expected: &str) -> Result<(), JwsError> {
        if self.header.url == expected {
            Ok(())
        } else {
            let mut got = self.header.url.clone();
            got.truncate(got.floor_char_boundary(256));
            Err(JwsError::UrlMismatch {
                expected: expected.to_owned(),
                got,
            })
        }
    }

    /// The payload as JSON of type `T`; an empty payload is [`JwsError::EmptyPayload`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JwsError> {
        if self.payload.is_empty() {
            return Err(JwsError::EmptyPayload);
        }
        serde_json::from_slice(&self.payload).map_err(JwsError::Payload)
    }
}
