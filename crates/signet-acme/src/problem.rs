//! RFC 8555 §6.7 problem types and the problem document (RFC 7807) the server answers with.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The media type of a problem document.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The URN prefix of every ACME error type.
pub const URN_PREFIX: &str = "urn:ietf:params:acme:error:";

macro_rules! problem_types {
    ($($variant:ident => $name:literal, $status:literal, $doc:literal;)*) => {
        /// An ACME error type (`urn:ietf:params:acme:error:<name>`), RFC 8555 §6.7 plus
        /// RFC 9773 (`alreadyReplaced`) and draft-ietf-acme-profiles (`invalidProfile`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProblemType {
            $(#[doc = $doc] $variant,)*
        }

        impl ProblemType {
            /// Every type, in alphabetical order of name.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$variant,)*];

            /// The name after the URN prefix, e.g. `badCSR`.
            pub fn name(self) -> &'static str {
                match self { $(ProblemType::$variant => $name,)* }
            }

            /// The HTTP status the server answers with when this is the top-level problem.
            pub fn status(self) -> u16 {
                match self { $(ProblemType::$variant => $status,)* }
            }
        }
    };
}

problem_types! {
    AccountDoesNotExist => "accountDoesNotExist", 400, "The request named an account that does not exist.";
    AlreadyReplaced => "alreadyReplaced", 409, "The certificate named in `replaces` was already replaced (RFC 9773).";
    AlreadyRevoked => "alreadyRevoked", 400, "The certificate is already revoked.";
    BadCsr => "badCSR", 400, "The CSR is unacceptable.";
    BadNonce => "badNonce", 400, "The nonce is missing, invalid, expired or already used.";
    BadPublicKey => "badPublicKey", 400, "The JWS was signed by a key the server does not support.";
    BadRevocationReason => "badRevocationReason", 400, "The revocation reason is not allowed.";
    BadSignatureAlgorithm => "badSignatureAlgorithm", 400, "The JWS was signed with an algorithm the server does not support.";
    Caa => "caa", 403, "CAA records forbid issuance.";
    Compound => "compound", 400, "Several errors; see `subproblems`.";
    Connection => "connection", 400, "The server could not connect to the validation target.";
    Dns => "dns", 400, "A DNS query during validation failed.";
    ExternalAccountRequired => "externalAccountRequired", 403, "The server requires external account binding.";
    IncorrectResponse => "incorrectResponse", 403, "The challenge response was wrong.";
    InvalidContact => "invalidContact", 400, "A contact URL is invalid.";
    InvalidProfile => "invalidProfile", 400, "The requested profile is not offered (draft-ietf-acme-profiles).";
    Malformed => "malformed", 400, "The request message was malformed.";
    OrderNotReady => "orderNotReady", 403, "The order is not ready to be finalized.";
    RateLimited => "rateLimited", 429, "The request exceeds a rate limit.";
    RejectedIdentifier => "rejectedIdentifier", 400, "The server will not issue for the identifier.";
    ServerInternal => "serverInternal", 500, "The server failed internally.";
    Tls => "tls", 400, "TLS failed during validation.";
    Unauthorized => "unauthorized", 403, "The client lacks authorization for the request.";
    UnsupportedContact => "unsupportedContact", 400, "A contact URL has an unsupported scheme.";
    UnsupportedIdentifier => "unsupportedIdentifier", 400, "The identifier type is not supported.";
    UserActionRequired => "userActionRequired", 403, "Visit the `instance` URL and take the action it says.";
}

impl ProblemType {
    /// The full URN, e.g. `urn:ietf:params:acme:error:badNonce`.
    pub fn urn(self) -> String {
        format!("{URN_PREFIX}{}", self.name())
    }

    /// The type a URN names, if it is an ACME error URN this crate knows.
    pub fn from_urn(urn: &str) -> Option<Self> {
        let name = urn.strip_prefix(URN_PREFIX)?;
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{URN_PREFIX}{}", self.name())
    }
}

impl Serialize for ProblemType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.urn())
    }
}

impl<'de> Deserialize<'de> for ProblemType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let urn = String::deserialize(d)?;
        Self::from_urn(&urn)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown ACME error type {urn:?}")))
    }
}

/// An identifier a subproblem is about (RFC 8555 §6.7.1), e.g. `{"type":"dns","value":"a.example"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name or address.
    pub value: String,
}

/// A problem document (RFC 7807 as RFC 8555 §6.7 uses it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The HTTP status (only on the top-level document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The identifier a subproblem is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Per-identifier problems (RFC 8555 §6.7.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Problem>,
    /// For `badSignatureAlgorithm`: the accepted `alg` values (RFC 8555 §6.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
}

impl Problem {
    /// A top-level problem with the type's HTTP status.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: Some(detail.into()),
            status: Some(kind.status()),
            identifier: None,
            subproblems: Vec::new(),
            algorithms: Vec::new(),
        }
    }

    /// A subproblem about one identifier (no status).
    pub fn about(kind: ProblemType, identifier: Identifier, detail: impl Into<String>) -> Self {
        Problem {
            status: None,
            identifier: Some(identifier),
            ..Problem::new(kind, detail)
        }
    }

    /// Adds subproblems.
    pub fn with_subproblems(mut self, subproblems: Vec<Problem>) -> Self {
        self.subproblems = subproblems;
        self
    }

    /// The HTTP status to answer with (the type's when the document has none).
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.kind.status())
    }
}

/// An error that maps to one ACME problem type. Every error type of this crate implements it.
pub trait AcmeError: std::error::Error {
    /// The problem type a client sees for this error.
    fn problem_type(&self) -> ProblemType;

    /// For `badSignatureAlgorithm`: the algorithms the client may use instead.
    fn accepted_algorithms(&self) -> Vec<String> {
        Vec::new()
    }

    /// The problem document: the type, the error's message (causes included) as `detail`,
    /// and for `badSignatureAlgorithm` the accepted algorithms.
    fn problem(&self) -> Problem {
        let mut problem = Problem::new(self.problem_type(), error_chain(self));
        if problem.kind == ProblemType::BadSignatureAlgorithm {
            problem.algorithms = self.accepted_algorithms();
        }
        problem
    }
}

/// An error and its causes, joined with ": " (what a problem's `detail` says).
pub(crate) fn error_chain<E: std::error::Error + ?Sized>(e: &E) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
