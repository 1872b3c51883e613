//! The details of audit records and exit events: one typed record per action, serialized
//! with `serde_json` into the JSON object the store keeps and `signet admin audit` prints.
//!
//! The keys are part of the audit log's format (tests, exit modules and operators read
//! them): rename a field only together with everything that reads it. Optional fields are
//! left out when absent, never written as `null`.
//!
//! # Layout
//! - [`to_json`], [`Via`]: serialization, and the credential the actor used (written first).
//! - One record per action, in the order of the engine's files: submit and issue, the
//!   pending queue, revocation and import, tokens, delivery, CRLs, the OCSP responder, the
//!   audit checkpoints, the console and the server start.

use serde::{Serialize, Serializer, ser::SerializeMap};

/// Serializes one details record. Every record here is a struct of strings, numbers and
/// booleans (or a map with string keys), which `serde_json` cannot fail to write.
pub fn to_json<T: Serialize + ?Sized>(details: &T) -> String {
    serde_json::to_string(details).expect("details records are plain JSON objects")
}

/// Audit details with the credential the actor used first (`"via":"token:12"` or
/// `"certificate"`), so two credentials of one identity can be told apart in the log.
#[derive(Debug, Serialize)]
pub struct Via<'a, T: Serialize> {
    pub via: &'a str,
    #[serde(flatten)]
    pub details: T,
}

// ---- Submit and issue ----

/// `submit`: a new request and the policy's first answer.
#[derive(Debug, Serialize)]
pub struct Submit<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'a str>,
    pub profile: &'a str,
    pub subject: &'a str,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// The `Issued`, `Imported` and similar events: the certificate's serial.
#[derive(Debug, Serialize)]
pub struct Serial {
    pub serial: String,
}

// ---- The pending queue and officer edits ----

/// `approve`: one manager's approval of M (`required`).
#[derive(Debug, Serialize)]
pub struct Approve {
    pub approval: u64,
    pub required: u64,
}

/// `resubmit`, `issue` or `deny` after the last approval: the policy's new answer.
#[derive(Debug, Serialize)]
pub struct Resubmitted<'a> {
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub resubmitted_by: &'a str,
}

/// `deny` and the `Denied` event: the officer's reason.
#[derive(Debug, Serialize)]
pub struct Reason<'a> {
    pub reason: &'a str,
}

/// `set-attributes`: each attribute set (its new value) or removed (`null`), in the order
/// the officer gave them.
#[derive(Debug)]
pub struct SetAttributes<'a> {
    pub changes: &'a [(String, Option<String>)],
    pub approvals_cleared: bool,
}

impl Serialize for SetAttributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.changes {
            map.serialize_entry(key, value)?;
        }
        if self.approvals_cleared {
            map.serialize_entry("approvals_cleared", &true)?;
        }
        map.end()
    }
}

/// `set-extension`: an officer's extension edit (`value` hex; absent when disabled).
#[derive(Debug, Serialize)]
pub struct SetExtension<'a> {
    pub oid: &'a str,
    pub critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub disabled: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approvals_cleared: bool,
}

// ---- Revocation and import ----

/// `revoke` and the `Revoked` event.
#[derive(Debug, Serialize)]
pub struct Revoke<'a> {
    pub serial: String,
    pub reason: &'a str,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidity_date: Option<u64>,
}

/// `unrevoke` and its `Revoked` event: a hold released (`reason` is `removeFromCRL`).
#[derive(Debug, Serialize)]
pub struct Unrevoke<'a> {
    pub serial: String,
    pub reason: &'a str,
    pub released: bool,
}

/// `import`: a certificate issued elsewhere, taken into the database.
#[derive(Debug, Serialize)]
pub struct Import<'a> {
    pub serial: String,
    pub subject: &'a str,
}

// ---- API tokens ----

/// `token-create`.
#[derive(Debug, Serialize)]
pub struct TokenCreate<'a> {
    pub name: &'a str,
    pub roles: String,
    /// The CA names, comma-separated (empty: every CA).
    pub cas: String,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// `token-revoke`.
#[derive(Debug, Serialize)]
pub struct TokenRevoke {
    pub id: u64,
}

// ---- Exit delivery ----

