//! The directory document (RFC 8555 §7.1.1) of one CA, with RFC 9773's `renewalInfo` and
//! draft-ietf-acme-profiles' `meta.profiles`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The resource paths under a CA's ACME base URL (`{public_url}/acme/{ca}`).
pub mod paths {
    /// `GET` the directory.
    pub const DIRECTORY: &str = "directory";
    /// `HEAD`/`GET` a fresh nonce.
    pub const NEW_NONCE: &str = "new-nonce";
    /// Create or find an account.
    pub const NEW_ACCOUNT: &str = "new-account";
    /// Create an order.
    pub const NEW_ORDER: &str = "new-order";
    /// Revoke a certificate.
    pub const REVOKE_CERT: &str = "revoke-cert";
    /// Roll an account key over.
    pub const KEY_CHANGE: &str = "key-change";
    /// Renewal information (RFC 9773).
    pub const RENEWAL_INFO: &str = "renewal-info";
}

/// The ACME base URL of a CA: `{public_url}/acme/{ca}` (no trailing slash).
pub fn acme_base(public_url: &str, ca: &str) -> String {
    format!("{}/acme/{ca}", public_url.trim_end_matches('/'))
}

/// `meta` (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The current terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    /// The CA's website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The CAA issuer domain names that mean this CA (RFC 8659).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caa_identities: Vec<String>,
    /// Whether `newAccount` needs an external account binding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external_account_required: bool,
    /// The profiles offered over ACME: name → description (draft-ietf-acme-profiles).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, String>,
}

impl Meta {
    /// Whether nothing is set (then the directory has no `meta`).
    pub fn is_empty(&self) -> bool {
        self == &Meta::default()
    }
}

/// The directory document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// `newNonce`.
    pub new_nonce: String,
    /// `newAccount`.
    pub new_account: String,
    /// `newOrder`.
    pub new_order: String,
    /// `newAuthz` (pre-authorization; not offered by Signet, kept for parsing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_authz: Option<String>,
    /// `revokeCert`.
    pub revoke_cert: String,
    /// `keyChange`.
    pub key_change: String,
    /// `renewalInfo` (RFC 9773).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_info: Option<String>,
    /// `meta`.
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
}

impl Directory {
    /// The directory of CA `ca` served under `public_url` (e.g. `https://ca.example`).
    pub fn new(public_url: &str, ca: &str, meta: Meta) -> Self {
        let base = acme_base(public_url, ca);
        let url = |path: &str| format!("{base}/{path}");
        Directory {
            new_nonce: url(paths::NEW_NONCE),
            new_account: url(paths::NEW_ACCOUNT),
            new_order: url(paths::NEW_ORDER),
            new_authz: None,
            revoke_cert: url(paths::REVOKE_CERT),
            key_change: url(paths::KEY_CHANGE),
            renewal_info: Some(url(paths::RENEWAL_INFO)),
            meta,
        }
    }
}