/// `exit-retry`: a parked event delivered again by an administrator.
#[derive(Debug, Serialize)]
pub struct ExitRetry<'a> {
    pub via: &'a str,
    pub exit: &'a str,
    pub seq: u64,
    pub event: String,
    pub result: &'a str,
}

/// `exit-skip`: an event parked by an administrator.
#[derive(Debug, Serialize)]
pub struct ExitSkip<'a> {
    pub via: &'a str,
    pub exit: &'a str,
    pub seq: u64,
    pub event: String,
    pub attempts: u64,
    pub error: &'a str,
}

// ---- CRLs ----

/// `crl-publish` and the `CrlIssued` event; the engine reads it back to find the CRL an
/// event announces ([`CrlIssued`]).
#[derive(Debug, Serialize)]
pub struct CrlPublish<'a> {
    pub shard: u32,
    pub number: u64,
    /// The base CRL's number, for a delta CRL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_base: Option<u64>,
    pub entries: u64,
    /// Unix seconds.
    pub this_update: u64,
    /// Unix seconds.
    pub next_update: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
}

/// The part of a [`CrlPublish`] record the exit delivery reads back.
#[derive(Debug, serde::Deserialize)]
pub struct CrlIssued {
    pub shard: u32,
    pub number: u64,
    #[serde(default)]
    pub delta_base: Option<u64>,
}

// ---- The OCSP responder ----

/// The delegated OCSP responder certificate the engine issued itself.
#[derive(Debug, Serialize)]
pub struct OcspResponder<'a> {
    pub serial: String,
    pub purpose: &'a str,
}

// ---- Audit checkpoints ----

/// A signed checkpoint of the audit chain: the `AuditCheckpoint` event's details and the
/// local witness file, which `signet audit verify --checkpoint FILE` reads back.
#[derive(Debug, Serialize)]
pub struct Checkpoint<'a> {
    pub checkpoint: u64,
    pub seq: u64,
    /// Hex.
    pub hash: String,
    /// Unix seconds.
    pub at: u64,
    pub key_id: &'a str,
    /// Hex.
    pub signature: String,
    pub signed: String,
    pub reason: &'a str,
}

// ---- The console and the server ----

/// A web console sign-in or sign-out.
#[derive(Debug, Serialize)]
pub struct ConsoleSession<'a> {
    pub method: &'a str,
    pub peer: &'a str,
    pub via: &'a str,
}

/// The server start: which configuration it loaded.
#[derive(Debug, Serialize)]
pub struct ConfigLoaded<'a> {
    pub file: &'a str,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// The CA names, comma-separated.
    pub cas: String,
    pub role_separation: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_comes_first_and_strings_are_escaped() {
        let d = Via {
            via: "token:1",
            details: Reason {
                reason: "line\nbreak\u{1} \"q\"",
            },
        };
        assert_eq!(
            to_json(&d),
            r#"{"via":"token:1","reason":"line\nbreak\u0001 \"q\""}"#
        );
    }

    #[test]
    fn absent_fields_are_left_out() {
        let d = Revoke {
            serial: "0a".into(),
            reason: "keyCompromise",
            invalidity_date: None,
        };
        assert_eq!(to_json(&d), r#"{"serial":"0a","reason":"keyCompromise"}"#);
    }

    #[test]
    fn attribute_changes_keep_their_order_and_nulls() {
        let changes = vec![
            ("San".to_string(), Some("dns=a".to_string())),
            ("Email".to_string(), None),
        ];
        let d = SetAttributes {
            changes: &changes,
            approvals_cleared: true,
        };
        assert_eq!(
            to_json(&d),
            r#"{"San":"dns=a","Email":null,"approvals_cleared":true}"#
        );
    }

    #[test]
    fn crl_details_read_back() {
        let d = CrlPublish {
            shard: 2,
            number: 17,
            delta_base: Some(15),
            entries: 4,
            this_update: 1,
            next_update: 2,
            url: Some("http://x/crl/demo/2.crl"),
        };
        let back: CrlIssued = serde_json::from_str(&to_json(&d)).expect("reads back");
        assert_eq!(
            (back.shard, back.number, back.delta_base),
            (2, 17, Some(15))
        );
        let full: CrlIssued =
            serde_json::from_str(r#"{"shard":0,"number":3}"#).expect("a full CRL");
        assert_eq!(full.delta_base, None);
        assert!(serde_json::from_str::<CrlIssued>("{}").is_err());
    }
}
